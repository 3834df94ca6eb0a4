"""The exporter's side of tree models, without a database: what it reads from each library,
what it refuses with one line, and the named 'passthrough' entry (also for logistic pipelines).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pg_purchase
import problems
import pytest
from pg_purchase.tree_walk import score_tree_rows
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

TRAIN, Y = problems.raw_rows(1500, 5)
SAMPLE = TRAIN.head(100)


def export(pipe, sample=SAMPLE):
    money = [c for c in problems.MONEY if c in sample.columns]
    percent = [c for c in problems.PERCENT if c in sample.columns]
    return pg_purchase.export_pipeline(pipe, sample, money=money, percent=percent)


def test_named_passthrough_is_supported_for_logistic_pipelines():
    """("raw", "passthrough", [...]) is fitted as a FunctionTransformer; it used to be refused
    with "FunctionTransformer is not supported"."""
    ct = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ("raw", "passthrough", ["visits", "discount"]),
        ]
    )
    pipe = Pipeline([("prep", ct), ("model", LogisticRegression(max_iter=500))])
    frame = problems.cleaned(TRAIN)[["plan", "visits", "discount"]]
    pipe.fit(frame, Y)
    doc = export(pipe, SAMPLE[["plan", "visits", "discount"]])
    assert doc["model"]["features"] == [
        "cat__plan_basic",
        "cat__plan_free",
        "cat__plan_pro",
        "raw__visits",
        "raw__discount",
    ]
    assert [i["column"] for i in doc["inputs"]] == ["plan", "visits", "discount"]
    got = pg_purchase.score_rows(doc, [c["row"] for c in doc["checks"]])
    cols = ["plan", "visits", "discount"]
    want = pipe.predict_proba(pg_purchase.prepare_frame(SAMPLE, cols, cols[1:], cols[:1]))[:, 1]
    assert np.max(np.abs(np.array(got) - want)) <= 1e-12


def test_ordinal_encoder_before_a_logistic_model_is_refused():
    ct = ColumnTransformer(
        [
            ("cat", OrdinalEncoder(), ["plan"]),
            ("raw", "passthrough", ["visits"]),
        ]
    )
    pipe = Pipeline([("prep", ct), ("model", LogisticRegression())]).fit(problems.cleaned(TRAIN)[["plan", "visits"]], Y)
    with pytest.raises(pg_purchase.ExportError, match="OrdinalEncoder on .* before a LogisticRegression"):
        export(pipe, SAMPLE[["plan", "visits"]])


@pytest.mark.parametrize("name", list(problems.PIPELINES))
def test_artifact_format_and_self_check(name):
    pipe = problems.PIPELINES[name](TRAIN, Y)
    doc = export(pipe)
    assert doc["format"] == "pg_purchase.tree_pipeline" and doc["format_version"] == 1
    model = doc["model"]
    assert len(model["trees"]) > 10 and model["features"]
    assert doc["sha256"] == pg_purchase.artifact_sha256(doc)
    json.dumps(doc, allow_nan=False)  # no NaN or infinity in the document
    rows = [
        {c: (None if pg_purchase.is_missing_category(v) else v) for c, v in r.items()} for r in TRAIN.to_dict("records")
    ]
    got = np.array(score_tree_rows(doc, rows))
    want = pipe.predict_proba(problems.model_frame(name, TRAIN))[:, 1]
    bound = 1e-6 if name == "xgb" else 1e-12
    assert np.max(np.abs(got - want)) <= bound
    kinds = {i["column"]: i["kind"] for i in doc["inputs"]}
    assert kinds == {
        "visits": "number",
        "spend": "money",
        "discount": "percent",
        "tenure": "number",
        "region": "category",
        "plan": "category",
    }


def test_lightgbm_reads_best_iteration_and_refuses_what_it_cannot_score():
    import lightgbm

    frame = problems.as_category_dtype(problems.cleaned(TRAIN))
    early = lightgbm.LGBMClassifier(n_estimators=300, verbose=-1, n_jobs=1)
    early.fit(
        frame.iloc[:1000],
        Y[:1000],
        eval_set=[(frame.iloc[1000:], Y[1000:])],
        callbacks=[lightgbm.early_stopping(5, verbose=False)],
    )
    assert 0 < early.best_iteration_ < 300
    doc = export(Pipeline([("model", early)]))
    assert len(doc["model"]["trees"]) == early.best_iteration_
    multi = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(frame, Y + (TRAIN["visits"] > 5))
    with pytest.raises(pg_purchase.ExportError, match="binary"):
        export(Pipeline([("model", multi)]))
    linear = lightgbm.LGBMClassifier(n_estimators=5, linear_tree=True, verbose=-1, n_jobs=1)
    linear.fit(frame.drop(columns=["region", "plan"]), Y)
    with pytest.raises(pg_purchase.ExportError, match="linear trees"):
        export(Pipeline([("model", linear)]), SAMPLE.drop(columns=["region", "plan"]))


def xgb_numeric():
    return problems.cleaned(TRAIN)[problems.NUMERIC]


def test_xgboost_refusals_and_base_score():
    import xgboost

    X = xgb_numeric()
    with pytest.raises(pg_purchase.ExportError, match="gbtree"):
        export(
            Pipeline([("m", xgboost.XGBClassifier(booster="gblinear", n_estimators=5))]).fit(X, Y),
            SAMPLE[problems.NUMERIC],
        )
    with pytest.raises(pg_purchase.ExportError, match="gbtree"):
        export(
            Pipeline([("m", xgboost.XGBClassifier(booster="dart", n_estimators=5))]).fit(X, Y), SAMPLE[problems.NUMERIC]
        )
    with pytest.raises(pg_purchase.ExportError, match="objective"):
        export(
            Pipeline([("m", xgboost.XGBClassifier(objective="binary:logitraw", n_estimators=5))]).fit(X, Y),
            SAMPLE[problems.NUMERIC],
        )
    # an explicit base_score, stored as "[2.5E-1]" by 3.1+: read in probability space
    pipe = Pipeline([("m", xgboost.XGBClassifier(base_score=0.25, n_estimators=20, max_depth=3))]).fit(X, Y)
    raw = json.loads(pipe.steps[-1][1].get_booster().save_raw("json"))
    print("base_score as stored:", raw["learner"]["learner_model_param"]["base_score"])
    doc = export(pipe, SAMPLE[problems.NUMERIC])
    assert doc["model"]["baseline"] == float(np.float32(np.log(np.float32(0.25) / np.float32(0.75))))


def test_hgb_notes_monotonic_constraints_and_refuses_multiclass():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = problems.cleaned(TRAIN)[["visits", "tenure"]]
    mono = HistGradientBoostingClassifier(max_iter=10, monotonic_cst=[1, 0]).fit(X, Y)
    doc = export(Pipeline([("m", mono)]), SAMPLE[["visits", "tenure"]])
    assert any("monotonic_cst" in n for n in doc["training"]["notes"])
    three = HistGradientBoostingClassifier(max_iter=5).fit(X, Y + (X["visits"] > 5))
    with pytest.raises(pg_purchase.ExportError, match="binary"):
        export(Pipeline([("m", three)]), SAMPLE[["visits", "tenure"]])


def test_scaler_or_one_hot_before_trees_is_refused():
    from sklearn.ensemble import HistGradientBoostingClassifier

    ct = ColumnTransformer([("cat", OneHotEncoder(), ["plan"]), ("raw", "passthrough", ["visits"])])
    pipe = Pipeline([("prep", ct), ("m", HistGradientBoostingClassifier(max_iter=5))])
    pipe.fit(problems.cleaned(TRAIN)[["plan", "visits"]], Y)
    with pytest.raises(pg_purchase.ExportError, match="OneHotEncoder before a tree model"):
        export(pipe, SAMPLE[["plan", "visits"]])


def test_infinite_hgb_threshold_is_written_as_text():
    """HGB puts +inf thresholds on splits whose right side holds only missing values."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = pd.DataFrame({"tenure": np.where(np.arange(1500) % 2 == 0, np.nan, 1.0)})
    y = np.where(np.isnan(X["tenure"]), 1, 0) ^ (np.arange(1500) % 7 == 0)
    model = HistGradientBoostingClassifier(max_iter=3).fit(X, y)
    doc = export(Pipeline([("m", model)]), SAMPLE[["tenure"]])
    thresholds = [t for tree in doc["model"]["trees"] for t in tree["threshold"]]
    assert "inf" in thresholds, thresholds


