"""train_purchase_model against scikit-learn and statsmodels on the same rows and split.

Generates a 40,000-row raw customers table with a known true model (the bundled model's 25
coefficients on the scaled features), realistic raw formats (money text in three forms, percent
text, categories, ~1.8% NULLs) and a validation flag, trains it in the database, and checks:
the selected features equal scikit-learn's liblinear L1 top k (in order), the refit coefficients
and standard errors equal statsmodels' Logit Newton fit within 1e-6, the log-likelihood within
1e-6, the validation AUC equals roc_auc_score within 1e-9. Then bad training data: each case
gets its SQLSTATE and a message naming the problem. Prints the timings of both sides.

Needs PGHOST/PGPORT/PGUSER of a cluster with pg_purchase installed (scripts/test.sh).
SKIP_PARITY=1 skips the 40,000-row parity and the cancellation (the bad-data tests still run).
"""

import json
import os
import threading
import time

import numpy as np
import psycopg
import pytest
import sklearn
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "artifacts", "purchase_model.json"), encoding="utf-8") as _handle:
    ARTIFACT = json.load(_handle)
DB = "pg_purchase_training"
ROWS = int(os.environ.get("TRAINING_ROWS", "40000"))


@pytest.fixture(scope="module")
def training_db(fresh_database):
    return fresh_database(DB)


@pytest.fixture
def conn(training_db):
    with psycopg.connect(dbname=training_db, autocommit=True) as connection:
        yield connection


def money_text(v, style):
    body = f"{abs(v):,.2f}"
    if v < 0:
        return [f"$-{body}", f"(${body})", f"(${body})"][style % 3]
    return [f"${body}", f"${body} ", f"${body}"][style % 3]


def generate(n, seed=13):
    """Raw rows (dicts of text/float/None), the target and the validation flag."""
    rng = np.random.default_rng(seed)
    imp = dict(zip(ARTIFACT["imputer"]["columns"], ARTIFACT["imputer"]["statistics"]))
    mean = dict(zip(ARTIFACT["scaler"]["columns"], ARTIFACT["scaler"]["mean"]))
    scale = dict(zip(ARTIFACT["scaler"]["columns"], ARTIFACT["scaler"]["scale"]))
    vocab = {e["column"]: e["categories"] for e in ARTIFACT["encoder"]["columns"]}
    coef = dict(zip(ARTIFACT["model"]["features"], ARTIFACT["model"]["coefficients"]))
    cols = {}
    z = np.zeros(n)
    for spec in ARTIFACT["inputs"]:
        c, kind = spec["column"], spec["kind"]
        missing = rng.random(n) < 0.018
        if kind == "category":
            idx = rng.integers(0, len(vocab[c]), n)
            vals = [None if m else vocab[c][i] for m, i in zip(missing, idx)]
            for lvl in vocab[c]:
                z += coef.get(f"{c}_{lvl}", 0.0) * np.array([v == lvl for v in vals])
            z += coef.get(f"{c}_nan", 0.0) * missing
        else:
            x = np.round(rng.normal(imp[c], scale[c], n), 2 if kind != "number" else 8)
            z += coef.get(c, 0.0) * np.where(missing, 0.0, (x - mean[c]) / scale[c])
            if kind == "money":
                vals = [None if m else money_text(v, i) for i, (m, v) in enumerate(zip(missing, x))]
            elif kind == "percent":
                vals = [None if m else f"{v:.2f}%" for m, v in zip(missing, x)]
            else:
                vals = [None if m else float(v) for m, v in zip(missing, x)]
        cols[c] = vals
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    validation = rng.random(n) < 0.2
    return cols, y, validation


def create_table(conn, name, cols, y, validation):
    kinds = {s["column"]: s["kind"] for s in ARTIFACT["inputs"]}
    ddl = ", ".join(f"{c} {'float8' if kinds[c] == 'number' else 'text'}" for c in cols)
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, {ddl}, y int, is_validation boolean)")
    names = ["id", *cols, "y", "is_validation"]
    with conn.cursor().copy(f"COPY {name} ({', '.join(names)}) FROM STDIN") as copy:
        for i in range(len(y)):
            copy.write_row([i, *(cols[c][i] for c in cols), int(y[i]), bool(validation[i])])


