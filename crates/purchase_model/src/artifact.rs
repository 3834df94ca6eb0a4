//! The model artifact: one versioned JSON document holding the whole fitted pipeline. Both
//! formats are read into one validated `Artifact` (inputs with their cleaning kind and
//! per-column transforms, the named outputs they produce, the logistic model, threshold,
//! reference checks, sha256); README ("The model artifact") documents the formats.
//!
//! * Format 2 (what `pg_purchase.export_pipeline` writes) is parsed with serde derive: unknown
//!   keys and unsupported values are errors naming the field (`serde_path_to_error`), closed
//!   choices are enums, numbers go through the `Finite` newtype; cross-field rules live in one
//!   `validate()`. The hash is RFC 8785.
//! * Format 1 (the first release's, possibly stored in a catalog) is read by the hand-written
//!   parser below and accepts its old hash rule or RFC 8785.

use super::canonical::{jcs_sha256, legacy_sha256};
use super::error::{PipelineError, Result};
use super::interrupt::check_interrupts;
use super::json_fields::{array, describe, field, finite, finites, object, string, strings};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

pub const FORMAT: &str = "pg_purchase.logistic_pipeline";
/// The format the exporter writes; format 1 is still read.
pub const FORMAT_VERSION: i64 = 2;
/// Documented limits (README): more output features than this, or more levels in one
/// category, are refused before any work proportional to them is done.
pub const MAX_FEATURES: usize = 1_000_000;
pub const MAX_LEVELS: usize = 1_000_000;
/// The largest artifact file `load_purchase_model_file` reads (jsonb itself stops at 255 MB).
pub const MAX_ARTIFACT_BYTES: u64 = 256 * 1024 * 1024;

/// How a raw column is read and cleaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// A number, or text holding one ("14.757").
    Number,
    /// Money text: `$6,882.34`, `$-5,032.58`, `($5,032.58)`.
    Money,
    /// Percent text: `36.29%`.
    Percent,
    /// A category from a fixed vocabulary, compared by its text form; one-hot encoded.
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

/// A numeric column's imputer and scaler, reduced to what scoring needs:
/// `(x.unwrap_or(impute) - scale_mean) / scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericStats {
    /// The imputer's fill value; None when the pipeline has no imputer for the column, so a
    /// missing value is an error (scikit-learn's LogisticRegression refuses NaN too).
    pub impute: Option<f64>,
    /// 0 when the scaler does not centre (`with_mean=False`) or there is no scaler.
    pub scale_mean: f64,
    /// 1 when the scaler does not scale (`with_std=False`) or there is no scaler.
    pub scale: f64,
}

/// What a missing category (NULL, blank text) encodes as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingCategory {
    /// Its own category (scikit-learn saw missing values in training, or get_dummies'
    /// dummy_na): the `Output::Missing` output is 1.
    Own,
    /// Imputed to a level before encoding (index into `levels`).
    Level(usize),
    /// Like an unknown level: all zeros.
    AllZeros,
    /// Like an unknown level under `handle_unknown='error'`: an error.
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CategoryEncoding {
    /// All levels seen in training, by their text form, in the encoder's order.
    pub levels: Vec<String>,
    pub missing: MissingCategory,
    /// A level never seen in training is an error (`handle_unknown='error'`), else all zeros.
    pub unknown_is_error: bool,
}

/// One value a column produces after the pipeline, referenced by name from `model.features`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The cleaned, imputed, scaled number.
    Value,
    /// The indicator of level `i`.
    Level(usize),
    /// The indicator of the missing category.
    Missing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub column: String,
    pub kind: InputKind,
    /// Present for numeric kinds.
    pub numeric: Option<NumericStats>,
    /// Present for categories.
    pub encoding: Option<CategoryEncoding>,
    /// The named outputs this column produces (dropped levels produce none).
    pub outputs: Vec<(String, Output)>,
}

/// A reference row with the p_hat the exporter computed through scikit-learn.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub row: Map<String, Value>,
    pub p_hat: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub format_version: i64,
    pub inputs: Vec<Input>,
    pub features: Vec<String>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    pub threshold: f64,
    pub checks: Vec<Check>,
    /// Raw columns the pipeline was fitted on but does not read (format 2's `raw_columns`, e.g.
    /// columns a ColumnTransformer drops): JSON rows may carry them under strict key rules.
    pub other_columns: Vec<String>,
    /// sha256 of the canonical content (verified against the document's own field if present).
    pub sha256: String,
}

