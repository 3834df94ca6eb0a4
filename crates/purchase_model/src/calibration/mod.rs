//! Probability calibration of a fitted model, as scikit-learn's
//! `CalibratedClassifierCV(FrozenEstimator(model), method=...)` does it with one calibrator:
//! the model's response on held-out labelled rows (its decision function where it has one,
//! else its probability) is mapped to a probability by Platt scaling (`sigmoid`) or by an
//! isotonic step function (`isotonic`). The calibrated probability is p_hat on every path, so
//! the map lives in the compiled model; the artifact stores it under `calibration`.
//!
//! * `platt.rs`: Platt's targets, priors and loss as scikit-learn writes them, minimised by
//!   `lbfgsb.rs`, scipy's L-BFGS-B path on an unconstrained problem;
//! * `isotonic.rs`: scikit-learn's tie merging, pool-adjacent-violators and `np.interp`;
//! * `document.rs`: the artifact of a calibrated version (checks re-expressed, hash);
//! * this file: the stored form, its validation, and applying it to a score.

mod document;
mod isotonic;
mod lbfgsb;
mod platt;
#[cfg(test)]
mod tests;

use crate::error::{PipelineError, Result};
use serde::Deserialize;
use serde_json::{json, Value};

pub use document::{calibrated_document, restamp};
pub use isotonic::fit_isotonic;
pub use platt::fit_sigmoid;

/// What the calibrator reads: scikit-learn asks the model for `decision_function` first and
/// falls back to `predict_proba` (LightGBM's and XGBoost's classifiers have no decision
/// function; logistic regression and HistGradientBoosting have one, their raw margin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    DecisionFunction,
    PredictProba,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::DecisionFunction => "decision_function",
            Response::PredictProba => "predict_proba",
        }
    }
}

/// The fitted map from the model's response to the calibrated probability.
#[derive(Debug, Clone, PartialEq)]
pub enum Calibrator {
    /// `_SigmoidCalibration`: `p = expit(-(a * f + b))`.
    Sigmoid { a: f64, b: f64 },
    /// `IsotonicRegression(out_of_bounds='clip')`: `f` clipped to [x[0], x[last]], then linear
    /// interpolation between the thresholds (`X_thresholds_`, `y_thresholds_`).
    Isotonic { x: Vec<f64>, y: Vec<f64> },
}

/// A model's calibration: which response it reads and the map.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub response: Response,
    pub calibrator: Calibrator,
    /// Labelled rows it was fitted on (metadata, shown by `purchase_models`).
    pub rows: Option<u64>,
}

/// The calibration methods, by the names scikit-learn gives them.
pub const METHODS: [&str; 2] = ["sigmoid", "isotonic"];

/// The stored form (`calibration` in an artifact): unknown keys are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    method: String,
    response: Response,
    #[serde(default)]
    a: Option<f64>,
    #[serde(default)]
    b: Option<f64>,
    #[serde(default)]
    x: Option<Vec<f64>>,
    #[serde(default)]
    y: Option<Vec<f64>>,
    #[serde(default)]
    rows: Option<u64>,
}

fn bad(field: &str, problem: impl Into<String>) -> PipelineError {
    PipelineError::artifact(format!("calibration.{field}"), problem)
}

impl Calibration {
    /// Fits `method` on the responses `f` of labelled rows (`bought`), as scikit-learn would.
    pub fn fit(method: &str, response: Response, f: &[f64], bought: &[bool]) -> Result<Self> {
        let calibrator = match method {
            "sigmoid" => {
                let (a, b) = fit_sigmoid(f, bought)?;
                Calibrator::Sigmoid { a, b }
            }
            "isotonic" => {
                let (x, y) = fit_isotonic(f, bought)?;
                Calibrator::Isotonic { x, y }
            }
            other => {
                return Err(PipelineError::InvalidArgument {
                    argument: "method".into(),
                    problem: format!(
                        "is \"{other}\"; the calibration methods are 'sigmoid' (Platt scaling) and 'isotonic'"
                    ),
                })
            }
        };
        Ok(Calibration {
            response,
            calibrator,
            rows: Some(f.len() as u64),
        })
    }

    /// The calibrated probability of a row whose model response is `f`.
    #[inline]
    pub fn apply(&self, f: f64) -> f64 {
        match &self.calibrator {
            Calibrator::Sigmoid { a, b } => expit(-(a * f + b)),
            Calibrator::Isotonic { x, y } => isotonic::interpolate(x, y, f),
        }
    }

