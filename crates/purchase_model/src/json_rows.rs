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
    /// The same entries in jsonb's key order (shorter first, then bytewise): a jsonb object's
    /// keys come in that order, so they are matched by one merge instead of one hash each.
    ordered: Vec<(Vec<u8>, Option<usize>)>,
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
        let mut ordered: Vec<(Vec<u8>, Option<usize>)> =
            known.iter().map(|(k, v)| (k.clone(), *v)).collect();
        ordered.sort_by(|a, b| jsonb_order(&a.0, &b.0));
        KeyRules {
            known,
            ordered,
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
        let mut next = 0;
        for key in keys {
            // Merge with `ordered` while the keys come in jsonb's order; a key that is not the
            // next known one (unknown, or keys in another order) is looked up in the map.
            while next < self.ordered.len()
                && jsonb_order(&self.ordered[next].0, key) == std::cmp::Ordering::Less
            {
                next += 1;
            }
            let entry = match self.ordered.get(next) {
                Some((k, v)) if k.as_slice() == key => {
                    next += 1;
                    Some(v)
                }
                _ => self.known.get(key),
            };
            match entry {
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

/// jsonb's object key order: shorter first, then bytewise.
fn jsonb_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
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

/// One JSON object read as a row of raw columns: serde_json's `Map` (here) and a binary jsonb
/// object (the extension's `predict_purchase_json`) both implement it, so both are checked and
/// prepared by the one [`prepare_row`].
pub trait JsonRow {
    /// The object's keys as stored (each once, as JSON objects and jsonb guarantee).
    fn keys(&self) -> impl Iterator<Item = &[u8]>;
    /// Field `column`: an absent key or `null` is missing, a string is text, a number a number,
    /// a boolean its scikit-learn text; anything else is `field_not_scalar`.
    fn field(&self, column: &str) -> Result<RawValue<'_>>;
}

impl JsonRow for Map<String, Value> {
    fn keys(&self) -> impl Iterator<Item = &[u8]> {
        Map::keys(self).map(|k| k.as_bytes())
    }

    fn field(&self, column: &str) -> Result<RawValue<'_>> {
        match self.get(column) {
            None | Some(Value::Null) => Ok(RawValue::Missing),
            Some(Value::String(s)) => Ok(RawValue::Text(s)),
            Some(Value::Number(n)) => Ok(RawValue::Number(n.as_f64().unwrap_or(f64::NAN))),
            Some(Value::Bool(b)) => Ok(RawValue::Text(if *b { "true" } else { "false" })),
            Some(other) => Err(field_not_scalar(column, json_type(other))),
        }
    }
}

/// Scratch space of [`prepare_row`], reused across rows (no allocation per row once grown).
#[derive(Default)]
pub struct RowScratch {
    seen: Vec<bool>,
    /// The row's prepared inputs, in model input order, after [`prepare_row`].
    pub prepared: Vec<Prepared>,
}

/// Checks a JSON row's keys (strict mode: `rules`; None is relaxed) and prepares each model
/// input from it into `scratch.prepared`. The first error wins: keys first, then the inputs in
/// model order.
pub fn prepare_row<R: JsonRow + ?Sized>(
    model: &CompiledModel,
    rules: Option<&KeyRules>,
    row: &R,
    scratch: &mut RowScratch,
) -> Result<()> {
    if let Some(rules) = rules {
        rules.check(row.keys(), &mut scratch.seen)?;
    }
    scratch.prepared.clear();
    for (i, input) in model.inputs.iter().enumerate() {
        let raw = row.field(&input.column)?;
        scratch.prepared.push(model.prepare(i, raw)?);
    }
    Ok(())
}

/// Where a value of an answer object comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerSlot {
    BusinessOutcome,
    PHat,
    /// Feature `f` of the model (`CompiledModel::features` order).
    Feature(usize),
}

impl AnswerSlot {
    /// Its index in the flat values `[business_outcome, p_hat, feature 0, feature 1, ...]`.
    #[inline]
    pub fn index(self) -> usize {
        match self {
            AnswerSlot::BusinessOutcome => 0,
            AnswerSlot::PHat => 1,
            AnswerSlot::Feature(f) => 2 + f,
        }
    }
}

/// The keys a JSON answer gives the score; no feature may be named like them (refused at load,
/// `Artifact::from_json`).
pub const SCORE_KEYS: [&str; 2] = ["business_outcome", "p_hat"];

/// The keys of an answer object and where each value comes from: `business_outcome` and `p_hat`
/// (when `with_score`), then the features in model order, each key once; a later key replaces
/// an earlier one of the same name (as building the object key by key does). The one source of
/// predict_purchase_json's answers, purchase_features' objects and [`service_answer_checked`].
/// In no particular order (JSON objects and jsonb order keys themselves).
pub fn answer_keys(model: &CompiledModel, with_score: bool) -> Vec<(&str, AnswerSlot)> {
    let [outcome, p_hat] = SCORE_KEYS;
    let score = [
        (outcome, AnswerSlot::BusinessOutcome),
        (p_hat, AnswerSlot::PHat),
    ];
    let all = score.into_iter().filter(|_| with_score).chain(
        model
            .features
            .iter()
            .enumerate()
            .map(|(f, feature)| (feature.name.as_str(), AnswerSlot::Feature(f))),
    );
    let mut unique: Vec<(&str, AnswerSlot)> = Vec::new();
    for (key, slot) in all {
        match unique.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = slot,
            None => unique.push((key, slot)),
        }
    }
    unique
}

/// The service's answer for element `index`: strict (every column the model reads present,
/// no key outside the artifact's inputs) unless `rules` is None, when absent columns are
/// missing values and unknown keys are ignored. Every error names the element.
pub fn service_answer_checked(
    model: &CompiledModel,
    rules: Option<&KeyRules>,
    row: &Map<String, Value>,
    index: usize,
) -> Result<Value> {
    let answer = || -> Result<Value> {
        let mut scratch = RowScratch::default();
        prepare_row(model, rules, row, &mut scratch)?;
        let prepared = &scratch.prepared;
        let score = model.score_prepared(prepared)?;
        let features = model.feature_values(prepared)?;
        let value = |slot: AnswerSlot| match slot {
            AnswerSlot::BusinessOutcome => Value::from(score.business_outcome),
            AnswerSlot::PHat => Value::from(score.p_hat),
            AnswerSlot::Feature(f) => Value::from(features[f].1),
        };
        Ok(Value::Object(
            answer_keys(model, true)
                .into_iter()
                .map(|(key, slot)| (key.to_string(), value(slot)))
                .collect(),
        ))
    };
    answer().map_err(|e| e.in_element(index))
}

pub fn score_json_row(
    model: &CompiledModel,
    row: &Map<String, Value>,
    index: usize,
) -> Result<Score> {
    model.score_with(|i| raw_from_json(row, &model.inputs[i].column, index))
}

/// The uncalibrated response of a JSON row (`CompiledModel::response_with`).
pub fn response_json_row(
    model: &CompiledModel,
    row: &Map<String, Value>,
    index: usize,
) -> Result<f64> {
    model.response_with(|i| raw_from_json(row, &model.inputs[i].column, index))
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
