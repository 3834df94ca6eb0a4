"""Tree models end to end: HistGradientBoosting (two ways of categories), LightGBM and XGBoost,
each fitted on tests/trees/problems.py's rows (money/percent text, integer and numeric columns,
missing values, categories and a category training never saw), exported with the pg_purchase
package, loaded, and scored through every path against predict_proba: <= 1e-12 for HGB and
LightGBM, <= 1e-6 for XGBoost (float32).

Needs PGHOST/PGPORT of a cluster with pg_purchase installed and the package importable
(pip install ./python); creates its own database.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pg_purchase
import problems
import psycopg
import pytest

DB = "trees_parity"
N_TRAIN, N_SCORE = 4000, 3000
MODELS = list(problems.PIPELINES)
COLUMNS = list(problems.SQL_TYPES)


def tolerance(model):
    return 1e-6 if model == "xgb" else 1e-12


@pytest.fixture(scope="module")
def world():
    train, y = problems.raw_rows(N_TRAIN, 1)
    score, _ = problems.raw_rows(N_SCORE, 2, unseen=True)
    pipes = {name: fit(train, y) for name, fit in problems.PIPELINES.items()}
    docs = {
        name: pg_purchase.export_pipeline(
            pipe,
            score.head(300),
            money=problems.MONEY,
            percent=problems.PERCENT,
            name=name,
            training_rows=train,
        )
        for name, pipe in pipes.items()
    }
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    conn = psycopg.connect(dbname=DB, autocommit=True)
    conn.execute("CREATE EXTENSION pg_purchase")
    types = ", ".join(f"{c} {t}" for c, t in problems.SQL_TYPES.items())
    conn.execute(f"CREATE TABLE shoppers (id integer PRIMARY KEY, {types}, unused text DEFAULT 'x')")
    with conn.cursor().copy(f"COPY shoppers (id, {', '.join(COLUMNS)}) FROM STDIN") as copy:
        for i, row in enumerate(score[COLUMNS].itertuples(index=False)):
            copy.write_row([i] + [None if pg_purchase.is_missing_category(v) else v for v in row])
    conn.execute("ANALYZE shoppers")
    for name, doc in docs.items():
        conn.execute("SELECT load_purchase_model(%s::jsonb, %s)", (json.dumps(doc), name))
    expected = {n: p.predict_proba(problems.model_frame(n, score))[:, 1].astype(float) for n, p in pipes.items()}
    yield {"conn": conn, "pipes": pipes, "docs": docs, "score": score, "expected": expected}
    conn.close()


def assert_parity(label, got, expected, tol):
    got = np.asarray(got, dtype=float)
    assert len(got) == len(expected), label
    delta = float(np.max(np.abs(got - expected)))
    print(f"{label:<48} rows={len(got)} max|dp|={delta:.3e}")
    assert delta <= tol, f"{label}: max |dp| {delta}"


PATHS = {
    "table rows (planner rewrite)": "SELECT predict_purchase(s, %s) FROM shoppers s ORDER BY id",
    "generic records": "SELECT predict_purchase(r, %s) FROM (SELECT * FROM shoppers OFFSET 0) r ORDER BY id",
    "score_purchase": "SELECT (score_purchase(s, %s)).p_hat FROM shoppers s ORDER BY id",
    "lateral": "SELECT x.p_hat FROM shoppers s CROSS JOIN LATERAL score_purchase(s, %s) x ORDER BY s.id",
}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("path", list(PATHS))
def test_every_path_agrees_with_predict_proba(world, model, path):
    rows = world["conn"].execute(PATHS[path], (model,)).fetchall()
    assert_parity(f"{model} {path}", [r[0] for r in rows], world["expected"][model], tolerance(model))


@pytest.mark.parametrize("model", MODELS)
def test_ctas_outcome_and_json(world, model):
    conn = world["conn"]
    conn.execute("DROP TABLE IF EXISTS scored")
    conn.execute("CREATE TABLE scored AS SELECT id, (score_purchase(s, %s)).* FROM shoppers s", (model,))
    rows = conn.execute("SELECT p_hat, business_outcome FROM scored ORDER BY id").fetchall()
    expected = world["expected"][model]
    assert_parity(f"{model} CTAS", [r[0] for r in rows], expected, tolerance(model))
    assert [r[1] for r in rows] == [int(p > 0.5) for p in expected]
    outcomes = conn.execute("SELECT purchase_outcome(s, %s) FROM shoppers s ORDER BY id", (model,)).fetchall()
    assert [r[0] for r in outcomes] == [int(p > 0.5) for p in expected]
    (answer,) = conn.execute(
        "SELECT predict_purchase_json(jsonb_agg((SELECT jsonb_object_agg(e.key, e.value)"
        "   FROM jsonb_each(to_jsonb(s)) e WHERE e.key = ANY(%s)) ORDER BY id), %s) FROM shoppers s",
        (COLUMNS, model),
    ).fetchone()
    assert_parity(f"{model} predict_purchase_json", [a["p_hat"] for a in answer], expected, tolerance(model))


def test_parallel_workers_score_every_model(world):
    conn = world["conn"]
    with conn.transaction():
        for setting in [
            "force_parallel_mode = on",
            "max_parallel_workers_per_gather = 2",
            "parallel_setup_cost = 0",
            "parallel_tuple_cost = 0",
            "min_parallel_table_scan_size = 0",
        ]:
            conn.execute(f"SET LOCAL {setting}")
        sql = "SELECT id, " + ", ".join(f"predict_purchase(s, '{m}')" for m in MODELS) + " FROM shoppers s"
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql).fetchall())
        assert "Gather" in plan, plan
        rows = sorted(conn.execute(sql).fetchall())
    for k, model in enumerate(MODELS, start=1):
        assert_parity(f"{model} parallel", [r[k] for r in rows], world["expected"][model], tolerance(model))


def test_planner_rewrite_reads_only_the_tree_columns(world):
    plan = "\n".join(
        r[0]
        for r in world["conn"]
        .execute("EXPLAIN (VERBOSE, COSTS OFF) SELECT predict_purchase(s, 'lgbm') FROM shoppers s")
        .fetchall()
    )
    assert "predict_purchase_columns" in plan, plan
    assert "unused" not in plan.split("Output:")[-1], plan


@pytest.mark.parametrize("model", MODELS)
def test_purchase_features_are_the_tree_inputs(world, model):
    """The model inputs the trees read: numbers after cleaning (null when missing), category
    codes (null when missing or unseen)."""
    conn = world["conn"]
    doc = world["docs"][model]
    rows = conn.execute("SELECT purchase_features(s, %s) FROM shoppers s ORDER BY id LIMIT 200", (model,)).fetchall()
    score = world["score"].head(200)
    split = {
        doc["model"]["features"][f]
        for t in doc["model"]["trees"]
        for f, left in zip(t["feature"], t["left"])
        if left != -1
    }
    for (features,), (_, raw) in zip(rows, score.iterrows()):
        assert set(features) == split  # only what some split reads
        for item in doc["inputs"]:
            if item["feature"] not in split:
                continue
            v = raw[item["column"]]
            got = features[item["feature"]]
            if pg_purchase.is_missing_category(v):
                assert got is None, (item, v, got)
            elif item["kind"] == "category":
                cats = item["categories"]
                want = cats.index(v) if v in cats else None
                assert got == want, (item, v, got)
            else:
                assert got == pg_purchase.clean_number(v), (item, v, got)


def sqlstate(conn, sql, params=()):
    try:
        conn.execute(sql, params)
    except psycopg.Error as e:
        return e.sqlstate, e.diag.message_primary, e.diag.message_hint
    return None, None, None


@pytest.mark.parametrize("model", MODELS)
def test_explanations_and_weights_of_tree_models(world, model):
    """Tree models are explained (TreeSHAP; tests/trees/test_tree_explain.py holds the parity
    with each library): no coefficient is ever given, the rows add up to the logit."""
    conn = world["conn"]
    rows = conn.execute(
        "SELECT coefficient, odds_ratio, importance FROM purchase_model_weights(%s)", (model,)
    ).fetchall()
    assert rows and all(c is None and o is None and i is not None for c, o, i in rows), rows
    (coefficients, total, p) = conn.execute(
        "SELECT count(e.coefficient), sum(e.contribution), predict_purchase(s, %s)"
        " FROM (SELECT s FROM shoppers s ORDER BY id LIMIT 1) r(s), explain_purchase(r.s, %s) e GROUP BY 3",
        (model, model),
    ).fetchone()
    assert coefficients == 0
    # XGBoost's p_hat is a float32 sigmoid, whose rounding the logit magnifies.
    assert abs(total - math.log(p / (1 - p))) <= (1e-4 if model == "xgb" else 1e-9), (total, p)


def one_row(world, model, **values):
    """p_hat of one JSON row in the database and by predict_proba (other columns missing)."""
    import pandas as pd

    row = {c: None for c in COLUMNS}
    row.update(values)
    (answer,) = (
        world["conn"].execute("SELECT predict_purchase_json(%s::jsonb, %s)", (json.dumps(row), model)).fetchone()
    )
    frame = problems.model_frame(model, pd.DataFrame([row], columns=COLUMNS).astype({"visits": float}))
    if model in ("hgb_ordinal", "xgb"):  # an all-missing column would be float; the encoder wants text
        frame = frame.astype({c: object for c in problems.CATEGORIES})
    want = world["pipes"][model].predict_proba(frame)[0, 1]
    return answer[0]["p_hat"], float(want)


def split_values(doc, column):
    """Every numeric threshold the trees compare a column's feature with."""
    feature = next(i["feature"] for i in doc["inputs"] if i["column"] == column)
    j = doc["model"]["features"].index(feature)
    out = set()
    for t in doc["model"]["trees"]:
        cats = t.get("categories") or [None] * len(t["left"])
        for i, f in enumerate(t["feature"]):
            if t["left"][i] != -1 and f == j and cats[i] is None and not isinstance(t["threshold"][i], str):
                out.add(t["threshold"][i])
    return sorted(out)


