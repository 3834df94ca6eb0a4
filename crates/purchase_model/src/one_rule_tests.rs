//! One rule on every path (issue 18, items 9 and 14): a floating-point NaN is a missing value
//! wherever a number is read, and no feature may take a name the JSON answers give the score.

use super::artifact::Artifact;
use super::error::{ErrorKind, PipelineError};
use super::model::{logistic, CompiledModel, RawValue};
use serde_json::{json, Value};

/// spend (money, imputed with 10, scaled by 2 around 10) and tier (gold/silver, its own
/// missing category); `features` lets a test rename the outputs it selects.
fn artifact(inputs: Value, encoder: Value, features: Value, coefs: Value) -> Value {
    json!({
        "format": "pg_purchase.logistic_pipeline", "format_version": 1,
        "inputs": inputs,
        "imputer": {"columns": ["spend"], "statistics": [10.0]},
        "scaler": {"columns": ["spend"], "mean": [10.0], "scale": [2.0]},
        "encoder": {"columns": encoder},
        "model": {"features": features, "coefficients": coefs, "intercept": 0.25},
        "threshold": 0.5
    })
}

pub(crate) fn spend_and_tier() -> CompiledModel {
    let doc = artifact(
        json!([{"column": "spend", "kind": "money"}, {"column": "tier", "kind": "category"}]),
        json!([{"column": "tier", "categories": ["gold", "silver"], "drop": null, "missing_indicator": true}]),
        json!(["spend", "tier_silver", "tier_nan"]),
        json!([1.0, 0.5, -2.0]),
    );
    CompiledModel::compile(&Artifact::from_json(&doc).unwrap()).unwrap()
}

fn p_hat(
    model: &CompiledModel,
    spend: RawValue<'_>,
    tier: RawValue<'_>,
) -> Result<f64, PipelineError> {
    model
        .score_with(|i| {
            Ok(if model.inputs[i].column == "spend" {
                spend
            } else {
                tier
            })
        })
        .map(|s| s.p_hat)
}

#[test]
fn a_float_nan_is_missing_for_numbers_and_categories() {
    let model = spend_and_tier();
    let gold = RawValue::Text("gold");
    let missing = p_hat(&model, RawValue::Missing, gold).unwrap();
    // Imputed with the training value 10: (10 - 10) / 2 = 0, so z is the intercept.
    assert_eq!(missing, logistic(0.25));
    assert_eq!(
        p_hat(&model, RawValue::Number(f64::NAN), gold).unwrap(),
        missing
    );
    // A NaN category is the missing category (tier_nan, -2), not a level "NaN".
    let spend = RawValue::Number(10.0);
    assert_eq!(
        p_hat(&model, spend, RawValue::Number(f64::NAN)).unwrap(),
        p_hat(&model, spend, RawValue::Missing).unwrap()
    );
    assert_eq!(
        p_hat(&model, spend, RawValue::Missing).unwrap(),
        logistic(0.25 - 2.0)
    );
}

#[test]
fn infinity_and_the_text_nan_stay_errors() {
    let model = spend_and_tier();
    let gold = RawValue::Text("gold");
    for v in [f64::INFINITY, f64::NEG_INFINITY] {
        let e = p_hat(&model, RawValue::Number(v), gold).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidText, "{e}");
        assert!(e.to_string().contains("\"spend\""), "{e}");
    }
    // Text is cleaned by the cleaning rule, which has no NaN (as python/pg_purchase/cleaning.py).
    let e = p_hat(&model, RawValue::Text("NaN"), gold).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidText, "{e}");
    assert!(e.to_string().contains("\"NaN\""), "{e}");
}

fn reserved(doc: &Value) -> PipelineError {
    let from_json = Artifact::from_json(doc).unwrap_err();
    let from_value = Artifact::from_value(doc.clone()).unwrap_err();
    assert_eq!(from_json, from_value);
    from_json
}

#[test]
fn a_feature_named_like_a_score_key_is_refused_at_load() {
    // scikit-learn's naming: column "business", level "outcome" -> business_outcome.
    let doc = artifact(
        json!([{"column": "spend", "kind": "money"}, {"column": "business", "kind": "category"}]),
        json!([{"column": "business", "categories": ["income", "outcome"], "drop": null}]),
        json!(["spend", "business_outcome"]),
        json!([1.0, 0.5]),
    );
    let e = reserved(&doc);
    assert_eq!(
        e,
        PipelineError::ReservedFeature {
            index: 1,
            name: "business_outcome".into()
        }
    );
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert!(e.to_string().contains("\"business_outcome\""), "{e}");
    assert!(e.hint().unwrap().contains("Rename the column or level"));

    // A numeric column named p_hat (format 1 names the output after the column).
    let mut doc = artifact(
        json!([{"column": "p_hat", "kind": "number"}]),
        json!([]),
        json!(["p_hat"]),
        json!([1.0]),
    );
    doc["imputer"] = json!({"columns": ["p_hat"], "statistics": [1.0]});
    doc["scaler"] = json!({"columns": ["p_hat"], "mean": [1.0], "scale": [1.0]});
    let e = reserved(&doc);
    assert!(
        matches!(&e, PipelineError::ReservedFeature { index: 0, name } if name == "p_hat"),
        "{e}"
    );

    // A catalog written before the rule keeps reading its stored version.
    assert!(Artifact::from_stored_json(&doc, "0").is_ok());
}

#[test]
fn a_format_2_feature_named_p_hat_is_refused_at_load() {
    let mut doc = json!({
        "format": "pg_purchase.logistic_pipeline", "format_version": 2,
        "inputs": [{"column": "visits", "kind": "number", "feature": "p_hat"}],
        "model": {"class": "sklearn.linear_model.LogisticRegression",
                  "features": ["p_hat"], "coefficients": [0.5], "intercept": 0.0},
        "threshold": 0.5
    });
    let sha = super::canonical::jcs_sha256(doc.as_object().unwrap(), "sha256").unwrap();
    doc["sha256"] = json!(sha);
    let e = reserved(&doc);
    assert!(
        matches!(&e, PipelineError::ReservedFeature { index: 0, name } if name == "p_hat"),
        "{e}"
    );
}