    pub fn method(&self) -> &'static str {
        match self.calibrator {
            Calibrator::Sigmoid { .. } => "sigmoid",
            Calibrator::Isotonic { .. } => "isotonic",
        }
    }

    /// The stored form.
    pub fn to_json(&self) -> Value {
        let mut v = match &self.calibrator {
            Calibrator::Sigmoid { a, b } => json!({"method": "sigmoid", "a": a, "b": b}),
            Calibrator::Isotonic { x, y } => json!({"method": "isotonic", "x": x, "y": y}),
        };
        let obj = v.as_object_mut().expect("an object");
        obj.insert("response".into(), self.response.as_str().into());
        if let Some(rows) = self.rows {
            obj.insert("rows".into(), rows.into());
        }
        v
    }

    /// Reads and validates the stored form (field names in errors are `calibration.*`).
    pub fn from_json(v: &Value) -> Result<Self> {
        let s: Stored = serde_path_to_error::deserialize(v).map_err(|e| {
            let p = e.path().to_string();
            let field = if p == "." { "(object)".into() } else { p };
            bad(&field, format!("is invalid: {}", e.inner()))
        })?;
        let finite = |name: &str, v: f64| {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(bad(name, "must be a finite number"))
            }
        };
        let calibrator = match s.method.as_str() {
            "sigmoid" => {
                if s.x.is_some() || s.y.is_some() {
                    return Err(bad(
                        "x",
                        "belongs to an isotonic calibration, not a sigmoid one",
                    ));
                }
                let a = s.a.ok_or_else(|| bad("a", "is missing"))?;
                let b = s.b.ok_or_else(|| bad("b", "is missing"))?;
                Calibrator::Sigmoid {
                    a: finite("a", a)?,
                    b: finite("b", b)?,
                }
            }
            "isotonic" => {
                if s.a.is_some() || s.b.is_some() {
                    return Err(bad(
                        "a",
                        "belongs to a sigmoid calibration, not an isotonic one",
                    ));
                }
                let x = s.x.ok_or_else(|| bad("x", "is missing"))?;
                let y = s.y.ok_or_else(|| bad("y", "is missing"))?;
                if x.is_empty() || x.len() != y.len() {
                    return Err(bad(
                        "y",
                        format!(
                            "has {} values for {} thresholds x (at least one)",
                            y.len(),
                            x.len()
                        ),
                    ));
                }
                if let Some(i) = x.iter().position(|v| !v.is_finite()) {
                    return Err(bad(&format!("x[{i}]"), "must be a finite number"));
                }
                if let Some(i) = x.windows(2).position(|w| w[0] >= w[1]) {
                    return Err(bad(
                        &format!("x[{}]", i + 1),
                        "must be greater than the threshold before it",
                    ));
                }
                if let Some(i) = y.iter().position(|v| !(0.0..=1.0).contains(v)) {
                    return Err(bad(
                        &format!("y[{i}]"),
                        "must be a probability between 0 and 1",
                    ));
                }
                if let Some(i) = y.windows(2).position(|w| w[0] > w[1]) {
                    return Err(bad(
                        &format!("y[{}]", i + 1),
                        "must not be smaller than the value before it (the map is increasing)",
                    ));
                }
                Calibrator::Isotonic { x, y }
            }
            other => {
                return Err(bad(
                    "method",
                    format!("is \"{other}\", expected \"sigmoid\" or \"isotonic\""),
                ))
            }
        };
        Ok(Calibration {
            response: s.response,
            calibrator,
            rows: s.rows,
        })
    }
}

/// scipy.special.expit.
#[inline]
fn expit(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// The labelled rows' checks both methods share: some rows, both classes.
fn check_rows(f: &[f64], bought: &[bool]) -> Result<()> {
    if f.is_empty() {
        return Err(PipelineError::InvalidArgument {
            argument: "source".into(),
            problem: "has no row with a known outcome to calibrate on".into(),
        });
    }
    let buyers = bought.iter().filter(|b| **b).count();
    if buyers == 0 || buyers == bought.len() {
        return Err(PipelineError::InvalidArgument {
            argument: "source".into(),
            problem: format!(
                "has only one class among its {} labelled rows ({}); calibration needs buyers and non-buyers",
                bought.len(),
                if buyers == 0 { "no buyer" } else { "all buyers" }
            ),
        });
    }
    if let Some(i) = f.iter().position(|v| !v.is_finite()) {
        return Err(PipelineError::InvalidInput(format!(
            "the model's response for labelled row {} is {}, not a finite number",
            i + 1,
            f[i]
        )));
    }
    Ok(())
}