@pytest.mark.parametrize("model", MODELS)
def test_corner_cases(world, model):
    """A value exactly on a split threshold (and one ulp either side), +-0.0, NaN, NULL, a
    category outside every bitset, an unseen category, integer and numeric text."""
    doc = world["docs"][model]
    tol = tolerance(model)
    cases = []
    for t in split_values(doc, "tenure")[:12]:
        for v in (t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf)):
            cases.append({"tenure": v, "visits": 3, "region": "south", "plan": "pro"})
    for t in split_values(doc, "visits")[:6]:
        cases.append({"visits": t, "plan": "basic"})
    cases += [
        {"tenure": 0.0, "visits": 0},
        {"tenure": -0.0, "visits": -0.0},
        {"tenure": None, "visits": None, "region": None, "plan": None},
        {"region": "islands", "plan": "free", "spend": "$1,234.50", "discount": "12.5%"},
        {"region": "", "plan": "pro", "spend": "($20.00)", "discount": "0%"},
        {"region": "west", "tenure": 1e9, "visits": 1000000},
    ]
    for case in cases:
        got, want = one_row(world, model, **case)
        assert abs(got - want) <= tol, (model, case, got, want)


def test_hostile_artifacts_are_refused_at_load(world):
    conn = world["conn"]

    def refused(mutate, expect):
        doc = json.loads(json.dumps(world["docs"]["hgb_ordinal"]))
        mutate(doc)
        doc["sha256"] = pg_purchase.artifact_sha256(doc)
        state, message, _ = sqlstate(conn, "SELECT load_purchase_model(%s::jsonb, 'hostile')", (json.dumps(doc),))
        assert state == "22023" and expect in message, (expect, state, message)

    def tree0(doc):
        return doc["model"]["trees"][0]

    refused(lambda d: tree0(d)["left"].__setitem__(0, 0), "twice")
    refused(lambda d: tree0(d)["right"].__setitem__(0, 10**6), "not a node")
    refused(lambda d: tree0(d)["feature"].__setitem__(0, 99), "not a feature index")
    refused(lambda d: tree0(d)["threshold"].__setitem__(0, "nan"), "threshold")
    refused(lambda d: tree0(d)["value"].pop(), "entries")

    def huge(d, n):
        t = tree0(d)
        t.update(
            left=[-1] * n, right=[-1] * n, feature=[0] * n, threshold=[0.0] * n, value=[0.0] * n,
            default_left=[False] * n, categories=[None] * n, cover=[0.0] * n, gain=[0.0] * n,
        )  # fmt: skip

    refused(lambda d: huge(d, 10**6), "more than")

    def deep(d, depth):
        huge(d, 2 * depth + 1)
        t = tree0(d)
        for k in range(depth):
            t["left"][2 * k], t["right"][2 * k] = 2 * k + 1, 2 * k + 2

    refused(lambda d: deep(d, 10**5), "deeper")

    def shifted(d):
        t = tree0(d)
        t["value"] = [v + 1e-9 if left == -1 else v for v, left in zip(t["value"], t["left"])]

    # Leaves moved by 1e-9 with the hash updated: the reference rows (held to 1e-12) catch it.
    refused(shifted, "model check failed")
    state, message, _ = sqlstate(conn, "SELECT 1 FROM purchase_models() WHERE name = 'hostile'")
    assert (state, conn.execute("SELECT count(*) FROM purchase_models() WHERE name = 'hostile'").fetchone()[0]) == (
        None,
        0,
    )