def clean(v):
    """The notebook's cleaning of x12/x63 (and plain numbers)."""
    if v is None:
        return np.nan
    if isinstance(v, str):
        s = v.replace("$", "").replace(",", "").replace(")", "").replace("%", "").replace(" ", "")
        return -float(s[1:]) if s.startswith("(") else float(s)
    return float(v)


def design(cols, train):
    """The notebook's pipeline fitted on the training rows: (names, X for all rows)."""
    kinds = {s["column"]: s["kind"] for s in ARTIFACT["inputs"]}
    names, blocks = [], []
    for c in cols:
        if kinds[c] == "category":
            vals = np.array([v if v is not None else "" for v in cols[c]], dtype=object)
            levels = sorted(set(vals[train]) - {""})
            for lvl in levels[1:]:
                names.append(f"{c}_{lvl}")
                blocks.append((vals == lvl).astype(float))
            if (vals[train] == "").any():
                names.append(f"{c}_nan")
                blocks.append((vals == "").astype(float))
        else:
            x = np.array([clean(v) for v in cols[c]])
            m = np.nanmean(x[train])
            x = np.where(np.isnan(x), m, x)
            mu, sd = x[train].mean(), x[train].std()
            names.append(c)
            blocks.append((x - mu) / sd)
    return names, np.column_stack(blocks)


def l1_model():
    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return LogisticRegression(l1_ratio=1, solver="liblinear", fit_intercept=False, tol=1e-10, C=1.0)
    return LogisticRegression(penalty="l1", solver="liblinear", fit_intercept=False, tol=1e-10, C=1.0)


@pytest.fixture(scope="module")
def trained(training_db):
    """customers_train trained in the database, and the same fit by scikit-learn + statsmodels."""
    if os.environ.get("SKIP_PARITY") == "1":
        pytest.skip("SKIP_PARITY=1")
    conn = psycopg.connect(dbname=training_db, autocommit=True)
    cols, y, validation = generate(ROWS)
    create_table(conn, "customers_train", cols, y, validation)
    conn.execute("ANALYZE customers_train")
    start = time.perf_counter()
    version = conn.execute(
        """SELECT train_purchase_model('customers_train', 'y', 'trained',
               '{"exclude": ["id"], "validation_column": "is_validation", "top_k": 25, "fit_intercept": false}')"""
    ).fetchone()[0]
    db_seconds = time.perf_counter() - start
    artifact = conn.execute("SELECT export_purchase_model('trained', %s)", (version,)).fetchone()[0]
    metrics = conn.execute(
        "SELECT metrics FROM purchase_models() WHERE name = 'trained' AND version = %s", (version,)
    ).fetchone()[0]
    active = conn.execute("SELECT active FROM purchase_models() WHERE name = 'trained'").fetchone()[0]
    conn.close()

    # The Python side, on the same rows and split (data already in memory).
    start = time.perf_counter()
    train = ~validation
    names, x = design(cols, train)
    l1 = l1_model().fit(x[train], y[train])
    w = l1.coef_[0]
    order = sorted(range(len(names)), key=lambda j: -(w[j] ** 2))
    top = [j for j in order if w[j] != 0][:25]
    logit = sm.Logit(y[train], x[train][:, top]).fit(method="newton", tol=1e-12, maxiter=100, disp=0)
    py_seconds = time.perf_counter() - start
    p_val = 1 / (1 + np.exp(-(x[~train][:, top] @ logit.params)))
    print(
        f"timing: train_purchase_model {db_seconds:.3f} s, scikit-learn + statsmodels {py_seconds:.3f} s "
        f"(ratio {db_seconds / py_seconds:.2f}); L1 iterations {metrics['iterations']}"
    )
    return {
        "version": version, "artifact": artifact, "metrics": metrics, "active": active, "train": train,
        "names": names, "w": w, "top": top, "logit": logit, "p_val": p_val, "auc": roc_auc_score(y[~train], p_val),
    }  # fmt: skip


def test_trained_version_not_activated(trained):
    """A trained version is not activated unless options.activate."""
    assert trained["active"] is False


def test_selected_features_equal_sklearn_top_25(trained):
    names, top = trained["names"], trained["top"]
    assert trained["artifact"]["model"]["features"] == [names[j] for j in top]


