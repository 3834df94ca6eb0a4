//! Raw rows as JSON objects (the old web service's input, and the artifact's reference checks).

use super::error::{PipelineError, Result};
use super::model::{CompiledModel, Prepared, RawValue, Score};
use serde_json::{Map, Value};

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

pub fn score_json_row(
    model: &CompiledModel,
    row: &Map<String, Value>,
    index: usize,
) -> Result<Score> {
    model.score_with(|i| raw_from_json(row, &model.inputs[i].column, index))
}

/// The web service's answer for one row: business_outcome, p_hat and every feature.
pub fn service_answer(
    model: &CompiledModel,
    row: &Map<String, Value>,
    index: usize,
) -> Result<Value> {
    answer_from(model, |i| {
        raw_from_json(row, &model.inputs[i].column, index)
    })
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
