"""Parity of the insight functions with scikit-learn on the 1000 real rows.

* explain_purchase: on every row the contributions add up to the logit of p_hat (within 1e-12)
  and to scikit-learn's decision_function; each model input equals scikit-learn's transform.
* evaluate_purchase_model: AUC, log loss, accuracy, precision and recall equal roc_auc_score,
  log_loss, accuracy_score, precision_score and recall_score within 1e-9, on outcomes drawn
  from the model itself (seeded); the decile table equals one computed with numpy; the Brier
  score equals brier_score_loss and the reliability table calibration_curve (10 uniform bins).
* purchase_model_weights: the artifact's coefficients, ranks by |coefficient|, scaler figures.
* purchase_drift: the real rows (drawn like the training data) are not flagged; the same rows
  with x91 shifted by one standard deviation and x5 partly unseen are.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed; creates its own database.
"""

import csv
import math
import os

import numpy as np
import pandas as pd
import psycopg
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, precision_score, recall_score, roc_auc_score
from test_parity import insert_rows, load_database, table_sql

DB = "pg_purchase_insights"


@pytest.fixture(scope="module")
def insights_db(fresh_database, artifact_path, real_rows):
    """A database with the bundled model and the 1000 real rows in table real_rows."""
    import json

    with open(artifact_path, encoding="utf-8") as handle:
        artifact = json.load(handle)
    fresh_database(DB)
    load_database(DB, artifact)
    with psycopg.connect(dbname=DB, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(table_sql(artifact, "real_rows"))
        insert_rows(cur, artifact, "real_rows", real_rows)
    return DB


@pytest.fixture
def cur(insights_db):
    with psycopg.connect(dbname=insights_db, autocommit=True) as conn, conn.cursor() as cursor:
        yield cursor


@pytest.fixture(scope="module")
def explained(insights_db, reference_pipeline, real_rows):
    """explain_purchase over every real row, and scikit-learn's transform and decision_function."""
    pipe = reference_pipeline
    frame = pd.DataFrame(real_rows).reindex(columns=pipe.numeric_columns + pipe.category_columns)
    transformed = pipe.transform(frame)[pipe.features].to_numpy()
    decision = transformed @ pipe.model.coef_[0] + pipe.model.intercept_[0]
    with psycopg.connect(dbname=insights_db, autocommit=True) as conn:
        got = conn.execute("""SELECT row_no, sum(e.contribution), max(p.p),
                                     array_agg(e.model_input ORDER BY e.feature), array_agg(e.feature ORDER BY e.feature)
                                FROM real_rows c
                                CROSS JOIN LATERAL explain_purchase(c) e
                                CROSS JOIN LATERAL (SELECT predict_purchase(c) AS p) p
                               GROUP BY row_no ORDER BY row_no""").fetchall()
    return got, transformed, decision


def test_explain_one_answer_per_row(explained, real_rows):
    got, _, _ = explained
    assert len(got) == len(real_rows)


def test_explain_contributions_add_up_to_logit(explained):
    """Contributions add up to logit(p_hat) within 1e-12."""
    got, _, _ = explained
    sums = np.array([s for _, s, _, _, _ in got])
    logits = np.array([math.log(p / (1 - p)) for _, _, p, _, _ in got])
    np.testing.assert_allclose(sums, logits, rtol=0, atol=1e-12, equal_nan=False)


def test_explain_contributions_add_up_to_decision_function(explained):
    """... and to scikit-learn's decision_function (within 1e-12)."""
    got, _, decision = explained
    assert len(got) == len(decision)
    np.testing.assert_allclose([g[1] for g in got], decision, rtol=0, atol=1e-12, equal_nan=False)


def test_explain_model_inputs_equal_transform(explained, reference_pipeline):
    got, transformed, _ = explained
    order = np.argsort(reference_pipeline.features)
    assert [list(g[4]) for g in got] == [sorted(reference_pipeline.features)] * len(got)
    np.testing.assert_allclose(
        np.array([g[3] for g in got]), transformed[:, order], rtol=0, atol=1e-12, equal_nan=False
    )


def test_explain_top_k(cur):
    cur.execute("SELECT count(*) FROM real_rows c, LATERAL explain_purchase(c, top_k => 3) WHERE row_no < 10")
    assert cur.fetchone()[0] == 30


@pytest.fixture
def evaluated(cur, reference_pipeline, real_rows):
    """evaluate_purchase_model over the real rows with outcomes drawn from the model (seeded)."""
    expected = reference_pipeline.predict_proba(real_rows)
    rng = np.random.default_rng(26)
    outcome = (rng.random(len(expected)) < expected).astype(int)
    cur.execute("DROP TABLE IF EXISTS eval_rows")
    cur.execute("CREATE TABLE eval_rows AS SELECT * FROM real_rows")
    cur.execute("ALTER TABLE eval_rows ADD COLUMN bought boolean")
    cur.execute("UPDATE eval_rows SET bought = (%s::int[])[row_no + 1] = 1", (outcome.tolist(),))
    cur.execute("SELECT evaluate_purchase_model('eval_rows', 'bought')")
    got = cur.fetchone()[0]
    cur.execute("DROP TABLE eval_rows")
    return got, expected, outcome


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        ("auc", lambda y, p: roc_auc_score(y, p)),
        ("log_loss", lambda y, p: log_loss(y, p)),
        ("accuracy", lambda y, p: accuracy_score(y, (p > 0.75).astype(int))),
        ("precision", lambda y, p: precision_score(y, (p > 0.75).astype(int))),
        ("recall", lambda y, p: recall_score(y, (p > 0.75).astype(int))),
    ],
)
def test_evaluate_metric_equals_sklearn(evaluated, metric, reference):
    got, expected, outcome = evaluated
    np.testing.assert_allclose(got[metric], reference(outcome, expected), rtol=0, atol=1e-9, equal_nan=False)