impl Artifact {
    /// Parses and validates a whole artifact document, verifying its hash.
    pub fn from_json(doc: &Value) -> Result<Artifact> {
        let (version, sha256) = verified_hash(doc)?;
        if version == 1 {
            check_v1_keys(doc)?;
        }
        Self::parse(doc, version, sha256)
    }

    /// Like `from_json`, consuming the document: format 2's strings move into the artifact
    /// instead of being copied, so a large artifact is not held twice while it is validated.
    pub fn from_value(doc: Value) -> Result<Artifact> {
        let (version, sha256) = verified_hash(&doc)?;
        if version == 2 {
            return Self::parse_v2(doc, sha256);
        }
        check_v1_keys(&doc)?;
        Self::parse_v1(&doc, sha256)
    }

    /// Parses an artifact that was verified when it was stored (its hash is known and its
    /// reference checks passed), so a backend's first call does not re-hash it.
    pub fn from_stored_json(doc: &Value, sha256: &str) -> Result<Artifact> {
        let version = format_version(object(doc, "(document)")?)?;
        Self::parse(doc, version, sha256.to_string())
    }

    fn parse(doc: &Value, version: i64, sha256: String) -> Result<Artifact> {
        if version == 2 {
            return Self::parse_v2(doc, sha256);
        }
        Self::parse_v1(doc, sha256)
    }

    /// Format 2 through serde, from a borrowed or an owned document.
    fn parse_v2<'de, D>(doc: D, sha256: String) -> Result<Artifact>
    where
        D: serde::Deserializer<'de, Error = serde_json::Error>,
    {
        let parsed: v2::Document = serde_path_to_error::deserialize(doc).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." {
                "(document)".into()
            } else {
                path
            };
            PipelineError::artifact(path, v2::describe_serde(e.inner()))
        })?;
        parsed.validate(sha256)
    }

    fn parse_v1(doc: &Value, sha256: String) -> Result<Artifact> {
        let top = object(doc, "(document)")?;
        let inputs = parse_inputs(top)?;
        let model = object(field(top, "", "model")?, "model")?;
        let features = strings(field(model, "model", "features")?, "model.features")?;
        let coefficients = finites(field(model, "model", "coefficients")?, "model.coefficients")?;
        let intercept = finite(field(model, "model", "intercept")?, "model.intercept")?;
        let threshold = finite(field(top, "", "threshold")?, "threshold")?;
        let checks = match top.get("checks") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => parse_checks(v)?,
        };
        let artifact = Artifact {
            format_version: 1,
            inputs,
            features,
            coefficients,
            intercept,
            threshold,
            checks,
            other_columns: Vec::new(),
            sha256,
        };
        artifact.validate_model()?;
        Ok(artifact)
    }

    /// The rules both formats share: features and coefficients match, the threshold is a
    /// probability, every column is named once.
    fn validate_model(&self) -> Result<()> {
        if self.features.is_empty() {
            return Err(PipelineError::artifact("model.features", "is empty"));
        }
        if self.features.len() > MAX_FEATURES {
            return Err(PipelineError::artifact(
                "model.features",
                format!(
                    "has {} features, more than the {MAX_FEATURES} pg_purchase accepts",
                    self.features.len()
                ),
            ));
        }
        if self.coefficients.len() != self.features.len() {
            return Err(PipelineError::artifact(
                "model.coefficients",
                format!(
                    "has {} values for {} features",
                    self.coefficients.len(),
                    self.features.len()
                ),
            ));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(PipelineError::artifact(
                "threshold",
                format!(
                    "is {}, it must lie strictly between 0 and 1",
                    self.threshold
                ),
            ));
        }
        Ok(())
    }
}

/// The document's format version and the hash it is stored under: RFC 8785 (format 2 must
/// carry it), or for format 1 also the first release's rule.
fn verified_hash(doc: &Value) -> Result<(i64, String)> {
    let top = object(doc, "(document)")?;
    let claimed = match top.get("sha256") {
        None => None,
        Some(v) => Some(string(v, "sha256")?.to_ascii_lowercase()),
    };
    let version = format_version(top)?;
    let canonical = jcs_sha256(top, "sha256")?;
    let sha256 = match (version, claimed) {
        (2, None) => {
            return Err(PipelineError::artifact(
                "sha256",
                "is missing (format 2 artifacts carry the RFC 8785 hash the exporter wrote)",
            ))
        }
        (_, None) => canonical,
        (_, Some(claimed)) if claimed == canonical => canonical,
        // Format 1 artifacts written before RFC 8785 carry the old rule's hash.
        (1, Some(claimed)) if claimed == legacy_sha256(doc) => claimed,
        (_, Some(claimed)) => {
            return Err(PipelineError::artifact(
                "sha256",
                format!("is {claimed} but the content hashes to {canonical} (RFC 8785): the artifact was changed after export"),
            ))
        }
    };
    Ok((version, sha256))
}

