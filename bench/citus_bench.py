#!/usr/bin/env python3
"""Distributed vs single-node scoring of the same rows on the same machine (a coordinator and two
workers on local ports), per-shard throughput, and a paper estimate for 100M customers.
Not a test: never asserts times. Writes bench/results/citus.md."""

import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "citus"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lifecycle"))
sys.path.insert(0, os.path.join(ROOT, "tests", "trees"))
sys.path.insert(0, os.path.join(ROOT, "python"))
import cluster  # noqa: E402
from common import bundled, load, make_customers  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
RUNS = 3


def timed(conn, sql, runs=RUNS, before=None):
    times = []
    for _ in range(runs + 1):  # the first run warms caches and is not counted
        if before:
            conn.execute(before)
        t = time.perf_counter()
        cur = conn.execute(sql)
        if cur.description is not None:
            cur.fetchall()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def tree_models(train, y):
    """The benchmark's tree models (issue 19): a 120-tree, 20-leaf LightGBM and a 100-tree,
    depth-5 XGBoost, fitted on tests/trees/problems.py's rows."""
    import lightgbm
    import problems
    from sklearn.pipeline import Pipeline

    frame = problems.cleaned(train)
    lgbm = lightgbm.LGBMClassifier(n_estimators=120, num_leaves=20, verbose=-1, random_state=0, n_jobs=1)
    lgbm = Pipeline([("model", lgbm)]).fit(problems.as_category_dtype(frame), y)
    xgb = problems.xgboost_pipeline(train, y)
    xgb.set_params(model__n_estimators=100, model__max_depth=5).fit(frame, y)
    return {"lgbm": lgbm, "xgb": xgb}


def tree_rows(c, nodes):
    """Tree models on the same machine: ROWS rows of the trees' own problem, distributed and on a
    single node; the distributed scores are checked equal to the single-node ones first."""
    import pg_purchase
    import problems

    train, y = problems.raw_rows(20000, 1)
    score, _ = problems.raw_rows(ROWS, 2, unseen=True)
    columns = list(problems.SQL_TYPES)
    types = ", ".join(f"{col} {t}" for col, t in problems.SQL_TYPES.items())
    c.execute(f"CREATE TABLE shoppers_local (id integer PRIMARY KEY, {types})")
    with c.cursor().copy(f"COPY shoppers_local (id, {', '.join(columns)}) FROM STDIN") as copy:
        for i, row in enumerate(score[columns].itertuples(index=False)):
            copy.write_row([i] + [None if pg_purchase.is_missing_category(v) else v for v in row])
    c.execute("CREATE TABLE shoppers AS SELECT * FROM shoppers_local")
    c.execute("SELECT create_distributed_table('shoppers', 'id')")
    c.execute("VACUUM ANALYZE shoppers_local")
    c.execute("VACUUM ANALYZE shoppers")
    out = []
    for name, pipe in tree_models(train, y).items():
        doc = pg_purchase.export_pipeline(
            pipe, score.head(200), money=problems.MONEY, percent=problems.PERCENT, name=name
        )
        c.execute("SELECT load_purchase_model(%s::jsonb, %s)", (json.dumps(doc), name))
        differ = c.execute(
            "SELECT count(*) FROM shoppers d JOIN shoppers_local l USING (id)"
            " WHERE predict_purchase(d, %s) IS DISTINCT FROM predict_purchase(l, %s)",
            (name, name),
        ).fetchone()[0]
        if differ:
            raise SystemExit(f"{name}: {differ} distributed scores differ from single-node ones")
        for label, table in (("single node", "shoppers_local"), ("distributed", "shoppers")):
            secs = timed(c, f"SELECT sum(predict_purchase(s, '{name}')) FROM {table} s")
            out.append((f"tree model {name}: sum(predict_purchase(s, '{name}')), {label}", secs))
            print(out[-1], flush=True)
    return out


