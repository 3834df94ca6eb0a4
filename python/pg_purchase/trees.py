"""Reading a fitted tree ensemble (HistGradientBoostingClassifier, LightGBM, XGBoost) into the
`model` section of a `pg_purchase.tree_pipeline` artifact (README, "Tree models").

Each reader takes the structure from the library's own fitted objects, never a lossy dump:
HGB's predictor node arrays, LightGBM's `dump_model()` (thresholds and leaves printed with 17
significant digits), XGBoost's `save_raw("json")`. It returns a `TreeModel`: the model section
and, per model feature, which incoming column it reads and how the library encodes categories.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

HGB = "sklearn.HistGradientBoostingClassifier"
LIGHTGBM = "lightgbm"
XGBOOST = "xgboost"


class TreeExportError(ValueError):
    """A tree model pg_purchase cannot score exactly."""


@dataclass
class TreeModel:
    library: str
    # model feature j reads the incoming column sources[j] (index into the estimator's input)
    sources: list
    baseline: float
    input_dtype: str
    trees: list
    version: str
    # model feature j -> the category levels the library codes 0..n-1 (native categories)
    native_levels: dict = field(default_factory=dict)
    known_categories: list | None = None
    notes: list = field(default_factory=list)

    def section(self, feature_names):
        doc = {
            "library": self.library,
            "library_version": self.version,
            "features": feature_names,
            "baseline": self.baseline,
            "input_dtype": self.input_dtype,
            "trees": self.trees,
        }
        if self.known_categories is not None:
            doc["known_categories"] = self.known_categories
        return doc


def library_of(est) -> str | None:
    """Which reader an estimator needs, or None (checked by module and class name, so the
    libraries are imported only when used)."""
    cls = type(est)
    mod, name = cls.__module__, cls.__name__
    if name == "HistGradientBoostingClassifier" and mod.startswith("sklearn."):
        return HGB
    if mod.startswith("lightgbm") and name in ("LGBMClassifier", "Booster"):
        return LIGHTGBM
    if mod.startswith("xgboost") and name in ("XGBClassifier", "Booster"):
        return XGBOOST
    return None


def _threshold(v):
    v = float(v)
    if math.isnan(v):
        raise TreeExportError("a split threshold is NaN")
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _bits(words) -> list:
    """The members of a bitset given as 32-bit words."""
    return [32 * w + b for w, word in enumerate(int(x) for x in words) for b in range(32) if (word >> b) & 1]


# --- scikit-learn HistGradientBoostingClassifier ---------------------------------------------


def read_hgb(est, n_inputs) -> TreeModel:
    import sklearn

    if getattr(est, "n_trees_per_iteration_", 1) != 1 or len(getattr(est, "classes_", [])) != 2:
        raise TreeExportError("HistGradientBoostingClassifier must be binary")
    notes = []
    if getattr(est, "monotonic_cst", None) is not None:
        notes.append("monotonic_cst shaped the fit; the trees are scored as fitted")
    if getattr(est, "interaction_cst", None) is not None:
        notes.append("interaction_cst shaped the fit; the trees are scored as fitted")
    sources = list(range(n_inputs))
    native_levels = {}
    pre = getattr(est, "_preprocessor", None)
    mask = getattr(est, "is_categorical_", None)
    if pre is not None:
        # Since 1.4 the trees read the columns reordered by a private ColumnTransformer: the
        # categorical ones first (ordinal-encoded), then the others.
        mask = np.asarray(mask, dtype=bool)
        order = list(np.flatnonzero(mask)) + list(np.flatnonzero(~mask))
        sources = [int(i) for i in order]
        encoder = pre.named_transformers_["encoder"]
        for j, cats in enumerate(encoder.categories_):
            levels = list(cats)
            if levels and isinstance(levels[-1], float) and math.isnan(levels[-1]):
                levels = levels[:-1]
            native_levels[j] = levels
        remapped = getattr(est, "_is_categorical_remapped", None)
        mask = np.asarray(remapped, dtype=bool) if remapped is not None else None
    known = None
    if mask is not None and mask.any():
        bitsets, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
        known = [_bits(bitsets[f_idx_map[j]]) if mask[j] else None for j in range(len(mask))]
    trees = []
    for predictors in est._predictors:
        (pred,) = predictors
        nodes = pred.nodes
        left_bits = pred.raw_left_cat_bitsets
        leaf = nodes["is_leaf"].astype(bool)
        trees.append(
            {
                "left": [-1 if leaf[i] else int(nodes["left"][i]) for i in range(len(nodes))],
                "right": [-1 if leaf[i] else int(nodes["right"][i]) for i in range(len(nodes))],
                "feature": [int(v) for v in nodes["feature_idx"]],
                "threshold": [0.0 if leaf[i] else _threshold(nodes["num_threshold"][i]) for i in range(len(nodes))],
                "value": [float(v) for v in nodes["value"]],
                "default_left": [bool(v) for v in nodes["missing_go_to_left"]],
                "categories": [
                    _bits(left_bits[nodes["bitset_idx"][i]]) if nodes["is_categorical"][i] and not leaf[i] else None
                    for i in range(len(nodes))
                ],
                "cover": [float(v) for v in nodes["count"]],
                "gain": [0.0 if leaf[i] else float(nodes["gain"][i]) for i in range(len(nodes))],
            }
        )
    baseline = float(np.asarray(est._baseline_prediction).ravel()[0])
    return TreeModel(
        library=HGB,
        sources=sources,
        baseline=baseline,
        input_dtype="float64",
        trees=trees,
        version=sklearn.__version__,
        native_levels=native_levels,
        known_categories=known,
        notes=notes,
    )


# --- LightGBM -----------------------------------------------------------------------------------


def lightgbm_input_dtype(X) -> str:
    """What LightGBM's Python package casts the features to before predicting: a DataFrame to
    numpy.result_type of its column dtypes and float32 (category codes are int8, or float64
    when the batch has missing values), a float32/float64 array as it is, anything else to
    float32."""
    if isinstance(X, pd.DataFrame):
        plain = [dt.type for dt in X.dtypes if not isinstance(dt, pd.CategoricalDtype)]
        cats = any(isinstance(dt, pd.CategoricalDtype) for dt in X.dtypes)
        without_missing = np.result_type(*plain, *([np.int8] if cats else []), np.float32)
        if cats and without_missing == np.float32:
            raise TreeExportError(
                "LightGBM casts this frame to float32 or float64 depending on whether a batch has a "
                "missing category; give its numeric columns dtype float64"
            )
        return "float32" if without_missing == np.float32 else "float64"
    dtype = np.asarray(X).dtype
    return "float64" if dtype == np.float64 else "float32"


def _lightgbm_tree(structure, n_features) -> dict:
    keys = (
        "left",
        "right",
        "feature",
        "threshold",
        "value",
        "default_left",
        "missing_type",
        "categories",
        "cover",
        "gain",
    )
    tree = {k: [] for k in keys}
    stack = [(structure, None, None)]
    # pre-order; children are appended after their parent and patched in
    while stack:
        node, parent, side = stack.pop()
        i = len(tree["left"])
        if parent is not None:
            tree[side][parent] = i
        if "leaf_value" in node:
            if "leaf_coeff" in node:
                raise TreeExportError("LightGBM linear trees (linear_tree=True) are not supported")
            tree["left"].append(-1)
            tree["right"].append(-1)
            tree["feature"].append(0)
            tree["threshold"].append(0.0)
            tree["value"].append(float(node["leaf_value"]))
            tree["default_left"].append(False)
            tree["missing_type"].append("None")
            tree["categories"].append(None)
            tree["cover"].append(float(node.get("leaf_count", 0)))
            tree["gain"].append(0.0)
            continue
        tree["left"].append(None)
        tree["right"].append(None)
        tree["feature"].append(int(node["split_feature"]))
        if node["decision_type"] == "==":
            tree["threshold"].append(0.0)
            tree["categories"].append(sorted(int(c) for c in str(node["threshold"]).split("||")))
        elif node["decision_type"] == "<=":
            tree["threshold"].append(_threshold(node["threshold"]))
            tree["categories"].append(None)
        else:
            raise TreeExportError(f"LightGBM decision_type {node['decision_type']!r} is not supported")
        tree["value"].append(0.0)
        tree["default_left"].append(bool(node["default_left"]))
        tree["missing_type"].append(str(node["missing_type"]))
        tree["cover"].append(float(node.get("internal_count", 0)))
        tree["gain"].append(float(node.get("split_gain", 0.0)))
        stack.append((node["right_child"], i, "right"))
        stack.append((node["left_child"], i, "left"))
    return tree


def read_lightgbm(est, X) -> TreeModel:
    import lightgbm

    booster = est.booster_ if type(est).__name__ == "LGBMClassifier" else est
    dump = booster.dump_model()
    objective = str(dump.get("objective", ""))
    if not objective.startswith("binary"):
        raise TreeExportError(f"LightGBM objective {objective!r} is not supported; pg_purchase scores binary models")
    params = dict(p.split(":", 1) for p in objective.split()[1:] if ":" in p)
    if float(params.get("sigmoid", "1")) != 1.0:
        raise TreeExportError(f"LightGBM binary objective with sigmoid {params['sigmoid']} is not supported")
    if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
        raise TreeExportError("LightGBM model must have one tree per iteration (binary)")
    if dump.get("average_output"):
        raise TreeExportError("LightGBM random forest mode (average_output) is not supported")
    n = len(dump["feature_names"])
    trees = [_lightgbm_tree(t["tree_structure"], n) for t in dump["tree_info"]]
    native_levels = {}
    if isinstance(X, pd.DataFrame):
        cat_cols = [j for j, dt in enumerate(X.dtypes) if isinstance(dt, pd.CategoricalDtype)]
        for j, levels in zip(cat_cols, dump.get("pandas_categorical") or []):
            native_levels[j] = list(levels)
    return TreeModel(
        library=LIGHTGBM,
        sources=list(range(n)),
        baseline=0.0,  # boost_from_average is folded into the first tree's leaves
        input_dtype=lightgbm_input_dtype(X),
        trees=trees,
        version=lightgbm.__version__,
        native_levels=native_levels,
    )


# --- XGBoost ------------------------------------------------------------------------------------


def _reachable(tree) -> dict:
    """The nodes the root reaches, renumbered in pre-order (XGBoost keeps pruned nodes in its
    arrays; the artifact lists only the live ones, so its leaf count is the model's)."""
    order, stack = [], [0]
    while stack:
        i = stack.pop()
        order.append(i)
        if tree["left"][i] != -1:
            stack += [tree["right"][i], tree["left"][i]]
    new = {old: k for k, old in enumerate(order)}
    out = {key: [values[i] for i in order] for key, values in tree.items()}
    out["left"] = [-1 if v == -1 else new[v] for v in out["left"]]
    out["right"] = [-1 if v == -1 else new[v] for v in out["right"]]
    return out


def read_xgboost(est, n_inputs) -> TreeModel:
    import xgboost

    booster = est.get_booster() if type(est).__name__ == "XGBClassifier" else est
    if type(est).__name__ == "XGBClassifier":
        missing = getattr(est, "missing", np.nan)
        if missing is not None and not (isinstance(missing, float) and math.isnan(missing)):
            raise TreeExportError(f"XGBClassifier(missing={missing!r}) is not supported; missing means NaN")
    best = booster.attr("best_iteration")
    config = json.loads(booster.save_config())
    learner = config["learner"]
    objective = learner["objective"]["name"]
    if objective != "binary:logistic":
        raise TreeExportError(f"XGBoost objective {objective!r} is not supported; use binary:logistic")
    gb = learner["gradient_booster"]
    if gb["name"] != "gbtree":
        raise TreeExportError(f"XGBoost booster {gb['name']!r} is not supported; use gbtree")
    if best is not None:
        booster = booster[: int(best) + 1]  # what predict_proba uses after early stopping
    model = json.loads(booster.save_raw("json"))
    lm = model["learner"]
    base = str(lm["learner_model_param"]["base_score"]).strip("[]")
    base_score = np.float32(float(base))
    if not 0.0 < base_score < 1.0:
        raise TreeExportError(f"XGBoost base_score {base_score} must lie strictly between 0 and 1")
    # ProbToMargin in float32: -log(1/p - 1)
    margin = np.float32(-np.log(np.float32(1.0) / base_score - np.float32(1.0)))
    trees = []
    for t in lm["gradient_booster"]["model"]["trees"]:
        if any(int(s) != 0 for s in t.get("split_type", [])):
            raise TreeExportError("XGBoost categorical splits are not supported")
        left = [int(v) for v in t["left_children"]]
        live = _reachable(
            {
                "left": left,
                "right": [int(v) for v in t["right_children"]],
                "feature": [int(v) for v in t["split_indices"]],
                "threshold": [0.0 if left[i] == -1 else float(v) for i, v in enumerate(t["split_conditions"])],
                # the leaf value lives in split_conditions, not base_weights
                "value": [float(v) if left[i] == -1 else 0.0 for i, v in enumerate(t["split_conditions"])],
                "default_left": [bool(int(v)) for v in t["default_left"]],
                "cover": [float(v) for v in t["sum_hessian"]],
                "gain": [0.0 if left[i] == -1 else float(v) for i, v in enumerate(t["loss_changes"])],
            }
        )
        trees.append(live)
    n = int(lm["learner_model_param"].get("num_feature", n_inputs))
    return TreeModel(
        library=XGBOOST,
        sources=list(range(n)),
        baseline=float(margin),
        input_dtype="float32",
        trees=trees,
        version=xgboost.__version__,
    )


def read_trees(est, X) -> TreeModel:
    """The reader for `est`; `X` is what the estimator receives (a transformed sample)."""
    lib = library_of(est)
    n_inputs = X.shape[1]
    if lib == HGB:
        return read_hgb(est, n_inputs)
    if lib == LIGHTGBM:
        return read_lightgbm(est, X)
    if lib == XGBOOST:
        return read_xgboost(est, n_inputs)
    raise TreeExportError(f"{type(est).__name__} is not a supported tree model")


def frame_categories(est, columns) -> dict:
    """The columns a final estimator fitted directly on a DataFrame reads as pandas category
    dtype, each with its categories in code order: HGB's categorical columns (its private
    OrdinalEncoder's categories, since 1.4), LightGBM's pandas_categorical. {} otherwise."""
    lib = library_of(est)
    if lib == HGB and getattr(est, "_preprocessor", None) is not None:
        mask = np.asarray(est.is_categorical_, dtype=bool)
        encoder = est._preprocessor.named_transformers_["encoder"]
        names = [columns[i] for i in np.flatnonzero(mask)]
        out = {}
        for name, cats in zip(names, encoder.categories_):
            levels = [v for v in cats if not (isinstance(v, float) and math.isnan(v))]
            out[name] = levels
        return out
    if lib == LIGHTGBM:
        booster = est.booster_ if type(est).__name__ == "LGBMClassifier" else est
        pandas_categorical = getattr(booster, "pandas_categorical", None) or []
        indices = booster.params.get("categorical_column", [])
        if isinstance(indices, int):
            indices = [indices]
        if len(indices) != len(pandas_categorical):
            return {}
        return {columns[int(i)]: list(levels) for i, levels in zip(indices, pandas_categorical)}
    return {}


class BoosterPipeline:
    """A bare binary `lightgbm.Booster` or `xgboost.Booster` seen as a one-step pipeline: the
    exporter needs the column names it was trained with and its predicted probability."""

    def __init__(self, booster):
        lib = library_of(booster)
        if lib == LIGHTGBM:
            names = booster.feature_name()
        else:
            names = booster.feature_names
            if not names:
                raise TreeExportError(
                    "the xgboost.Booster has no feature names; train it on a DataFrame so columns are matched by name"
                )
        self.library = lib
        self.booster = booster
        self.steps = [("model", booster)]
        self.feature_names_in_ = np.asarray([str(n) for n in names], dtype=object)

    def predict_proba(self, X):
        if self.library == LIGHTGBM:
            p = np.asarray(self.booster.predict(X), dtype=float)
        else:
            import xgboost

            p = np.asarray(self.booster.predict(xgboost.DMatrix(X, missing=np.nan)), dtype=np.float32)
        return np.column_stack([1 - p, p])