def test_export_reload_and_drift(world):
    conn = world["conn"]
    for name in MODELS:
        conn.execute("SELECT load_purchase_model(export_purchase_model(%s), %s)", (name, name + "_again"))
        same = conn.execute(
            "SELECT count(*) FILTER (WHERE predict_purchase(s, %s) = predict_purchase(s, %s)) FROM shoppers s",
            (name, name + "_again"),
        ).fetchone()[0]
        assert same == N_SCORE, name
        conn.execute("SELECT drop_purchase_model(%s)", (name + "_again",))
    rows = conn.execute("SELECT column_name, psi, flagged FROM purchase_drift('shoppers', 'lgbm')").fetchall()
    assert rows and any(r[1] is not None for r in rows), rows


def test_evaluate_a_tree_model(world):
    """evaluate_purchase_model on the score rows' real outcomes: AUC and accuracy as
    scikit-learn computes them from predict_proba (the function rounds to 6 digits)."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    conn = world["conn"]
    _, outcome = problems.raw_rows(N_SCORE, 2, unseen=True)
    conn.execute("ALTER TABLE shoppers ADD COLUMN IF NOT EXISTS bought integer")
    conn.execute(
        "UPDATE shoppers s SET bought = o.y FROM unnest(%s::int[]) WITH ORDINALITY o(y, k) WHERE s.id = o.k - 1",
        ([int(v) for v in outcome],),
    )
    for model in MODELS:
        (result,) = conn.execute("SELECT evaluate_purchase_model('shoppers', 'bought', %s)", (model,)).fetchone()
        p = world["expected"][model]
        assert abs(result["auc"] - roc_auc_score(outcome, p)) <= 1e-6, (model, result["auc"])
        assert abs(result["accuracy"] - accuracy_score(outcome, p > 0.5)) <= 1e-6, (model, result)


def test_purchase_models_shows_kind_trees_and_leaves(world):
    rows = {
        r[0]: r[1:]
        for r in world["conn"].execute("SELECT name, kind, trees, leaves FROM purchase_models() WHERE active")
    }
    lgbm = world["pipes"]["lgbm"].steps[-1][1].booster_.dump_model()["tree_info"]
    assert rows["lgbm"] == ("lightgbm", len(lgbm), sum(t["num_leaves"] for t in lgbm))
    hgb = world["pipes"]["hgb_ordinal"].steps[-1][1]
    leaves = sum(int(p[0].nodes["is_leaf"].sum()) for p in hgb._predictors)
    assert rows["hgb_ordinal"] == ("hist_gradient_boosting", hgb.n_iter_, leaves)
    booster = world["pipes"]["xgb"].steps[-1][1].get_booster()
    frame = booster.trees_to_dataframe()
    assert rows["xgb"] == ("xgboost", booster.num_boosted_rounds(), int((frame["Feature"] == "Leaf").sum()))
    world["conn"].execute("SELECT load_purchase_model(export_purchase_model('lgbm'), 'lgbm_copy')")
    assert world["conn"].execute("SELECT kind FROM purchase_models() WHERE name = 'lgbm_copy'").fetchone() == (
        "lightgbm",
    )
    world["conn"].execute("SELECT drop_purchase_model('lgbm_copy')")


def scores(conn, model, version=None):
    sql = "SELECT predict_purchase(s, %s, version => %s) FROM shoppers s ORDER BY id"
    return [r[0] for r in conn.execute(sql, (model, version))]


def test_versions_activation_and_rollback_of_tree_models(world):
    """One name holds a HistGradientBoosting, then a staged LightGBM, then an XGBoost version:
    each version scores as its own library, pinned or active, and rollback restores the first."""
    conn, expected = world["conn"], world["expected"]
    load = "SELECT load_purchase_model(%s::jsonb, 'swap', activate => %s, replace_inputs => true)"
    versions = {}
    for model, activate in (("hgb_ordinal", True), ("lgbm", False), ("xgb", True)):
        versions[model] = conn.execute(load, (json.dumps(world["docs"][model]), activate)).fetchone()[0]
    try:
        assert_parity("swap: active (xgb)", scores(conn, "swap"), expected["xgb"], tolerance("xgb"))
        assert_parity("swap: staged lgbm", scores(conn, "swap", versions["lgbm"]), expected["lgbm"], 1e-12)
        kinds = dict(conn.execute("SELECT version, kind FROM purchase_models() WHERE name = 'swap'").fetchall())
        assert kinds == {
            versions["hgb_ordinal"]: "hist_gradient_boosting",
            versions["lgbm"]: "lightgbm",
            versions["xgb"]: "xgboost",
        }
        conn.execute("SELECT activate_purchase_model('swap', %s)", (versions["hgb_ordinal"],))
        assert_parity("swap: rolled back (hgb)", scores(conn, "swap"), expected["hgb_ordinal"], 1e-12)
    finally:
        conn.execute("SELECT drop_purchase_model('swap')")


def test_refresh_lists_a_tree_models_targets(world):
    """refresh_purchase_targets with a LightGBM model: the rows above a threshold, and a budget's
    N best (ties by key), are the ones LightGBM's own probabilities pick."""
    conn, p = world["conn"], world["expected"]["lgbm"]
    threshold = float(np.quantile(p, 0.7))
    conn.execute(
        "CALL refresh_purchase_targets('shoppers', 'lgbm_targets', 'lgbm', key_column => 'id', threshold => %s)",
        (threshold,),
    )
    listed = {r[0]: r[1] for r in conn.execute("SELECT id, p_hat FROM lgbm_targets")}
    assert set(listed) == {i for i in range(len(p)) if p[i] > threshold}
    assert max(abs(listed[i] - p[i]) for i in listed) <= 1e-12
    conn.execute("CALL refresh_purchase_targets('shoppers', 'lgbm_best', 'lgbm', key_column => 'id', budget => 250)")
    best = sorted(range(len(p)), key=lambda i: (-p[i], i))[:250]
    assert {r[0] for r in conn.execute("SELECT id FROM lgbm_best")} == set(best)
    conn.execute("DROP TABLE lgbm_targets, lgbm_best")


