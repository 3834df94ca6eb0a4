//! Property tests of the pure pipeline (proptest): cleaning, encoding, scoring, JSON rows and
//! the artifact parser/validator never panic on arbitrary input; valid input round-trips;
//! invalid input is an error that names the value (or the artifact field).
//!
//! `cargo test -p purchase_model` runs each property with proptest's default 256 cases. A long
//! run sets the case count per property through the environment, e.g. 8 x 130,000 = 1.04
//! million cases (README, Performance, reports a run):
//!
//! ```sh
//! PROPTEST_CASES=130000 cargo test --release -p purchase_model property_tests
//! ```
//!
//! Only what `clean.rs`'s module doc states of the cleaning rule is asserted here.

use super::clean::{clean_number, is_blank, trim_blanks, BLANKS};
use super::error::PipelineError;
use super::json_rows::{service_answer_checked, KeyRules};
use super::loaded::compile_artifact;
use super::model::{CompiledModel, Prepared, RawValue};
use super::vocabulary::Vocabulary;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

static SPEND_AND_TIER: OnceLock<CompiledModel> = OnceLock::new();
static TREE: OnceLock<CompiledModel> = OnceLock::new();

const BUNDLED: &str = include_str!("../../../artifacts/purchase_model.json");

fn config() -> ProptestConfig {
    // Cases from PROPTEST_CASES (default 256); no regression files written into the tree.
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn bundled_doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(BUNDLED).unwrap())
}

fn bundled_model() -> &'static CompiledModel {
    static MODEL: OnceLock<CompiledModel> = OnceLock::new();
    MODEL.get_or_init(|| compile_artifact(bundled_doc(), false).unwrap())
}

/// Text made of the characters that matter to the cleaning rule, plus anything.
fn numberish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(vec![
                '0', '1', '2', '5', '9', '.', ',', '$', '%', '(', ')', '-', '+', 'e', 'E', ' ', '\t',
            ]),
            1 => any::<char>(),
        ],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Arbitrary JSON, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        numberish().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every (path, value) leaf and container of a JSON document, as JSON pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| pointers(x, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
        _ => {}
    }
}

fn bundled_pointers() -> &'static Vec<String> {
    static P: OnceLock<Vec<String>> = OnceLock::new();
    P.get_or_init(|| {
        let mut doc = bundled_doc().clone();
        doc.as_object_mut().unwrap().remove("checks");
        let mut out = Vec::new();
        pointers(&doc, String::new(), &mut out);
        out
    })
}

/// A raw cell as a property test generates it (owning its text).
#[derive(Debug, Clone)]
enum Cell {
    Missing,
    Number(f64),
    Text(String),
}

