//! Format 2, as serde types: what the exporter (and training) write. Every struct denies
//! unknown keys; every closed choice is an enum; the cross-field rules serde cannot state
//! live in `Document::validate`.

use super::extras::{extras, Profile};
use super::{
    Artifact, CategoryEncoding, Check, Input, InputKind, MissingCategory, NumericStats, Output,
    MAX_LEVELS,
};
use crate::calibration::Calibration;
use crate::error::{PipelineError, Result};
use crate::interrupt::check_interrupts;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Format 2 through serde, from a borrowed or an owned document.
pub(super) fn parse_v2<'de, D>(doc: D, sha256: String) -> Result<Artifact>
where
    D: serde::Deserializer<'de, Error = serde_json::Error>,
{
    let parsed: Document = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            "(document)".into()
        } else {
            path
        };
        PipelineError::artifact(path, describe_serde(e.inner()))
    })?;
    parsed.validate(sha256)
}

/// A number that is finite (serde_json never yields NaN or infinity, but a number too
/// large for a double, such as 1e999, is refused by the parser; this names the field).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finite(pub f64);

impl<'de> Deserialize<'de> for Finite {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        crate::interrupt::tick();
        if v.is_finite() {
            Ok(Finite(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "must be a finite number, got {v}"
            )))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    #[allow(dead_code)] // checked by format_version() before serde runs
    format: String,
    #[allow(dead_code)]
    format_version: i64,
    inputs: Vec<InputV2>,
    model: Model,
    threshold: Finite,
    /// Free-form metadata (source, rows, versions of the tools that fitted it).
    #[serde(default)]
    #[allow(dead_code)]
    training: Option<Map<String, Value>>,
    #[serde(default)]
    checks: Vec<CheckV2>,
    /// Training statistics for drift (`purchase_drift`, read from the stored document).
    #[serde(default)]
    profile: Option<Profile>,
    /// Every raw column the pipeline was fitted on (`feature_names_in_`), read or not.
    #[serde(default)]
    raw_columns: Option<Vec<String>>,
    /// The probability calibration (`crate::calibration`), validated there.
    #[serde(default)]
    calibration: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)] // verified by from_json
    sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputV2 {
    column: String,
    kind: InputKind,
    #[serde(default)]
    imputer: Option<Imputer>,
    #[serde(default)]
    scaler: Option<Scaler>,
    #[serde(default)]
    encoder: Option<Encoder>,
    /// A numeric column's output name.
    #[serde(default)]
    feature: Option<String>,
}

