"""A fitted scikit-learn Pipeline -> a pg_purchase model artifact (format 2).

README ("Bring your own model", "The model artifact") documents the supported steps and the
format. Everything the exporter cannot reproduce exactly in the database is refused with one
ExportError line naming the step and the reason.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, replace
from itertools import count

import numpy as np
import pandas as pd
import rfc8785
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from . import calibrated as _calibrated
from .cleaning import category_text, clean_number, is_missing_category
from .trees import library_of

FORMAT = "pg_purchase.logistic_pipeline"
FORMAT_VERSION = 2
# The database refuses a load whose reference rows differ by more than this.
CHECK_TOLERANCE = 1e-9
# JSON numbers are doubles (RFC 8785): larger integers are written as the double they denote.
_SAFE_INTEGER = 2**53 - 1
SUPPORTED = (
    "supported: Pipeline, ColumnTransformer (named columns, remainder 'drop' or 'passthrough'), "
    "'passthrough', SimpleImputer (mean, median, most_frequent, constant), StandardScaler, "
    "OneHotEncoder (drop None/'first'/'if_binary', handle_unknown 'ignore'/'error'), "
    "OrdinalEncoder (before a tree model), and a final binary LogisticRegression, "
    "HistGradientBoostingClassifier, LGBMClassifier/lightgbm.Booster or XGBClassifier/xgboost.Booster"
)


class ExportError(ValueError):
    """A pipeline pg_purchase cannot score exactly; the message names the step and the reason."""


@dataclass
class _Channel:
    """One column of the data flowing through the pipeline: its current name, the raw column it
    comes from, and the column-wise steps applied to it so far."""

    name: str
    column: str
    chain: int
    imputer: tuple | None = None  # (strategy, raw fill value)
    scaler: tuple | None = None  # (with_mean, with_std, mean, scale)
    encoder: dict | None = None  # set on one-hot outputs
    level: int | None = None  # the encoder category this output indicates
    ordinal: dict | None = None  # set on OrdinalEncoder outputs: {"levels", "unknown"}


_chains = count(1)


def _py(value):
    """numpy scalars -> Python scalars."""
    return value.item() if isinstance(value, np.generic) else value


def _finite(value, what):
    v = float(value)
    if not math.isfinite(v):
        raise ExportError(f"{what} is {v}; pg_purchase stores finite numbers only")
    return v


def _refuse(step, est, reason=None):
    what = f"{type(est).__name__} is not supported" if reason is None else reason
    raise ExportError(f"step '{step}': {what} ({SUPPORTED})")


def _walk(step, est, channels):
    if est is None or (isinstance(est, str) and est == "passthrough"):
        return channels
    if type(est) is Pipeline:
        for name, sub in est.steps:
            channels = _walk(f"{step}.{name}" if step else name, sub, channels)
        return channels
    if type(est) is ColumnTransformer:
        return _column_transformer(step, est, channels)
    if type(est) is SimpleImputer:
        return _imputer(step, est, channels)
    if type(est) is StandardScaler:
        return _scaler(step, est, channels)
    if type(est) is OneHotEncoder:
        return _one_hot(step, est, channels)
    if type(est) is OrdinalEncoder:
        return _ordinal(step, est, channels)
    _refuse(step, est)


def _column_transformer(step, ct, channels):
    names_in = list(getattr(ct, "feature_names_in_", []))
    current = [c.name for c in channels]
    if names_in != current:
        _refuse(
            step,
            ct,
            "ColumnTransformer was fitted on columns "
            f"{names_in[:5]}... but receives {current[:5]}...; fit the pipeline on a pandas DataFrame",
        )
    by_name = {c.name: c for c in channels}
    # The entries as declared: a fitted ColumnTransformer holds 'passthrough' as a transformer.
    declared = {entry[0]: entry[1] for entry in ct.transformers}
    out = []
    with warnings.catch_warnings():
        # scikit-learn 1.5-1.6 warn that the remainder's columns will be names, not indices.
        warnings.simplefilter("ignore", FutureWarning)
        fitted = list(ct.transformers_)
    for name, trans, columns in fitted:
        if isinstance(trans, str) and trans == "drop":
            continue
        selected = _selected(f"{step}.{name}" if step else name, ct, columns, names_in)
        if not selected:
            continue
        # A fresh chain per selection: a column selected twice makes two chains (refused later).
        sub = [replace(by_name[n], chain=next(_chains)) for n in selected]
        if name == "remainder" and isinstance(ct.remainder, str) and ct.remainder == "passthrough":
            out += sub  # fitted as an identity FunctionTransformer in recent scikit-learn
            continue
        if isinstance(declared.get(name), str) and declared[name] == "passthrough":
            out += sub  # a named 'passthrough' entry, fitted as an identity FunctionTransformer too
            continue
        out += _walk(f"{step}.{name}" if step else name, trans, sub)
    names_out = [str(n) for n in ct.get_feature_names_out()]
    if len(names_out) != len(out):
        _refuse(step, ct, f"ColumnTransformer outputs {len(names_out)} columns where the exporter traced {len(out)}")
    for c, n in zip(out, names_out):
        c.name = n
    return out


def _selected(step, ct, columns, names_in):
    if callable(columns):
        _refuse(step, ct, "a callable column selector is not supported; name the columns")
    if isinstance(columns, (str, int, np.integer)):
        columns = [columns]
    if isinstance(columns, slice):
        columns = names_in[columns]
    columns = list(columns)
    if columns and all(isinstance(c, (bool, np.bool_)) for c in columns):
        return [n for n, keep in zip(names_in, columns) if keep]
    return [names_in[int(c)] if isinstance(c, (int, np.integer)) else str(c) for c in columns]


def _imputer(step, est, channels):
    mv = est.missing_values
    if not (mv is None or (isinstance(mv, float) and math.isnan(mv))):
        _refuse(step, est, f"SimpleImputer(missing_values={mv!r}) is not supported; missing means NULL/NaN")
    if est.add_indicator:
        _refuse(step, est, "SimpleImputer(add_indicator=True) is not supported")
    stats = list(est.statistics_)
    if len(stats) != len(channels):
        _refuse(step, est, f"SimpleImputer has {len(stats)} statistics for {len(channels)} columns")
    out = []
    for c, stat in zip(channels, stats):
        stat = _py(stat)
        if c.imputer or c.scaler or c.encoder:
            _refuse(
                step, est, f"a SimpleImputer after another step on column '{c.column}' is not supported; impute first"
            )
        if is_missing_category(stat):
            _refuse(step, est, f"column '{c.column}' had no values in training, so SimpleImputer drops it")
        out.append(replace(c, imputer=(est.strategy, stat)))
    return out


def _scaler(step, est, channels):
    out = []
    for i, c in enumerate(channels):
        if c.scaler or c.encoder:
            _refuse(
                step,
                est,
                f"a StandardScaler after {'a scaler' if c.scaler else 'OneHotEncoder'} on column '{c.column}' is not supported",
            )
        mean = _finite(est.mean_[i], f"step '{step}': mean_ of '{c.column}'") if est.with_mean else 0.0
        scale = _finite(est.scale_[i], f"step '{step}': scale_ of '{c.column}'") if est.with_std else 1.0
        out.append(replace(c, scaler=(bool(est.with_mean), bool(est.with_std), mean, scale)))
    return out


def _one_hot(step, est, channels):
    if not (est.drop is None or (isinstance(est.drop, str) and est.drop in ("first", "if_binary"))):
        _refuse(step, est, f"OneHotEncoder(drop={est.drop!r}) is not supported; use None, 'first' or 'if_binary'")
    if est.handle_unknown not in ("ignore", "error"):
        _refuse(
            step,
            est,
            f"OneHotEncoder(handle_unknown={est.handle_unknown!r}) is not supported "
            "(infrequent categories are not implemented); use 'ignore' or 'error'",
        )
    if getattr(est, "max_categories", None) is not None or getattr(est, "min_frequency", None) is not None:
        _refuse(step, est, "OneHotEncoder with max_categories/min_frequency (infrequent categories) is not supported")
    drop_idx = getattr(est, "drop_idx_", None)
    out = []
    for i, c in enumerate(channels):
        if c.scaler or c.encoder:
            _refuse(step, est, f"OneHotEncoder after a scaler or encoder on column '{c.column}' is not supported")
        cats = [_py(v) for v in est.categories_[i]]
        missing_category = bool(cats) and is_missing_category(cats[-1])
        levels = cats[:-1] if missing_category else cats
        if any(is_missing_category(v) for v in levels):
            _refuse(
                step, est, f"column '{c.column}' has two kinds of missing value (None and NaN) among its categories"
            )
        texts = [category_text(v) for v in levels]
        if len(set(texts)) != len(texts):
            _refuse(
                step,
                est,
                f"column '{c.column}' has levels with the same text form {texts}; "
                "the database compares categories by their text",
            )
        dropped = None if drop_idx is None or drop_idx[i] is None else int(drop_idx[i])
        expected = {None: None, "first": 0, "if_binary": 0 if len(cats) == 2 else None}[est.drop]
        if dropped != expected:
            _refuse(step, est, f"OneHotEncoder dropped category {dropped} of '{c.column}', expected {expected}")
        encoder = {
            "levels": texts,
            "missing_category": missing_category,
            "drop": est.drop,
            "handle_unknown": est.handle_unknown,
            "features": [],
        }
        for k in range(len(cats)):
            if k != dropped:
                out.append(replace(c, encoder=encoder, level=k))
    names = [str(n) for n in est.get_feature_names_out([c.name for c in channels])]
    if len(names) != len(out):
        _refuse(step, est, f"OneHotEncoder outputs {len(names)} columns where the exporter traced {len(out)}")
    for c, n in zip(out, names):
        c.name = n
    return out


def _ordinal(step, est, channels):
    nan = getattr(est, "unknown_value", None)
    if est.handle_unknown == "use_encoded_value" and isinstance(nan, float) and math.isnan(nan):
        unknown = "missing"
    elif est.handle_unknown == "error":
        unknown = "error"
    else:
        _refuse(
            step,
            est,
            "OrdinalEncoder must use handle_unknown='use_encoded_value' with unknown_value=np.nan, "
            f"or handle_unknown='error' (got {est.handle_unknown!r}, unknown_value={nan!r})",
        )
    enc_missing = getattr(est, "encoded_missing_value", np.nan)
    if not (isinstance(enc_missing, float) and math.isnan(enc_missing)):
        _refuse(step, est, f"OrdinalEncoder(encoded_missing_value={enc_missing!r}) is not supported; use np.nan")
    if getattr(est, "max_categories", None) is not None or getattr(est, "min_frequency", None) is not None:
        _refuse(step, est, "OrdinalEncoder with max_categories/min_frequency (infrequent categories) is not supported")
    out = []
    for i, c in enumerate(channels):
        if c.scaler or c.encoder or c.ordinal:
            _refuse(step, est, f"OrdinalEncoder after a scaler or encoder on column '{c.column}' is not supported")
        if c.imputer:
            _refuse(step, est, f"OrdinalEncoder after a SimpleImputer on column '{c.column}' is not supported")
        cats = [_py(v) for v in est.categories_[i]]
        if cats and is_missing_category(cats[-1]):
            cats = cats[:-1]  # a missing value codes as NaN (encoded_missing_value)
        texts = [category_text(v) for v in cats]
        if len(set(texts)) != len(texts):
            _refuse(step, est, f"column '{c.column}' has levels with the same text form {texts}")
        out.append(replace(c, ordinal={"levels": texts, "unknown": unknown}))
    names = [str(n) for n in est.get_feature_names_out([c.name for c in channels])]
    for c, n in zip(out, names):
        c.name = n
    return out


def _logistic(step, est, n_features):
    if type(est) is not LogisticRegression:
        _refuse(step, est, f"the last step must be a LogisticRegression, not {type(est).__name__}")
    classes = list(getattr(est, "classes_", []))
    if len(classes) != 2:
        _refuse(
            step,
            est,
            f"LogisticRegression has {len(classes)} classes {classes[:5]}; pg_purchase scores binary models only",
        )
    if getattr(est, "multi_class", "auto") == "multinomial":
        _refuse(step, est, "LogisticRegression(multi_class='multinomial') on two classes is not supported")
    coef = np.asarray(est.coef_, dtype=float)
    if coef.shape != (1, n_features):
        _refuse(step, est, f"LogisticRegression has coefficients of shape {coef.shape} for {n_features} features")
    intercept = _finite(est.intercept_[0], f"step '{step}': intercept_") if est.fit_intercept else 0.0
    return [_finite(v, f"step '{step}': coefficient {j}") for j, v in enumerate(coef[0])], intercept, classes


def _json(value):
    """A JSON value RFC 8785 can hash: Python scalars, NaN -> null, unsafe integers as doubles."""
    value = _py(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INTEGER:
        return float(value)
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def artifact_sha256(doc: dict) -> str:
    """sha256 of the RFC 8785 form of the artifact without its sha256 field."""
    return hashlib.sha256(rfc8785.dumps({k: v for k, v in doc.items() if k != "sha256"})).hexdigest()


def prepare_frame(sample: pd.DataFrame, columns, numeric, categories) -> pd.DataFrame:
    """Raw rows as the table holds them -> what the pipeline sees, by the database's rules:
    numeric columns through clean_number (money/percent text, numbers as text), missing
    categories (NULL, NaN, blank text) as NaN; every other column as it is."""
    missing = [c for c in columns if c not in sample.columns]
    if missing:
        raise ExportError(f"the sample lacks the column(s) {missing} the pipeline was fitted on")
    frame = sample.loc[:, list(columns)].copy()
    for c in numeric:

        def clean(v, column=c):
            try:
                x = clean_number(_py(v))
            except ValueError as e:
                raise ExportError(f"sample column '{column}': {e}") from None
            return np.nan if x is None else x

        frame[c] = frame[c].map(clean).astype(float)
    for c in categories:
        frame[c] = frame[c].map(lambda v: np.nan if is_missing_category(_py(v)) else v)
    return frame


def training_profile(frame: pd.DataFrame, numeric, categories) -> dict:
    """The drift baseline `purchase_drift` compares live data with (README, "Drift rule"): per
    column the null rate; for numbers the mean, population standard deviation, 9 inner decile
    edges and the share of values per bin (a value goes to the bin of the first edge not below
    it, as the database bins); for categories each level's share of the non-missing values."""
    columns = []
    for c in numeric:
        values = frame[c].to_numpy(dtype=float)
        present = values[~np.isnan(values)]
        item = {"column": c, "null_rate": float(1 - len(present) / len(values))}
        if len(present):
            edges = np.quantile(present, np.linspace(0.1, 0.9, 9))
            bins = np.bincount(np.searchsorted(edges, present, side="left"), minlength=10)
            item.update(
                mean=float(present.mean()),
                std=float(present.std()),
                bin_edges=[float(e) for e in edges],
                bin_fractions=[float(b / len(present)) for b in bins],
            )
        columns.append(item)
    for c in categories:
        values = [v for v in frame[c] if not is_missing_category(_py(v))]
        item = {"column": c, "null_rate": float(1 - len(values) / len(frame))}
        if values:
            texts = pd.Series([category_text(_py(v)) for v in values]).value_counts()
            item["categories"] = {str(k): float(n / len(values)) for k, n in texts.items()}
        columns.append(item)
    return {"rows": int(len(frame)), "columns": columns}


