"""Each library's own problem for the tree tests: raw rows as a table holds them (money and
percent text, integer and numeric columns, missing values, a category column with levels the
training never saw), and pipelines fitted on them.

Columns: visits (integer), spend (money text), discount (percent text), tenure (numeric, with
NaN), region (text category), plan (text category); the outcome depends on all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MONEY = ["spend"]
PERCENT = ["discount"]
NUMERIC = ["visits", "spend", "discount", "tenure"]
CATEGORIES = ["region", "plan"]
REGIONS = ["north", "south", "east", "west", "centre"]
PLANS = ["free", "basic", "pro"]
SQL_TYPES = {
    "visits": "integer",
    "spend": "text",
    "discount": "text",
    "tenure": "numeric",
    "region": "text",
    "plan": "text",
}


def raw_rows(n, seed, unseen=False):
    """n raw rows and their outcomes; `unseen` adds a region ("islands") training never saw."""
    rng = np.random.default_rng(seed)
    visits = rng.poisson(4, n)
    spend = np.round(rng.gamma(2.0, 300.0, n), 2)
    discount = np.round(rng.uniform(0, 40, n), 2)
    tenure = np.round(rng.exponential(3.0, n), 3)
    regions = REGIONS + (["islands"] if unseen else [])
    region = rng.choice(regions, n)
    plan = rng.choice(PLANS, n)
    z = (
        0.3 * visits
        + 0.002 * spend
        - 0.05 * discount
        + 0.2 * np.minimum(tenure, 6)
        + np.where(region == "south", 1.0, 0.0)
        - np.where(plan == "free", 1.2, 0.0)
        - 2.0
    )
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int)
    tenure_col = pd.Series(tenure, dtype=float)
    tenure_col[rng.uniform(size=n) < 0.15] = np.nan
    region_col = pd.Series(region, dtype=object)
    region_col[rng.uniform(size=n) < 0.1] = None
    spend_text = [f"${v:,.2f}" if v >= 0 else f"(${-v:,.2f})" for v in spend]
    spend_col = pd.Series(spend_text, dtype=object)
    spend_col[rng.uniform(size=n) < 0.05] = None
    frame = pd.DataFrame(
        {
            "visits": visits.astype(np.int64),
            "spend": spend_col,
            "discount": [f"{v}%" for v in discount],
            "tenure": tenure_col,
            "region": region_col,
            "plan": plan,
        }
    )
    return frame, y


def cleaned(raw):
    """What the models are fitted on: numbers cleaned by pg_purchase's rule, categories as text
    with missing as NaN."""
    import pg_purchase

    return pg_purchase.prepare_frame(raw, list(raw.columns), NUMERIC, CATEGORIES)


def as_category_dtype(frame):
    out = frame.copy()
    out["region"] = pd.Categorical(out["region"], categories=REGIONS)
    out["plan"] = pd.Categorical(out["plan"], categories=PLANS)
    return out


def hgb_ordinal(train, y):
    """HGB behind a ColumnTransformer: OrdinalEncoder(unknown -> NaN) for the categories, a named
    'passthrough' for the numbers; categorical_features by boolean mask."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    ct = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                CATEGORIES,
            ),
            ("raw", "passthrough", NUMERIC),
        ]
    )
    model = HistGradientBoostingClassifier(
        max_iter=60, max_leaf_nodes=15, categorical_features=[True, True, False, False, False, False], random_state=0
    )
    return Pipeline([("prep", ct), ("model", model)]).fit(cleaned(train), y)


def hgb_from_dtype(train, y):
    """HGB on a frame with pandas category columns (categorical_features='from_dtype')."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    model = HistGradientBoostingClassifier(max_iter=50, categorical_features="from_dtype", random_state=0)
    return Pipeline([("model", model)]).fit(as_category_dtype(cleaned(train)), y)


def lightgbm_pipeline(train, y):
    """LGBMClassifier on a frame with pandas category columns; bagging and feature fraction."""
    import lightgbm
    from sklearn.pipeline import Pipeline

    model = lightgbm.LGBMClassifier(
        n_estimators=80,
        num_leaves=20,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        min_child_samples=10,
        verbose=-1,
        random_state=0,
        n_jobs=1,
    )
    return Pipeline([("model", model)]).fit(as_category_dtype(cleaned(train)), y)


def xgboost_pipeline(train, y):
    """XGBClassifier behind an OrdinalEncoder (XGBoost splits the codes as numbers) and a named
    passthrough; native missing values."""
    import xgboost
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    ct = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                CATEGORIES,
            ),
            ("raw", "passthrough", NUMERIC),
        ]
    )
    model = xgboost.XGBClassifier(n_estimators=60, max_depth=4, learning_rate=0.2, n_jobs=1, random_state=0)
    return Pipeline([("prep", ct), ("model", model)]).fit(cleaned(train), y)


PIPELINES = {
    "hgb_ordinal": hgb_ordinal,
    "hgb_dtype": hgb_from_dtype,
    "lgbm": lightgbm_pipeline,
    "xgb": xgboost_pipeline,
}


def model_frame(name, raw):
    """The frame a pipeline predicts on for raw rows (the database's cleaning rule)."""
    frame = cleaned(raw)
    return as_category_dtype(frame) if name in ("hgb_dtype", "lgbm") else frame