def test_bare_boosters_export():
    """A lightgbm.Booster (pandas categories) and an xgboost.Booster (binary:logistic), without
    a Pipeline: the artifact scores the sample as booster.predict does."""
    import lightgbm
    import xgboost

    frame = problems.as_category_dtype(problems.cleaned(TRAIN))
    booster = lightgbm.train(
        {"objective": "binary", "num_leaves": 8, "verbose": -1, "num_threads": 1},
        lightgbm.Dataset(frame, Y),
        num_boost_round=30,
    )
    doc = export(booster)
    rows = [c["row"] for c in doc["checks"]]
    want = booster.predict(problems.as_category_dtype(problems.cleaned(SAMPLE)))
    assert np.max(np.abs(np.array(score_tree_rows(doc, rows)) - want)) <= 1e-12
    assert doc["model"]["library"] == "lightgbm"
    X = xgb_numeric()
    xbooster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgboost.DMatrix(X, Y), num_boost_round=20
    )
    doc = export(xbooster, SAMPLE[problems.NUMERIC])
    want = xbooster.predict(xgboost.DMatrix(problems.cleaned(SAMPLE)[problems.NUMERIC]))
    got = np.array(score_tree_rows(doc, [c["row"] for c in doc["checks"]]))
    assert np.max(np.abs(got - want)) <= 1e-6
    unnamed = xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(X.to_numpy(), Y), num_boost_round=2)
    with pytest.raises(pg_purchase.ExportError, match="no feature names"):
        export(unnamed, SAMPLE[problems.NUMERIC])


@pytest.mark.parametrize("form", ["names", "indices"])
def test_hgb_categorical_features_by_names_and_indices(form):
    """categorical_features naming the encoded columns of a pandas-output ColumnTransformer, or
    giving their indices: HGB re-encodes the OrdinalEncoder's codes; the artifact composes both."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    ct = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                problems.CATEGORIES,
            ),
            ("raw", "passthrough", problems.NUMERIC),
        ]
    ).set_output(transform="pandas")
    cats = ["cat__region", "cat__plan"] if form == "names" else [0, 1]
    model = HistGradientBoostingClassifier(max_iter=30, categorical_features=cats, random_state=0)
    pipe = Pipeline([("prep", ct), ("model", model)]).fit(problems.cleaned(TRAIN), Y)
    score, _ = problems.raw_rows(500, 9, unseen=True)
    doc = export(pipe, score)
    rows = [
        {c: (None if pg_purchase.is_missing_category(v) else v) for c, v in r.items()} for r in score.to_dict("records")
    ]
    got = np.array(score_tree_rows(doc, rows))
    want = pipe.predict_proba(problems.cleaned(score))[:, 1]
    assert np.max(np.abs(got - want)) <= 1e-12
    assert any(t.get("categories") and any(c is not None for c in t["categories"]) for t in doc["model"]["trees"])
