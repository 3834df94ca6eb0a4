//! The model artifact: one versioned JSON document holding the whole fitted pipeline. Both
//! formats are read into one validated `Artifact` (inputs with their cleaning kind and
//! per-column transforms, the named outputs they produce, the logistic model, threshold,
//! reference checks, sha256); README ("The model artifact") documents the formats.
//!
//! One file per concern:
//! * `v2.rs`: format 2 (what `pg_purchase.export_pipeline` writes), parsed with serde derive:
//!   unknown keys and unsupported values are errors naming the field (`serde_path_to_error`),
//!   closed choices are enums, numbers go through the `Finite` newtype; cross-field rules live
//!   in one `validate()`.
//! * `v1.rs`: format 1 (the first release's, possibly stored in a catalog), read by a frozen
//!   hand-written parser; it is never written again.
//! * `extras.rs`: `model.std_errors` and `profile`, the same rules for both formats.
//! * `hash.rs`: which hash a document is stored under (RFC 8785, or format 1's old rule).
//! * this file: the common types, the `Artifact` API and the rules every format shares.

mod extras;
mod hash;
mod v1;
mod v2;

use super::error::{PipelineError, Result};
use super::json_fields::{describe, field, object, string};
use super::json_rows::SCORE_KEYS;
use serde::Deserialize;
use serde_json::{Map, Value};

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
    /// Optional probability calibration of the logistic score (`calibration` in any format).
    pub calibration: Option<crate::calibration::Calibration>,
}

impl Artifact {
    /// Parses and validates a whole artifact document, verifying its hash.
    pub fn from_json(doc: &Value) -> Result<Artifact> {
        let (version, sha256) = hash::verified_hash(doc)?;
        if version == 1 {
            v1::check_v1_keys(doc)?;
        }
        Self::parse(doc, version, sha256)?.without_reserved_features()
    }

    /// Like `from_json`, consuming the document: format 2's strings move into the artifact
    /// instead of being copied, so a large artifact is not held twice while it is validated.
    pub fn from_value(doc: Value) -> Result<Artifact> {
        let (version, sha256) = hash::verified_hash(&doc)?;
        let artifact = if version == 2 {
            v2::parse_v2(doc, sha256)?
        } else {
            v1::check_v1_keys(&doc)?;
            v1::parse_v1(&doc, sha256)?
        };
        artifact.without_reserved_features()
    }

    /// Refuses a feature named like a score key of the JSON answers (`p_hat`,
    /// `business_outcome`), which would silently take the score's place there. Checked when an
    /// artifact is loaded, not when a stored one is read back (as format 1's keys are).
    fn without_reserved_features(self) -> Result<Artifact> {
        if let Some(index) = self
            .features
            .iter()
            .position(|f| SCORE_KEYS.contains(&f.as_str()))
        {
            return Err(PipelineError::ReservedFeature {
                index,
                name: self.features[index].clone(),
            });
        }
        Ok(self)
    }

    /// Parses an artifact that was verified when it was stored (its hash is known and its
    /// reference checks passed), so a backend's first call does not re-hash it.
    pub fn from_stored_json(doc: &Value, sha256: &str) -> Result<Artifact> {
        let version = format_version(object(doc, "(document)")?)?;
        Self::parse(doc, version, sha256.to_string())
    }

    fn parse(doc: &Value, version: i64, sha256: String) -> Result<Artifact> {
        if version == 2 {
            return v2::parse_v2(doc, sha256);
        }
        v1::parse_v1(doc, sha256)
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

/// The training profile's rules, for another artifact format (the tree format's hook).
pub fn check_profile(doc: &Value) -> Result<()> {
    extras::extras_v1(doc)
}