impl Cell {
    fn raw(&self) -> RawValue<'_> {
        match self {
            Cell::Missing => RawValue::Missing,
            Cell::Number(v) => RawValue::Number(*v),
            Cell::Text(t) => RawValue::Text(t),
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
    Scale(f64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        json_value().prop_map(Mutation::Replace),
        Just(Mutation::Remove),
        prop_oneof![
            Just(0.0),
            Just(-1.0),
            Just(1e308),
            Just(1e-310),
            any::<f64>()
        ]
        .prop_map(Mutation::Scale),
    ]
}

/// Applies a mutation at `pointer` of `doc`.
fn mutate(doc: &mut Value, pointer: &str, m: &Mutation) {
    if pointer.is_empty() {
        if let Mutation::Replace(v) = m {
            *doc = v.clone();
        }
        return;
    }
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let Some(container) = doc.pointer_mut(parent) else {
        return;
    };
    match (m, container) {
        (Mutation::Remove, Value::Object(o)) => {
            o.remove(key);
        }
        (Mutation::Remove, Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        (Mutation::Replace(v), c) => {
            if let Some(slot) = c.pointer_mut(&format!("/{key}")) {
                *slot = v.clone();
            }
        }
        (Mutation::Scale(f), c) => {
            if let Some(slot) = c.pointer_mut(&format!("/{key}")) {
                if let Some(x) = slot.as_f64() {
                    *slot = serde_json::Number::from_f64(x * f).map_or(Value::Null, Value::Number);
                }
            }
        }
        _ => {}
    }
}

/// The bundled artifact without its hash and reference rows (so edits are not refused by them).
fn editable() -> Value {
    let mut doc = bundled_doc().clone();
    let o = doc.as_object_mut().unwrap();
    o.remove("sha256");
    o.remove("checks");
    doc
}

proptest! {
    #![proptest_config(config())]

    /// The byte-wise blank trimming on the scoring path is `str::trim_matches(BLANKS)`, on any
    /// text (blanks, unicode, empty).
    #[test]
    fn byte_trimming_is_trim_matches(text in "[ \t\n\r\x0b\x0c]{0,3}.{0,12}[ \t\n\r\x0b\x0c]{0,3}") {
        prop_assert_eq!(trim_blanks(&text), text.trim_matches(BLANKS));
        prop_assert_eq!(is_blank(&text), text.trim_matches(BLANKS).is_empty());
    }

    /// `prepare`'s inline cases give what `prepare_other`, the general rule, gives, for every
    /// input of a logistic model with an imputer (the bundled one), one without (money with no
    /// imputer, a category with a missing indicator) and a tree model, on any raw value.
    #[test]
    fn inline_prepare_is_prepare_other(
        number in prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-0.0)],
        text in prop_oneof![
            Just("monday".to_string()), Just("asia".to_string()), Just("pro".to_string()), Just("gold".to_string()),
            Just("free".to_string()), Just(" \t".to_string()), Just(String::new()),
            "[ ]?\\$?[0-9]{1,4}(\\.[0-9]{2})?[ ]?", ".{0,12}",
        ],
        which in 0..3usize,
    ) {
        let models = [
            bundled_model(),
            SPEND_AND_TIER.get_or_init(crate::one_rule_tests::spend_and_tier),
            TREE.get_or_init(|| crate::tree_explain_tests::model(true, true)),
        ];
        let model = models[which];
        for i in 0..model.inputs.len() {
            for raw in [RawValue::Missing, RawValue::Number(number), RawValue::Text(&text)] {
                let show = |r: Result<Prepared, PipelineError>| match r {
                    Ok(p) => format!("{p:?}"),
                    Err(e) => format!("error {e}"),
                };
                prop_assert_eq!(show(model.prepare(i, raw)), show(model.prepare_other(i, raw)));
            }
        }
    }

    /// A vocabulary finds exactly the level equal to the text (shared 8-byte prefixes, lengths
    /// on both sides of 8, unicode), and nothing else.
    #[test]
    fn vocabulary_finds_the_equal_level(
        levels in prop::collection::vec("(Sept|Septembe|Septembers|é){0,3}.{0,3}", 1..12),
        probe in "(Sept|Septembe|Septembers|é){0,3}.{0,3}",
    ) {
        let mut unique = levels.clone();
        unique.dedup();
        let vocabulary = Vocabulary::new(unique.clone());
        let first = unique.iter().position(|l| *l == probe);
        prop_assert_eq!(vocabulary.find(&probe), first);
        for (i, level) in unique.iter().enumerate() {
            let expected = unique.iter().position(|l| l == level);
            prop_assert!(vocabulary.find(level) == expected && expected <= Some(i));
        }
    }

    /// Cleaning never panics; blank text is missing; an error names the column and quotes the
    /// value (its first 37 characters when long); a result is always finite.
    #[test]
    fn cleaning_never_panics_and_errors_name_the_value(text in prop_oneof![numberish(), ".{0,60}"]) {
        match clean_number("x12", &text) {
            Ok(None) => prop_assert!(text.trim_matches(BLANKS).is_empty(), "{text:?} read as missing"),
            Ok(Some(v)) => {
                prop_assert!(v.is_finite());
                prop_assert!(!text.trim_matches(BLANKS).is_empty());
            }
            Err(e) => {
                let message = e.to_string();
                let head: String = text.chars().take(37).collect();
                prop_assert!(message.contains("\"x12\"") && message.contains(&head), "{message}");
                let is_invalid_value = matches!(e, PipelineError::InvalidValue { .. });
                prop_assert!(is_invalid_value, "{e:?}");
            }
        }
    }

