"""The shipped model re-exported from the training notebook's form (imputer, scaler,
get_dummies(drop_first=True, dummy_na=True), a statsmodels Logit result) with the published
figures of ../shared/data: it scores the 1000 real rows like the notebook and like the bundled
artifact, within 1e-9, in the database."""

from __future__ import annotations

import csv
import json
import os
import warnings

import numpy as np
import pandas as pd
import pg_purchase
import psycopg
import pytest
import statsmodels.api as sm
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
if not os.path.isdir(DATA):
    DATA = "/work/shared/data"
ARTIFACT = os.path.join(ROOT, "artifacts", "purchase_model.json")
DB = "byom_notebook"
LEVELS = {  # get_dummies order; the first level is the dropped reference
    "x5": ["friday", "monday", "saturday", "sunday", "thursday", "tuesday", "wednesday"],
    "x31": ["america", "asia", "germany", "japan"],
    "x81": [
        "April",
        "August",
        "December",
        "February",
        "January",
        "July",
        "June",
        "March",
        "May",
        "November",
        "October",
        "September",
    ],
    "x82": ["Female", "Male"],
}


def read_csv(name):
    with open(os.path.join(DATA, name), newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def notebook():
    stats = read_csv("glm26_numeric_column_stats.csv")
    params = read_csv("glm26_final_logit_params.csv")
    numeric = [r["column"] for r in stats if r["mean_split32k"] != ""]
    means = np.array([float(r["mean_split32k"]) for r in stats if r["mean_split32k"] != ""])
    variances = np.array([float(r["var_split32k_postimpute"]) for r in stats if r["mean_split32k"] != ""])
    imputer = SimpleImputer(strategy="mean").fit(np.zeros((1, len(numeric))))
    imputer.statistics_ = means
    scaler = StandardScaler().fit(np.zeros((2, len(numeric))))
    scaler.mean_, scaler.var_, scaler.scale_ = means, variances, np.sqrt(variances)
    features = [r["variable"] for r in params]
    coefs = np.array([float(r["coef_final_40k"]) for r in params])
    rng = np.random.default_rng(0)
    design = pd.DataFrame(rng.normal(size=(60, len(features))), columns=features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The published coefficients as a statsmodels result (no iterations: params = start).
        result = sm.Logit(rng.integers(0, 2, 60), design).fit(start_params=coefs, method="newton", maxiter=0, disp=0)
    with open(os.path.join(DATA, "exercise_26_test_first1000rows_raw.json"), encoding="utf-8") as handle:
        rows = pd.DataFrame(json.load(handle))
    return imputer, scaler, numeric, result, rows


def test_the_shipped_model_reexported_from_the_notebook(notebook):
    imputer, scaler, numeric, result, rows = notebook
    doc = pg_purchase.export_notebook(
        imputer,
        scaler,
        numeric,
        LEVELS,
        result,
        rows.head(200),
        money=["x12"],
        percent=["x63"],
        threshold=0.75,
        name="notebook",
    )
    assert doc["model"]["class"] == "statsmodels.discrete.discrete_model.Logit"
    assert sorted(i["column"] for i in doc["inputs"]) == sorted(
        ["x12", "x31", "x44", "x5", "x53", "x56", "x58", "x62", "x81", "x91"]
    )
    expected = pg_purchase.notebook_predict(imputer, scaler, numeric, LEVELS, result, rows)
    used = [i["column"] for i in doc["inputs"]]
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(dbname=DB, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_purchase")
        conn.execute("SELECT load_purchase_model(%s::jsonb, 'notebook')", (json.dumps(doc),))
        with open(ARTIFACT, encoding="utf-8") as handle:
            conn.execute("SELECT load_purchase_model(%s::jsonb)", (handle.read(),))
        kinds = {i["column"]: i["kind"] for i in doc["inputs"]}
        conn.execute(
            "CREATE TABLE real_rows (row_no int PRIMARY KEY, "
            + ", ".join(f"{c} {'float8' if kinds[c] == 'number' else 'text'}" for c in used)
            + ")"
        )
        with conn.cursor().copy(f"COPY real_rows (row_no, {', '.join(used)}) FROM STDIN") as copy:
            for i, row in enumerate(rows[used].itertuples(index=False)):
                copy.write_row([i] + [None if pg_purchase.is_missing_category(v) else v for v in row])
        got = conn.execute(
            "SELECT predict_purchase(r, 'notebook'), predict_purchase(r) FROM real_rows r ORDER BY row_no"
        ).fetchall()
        (answer,) = conn.execute(
            "SELECT predict_purchase_json(%s::jsonb, 'notebook')", (rows.to_json(orient="records"),)
        ).fetchone()
    notebook_db = np.array([g[0] for g in got])
    bundled_db = np.array([g[1] for g in got])
    json_db = np.array([a["p_hat"] for a in answer])
    for label, values in [
        ("table rows", notebook_db),
        ("predict_purchase_json", json_db),
        ("bundled artifact", bundled_db),
    ]:
        delta = float(np.max(np.abs(values - expected)))
        print(f"notebook form vs {label}: rows={len(values)} max|dp|={delta:.3e}")
        assert len(values) == 1000 and delta <= 1e-9, label
