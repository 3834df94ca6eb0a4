//! Raw rows as JSON objects (the old web service's input, and the artifact's reference checks).

use super::error::{PipelineError, Result};
use super::model::{CompiledModel, Prepared, RawValue, Score};
use serde_json::{Map, Value};
use std::cmp::Ordering;
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

/// Which keys a JSON row may and must carry, and where the model's columns are among them.
/// Strict mode (predict_purchase_json's default): every column the model reads must be present
/// (null is fine: missing), and every key must be one of the artifact's raw input columns.
/// Relaxed mode: absent columns are missing values and other keys are ignored. Built once per
/// call, used per row.
pub struct KeyRules {
    strict: bool,
    /// Key (as bytes: jsonb keys are compared as stored) -> its entry in `ordered`.
    known: HashMap<Vec<u8>, usize>,
    /// The known keys in jsonb's key order (shorter first, then bytewise), each with the model
    /// inputs that read it: a jsonb object's keys come in that order, so they are matched by
    /// one merge instead of one lookup each.
    ordered: Vec<(Vec<u8>, Vec<usize>)>,
    /// `ordered`'s keys as [`OrderKey`]s.
    order_keys: Vec<OrderKey>,
    /// Model input index -> column, for the "lacks column" error.
    required: Vec<String>,
}

/// `KeyRules::locate`'s mark of an input whose column is not among the keys.
pub const ABSENT: usize = usize::MAX;

impl KeyRules {
    /// Strict mode's rules.
    pub fn new(model: &CompiledModel) -> KeyRules {
        KeyRules::build(model, true)
    }

    /// Relaxed mode's rules.
    pub fn relaxed(model: &CompiledModel) -> KeyRules {
        KeyRules::build(model, false)
    }

    fn build(model: &CompiledModel, strict: bool) -> KeyRules {
        let mut readers: HashMap<&[u8], Vec<usize>> = HashMap::new();
        if strict {
            for c in &model.raw_columns {
                readers.entry(c.as_bytes()).or_default();
            }
        }
        for (i, input) in model.inputs.iter().enumerate() {
            readers.entry(input.column.as_bytes()).or_default().push(i);
        }
        let mut ordered: Vec<(Vec<u8>, Vec<usize>)> =
            readers.into_iter().map(|(k, v)| (k.to_vec(), v)).collect();
        ordered.sort_by(|a, b| jsonb_order(&a.0, &b.0));
        KeyRules {
            strict,
            order_keys: ordered.iter().map(|(k, _)| OrderKey::of(k)).collect(),
            known: ordered
                .iter()
                .enumerate()
                .map(|(e, (k, _))| (k.clone(), e))
                .collect(),
            ordered,
            required: model.columns().map(str::to_string).collect(),
        }
    }

    /// Checks the keys of one object (each key once, as JSON objects and jsonb guarantee) and
    /// sets `positions[i]` to the position among them of model input i's column, or [`ABSENT`].
    /// Strict mode: the first unknown key in the given order is an error, then the first absent
    /// column in model input order. `positions` is scratch space reused across rows.
    pub fn check<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
        positions: &mut Vec<usize>,
    ) -> Result<()> {
        positions.clear();
        positions.resize(self.required.len(), ABSENT);
        let mut next = 0;
        let mut previous: (OrderKey, &[u8]) = (OrderKey::of(&[]), &[]);
        let mut in_order = true;
        for (position, key) in keys.into_iter().enumerate() {
            let this = (OrderKey::of(key), key);
            // Merge with `ordered` while the keys have come in jsonb's order (a binary jsonb
            // object's always do): a key the merge passes over is then known to be unknown.
            // Once a key breaks that order (a serde_json map's can), the merge may have passed
            // known keys, so every key it does not find is looked up in the map.
            in_order &= position == 0 || OrderKey::compare(previous, this) == Ordering::Less;
            previous = this;
            let mut entry = None;
            while let Some(&k) = self.order_keys.get(next) {
                match OrderKey::compare((k, &self.ordered[next].0), this) {
                    Ordering::Less => next += 1,
                    Ordering::Equal => {
                        entry = Some(next);
                        next += 1;
                        break;
                    }
                    Ordering::Greater => break,
                }
            }
            if entry.is_none() && !in_order {
                entry = self.known.get(key).copied();
            }
            match entry {
                Some(e) => {
                    for &i in &self.ordered[e].1 {
                        positions[i] = position;
                    }
                }
                None if self.strict => return Err(unknown_key(key)),
                None => {}
            }
        }
        if self.strict {
            if let Some(missing) = positions.iter().position(|&p| p == ABSENT) {
                return Err(PipelineError::MissingKey(self.required[missing].clone()));
            }
        }
        Ok(())
    }
}

