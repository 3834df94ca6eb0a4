//! Small typed accessors over `serde_json::Value` that name the exact field path in errors,
//! so a bad artifact is rejected with "field \"model.coefficients[3]\" must be a finite number".

use super::error::{PipelineError, Result};
use serde_json::{Map, Value};

pub fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| {
        PipelineError::artifact(path, format!("must be an object, got {}", describe(v)))
    })
}

pub fn field<'a>(obj: &'a Map<String, Value>, parent: &str, name: &str) -> Result<&'a Value> {
    obj.get(name)
        .ok_or_else(|| PipelineError::artifact(join(parent, name), "is missing"))
}

pub fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str> {
    v.as_str().ok_or_else(|| {
        PipelineError::artifact(path, format!("must be a string, got {}", describe(v)))
    })
}

pub fn finite(v: &Value, path: &str) -> Result<f64> {
    match v.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(PipelineError::artifact(
            path,
            format!("must be a finite number, got {}", describe(v)),
        )),
    }
}

pub fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>> {
    v.as_array().ok_or_else(|| {
        PipelineError::artifact(path, format!("must be an array, got {}", describe(v)))
    })
}

pub fn strings(v: &Value, path: &str) -> Result<Vec<String>> {
    array(v, path)?
        .iter()
        .enumerate()
        .map(|(i, x)| string(x, &format!("{path}[{i}]")).map(str::to_string))
        .collect()
}

pub fn finites(v: &Value, path: &str) -> Result<Vec<f64>> {
    array(v, path)?
        .iter()
        .enumerate()
        .map(|(i, x)| finite(x, &format!("{path}[{i}]")))
        .collect()
}

pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// A short description of a JSON value for error messages (never the whole document).
pub fn describe(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}
