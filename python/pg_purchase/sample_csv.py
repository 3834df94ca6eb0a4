"""The CLI's sample CSV read as the pipeline saw its columns (issue 22).

A CSV has no types: pandas guesses them, so a zero-padded code such as `00501` becomes the
number 501 and a one-hot encoder fitted on the strings then fails deep in numpy. Each column is
read by what the fitted pipeline expects instead: money and percent columns as text (the database
cleans them); a column whose fitted encoder (OneHotEncoder or OrdinalEncoder) has string
categories as text, exactly as written; one whose encoder has boolean or number categories as
booleans or numbers; every other column as numbers when each of its values is one, else as text
(the exporter's cleaning rule then names the column and the value it cannot read). Empty cells and
pandas' usual NA markers are missing values, as before. Every error names the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from .export import ExportError, _selected


def encoder_categories(pipeline) -> dict:
    """Raw column -> the fitted categories of the encoder that reads it, traced through
    Pipeline and ColumnTransformer steps (column-wise steps before an encoder keep the columns)."""
    found: dict = {}

    def visit(est, columns):
        if type(est) is Pipeline:
            for _, step in est.steps:
                visit(step, columns)
                if isinstance(step, (OneHotEncoder, OrdinalEncoder, ColumnTransformer)):
                    return  # past them the columns are new ones
        elif type(est) is ColumnTransformer:
            names_in = [str(n) for n in getattr(est, "feature_names_in_", columns)]
            for name, trans, selector in est.transformers_:
                if isinstance(trans, str):
                    continue
                try:
                    selected = _selected(name, est, selector, names_in)
                except ExportError:
                    continue  # the export itself refuses it, in its own words
                visit(trans, selected)
        elif isinstance(est, (OneHotEncoder, OrdinalEncoder)) and hasattr(est, "categories_"):
            names = getattr(est, "feature_names_in_", None)
            names = [str(n) for n in names] if names is not None else list(columns)
            if len(names) == len(est.categories_):
                for column, categories in zip(names, est.categories_):
                    found.setdefault(column, list(categories))

    visit(pipeline, [str(c) for c in getattr(pipeline, "feature_names_in_", [])])
    return found


def _kind_of(categories) -> str:
    present = [c for c in categories if not (isinstance(c, float) and np.isnan(c)) and c is not None]
    if any(isinstance(c, str) for c in present):
        return "text"
    if present and all(isinstance(c, (bool, np.bool_)) for c in present):
        return "boolean"
    return "number"


_BOOLEANS = {"true": True, "false": False}


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def _as_numbers(values: pd.Series):
    """The column as numbers (int64, or float64 with NaN for missing values), or None when a
    value is not a number; the first such value and its line with it."""
    out = []
    for line, v in zip(range(2, len(values) + 2), values):  # line 1 is the header
        if pd.isna(v):
            out.append(np.nan)
            continue
        try:
            out.append(_number(v))
        except ValueError:
            return None, (v, line)
    series = pd.Series(out, index=values.index)
    if all(isinstance(x, int) for x in out):
        return series.astype("int64"), None
    return series.astype(float), None


def read_sample(path, pipeline, money=(), percent=()) -> pd.DataFrame:
    """The CSV at `path`, each column typed as the fitted `pipeline` saw it (module docstring)."""
    raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    categories = encoder_categories(pipeline)
    text_columns = set(money) | set(percent)
    for column in raw.columns:
        if column in text_columns:
            continue
        fitted = categories.get(str(column))
        kind = _kind_of(fitted) if fitted is not None else None
        if kind == "text":
            continue  # as written: 00501 stays "00501"
        if kind == "boolean":
            lowered = raw[column].map(lambda v: v if pd.isna(v) else _BOOLEANS.get(v.strip().lower(), v))
            bad = [(v, i + 2) for i, v in enumerate(lowered) if not pd.isna(v) and not isinstance(v, bool)]
            if bad:
                v, line = bad[0]
                raise ExportError(
                    f"sample column '{column}': {v!r} (line {line}) is not true or false, "
                    f"as the fitted encoder's categories {fitted} are"
                )
            raw[column] = lowered.astype(object)
            continue
        numbers, bad = _as_numbers(raw[column])
        if numbers is not None:
            raw[column] = numbers
        elif fitted is not None:
            v, line = bad
            raise ExportError(
                f"sample column '{column}': {v!r} (line {line}) is not a number, "
                f"as the fitted encoder's categories {fitted[:5]} are"
            )
        # else: text in a number column; the cleaning rule names column and value (or it is
        # money/percent text the user did not name, which the same error says).
    return raw