def test_l1_coefficients_equal_liblinear(trained):
    """L1 coefficients equal liblinear's (within 1e-6)."""
    ranking = {r["feature"]: r["l1_coefficient"] for r in trained["metrics"]["ranking"]}
    got = [ranking.get(name, 0.0) for name in trained["names"]]
    np.testing.assert_allclose(got, trained["w"], rtol=0, atol=1e-6, equal_nan=False)


def test_refit_coefficients_equal_statsmodels(trained):
    """Refit coefficients equal statsmodels' Logit Newton fit within 1e-6."""
    np.testing.assert_allclose(
        trained["artifact"]["model"]["coefficients"], trained["logit"].params, rtol=0, atol=1e-6, equal_nan=False
    )


def test_standard_errors_equal_statsmodels(trained):
    """Standard errors equal statsmodels' bse within 1e-6."""
    np.testing.assert_allclose(
        trained["artifact"]["model"]["std_errors"], trained["logit"].bse, rtol=0, atol=1e-6, equal_nan=False
    )


def test_log_likelihood_equals_statsmodels(trained):
    np.testing.assert_allclose(
        trained["metrics"]["log_likelihood"], trained["logit"].llf, rtol=0, atol=1e-6, equal_nan=False
    )


def test_validation_auc_equals_roc_auc_score(trained):
    np.testing.assert_allclose(trained["metrics"]["validation_auc"], trained["auc"], rtol=0, atol=1e-9, equal_nan=False)


def test_row_counts(trained):
    train, metrics = trained["train"], trained["metrics"]
    assert (metrics["training_rows"], metrics["validation_rows"]) == (int(train.sum()), int((~train).sum()))


def test_true_features_recovered(trained):
    """At least 20 of the true model's 25 features are recovered."""
    got = set(trained["artifact"]["model"]["features"])
    assert len(set(ARTIFACT["model"]["features"]) & got) >= 20


def test_stored_model_scores_its_table(trained, conn):
    """Every scoring path works unchanged: the stored model scores its own validation rows."""
    conn.execute("SELECT activate_purchase_model('trained', %s)", (trained["version"],))
    n, mean_p = conn.execute(
        "SELECT count(*), avg(predict_purchase(c, 'trained')) FROM customers_train c WHERE is_validation"
    ).fetchone()
    assert n == len(trained["p_val"])
    np.testing.assert_allclose(mean_p, trained["p_val"].mean(), rtol=0, atol=1e-12, equal_nan=False)


def test_weights_show_standard_errors(trained, conn):
    weights = conn.execute("SELECT count(std_error) FROM purchase_model_weights('trained')").fetchone()[0]
    assert weights == 25


def test_drift_reads_the_profile(trained, conn):
    drift = conn.execute("SELECT count(psi) FROM purchase_drift('customers_train', 'trained')").fetchone()[0]
    assert drift > 0, "no column with a PSI"


def test_cancellation(trained, conn):
    """A long training (200,000 rows) cancelled mid-way stops within a second and stores nothing."""
    conn.execute("DROP TABLE IF EXISTS customers_5x")
    conn.execute("CREATE TABLE customers_5x AS SELECT * FROM customers_train, generate_series(1, 5) k")
    before = conn.execute("SELECT count(*) FROM purchase_models()").fetchone()[0]
    outcome = {}

    def run():
        with psycopg.connect(dbname=DB, autocommit=True) as worker:
            outcome["pid"] = worker.execute("SELECT pg_backend_pid()").fetchone()[0]
            try:
                worker.execute("""SELECT train_purchase_model('customers_5x', 'y', 'cancelled',
                    '{"exclude": ["id", "k"], "validation_column": "is_validation"}')""")
                outcome["error"] = None
            except psycopg.errors.QueryCanceled:
                outcome["error"] = "canceled"
            outcome["end"] = time.perf_counter()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.5)
    cancelled_at = time.perf_counter()
    conn.execute("SELECT pg_cancel_backend(%s)", (outcome["pid"],))
    thread.join()
    after = conn.execute("SELECT count(*) FROM purchase_models()").fetchone()[0]
    delay = outcome["end"] - cancelled_at
    conn.execute("DROP TABLE customers_5x")
    assert outcome["error"] == "canceled"
    assert delay < 1.0, f"a cancelled training stops {delay:.3f} s after pg_cancel_backend"
    assert after == before, "a cancelled training stores nothing"


