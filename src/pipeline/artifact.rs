//! The model artifact: one versioned JSON document holding the whole fitted pipeline
//! (inputs and their cleaning kinds, imputer, scaler, one-hot encoder, logistic regression,
//! threshold, training metadata, reference checks, sha256). Parsing validates every field and
//! names the offending one; README documents the format.

use super::canonical::{canonical_json, sha256_hex};
use super::error::{PipelineError, Result};
use super::json_fields::{array, field, finite, finites, object, string, strings};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

pub const FORMAT: &str = "pg_purchase.logistic_pipeline";
pub const FORMAT_VERSION: i64 = 1;

/// How a raw column is read and cleaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A number, or text holding one ("14.757").
    Number,
    /// Money text: `$6,882.34`, `$-5,032.58`, `($5,032.58)`.
    Money,
    /// Percent text: `36.29%`.
    Percent,
    /// A category from a fixed vocabulary; one-hot encoded.
    Category,
}

impl InputKind {
    fn parse(s: &str, path: &str) -> Result<Self> {
        match s {
            "number" => Ok(InputKind::Number),
            "money" => Ok(InputKind::Money),
            "percent" => Ok(InputKind::Percent),
            "category" => Ok(InputKind::Category),
            other => Err(PipelineError::artifact(
                path,
                format!(
                    "has unknown kind \"{other}\" (expected number, money, percent or category)"
                ),
            )),
        }
    }

    pub fn is_numeric(self) -> bool {
        self != InputKind::Category
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NumericStats {
    pub impute_mean: f64,
    pub scale_mean: f64,
    pub scale: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CategoryEncoding {
    /// All levels seen in training, in the encoder's order.
    pub categories: Vec<String>,
    /// The level dropped as reference (encoded as all zeros), if any.
    pub drop: Option<String>,
    /// Whether a missing value has its own `<column>_nan` indicator.
    pub missing_indicator: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub column: String,
    pub kind: InputKind,
    /// Present for numeric kinds.
    pub numeric: Option<NumericStats>,
    /// Present for categories.
    pub encoding: Option<CategoryEncoding>,
}

/// A reference row with the p_hat the exporter computed through scikit-learn.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub row: Map<String, Value>,
    pub p_hat: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub inputs: Vec<Input>,
    pub features: Vec<String>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    pub threshold: f64,
    pub checks: Vec<Check>,
    /// sha256 of the canonical content (verified against the document's own field if present).
    pub sha256: String,
}

impl Artifact {
    /// Parses and validates a whole artifact document, verifying its hash.
    pub fn from_json(doc: &Value) -> Result<Artifact> {
        let sha256 = sha256_hex(&canonical_json(doc, Some("sha256")));
        let artifact = Self::parse(doc, sha256.clone())?;
        if let Some(claimed) = object(doc, "(document)")?.get("sha256") {
            let claimed = string(claimed, "sha256")?;
            if !claimed.eq_ignore_ascii_case(&sha256) {
                return Err(PipelineError::artifact(
                    "sha256",
                    format!("is {claimed} but the content hashes to {sha256}: the artifact was changed after export"),
                ));
            }
        }
        Ok(artifact)
    }

    /// Parses an artifact that was verified when it was stored (its hash is known and its
    /// reference checks passed), so a backend's first call does not re-hash it.
    pub fn from_stored_json(doc: &Value, sha256: &str) -> Result<Artifact> {
        Self::parse(doc, sha256.to_string())
    }

    fn parse(doc: &Value, sha256: String) -> Result<Artifact> {
        let top = object(doc, "(document)")?;
        let format = string(field(top, "", "format")?, "format")?;
        if format != FORMAT {
            return Err(PipelineError::artifact(
                "format",
                format!("is \"{format}\", expected \"{FORMAT}\""),
            ));
        }
        let version = field(top, "", "format_version")?;
        if version.as_i64() != Some(FORMAT_VERSION) {
            return Err(PipelineError::artifact(
                "format_version",
                format!("is {version}, this pg_purchase reads version {FORMAT_VERSION}"),
            ));
        }

        let inputs = parse_inputs(top)?;
        let model = object(field(top, "", "model")?, "model")?;
        let features = strings(field(model, "model", "features")?, "model.features")?;
        let coefficients = finites(field(model, "model", "coefficients")?, "model.coefficients")?;
        if features.is_empty() {
            return Err(PipelineError::artifact("model.features", "is empty"));
        }
        if coefficients.len() != features.len() {
            return Err(PipelineError::artifact(
                "model.coefficients",
                format!(
                    "has {} values for {} features",
                    coefficients.len(),
                    features.len()
                ),
            ));
        }
        let intercept = finite(field(model, "model", "intercept")?, "model.intercept")?;
        let threshold = finite(field(top, "", "threshold")?, "threshold")?;
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(PipelineError::artifact(
                "threshold",
                format!("is {threshold}, it must lie strictly between 0 and 1"),
            ));
        }
        let checks = match top.get("checks") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => parse_checks(v)?,
        };
        Ok(Artifact {
            inputs,
            features,
            coefficients,
            intercept,
            threshold,
            checks,
            sha256,
        })
    }
}

