//! The `pg_purchase.tree_pipeline` artifact, format version 1 (README, "The model artifact"):
//! the same inputs, cleaning, reference checks and RFC 8785 hash as the logistic format, with
//! a tree ensemble in `model`. Parsed with serde (unknown keys refused, the failing field
//! named), then validated and flattened by `Ensemble::build`.

use super::ensemble::{Ensemble, Library, MissingType, TreeSpec};
use crate::artifact::{CategoryEncoding, Check, Input, InputKind, MissingCategory, NumericStats};
use crate::artifact::{Output, MAX_LEVELS};
use crate::calibration::Calibration;
use crate::canonical::jcs_sha256;
use crate::error::{PipelineError, Result};
use crate::json_fields::{describe, field, object, string};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::collections::HashSet;

pub const FORMAT: &str = "pg_purchase.tree_pipeline";
pub const FORMAT_VERSION: i64 = 1;
/// Reference checks: float64 libraries agree to the bit in practice; XGBoost works in float32.
pub const TOLERANCE_F64: f64 = 1e-12;
pub const TOLERANCE_F32: f64 = 1e-6;

/// A parsed, validated tree artifact.
#[derive(Debug, Clone)]
pub struct TreeArtifact {
    pub inputs: Vec<Input>,
    pub features: Vec<String>,
    pub ensemble: Ensemble,
    pub threshold: f64,
    pub checks: Vec<Check>,
    pub other_columns: Vec<String>,
    pub sha256: String,
    pub calibration: Option<Calibration>,
}

impl TreeArtifact {
    /// The reference checks' tolerance for this library.
    pub fn tolerance(&self) -> f64 {
        tolerance(self.ensemble.library)
    }
}

pub fn tolerance(library: Library) -> f64 {
    match library {
        Library::XgBoost => TOLERANCE_F32,
        _ => TOLERANCE_F64,
    }
}

/// Whether `doc` claims this format (the loader's dispatch).
pub fn is_tree_document(doc: &Value) -> bool {
    doc.get("format").and_then(Value::as_str) == Some(FORMAT)
}

/// Parses a document, verifying its RFC 8785 hash (which it must carry).
pub fn from_json(doc: &Value) -> Result<TreeArtifact> {
    let top = header(doc)?;
    let claimed = string(field(top, "", "sha256")?, "sha256")?.to_ascii_lowercase();
    let canonical = jcs_sha256(top, "sha256")?;
    if claimed != canonical {
        return Err(PipelineError::artifact(
            "sha256",
            format!("is {claimed} but the content hashes to {canonical} (RFC 8785): the artifact was changed after export"),
        ));
    }
    parse(doc, canonical)
}

/// Parses a document verified when it was stored, under its stored hash.
pub fn from_stored_json(doc: &Value, sha256: &str) -> Result<TreeArtifact> {
    header(doc)?;
    parse(doc, sha256.to_string())
}

fn header(doc: &Value) -> Result<&Map<String, Value>> {
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
            format!(
                "is {}, this pg_purchase reads {FORMAT} version {FORMAT_VERSION}",
                describe(version)
            ),
        ));
    }
    Ok(top)
}

fn parse(doc: &Value, sha256: String) -> Result<TreeArtifact> {
    let parsed: Document = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            "(document)".into()
        } else {
            path
        };
        PipelineError::artifact(path, format!("is invalid: {}", e.inner()))
    })?;
    crate::artifact::check_profile(doc)?;
    parsed.validate(sha256)
}

/// A number, or "inf"/"-inf" (JSON has no infinity; HGB splits can have +inf thresholds).
#[derive(Debug, Clone, Copy)]
struct Threshold(f64);

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_f64()
                .filter(|v| v.is_finite())
                .map(Threshold)
                .ok_or_else(|| D::Error::custom("must be a finite number, \"inf\" or \"-inf\"")),
            Value::String(s) if s == "inf" => Ok(Threshold(f64::INFINITY)),
            Value::String(s) if s == "-inf" => Ok(Threshold(f64::NEG_INFINITY)),
            other => Err(D::Error::custom(format!(
                "must be a number, \"inf\" or \"-inf\", got {}",
                describe(&other)
            ))),
        }
    }
}

/// A finite number.
#[derive(Debug, Clone, Copy)]
struct Finite(f64);