def expect_error(conn, sql, sqlstate, words):
    """sql fails with sqlstate and a message containing every one of words."""
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql)
    e = caught.value
    msg = e.diag.message_primary or ""
    assert (e.sqlstate, [w for w in words if w not in msg]) == (sqlstate, []), f"{e.sqlstate} {msg}"


@pytest.fixture
def bad(conn):
    """A table of 3000 rows with a constant, an all-NULL, a key-like, a category and a leaking column."""
    conn.execute("DROP TABLE IF EXISTS bad, tiny")
    conn.execute("""CREATE TABLE bad AS
        SELECT g AS id, (g % 2) AS y, (g % 2 = 0) AS v, sin(g) AS a, cos(g * 1.7) AS b,
               7.0::float8 AS constant, NULL::float8 AS empty, 'k' || g AS customer_key,
               CASE WHEN g % 3 = 0 THEN 'mon' ELSE 'tue' END AS day,
               (g % 2) * 2 - 1 + 0.5 * sin(g) AS leak
          FROM generate_series(1, 3000) g""")
    yield "bad"
    conn.execute("DROP TABLE IF EXISTS bad, tiny")


BASE = "SELECT train_purchase_model('bad', '{t}', 'bad', '{o}'::jsonb)"
BAD_DATA = {
    # id: (set-up statement, target, options, SQLSTATE, words of the message)
    "a missing target column": (None, "nope", "{}", "42703", ['"nope"']),
    "a missing excluded column": (None, "y", '{"exclude": ["nope"]}', "42703", ['"nope"']),
    "a target that is not 0/1": (
        "UPDATE bad SET y = 2 WHERE id = 10", "y", '{"exclude": ["customer_key", "v"]}', "22023", ['"y"', "0/1"],
    ),
    "a NULL target": (
        "UPDATE bad SET y = NULL WHERE id = 10", "y", '{"exclude": ["customer_key", "v"]}', "22004", ['"y"', "NULL"],
    ),
    "a category with thousands of levels": (
        None, "y", '{"exclude": ["v"]}', "54000", ['"customer_key"', "distinct values"],
    ),
    "more rows than max_rows": (
        None, "y", '{"exclude": ["customer_key", "v"], "max_rows": 1000}', "54000", ["max_rows"],
    ),
    "perfectly separable data (leak determines y)": (
        None, "y", '{"exclude": ["customer_key", "v"]}', "22000", ["separable", '"leak"'],
    ),
    "a column whose variance overflows": (
        "UPDATE bad SET a = a * 1e300", "y", '{"exclude": ["customer_key", "v", "leak"]}', "22003",
        ['"a"', "variance overflows"],
    ),
    "an unknown option": (None, "y", '{"tpo_k": 3}', "22023", ['"tpo_k"']),
    "a negative l1_c": (None, "y", '{"l1_c": -1}', "22023", ['"l1_c"']),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_training_data(conn, bad, case):
    setup, target, options, sqlstate, words = BAD_DATA[case]
    if setup:
        conn.execute(setup)
    expect_error(conn, BASE.format(t=target, o=options), sqlstate, words)


def test_constant_and_empty_columns_left_out(conn, bad):
    """Constant and all-NULL columns are left out with a NOTICE and training goes on."""
    conn.execute("UPDATE bad SET y = (a + b > 0)::int")
    conn.execute("UPDATE bad SET y = 1 - y WHERE id % 5 = 0")  # noise: no longer separable
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    options = '{"exclude": ["customer_key", "id", "v", "leak"], "top_k": 3}'
    version = conn.execute(BASE.format(t="y", o=options)).fetchone()[0]
    assert version >= 1
    assert any('"constant" left out' in n for n in notices), notices
    assert any('"empty" left out' in n for n in notices), notices


def test_fewer_rows_than_features(conn, bad):
    conn.execute("CREATE TABLE tiny AS SELECT * FROM bad WHERE id <= 4")
    conn.execute("UPDATE tiny SET y = id % 2")
    expect_error(
        conn,
        "SELECT train_purchase_model('tiny', 'y', 'tiny', "
        '\'{"exclude": ["customer_key", "id", "v"], "validation_fraction": 0}\')',
        "22023",
        ["training rows for"],
    )