    /// A finite double written plainly (shortest round-trip, or in exponent form), with blanks
    /// around it, reads back as the same double.
    #[test]
    fn plain_numbers_round_trip(v in any::<f64>().prop_filter("finite", |v| v.is_finite()),
                                exponent in any::<bool>(), pad in "[ \t]{0,2}") {
        let text = if exponent { format!("{pad}{v:e}{pad}") } else { format!("{pad}{v}{pad}") };
        prop_assert_eq!(clean_number("x", &text).unwrap(), Some(v), "{}", text);
    }

    /// Money with a `$`, thousands separators in groups of three and cents reads back as the
    /// amount; wrapped in parentheses it is negative.
    #[test]
    fn money_round_trips(cents in 0u64..100_000_000_000_000, negative in any::<bool>()) {
        let whole = (cents / 100).to_string();
        let mut grouped = String::new();
        for (i, ch) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        let amount = format!("${grouped}.{:02}", cents % 100);
        let text = if negative { format!("({amount})") } else { amount };
        let expected: f64 = format!("{}.{:02}", cents / 100, cents % 100).parse().unwrap();
        let expected = if negative { -expected } else { expected };
        prop_assert_eq!(clean_number("x12", &text).unwrap(), Some(expected), "{}", text);
    }

    /// Encoding and scoring never panic whatever each raw cell holds; a score is a probability.
    #[test]
    fn encoding_and_scoring_never_panic(cells in prop::collection::vec(prop_oneof![
            Just(Cell::Missing),
            any::<f64>().prop_map(Cell::Number),
            prop_oneof![numberish(), ".{0,12}", prop::sample::select(vec![
                "monday".to_string(), "July".into(), "japan".into(), "friday".into(), "".into(), " ".into()])]
                .prop_map(Cell::Text),
        ], 10)) {
        let model = bundled_model();
        let raw: Vec<RawValue> = cells.iter().map(Cell::raw).collect();
        for (i, r) in raw.iter().enumerate().take(model.inputs.len()) {
            if let Ok(Prepared::Level(_)) = model.prepare(i, *r) {
                let readable = matches!(r, RawValue::Text(_) | RawValue::Number(_));
                prop_assert!(readable, "{r:?}");
            }
        }
        if let Ok(score) = model.score_with(|i| Ok(raw[i % raw.len()])) {
            prop_assert!((0.0..=1.0).contains(&score.p_hat), "p_hat {}", score.p_hat);
            prop_assert!(score.business_outcome == 0 || score.business_outcome == 1);
        }
        // Every level of every vocabulary encodes as itself.
        for (i, input) in bundled_doc()["encoder"]["columns"].as_array().unwrap().iter().enumerate() {
            let Some(pos) = model.inputs.iter().position(|m| m.column == input["column"]) else { continue };
            for (l, level) in input["categories"].as_array().unwrap().iter().enumerate() {
                prop_assert_eq!(model.prepare(pos, RawValue::Text(level.as_str().unwrap())).unwrap(),
                                Prepared::Level(l), "encoder column {}", i);
            }
        }
    }

    /// JSON rows: never a panic; strict mode refuses an unknown key naming it and the element,
    /// and a row carrying exactly the model's columns scores like the relaxed mode.
    #[test]
    fn json_rows_never_panic_and_strict_errors_name_key_and_element(
            row in prop::collection::btree_map(
                prop_oneof![prop::sample::select(vec!["x5", "x12", "x31", "x44", "x53", "x56", "x58",
                                                      "x62", "x81", "x91", "x0", "x99"]).prop_map(String::from),
                            "[a-z0-9_]{1,6}"],
                json_value(), 0..14),
            index in 0usize..10_000) {
        let model = bundled_model();
        let rules = KeyRules::new(model);
        let row: Map<String, Value> = row.into_iter().collect();
        let strict = service_answer_checked(model, Some(&rules), &row, index);
        let relaxed = service_answer_checked(model, None, &row, index);
        let unknown = row.keys().find(|k| !model.raw_columns.contains(k));
        let missing = model.columns().any(|c| !row.contains_key(c));
        match (&strict, unknown) {
            (Err(e), Some(key)) => {
                let m = e.to_string();
                prop_assert!(m.contains(&format!("element {index} ")), "{m}");
                prop_assert!(m.contains("unknown key") && m.contains(key.as_str()), "{m}");
            }
            (Err(e), None) if missing => {
                prop_assert!(e.to_string().contains("missing key"), "{e}");
            }
            (_, None) => prop_assert_eq!(&strict, &relaxed),
            (Ok(_), Some(key)) => prop_assert!(false, "unknown key {key} accepted"),
        }
        if let Err(e) = &relaxed {
            prop_assert!(e.to_string().starts_with(&format!("element {index} of the input: ")), "{e}");
        }
    }

