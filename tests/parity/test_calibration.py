"""calibrate_purchase_model against scikit-learn on the 1000 real rows.

Outcomes are drawn (seeded) from a distorted version of the model's own probability, so the
calibration has something to correct. scikit-learn's CalibratedClassifierCV over the frozen
logistic model (cv='prefit' before 1.6, FrozenEstimator from 1.6), fitted on the transformed
rows, is the oracle: the calibrated version's p_hat on every row is within 1e-9 of its
predict_proba, for 'sigmoid' and 'isotonic'.
"""

import json

import numpy as np
import pandas as pd
import psycopg
import pytest
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from test_parity import insert_rows, load_database, table_sql

DB = "pg_purchase_calibration"


def calibrated(model, X, y, method):
    if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 6):
        from sklearn.frozen import FrozenEstimator

        cal = CalibratedClassifierCV(FrozenEstimator(model), method=method)
    else:
        cal = CalibratedClassifierCV(model, method=method, cv="prefit")
    return cal.fit(X, y)


@pytest.fixture(scope="module")
def calibration_db(fresh_database, artifact_path, real_rows, reference_pipeline):
    with open(artifact_path, encoding="utf-8") as handle:
        artifact = json.load(handle)
    fresh_database(DB)
    load_database(DB, artifact)
    pipe = reference_pipeline
    frame = pd.DataFrame(real_rows).reindex(columns=pipe.numeric_columns + pipe.category_columns)
    X = pipe.transform(frame)[pipe.features].to_numpy()
    p = pipe.model.predict_proba(X)[:, 1]
    y = (np.random.default_rng(21).random(len(p)) < p**0.6).astype(int)
    with psycopg.connect(dbname=DB, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(table_sql(artifact, "holdout"))
        insert_rows(cur, artifact, "holdout", real_rows)
        cur.execute("ALTER TABLE holdout ADD COLUMN bought int")
        cur.execute("UPDATE holdout SET bought = (%s::int[])[row_no + 1]", (y.tolist(),))
    return DB, X, y


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrated_version_equals_scikit_learn(calibration_db, reference_pipeline, method):
    db, X, y = calibration_db
    expected = calibrated(reference_pipeline.model, X, y, method).predict_proba(X)[:, 1]
    with psycopg.connect(dbname=db, autocommit=True) as conn:
        version = conn.execute(
            "SELECT calibrate_purchase_model('holdout', 'bought', 'default', %s, activate => false)", (method,)
        ).fetchone()[0]
        conn.execute("SELECT activate_purchase_model('default', %s)", (version,))
        got = conn.execute(
            "SELECT array_agg(predict_purchase(h) ORDER BY row_no), array_agg(p ORDER BY row_no), "
            "array_agg(j ORDER BY row_no) FROM holdout h, LATERAL score_purchase(h) s(p, o), "
            "LATERAL (SELECT (predict_purchase_json(to_jsonb(h) - 'row_no' - 'bought', strict => false)->0->>'p_hat')::float8) x(j)"
        ).fetchone()
        conn.execute("SELECT activate_purchase_model('default', 1)")
    for path in got:
        np.testing.assert_allclose(np.array(path, dtype=float), expected, rtol=0, atol=1e-9)
    # the calibration changes the probabilities (the test can fail)
    assert np.abs(expected - reference_pipeline.model.predict_proba(X)[:, 1]).max() > 1e-3
