"""The bundled model's builder (artifact format 1).

* build_reference_pipeline(data_dir): the fitted sklearn objects (SimpleImputer, StandardScaler,
  OneHotEncoder, LogisticRegression) of the shipped model, rebuilt from the ../shared/data figures.
* export_artifact(pipe, ...): that PurchasePipeline -> the format 1 artifact (dict) bundled in
  artifacts/. A data scientist's own fitted Pipeline is exported with the pg_purchase package
  instead (python/, README "Bring your own model"), which writes format 2.
* predict_proba(pipe, rows): scikit-learn's own p_hat for raw rows (the parity oracle).

The artifact format is documented in README ("The model artifact").
"""

from __future__ import annotations

import csv
import decimal
import hashlib
import importlib.util
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def _cleaning_rule():
    """python/pg_purchase/cleaning.py, the one Python copy of the cleaning rule, loaded by path
    rather than through the package: the benchmark's PL/Python peer runs this file in the
    server's Python, which has scikit-learn but not the package's export dependencies."""
    path = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python", "pg_purchase", "cleaning.py"
    )
    spec = importlib.util.spec_from_file_location("pg_purchase_cleaning_rule", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_rule = _cleaning_rule()

FORMAT = "pg_purchase.logistic_pipeline"
FORMAT_VERSION = 1

# The raw schema: which columns are money/percent text and which are categories.
MONEY_COLUMNS = ["x12"]
PERCENT_COLUMNS = ["x63"]
CATEGORY_LEVELS = {
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


@dataclass
class PurchasePipeline:
    """The fitted objects, as a data scientist's notebook holds them."""

    numeric_columns: list
    category_columns: list
    kinds: dict
    imputer: SimpleImputer
    scaler: StandardScaler
    encoder: OneHotEncoder
    features: list
    model: LogisticRegression
    threshold: float
    training: dict

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Raw frame -> every encoded feature, named as get_feature_names_out names them."""
        numeric = frame[self.numeric_columns].apply(lambda col: col.map(clean_number)).astype(float)
        scaled = self.scaler.transform(self.imputer.transform(numeric.to_numpy()))
        cats = frame[self.category_columns].astype(object).apply(lambda col: col.map(category_value))
        with warnings.catch_warnings():
            # Unseen categories encode as all zeros (handle_unknown="ignore"); that is intended.
            warnings.simplefilter("ignore", UserWarning)
            onehot = self.encoder.transform(cats.to_numpy())
        onehot = onehot.toarray() if hasattr(onehot, "toarray") else onehot
        names = list(self.numeric_columns) + list(self.encoder.get_feature_names_out(self.category_columns))
        return pd.DataFrame(np.hstack([scaled, onehot]), columns=names, index=frame.index)

    def predict_one(self, row: dict) -> float:
        """p_hat of one raw row through the same sklearn objects, without pandas (per-row peer)."""
        if not hasattr(self, "_feature_index"):
            names = list(self.numeric_columns) + list(self.encoder.get_feature_names_out(self.category_columns))
            self._feature_index = [names.index(f) for f in self.features]
        num = np.array([[clean_number(row.get(c)) for c in self.numeric_columns]], dtype=float)
        scaled = self.scaler.transform(self.imputer.transform(num))
        cats = np.array([[category_value(row.get(c)) for c in self.category_columns]], dtype=object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            onehot = self.encoder.transform(cats)
        X = np.hstack([scaled, onehot])[:, self._feature_index]
        return float(self.model.predict_proba(X)[0, 1])

    def predict_proba(self, rows) -> np.ndarray:
        frame = pd.DataFrame(list(rows)).reindex(columns=self.numeric_columns + self.category_columns)
        X = self.transform(frame)[self.features]
        return self.model.predict_proba(X.to_numpy())[:, 1]


def clean_number(value):
    """The database's cleaning rule (python/pg_purchase/cleaning.py); missing is NaN here."""
    cleaned = _rule.clean_number(value)
    return np.nan if cleaned is None else cleaned


def category_value(value):
    """A raw category as the database compares it: missing (NULL, NaN, blank text) is NaN,
    a number is its text form."""
    return np.nan if _rule.is_missing_category(value) else _rule.category_text(value)


def _read_csv(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def build_reference_pipeline(data_dir: str) -> PurchasePipeline:
    """The shipped model: sklearn objects set from the published training-split figures."""
    stats = _read_csv(os.path.join(data_dir, "glm26_numeric_column_stats.csv"))
    params = _read_csv(os.path.join(data_dir, "glm26_final_logit_params.csv"))
    numeric = [r["column"] for r in stats if r["mean_split32k"] != ""]
    categories = [r["column"] for r in stats if r["mean_split32k"] == ""]
    by_column = {r["column"]: r for r in stats}
    means = [float(by_column[c]["mean_split32k"]) for c in numeric]
    variances = np.array([float(by_column[c]["var_split32k_postimpute"]) for c in numeric])
    # Raw column order (x0..x99), each with its cleaning kind.
    kinds = {
        r["column"]: "category"
        if r["column"] in categories
        else "money"
        if r["column"] in MONEY_COLUMNS
        else "percent"
        if r["column"] in PERCENT_COLUMNS
        else "number"
        for r in sorted(stats, key=lambda r: int(r["column"][1:]))
    }
    training = {
        "source": "glm26 exercise: imputer/scaler fitted on the 32,000-row training split, "
        "logistic regression refitted on 40,000 rows over 25 L1-selected features",
        "training_rows": 40000,
        "scaler_rows": 32000,
        "target": "y (bought the product)",
        "sklearn_version": __import__("sklearn").__version__,
    }
    return _assemble(
        kinds,
        numeric,
        means,
        means,
        np.sqrt(variances),
        variances,
        {c: (CATEGORY_LEVELS[c], CATEGORY_LEVELS[c][0], True) for c in categories},
        [r["variable"] for r in params],
        [float(r["coef_final_40k"]) for r in params],
        0.0,
        0.75,
        training,
    )


def pipeline_from_artifact(doc: dict) -> PurchasePipeline:
    """The inverse of export_artifact: fitted sklearn objects from a pg_purchase artifact."""
    kinds = {i["column"]: i["kind"] for i in doc["inputs"]}
    numeric = [c for c in kinds if kinds[c] != "category"]
    imp = dict(zip(doc["imputer"]["columns"], doc["imputer"]["statistics"]))
    mean = dict(zip(doc["scaler"]["columns"], doc["scaler"]["mean"]))
    scale = dict(zip(doc["scaler"]["columns"], doc["scaler"]["scale"]))
    enc = {
        e["column"]: (e["categories"], e.get("drop"), e.get("missing_indicator", False))
        for e in doc["encoder"]["columns"]
    }
    return _assemble(
        kinds,
        numeric,
        [imp[c] for c in numeric],
        [mean[c] for c in numeric],
        np.array([scale[c] for c in numeric]),
        np.array([scale[c] for c in numeric]) ** 2,
        {c: enc[c] for c in kinds if kinds[c] == "category"},
        doc["model"]["features"],
        doc["model"]["coefficients"],
        doc["model"]["intercept"],
        doc["threshold"],
        doc.get("training", {}),
    )


def _assemble(
    kinds,
    numeric,
    impute_means,
    scale_means,
    scales,
    variances,
    encodings,
    features,
    coefficients,
    intercept,
    threshold,
    training,
) -> PurchasePipeline:
    """Sets the fitted state of each sklearn object directly (nothing is re-fitted)."""
    imputer = SimpleImputer(strategy="mean")
    imputer.fit(np.zeros((1, len(numeric))))
    imputer.statistics_ = np.array(impute_means, dtype=float)

    scaler = StandardScaler()
    scaler.fit(np.zeros((2, len(numeric))))
    scaler.mean_ = np.array(scale_means, dtype=float)
    scaler.var_ = np.asarray(variances, dtype=float)
    scaler.scale_ = np.asarray(scales, dtype=float)

    categories = list(encodings)
    levels = [list(encodings[c][0]) + ([np.nan] if encodings[c][2] else []) for c in categories]
    drops = [encodings[c][1] for c in categories]
    drop = (
        None if all(d is None for d in drops) else np.array([d if d is not None else None for d in drops], dtype=object)
    )
    if drop is not None and all(d == l[0] for d, l in zip(drops, levels)):
        drop = "first"
    encoder = OneHotEncoder(categories=levels, drop=drop, handle_unknown="ignore", sparse_output=False)
    width = max(len(l) for l in levels)
    sample = pd.DataFrame({c: [l[i % len(l)] for i in range(width)] for c, l in zip(categories, levels)}, dtype=object)
    encoder.fit(sample.to_numpy())

    model = LogisticRegression(fit_intercept=intercept != 0.0)
    model.classes_ = np.array([0, 1])
    model.coef_ = np.array([list(map(float, coefficients))])
    model.intercept_ = np.array([float(intercept)])
    model.n_features_in_ = len(features)
    return PurchasePipeline(
        numeric, categories, kinds, imputer, scaler, encoder, list(features), model, float(threshold), training
    )


def export_artifact(pipe: PurchasePipeline, check_rows=()) -> dict:
    """Any fitted PurchasePipeline -> the pg_purchase artifact, with reference checks and sha256."""
    columns = list(pipe.kinds)
    encoder_columns = []
    for column, cats, drop_idx in zip(pipe.category_columns, pipe.encoder.categories_, pipe.encoder.drop_idx_):
        levels = [c for c in cats if isinstance(c, str)]
        encoder_columns.append(
            {
                "column": column,
                "categories": levels,
                "drop": None if drop_idx is None else str(cats[drop_idx]),
                "missing_indicator": any(not isinstance(c, str) for c in cats),
                "handle_unknown": "ignore",
            }
        )
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "inputs": [{"column": c, "kind": pipe.kinds[c]} for c in columns],
        "imputer": {
            "class": "sklearn.impute.SimpleImputer",
            "strategy": "mean",
            "columns": list(pipe.numeric_columns),
            "statistics": [float(x) for x in pipe.imputer.statistics_],
        },
        "scaler": {
            "class": "sklearn.preprocessing.StandardScaler",
            "columns": list(pipe.numeric_columns),
            "mean": [float(x) for x in pipe.scaler.mean_],
            "scale": [float(x) for x in pipe.scaler.scale_],
        },
        "encoder": {"class": "sklearn.preprocessing.OneHotEncoder", "columns": encoder_columns},
        "model": {
            "class": "sklearn.linear_model.LogisticRegression",
            "features": list(pipe.features),
            "coefficients": [float(x) for x in pipe.model.coef_[0]],
            "intercept": float(pipe.model.intercept_[0]) if len(pipe.model.intercept_) else 0.0,
        },
        "threshold": float(pipe.threshold),
        "training": pipe.training,
    }
    rows = [dict(r) for r in check_rows]
    if rows:
        p = pipe.predict_proba(rows)
        doc["checks"] = [{"row": _json_clean(r), "p_hat": float(x)} for r, x in zip(rows, p)]
    doc["sha256"] = artifact_sha256(doc)
    return doc


def _json_clean(row):
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def artifact_sha256(doc: dict) -> str:
    """sha256 of the canonical content (README: keys sorted, compact, floats as shortest 1.5e3)."""
    return hashlib.sha256(canonical_json({k: v for k, v in doc.items() if k != "sha256"}).encode()).hexdigest()


def canonical_json(value) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _canonical_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical_json(value[k]) for k in sorted(value))
            + "}"
        )
    raise TypeError(f"cannot write {type(value).__name__} in an artifact")


def _canonical_float(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError("artifacts hold finite numbers only")
    if x == 0:
        return "-0e0" if math.copysign(1.0, x) < 0 else "0e0"
    sign, digits, exponent = decimal.Decimal(repr(x)).normalize().as_tuple()
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return ("-" if sign else "") + mantissa + "e" + str(exponent + len(digits) - 1)
