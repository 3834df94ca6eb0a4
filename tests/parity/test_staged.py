"""A staged version checked before it goes live (issue 22 item 2), on the 1000 real rows.

* Version 2 of 'default' is the bundled model with threshold 0.6, staged (activate => false).
  Pinned with version => 2, every scoring path (planner rewrite, generic row path, score_purchase,
  JSON) gives scikit-learn's predict_proba within 1e-9 and the outcome at 0.6, while the same
  statement scores version 1 (active, threshold 0.75) beside it.
* compare_purchase_models of the live model against a challenger trained in the database and
  left staged: AUC and log loss equal scikit-learn's roc_auc_score/log_loss, DeLong's z and
  p-value equal a numpy/scipy implementation of DeLong's test (Sun and Xu's midrank form), and
  contacts, buyers, profit and agreement equal numpy counts, all on the scores the database gives.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed; creates its own database.
"""

import json

import numpy as np
import psycopg
import pytest
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score

DB = "pg_purchase_staged"
STAGED_THRESHOLD = 0.6
TOLERANCE = 1e-9


def delong(a, b, y):
    """(auc_a, auc_b, std_error of the difference, z, two-sided p) by DeLong's test."""
    y = np.asarray(y, bool)
    m, n = y.sum(), (~y).sum()
    parts = []
    for s in (np.asarray(a, float), np.asarray(b, float)):
        tx, ty, tz = stats.rankdata(s[y]), stats.rankdata(s[~y]), stats.rankdata(s)
        auc = tz[y].sum() / m / n - (m + 1) / (2 * n)
        parts.append((auc, (tz[y] - tx) / n, 1 - (tz[~y] - ty) / m))
    s10 = np.cov(np.vstack([parts[0][1], parts[1][1]]))
    s01 = np.cov(np.vstack([parts[0][2], parts[1][2]]))
    cov = s10 / m + s01 / n
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    z = (parts[0][0] - parts[1][0]) / se
    return parts[0][0], parts[1][0], se, z, 2 * stats.norm.sf(abs(z))


@pytest.fixture(scope="module")
def staged(fresh_database, artifact_path, real_rows, reference_pipeline):
    with open(artifact_path, encoding="utf-8") as handle:
        artifact = json.load(handle)
    fresh_database(DB)
    expected = reference_pipeline.predict_proba(real_rows)
    bought = (np.random.default_rng(22).random(len(real_rows)) < expected).astype(int)
    kinds = {s["column"]: s["kind"] for s in artifact["inputs"]}
    columns = list(kinds)
    ddl = ", ".join(f"{c} {'float8' if kinds[c] == 'number' else 'text'}" for c in columns)
    with psycopg.connect(dbname=DB, autocommit=True) as conn:
        conn.execute("SELECT load_purchase_model(%s::jsonb)", (json.dumps(artifact),))
        staged_version = conn.execute(
            "SELECT set_purchase_threshold('default', %s, activate => false)", (STAGED_THRESHOLD,)
        ).fetchone()[0]
        conn.execute(f"CREATE TABLE real_rows (row_no int PRIMARY KEY, {ddl}, bought int)")
        with conn.cursor().copy(f"COPY real_rows (row_no, {', '.join(columns)}, bought) FROM STDIN") as copy:
            for i, row in enumerate(real_rows):
                copy.write_row([i] + [row.get(c) for c in columns] + [int(bought[i])])
        options = {
            "exclude": ["row_no"],
            "kinds": {c: k for c, k in kinds.items() if k in ("money", "percent")},
            "validation_fraction": 0,
            "top_k": 10,
        }
        conn.execute("SET client_min_messages = warning")
        challenger = conn.execute(
            "SELECT train_purchase_model('real_rows', 'bought', 'challenger', %s::jsonb)", (json.dumps(options),)
        ).fetchone()[0]
        active = conn.execute("SELECT name, version FROM purchase_models() WHERE active ORDER BY name").fetchall()
    return {
        "expected": expected,
        "bought": bought,
        "staged_version": staged_version,
        "challenger": challenger,
        "active": active,
    }


@pytest.fixture
def cur(staged):
    with psycopg.connect(dbname=DB, autocommit=True) as conn, conn.cursor() as cursor:
        yield cursor


def test_versions_are_staged(staged):
    """Version 2 of default and the challenger are loaded but not active."""
    assert staged["staged_version"] == 2
    assert staged["active"] == [("default", 1)]