/// jsonb's object key order: shorter first, then bytewise.
fn jsonb_order(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A key's place in jsonb's order, compared without a memcmp call (most of the merge's time
/// with one): its length, then its first 8 bytes as a big-endian word, zero-padded, which for
/// keys of one length orders as their bytes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    len: usize,
    head: u64,
}

impl OrderKey {
    #[inline]
    fn of(key: &[u8]) -> OrderKey {
        let head = match key.first_chunk::<8>() {
            Some(head) => u64::from_be_bytes(*head),
            None => key
                .iter()
                .enumerate()
                .fold(0u64, |w, (i, &b)| w | (u64::from(b) << (56 - 8 * i))),
        };
        OrderKey {
            len: key.len(),
            head,
        }
    }

    /// [`jsonb_order`] of two keys given with their `OrderKey`s.
    #[inline]
    fn compare(a: (OrderKey, &[u8]), b: (OrderKey, &[u8])) -> Ordering {
        a.0.cmp(&b.0).then_with(|| match a.1.get(8..) {
            Some(rest) => rest.cmp(&b.1[8..]),
            None => Ordering::Equal,
        })
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

/// One JSON object read as a row of raw columns: serde_json's `Map` (here) and a binary jsonb
/// object (the extension's `predict_purchase_json`) both implement it, so both are checked and
/// prepared by the one [`prepare_row`].
pub trait JsonRow {
    /// The object's keys as stored (each once, as JSON objects and jsonb guarantee).
    fn keys(&self) -> impl Iterator<Item = &[u8]>;
    /// Field `column`: an absent key or `null` is missing, a string is text, a number a number,
    /// a boolean its scikit-learn text; anything else is `field_not_scalar`.
    fn field(&self, column: &str) -> Result<RawValue<'_>>;
    /// Field `column`, whose key is the `position`-th of [`JsonRow::keys`], read as
    /// [`JsonRow::field`] reads it (a binary jsonb object reads it in place, without a search).
    fn field_at(&self, position: usize, column: &str) -> Result<RawValue<'_>> {
        let _ = position;
        self.field(column)
    }
    /// Whether this object's keys are those `memo` records (the same keys in the same order),
    /// updating `memo` to this object's keys when they are not. A binary jsonb object answers
    /// with one comparison of its key area, so rows with the keys of the row before skip the
    /// key merge; the default never claims so.
    fn same_keys(&self, memo: &mut Vec<u8>) -> bool {
        let _ = memo;
        false
    }
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
    positions: Vec<usize>,
    /// The keys of the last row seen ([`JsonRow::same_keys`]), and whether they passed the key
    /// check, so that `positions` are theirs.
    keys_memo: Vec<u8>,
    keys_checked: bool,
    /// The row's prepared inputs, in model input order, after [`prepare_row`].
    pub prepared: Vec<Prepared>,
}

/// Checks a JSON row's keys and prepares each model input from it into `scratch.prepared`.
/// With `rules` (strict or relaxed, [`KeyRules`]) the keys are matched once and each field is
/// read at its position (a row with the keys of the row before reuses its check and positions:
/// one `scratch` serves one `rules`); None reads each column by name, relaxed. The first error
/// wins: keys first, then the inputs in model order.
pub fn prepare_row<R: JsonRow + ?Sized>(
    model: &CompiledModel,
    rules: Option<&KeyRules>,
    row: &R,
    scratch: &mut RowScratch,
) -> Result<()> {
    scratch.prepared.clear();
    match rules {
        Some(rules) => {
            let same = row.same_keys(&mut scratch.keys_memo);
            if !(same && scratch.keys_checked) {
                scratch.keys_checked = false;
                rules.check(row.keys(), &mut scratch.positions)?;
                scratch.keys_checked = true;
            }
            for (i, input) in model.inputs.iter().enumerate() {
                let raw = match scratch.positions[i] {
                    ABSENT => RawValue::Missing,
                    p => row.field_at(p, &input.column)?,
                };
                scratch.prepared.push(model.prepare(i, raw)?);
            }
        }
        None => {
            for (i, input) in model.inputs.iter().enumerate() {
                let raw = row.field(&input.column)?;
                scratch.prepared.push(model.prepare(i, raw)?);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]
        /// The word comparison orders keys as jsonb does: lengths on both sides of 8, shared
        /// prefixes, any bytes (0x00 and 0xff included, where zero padding could mislead).
        #[test]
        fn order_keys_order_as_jsonb(
                prefix in prop::collection::vec(prop_oneof![Just(0u8), Just(255u8), any::<u8>()], 0..10),
                a in prop::collection::vec(prop_oneof![Just(0u8), Just(255u8), any::<u8>()], 0..12),
                b in prop::collection::vec(prop_oneof![Just(0u8), Just(255u8), any::<u8>()], 0..12)) {
            let a = [prefix.clone(), a].concat();
            let b = [prefix, b].concat();
            for (x, y) in [(&a, &b), (&b, &a), (&a, &a)] {
                prop_assert_eq!(
                    OrderKey::compare((OrderKey::of(x), x), (OrderKey::of(y), y)),
                    jsonb_order(x, y),
                    "{:?} {:?}", x, y
                );
            }
        }
    }
}
