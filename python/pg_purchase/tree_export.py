"""A fitted Pipeline ending in a tree ensemble -> a `pg_purchase.tree_pipeline` artifact.

The preceding steps are traced as for a logistic pipeline (export.py's channels); each model
feature must be one raw column, as a number (cleaned, optionally imputed) or as a category
(its level's code, by an OrdinalEncoder or the library's own category handling).
"""

from __future__ import annotations

import pandas as pd

from .cleaning import category_text, is_missing_category
from .export import ExportError, _json, _py, artifact_sha256, prepare_frame, training_profile
from .tree_walk import score_tree_rows, tolerance
from .trees import TreeExportError, frame_categories, read_trees

FORMAT = "pg_purchase.tree_pipeline"
FORMAT_VERSION = 1


def _is_category_dtype(sample, column):
    return isinstance(sample[column].dtype, pd.CategoricalDtype)


def _inputs(tm, channels, money, percent):
    """The artifact's inputs, one per model feature, in model feature order."""
    inputs, names, seen = [], [], {}
    for j, source in enumerate(tm.sources):
        ch = channels[source]
        if ch.column in seen:
            raise ExportError(f"column '{ch.column}' feeds two model features; pg_purchase supports one per raw column")
        seen[ch.column] = j
        item = {"column": ch.column, "feature": ch.name}
        native = tm.native_levels.get(j)
        if ch.ordinal is not None or native is not None:
            if ch.column in money or ch.column in percent:
                raise ExportError(f"column '{ch.column}' is a category, so it cannot be money or percent")
            if ch.ordinal is not None and native is not None:
                # the model re-encodes the encoder's codes: level of code k is the encoder's k-th
                levels = [ch.ordinal["levels"][int(v)] for v in native]
            elif ch.ordinal is not None:
                levels = ch.ordinal["levels"]
            else:
                levels = [category_text(_py(v)) for v in native]
            if len(set(levels)) != len(levels):
                raise ExportError(f"column '{ch.column}' has levels with the same text form {levels}")
            item.update(
                kind="category",
                categories=levels,
                unknown=ch.ordinal["unknown"] if ch.ordinal is not None else "missing",
            )
        else:
            item["kind"] = "money" if ch.column in money else "percent" if ch.column in percent else "number"
            if ch.imputer:
                fill = _py(ch.imputer[1])
                if not isinstance(fill, (int, float)):
                    raise ExportError(f"column '{ch.column}': the imputer fills a numeric column with {fill!r}")
                item["impute"] = float(fill)
        inputs.append(item)
        names.append(ch.name)
    return inputs, names


def export_trees(
    pipeline,
    channels,
    sample,
    *,
    columns,
    money,
    percent,
    threshold,
    name,
    training_rows,
    scorer=None,
    calibration=None,
):
    """export_pipeline for a final tree ensemble (see export.export_pipeline)."""
    *steps, (last_name, last) = pipeline.steps
    for ch in channels:
        if ch.scaler or ch.encoder:
            what = "StandardScaler" if ch.scaler else "OneHotEncoder"
            raise ExportError(
                f"column '{ch.column}': a {what} before a tree model is not supported "
                "(trees need no scaling; encode categories with OrdinalEncoder or the model's native categories)"
            )
    ordinal = {c.column for c in channels if c.ordinal is not None}
    # Columns the model itself reads as pandas categories (only without preceding steps).
    native = frame_categories(last, columns) if not steps else {}
    dtype_cats = [c for c in columns if c in native or _is_category_dtype(sample, c)]
    text_cats = [c for c in columns if c in ordinal or c in dtype_cats]
    numeric = [c for c in columns if c not in text_cats]
    frame = prepare_frame(sample.astype({c: object for c in dtype_cats}), columns, numeric, text_cats)
    for c, levels in native.items():
        frame[c] = pd.Categorical(frame[c], categories=levels)
    X = pipeline[:-1].transform(frame) if steps else frame
    if X.shape[1] != len(channels):
        raise ExportError(f"step '{last_name}' receives {X.shape[1]} columns where the exporter traced {len(channels)}")
    try:
        tm = read_trees(last, X)
    except TreeExportError as e:
        raise ExportError(f"step '{last_name}': {e}") from None
    inputs, names = _inputs(tm, channels, money, percent)
    used = {i["column"] for i in inputs}
    unused_cats = [
        c for c in dtype_cats if c in used and not any(i["column"] == c and i["kind"] == "category" for i in inputs)
    ]
    if unused_cats:
        raise ExportError(
            f"column(s) {unused_cats} have pandas category dtype but the model does not split them as categories"
        )
    categories = [i["column"] for i in inputs if i["kind"] == "category"]
    p_hat = (scorer or pipeline).predict_proba(frame)[:, 1]
    checks = []
    for (_, raw), p in zip(sample.iterrows(), p_hat):
        row = {}
        for item in inputs:
            c = item["column"]
            v = _py(raw[c])
            if is_missing_category(v):
                row[c] = None
            elif c in categories:
                row[c] = category_text(v)
            else:
                row[c] = v
        checks.append({"row": row, "p_hat": float(p)})
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "inputs": inputs,
        "raw_columns": columns,
        "model": tm.section(names),
        "threshold": threshold,
        "training": {
            "name": name,
            "positive_class": category_text(_py(list(getattr(last, "classes_", [0, 1]))[1])),
            "sample_rows": len(sample),
            "notes": tm.notes,
        },
        "checks": checks,
    }
    if calibration is not None:
        doc["calibration"] = calibration
    if training_rows is not None:
        if not isinstance(training_rows, pd.DataFrame) or len(training_rows) == 0:
            raise ExportError("training_rows must be a non-empty pandas DataFrame of raw rows")
        prof_frame = prepare_frame(training_rows, columns, [c for c in numeric if c in used], [])
        doc["profile"] = training_profile(prof_frame, [c for c in numeric if c in used], categories)
    doc = _json(doc)
    _verify(doc)
    doc["sha256"] = artifact_sha256(doc)
    return doc


def _verify(doc):
    """Refuses at export what the database would refuse at load: a reference row whose score by
    the artifact's own arithmetic differs from predict_proba by more than the library's bound."""
    tol = tolerance(doc["model"]["library"])
    got = score_tree_rows(doc, [c["row"] for c in doc["checks"]])
    for i, (g, check) in enumerate(zip(got, doc["checks"])):
        if not abs(g - check["p_hat"]) <= tol:
            raise ExportError(
                f"sample row {i}: the exported artifact scores {g!r} but predict_proba gives "
                f"{check['p_hat']!r}; the pipeline does something the exporter did not capture"
            )
