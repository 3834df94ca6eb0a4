"""Tree explanations (issue 20): explain_purchase on each library's model of
tests/trees/problems.py (missing values, categories, a category training never saw) against
the library's own contributions, row by row:

* LightGBM `predict(pred_contrib=True)` within 1e-9;
* XGBoost `predict(pred_contribs=True)` within 1e-5 (it computes in float32);
* HistGradientBoosting on numeric columns against the `shap` package's TreeExplainer within
  1e-9; with categorical splits (which `shap` does not model: its sums miss the raw score by
  ~3 on these rows) against a brute-force Shapley computation over all feature subsets, routed
  by scikit-learn's own predictor node by node;
* the sum rule on every row, by_column, purchase_model_weights (importance, gain, split counts
  against the libraries' feature importances) and cancellation inside one long explanation.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed and the package importable.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pg_purchase
import problems
import psycopg
import pytest
from pg_purchase.export import artifact_sha256

DB = "trees_explain"
N_TRAIN, N_SCORE, N_CHECKS = 3000, 200, 150
COLUMNS = list(problems.SQL_TYPES)


def hgb_numeric(train, y):
    """HGB on the numeric columns only (native missing values), which `shap` can explain."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=12, random_state=0)
    return Pipeline([("model", model)]).fit(problems.cleaned(train)[problems.NUMERIC], y)


FITS = dict(problems.PIPELINES, hgb_numeric=hgb_numeric)


@pytest.fixture(scope="module")
def world():
    train, y = problems.raw_rows(N_TRAIN, 1)
    score, _ = problems.raw_rows(N_SCORE, 2, unseen=True)
    pipes = {name: fit(train, y) for name, fit in FITS.items()}
    docs = {
        name: pg_purchase.export_pipeline(
            pipe, score.head(N_CHECKS), money=problems.MONEY, percent=problems.PERCENT, name=name
        )
        for name, pipe in pipes.items()
    }
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    conn = psycopg.connect(dbname=DB, autocommit=True)
    conn.execute("CREATE EXTENSION pg_purchase")
    types = ", ".join(f"{c} {t}" for c, t in problems.SQL_TYPES.items())
    conn.execute(f"CREATE TABLE shoppers (id integer PRIMARY KEY, {types})")
    with conn.cursor().copy(f"COPY shoppers (id, {', '.join(COLUMNS)}) FROM STDIN") as copy:
        for i, row in enumerate(score[COLUMNS].itertuples(index=False)):
            copy.write_row([i] + [None if pg_purchase.is_missing_category(v) else v for v in row])
    for name, doc in docs.items():
        conn.execute("SELECT load_purchase_model(%s::jsonb, %s)", (json.dumps(doc), name))
    yield {"conn": conn, "pipes": pipes, "docs": docs, "score": score}
    conn.close()


def explanations(world, model):
    """Per row (id order): {feature: contribution} and the expected value, from SQL."""
    rows = (
        world["conn"]
        .execute(
            "SELECT s.id, e.feature, e.contribution, e.coefficient FROM shoppers s"
            " CROSS JOIN LATERAL explain_purchase(s, %s) e ORDER BY s.id",
            (model,),
        )
        .fetchall()
    )
    assert all(r[3] is None for r in rows), "a tree model has no coefficients"
    out = [dict() for _ in range(N_SCORE)]
    for i, feature, contribution, _ in rows:
        out[i][feature] = contribution
    return out


def library_matrix(world, model, per_row):
    """The SQL contributions as the library's matrix: one column per model feature (0 for a
    feature no split reads, which explain_purchase leaves out), the expected value last."""
    features = world["docs"][model]["model"]["features"]
    m = np.zeros((len(per_row), len(features) + 1))
    for i, row in enumerate(per_row):
        extra = set(row) - set(features) - {"(expected value)"}
        assert not extra, extra
        for j, f in enumerate(features):
            m[i, j] = row.get(f, 0.0)
        m[i, -1] = row["(expected value)"]
    return m


def transformed(world, model):
    pipe = world["pipes"][model]
    if model == "hgb_numeric":
        return problems.cleaned(world["score"])[problems.NUMERIC]
    frame = problems.model_frame(model, world["score"])
    return pipe[:-1].transform(frame) if len(pipe.steps) > 1 else frame


