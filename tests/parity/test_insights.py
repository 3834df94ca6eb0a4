#!/usr/bin/env python3
"""Parity of the insight functions with scikit-learn on the 1000 real rows.

* explain_purchase: on every row the contributions add up to the logit of p_hat (within 1e-12)
  and to scikit-learn's decision_function; each model input equals scikit-learn's transform.
* evaluate_purchase_model: AUC, log loss, accuracy, precision and recall equal roc_auc_score,
  log_loss, accuracy_score, precision_score and recall_score within 1e-9, on outcomes drawn
  from the model itself (seeded); the decile table equals one computed with numpy.
* purchase_model_weights: the artifact's coefficients, ranks by |coefficient|, scaler figures.
* purchase_drift: the real rows (drawn like the training data) are not flagged; the same rows
  with x91 shifted by one standard deviation and x5 partly unseen are.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed; creates its own database.
"""
import json
import math
import os
import sys

import numpy as np
import psycopg
from sklearn.metrics import accuracy_score, log_loss, precision_score, recall_score, roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_parity import ARTIFACT, DATA, build_reference_pipeline, fresh_database, insert_rows, table_sql  # noqa: E402

FAILURES = []


def check(label, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {label}{'  (' + detail + ')' if detail else ''}", flush=True)
    if not ok:
        FAILURES.append(label)


def explain(cur, pipe, rows):
    transformed = pipe.transform(__import__("pandas").DataFrame(rows).reindex(
        columns=pipe.numeric_columns + pipe.category_columns))[pipe.features].to_numpy()
    decision = transformed @ pipe.model.coef_[0] + pipe.model.intercept_[0]
    cur.execute("""SELECT row_no, sum(e.contribution), max(p.p),
                          array_agg(e.model_input ORDER BY e.feature), array_agg(e.feature ORDER BY e.feature)
                     FROM real_rows c
                     CROSS JOIN LATERAL explain_purchase(c) e
                     CROSS JOIN LATERAL (SELECT predict_purchase(c) AS p) p
                    GROUP BY row_no ORDER BY row_no""")
    got = cur.fetchall()
    check("explain_purchase: one answer per row", len(got) == len(rows), str(len(got)))
    by_logit = max(abs(s - math.log(p / (1 - p))) for _, s, p, _, _ in got)
    by_sklearn = max(abs(s - d) for (_, s, _, _, _), d in zip(got, decision))
    order = np.argsort(pipe.features)
    inputs = max(float(np.max(np.abs(np.array(g[3]) - transformed[i][order]))) for i, g in enumerate(got))
    check("explain_purchase: contributions add up to logit(p_hat) within 1e-12", by_logit <= 1e-12,
          f"max |sum - logit| = {by_logit:.2e}")
    check("explain_purchase: ... and to scikit-learn's decision_function", by_sklearn <= 1e-12,
          f"max |sum - decision_function| = {by_sklearn:.2e}")
    check("explain_purchase: model inputs equal scikit-learn's transform", inputs <= 1e-12, f"{inputs:.2e}")
    cur.execute("SELECT count(*) FROM real_rows c, LATERAL explain_purchase(c, top_k => 3) WHERE row_no < 10")
    check("explain_purchase(top_k => 3) gives 3 rows per row", cur.fetchone()[0] == 30)


def evaluate(cur, expected):
    rng = np.random.default_rng(26)
    outcome = (rng.random(len(expected)) < expected).astype(int)
    cur.execute("ALTER TABLE real_rows ADD COLUMN bought boolean")
    cur.execute("UPDATE real_rows SET bought = (%s::int[])[row_no + 1] = 1", (outcome.tolist(),))
    cur.execute("SELECT evaluate_purchase_model('real_rows', 'bought')")
    got = cur.fetchone()[0]
    predicted = (expected > 0.75).astype(int)
    want = {
        "auc": roc_auc_score(outcome, expected),
        "log_loss": log_loss(outcome, expected),
        "accuracy": accuracy_score(outcome, predicted),
        "precision": precision_score(outcome, predicted),
        "recall": recall_score(outcome, predicted),
    }
    worst = max(abs(got[k] - v) for k, v in want.items())
    check("evaluate_purchase_model equals scikit-learn's metrics within 1e-9",
          worst <= 1e-9 and got["rows"] == 1000 and got["positives"] == int(outcome.sum()),
          f"max diff {worst:.2e}, auc {got['auc']:.6f}")
    order = np.argsort(-expected, kind="stable")
    sorted_y = outcome[order]
    deciles = [int(sorted_y[d * 100:(d + 1) * 100].sum()) for d in range(10)]
    check("evaluate_purchase_model: decile buyers equal numpy's", [d["buyers"] for d in got["lift"]] == deciles,
          str(deciles))
    check("evaluate_purchase_model: cumulative gain reaches 1", abs(got["lift"][-1]["cumulative_gain"] - 1) < 1e-12)


def weights(cur, artifact):
    cur.execute("SELECT feature, coefficient, rank, mean, scale FROM purchase_model_weights() ORDER BY rank")
    got = cur.fetchall()
    coefs = dict(zip(artifact["model"]["features"], artifact["model"]["coefficients"]))
    ranked = sorted(coefs, key=lambda f: -abs(coefs[f]))
    check("purchase_model_weights: every coefficient, ranked by |coefficient|",
          [g[0] for g in got] == ranked and all(g[1] == coefs[g[0]] for g in got))
    import csv
    with open(os.path.join(DATA, "glm26_final_logit_params.csv"), encoding="utf-8") as handle:
        bse = {r["variable"]: float(r["bse"]) for r in csv.DictReader(handle)}
    cur.execute("SELECT feature, std_error FROM purchase_model_weights()")
    check("purchase_model_weights: the notebook's standard errors (../shared/data) for the shipped model",
          all(se == bse[f] for f, se in cur.fetchall()))
    scaler = dict(zip(artifact["scaler"]["columns"], zip(artifact["scaler"]["mean"], artifact["scaler"]["scale"])))
    check("purchase_model_weights: numeric features carry the scaler's mean and scale",
          all((g[3], g[4]) == scaler[g[0]] for g in got if g[0] in scaler)
          and all(g[3] is None for g in got if g[0] not in scaler))


def drift(cur, artifact):
    cur.execute("CREATE TABLE live_rows AS SELECT * FROM real_rows")
    cur.execute("SELECT column_name FROM purchase_drift('live_rows') WHERE flagged")
    unshifted = [r[0] for r in cur.fetchall()]
    check("purchase_drift: the real rows (like the training data) flag nothing", unshifted == [], str(unshifted))
    scale = artifact["scaler"]["scale"][artifact["scaler"]["columns"].index("x91")]
    cur.execute("UPDATE live_rows SET x91 = x91 + %s", (scale,))
    cur.execute("UPDATE live_rows SET x5 = 'holiday' WHERE row_no % 10 = 0")
    cur.execute("SELECT column_name, unseen_categories, round((live_mean - train_mean)::numeric / train_std::numeric, 2)"
                " FROM purchase_drift('live_rows') WHERE flagged ORDER BY 1")
    shifted = cur.fetchall()
    check("purchase_drift: a shifted column and unseen categories are flagged",
          [r[0] for r in shifted] == ["x5", "x91"] and shifted[0][1] == ["holiday"], str(shifted))


def main():
    with open(ARTIFACT, encoding="utf-8") as handle:
        artifact = json.load(handle)
    pipe = build_reference_pipeline(DATA)
    dbname = "pg_purchase_insights"
    with fresh_database(dbname, artifact) as conn, conn.cursor() as cur:
        with open(os.path.join(DATA, "exercise_26_test_first1000rows_raw.json"), encoding="utf-8") as handle:
            real = json.load(handle)
        cur.execute(table_sql(artifact, "real_rows"))
        insert_rows(cur, artifact, "real_rows", real)
        expected = pipe.predict_proba(real)
        explain(cur, pipe, real)
        evaluate(cur, expected)
        weights(cur, artifact)
        drift(cur, artifact)
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {dbname}")
    if FAILURES:
        sys.exit(f"insights FAILED: {FAILURES}")
    print("insights: explain, weights, evaluate and drift agree with scikit-learn")


if __name__ == "__main__":
    main()
