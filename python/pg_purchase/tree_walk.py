"""The tree artifact's arithmetic in Python (what the database computes: crates/purchase_model
src/trees/walk.rs), for the exporter's self-check. Slow and plain on purpose."""

from __future__ import annotations

import math

import numpy as np

from .cleaning import category_text, clean_number, is_missing_category

LIGHTGBM_ZERO = float(np.float32(1e-35))


def tolerance(library: str) -> float:
    return 1e-6 if library == "xgboost" else 1e-12


def _features(doc, row):
    by_feature = {}
    for item in doc["inputs"]:
        v = row.get(item["column"])
        if item["kind"] == "category":
            if is_missing_category(v):
                x = math.nan
            else:
                text = category_text(v)
                cats = item["categories"]
                if text in cats:
                    x = float(cats.index(text))
                elif item.get("unknown") == "error":
                    raise ValueError(f"column '{item['column']}': unknown category {text!r}")
                else:
                    x = math.nan
        else:
            x = clean_number(v)
            if x is None:
                x = item.get("impute", math.nan)
        by_feature[item["feature"]] = float(x)
    return [by_feature[f] for f in doc["model"]["features"]]


def _threshold(t):
    return {"inf": math.inf, "-inf": -math.inf}.get(t, t) if isinstance(t, str) else t


def _leaf(library, tree, known, x):
    i = 0
    while tree["left"][i] != -1:
        v = x[tree["feature"][i]]
        cats = (tree.get("categories") or [None] * len(tree["left"]))[i]
        dl = tree["default_left"][i]
        missing_side = tree["left"][i] if dl else tree["right"][i]
        if library == "xgboost":
            v32 = np.float32(v)
            if math.isnan(v32):
                i = missing_side
            else:
                i = tree["left"][i] if v32 < np.float32(tree["threshold"][i]) else tree["right"][i]
        elif library == "lightgbm":
            if cats is not None:
                if math.isnan(v) or int(v) < 0:
                    i = tree["right"][i]
                else:
                    i = tree["left"][i] if int(v) in cats else tree["right"][i]
                continue
            mt = tree["missing_type"][i]
            if math.isnan(v) and mt != "NaN":
                v = 0.0
            if (mt == "Zero" and -LIGHTGBM_ZERO <= v <= LIGHTGBM_ZERO) or (mt == "NaN" and math.isnan(v)):
                i = missing_side
            else:
                i = tree["left"][i] if v <= _threshold(tree["threshold"][i]) else tree["right"][i]
        else:
            if math.isnan(v):
                i = missing_side
            elif cats is not None:
                code = int(v) % 256 if v >= 0 else -1
                if v < 0:
                    i = missing_side
                elif code in cats:
                    i = tree["left"][i]
                elif code in (known[tree["feature"][i]] or []):
                    i = tree["right"][i]
                else:
                    i = missing_side
            else:
                i = tree["left"][i] if v <= _threshold(tree["threshold"][i]) else tree["right"][i]
    return tree["value"][i]


def score_tree_rows(doc, rows):
    """p_hat of each row; with a `calibration`, its map of the raw score (decision_function)
    or of the probability (predict_proba), as the calibration reads."""
    from .calibrated import apply

    cal = doc.get("calibration")
    model = doc["model"]
    library = model["library"]
    known = model.get("known_categories") or []
    out = []
    for row in rows:
        x = _features(doc, row)
        if model["input_dtype"] == "float32":
            x = [float(np.float32(v)) for v in x]
        if library == "xgboost":
            s = np.float32(model["baseline"])
            for t in model["trees"]:
                s = np.float32(s + np.float32(_leaf(library, t, known, x)))
            denom = np.float32(np.exp(np.float32(min(-s, np.float32(88.7))))) + np.float32(1.0) + np.float32(1e-16)
            s, p = float(s), float(np.float32(1.0) / denom)
        else:
            s = model["baseline"]
            for t in model["trees"]:
                s += _leaf(library, t, known, x)
            p = 1.0 / (1.0 + math.exp(-s))
        if cal is not None:
            p = apply(cal, s if cal["response"] == "decision_function" else p)
        out.append(p)
    return out
