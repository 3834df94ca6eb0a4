"""The training notebook's form (the shipped model): a SimpleImputer and a StandardScaler over
the numeric columns (fitted on arrays, in `numeric_columns` order), categories one-hot encoded by
`pandas.get_dummies(drop_first=True, dummy_na=True)` and a statsmodels `Logit` result whose
`params` are indexed by those column names (`x12`, `x5_monday`, `x31_nan`, an optional `const`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sklearn
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from .cleaning import category_text, is_missing_category
from .export import FORMAT, FORMAT_VERSION, ExportError, _finite, _json, _py, _verify, artifact_sha256, prepare_frame


def _dummy_frame(frame, categories, numeric_columns, imputer, scaler):
    """The notebook's design matrix: scaled numbers and drop-first dummies with a `_nan`
    indicator; a level never seen in training sets no indicator."""
    numbers = scaler.transform(imputer.transform(frame[list(numeric_columns)].to_numpy(dtype=float)))
    out = {c: numbers[:, i] for i, c in enumerate(numeric_columns)}
    for column, levels in categories.items():
        texts = frame[column].map(lambda v: None if is_missing_category(_py(v)) else category_text(_py(v)))
        for level in levels[1:]:
            out[f"{column}_{level}"] = (texts == level).astype(float).to_numpy()
        out[f"{column}_nan"] = texts.isna().astype(float).to_numpy()
    return pd.DataFrame(out, index=frame.index)


def notebook_predict(imputer, scaler, numeric_columns, categories, logit_result, sample, money=(), percent=()):
    """p_hat of raw rows through the notebook's own objects (the parity oracle)."""
    columns = list(numeric_columns) + list(categories)
    frame = prepare_frame(sample, columns, list(numeric_columns), list(categories))
    design = _dummy_frame(frame, categories, numeric_columns, imputer, scaler)
    params = logit_result.params
    if "const" in params.index:
        design["const"] = 1.0
    return np.asarray(logit_result.predict(design[list(params.index)]), dtype=float)


def export_notebook(
    imputer,
    scaler,
    numeric_columns,
    categories,
    logit_result,
    sample,
    *,
    money=(),
    percent=(),
    threshold=0.5,
    name=None,
) -> dict:
    """The notebook's objects -> a format 2 artifact with `sample`'s reference checks.

    `categories` maps each category column to its levels in get_dummies order (the first is the
    dropped reference level)."""
    if type(imputer) is not SimpleImputer or type(scaler) is not StandardScaler:
        raise ExportError("step 'numeric': expected a fitted SimpleImputer and StandardScaler")
    model = getattr(logit_result, "model", None)
    if type(model).__name__ != "Logit" or not type(model).__module__.startswith("statsmodels."):
        raise ExportError(f"step 'model': expected a statsmodels Logit result, got {type(logit_result).__name__}")
    numeric_columns = [str(c) for c in numeric_columns]
    if len(imputer.statistics_) != len(numeric_columns) or len(
        scaler.scale_ if scaler.with_std else scaler.mean_
    ) != len(numeric_columns):
        raise ExportError(
            "step 'numeric': the imputer/scaler were fitted on another number of columns "
            f"than the {len(numeric_columns)} numeric columns named"
        )
    categories = {str(c): [category_text(_py(v)) for v in levels] for c, levels in categories.items()}
    params = logit_result.params
    intercept = _finite(params.get("const", 0.0), "step 'model': const")
    features = [str(f) for f in params.index if f != "const"]
    coefficients = [_finite(params[f], f"step 'model': coefficient of {f}") for f in features]

    inputs, produced = [], set()
    for i, c in enumerate(numeric_columns):
        produced.add(c)
        item = {
            "column": c,
            "kind": "money" if c in money else "percent" if c in percent else "number",
            "feature": c,
            "imputer": {
                "class": "sklearn.impute.SimpleImputer",
                "strategy": imputer.strategy,
                "fill": _finite(imputer.statistics_[i], f"imputer statistic of {c}"),
            },
            "scaler": {
                "class": "sklearn.preprocessing.StandardScaler",
                "with_mean": bool(scaler.with_mean),
                "with_std": bool(scaler.with_std),
                "mean": _finite(scaler.mean_[i], f"scaler mean of {c}") if scaler.with_mean else 0.0,
                "scale": _finite(scaler.scale_[i], f"scaler scale of {c}") if scaler.with_std else 1.0,
            },
        }
        inputs.append(item)
    for c, levels in categories.items():
        if not levels:
            raise ExportError(f"step 'get_dummies': column '{c}' has no levels")
        outputs = [f"{c}_{level}" for level in levels[1:]] + [f"{c}_nan"]
        produced.update(outputs)
        inputs.append(
            {
                "column": c,
                "kind": "category",
                "encoder": {
                    "class": "pandas.get_dummies",
                    "categories": levels,
                    "missing_category": True,
                    "drop": "first",
                    "handle_unknown": "ignore",
                    "features": outputs,
                },
            }
        )
    unknown = [f for f in features if f not in produced]
    if unknown:
        raise ExportError(f"step 'model': features {unknown[:5]} are neither numeric columns nor dummies")
    # Only the columns the model's features read.
    needed = {f for f in features}
    inputs = [
        i
        for i in inputs
        if (i.get("feature") in needed) or any(f in needed for f in i.get("encoder", {}).get("features", []))
    ]

    p_hat = notebook_predict(imputer, scaler, numeric_columns, categories, logit_result, sample, money, percent)
    used = [i["column"] for i in inputs]
    checks = []
    for (_, raw), p in zip(sample.iterrows(), p_hat):
        row = {}
        for c in used:
            v = _py(raw[c])
            row[c] = None if is_missing_category(v) else (category_text(v) if c in categories else v)
        checks.append({"row": row, "p_hat": float(p)})
    doc = _json(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "inputs": inputs,
            # Every raw column the notebook saw: JSON rows may carry the ones the model does not read.
            "raw_columns": [str(c) for c in list(numeric_columns) + list(categories)],
            "model": {
                "class": "statsmodels.discrete.discrete_model.Logit",
                "features": features,
                "coefficients": coefficients,
                "intercept": intercept,
            },
            "threshold": float(threshold),
            "training": {
                "name": name,
                "form": "notebook (imputer, scaler, get_dummies, statsmodels Logit)",
                "sample_rows": len(sample),
                "sklearn_version": sklearn.__version__,
            },
            "checks": checks,
        }
    )
    if not 0.0 < doc["threshold"] < 1.0:
        raise ExportError(f"threshold {threshold} must lie strictly between 0 and 1")
    _verify(doc)
    doc["sha256"] = artifact_sha256(doc)
    return doc