    /// The key merge (`KeyRules::check`) answers what one lookup per key answers, for keys in
    /// jsonb's order (a binary jsonb object's), in any other order (a serde_json map's) and in
    /// orders that break jsonb's part way: the same positions, the same first unknown key, the
    /// same first absent column, strict and relaxed.
    #[test]
    fn key_merge_is_one_lookup_per_key(
            picks in prop::collection::vec(
                prop_oneof![8 => (0usize..100).prop_map(|i| format!("x{i}")),
                            1 => "[a-z0-9]{1,4}", 1 => "x[0-9]{8,12}"], 0..120),
            all_inputs in any::<bool>(),
            only_known in any::<bool>(),
            sort_first in 0usize..130,
            strict in any::<bool>()) {
        let model = bundled_model();
        let rules = if strict { KeyRules::new(model) } else { KeyRules::relaxed(model) };
        let mut keys: Vec<String> = Vec::new();
        // Often every column the model reads, so strict mode's answer is often a success.
        let inputs = model.columns().map(str::to_string).filter(|_| all_inputs);
        let picks = picks.into_iter().filter(|k| !only_known || model.raw_columns.contains(k));
        for k in inputs.chain(picks) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        // The first `sort_first` keys in jsonb's order, the rest as drawn.
        let cut = sort_first.min(keys.len());
        keys[..cut].sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        let mut positions = Vec::new();
        let got = rules.check(keys.iter().map(|k| k.as_bytes()), &mut positions);
        let unknown = keys.iter().find(|k| !model.raw_columns.contains(k) && !model.columns().any(|c| c == k.as_str()));
        let want: Vec<usize> = model
            .columns()
            .map(|c| keys.iter().position(|k| k == c).unwrap_or(usize::MAX))
            .collect();
        match (&got, strict, unknown) {
            (Err(e), true, Some(key)) => prop_assert_eq!(e.to_string(), PipelineError::UnknownKey(key.clone()).to_string(), "{:?}", keys),
            (Err(e), true, None) => {
                let first = model.columns().zip(&want).find(|(_, p)| **p == usize::MAX).map(|(c, _)| c);
                prop_assert_eq!(Some(e.to_string()), first.map(|c| PipelineError::MissingKey(c.to_string()).to_string()));
            }
            (Ok(()), _, _) => {
                prop_assert!(!strict || (unknown.is_none() && !want.contains(&usize::MAX)), "{:?}", keys);
                prop_assert_eq!(&positions, &want);
            }
            (Err(e), false, _) => prop_assert!(false, "relaxed refused {:?}: {}", keys, e),
        }
    }

