//! `train_purchase_model`'s options: one serde struct that refuses unknown keys, so a misspelt
//! option is an error naming it (`serde_path_to_error` gives the field), then the range rules.
//! JSON null means "not given" for every option.

use super::{TrainError, TrainSettings};
use crate::artifact::InputKind;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const DEFAULT_MAX_ROWS: i64 = 250_000;
pub const DEFAULT_MAX_LEVELS: i64 = 1_000;
/// A fixed default rather than a share of `maintenance_work_mem` (64 MB by default, which would
/// refuse the README's 250,000-row trainings): a training is an admin's deliberate act.
pub const DEFAULT_MAX_MEMORY_MB: i64 = 1_024;

pub const OPTIONS_HINT: &str = "options is an object with any of: exclude (array of column names), kinds (object column -> number|money|percent|category), validation_column (a boolean column), validation_fraction (0 to <1, default 0.2), seed (integer), top_k (default 25), l1_c (default 1.0, or \"cv\": chosen by 5-fold cross-validation), fit_intercept (default true), class_weight (\"balanced\" or {\"0\": w0, \"1\": w1}), threshold (default 0.75), activate (default false), max_rows (default 250000), max_levels (default 1000), max_memory_mb (default 1024).";

/// A JSON number that is a whole number (25 and 25.0 alike: jsonb keeps the text as written).
#[derive(Debug, Clone, Copy)]
struct Whole(f64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.fract() != 0.0 {
            return Err(serde::de::Error::custom(format!(
                "must be an integer, not {v}"
            )));
        }
        Ok(Whole(v))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    exclude: Option<Vec<String>>,
    #[serde(default)]
    kinds: Option<BTreeMap<String, InputKind>>,
    #[serde(default)]
    validation_column: Option<String>,
    #[serde(default)]
    validation_fraction: Option<f64>,
    #[serde(default)]
    seed: Option<Whole>,
    #[serde(default)]
    top_k: Option<Whole>,
    #[serde(default)]
    l1_c: Option<Value>,
    #[serde(default)]
    fit_intercept: Option<bool>,
    #[serde(default)]
    class_weight: Option<Value>,
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    activate: Option<bool>,
    #[serde(default)]
    max_rows: Option<Whole>,
    #[serde(default)]
    max_levels: Option<Whole>,
    #[serde(default)]
    max_memory_mb: Option<Whole>,
}

/// The options, validated, with their defaults.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Sorted, without repeats.
    pub exclude: Vec<String>,
    pub kinds: BTreeMap<String, InputKind>,
    pub validation_column: Option<String>,
    pub validation_fraction: f64,
    pub seed: u64,
    pub activate: bool,
    pub max_rows: i64,
    pub max_levels: usize,
    /// top_k, l1_c, threshold, max_memory_mb.
    pub settings: TrainSettings,
}

fn bad(message: String) -> TrainError {
    TrainError::invalid(message, OPTIONS_HINT)
}

/// An integer option of at least `min` (default when absent).
fn integer(value: Option<Whole>, key: &str, min: i64, default: i64) -> Result<i64, TrainError> {
    match value {
        None => Ok(default),
        Some(Whole(v)) if v >= min as f64 && v <= i64::MAX as f64 => Ok(v as i64),
        Some(Whole(v)) => Err(bad(format!(
            "option \"{key}\" must be an integer of at least {min}, not {v}"
        ))),
    }
}