def main():
    started = time.time()
    os.environ.setdefault("CITUS_TEST_DIR", "/tmp/citus-bench")
    cluster.BASE = os.environ["CITUS_TEST_DIR"]
    nodes = cluster.citus_cluster(2)
    try:
        c = nodes[0].connect()
        c.execute("CREATE EXTENSION pg_purchase")
        load(c, bundled())
        make_customers(c, rows=ROWS, table="customers_local")
        c.execute("CREATE TABLE customers AS SELECT * FROM customers_local")
        c.execute("SELECT create_distributed_table('customers', 'customer_id')")
        c.execute("CREATE TABLE targets (customer_id bigint, p_hat float8, version int)")
        c.execute("SELECT create_distributed_table('targets', 'customer_id', colocate_with => 'customers')")
        c.execute("CREATE TABLE targets_local (customer_id bigint, p_hat float8, version int)")
        c.execute("VACUUM ANALYZE customers_local")
        c.execute("VACUUM ANALYZE customers")
        shards = c.execute("SELECT count(*) FROM citus_shards WHERE table_name = 'customers'::regclass").fetchone()[0]

        same = c.execute(
            "SELECT count(*) FROM customers d JOIN customers_local l USING (customer_id)"
            " WHERE predict_purchase(d) IS DISTINCT FROM predict_purchase(l)"
        ).fetchone()[0]
        rows = []
        for label, table in (
            ("single node (coordinator, plain table)", "customers_local"),
            (f"distributed ({shards} shards on 2 workers)", "customers"),
        ):
            rows.append((f"scan floor sum(x0), {label}", timed(c, f"SELECT sum(x0) FROM {table}")))
            print(rows[-1], flush=True)
            rows.append(
                (f"sum(predict_purchase(c)), {label}", timed(c, f"SELECT sum(predict_purchase(c)) FROM {table} c"))
            )
        ins = (
            "INSERT INTO {t} SELECT customer_id, (s).p_hat, (s).version"
            " FROM (SELECT customer_id, score_purchase(c) AS s FROM {src} c) x"
        )
        rows.append(
            (
                "INSERT ... SELECT score_purchase(c), single node",
                timed(c, ins.format(t="targets_local", src="customers_local"), before="TRUNCATE targets_local"),
            )
        )
        rows.append(
            (
                "INSERT ... SELECT score_purchase(c), distributed co-located",
                timed(c, ins.format(t="targets", src="customers"), before="TRUNCATE targets"),
            )
        )

        rows += tree_rows(c, nodes)

        # One shard scored directly on its worker: the per-shard (one core) throughput.
        name, port, shard_rows = c.execute(
            "SELECT s.shard_name, s.nodeport, 0 FROM citus_shards s"
            " WHERE s.table_name = 'customers'::regclass ORDER BY s.shardid LIMIT 1"
        ).fetchone()
        worker = next(n for n in nodes if n.port == port)
        with worker.connect() as w:
            shard_rows = w.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            per_shard = timed(w, f"SELECT sum(predict_purchase(c)) FROM {name} c")
        shard_rate = shard_rows / per_shard

        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cores = sum(1 for line in f if line.startswith("processor"))
        out = [
            f"# pg_purchase on Citus 12.1 — {ROWS:,} synthetic customers (100 raw columns)",
            "",
            f"One machine, {cores} cores shared by the coordinator and both workers (and other work); "
            "PostgreSQL 15, jit off, no parallel query, median of 3 warm runs; generated in "
            f"{time.time() - started:.0f} s. Distributed and single-node scores identical on every row (checked for the "
            "tree models too, which run on the trees' own 6-column problem, see tests/trees/problems.py): "
            f"{'yes' if same == 0 else f'NO ({same} rows differ)'}.",
            "",
            "| path | rows | seconds | rows/s |",
            "|---|---:|---:|---:|",
        ]
        for label, secs in rows:
            out.append(f"| {label} | {ROWS:,} | {secs:.3f} | {ROWS / secs:,.0f} |")
        out.append(
            f"| one shard scored on its worker (one core) | {shard_rows:,} | {per_shard:.3f} | {shard_rate:,.0f} |"
        )
        out += [
            "",
            "What 2 cores allow: the coordinator, both workers and their shard backends share the "
            "machine's cores (with other work), so the distributed SELECT cannot outrun a single core by "
            "much; it shows the overhead of distribution (32 shard queries, partial sums sent back) is "
            "small. The co-located INSERT ... SELECT spreads the writes over two workers' WAL and "
            "buffers. Scale-out has to be read from the per-shard rate below, not from these totals.",
        ]
        out += [
            "",
            "## Paper estimate: 100M customers",
            "",
            "Scoring is pushed down shard by shard and runs in parallel, one backend per shard "
            "connection; the coordinator only adds up partial sums (or routes an INSERT ... SELECT "
            "that stays on each worker). So the time is about 100M / (workers × cores per worker × "
            f"per-core rate). Per-core rate measured above: {shard_rate:,.0f} rows/s (one shard, one "
            "core, warm cache). Assuming 80% of that per core when every core is busy (memory "
            "bandwidth, executor overhead) and the data in memory:",
            "",
            "| workers × cores | rows/s (estimate) | 100M customers scored in |",
            "|---|---:|---:|",
        ]
        for workers, per in ((2, 8), (4, 8), (8, 8), (8, 16), (16, 16)):
            rate = workers * per * shard_rate * 0.8
            out.append(f"| {workers} × {per} | {rate:,.0f} | {1e8 / rate:,.1f} s |")
        out += [
            "",
            "Reading from disk instead of memory lowers this to the scan rate of the workers' storage; "
            "a co-located INSERT ... SELECT writing the scores adds the write cost measured above.",
        ]
        text = "\n".join(out) + "\n"
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        with open(os.path.join(HERE, "results", "citus.md"), "w", encoding="utf-8") as f:
            f.write(text)
        print(text)
    finally:
        cluster.stop_all()


if __name__ == "__main__":
    main()