/// Format 1's keys and class names, checked when a format 1 artifact is loaded (not when a
/// stored one is read back, so a catalog written by an older release keeps scoring): what the
/// first release's exporter wrote, nothing it would have ignored.
fn check_v1_keys(doc: &Value) -> Result<()> {
    fn only(v: Option<&Value>, path: &str, keys: &[&str], class: Option<&str>) -> Result<()> {
        let Some(Value::Object(map)) = v else {
            return Ok(()); // absence and type are the parser's to report
        };
        if let Some(extra) = map.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(PipelineError::artifact(
                join_path(path, extra),
                format!(
                    "is not a format 1 field (expected one of {})",
                    keys.join(", ")
                ),
            ));
        }
        if let (Some(expected), Some(got)) = (class, map.get("class")) {
            if got.as_str() != Some(expected) {
                return Err(PipelineError::artifact(
                    join_path(path, "class"),
                    format!("is {}, expected \"{expected}\"", describe(got)),
                ));
            }
        }
        Ok(())
    }
    fn join_path(path: &str, key: &str) -> String {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    }
    let top = doc.as_object();
    let get = |k: &str| top.and_then(|t| t.get(k));
    only(
        Some(doc),
        "",
        &[
            "format",
            "format_version",
            "inputs",
            "imputer",
            "scaler",
            "encoder",
            "model",
            "threshold",
            "training",
            "checks",
            "profile",
            "sha256",
        ],
        None,
    )?;
    let imputer = &["class", "strategy", "columns", "statistics"];
    only(
        get("imputer"),
        "imputer",
        imputer,
        Some("sklearn.impute.SimpleImputer"),
    )?;
    if let Some(strategy) = get("imputer").and_then(|i| i.get("strategy")) {
        // The statistics are the fill values whatever the strategy; an unknown one is a mistake.
        if !matches!(
            strategy.as_str(),
            Some("mean" | "median" | "most_frequent" | "constant")
        ) {
            return Err(PipelineError::artifact(
                "imputer.strategy",
                format!(
                    "is {}, expected mean, median, most_frequent or constant",
                    describe(strategy)
                ),
            ));
        }
    }
    let scaler = &["class", "columns", "mean", "scale"];
    only(
        get("scaler"),
        "scaler",
        scaler,
        Some("sklearn.preprocessing.StandardScaler"),
    )?;
    let encoder = &["class", "columns"];
    only(
        get("encoder"),
        "encoder",
        encoder,
        Some("sklearn.preprocessing.OneHotEncoder"),
    )?;
    let model = &[
        "class",
        "features",
        "coefficients",
        "intercept",
        "std_errors",
    ];
    only(
        get("model"),
        "model",
        model,
        Some("sklearn.linear_model.LogisticRegression"),
    )?;
    let lists: [(&str, Option<&Value>, &[&str]); 3] = [
        ("inputs", get("inputs"), &["column", "kind"]),
        (
            "encoder.columns",
            get("encoder").and_then(|e| e.get("columns")),
            &[
                "column",
                "categories",
                "drop",
                "missing_indicator",
                "handle_unknown",
            ],
        ),
        ("checks", get("checks"), &["row", "p_hat"]),
    ];
    for (path, list, keys) in lists {
        if let Some(Value::Array(items)) = list {
            for (i, item) in items.iter().enumerate() {
                only(Some(item), &format!("{path}[{i}]"), keys, None)?;
            }
        }
    }
    v2::extras_v1(doc)
}

/// The training profile's rules, for another artifact format (the tree format's hook).
pub fn check_profile(doc: &Value) -> Result<()> {
    v2::extras_v1(doc)
}

