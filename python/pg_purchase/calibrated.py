"""A CalibratedClassifierCV over a supported pipeline -> the pipeline and its one calibrator.

The artifact carries the calibration exactly as `calibrate_purchase_model` stores it
(`calibration`: method, the response it reads, Platt's a and b or the isotonic thresholds), so
the database's p_hat is the calibrated `predict_proba[:, 1]` on every path. Only one calibrator
can be stored: an ensemble of per-fold calibrated copies averages several models, which
pg_purchase does not score.
"""

from __future__ import annotations

import math

import numpy as np

FIX = (
    "fit it on held-out rows over the already fitted pipeline: "
    "CalibratedClassifierCV(FrozenEstimator(pipeline), method=...) (scikit-learn >= 1.6) "
    "or CalibratedClassifierCV(pipeline, cv='prefit', method=...) (before 1.6)"
)


def is_calibrated(est) -> bool:
    return type(est).__name__ == "CalibratedClassifierCV" and type(est).__module__.startswith("sklearn.")


def columns_source(est):
    """What the CLI reads the sample's column types from: the calibrated pipeline itself."""
    if is_calibrated(est) and len(getattr(est, "calibrated_classifiers_", [])) >= 1:
        inner = est.calibrated_classifiers_[0].estimator
        return getattr(inner, "estimator", inner) if type(inner).__name__ == "FrozenEstimator" else inner
    return est


def unwrap(cal, error):
    """(pipeline, calibration dict) of a fitted CalibratedClassifierCV; `error` builds the
    exception raised for what cannot be stored."""
    fitted = getattr(cal, "calibrated_classifiers_", None)
    if fitted is None:
        raise error("the CalibratedClassifierCV is not fitted; " + FIX)
    if len(fitted) != 1:
        raise error(
            f"the CalibratedClassifierCV holds {len(fitted)} calibrated classifiers (an ensemble of "
            f"cv={cal.cv!r} folds); pg_purchase stores one model and one calibrator: " + FIX
        )
    one = fitted[0]
    if len(getattr(cal, "classes_", [])) != 2 or len(one.calibrators) != 1:
        raise error(
            f"the CalibratedClassifierCV has classes {list(cal.classes_)[:5]}; pg_purchase scores binary models"
        )
    method = one.method
    if method not in ("sigmoid", "isotonic"):
        raise error(f"calibration method {method!r} is not supported; use 'sigmoid' or 'isotonic'")
    inner = one.estimator
    if type(inner).__name__ == "FrozenEstimator":
        inner = inner.estimator
    # scikit-learn reads decision_function where the model has one, else predict_proba.
    response = "decision_function" if hasattr(inner, "decision_function") else "predict_proba"
    c = one.calibrators[0]
    if method == "sigmoid":
        calibration = {"method": "sigmoid", "a": _finite(c.a_, "a_"), "b": _finite(c.b_, "b_")}
    else:
        if getattr(c, "out_of_bounds", "clip") != "clip" or not getattr(c, "increasing_", True):
            raise error(
                "the isotonic calibrator must be increasing with out_of_bounds='clip', as CalibratedClassifierCV fits it"
            )
        calibration = {
            "method": "isotonic",
            "x": [_finite(v, "X_thresholds_") for v in c.X_thresholds_],
            "y": [_finite(v, "y_thresholds_") for v in c.y_thresholds_],
        }
    calibration["response"] = response
    return inner, calibration


def _finite(v, what):
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"the calibrator's {what} is {v}")
    return v


def apply(calibration, f: float) -> float:
    """The calibrated probability of a response f (the database's arithmetic)."""
    if calibration["method"] == "sigmoid":
        t = -(calibration["a"] * f + calibration["b"])
        return 1.0 / (1.0 + math.exp(-t)) if t >= 0 else math.exp(t) / (1.0 + math.exp(t))
    x, y = calibration["x"], calibration["y"]
    return float(np.interp(min(max(f, x[0]), x[-1]), x, y))