def assert_close(label, got, expected, tol):
    delta = float(np.max(np.abs(np.asarray(got) - np.asarray(expected))))
    print(f"{label:<40} rows={len(got)} max|d|={delta:.3e}")
    assert delta <= tol, f"{label}: max |d| {delta}"


def test_lightgbm_equals_pred_contrib(world):
    got = library_matrix(world, "lgbm", explanations(world, "lgbm"))
    expected = world["pipes"]["lgbm"][-1].predict(transformed(world, "lgbm"), pred_contrib=True)
    assert expected.shape == got.shape
    assert_close("lgbm vs pred_contrib", got, expected, 1e-9)


def test_xgboost_equals_pred_contribs(world):
    import xgboost

    got = library_matrix(world, "xgb", explanations(world, "xgb"))
    booster = world["pipes"]["xgb"][-1].get_booster()
    expected = booster.predict(xgboost.DMatrix(transformed(world, "xgb"), missing=np.nan), pred_contribs=True)
    assert expected.shape == got.shape
    assert_close("xgb vs pred_contribs", got, expected, 1e-5)


def test_numeric_hgb_equals_shap(world):
    shap = pytest.importorskip("shap")
    got = library_matrix(world, "hgb_numeric", explanations(world, "hgb_numeric"))
    est = world["pipes"]["hgb_numeric"][-1]
    explainer = shap.TreeExplainer(est)
    values = np.asarray(explainer.shap_values(np.asarray(transformed(world, "hgb_numeric"), dtype=float)))
    expected = np.column_stack([values, np.full(len(values), float(np.ravel(explainer.expected_value)[0]))])
    assert_close("hgb numeric vs shap", got, expected, 1e-9)


def directions(est, X):
    """For every node of every tree, the child scikit-learn's own predictor sends each row to
    (0 left, 1 right): each split is made the root of a three-node tree with leaves 0 and 1."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    Xp = est._preprocess_X(X, reset=False) if hasattr(est, "_preprocess_X") else np.asarray(X, dtype=float)
    known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    out = []
    for (pred,) in est._predictors:
        nodes = pred.nodes
        per_node = {}
        for i in np.flatnonzero(~nodes["is_leaf"].astype(bool)):
            small = np.zeros(3, dtype=nodes.dtype)
            small[0] = nodes[i]
            small[0]["left"], small[0]["right"] = 1, 2
            for k, v in ((1, 0.0), (2, 1.0)):
                small[k]["is_leaf"] = True
                small[k]["value"] = v
            one = TreePredictor(small, pred.binned_left_cat_bitsets, pred.raw_left_cat_bitsets)
            per_node[i] = one.predict(Xp, known, f_idx_map, 1).astype(int)
        out.append(per_node)
    return out


def brute_force(est, dirs, row, n_features):
    """Shapley values of the path-dependent game by enumeration of all 2^M subsets: a feature in
    S follows the row (scikit-learn's decision), the others take both children by count."""

    def value(nodes, per_node, i, s):
        node = nodes[i]
        if node["is_leaf"]:
            return float(node["value"])
        left, right = int(node["left"]), int(node["right"])
        if (s >> int(node["feature_idx"])) & 1:
            return value(nodes, per_node, right if per_node[i][row] else left, s)
        c = float(node["count"])
        return (
            float(nodes[left]["count"]) * value(nodes, per_node, left, s)
            + float(nodes[right]["count"]) * value(nodes, per_node, right, s)
        ) / c

    m = n_features
    total = np.zeros(1 << m)
    for (pred,), per_node in zip(est._predictors, dirs):
        for s in range(1 << m):
            total[s] += value(pred.nodes, per_node, 0, s)
    phi = np.zeros(m)
    for i in range(m):
        for s in range(1 << m):
            if not (s >> i) & 1:
                k = bin(s).count("1")
                w = math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m)
                phi[i] += w * (total[s | (1 << i)] - total[s])
    baseline = float(np.ravel(est._baseline_prediction)[0])
    return np.append(phi, baseline + total[0])


