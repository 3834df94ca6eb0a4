//! Tree explanations on a hand-computed model: the Shapley values of a two-feature tree, the
//! sum rule, missing values following the library's routing, and the importance table.

use crate::canonical::jcs_sha256;
use crate::loaded::compile_artifact;
use crate::model::{CompiledModel, RawValue};
use crate::tree_explain::{explain_row, importance, reference_inputs};
use serde_json::{json, Value};

/// A LightGBM tree: spend <= 100 (cover 10) -> leaf -1 (cover 4), else plan <= 0.5 (cover 6)
/// -> leaf 0.5 (cover 2) or leaf 2.0 (cover 4). Gains 3.0 (spend) and 1.5 (plan).
fn doc(cover: bool, gain: bool, checks: Value) -> Value {
    let mut d = json!({
        "format": "pg_purchase.tree_pipeline",
        "format_version": 1,
        "inputs": [
            {"column": "spend", "kind": "money", "feature": "spend"},
            {"column": "plan", "kind": "category", "feature": "plan_code",
             "categories": ["free", "pro"], "unknown": "missing"}
        ],
        "model": {
            "library": "lightgbm",
            "features": ["spend", "plan_code"],
            "baseline": 0.0,
            "input_dtype": "float64",
            "trees": [{
                "left": [1, -1, 3, -1, -1],
                "right": [2, -1, 4, -1, -1],
                "feature": [0, 0, 1, 0, 0],
                "threshold": [100.0, 0.0, 0.5, 0.0, 0.0],
                "value": [0.0, -1.0, 0.0, 0.5, 2.0],
                "default_left": [true, false, false, false, false],
                "missing_type": ["NaN", "None", "NaN", "None", "None"]
            }]
        },
        "threshold": 0.5,
        "checks": checks
    });
    if cover {
        d["model"]["trees"][0]["cover"] = json!([10.0, 4.0, 6.0, 2.0, 4.0]);
    }
    if gain {
        d["model"]["trees"][0]["gain"] = json!([3.0, 0.0, 1.5, 0.0, 0.0]);
    }
    let sha = jcs_sha256(d.as_object().unwrap(), "sha256").unwrap();
    d["sha256"] = json!(sha);
    d
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn checks() -> Value {
    json!([
        {"row": {"spend": "$150.00", "plan": "pro"}, "p_hat": sigmoid(2.0)},
        {"row": {"spend": "$50.00", "plan": "pro"}, "p_hat": sigmoid(-1.0)}
    ])
}

pub(crate) fn model(cover: bool, gain: bool) -> CompiledModel {
    compile_artifact(&doc(cover, gain, checks()), false).expect("loads")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12
}

#[test]
fn a_two_feature_tree_by_hand() {
    let m = model(true, false);
    // spend 150 (right), plan "pro" = code 1 (right): leaf 2.0. Expected value
    // (4*-1 + 2*0.5 + 4*2)/10 = 0.5; v({spend}) = 1.5, v({plan}) = 0.8, so
    // phi(spend) = ((1.5-0.5) + (2.0-0.8))/2 = 1.1 and phi(plan) = ((0.8-0.5) + (2.0-1.5))/2 = 0.4.
    let values = [("spend", Some(150.0)), ("plan_code", Some(1.0))];
    let e = explain_row(&m, |name| {
        Ok(values.iter().find(|(n, _)| *n == name).unwrap().1)
    })
    .unwrap();
    assert!(close(e.expected_value, 0.5), "{}", e.expected_value);
    let c = &e.contributions;
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[0].feature.as_str(), c[0].input_column.as_str()),
        ("spend", "spend")
    );
    assert_eq!(
        (c[1].feature.as_str(), c[1].input_column.as_str()),
        ("plan_code", "plan")
    );
    assert_eq!(
        (c[0].model_input, c[1].model_input),
        (Some(150.0), Some(1.0))
    );
    assert!(close(c[0].contribution, 1.1), "{}", c[0].contribution);
    assert!(close(c[1].contribution, 0.4), "{}", c[1].contribution);
    // The sum rule against the model's own score.
    let raw = [RawValue::Text("$150"), RawValue::Text("pro")];
    let p = m.score_with(|i| Ok(raw[i])).unwrap().p_hat;
    let total = e.expected_value + c.iter().map(|c| c.contribution).sum::<f64>();
    assert!((total - (p / (1.0 - p)).ln()).abs() <= 1e-9);
}

#[test]
fn a_missing_value_follows_the_default_side() {
    let m = model(true, false);
    // spend missing: missing_type NaN, default_left -> leaf -1 whatever the plan; the row's
    // own route is the left child: the same values as spend 50 (see the importance test).
    let e = explain_row(&m, |name| {
        Ok(if name == "spend" { None } else { Some(1.0) })
    })
    .unwrap();
    assert_eq!(e.contributions[0].model_input, None);
    assert!(close(e.contributions[0].contribution, -1.65));
    assert!(close(e.contributions[1].contribution, 0.15));
}

#[test]
fn without_covers_there_is_no_explanation() {
    let m = model(false, false);
    assert!(explain_row(&m, |_| Ok(Some(1.0))).is_err());
}

#[test]
fn importance_over_the_reference_rows() {
    let d = doc(true, true, checks());
    let m = compile_artifact(&d, false).unwrap();
    let reference = reference_inputs(&m, &d).unwrap();
    assert_eq!(reference, vec![vec![150.0, 1.0], vec![50.0, 1.0]]);
    let rows = importance(&m, &reference).unwrap().unwrap();
    // Row 1: phi = (1.1, 0.4). Row 2 (spend 50 -> leaf -1): v({spend}) = -1, v({plan}) = 0.8,
    // phi(spend) = ((-1-0.5) + (-1-0.8))/2 = -1.65, phi(plan) = ((0.8-0.5) + (-1+1))/2 = 0.15.
    assert!(close(
        rows[0].mean_abs_contribution.unwrap(),
        (1.1 + 1.65) / 2.0
    ));
    assert!(close(
        rows[1].mean_abs_contribution.unwrap(),
        (0.4 + 0.15) / 2.0
    ));
    assert_eq!((rows[0].gain, rows[1].gain), (Some(3.0), Some(1.5)));
    assert_eq!((rows[0].splits, rows[1].splits), (1, 1));
    assert_eq!((rows[0].rank, rows[1].rank), (1, 2));
    // Gains only (no covers): ranked by gain, no mean |contribution|.
    let m = model(false, true);
    let rows = importance(&m, &reference).unwrap().unwrap();
    assert_eq!(rows[0].mean_abs_contribution, None);
    assert_eq!((rows[0].rank, rows[1].rank), (1, 2));
    // Neither: nothing to rank by.
    let m = model(false, false);
    assert_eq!(importance(&m, &reference).unwrap(), None);
    // Covers but no reference rows, and no gains: nothing either.
    let m = model(true, false);
    assert_eq!(importance(&m, &[]).unwrap(), None);
}
