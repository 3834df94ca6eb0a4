//! Raw rows as JSON objects (the old web service's input, and the artifact's reference checks).

use super::error::{PipelineError, Result};
use super::model::{CompiledModel, Prepared, RawValue, Score};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Reads `column` of a JSON object; an absent key or `null` is missing.
pub fn raw_from_json<'a>(
    row: &'a Map<String, Value>,
    column: &str,
    index: usize,
) -> Result<RawValue<'a>> {
    match row.get(column) {
        None | Some(Value::Null) => Ok(RawValue::Missing),
        Some(Value::String(s)) => Ok(RawValue::Text(s)),
        Some(Value::Number(n)) => Ok(RawValue::Number(n.as_f64().unwrap_or(f64::NAN))),
        // A boolean category code, by scikit-learn's text of it.
        Some(Value::Bool(b)) => Ok(RawValue::Text(if *b { "true" } else { "false" })),
        Some(other) => Err(not_scalar(index, column, json_type(other))),
    }
}

/// The error for a field that is neither a number, a string nor null.
pub fn not_scalar(index: usize, column: &str, found: &str) -> PipelineError {
    PipelineError::InvalidInput(format!(
        "row {index}: field \"{column}\" is {found}, expected a number, a string or null"
    ))
}

/// The error for an input element that is not an object.
pub fn not_an_object(index: usize, found: &str) -> PipelineError {
    PipelineError::InvalidInput(format!(
        "element {index} of the input is {found}, expected an object of raw columns"
    ))
}

/// The error for an input document that is neither an object nor an array.
pub fn not_rows(found: &str) -> PipelineError {
    PipelineError::InvalidInput(format!(
        "the input is {found}, expected an object or an array of objects"
    ))
}

/// The error for a field that is neither a number, a string nor null, without the element
/// index (the caller wraps it with `in_element`).
pub fn field_not_scalar(column: &str, found: &str) -> PipelineError {
    PipelineError::InvalidInput(format!(
        "field \"{column}\" is {found}, expected a number, a string or null"
    ))
}

/// Which keys a JSON row may and must carry in strict mode (predict_purchase_json's default):
/// every column the model reads must be present (null is fine: missing), and every key must be
/// one of the artifact's raw input columns. Built once per call, checked per row.
pub struct KeyRules {
    /// Raw input column (as bytes: jsonb keys are compared as stored) -> the model input it
    /// feeds, if the model reads it.
    known: HashMap<Vec<u8>, Option<usize>>,
    /// Model input index -> column, for the "lacks column" error.
    required: Vec<String>,
}

impl KeyRules {
    pub fn new(model: &CompiledModel) -> KeyRules {
        let mut known: HashMap<Vec<u8>, Option<usize>> = model
            .raw_columns
            .iter()
            .map(|c| (c.as_bytes().to_vec(), None))
            .collect();
        for (i, input) in model.inputs.iter().enumerate() {
            known.insert(input.column.as_bytes().to_vec(), Some(i));
        }
        KeyRules {
            known,
            required: model.columns().map(str::to_string).collect(),
        }
    }

    /// Checks the keys of one object (each key once, as JSON objects and jsonb guarantee).
    /// `seen` is scratch space reused across rows.
    pub fn check<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
        seen: &mut Vec<bool>,
    ) -> Result<()> {
        seen.clear();
        seen.resize(self.required.len(), false);
        let mut found = 0;
        for key in keys {
            match self.known.get(key) {
                None => return Err(unknown_key(key)),
                Some(Some(i)) => {
                    if !std::mem::replace(&mut seen[*i], true) {
                        found += 1;
                    }
                }
                Some(None) => {}
            }
        }
        if found < self.required.len() {
            let missing = seen.iter().position(|s| !s).unwrap_or(0);
            return Err(PipelineError::MissingKey(self.required[missing].clone()));
        }
        Ok(())
    }
}

fn unknown_key(key: &[u8]) -> PipelineError {
    let text = String::from_utf8_lossy(key);
    let shown = if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text.into_owned()
    };
    PipelineError::UnknownKey(shown)
}

/// The service's answer for element `index`: strict (every column the model reads present,
/// no key outside the artifact's inputs) unless `strict` is false, when absent columns are
/// missing values and unknown keys are ignored. Every error names the element.
pub fn service_answer_checked(
    model: &CompiledModel,
    rules: Option<&KeyRules>,
    row: &Map<String, Value>,
    index: usize,
) -> Result<Value> {
    let checked = || -> Result<Value> {
        if let Some(rules) = rules {
            rules.check(row.keys().map(|k| k.as_bytes()), &mut Vec::new())?;
        }
        answer_from(model, |i| {
            let column = &model.inputs[i].column;
            match row.get(column) {
                None | Some(Value::Null) => Ok(RawValue::Missing),
                Some(Value::String(s)) => Ok(RawValue::Text(s)),
                Some(Value::Number(n)) => Ok(RawValue::Number(n.as_f64().unwrap_or(f64::NAN))),
                Some(Value::Bool(b)) => Ok(RawValue::Text(if *b { "true" } else { "false" })),
                Some(other) => Err(field_not_scalar(column, json_type(other))),
            }
        })
    };
    checked().map_err(|e| e.in_element(index))
}

pub fn score_json_row(
    model: &CompiledModel,
    row: &Map<String, Value>,
    index: usize,
) -> Result<Score> {
    model.score_with(|i| raw_from_json(row, &model.inputs[i].column, index))
}

/// The service's answer for a row whose raw input `i` is `raw(i)`, from any source of rows.
pub fn answer_from<'a, F>(model: &CompiledModel, mut raw: F) -> Result<Value>
where
    F: FnMut(usize) -> Result<RawValue<'a>>,
{
    let prepared: Vec<Prepared> = (0..model.inputs.len())
        .map(|i| model.prepare(i, raw(i)?))
        .collect::<Result<_>>()?;
    let score = model.score_prepared(&prepared)?;
    let mut out = Map::new();
    out.insert(
        "business_outcome".into(),
        Value::from(score.business_outcome),
    );
    out.insert("p_hat".into(), Value::from(score.p_hat));
    let mut feats = model.feature_values(&prepared)?;
    feats.sort_by(|a, b| a.0.cmp(b.0));
    for (name, v) in feats {
        out.insert(name.to_string(), Value::from(v));
    }
    Ok(Value::Object(out))
}

pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