@pytest.mark.parametrize("model", ["hgb_ordinal", "hgb_dtype"])
def test_categorical_hgb_equals_brute_force_shapley(world, model):
    rows = 40
    got = library_matrix(world, model, explanations(world, model))[:rows]
    est = world["pipes"][model][-1]
    X = transformed(world, model)
    dirs = directions(est, X)
    n = len(world["docs"][model]["model"]["features"])
    expected = np.array([brute_force(est, dirs, r, n) for r in range(rows)])
    # the rows include missing values, unseen and missing categories
    assert_close(f"{model} vs brute force", got, expected, 1e-9)


@pytest.mark.parametrize("model", list(FITS))
def test_every_row_sums_to_the_logit(world, model):
    per_row = explanations(world, model)
    p = [r[0] for r in world["conn"].execute("SELECT predict_purchase(s, %s) FROM shoppers s ORDER BY id", (model,))]
    sums = [sum(r.values()) for r in per_row]
    if model == "xgb":
        # XGBoost's p_hat is a float32 sigmoid: compare with its raw margin instead.
        import xgboost

        booster = world["pipes"]["xgb"][-1].get_booster()
        margin = booster.predict(xgboost.DMatrix(transformed(world, "xgb"), missing=np.nan), output_margin=True)
        assert_close("xgb sum vs margin", sums, margin, 1e-5)
    else:
        assert_close(f"{model} sum vs logit", sums, [math.log(q / (1 - q)) for q in p], 1e-9)


@pytest.mark.parametrize("model", ["lgbm", "hgb_ordinal"])
def test_by_column_is_one_row_per_raw_column(world, model):
    conn = world["conn"]
    per_feature = conn.execute(
        "SELECT e.feature, e.raw_value, e.contribution FROM shoppers s CROSS JOIN LATERAL explain_purchase(s, %s) e"
        " WHERE s.id = 3",
        (model,),
    ).fetchall()
    by_column = conn.execute(
        "SELECT e.feature, e.raw_value, e.model_input, e.contribution FROM shoppers s"
        " CROSS JOIN LATERAL explain_purchase(s, %s, by_column => true) e WHERE s.id = 3",
        (model,),
    ).fetchall()
    inputs = {i["feature"]: i["column"] for i in world["docs"][model]["inputs"]}
    expected = {inputs.get(f, f): (raw, c) for f, raw, c in per_feature}
    assert {f: (raw, c) for f, raw, _, c in by_column} == expected
    assert set(expected) <= set(COLUMNS) | {"(expected value)"}
    top = conn.execute(
        "SELECT e.feature FROM shoppers s CROSS JOIN LATERAL explain_purchase(s, %s, 2, by_column => true) e"
        " WHERE s.id = 3",
        (model,),
    ).fetchall()
    assert [t[0] for t in top] == [f for f, _ in sorted(expected.items(), key=lambda kv: -abs(kv[1][1]))[:2]]


def weights(world, model):
    rows = (
        world["conn"]
        .execute(
            "SELECT feature, coefficient, odds_ratio, importance, gain, splits, rank FROM purchase_model_weights(%s)",
            (model,),
        )
        .fetchall()
    )
    assert all(r[1] is None and r[2] is None for r in rows), "no coefficients for trees"
    return {r[0]: r[3:] for r in rows}


def test_lightgbm_weights(world):
    w = weights(world, "lgbm")
    booster = world["pipes"]["lgbm"][-1].booster_
    names = world["docs"]["lgbm"]["model"]["features"]
    gain = dict(zip(names, booster.feature_importance("gain")))
    split = dict(zip(names, booster.feature_importance("split")))
    contrib = world["pipes"]["lgbm"][-1].predict(
        problems.model_frame("lgbm", world["score"].head(N_CHECKS)), pred_contrib=True
    )
    mean_abs = dict(zip(names, np.mean(np.abs(contrib[:, :-1]), axis=0)))
    for f, (importance, g, s, _) in w.items():
        assert s == split[f]
        assert abs(g - gain[f]) <= 1e-9 * max(1.0, gain[f])
        assert abs(importance - mean_abs[f]) <= 1e-9
    ranks = sorted(w, key=lambda f: w[f][3])
    assert ranks == sorted(w, key=lambda f: -w[f][0])


