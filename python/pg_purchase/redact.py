"""Synthetic reference rows (`redact_checks=True`): no real row leaves the notebook (issue 22).

An artifact's `checks` are raw sample rows with their `predict_proba`; every load re-scores them.
With real customers in the sample, the artifact carries their values. Redaction keeps what the
checks are for (as many rows, each re-scored by the pipeline and verified like any export) but
draws the rows from the training profile, the aggregate the artifact stores anyway for drift:
per column the null rate, for numbers the decile bins and for categories each level's share.
A number is drawn uniformly inside a bin chosen by its share (the two outer bins reach past the
outer edges as far as their neighbour is wide, at most one standard deviation; whole numbers where
the sample's column holds integers); a category is a level chosen by its share, written
as the sample writes it (so a number code stays a number). Seeded: the same inputs give the same
artifact."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .cleaning import category_text, is_missing_category
from .export import _py

SEED = 2026


def _number(rng, item):
    edges, fractions = item.get("bin_edges"), item.get("bin_fractions")
    if not edges:
        return np.nan  # every value was missing
    std = item.get("std") or 0.0
    k = int(rng.choice(len(fractions), p=np.asarray(fractions) / sum(fractions)))
    # The outer bins reach as far past the outer edges as the next bin is wide (at most a std).
    reach_low = min(std, edges[1] - edges[0]) if len(edges) > 1 else std
    reach_high = min(std, edges[-1] - edges[-2]) if len(edges) > 1 else std
    low = edges[k - 1] if k > 0 else edges[0] - reach_low
    high = edges[k] if k < len(edges) else edges[-1] + reach_high
    return float(rng.uniform(low, high)) if high > low else float(low)


def _money(x):
    return f"$-{-x:,.2f}" if x < 0 else f"${x:,.2f}"


def synthetic_sample(profile: dict, sample: pd.DataFrame, kinds: dict, rows: int) -> pd.DataFrame:
    """`rows` raw rows drawn from `profile` with `sample`'s columns; `kinds` maps each input
    column to its artifact kind (number, money, percent, category). Other columns are missing."""
    rng = np.random.default_rng(SEED)
    by_column = {item["column"]: item for item in profile["columns"]}
    out = {}
    for column in sample.columns:
        item, kind = by_column.get(str(column)), kinds.get(str(column))
        if item is None or kind is None:
            out[column] = [np.nan] * rows  # not read by the model: nothing to draw
            continue
        present = rng.uniform(size=rows) >= item["null_rate"]
        if kind == "category":
            # The sample's own spelling of each level (a number code stays a number).
            spelled = {}
            for v in sample[column]:
                v = _py(v)
                if not is_missing_category(v):
                    spelled.setdefault(category_text(v), v)
            levels = list(item.get("categories", {}))
            shares = np.asarray([item["categories"][t] for t in levels]) if levels else None
            values = []
            for keep in present:
                if not keep or not levels:
                    values.append(None)
                    continue
                text = levels[int(rng.choice(len(levels), p=shares / shares.sum()))]
                values.append(spelled.get(text, text))
            out[column] = values
            continue
        numbers = [_number(rng, item) if keep else np.nan for keep in present]
        integer = pd.api.types.is_integer_dtype(sample[column].dtype)
        if kind == "money":
            out[column] = [None if np.isnan(x) else _money(x) for x in numbers]
        elif kind == "percent":
            out[column] = [None if np.isnan(x) else f"{x:.2f}%" for x in numbers]
        elif integer:
            out[column] = [np.nan if np.isnan(x) else float(round(x)) for x in numbers]
        else:
            out[column] = numbers
    frame = pd.DataFrame(out, columns=sample.columns)
    for column in sample.columns:
        if isinstance(sample[column].dtype, pd.CategoricalDtype) and kinds.get(str(column)) == "category":
            frame[column] = pd.Categorical(frame[column], categories=sample[column].cat.categories)
    return frame