def export_pipeline(
    pipeline, sample, *, money=(), percent=(), threshold=0.5, name=None, training_rows=None, redact_checks=False
) -> dict:
    """A fitted Pipeline ending in a binary LogisticRegression or a tree model -> the artifact
    (see `_export_pipeline`). With `redact_checks=True` no sample row leaves in the artifact: its
    reference checks are as many synthetic rows drawn from the training profile (`training_rows`
    summarised, else the sample's own) and re-scored with `predict_proba` (`redact.py`); the
    artifact records `training.checks` = "synthetic".

    A `CalibratedClassifierCV` over such a pipeline with one calibrator (fitted with
    `FrozenEstimator` or `cv='prefit'`) is exported as the pipeline plus its `calibration`; the
    checks are its calibrated `predict_proba` (`calibrated.py`)."""
    kw = dict(money=money, percent=percent, threshold=threshold, name=name, training_rows=training_rows)
    if _calibrated.is_calibrated(pipeline):
        inner, calibration = _calibrated.unwrap(pipeline, ExportError)
        kw.update(scorer=pipeline, calibration=calibration)
        pipeline = inner
    doc = _export_pipeline(pipeline, sample, **kw)
    if not redact_checks:
        return doc
    from .redact import synthetic_sample

    kinds = {i["column"]: i["kind"] for i in doc["inputs"]}
    profile = doc.get("profile")
    if profile is None:
        numeric = [c for c, k in kinds.items() if k != "category"]
        categories = [c for c, k in kinds.items() if k == "category"]
        dtype_cats = [c for c in categories if isinstance(sample[c].dtype, pd.CategoricalDtype)]
        frame = prepare_frame(sample.astype({c: object for c in dtype_cats}), list(kinds), numeric, categories)
        profile = training_profile(frame, numeric, categories)
    synthetic = synthetic_sample(profile, sample, kinds, len(sample))
    doc = _export_pipeline(pipeline, synthetic, **kw)
    doc.pop("sha256")
    doc["training"]["checks"] = "synthetic"
    doc["sha256"] = artifact_sha256(doc)
    return doc