impl TrainOptions {
    pub fn from_json(doc: &Value) -> Result<TrainOptions, TrainError> {
        if !doc.is_object() {
            return Err(bad(format!("options must be a jsonb object, not {doc}")));
        }
        let raw: Raw = serde_path_to_error::deserialize(doc).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.inner().to_string();
            let inner = inner.trim();
            if let Some(rest) = inner.strip_prefix("unknown field `") {
                let key = rest.split('`').next().unwrap_or(rest);
                return bad(format!("unknown option \"{key}\""));
            }
            if inner.starts_with("must ") {
                bad(format!("option \"{path}\" {inner}"))
            } else {
                bad(format!("option \"{path}\" is invalid: {inner}"))
            }
        })?;
        let validation_fraction = raw.validation_fraction.unwrap_or(0.2);
        if !(0.0..1.0).contains(&validation_fraction) {
            return Err(bad(format!(
                "option \"validation_fraction\" is {validation_fraction}; it must be at least 0 and below 1"
            )));
        }
        if raw.validation_column.is_some() && raw.validation_fraction.is_some() {
            return Err(TrainError::invalid(
                "options \"validation_column\" and \"validation_fraction\" exclude each other",
                "Give either a boolean column marking validation rows or a fraction to draw at random.",
            ));
        }
        let (l1_c, l1_c_cv) = match &raw.l1_c {
            None | Some(Value::Null) => (1.0, false),
            Some(Value::String(s)) if s == "cv" => (1.0, true),
            Some(v) => match v.as_f64() {
                Some(c) if c > 0.0 && c.is_finite() => (c, false),
                _ => {
                    return Err(bad(format!(
                        "option \"l1_c\" is {v}; it must be a positive number or \"cv\""
                    )))
                }
            },
        };
        let class_weight = class_weight(raw.class_weight.as_ref())?;
        let seed = integer(raw.seed, "seed", 0, 0)? as u64;
        let threshold = raw.threshold.unwrap_or(0.75);
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(bad(format!(
                "option \"threshold\" is {threshold}; it must lie strictly between 0 and 1"
            )));
        }
        let mut exclude = raw.exclude.unwrap_or_default();
        exclude.sort();
        exclude.dedup();
        Ok(TrainOptions {
            exclude,
            kinds: raw.kinds.unwrap_or_default(),
            validation_column: raw.validation_column,
            validation_fraction,
            seed,
            activate: raw.activate.unwrap_or(false),
            max_rows: integer(raw.max_rows, "max_rows", 1, DEFAULT_MAX_ROWS)?,
            max_levels: integer(raw.max_levels, "max_levels", 2, DEFAULT_MAX_LEVELS)? as usize,
            settings: TrainSettings {
                top_k: integer(raw.top_k, "top_k", 1, 25)? as usize,
                l1_c,
                l1_c_cv,
                fit_intercept: raw.fit_intercept.unwrap_or(true),
                class_weight,
                threshold,
                max_memory_mb: integer(
                    raw.max_memory_mb,
                    "max_memory_mb",
                    1,
                    DEFAULT_MAX_MEMORY_MB,
                )? as u64,
                seed,
                ..TrainSettings::default()
            },
        })
    }

    /// The options that shaped the model, as stored in the artifact's `training.options`.
    pub fn to_json(&self) -> Value {
        json!({
            "exclude": self.exclude,
            "validation_column": self.validation_column,
            "validation_fraction": self.validation_column.is_none().then_some(self.validation_fraction),
            "seed": self.seed,
            "top_k": self.settings.top_k,
            "l1_c": if self.settings.l1_c_cv { json!("cv") } else { json!(self.settings.l1_c) },
            "fit_intercept": self.settings.fit_intercept,
            "class_weight": match self.settings.class_weight {
                ClassWeight::Equal => Value::Null,
                ClassWeight::Balanced => json!("balanced"),
                ClassWeight::Given(w) => json!({"0": w[0], "1": w[1]}),
            },
            "threshold": self.settings.threshold,
        })
    }
}

/// How the two classes are weighted in the fits (scikit-learn's `class_weight`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClassWeight {
    /// Every row counts once (`class_weight=None`).
    Equal,
    /// n / (2 × rows of the class), on the training rows (`class_weight="balanced"`).
    Balanced,
    /// Weights of class 0 and class 1 (a class not named weighs 1, as in scikit-learn).
    Given([f64; 2]),
}

impl ClassWeight {
    /// The weights of class 0 and class 1 for `n` training rows of which `positives` are 1.
    pub fn weights(self, n: usize, positives: usize) -> [f64; 2] {
        match self {
            ClassWeight::Equal => [1.0, 1.0],
            ClassWeight::Balanced => [
                n as f64 / (2.0 * (n - positives) as f64),
                n as f64 / (2.0 * positives as f64),
            ],
            ClassWeight::Given(w) => w,
        }
    }
}