def test_evaluate_brier_equals_sklearn(evaluated):
    got, expected, outcome = evaluated
    assert abs(got["brier"] - brier_score_loss(outcome, expected)) <= 1e-12


def test_evaluate_reliability_equals_calibration_curve(evaluated):
    got, expected, outcome = evaluated
    prob_true, prob_pred = calibration_curve(outcome, expected, n_bins=10, strategy="uniform")
    table = got["reliability"]
    assert [b["bin"] for b in table] == list(range(1, 11))
    filled = [b for b in table if b["rows"] > 0]
    assert len(filled) == len(prob_true) >= 5
    np.testing.assert_allclose([b["buyer_rate"] for b in filled], prob_true, rtol=0, atol=1e-12)
    np.testing.assert_allclose([b["mean_p_hat"] for b in filled], prob_pred, rtol=0, atol=1e-12)
    bins = np.searchsorted(np.linspace(0.0, 1.0, 11)[1:-1], expected)
    assert [b["rows"] for b in table] == np.bincount(bins, minlength=10).tolist()
    assert [b["buyers"] for b in table] == np.bincount(bins, weights=outcome, minlength=10).astype(int).tolist()
    assert all(b["mean_p_hat"] is None and b["buyer_rate"] is None for b in table if b["rows"] == 0)


def test_evaluate_counts(evaluated):
    got, _, outcome = evaluated
    assert got["rows"] == 1000
    assert got["positives"] == int(outcome.sum())


def test_evaluate_decile_buyers_equal_numpy(evaluated):
    got, expected, outcome = evaluated
    order = np.argsort(-expected, kind="stable")
    sorted_y = outcome[order]
    deciles = [int(sorted_y[d * 100 : (d + 1) * 100].sum()) for d in range(10)]
    assert [d["buyers"] for d in got["lift"]] == deciles


def test_evaluate_cumulative_gain_reaches_one(evaluated):
    got, _, _ = evaluated
    assert abs(got["lift"][-1]["cumulative_gain"] - 1) < 1e-12


def test_weights_every_coefficient_ranked(cur, artifact):
    """purchase_model_weights: every coefficient, ranked by |coefficient|."""
    cur.execute("SELECT feature, coefficient FROM purchase_model_weights() ORDER BY rank")
    got = cur.fetchall()
    coefs = dict(zip(artifact["model"]["features"], artifact["model"]["coefficients"]))
    assert [g[0] for g in got] == sorted(coefs, key=lambda f: -abs(coefs[f]))
    assert all(g[1] == coefs[g[0]] for g in got)


def test_weights_standard_errors_of_the_notebook(cur, data_dir):
    """The notebook's standard errors (../shared/data) for the shipped model, exactly."""
    with open(os.path.join(data_dir, "glm26_final_logit_params.csv"), encoding="utf-8") as handle:
        bse = {r["variable"]: float(r["bse"]) for r in csv.DictReader(handle)}
    cur.execute("SELECT feature, std_error FROM purchase_model_weights()")
    got = cur.fetchall()
    assert got
    assert {f: se for f, se in got if se != bse[f]} == {}


def test_weights_scaler_figures(cur, artifact):
    """Numeric features carry the scaler's mean and scale; categories none."""
    cur.execute("SELECT feature, coefficient, rank, mean, scale FROM purchase_model_weights() ORDER BY rank")
    got = cur.fetchall()
    scaler = dict(zip(artifact["scaler"]["columns"], zip(artifact["scaler"]["mean"], artifact["scaler"]["scale"])))
    assert all((g[3], g[4]) == scaler[g[0]] for g in got if g[0] in scaler)
    assert all(g[3] is None for g in got if g[0] not in scaler)


@pytest.fixture
def live_rows(cur):
    cur.execute("DROP TABLE IF EXISTS live_rows")
    cur.execute("CREATE TABLE live_rows AS SELECT * FROM real_rows")
    yield "live_rows"
    cur.execute("DROP TABLE live_rows")


def test_drift_real_rows_flag_nothing(cur, live_rows):
    cur.execute("SELECT column_name FROM purchase_drift('live_rows') WHERE flagged")
    assert [r[0] for r in cur.fetchall()] == []


def test_drift_shift_and_unseen_categories_flagged(cur, live_rows, artifact):
    scale = artifact["scaler"]["scale"][artifact["scaler"]["columns"].index("x91")]
    cur.execute("UPDATE live_rows SET x91 = x91 + %s", (scale,))
    cur.execute("UPDATE live_rows SET x5 = 'holiday' WHERE row_no % 10 = 0")
    cur.execute(
        "SELECT column_name, unseen_categories, round((live_mean - train_mean)::numeric / train_std::numeric, 2)"
        " FROM purchase_drift('live_rows') WHERE flagged ORDER BY 1"
    )
    shifted = cur.fetchall()
    assert [r[0] for r in shifted] == ["x5", "x91"], shifted
    assert shifted[0][1] == ["holiday"], shifted