/// `format` and `format_version`, checked before anything else so a foreign document is
/// named as such.
fn format_version(top: &Map<String, Value>) -> Result<i64> {
    let format = string(field(top, "", "format")?, "format")?;
    if format != FORMAT {
        return Err(PipelineError::artifact(
            "format",
            format!("is \"{format}\", expected \"{FORMAT}\""),
        ));
    }
    let version = field(top, "", "format_version")?;
    match version.as_i64() {
        Some(v @ (1 | 2)) => Ok(v),
        _ => Err(PipelineError::artifact(
            "format_version",
            format!(
                "is {}, this pg_purchase reads versions 1 and 2",
                describe(version)
            ),
        )),
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
        check_interrupts();
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
        let input = if kind.is_numeric() {
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
                impute: Some(get(&imputer, "imputer.statistics")?),
                scale_mean: get(&scaler_mean, "scaler.mean")?,
                scale,
            };
            Input {
                outputs: vec![(column.clone(), Output::Value)],
                column,
                kind,
                numeric: Some(stats),
                encoding: None,
            }
        } else {
            let (levels, drop, missing_indicator) =
                encoder.get(&column).cloned().ok_or_else(|| {
                    PipelineError::artifact(
                        "encoder.columns",
                        format!("has no entry for category column \"{column}\""),
                    )
                })?;
            // Format 1 names outputs `<column>_<level>` and `<column>_nan`.
            let mut outputs: Vec<(String, Output)> = levels
                .iter()
                .enumerate()
                .filter(|(l, _)| drop != Some(*l))
                .map(|(l, level)| (format!("{column}_{level}"), Output::Level(l)))
                .collect();
            if missing_indicator {
                outputs.push((format!("{column}_nan"), Output::Missing));
            }
            let missing = if missing_indicator {
                MissingCategory::Own
            } else {
                MissingCategory::AllZeros
            };
            Input {
                column,
                kind,
                numeric: None,
                encoding: Some(CategoryEncoding {
                    levels,
                    missing,
                    unknown_is_error: false,
                }),
                outputs,
            }
        };
        inputs.push(input);
    }
    let numeric: HashSet<&str> = inputs
        .iter()
        .filter(|i| i.kind.is_numeric())
        .map(|i| i.column.as_str())
        .collect();
    for (section, map) in [
        ("imputer.columns", &imputer),
        ("scaler.columns", &scaler_mean),
    ] {
        if let Some(extra) = map.keys().find(|c| !numeric.contains(c.as_str())) {
            return Err(PipelineError::artifact(
                section,
                format!("names \"{extra}\", which is not a numeric input"),
            ));
        }
    }
    let categorical: HashSet<&str> = inputs
        .iter()
        .filter(|i| !i.kind.is_numeric())
        .map(|i| i.column.as_str())
        .collect();
    if let Some(extra) = encoder.keys().find(|c| !categorical.contains(c.as_str())) {
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

/// Format 1's encoder: per column its levels, the dropped level's index, the missing indicator.
type V1Encoding = (Vec<String>, Option<usize>, bool);

fn parse_encoder(top: &Map<String, Value>) -> Result<HashMap<String, V1Encoding>> {
    let obj = object(field(top, "", "encoder")?, "encoder")?;
    let list = array(field(obj, "encoder", "columns")?, "encoder.columns")?;
    let mut map = HashMap::new();
    for (i, item) in list.iter().enumerate() {
        check_interrupts();
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
                let d = string(v, &format!("{path}.drop"))?;
                Some(categories.iter().position(|c| c == d).ok_or_else(|| {
                    PipelineError::artifact(
                        format!("{path}.drop"),
                        format!("is \"{d}\", which is not one of the categories"),
                    )
                })?)
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
        // Format 1 scores unknown levels as all zeros; any other claim would be ignored.
        if let Some(v) = o.get("handle_unknown") {
            if v.as_str() != Some("ignore") {
                return Err(PipelineError::artifact(
                    format!("{path}.handle_unknown"),
                    format!(
                        "is {}; format 1 supports only \"ignore\" (export format 2 for \"error\")",
                        describe(v)
                    ),
                ));
            }
        }
        if map
            .insert(column.clone(), (categories, drop, missing_indicator))
            .is_some()
        {
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
            check_interrupts();
            let path = format!("checks[{i}]");
            let o = object(item, &path)?;
            let row = object(field(o, &path, "row")?, &format!("{path}.row"))?.clone();
            let p_hat = finite(field(o, &path, "p_hat")?, &format!("{path}.p_hat"))?;
            Ok(Check { row, p_hat })
        })
        .collect()
}

/// Format 2, as serde types. Every struct denies unknown keys; every closed choice is an enum.
mod v2 {
    use super::*;
    use std::fmt;

    /// A number that is finite (serde_json never yields NaN or infinity, but a number too
    /// large for a double, such as 1e999, is refused by the parser; this names the field).
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Finite(pub f64);

    impl<'de> Deserialize<'de> for Finite {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            let v = f64::deserialize(d)?;
            super::super::interrupt::tick();
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
        #[serde(default)]
        #[allow(dead_code)] // verified by from_json
        sha256: Option<String>,
    }

    /// The optional training profile (see `crate::drift`).
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Profile {
        #[serde(default)]
        #[allow(dead_code)]
        rows: Option<u64>,
        columns: Vec<ColumnProfile>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ColumnProfile {
        column: String,
        #[serde(default)]
        null_rate: Option<Finite>,
        #[serde(default)]
        #[allow(dead_code)]
        mean: Option<Finite>,
        #[serde(default)]
        std: Option<Finite>,
        #[serde(default)]
        bin_edges: Option<Vec<Finite>>,
        #[serde(default)]
        bin_fractions: Option<Vec<Finite>>,
        #[serde(default)]
        categories: Option<Map<String, Value>>,
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

    /// `model.std_errors` and `profile` (formats 1 and 2): only read by the insight functions,
    /// but a wrong shape is refused at load like any other field.
    fn extras(
        std_errors: Option<&[Option<Finite>]>,
        profile: Option<&Profile>,
        features: usize,
        inputs: &[&str],
    ) -> Result<()> {
        if let Some(se) = std_errors {
            if se.len() != features {
                return Err(PipelineError::artifact(
                    "model.std_errors",
                    format!("has {} entries for {features} features", se.len()),
                ));
            }
            if let Some(i) = se
                .iter()
                .position(|e| e.as_ref().is_some_and(|v| v.0 < 0.0))
            {
                return Err(PipelineError::artifact(
                    format!("model.std_errors[{i}]"),
                    "is negative",
                ));
            }
        }
        let Some(profile) = profile else {
            return Ok(());
        };
        let share = |v: f64| (0.0..=1.0).contains(&v);
        for (i, c) in profile.columns.iter().enumerate() {
            let path = format!("profile.columns[{i}]");
            if !inputs.contains(&c.column.as_str()) {
                return Err(PipelineError::artifact(
                    format!("{path}.column"),
                    format!("is \"{}\", which is not one of the inputs", c.column),
                ));
            }
            if c.null_rate.as_ref().is_some_and(|v| !share(v.0)) {
                return Err(PipelineError::artifact(
                    format!("{path}.null_rate"),
                    "must be between 0 and 1",
                ));
            }
            if c.std.as_ref().is_some_and(|v| v.0 < 0.0) {
                return Err(PipelineError::artifact(
                    format!("{path}.std"),
                    "is negative",
                ));
            }
            match (&c.bin_edges, &c.bin_fractions) {
                (None, None) => {}
                (Some(e), Some(f)) => {
                    if f.len() != e.len() + 1 || e.windows(2).any(|w| w[0].0 > w[1].0) {
                        return Err(PipelineError::artifact(
                            format!("{path}.bin_edges"),
                            "must be ascending, with one fraction more than edges",
                        ));
                    }
                    if f.iter().any(|v| !share(v.0)) {
                        return Err(PipelineError::artifact(
                            format!("{path}.bin_fractions"),
                            "must be shares between 0 and 1",
                        ));
                    }
                }
                _ => {
                    return Err(PipelineError::artifact(
                        format!("{path}.bin_edges"),
                        "and bin_fractions come together",
                    ))
                }
            }
            if let Some(cats) = &c.categories {
                if let Some((k, _)) = cats.iter().find(|(_, v)| !v.as_f64().is_some_and(share)) {
                    return Err(PipelineError::artifact(
                        format!("{path}.categories.{k}"),
                        "must be a share between 0 and 1",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The same rules for a format 1 document (its extras are plain JSON until here).
    pub fn extras_v1(doc: &Value) -> Result<()> {
        fn typed<T: serde::de::DeserializeOwned>(
            v: Option<&Value>,
            field: &str,
        ) -> Result<Option<T>> {
            let Some(v) = v else { return Ok(None) };
            serde_path_to_error::deserialize(v).map(Some).map_err(|e| {
                let p = e.path().to_string();
                let at = if p == "." {
                    String::new()
                } else if p.starts_with('[') {
                    p
                } else {
                    format!(".{p}")
                };
                PipelineError::artifact(format!("{field}{at}"), describe_serde(e.inner()))
            })
        }
        let std_errors: Option<Vec<Option<Finite>>> =
            typed(doc.pointer("/model/std_errors"), "model.std_errors")?;
        let profile: Option<Profile> = typed(doc.get("profile"), "profile")?;
        let features = doc
            .pointer("/model/features")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let inputs: Vec<&str> = doc
            .get("inputs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|i| i.get("column").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        extras(std_errors.as_deref(), profile.as_ref(), features, &inputs)
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
            let artifact = Artifact {
                format_version: 2,
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
                    format!("is the text \"{t}\" ({strategy}); a numeric column's fill value must be a number"),
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
                    format!(
                        "repeats the level \"{level}\" (levels are compared by their text form)"
                    ),
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
}
