//! Format 1, the first release's artifact: READ-ONLY AND FROZEN. Nothing writes format 1 any
//! more (the exporter and training write format 2); this parser exists only so that artifacts
//! of the first release, and catalogs that store them, keep loading and scoring exactly as
//! before. Do not change what it accepts or how it reads a document: a change here changes
//! the meaning of models already stored. New fields and model kinds go into format 2.

use super::{
    extras, Artifact, CategoryEncoding, Check, Input, InputKind, MissingCategory, NumericStats,
    Output,
};
use crate::calibration::Calibration;
use crate::error::{PipelineError, Result};
use crate::interrupt::check_interrupts;
use crate::json_fields::{array, describe, field, finite, finites, object, string, strings};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

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
}

/// Reads a format 1 document (its keys already checked by `check_v1_keys` when loaded).
pub(super) fn parse_v1(doc: &Value, sha256: String) -> Result<Artifact> {
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
    let calibration = match top.get("calibration") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Calibration::from_json(v)?),
    };
    let artifact = Artifact {
        format_version: 1,
        calibration,
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

/// Format 1's keys and class names, checked when a format 1 artifact is loaded (not when a
/// stored one is read back, so a catalog written by an older release keeps scoring): what the
/// first release's exporter wrote, nothing it would have ignored.
pub(super) fn check_v1_keys(doc: &Value) -> Result<()> {
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
            "calibration",
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
    extras::extras_v1(doc)
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
