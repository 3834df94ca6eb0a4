#!/usr/bin/env python3
"""Tree models against their own libraries, in one run on one machine (README "Performance").

Scoring (issue 19): `SELECT sum(predict_purchase(s, 'lgbm')) FROM shoppers s` from raw table rows
(money/percent text cleaned, categories coded, trees walked) for a 120-tree, 20-leaf LightGBM
and a 100-tree, depth-5 XGBoost model, against the library's own `predict_proba` on the same rows
already in a numpy array, in one thread (n_jobs=1, OMP_NUM_THREADS=1).

Explanations (issue 20): `explain_purchase(s, 'lgbm')` rows/s (TreeSHAP, every feature plus the
expected value) against LightGBM's `predict(pred_contrib=True)` on the same rows in one thread;
the same for XGBoost's `pred_contribs`.

    python bench/trees.py [ROWS] [EXPLAIN_ROWS]     (defaults 1,000,000 and 20,000)

Needs PGHOST/PGPORT of a cluster with pg_purchase installed (a release build: bench/run.sh runs
this after bench.py) and the package importable (pip install ./python, or PYTHONPATH=python).
Prints rows/s and ratios and writes bench/results/trees.md. Never asserts timings.
"""

import os

# Before numpy, LightGBM and XGBoost load their thread pools: one thread everywhere.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from connection import connect  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "trees"))
import problems  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_ROWS", "1000000"))
EXPLAIN_ROWS = min(ROWS, int(sys.argv[2]) if len(sys.argv) > 2 else 20000)
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
DB = "pg_purchase_trees_bench"
LINES = []


def say(line=""):
    print(line, flush=True)
    LINES.append(line)


def median_time(fn, repeat=REPEAT):
    """Median of `repeat` runs after one unmeasured warm-up run (caches, pages, first-call costs)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next(int(line.split()[1]) // 1024 // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, {platform.system()} {platform.release()}"


def models(train, y):
    """The benchmark's models (issue 19): a 120-tree, 20-leaf LightGBM on pandas categories and a
    100-tree, depth-5 XGBoost behind an OrdinalEncoder, both on tests/trees/problems.py's rows."""
    import lightgbm
    from sklearn.pipeline import Pipeline

    frame = problems.cleaned(train)
    lgbm = lightgbm.LGBMClassifier(n_estimators=120, num_leaves=20, verbose=-1, random_state=0, n_jobs=1)
    lgbm = Pipeline([("model", lgbm)]).fit(problems.as_category_dtype(frame), y)
    xgb = problems.xgboost_pipeline(train, y)
    xgb.set_params(model__n_estimators=100, model__max_depth=5).fit(frame, y)
    return {"lgbm": lgbm, "xgb": xgb}


def numpy_rows(name, pipe, raw):
    """The rows as the library's predict reads them, in a float64 numpy array: LightGBM's pandas
    categories as their codes (missing: NaN), XGBoost's columns after the OrdinalEncoder."""
    frame = problems.model_frame(name, raw)
    if name == "lgbm":
        out = frame.copy()
        for c in problems.CATEGORIES:
            codes = out[c].cat.codes.astype(float)
            out[c] = codes.where(codes >= 0, np.nan)
        return np.ascontiguousarray(out.to_numpy(dtype=float))
    return np.ascontiguousarray(np.asarray(pipe[:-1].transform(frame), dtype=float))


def copy_rows(conn, raw):
    import pg_purchase

    columns = list(problems.SQL_TYPES)
    types = ", ".join(f"{c} {t}" for c, t in problems.SQL_TYPES.items())
    conn.execute(f"CREATE TABLE shoppers (id integer PRIMARY KEY, {types})")
    with conn.cursor().copy(f"COPY shoppers (id, {', '.join(columns)}) FROM STDIN") as copy:
        for i, row in enumerate(raw[columns].itertuples(index=False)):
            copy.write_row([i] + [None if pg_purchase.is_missing_category(v) else v for v in row])
    conn.execute("VACUUM ANALYZE shoppers")