fn parse_inputs(top: &Map<String, Value>) -> Result<Vec<Input>> {
    let list = array(field(top, "", "inputs")?, "inputs")?;
    if list.is_empty() {
        return Err(PipelineError::artifact("inputs", "is empty"));
    }
    let imputer = column_values(top, "imputer", "statistics")?;
    let scaler_mean = column_values(top, "scaler", "mean")?;
    let scaler_scale = column_values(top, "scaler", "scale")?;
    let encoder = parse_encoder(top)?;

    let mut seen = HashSet::new();
    let mut inputs = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let path = format!("inputs[{i}]");
        let obj = object(item, &path)?;
        let column = string(field(obj, &path, "column")?, &format!("{path}.column"))?.to_string();
        if column.is_empty() {
            return Err(PipelineError::artifact(
                format!("{path}.column"),
                "is empty",
            ));
        }
        if !seen.insert(column.clone()) {
            return Err(PipelineError::artifact(
                format!("{path}.column"),
                format!("repeats column \"{column}\""),
            ));
        }
        let kind = InputKind::parse(
            string(field(obj, &path, "kind")?, &format!("{path}.kind"))?,
            &format!("{path}.kind"),
        )?;
        let (numeric, encoding) = if kind.is_numeric() {
            let get = |map: &HashMap<String, f64>, section: &str| {
                map.get(&column).copied().ok_or_else(|| {
                    PipelineError::artifact(
                        section,
                        format!("has no value for numeric column \"{column}\""),
                    )
                })
            };
            let scale = get(&scaler_scale, "scaler.scale")?;
            if scale <= 0.0 {
                return Err(PipelineError::artifact(
                    "scaler.scale",
                    format!("is {scale} for column \"{column}\"; a scale must be positive"),
                ));
            }
            let stats = NumericStats {
                impute_mean: get(&imputer, "imputer.statistics")?,
                scale_mean: get(&scaler_mean, "scaler.mean")?,
                scale,
            };
            (Some(stats), None)
        } else {
            let enc = encoder.get(&column).cloned().ok_or_else(|| {
                PipelineError::artifact(
                    "encoder.columns",
                    format!("has no entry for category column \"{column}\""),
                )
            })?;
            (None, Some(enc))
        };
        inputs.push(Input {
            column,
            kind,
            numeric,
            encoding,
        });
    }
    for (section, map) in [
        ("imputer.columns", &imputer),
        ("scaler.columns", &scaler_mean),
    ] {
        if let Some(extra) = map.keys().find(|c| {
            !inputs
                .iter()
                .any(|i| &i.column == *c && i.kind.is_numeric())
        }) {
            return Err(PipelineError::artifact(
                section,
                format!("names \"{extra}\", which is not a numeric input"),
            ));
        }
    }
    if let Some(extra) = encoder.keys().find(|c| {
        !inputs
            .iter()
            .any(|i| &i.column == *c && !i.kind.is_numeric())
    }) {
        return Err(PipelineError::artifact(
            "encoder.columns",
            format!("names \"{extra}\", which is not a category input"),
        ));
    }
    Ok(inputs)
}

/// Reads `section.columns` with the parallel array `section.<values>` into a map.
fn column_values(
    top: &Map<String, Value>,
    section: &str,
    values: &str,
) -> Result<HashMap<String, f64>> {
    let obj = object(field(top, "", section)?, section)?;
    let columns = strings(
        field(obj, section, "columns")?,
        &format!("{section}.columns"),
    )?;
    let numbers = finites(field(obj, section, values)?, &format!("{section}.{values}"))?;
    if columns.len() != numbers.len() {
        return Err(PipelineError::artifact(
            format!("{section}.{values}"),
            format!("has {} values for {} columns", numbers.len(), columns.len()),
        ));
    }
    let mut map = HashMap::with_capacity(columns.len());
    for (c, v) in columns.into_iter().zip(numbers) {
        if map.insert(c.clone(), v).is_some() {
            return Err(PipelineError::artifact(
                format!("{section}.columns"),
                format!("repeats column \"{c}\""),
            ));
        }
    }
    Ok(map)
}

fn parse_encoder(top: &Map<String, Value>) -> Result<HashMap<String, CategoryEncoding>> {
    let obj = object(field(top, "", "encoder")?, "encoder")?;
    let list = array(field(obj, "encoder", "columns")?, "encoder.columns")?;
    let mut map = HashMap::new();
    for (i, item) in list.iter().enumerate() {
        let path = format!("encoder.columns[{i}]");
        let o = object(item, &path)?;
        let column = string(field(o, &path, "column")?, &format!("{path}.column"))?.to_string();
        let categories = strings(
            field(o, &path, "categories")?,
            &format!("{path}.categories"),
        )?;
        let unique: HashSet<&String> = categories.iter().collect();
        if categories.is_empty() || unique.len() != categories.len() {
            return Err(PipelineError::artifact(
                format!("{path}.categories"),
                "must be a non-empty list of distinct levels",
            ));
        }
        let drop = match o.get("drop") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let d = string(v, &format!("{path}.drop"))?.to_string();
                if !categories.contains(&d) {
                    return Err(PipelineError::artifact(
                        format!("{path}.drop"),
                        format!("is \"{d}\", which is not one of the categories"),
                    ));
                }
                Some(d)
            }
        };
        let missing_indicator = match o.get("missing_indicator") {
            None => false,
            Some(v) => v.as_bool().ok_or_else(|| {
                PipelineError::artifact(
                    format!("{path}.missing_indicator"),
                    "must be true or false",
                )
            })?,
        };
        let enc = CategoryEncoding {
            categories,
            drop,
            missing_indicator,
        };
        if map.insert(column.clone(), enc).is_some() {
            return Err(PipelineError::artifact(
                format!("{path}.column"),
                format!("repeats column \"{column}\""),
            ));
        }
    }
    Ok(map)
}

fn parse_checks(v: &Value) -> Result<Vec<Check>> {
    array(v, "checks")?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("checks[{i}]");
            let o = object(item, &path)?;
            let row = object(field(o, &path, "row")?, &format!("{path}.row"))?.clone();
            let p_hat = finite(field(o, &path, "p_hat")?, &format!("{path}.p_hat"))?;
            Ok(Check { row, p_hat })
        })
        .collect()
}
