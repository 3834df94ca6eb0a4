"""A problem that is not the exercise's: B2B leads that convert to a paid plan.

Raw columns as a `leads` table holds them: money text (`annual_revenue`: "$1,234.50",
"($5.00)"), percent text (`discount`: "12.5%"), numbers with NULLs (`visits`, `tenure_months`),
an integer always present (`company_size`), text categories with missing values (`industry`,
`plan`), integer category codes (`region_code`) and a two-level text category (`channel`).
`pipelines()` gives the four fitted scikit-learn pipelines the parity tests export.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pg_purchase import prepare_frame
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MONEY = ["annual_revenue"]
PERCENT = ["discount"]
NUMERIC = ["annual_revenue", "discount", "visits", "tenure_months", "company_size"]
CATEGORIES = ["industry", "plan", "region_code", "channel"]
INDUSTRIES = ["retail", "finance", "health", "software", "logistics"]
PLANS = ["basic", "pro", "team"]
SQL_TYPES = {
    "lead_id": "int PRIMARY KEY",
    "annual_revenue": "text",
    "discount": "text",
    "visits": "float8",
    "tenure_months": "numeric",
    "company_size": "int",
    "industry": "text",
    "plan": "text",
    "region_code": "int",
    "channel": "varchar(16)",
}


def _money(x):
    text = f"${abs(x):,.2f}"
    return f"({text})" if x < 0 else text


def raw_leads(n, seed):
    """n raw rows (money/percent as text, NULLs as None) and the fitted-on target y."""
    rng = np.random.default_rng(seed)
    revenue = rng.lognormal(11, 1.2, n) * np.where(rng.random(n) < 0.05, -1, 1)
    discount = rng.uniform(0, 40, n).round(2)
    visits = rng.poisson(6, n).astype(float)
    tenure = rng.gamma(2.0, 9.0, n).round(3)
    size = rng.integers(1, 5000, n)
    industry = rng.choice(INDUSTRIES, n)
    plan = rng.choice(PLANS, n, p=[0.5, 0.3, 0.2])
    region = rng.integers(1, 6, n)
    channel = rng.choice(["web", "partner"], n)
    z = (
        0.4 * (np.log(np.abs(revenue)) - 11)
        - 0.03 * discount
        + 0.15 * (visits - 6)
        + 0.02 * (tenure - 18)
        + 0.8 * (plan == "team")
        + 0.3 * (plan == "pro")
        - 0.5 * (industry == "retail")
        + 0.2 * (region == 3)
        + 0.4 * (channel == "partner")
        - 0.2
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    frame = pd.DataFrame(
        {
            "lead_id": np.arange(n),
            "annual_revenue": [_money(x) for x in revenue],
            "discount": [f"{d}%" for d in discount],
            "visits": visits,
            "tenure_months": tenure,
            "company_size": size,
            "industry": industry.astype(object),
            "plan": plan.astype(object),
            "region_code": region,
            "channel": channel.astype(object),
        }
    )
    # About 3% missing in the columns that may be missing; blank text is missing too.
    for column in ["annual_revenue", "discount", "visits", "tenure_months", "industry", "plan"]:
        holes = rng.random(n) < 0.03
        frame[column] = frame[column].astype(object).where(~holes, None)
    blanks = rng.random(n) < 0.01
    frame["plan"] = frame["plan"].where(~blanks | frame["plan"].isna(), "  ")
    frame["visits"] = frame["visits"].astype(float)
    frame["tenure_months"] = frame["tenure_months"].astype(float)
    return frame, y


def training_frame(raw):
    """What the data scientist fitted on: the raw rows cleaned by the database's rules."""
    columns = [c for c in raw.columns if c != "lead_id"]
    return prepare_frame(raw, columns, NUMERIC, CATEGORIES)


def pipelines():
    """Four fitted pipelines of different shapes, each with its own column subset."""
    num = ["annual_revenue", "discount", "visits", "tenure_months"]
    p1 = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        (
                            "num",
                            Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())]),
                            num,
                        ),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["industry", "plan"]),
                    ],
                    remainder="drop",
                ),
            ),
            ("clf", LogisticRegression(C=1.0, max_iter=2000)),
        ]
    )
    p2 = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        (
                            "num",
                            Pipeline(
                                [
                                    ("impute", SimpleImputer(strategy="median")),
                                    ("scale", StandardScaler(with_mean=False)),
                                ]
                            ),
                            ["annual_revenue", "visits"],
                        ),
                        (
                            "cat",
                            Pipeline(
                                [
                                    ("impute", SimpleImputer(strategy="most_frequent")),
                                    ("onehot", OneHotEncoder(drop="first", handle_unknown="error")),
                                ]
                            ),
                            ["industry", "region_code"],
                        ),
                        ("drop_these", "drop", ["discount", "plan", "tenure_months"]),
                    ],
                    remainder="passthrough",
                ),
            ),  # company_size and channel... channel is refused below
            ("clf", LogisticRegression(fit_intercept=False, C=0.1, max_iter=5000)),
        ]
    )
    p3 = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("visits", SimpleImputer(strategy="constant", fill_value=0.0), ["visits"]),
                        ("size", StandardScaler(with_std=False), ["company_size"]),
                        (
                            "tenure",
                            Pipeline(
                                [("impute", SimpleImputer(strategy="most_frequent")), ("scale", StandardScaler())]
                            ),
                            ["tenure_months"],
                        ),
                        (
                            "cat",
                            Pipeline(
                                [
                                    ("impute", SimpleImputer(strategy="constant", fill_value="none")),
                                    ("onehot", OneHotEncoder(drop="if_binary", handle_unknown="ignore")),
                                ]
                            ),
                            ["plan", "channel"],
                        ),
                    ]
                ),
            ),
            ("clf", LogisticRegression(class_weight="balanced", C=10.0, max_iter=5000)),
        ]
    )
    p4 = Pipeline(
        [
            (
                "features",
                Pipeline(
                    [
                        (
                            "columns",
                            ColumnTransformer(
                                [
                                    (
                                        "money",
                                        Pipeline(
                                            [("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())]
                                        ),
                                        ["annual_revenue", "discount"],
                                    ),
                                    # plan's missing values are a category of their own (OneHotEncoder learns NaN).
                                    ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region_code"]),
                                ],
                                remainder="drop",
                            ),
                        ),
                    ]
                ),
            ),
            ("clf", LogisticRegression(C=0.5, class_weight={0: 1.0, 1: 2.0}, max_iter=5000)),
        ]
    )
    return {"leads_p1": p1, "leads_p2": p2, "leads_p3": p3, "leads_p4": p4}


def fitted_pipelines(train_raw, y):
    """The four pipelines fitted on the cleaned training frame (p2 without the text column that
    its passthrough remainder could not feed to a LogisticRegression)."""
    frame = training_frame(train_raw)
    out = {}
    for name, pipe in pipelines().items():
        data = frame.drop(columns=["channel"]) if name == "leads_p2" else frame
        out[name] = pipe.fit(data, y)
    return out