def _export_pipeline(
    pipeline,
    sample,
    *,
    money=(),
    percent=(),
    threshold=0.5,
    name=None,
    training_rows=None,
    scorer=None,
    calibration=None,
) -> dict:
    """A fitted Pipeline ending in a binary LogisticRegression or a tree model (README, "Tree
    models"), or a bare binary lightgbm/xgboost Booster trained on a DataFrame -> the artifact.

    `sample` holds raw rows exactly as they sit in the table; `money`/`percent` name the raw
    columns the database cleans as money/percent text. The sample is scored with
    `pipeline.predict_proba` and stored as the artifact's reference checks. `training_rows`
    (optional, raw rows like `sample`, e.g. the training set) is summarised into the artifact's
    `profile`, the baseline `purchase_drift` compares live data with. `scorer` (default the
    pipeline) gives the checks' p_hat; `calibration` is stored as the artifact's."""
    if type(pipeline).__name__ == "Booster" and library_of(pipeline) is not None:
        from .trees import BoosterPipeline, TreeExportError

        try:
            pipeline = BoosterPipeline(pipeline)
        except TreeExportError as e:
            raise ExportError(str(e)) from None
    elif type(pipeline) is not Pipeline:
        raise ExportError(f"expected a fitted sklearn.pipeline.Pipeline, got {type(pipeline).__name__}")
    if not isinstance(sample, pd.DataFrame) or len(sample) == 0:
        raise ExportError("the sample must be a non-empty pandas DataFrame of raw rows")
    threshold = float(threshold)
    if not 0.0 < threshold < 1.0:
        raise ExportError(f"threshold {threshold} must lie strictly between 0 and 1")
    columns = [str(c) for c in getattr(pipeline, "feature_names_in_", [])]
    if not columns:
        raise ExportError(
            "the pipeline was fitted without column names (feature_names_in_); "
            "fit it on a pandas DataFrame so columns are matched by name, never by position"
        )
    for label, named in (("money", money), ("percent", percent)):
        unknown = [c for c in named if c not in columns]
        if unknown:
            raise ExportError(f"{label} column(s) {unknown} are not among the pipeline's columns {columns}")
    overlap = set(money) & set(percent)
    if overlap:
        raise ExportError(f"column(s) {sorted(overlap)} are named both money and percent")

    *steps, (last_name, last) = pipeline.steps
    channels = [_Channel(name=c, column=c, chain=next(_chains)) for c in columns]
    for step_name, est in steps:
        channels = _walk(step_name, est, channels)
    if library_of(last) is not None:
        from .tree_export import export_trees  # imported here: tree_export imports this module

        return export_trees(
            pipeline,
            channels,
            sample,
            columns=columns,
            money=money,
            percent=percent,
            threshold=threshold,
            name=name,
            training_rows=training_rows,
            scorer=scorer,
            calibration=calibration,
        )
    ordinal = [c.column for c in channels if c.ordinal]
    if ordinal:
        raise ExportError(
            f"OrdinalEncoder on {ordinal} before a LogisticRegression is not supported "
            "(its codes would be scored as numbers); use OneHotEncoder"
        )
    coefficients, intercept, classes = _logistic(last_name, last, len(channels))

    inputs = {}
    for ch in channels:
        entry = inputs.get(ch.column)
        if entry is None:
            inputs[ch.column] = entry = {"chain": ch.chain, "channel": ch}
        elif entry["chain"] != ch.chain:
            raise ExportError(
                f"column '{ch.column}' feeds two transformers; pg_purchase supports one "
                "transformer chain per raw column"
            )
        if ch.encoder is not None:
            ch.encoder["features"].append(ch.name)
    categories = [c for c in columns if c in inputs and inputs[c]["channel"].encoder is not None]
    numeric = [c for c in columns if c in inputs and inputs[c]["channel"].encoder is None]
    bad = [c for c in categories if c in money or c in percent]
    if bad:
        raise ExportError(f"column(s) {bad} are one-hot encoded, so they cannot be money or percent")

    doc_inputs = []
    for c in columns:  # the pipeline's column order; unused columns are not read
        if c not in inputs:
            continue
        ch = inputs[c]["channel"]
        item = {"column": c}
        if ch.encoder is None:
            item["kind"] = "money" if c in money else "percent" if c in percent else "number"
            item["feature"] = ch.name
            if ch.imputer:
                item["imputer"] = {
                    "class": "sklearn.impute.SimpleImputer",
                    "strategy": ch.imputer[0],
                    "fill": _finite(ch.imputer[1], f"imputer fill value of '{c}'"),
                }
            if ch.scaler:
                with_mean, with_std, mean, scale = ch.scaler
                item["scaler"] = {
                    "class": "sklearn.preprocessing.StandardScaler",
                    "with_mean": with_mean,
                    "with_std": with_std,
                    "mean": mean,
                    "scale": scale,
                }
        else:
            item["kind"] = "category"
            if ch.imputer:
                item["imputer"] = {
                    "class": "sklearn.impute.SimpleImputer",
                    "strategy": ch.imputer[0],
                    "fill": category_text(ch.imputer[1]),
                }
            e = ch.encoder
            item["encoder"] = {
                "class": "sklearn.preprocessing.OneHotEncoder",
                "categories": e["levels"],
                "missing_category": e["missing_category"],
                "drop": e["drop"],
                "handle_unknown": e["handle_unknown"],
                "features": e["features"],
            }
        doc_inputs.append(item)

    frame = prepare_frame(sample, columns, numeric, categories)
    p_hat = (scorer or pipeline).predict_proba(frame)[:, 1]
    used = [c for c in columns if c in inputs]
    checks = []
    for (_, raw), p in zip(sample.iterrows(), p_hat):
        row = {}
        for c in used:
            v = _py(raw[c])
            if c in categories:
                row[c] = None if is_missing_category(v) else category_text(v)
            else:
                row[c] = None if is_missing_category(v) else v
        checks.append({"row": row, "p_hat": float(p)})

    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "inputs": doc_inputs,
        # Every column the pipeline was fitted on: JSON rows may carry the ones it drops.
        "raw_columns": columns,
        "model": {
            "class": "sklearn.linear_model.LogisticRegression",
            "features": [ch.name for ch in channels],
            "coefficients": coefficients,
            "intercept": intercept,
        },
        "threshold": threshold,
        "training": {
            "name": name,
            "positive_class": category_text(_py(classes[1])),
            "sample_rows": len(sample),
            "sklearn_version": sklearn.__version__,
        },
        "checks": checks,
    }
    if calibration is not None:
        doc["calibration"] = calibration
    if training_rows is not None:
        if not isinstance(training_rows, pd.DataFrame) or len(training_rows) == 0:
            raise ExportError("training_rows must be a non-empty pandas DataFrame of raw rows")
        doc["profile"] = training_profile(
            prepare_frame(training_rows, columns, numeric, categories), [c for c in numeric if c in inputs], categories
        )
    doc = _json(doc)
    _verify(doc)
    doc["sha256"] = artifact_sha256(doc)
    return doc