def test_xgboost_weights(world):
    w = weights(world, "xgb")
    booster = world["pipes"]["xgb"][-1].get_booster()
    names = world["docs"]["xgb"]["model"]["features"]
    lib_names = booster.feature_names or [f"f{i}" for i in range(len(names))]
    total = booster.get_score(importance_type="total_gain")
    count = booster.get_score(importance_type="weight")
    for f, lib in zip(names, lib_names):
        if f not in w:
            assert lib not in count
            continue
        importance, g, s, _ = w[f]
        assert s == count[lib]
        assert abs(g - total[lib]) <= 1e-5 * max(1.0, total[lib])


def test_weights_refuse_when_nothing_is_known(world):
    """A tree artifact without covers and without gains: nothing to rank by, a clear 0A000."""
    doc = json.loads(json.dumps(world["docs"]["lgbm"]))
    for t in doc["model"]["trees"]:
        t.pop("cover")
        t.pop("gain")
    doc.pop("sha256")
    doc["sha256"] = artifact_sha256(doc)
    conn = world["conn"]
    conn.execute("SELECT load_purchase_model(%s::jsonb, 'bare')", (json.dumps(doc),))
    for sql in (
        "SELECT * FROM purchase_model_weights('bare')",
        "SELECT * FROM explain_purchase((SELECT s FROM shoppers s LIMIT 1), 'bare')",
    ):
        with pytest.raises(psycopg.errors.FeatureNotSupported) as e:
            conn.execute(sql)
        assert "tree ensemble" in str(e.value) and e.value.diag.message_hint, str(e.value)


def chain_doc(trees, depth, features):
    """A LightGBM artifact of `trees` chains `depth` deep (x <= i goes left to a leaf), splitting
    on `features` columns in turn: TreeSHAP costs O(leaves x d^2) per tree, d the number of
    distinct features on a path (repeats unwind), so seconds per row in all."""
    n = 2 * depth + 1
    tree = {k: [] for k in ("left", "right", "feature", "threshold", "value", "default_left", "missing_type", "cover")}
    for i in range(depth):
        split, leaf = 2 * i, 2 * i + 1
        for node, (l, r, f, t, v) in (
            (split, (leaf, split + 2, i % features, float(i), 0.0)),
            (leaf, (-1, -1, 0, 0.0, 0.01)),
        ):
            tree["left"].append(l)
            tree["right"].append(r)
            tree["feature"].append(f)
            tree["threshold"].append(t)
            tree["value"].append(v)
            tree["default_left"].append(False)
            tree["missing_type"].append("None")
            tree["cover"].append(float(n - node))
    for k, v in (("left", -1), ("right", -1), ("feature", 0), ("threshold", 0.0), ("value", 0.02)):
        tree[k].append(v)
    tree["default_left"].append(False)
    tree["missing_type"].append("None")
    tree["cover"].append(1.0)
    doc = {
        "format": "pg_purchase.tree_pipeline",
        "format_version": 1,
        "inputs": [{"column": f"f{j}", "kind": "number", "feature": f"f{j}"} for j in range(features)],
        "model": {
            "library": "lightgbm",
            "features": [f"f{j}" for j in range(features)],
            "baseline": 0.0,
            "input_dtype": "float64",
            "trees": [tree] * trees,
        },
        "threshold": 0.5,
    }
    doc["sha256"] = artifact_sha256(doc)
    return doc


def test_a_long_explanation_is_cancelled(world):
    conn = world["conn"]
    conn.execute(
        "SELECT load_purchase_model(%s::jsonb, 'deep', allow_unchecked => true)",
        (json.dumps(chain_doc(240, 900, 100)),),
    )
    conn.execute("SET statement_timeout = '300ms'")
    try:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            row = ", ".join(f"1e9::float8 AS f{j}" for j in range(100))
            conn.execute(f"SELECT e.* FROM (SELECT {row}) r, explain_purchase(r, 'deep') e")
        assert time.monotonic() - started < 5
    finally:
        conn.execute("RESET statement_timeout")
    # the backend is fine afterwards
    assert conn.execute("SELECT 1").fetchone() == (1,)