def test_dump_restore_and_upgrade_keep_tree_models(world, tmp_path):
    """pg_dump/pg_restore of a database holding every tree model restores scores bit for bit;
    an extension updated from 0.3.0 loads and scores a tree model as a fresh one does."""
    import os
    import subprocess

    bindir = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
    dump = str(tmp_path / "trees.dump")
    subprocess.run([f"{bindir}/pg_dump", "-Fc", "-d", DB, "-f", dump], check=True)
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        for db in ("trees_restored", "trees_upgraded"):
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {db}")
    try:
        subprocess.run([f"{bindir}/pg_restore", "-d", "trees_restored", "--exit-on-error", dump], check=True)
        with psycopg.connect(dbname="trees_restored", autocommit=True) as restored:
            for model in MODELS:
                assert scores(restored, model) == scores(world["conn"], model), model
        with psycopg.connect(dbname="trees_upgraded", autocommit=True) as old:
            old.execute("CREATE EXTENSION pg_purchase VERSION '0.3.0'")
            old.execute("ALTER EXTENSION pg_purchase UPDATE")
            old.execute("SELECT load_purchase_model(%s::jsonb, 'lgbm')", (json.dumps(world["docs"]["lgbm"]),))
            rows = [
                {c: v for c, v in r[0].items() if c in COLUMNS}
                for r in world["conn"].execute("SELECT to_jsonb(s) FROM shoppers s WHERE id < 200 ORDER BY id")
            ]
            (answer,) = old.execute("SELECT predict_purchase_json(%s::jsonb, 'lgbm')", (json.dumps(rows),)).fetchone()
            assert_parity(
                "lgbm after 0.3.0 -> update", [a["p_hat"] for a in answer], world["expected"]["lgbm"][:200], 1e-12
            )
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True) as admin:
            for db in ("trees_restored", "trees_upgraded"):
                admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
