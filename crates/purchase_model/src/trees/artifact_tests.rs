//! A whole tree artifact through the loader: parse, hash, compile, reference checks at the
//! library's tolerance, the prepared inputs, and refusals naming the field.

use crate::canonical::jcs_sha256;
use crate::loaded::{compile_artifact, compile_stored};
use crate::model::RawValue;
use serde_json::{json, Value};

/// A LightGBM-style stump on `spend` (money) and a category split on `plan`.
fn doc(p_hat: f64, library: &str) -> Value {
    let mut d = json!({
        "format": "pg_purchase.tree_pipeline",
        "format_version": 1,
        "inputs": [
            {"column": "spend", "kind": "money", "feature": "spend"},
            {"column": "plan", "kind": "category", "feature": "plan",
             "categories": ["free", "pro"], "unknown": "missing"}
        ],
        "model": {
            "library": library,
            "features": ["spend", "plan"],
            "baseline": 0.0,
            "input_dtype": if library == "xgboost" { "float32" } else { "float64" },
            "trees": [{
                "left": [1, -1, 3, -1, -1],
                "right": [2, -1, 4, -1, -1],
                "feature": [0, 0, 1, 0, 0],
                "threshold": [100.0, 0.0, 0.5, 0.0, 0.0],
                "value": [0.0, -1.0, 0.0, 0.5, 2.0],
                "default_left": [true, false, false, false, false]
            }]
        },
        "threshold": 0.5,
        "checks": [{"row": {"spend": "$150.00", "plan": "pro"}, "p_hat": p_hat}]
    });
    if library == "lightgbm" {
        d["model"]["trees"][0]["missing_type"] = json!(["NaN", "None", "None", "None", "None"]);
    }
    let sha = jcs_sha256(d.as_object().unwrap(), "sha256").unwrap();
    d["sha256"] = json!(sha);
    d
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[test]
fn a_tree_artifact_loads_scores_and_reloads() {
    // $150 > 100: right; plan "pro" is code 1 > 0.5: right, leaf 2.0
    let d = doc(sigmoid(2.0), "lightgbm");
    let model = compile_artifact(&d, false).expect("loads");
    assert!(model.is_trees());
    assert_eq!(model.ensemble().unwrap().leaves, 3);
    let raw = [RawValue::Text("$50"), RawValue::Text("free")];
    assert_eq!(
        model.score_with(|i| Ok(raw[i])).unwrap().p_hat,
        sigmoid(-1.0)
    );
    // a missing spend goes left (missing_type NaN, default_left)
    let raw = [RawValue::Missing, RawValue::Text("gold")];
    assert_eq!(
        model.score_with(|i| Ok(raw[i])).unwrap().p_hat,
        sigmoid(-1.0)
    );
    // an unseen plan is missing (NaN); node 2 has missing_type None, so NaN is 0.0 <= 0.5: left
    let raw = [RawValue::Number(100.5), RawValue::Text("gold")];
    assert_eq!(
        model.score_with(|i| Ok(raw[i])).unwrap().p_hat,
        sigmoid(0.5)
    );
    let prepared = [
        model.prepare(0, RawValue::Number(100.5)).unwrap(),
        model.prepare(1, RawValue::Text("gold")).unwrap(),
    ];
    assert_eq!(model.score_prepared(&prepared).unwrap().p_hat, sigmoid(0.5));
    let values = model.feature_values(&prepared).unwrap();
    assert_eq!(values[0], ("spend", 100.5));
    assert!(
        values[1].1.is_nan(),
        "a missing category is NaN (null in JSON)"
    );
    let stored = compile_stored(&d, d["sha256"].as_str().unwrap()).expect("stored");
    assert!(stored.is_trees());
}

#[test]
fn tolerances_per_library() {
    // 1e-10 off: beyond LightGBM's 1e-12, within XGBoost's 1e-6
    let err = compile_artifact(&doc(sigmoid(2.0) + 1e-10, "lightgbm"), false).unwrap_err();
    assert!(err.to_string().contains("model check failed"), "{err}");
    let x = (1.0f32 / ((-2.0f32).exp() + 1.0 + 1e-16)) as f64;
    assert!(compile_artifact(&doc(x + 1e-7, "xgboost"), false).is_ok());
}

#[test]
fn refusals_name_the_field() {
    let mut d = doc(sigmoid(2.0), "lightgbm");
    d["model"]["trees"][0]["colour"] = json!("red");
    let sha = jcs_sha256(d.as_object().unwrap(), "sha256").unwrap();
    d["sha256"] = json!(sha);
    let err = compile_artifact(&d, false).unwrap_err().to_string();
    assert!(
        err.contains("model.trees[0]") && err.contains("colour"),
        "{err}"
    );
    let mut d = doc(sigmoid(2.0), "lightgbm");
    d["model"]["baseline"] = json!(1.0); // changed after export
    let err = compile_artifact(&d, false).unwrap_err().to_string();
    assert!(err.contains("sha256"), "{err}");
    let mut d = doc(sigmoid(2.0), "xgboost");
    d["model"]["trees"][0]["missing_type"] = json!(["NaN", "None", "None", "None", "None"]);
    let sha = jcs_sha256(d.as_object().unwrap(), "sha256").unwrap();
    d["sha256"] = json!(sha);
    let err = compile_artifact(&d, false).unwrap_err().to_string();
    assert!(err.contains("missing_type"), "{err}");
}

#[test]
fn features_no_split_reads_are_not_inputs() {
    let mut d = doc(sigmoid(2.0), "lightgbm");
    d["inputs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"column": "age", "kind": "number", "feature": "age"}));
    d["model"]["features"] = json!(["spend", "plan", "age"]);
    let sha = jcs_sha256(d.as_object().unwrap(), "sha256").unwrap();
    d["sha256"] = json!(sha);
    let model = compile_artifact(&d, false).expect("loads");
    assert_eq!(model.columns().collect::<Vec<_>>(), ["spend", "plan"]);
    assert_eq!(model.raw_columns, ["spend", "plan", "age"]);
}
