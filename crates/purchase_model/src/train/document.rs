//! The trained model as an artifact of format 2 (README "The model artifact"), written from
//! Serialize structs and hashed by RFC 8785, so a trained model is exactly what the exporter
//! writes and the format-2 loader reads: `finish` parses the document back through
//! `Artifact::from_json` before anyone stores it.

use super::TrainError;
use crate::artifact::{Artifact, InputKind, FORMAT};
use crate::canonical::jcs_sha256;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Serialize)]
pub struct Document<'a> {
    pub format: &'static str,
    pub format_version: i64,
    pub inputs: Vec<InputDoc<'a>>,
    pub model: ModelDoc<'a>,
    pub threshold: f64,
    /// Free-form metadata: source, options, metrics (added by `finish`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Value>,
}

#[derive(Serialize)]
pub struct InputDoc<'a> {
    pub column: &'a str,
    /// number, money, percent or category (`super::kind_name`).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imputer: Option<ImputerDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaler: Option<ScalerDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder: Option<EncoderDoc<'a>>,
    /// A numeric column's output name (the column's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<&'a str>,
}

#[derive(Serialize)]
pub struct ImputerDoc {
    pub class: &'static str,
    pub strategy: &'static str,
    pub fill: f64,
}

#[derive(Serialize)]
pub struct ScalerDoc {
    pub class: &'static str,
    pub with_mean: bool,
    pub with_std: bool,
    pub mean: f64,
    pub scale: f64,
}

#[derive(Serialize)]
pub struct EncoderDoc<'a> {
    pub class: &'static str,
    pub categories: &'a [String],
    pub missing_category: bool,
    pub drop: &'static str,
    pub handle_unknown: &'static str,
    pub features: Vec<String>,
}

#[derive(Serialize)]
pub struct ModelDoc<'a> {
    pub class: &'static str,
    pub features: &'a [String],
    pub coefficients: &'a [f64],
    pub intercept: f64,
    pub std_errors: &'a [f64],
}

impl InputDoc<'_> {
    /// A numeric column: mean imputation and standard scaling, output named after the column.
    pub fn numeric(
        column: &str,
        kind: InputKind,
        impute_mean: f64,
        scale_mean: f64,
        scale: f64,
    ) -> InputDoc<'_> {
        InputDoc {
            column,
            kind: super::kind_name(kind),
            imputer: Some(ImputerDoc {
                class: "sklearn.impute.SimpleImputer",
                strategy: "mean",
                fill: impute_mean,
            }),
            scaler: Some(ScalerDoc {
                class: "sklearn.preprocessing.StandardScaler",
                with_mean: true,
                with_std: true,
                mean: scale_mean,
                scale,
            }),
            encoder: None,
            feature: Some(column),
        }
    }

    /// A category: one-hot over the training levels (sorted), the first dropped, missing values
    /// a category of their own when the training rows had any, unknown levels all zeros.
    pub fn category<'a>(column: &'a str, levels: &'a [String], missing: bool) -> InputDoc<'a> {
        let mut features: Vec<String> = levels[1..]
            .iter()
            .map(|l| super::level_feature(column, l))
            .collect();
        if missing {
            features.push(super::missing_feature(column));
        }
        InputDoc {
            column,
            kind: super::kind_name(InputKind::Category),
            imputer: None,
            scaler: None,
            encoder: Some(EncoderDoc {
                class: "sklearn.preprocessing.OneHotEncoder",
                categories: levels,
                missing_category: missing,
                drop: "first",
                handle_unknown: "ignore",
                features,
            }),
            feature: None,
        }
    }
}

impl Document<'_> {
    /// The document as JSON with its RFC 8785 `sha256`, and what the format-2 loader reads
    /// from it (so a document the loader would refuse never leaves training).
    pub fn finish(&self) -> Result<(Value, Artifact), TrainError> {
        let mut doc = serde_json::to_value(self).map_err(|e| {
            TrainError::numeric(
                format!("the trained model cannot be written as JSON: {e}"),
                "This is a bug of pg_purchase; please report it with the training data's shape.",
            )
        })?;
        let top = doc
            .as_object_mut()
            .expect("a struct serialises to an object");
        let sha = jcs_sha256(top, "sha256")?;
        top.insert("sha256".into(), Value::String(sha));
        let artifact = Artifact::from_json(&doc)?;
        Ok((doc, artifact))
    }
}

pub fn new_document<'a>(
    inputs: Vec<InputDoc<'a>>,
    model: ModelDoc<'a>,
    threshold: f64,
) -> Document<'a> {
    Document {
        format: FORMAT,
        format_version: 2,
        inputs,
        model,
        threshold,
        training: None,
        checks: Vec::new(),
        profile: None,
    }
}