def bench_model(conn, name, pipe, raw):
    """One model's four lines of the table: scoring and explaining, pg_purchase and the library."""
    import pg_purchase
    import xgboost

    est = pipe[-1]
    doc = pg_purchase.export_pipeline(pipe, raw.head(300), money=problems.MONEY, percent=problems.PERCENT, name=name)
    conn.execute("SELECT load_purchase_model(%s::jsonb, %s)", (json.dumps(doc), name))
    X = numpy_rows(name, pipe, raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fitted with feature names, predicting on an array
        library_p = est.predict_proba(X)[:, 1]
        if name == "lgbm":
            # The array of codes is what the frame of categories means to LightGBM.
            assert np.array_equal(library_p[:1000], est.predict_proba(problems.model_frame(name, raw.head(1000)))[:, 1])

        def library():
            est.predict_proba(X)

        lib_secs = median_time(library)
    sql = f"SELECT sum(predict_purchase(s, '{name}')) FROM shoppers s"
    db_sum = conn.execute(sql).fetchone()[0]
    db_secs = median_time(lambda: conn.execute(sql).fetchone())
    trees = len(doc["model"]["trees"])
    say(
        f"| {name} ({trees} trees) | `{sql}` | {ROWS:,} | {db_secs:.3f} | {ROWS / db_secs:,.0f} | "
        f"{lib_secs / db_secs:.2f}x |"
    )
    say(
        f"| {name} ({trees} trees) | `predict_proba(X)`, X a float64 numpy array | {ROWS:,} | {lib_secs:.3f} | "
        f"{ROWS / lib_secs:,.0f} | |"
    )
    delta = abs(db_sum - float(np.sum(library_p)))
    print(f"  {name}: sum in SQL {db_sum!r}, sum of predict_proba {float(np.sum(library_p))!r} (|d| {delta:.2e})")

    # Explanations: every feature's TreeSHAP value and the expected value, per row.
    n = EXPLAIN_ROWS
    explain_sql = (
        f"SELECT count(*), sum(e.contribution) FROM (SELECT s FROM shoppers s WHERE id < {n}) r, "
        f"explain_purchase(r.s, '{name}') e"
    )
    ex_secs = median_time(lambda: conn.execute(explain_sql).fetchone())
    Xn = X[:n]
    if name == "lgbm":

        def contrib():
            est.booster_.predict(Xn, pred_contrib=True, num_threads=1)
    else:
        dm = xgboost.DMatrix(Xn, missing=np.nan, nthread=1)
        booster = est.get_booster()
        booster.set_param({"nthread": 1})

        def contrib():
            booster.predict(dm, pred_contribs=True)

    lib_ex = median_time(contrib)
    library_name = (
        "booster.predict(X, pred_contrib=True)" if name == "lgbm" else "booster.predict(X, pred_contribs=True)"
    )
    say(
        f"| {name} ({trees} trees) | explain_purchase(s, '{name}') per row | {n:,} | {ex_secs:.3f} | "
        f"{n / ex_secs:,.0f} | {lib_ex / ex_secs:.2f}x |"
    )
    say(f"| {name} ({trees} trees) | `{library_name}` | {n:,} | {lib_ex:.3f} | {n / lib_ex:,.0f} | |")


def main():
    import lightgbm
    import xgboost

    started = time.time()
    train, y = problems.raw_rows(20000, 1)
    raw, _ = problems.raw_rows(ROWS, 2, unseen=True)
    pipes = models(train, y)
    with connect("postgres") as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    conn = connect(DB)
    conn.execute("CREATE EXTENSION pg_purchase")
    copy_rows(conn, raw)
    conn.execute("SET jit = off")
    conn.execute("SET max_parallel_workers_per_gather = 0")
    server = conn.execute("SHOW server_version").fetchone()[0]

    say(f"# pg_purchase tree models against their libraries: {ROWS:,} rows")
    say()
    say(
        f"Machine: {machine()}; shared with other work while this ran (load average at start: "
        f"{os.getloadavg()[0]:.1f}), so the figures are a lower bound of both sides alike. PostgreSQL "
        f"{server}, one backend, jit off, no parallel query; libraries: LightGBM {lightgbm.__version__}, "
        f"XGBoost {xgboost.__version__}, one thread (n_jobs=1, OMP_NUM_THREADS=1). Median of {REPEAT} "
        "warm runs each."
    )
    say()
    say("| model | path | rows | seconds | rows/s | pg_purchase / library |")
    say("|---|---|---:|---:|---:|---:|")
    for name, pipe in pipes.items():
        bench_model(conn, name, pipe, raw)
    say()
    say(
        "pg_purchase / library: the library's time over pg_purchase's (above 1: pg_purchase is faster). "
        "pg_purchase's time includes reading the table's raw rows, cleaning the money and percent text "
        "and coding the categories; the library's does not (its rows are already numbers in memory). "
        f"Generated in {time.time() - started:.0f} s by `python bench/trees.py {ROWS} {EXPLAIN_ROWS}`."
    )
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "trees.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(LINES) + "\n")
    conn.close()


if __name__ == "__main__":
    main()
