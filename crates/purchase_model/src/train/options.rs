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

pub const OPTIONS_HINT: &str = "options is an object with any of: exclude (array of column names), kinds (object column -> number|money|percent|category), validation_column (a boolean column), validation_fraction (0 to <1, default 0.2), seed (integer), top_k (default 25), l1_c (default 1.0), threshold (default 0.75), activate (default false), max_rows (default 250000), max_levels (default 1000), max_memory_mb (default 1024).";

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
    l1_c: Option<f64>,
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
        let l1_c = raw.l1_c.unwrap_or(1.0);
        if !(l1_c > 0.0 && l1_c.is_finite()) {
            return Err(bad(format!(
                "option \"l1_c\" is {l1_c}; it must be a positive number"
            )));
        }
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
            seed: integer(raw.seed, "seed", 0, 0)? as u64,
            activate: raw.activate.unwrap_or(false),
            max_rows: integer(raw.max_rows, "max_rows", 1, DEFAULT_MAX_ROWS)?,
            max_levels: integer(raw.max_levels, "max_levels", 2, DEFAULT_MAX_LEVELS)? as usize,
            settings: TrainSettings {
                top_k: integer(raw.top_k, "top_k", 1, 25)? as usize,
                l1_c,
                threshold,
                max_memory_mb: integer(
                    raw.max_memory_mb,
                    "max_memory_mb",
                    1,
                    DEFAULT_MAX_MEMORY_MB,
                )? as u64,
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
            "l1_c": self.settings.l1_c,
            "threshold": self.settings.threshold,
        })
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