impl<'de> Deserialize<'de> for Finite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        crate::interrupt::tick();
        if v.is_finite() {
            Ok(Finite(v))
        } else {
            Err(D::Error::custom(format!(
                "must be a finite number, got {v}"
            )))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[allow(dead_code)] // checked by header()
    format: String,
    #[allow(dead_code)]
    format_version: i64,
    inputs: Vec<InputDoc>,
    model: ModelDoc,
    threshold: Finite,
    #[serde(default)]
    #[allow(dead_code)]
    training: Option<Map<String, Value>>,
    #[serde(default)]
    checks: Vec<CheckDoc>,
    /// Checked by `check_profile`; read by `purchase_drift` from the stored document.
    #[serde(default)]
    #[allow(dead_code)]
    profile: Option<Value>,
    #[serde(default)]
    raw_columns: Option<Vec<String>>,
    /// The probability calibration (`crate::calibration`), validated there.
    #[serde(default)]
    calibration: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckDoc {
    row: Map<String, Value>,
    p_hat: Finite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Unknown {
    /// A category not seen in training reaches the trees as missing (NaN).
    Missing,
    /// ... or is an error.
    Error,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputDoc {
    column: String,
    kind: InputKind,
    /// The model feature this column becomes (its index in `model.features` is what the
    /// trees split on).
    feature: String,
    /// Numbers: the fill value of a SimpleImputer before the trees; without one a missing
    /// number reaches the trees as NaN.
    #[serde(default)]
    impute: Option<Finite>,
    /// Categories: the levels by their text form; level i reaches the trees as code i.
    #[serde(default)]
    categories: Option<Vec<String>>,
    #[serde(default)]
    unknown: Option<Unknown>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum LibraryDoc {
    #[serde(rename = "sklearn.HistGradientBoostingClassifier")]
    Hgb,
    #[serde(rename = "lightgbm")]
    LightGbm,
    #[serde(rename = "xgboost")]
    XgBoost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DType {
    Float64,
    Float32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelDoc {
    library: LibraryDoc,
    #[serde(default)]
    #[allow(dead_code)]
    library_version: Option<String>,
    features: Vec<String>,
    /// The raw score before the first tree: HGB's baseline prediction, 0 for LightGBM; for
    /// XGBoost the base margin in float32.
    baseline: Finite,
    /// What the library cast the features to before walking (LightGBM's Python package
    /// casts integer and float32 frames to float32; XGBoost always float32).
    input_dtype: DType,
    /// HGB: per feature, the categories seen in training (null for numeric features).
    #[serde(default)]
    known_categories: Option<Vec<Option<Vec<u32>>>>,
    trees: Vec<TreeDoc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum MissingDoc {
    None,
    Zero,
    NaN,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeDoc {
    left: Vec<i64>,
    right: Vec<i64>,
    feature: Vec<i64>,
    threshold: Vec<Threshold>,
    value: Vec<Finite>,
    default_left: Vec<bool>,
    #[serde(default)]
    missing_type: Option<Vec<MissingDoc>>,
    #[serde(default)]
    categories: Option<Vec<Option<Vec<u32>>>>,
    #[serde(default)]
    cover: Option<Vec<Finite>>,
    /// The library's split gain per node (leaves: 0), for `purchase_model_weights`.
    #[serde(default)]
    gain: Option<Vec<Finite>>,
}

impl Document {
    fn validate(self, sha256: String) -> Result<TreeArtifact> {
        let library = match self.model.library {
            LibraryDoc::Hgb => Library::Hgb,
            LibraryDoc::LightGbm => Library::LightGbm,
            LibraryDoc::XgBoost => Library::XgBoost,
        };
        let features = self.model.features;
        if features.is_empty() {
            return Err(PipelineError::artifact("model.features", "is empty"));
        }
        let mut names = HashSet::with_capacity(features.len());
        if let Some(f) = features.iter().position(|f| !names.insert(f.as_str())) {
            return Err(PipelineError::artifact(
                format!("model.features[{f}]"),
                format!("repeats \"{}\"", features[f]),
            ));
        }
        if !(self.threshold.0 > 0.0 && self.threshold.0 < 1.0) {
            return Err(PipelineError::artifact(
                "threshold",
                format!(
                    "is {}, it must lie strictly between 0 and 1",
                    self.threshold.0
                ),
            ));
        }
        if self.inputs.is_empty() {
            return Err(PipelineError::artifact("inputs", "is empty"));
        }
        let mut columns = HashSet::with_capacity(self.inputs.len());
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for (i, input) in self.inputs.into_iter().enumerate() {
            let path = format!("inputs[{i}]");
            if input.column.is_empty() {
                return Err(PipelineError::artifact(
                    format!("{path}.column"),
                    "is empty",
                ));
            }
            if !columns.insert(input.column.clone()) {
                return Err(PipelineError::artifact(
                    format!("{path}.column"),
                    format!("repeats column \"{}\"", input.column),
                ));
            }
            inputs.push(tree_input(input, &path)?);
        }
        let missing = library == Library::LightGbm;
        let trees: Vec<TreeSpec> = self
            .model
            .trees
            .into_iter()
            .enumerate()
            .map(|(t, tree)| {
                if tree.missing_type.is_some() != missing {
                    return Err(PipelineError::artifact(
                        format!("model.trees[{t}].missing_type"),
                        if missing {
                            "is required for LightGBM trees"
                        } else {
                            "is LightGBM's; this model's library has none"
                        },
                    ));
                }
                Ok(TreeSpec {
                    left: tree.left,
                    right: tree.right,
                    feature: tree.feature,
                    threshold: tree.threshold.into_iter().map(|t| t.0).collect(),
                    value: tree.value.into_iter().map(|v| v.0).collect(),
                    default_left: tree.default_left,
                    missing: tree.missing_type.map(|m| {
                        m.into_iter()
                            .map(|m| match m {
                                MissingDoc::None => MissingType::None,
                                MissingDoc::Zero => MissingType::Zero,
                                MissingDoc::NaN => MissingType::NaN,
                            })
                            .collect()
                    }),
                    categories: tree.categories,
                    cover: tree.cover.map(|c| c.into_iter().map(|v| v.0).collect()),
                    gain: tree.gain.map(|g| g.into_iter().map(|v| v.0).collect()),
                })
            })
            .collect::<Result<_>>()?;
        if self.model.known_categories.is_some() && library != Library::Hgb {
            return Err(PipelineError::artifact(
                "model.known_categories",
                "is HistGradientBoosting's; this model's library has none",
            ));
        }
        let input_f32 = match (library, self.model.input_dtype) {
            (Library::XgBoost, DType::Float64) => {
                return Err(PipelineError::artifact(
                    "model.input_dtype",
                    "is float64, but XGBoost always reads float32",
                ))
            }
            (_, d) => d == DType::Float32,
        };
        let ensemble = Ensemble::build(
            library,
            features.len(),
            self.model.baseline.0,
            input_f32,
            &trees,
            self.model.known_categories.as_deref().unwrap_or(&[]),
        )?;
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
        Ok(TreeArtifact {
            calibration,
            inputs,
            features,
            ensemble,
            threshold: self.threshold.0,
            checks,
            other_columns: self.raw_columns.unwrap_or_default(),
            sha256,
        })
    }
}

fn tree_input(input: InputDoc, path: &str) -> Result<Input> {
    let outputs = vec![(input.feature, Output::Value)];
    if input.kind.is_numeric() {
        if input.categories.is_some() || input.unknown.is_some() {
            return Err(PipelineError::artifact(
                format!("{path}.categories"),
                format!(
                    "is set on the numeric column \"{}\"; only category columns have levels",
                    input.column
                ),
            ));
        }
        return Ok(Input {
            column: input.column,
            kind: input.kind,
            numeric: Some(NumericStats {
                impute: input.impute.map(|v| v.0),
                scale_mean: 0.0,
                scale: 1.0,
            }),
            encoding: None,
            outputs,
        });
    }
    if input.impute.is_some() {
        return Err(PipelineError::artifact(
            format!("{path}.impute"),
            format!(
                "is set on the category column \"{}\"; a missing category reaches the trees as missing",
                input.column
            ),
        ));
    }
    let levels = input.categories.ok_or_else(|| {
        PipelineError::artifact(
            format!("{path}.categories"),
            "is missing (a category column lists its levels)",
        )
    })?;
    if levels.len() > MAX_LEVELS {
        return Err(PipelineError::artifact(
            format!("{path}.categories"),
            format!("has more than {MAX_LEVELS} levels"),
        ));
    }
    let mut seen = HashSet::with_capacity(levels.len());
    if let Some(l) = levels.iter().position(|l| !seen.insert(l.as_str())) {
        return Err(PipelineError::artifact(
            format!("{path}.categories[{l}]"),
            format!("repeats the level \"{}\"", levels[l]),
        ));
    }
    let unknown_is_error = input.unknown.unwrap_or(Unknown::Missing) == Unknown::Error;
    Ok(Input {
        column: input.column,
        kind: input.kind,
        numeric: None,
        encoding: Some(CategoryEncoding {
            levels,
            missing: MissingCategory::AllZeros,
            unknown_is_error,
        }),
        outputs,
    })
}