def score_rows(doc: dict, rows) -> list:
    """The artifact's own arithmetic in Python (what the database computes), for self-checks;
    a calibrated artifact's p_hat is its calibration of the logit (the decision function)."""
    coef = dict(zip(doc["model"]["features"], doc["model"]["coefficients"]))
    out = []
    for row in rows:
        z = doc["model"]["intercept"]
        for item in doc["inputs"]:
            c, v = item["column"], row.get(item["column"])
            if item["kind"] != "category":
                x = clean_number(v)
                if x is None:
                    if "imputer" not in item:
                        raise ExportError(f"column '{c}' is missing and has no imputer")
                    x = item["imputer"]["fill"]
                s = item.get("scaler")
                if s:
                    x = (x - (s["mean"] if s["with_mean"] else 0.0)) / (s["scale"] if s["with_std"] else 1.0)
                z += coef.get(item["feature"], 0.0) * x
                continue
            e = item["encoder"]
            cats = list(e["categories"]) + ([None] if e["missing_category"] else [])
            text = None if is_missing_category(v) else category_text(v)
            if text is None and "imputer" in item:
                text = item["imputer"]["fill"]
            k = cats.index(text) if text in cats else None
            if k is None:
                if e["handle_unknown"] == "error":
                    raise ExportError(f"column '{c}': unknown category {text!r}")
                continue
            dropped = 0 if e["drop"] == "first" or (e["drop"] == "if_binary" and len(cats) == 2) else None
            if k == dropped:
                continue
            z += coef.get(e["features"][k - (1 if dropped is not None and k > dropped else 0)], 0.0)
        if "calibration" in doc:
            out.append(_calibrated.apply(doc["calibration"], z))
        else:
            out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))
    return out


def _verify(doc):
    """Refuses at export what the database would refuse at load: a reference row whose score by
    the artifact's arithmetic differs from predict_proba by more than 1e-9."""
    rows = [c["row"] for c in doc["checks"]]
    for i, (got, check) in enumerate(zip(score_rows(doc, rows), doc["checks"])):
        if not abs(got - check["p_hat"]) <= CHECK_TOLERANCE:
            raise ExportError(
                f"sample row {i}: the exported artifact scores {got!r} but predict_proba gives "
                f"{check['p_hat']!r}; the pipeline does something the exporter did not capture"
            )