fn class_weight(value: Option<&Value>) -> Result<ClassWeight, TrainError> {
    let invalid = |v: &Value| {
        bad(format!(
            "option \"class_weight\" is {v}; it must be \"balanced\" or an object of positive weights such as {{\"0\": 1, \"1\": 5}}"
        ))
    };
    match value {
        None | Some(Value::Null) => Ok(ClassWeight::Equal),
        Some(Value::String(s)) if s == "balanced" => Ok(ClassWeight::Balanced),
        Some(v @ Value::Object(map)) => {
            let mut w = [1.0, 1.0];
            for (key, weight) in map {
                let class = match key.as_str() {
                    "0" => 0,
                    "1" => 1,
                    _ => {
                        return Err(bad(format!(
                            "option \"class_weight\" names class \"{key}\"; the classes are \"0\" and \"1\""
                        )))
                    }
                };
                match weight.as_f64() {
                    Some(x) if x > 0.0 && x.is_finite() => w[class] = x,
                    _ => return Err(invalid(v)),
                }
            }
            Ok(ClassWeight::Given(w))
        }
        Some(v) => Err(invalid(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(doc: Value) -> String {
        let e = TrainOptions::from_json(&doc).unwrap_err();
        assert_eq!(e.kind, super::super::TrainErrorKind::InvalidParameter);
        e.message
    }

    #[test]
    fn defaults_and_values() {
        let o = TrainOptions::from_json(&json!({})).unwrap();
        assert_eq!(
            (
                o.max_rows,
                o.max_levels,
                o.settings.max_memory_mb,
                o.settings.top_k
            ),
            (250_000, 1_000, 1_024, 25)
        );
        assert_eq!((o.validation_fraction, o.seed, o.activate), (0.2, 0, false));
        assert!(o.settings.fit_intercept && !o.settings.l1_c_cv);
        assert_eq!(o.settings.class_weight, ClassWeight::Equal);
        let o = TrainOptions::from_json(&json!({
            "l1_c": "cv", "fit_intercept": false, "class_weight": {"1": 4}
        }))
        .unwrap();
        assert!(o.settings.l1_c_cv && !o.settings.fit_intercept);
        assert_eq!(o.settings.class_weight, ClassWeight::Given([1.0, 4.0]));
        assert_eq!(
            ClassWeight::Balanced.weights(10, 2),
            [10.0 / 16.0, 10.0 / 4.0]
        );
        let o = TrainOptions::from_json(&json!({"class_weight": "balanced"})).unwrap();
        assert_eq!(o.to_json()["class_weight"], json!("balanced"));
        let o = TrainOptions::from_json(&json!({
            "exclude": ["b", "a", "b"], "kinds": {"x": "money"}, "top_k": 25.0, "seed": 7,
            "max_memory_mb": 64, "activate": true, "l1_c": 0.5, "threshold": null,
        }))
        .unwrap();
        assert_eq!(o.exclude, ["a", "b"]);
        assert_eq!(o.kinds["x"], InputKind::Money);
        assert_eq!(
            (o.settings.top_k, o.seed, o.settings.max_memory_mb),
            (25, 7, 64)
        );
        assert_eq!(
            (o.activate, o.settings.l1_c, o.settings.threshold),
            (true, 0.5, 0.75)
        );
    }

    #[test]
    fn bad_options_name_the_option() {
        assert_eq!(err(json!({"tpo_k": 3})), "unknown option \"tpo_k\"");
        assert_eq!(
            err(json!({"top_k": 0})),
            "option \"top_k\" must be an integer of at least 1, not 0"
        );
        assert_eq!(
            err(json!({"max_memory_mb": 1.5})),
            "option \"max_memory_mb\" must be an integer, not 1.5"
        );
        assert!(err(json!({"max_memory_mb": "lots"}))
            .starts_with("option \"max_memory_mb\" is invalid: invalid type: string \"lots\""));
        assert!(err(json!({"kinds": {"region": "date"}}))
            .starts_with("option \"kinds.region\" is invalid: unknown variant `date`"));
        assert!(err(json!({"exclude": [1]})).starts_with("option \"exclude[0]\" is invalid"));
        assert!(err(json!({"activate": "yes"})).starts_with("option \"activate\" is invalid"));
        assert!(err(json!({"l1_c": -1})).starts_with("option \"l1_c\" is -1"));
        assert!(err(json!({"l1_c": "auto"})).starts_with("option \"l1_c\" is \"auto\""));
        assert!(
            err(json!({"class_weight": "even"})).starts_with("option \"class_weight\" is \"even\"")
        );
        assert!(err(json!({"class_weight": {"1": 0}})).starts_with("option \"class_weight\" is"));
        assert!(err(json!({"class_weight": {"yes": 2}})).contains("names class \"yes\""));
        assert!(err(json!({"fit_intercept": 1})).starts_with("option \"fit_intercept\" is invalid"));
        assert!(err(json!({"threshold": 1})).starts_with("option \"threshold\" is 1"));
        assert!(
            err(json!({"validation_fraction": 1})).starts_with("option \"validation_fraction\"")
        );
        assert!(
            err(json!({"validation_column": "v", "validation_fraction": 0.1}))
                .contains("exclude each other")
        );
        assert_eq!(err(json!([1])), "options must be a jsonb object, not [1]");
    }
}