# Each path scores version 2 (staged) and version 1 (active) of the same row in one statement:
# (row_no, p_hat v2, outcome v2, p_hat v1, outcome v1).
PATHS = {
    "planner_rewrite": "SELECT row_no, predict_purchase(c, 'default', version => 2), "
    "purchase_outcome(c, 'default', version => 2), predict_purchase(c), purchase_outcome(c) "
    "FROM real_rows c ORDER BY row_no",
    "generic_row_path": "SELECT row_no, predict_purchase(c, 'default', version => 2), "
    "purchase_outcome(c, 'default', version => 2), predict_purchase(c), purchase_outcome(c) "
    "FROM (SELECT * FROM real_rows OFFSET 0) c ORDER BY row_no",
    "score_purchase": "SELECT row_no, (s2).p_hat, (s2).business_outcome, (s1).p_hat, (s1).business_outcome "
    "FROM (SELECT row_no, score_purchase(c, 'default', 2) AS s2, score_purchase(c) AS s1 FROM real_rows c) x "
    "ORDER BY row_no",
    "json": "SELECT row_no, (j2->0->>'p_hat')::float8, (j2->0->>'business_outcome')::int, "
    "(j1->0->>'p_hat')::float8, (j1->0->>'business_outcome')::int "
    "FROM (SELECT row_no, predict_purchase_json(to_jsonb(c) - 'row_no' - 'bought', 'default', true, 2) AS j2, "
    "predict_purchase_json(to_jsonb(c) - 'row_no' - 'bought') AS j1 FROM real_rows c) x ORDER BY row_no",
}


@pytest.mark.parametrize("path", list(PATHS))
def test_staged_version_on_every_path(cur, staged, path):
    """The staged version scores like scikit-learn (1e-9) with its own threshold, beside v1."""
    cur.execute(PATHS[path])
    got = np.array(cur.fetchall(), dtype=float)
    expected = staged["expected"]
    assert got.shape == (len(expected), 5)
    np.testing.assert_allclose(got[:, 1], expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(got[:, 2], (expected > STAGED_THRESHOLD).astype(int))
    np.testing.assert_allclose(got[:, 3], expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(got[:, 4], (expected > 0.75).astype(int))
    # The thresholds differ on real rows, so the outcomes show which version scored.
    assert (got[:, 2] != got[:, 4]).sum() > 0


def test_the_rewrite_pins_the_version(cur):
    cur.execute("EXPLAIN (VERBOSE, COSTS OFF) SELECT predict_purchase(c, 'default', version => 2) FROM real_rows c")
    plan = " ".join(r[0] for r in cur.fetchall())
    assert "predict_purchase_version_columns('default'::text, 2," in plan, plan


def test_compare_matches_sklearn_and_scipy(cur, staged):
    """compare_purchase_models against the references, on the scores the database gives."""
    version = staged["challenger"]
    cur.execute(
        "SELECT compare_purchase_models('real_rows', 'bought', model_a => 'default', model_b => 'challenger', "
        "version_b => %s, value_per_purchase => 40, cost_per_contact => 1.5)",
        (version,),
    )
    got = cur.fetchone()[0]
    cur.execute(
        "SELECT predict_purchase(c), predict_purchase(c, 'challenger', version => %s), bought "
        "FROM real_rows c ORDER BY row_no",
        (version,),
    )
    rows = np.array(cur.fetchall(), dtype=float)
    a, b, y = rows[:, 0], rows[:, 1], rows[:, 2].astype(int)
    auc_a, auc_b, se, z, p = delong(a, b, y)
    assert (got["rows"], got["buyers"]) == (len(y), int(y.sum()))
    assert (got["a"]["model"], got["a"]["version"]) == ("default", 1)
    assert (got["b"]["model"], got["b"]["version"]) == ("challenger", version)
    np.testing.assert_allclose(got["a"]["auc"], roc_auc_score(y, a), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["b"]["auc"], roc_auc_score(y, b), rtol=0, atol=1e-12)
    np.testing.assert_allclose([got["a"]["auc"], got["b"]["auc"]], [auc_a, auc_b], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["a"]["log_loss"], log_loss(y, a), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["b"]["log_loss"], log_loss(y, b), rtol=0, atol=1e-12)
    d = got["delong"]
    np.testing.assert_allclose(d["auc_difference"], auc_a - auc_b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(d["std_error"], se, rtol=1e-9, atol=0)
    np.testing.assert_allclose(d["z"], z, rtol=1e-9, atol=0)
    np.testing.assert_allclose(d["p_value"], p, rtol=1e-9, atol=1e-300)
    oa, ob = a > 0.75, b > 0.75
    for side, o in (("a", oa), ("b", ob)):
        assert got[side]["contacts"] == int(o.sum())
        assert got[side]["buyers_reached"] == int((o & (y == 1)).sum())
        assert got[side]["profit"] == 40 * int((o & (y == 1)).sum()) - 1.5 * int(o.sum())
    agreement = got["agreement"]
    assert (agreement["both_1"], agreement["both_0"]) == (int((oa & ob).sum()), int((~oa & ~ob).sum()))
    assert (agreement["only_a"], agreement["only_b"]) == (int((oa & ~ob).sum()), int((~oa & ob).sum()))
    np.testing.assert_allclose(agreement["rate"], (oa == ob).mean(), rtol=0, atol=1e-15)
    print(f"compare on the real rows: AUC {auc_a:.4f} vs {auc_b:.4f}, z {z:.3f}, p {p:.3g}")