#[derive(Debug, Deserialize)]
enum ImputerClass {
    #[serde(rename = "sklearn.impute.SimpleImputer")]
    SimpleImputer,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Strategy {
    Mean,
    Median,
    MostFrequent,
    Constant,
}

/// The fill value: a number for numeric columns, the level's text for categories.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Fill {
    Number(Finite),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Imputer {
    #[allow(dead_code)]
    class: ImputerClass,
    strategy: Strategy,
    fill: Fill,
}

#[derive(Debug, Deserialize)]
enum ScalerClass {
    #[serde(rename = "sklearn.preprocessing.StandardScaler")]
    StandardScaler,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scaler {
    #[allow(dead_code)]
    class: ScalerClass,
    with_mean: bool,
    with_std: bool,
    mean: Finite,
    scale: Finite,
}

#[derive(Debug, Deserialize)]
enum EncoderClass {
    #[serde(rename = "sklearn.preprocessing.OneHotEncoder")]
    OneHotEncoder,
    /// pandas.get_dummies (the notebook's form): levels in order, an optional dropped first.
    #[serde(rename = "pandas.get_dummies")]
    GetDummies,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Drop {
    First,
    IfBinary,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum HandleUnknown {
    Ignore,
    Error,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Encoder {
    #[allow(dead_code)]
    class: EncoderClass,
    /// Levels by their text form, in the encoder's order (the missing category excluded).
    categories: Vec<String>,
    /// Whether the encoder has a category of its own for missing values (after the levels).
    missing_category: bool,
    drop: Option<Drop>,
    handle_unknown: HandleUnknown,
    /// Output names, one per category that is not dropped, in order.
    features: Vec<String>,
}

#[derive(Debug, Deserialize)]
enum ModelClass {
    #[serde(rename = "sklearn.linear_model.LogisticRegression")]
    LogisticRegression,
    #[serde(rename = "statsmodels.discrete.discrete_model.Logit")]
    StatsmodelsLogit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Model {
    #[allow(dead_code)]
    class: ModelClass,
    features: Vec<String>,
    coefficients: Vec<Finite>,
    intercept: Finite,
    /// Standard errors of the coefficients, in feature order (`purchase_model_weights`).
    #[serde(default)]
    std_errors: Option<Vec<Option<Finite>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckV2 {
    row: Map<String, Value>,
    p_hat: Finite,
}

/// serde's message, shortened to what a user needs next to the field name.
pub fn describe_serde(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // Value deserialisation adds no position; keep the message as serde wrote it.
    let text = text.trim();
    if text.starts_with("must ") {
        text.to_string()
    } else {
        format!("is invalid: {text}")
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Mean => "mean",
            Strategy::Median => "median",
            Strategy::MostFrequent => "most_frequent",
            Strategy::Constant => "constant",
        })
    }
}

impl Document {
    fn validate_extras(&self) -> Result<()> {
        let inputs: Vec<&str> = self.inputs.iter().map(|i| i.column.as_str()).collect();
        extras(
            self.model.std_errors.as_deref(),
            self.profile.as_ref(),
            self.model.features.len(),
            &inputs,
        )
    }

    /// The cross-field rules serde cannot state, then the common representation.
    pub fn validate(self, sha256: String) -> Result<Artifact> {
        self.validate_extras()?;
        if self.inputs.is_empty() {
            return Err(PipelineError::artifact("inputs", "is empty"));
        }
        let mut seen = HashSet::with_capacity(self.inputs.len());
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for (i, input) in self.inputs.into_iter().enumerate() {
            check_interrupts();
            let path = format!("inputs[{i}]");
            if input.column.is_empty() {
                return Err(PipelineError::artifact(
                    format!("{path}.column"),
                    "is empty",
                ));
            }
            if !seen.insert(input.column.clone()) {
                return Err(PipelineError::artifact(
                    format!("{path}.column"),
                    format!("repeats column \"{}\"", input.column),
                ));
            }
            inputs.push(if input.kind.is_numeric() {
                numeric_input(input, &path)?
            } else {
                category_input(input, &path)?
            });
        }
        let checks = self
            .checks
            .into_iter()
            .map(|c| Check {
                row: c.row,
                p_hat: c.p_hat.0,
            })
            .collect();
        let calibration = match &self.calibration {
            None | Some(Value::Null) => None,
            Some(v) => Some(Calibration::from_json(v)?),
        };
        let artifact = Artifact {
            format_version: 2,
            calibration,
            inputs,
            features: self.model.features,
            coefficients: self.model.coefficients.into_iter().map(|c| c.0).collect(),
            intercept: self.model.intercept.0,
            threshold: self.threshold.0,
            checks,
            other_columns: self.raw_columns.unwrap_or_default(),
            sha256,
        };
        artifact.validate_model()?;
        Ok(artifact)
    }
}

fn numeric_input(input: InputV2, path: &str) -> Result<Input> {
    if input.encoder.is_some() {
        return Err(PipelineError::artifact(
            format!("{path}.encoder"),
            format!(
                "is set on the numeric column \"{}\"; only category columns are one-hot encoded",
                input.column
            ),
        ));
    }
    let feature = input.feature.ok_or_else(|| {
        PipelineError::artifact(
            format!("{path}.feature"),
            "is missing (a numeric column names its output feature)",
        )
    })?;
    let impute = match input.imputer {
        None => None,
        Some(Imputer {
            fill: Fill::Number(v),
            ..
        }) => Some(v.0),
        Some(Imputer {
            fill: Fill::Text(t),
            strategy,
            ..
        }) => {
            return Err(PipelineError::artifact(
                format!("{path}.imputer.fill"),
                format!(
                "is the text \"{t}\" ({strategy}); a numeric column's fill value must be a number"
            ),
            ))
        }
    };
    let (scale_mean, scale) = match input.scaler {
        None => (0.0, 1.0),
        Some(s) => {
            if s.with_std && s.scale.0 <= 0.0 {
                return Err(PipelineError::artifact(
                    format!("{path}.scaler.scale"),
                    format!("is {}; a scale must be positive", s.scale.0),
                ));
            }
            (
                if s.with_mean { s.mean.0 } else { 0.0 },
                if s.with_std { s.scale.0 } else { 1.0 },
            )
        }
    };
    Ok(Input {
        outputs: vec![(feature, Output::Value)],
        column: input.column,
        kind: input.kind,
        numeric: Some(NumericStats {
            impute,
            scale_mean,
            scale,
        }),
        encoding: None,
    })
}

fn category_input(input: InputV2, path: &str) -> Result<Input> {
    if input.scaler.is_some() || input.feature.is_some() {
        return Err(PipelineError::artifact(
            format!(
                "{path}.{}",
                if input.scaler.is_some() {
                    "scaler"
                } else {
                    "feature"
                }
            ),
            format!(
                "is set on the category column \"{}\"; categories are one-hot encoded (encoder.features names the outputs)",
                input.column
            ),
        ));
    }
    let enc = input.encoder.ok_or_else(|| {
        PipelineError::artifact(
            format!("{path}.encoder"),
            "is missing (a category column needs its encoder)",
        )
    })?;
    if enc.categories.is_empty() && !enc.missing_category {
        return Err(PipelineError::artifact(
            format!("{path}.encoder.categories"),
            "is empty",
        ));
    }
    if enc.categories.len() > MAX_LEVELS {
        return Err(PipelineError::artifact(
            format!("{path}.encoder.categories"),
            format!("has more than {MAX_LEVELS} levels"),
        ));
    }
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(enc.categories.len());
    for (l, level) in enc.categories.iter().enumerate() {
        if l % 4096 == 0 {
            check_interrupts();
        }
        if index.insert(level.as_str(), l).is_some() {
            return Err(PipelineError::artifact(
                format!("{path}.encoder.categories[{l}]"),
                format!("repeats the level \"{level}\" (levels are compared by their text form)"),
            ));
        }
    }
    // The categories in encoder order: the levels, then the missing category.
    let total = enc.categories.len() + usize::from(enc.missing_category);
    let dropped = match enc.drop {
        None => None,
        Some(Drop::First) => Some(0),
        Some(Drop::IfBinary) => (total == 2).then_some(0),
    };
    let kept = total - usize::from(dropped.is_some());
    if enc.features.len() != kept {
        return Err(PipelineError::artifact(
            format!("{path}.encoder.features"),
            format!(
                "has {} names for the {kept} categories the encoder outputs ({} levels{}{})",
                enc.features.len(),
                enc.categories.len(),
                if enc.missing_category {
                    " and the missing category"
                } else {
                    ""
                },
                if dropped.is_some() {
                    ", one dropped"
                } else {
                    ""
                }
            ),
        ));
    }
    let mut names = enc.features.into_iter();
    let mut outputs = Vec::with_capacity(kept);
    for c in 0..total {
        if Some(c) == dropped {
            continue;
        }
        let output = if c < enc.categories.len() {
            Output::Level(c)
        } else {
            Output::Missing
        };
        outputs.extend(names.next().map(|n| (n, output)));
    }
    let unknown_is_error = enc.handle_unknown == HandleUnknown::Error;
    let missing = match input.imputer {
        Some(Imputer {
            fill: Fill::Text(t),
            strategy: Strategy::MostFrequent | Strategy::Constant,
            ..
        }) => match index.get(t.as_str()) {
            Some(&l) => MissingCategory::Level(l),
            // Imputed to a level the encoder never saw: an unknown level.
            None if unknown_is_error => MissingCategory::Error,
            None => MissingCategory::AllZeros,
        },
        Some(Imputer { strategy, fill, .. }) => {
            return Err(PipelineError::artifact(
                format!("{path}.imputer"),
                match fill {
                    Fill::Number(_) => format!("fills the category column \"{}\" with a number; category fill values are text", input.column),
                    Fill::Text(_) => format!("uses strategy \"{strategy}\" on the category column \"{}\"; categories take most_frequent or constant", input.column),
                },
            ))
        }
        None if enc.missing_category => MissingCategory::Own,
        None if unknown_is_error => MissingCategory::Error,
        None => MissingCategory::AllZeros,
    };
    Ok(Input {
        column: input.column,
        kind: input.kind,
        numeric: None,
        encoding: Some(CategoryEncoding {
            levels: enc.categories,
            missing,
            unknown_is_error,
        }),
        outputs,
    })
}
