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
        Some(other) => Err(PipelineError::InvalidInput(format!(
            "row {index}: field \"{column}\" is {}, expected a number, a string or null",
            json_type(other)
        ))),
    }
}

/// Prepares every model input of one JSON row.
pub fn prepare_json_row(
    model: &CompiledModel,
    row: &Map<String, Value>,
    index: usize,
) -> Result<Vec<Prepared>> {
    model
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| model.prepare(i, raw_from_json(row, &input.column, index)?))
        .collect()
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
    let prepared = prepare_json_row(model, row, index)?;
    let z = model.intercept
        + prepared
            .iter()
            .enumerate()
            .map(|(i, p)| model.contribution(i, *p))
            .sum::<f64>();
    let score = model.score_from_logit(z);
    let mut out = Map::new();
    out.insert(
        "business_outcome".into(),
        Value::from(score.business_outcome),
    );
    out.insert("p_hat".into(), Value::from(score.p_hat));
    let mut feats = model.feature_values(&prepared);
    feats.sort_by(|a, b| a.0.cmp(b.0));
    for (name, v) in feats {
        out.insert(name.to_string(), Value::from(v));
    }
    Ok(Value::Object(out))
}

/// Scores a JSON document holding one object or an array of objects, in input order.
pub fn service_answers(model: &CompiledModel, rows: &Value) -> Result<Vec<Value>> {
    match rows {
        Value::Object(row) => Ok(vec![service_answer(model, row, 0)?]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(row) => service_answer(model, row, i),
                other => Err(PipelineError::InvalidInput(format!(
                    "element {i} of the input is {}, expected an object of raw columns",
                    json_type(other)
                ))),
            })
            .collect(),
        other => Err(PipelineError::InvalidInput(format!(
            "the input is {}, expected an object or an array of objects",
            json_type(other)
        ))),
    }
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