    /// A row with the keys of the row before reuses its key check and positions
    /// (`JsonRow::same_keys`): over sequences of rows drawn from a few key lists (orders,
    /// unknown keys, absent columns), each answer equals a fresh check's, strict and relaxed.
    /// The test row reads a field by its position only, so stale positions read wrong values.
    #[test]
    fn rows_with_the_same_keys_reuse_the_check(
            rows in prop::collection::vec((0usize..4, prop::collection::vec(-3.0f64..3.0, 12)), 1..12),
            strict in any::<bool>()) {
        struct Positional {
            keys: Vec<String>,
            values: Map<String, Value>,
        }
        impl super::json_rows::JsonRow for Positional {
            fn keys(&self) -> impl Iterator<Item = &[u8]> {
                self.keys.iter().map(|k| k.as_bytes())
            }
            fn field(&self, column: &str) -> super::error::Result<RawValue<'_>> {
                self.values.field(column)
            }
            fn field_at(&self, position: usize, _column: &str) -> super::error::Result<RawValue<'_>> {
                self.values.field(&self.keys[position])
            }
            fn same_keys(&self, memo: &mut Vec<u8>) -> bool {
                let now = self.keys.join("\0").into_bytes();
                let same = *memo == now;
                *memo = now;
                same
            }
        }
        let model = bundled_model();
        let rules = if strict { KeyRules::new(model) } else { KeyRules::relaxed(model) };
        let columns: Vec<String> = model.columns().map(str::to_string).collect();
        let mut reversed = columns.clone();
        reversed.reverse();
        let key_lists = [
            columns.clone(),
            reversed,
            [columns.clone(), vec!["nope".to_string()]].concat(),
            columns[1..].to_vec(),
        ];
        let mut scratch = super::json_rows::RowScratch::default();
        for (list, numbers) in rows {
            let keys = key_lists[list].clone();
            let values: Map<String, Value> = keys
                .iter()
                .zip(numbers.iter().cycle())
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            let row = Positional { keys, values };
            let reused = super::json_rows::prepare_row(model, Some(&rules), &row, &mut scratch)
                .map(|()| scratch.prepared.clone());
            let mut fresh_scratch = super::json_rows::RowScratch::default();
            let fresh = super::json_rows::prepare_row(model, Some(&rules), &row.values, &mut fresh_scratch)
                .map(|()| fresh_scratch.prepared.clone());
            prop_assert_eq!(reused, fresh);
        }
    }

    /// The artifact parser and validator never panic on arbitrary JSON.
    #[test]
    fn arbitrary_json_is_never_a_panic(doc in json_value()) {
        let _ = compile_artifact(&doc, true);
    }

    /// One edit anywhere in a valid artifact (replace a value by arbitrary JSON, delete it,
    /// scale a number to 0, -1, 1e308, 1e-310 ...): accepted, or refused naming a field; an
    /// accepted model scores every input the cleaning rule accepts as a probability or an error.
    #[test]
    fn edited_artifacts_are_accepted_or_refused_naming_a_field(
            at in prop::sample::select(bundled_pointers().clone()), m in mutation(),
            x in prop_oneof![Just(0.0), Just(1e300), Just(-1e300), any::<f64>().prop_filter("finite", |v| v.is_finite())]) {
        let mut doc = editable();
        mutate(&mut doc, &at, &m);
        match compile_artifact(&doc, true) {
            Ok(model) => {
                if let Ok(score) = model.score_with(|i| {
                    Ok(match model.inputs[i].column.as_str() {
                        "x5" => RawValue::Text("monday"),
                        "x12" | "x44" => RawValue::Number(x),
                        _ => RawValue::Missing,
                    })
                }) {
                    prop_assert!((0.0..=1.0).contains(&score.p_hat), "p_hat {} after {m:?} at {at}", score.p_hat);
                }
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.is_empty());
                if let PipelineError::InvalidArtifact { field, .. } = &e {
                    prop_assert!(!field.is_empty() && message.contains(field.as_str()), "{message}");
                }
            }
        }
    }

    /// A valid artifact survives a trip through its text (what export then load does): it
    /// compiles to the same hash and the same scores.
    #[test]
    fn valid_artifacts_round_trip_through_text(factor in 0.5f64..2.0, x in -10.0f64..10.0) {
        let mut doc = editable();
        for c in doc["model"]["coefficients"].as_array_mut().unwrap() {
            *c = json!(c.as_f64().unwrap() * factor);
        }
        let first = compile_artifact(&doc, true).unwrap();
        let again: Value = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
        let second = compile_artifact(&again, true).unwrap();
        prop_assert_eq!(&first.sha256, &second.sha256);
        let score = |m: &CompiledModel| m.score_with(|_| Ok(RawValue::Number(x))).map(|s| s.p_hat).ok();
        prop_assert_eq!(score(&first), score(&second));
    }
}
