//! Pipeline tests against the bundled artifact, whose reference rows were scored by scikit-learn.

use super::artifact::Artifact;
use super::canonical::jcs_sha256;
use super::error::PipelineError;
use super::json_rows::{not_an_object, score_json_row, service_answer_checked};
use super::loaded::compile_artifact;
use super::model::{CompiledModel, Prepared, RawValue};
use serde_json::{json, Value};

const BUNDLED: &str = include_str!("../../../artifacts/purchase_model.json");

fn bundled() -> Value {
    serde_json::from_str(BUNDLED).unwrap()
}

fn without_sha(mut doc: Value) -> Value {
    doc.as_object_mut().unwrap().remove("sha256");
    doc
}

fn err_of(doc: &Value) -> String {
    compile_artifact(doc, false).unwrap_err().to_string()
}

#[test]
fn bundled_artifact_passes_its_scikit_learn_checks() {
    let doc = bundled();
    let model = compile_artifact(&doc, false).unwrap();
    assert_eq!(model.features.len(), 25);
    let mut cols: Vec<&str> = model.columns().collect();
    cols.sort();
    assert_eq!(
        cols,
        ["x12", "x31", "x44", "x5", "x53", "x56", "x58", "x62", "x81", "x91"]
    );
    assert_eq!(model.threshold, 0.75);
    assert_eq!(model.sha256, doc["sha256"].as_str().unwrap());
    assert!(doc["checks"].as_array().unwrap().len() >= 20);
}

#[test]
fn a_hand_computed_row() {
    let model = compile_artifact(&bundled(), false).unwrap();
    let row = json!({"x5": "saturday", "x81": "July", "x31": "japan", "x12": "($1,000.00)",
                     "x91": 0.5, "x53": null, "x44": "0.25", "x62": 1, "x58": 0, "x56": -1});
    let std = |x: f64, m: f64, s: f64| (x - m) / s;
    let z = -1.2065298101599897 + 1.0957909263467889 + 0.9249485781323329
        + 0.7659757966244676 * std(0.5, 0.25296330472992057, 0.28770324616210396)
        + 0.0 // x53 missing: imputed to its mean, scaled to 0
        - 0.5057802785019714 * std(0.25, 0.5005654653552319, 0.28364036185546393)
        - 0.3937791151757429 * std(-1000.0, 20.485288437500007, 5775.428520080214)
        - 0.28821501386970944 * std(1.0, 0.007200151135832802, 0.9875666319853392)
        + 0.21070059561543394 * std(0.0, 0.0023894703053867323, 0.9823509040811053)
        + 0.20022169967126163 * std(-1.0, -0.010878592103002781, 0.9933450809147276);
    let expected = 1.0 / (1.0 + (-z).exp());
    let got = score_json_row(&model, row.as_object().unwrap(), 0).unwrap();
    assert!(
        (got.p_hat - expected).abs() < 1e-9,
        "{} vs {}",
        got.p_hat,
        expected
    );
    assert_eq!(got.business_outcome, i32::from(expected > 0.75));
}

#[test]
fn unseen_and_missing_categories_set_no_indicator() {
    let model = compile_artifact(&bundled(), false).unwrap();
    let i = model.inputs.iter().position(|x| x.column == "x5").unwrap();
    assert_eq!(
        model.prepare(i, RawValue::Text("Someday")).unwrap(),
        Prepared::UnseenLevel
    );
    assert_eq!(
        model.prepare(i, RawValue::Text("")).unwrap(),
        Prepared::MissingLevel
    );
    assert_eq!(
        model.prepare(i, RawValue::Missing).unwrap(),
        Prepared::MissingLevel
    );
    assert_eq!(model.contribution(i, Prepared::UnseenLevel), 0.0);
    // friday is the dropped reference level: all zeros too.
    let friday = model.prepare(i, RawValue::Text("friday")).unwrap();
    assert_eq!(model.contribution(i, friday), 0.0);
    let saturday = model.prepare(i, RawValue::Text("saturday")).unwrap();
    assert_eq!(model.contribution(i, saturday), -1.2065298101599897);
}

#[test]
fn the_service_contract() {
    let model = compile_artifact(&bundled(), false).unwrap();
    let row = json!({"x5": "monday", "x12": "($5,032.58)", "x91": 0.3});
    let answer = service_answer_checked(&model, None, row.as_object().unwrap(), 0).unwrap();
    let obj = answer.as_object().unwrap();
    assert_eq!(obj.len(), 27);
    assert_eq!(obj["x5_monday"], json!(1.0));
    assert_eq!(obj["x5_sunday"], json!(0.0));
    assert_eq!(
        obj["x12"],
        json!((-5032.58 - 20.485288437500007) / 5775.428520080214)
    );
    // The answer's p_hat is the row's score to the bit (one arithmetic for every path).
    let score = score_json_row(&model, row.as_object().unwrap(), 0).unwrap();
    assert_eq!(obj["p_hat"], json!(score.p_hat));
    assert_eq!(obj["business_outcome"], json!(score.business_outcome));
    let bad = |row: serde_json::Value, index| {
        service_answer_checked(&model, None, row.as_object().unwrap(), index)
            .unwrap_err()
            .to_string()
    };
    let e = bad(json!({"x12": [1]}), 3);
    assert!(
        e.contains("element 3") && e.contains("\"x12\"") && e.contains("an array"),
        "{e}"
    );
    let e = bad(json!({"x12": "12 dollars"}), 0);
    assert!(e.contains("x12") && e.contains("12 dollars"), "{e}");
    let e = not_an_object(1, "a number").to_string();
    assert!(e.contains("element 1") && e.contains("a number"), "{e}");
}

#[test]
fn an_edited_artifact_is_refused_by_its_hash_then_by_its_checks() {
    let mut doc = bundled();
    doc["model"]["coefficients"][8] = json!(0.9); // x91, read by every row
    assert!(err_of(&doc).contains("\"sha256\""));
    let e = compile_artifact(&without_sha(doc), false).unwrap_err();
    assert!(
        matches!(e, PipelineError::CheckFailed { index: 0, .. }),
        "{e}"
    );
}

#[test]
fn every_bad_field_is_named() {
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &str)> = vec![
        (|d| d["format"] = json!("onnx"), "\"format\""),
        (|d| d["format_version"] = json!(3), "\"format_version\""),
        (|d| d["threshold"] = json!(1.5), "\"threshold\""),
        (|d| d["threshold"] = json!(0), "\"threshold\""),
        (
            |d| d["model"]["coefficients"][3] = json!("x"),
            "\"model.coefficients[3]\"",
        ),
        (
            |d| {
                d["model"]["coefficients"].as_array_mut().unwrap().pop();
            },
            "\"model.coefficients\"",
        ),
        (
            |d| d["model"]["features"][0] = json!("x5_caturday"),
            "\"model.features[0]\"",
        ),
        (
            |d| d["model"]["intercept"] = json!(null),
            "\"model.intercept\"",
        ),
        (
            |d| d["inputs"][0]["kind"] = json!("decimal"),
            "\"inputs[0].kind\"",
        ),
        (
            |d| {
                d["inputs"][1]["column"] = json!("x0");
            },
            "\"inputs[1].column\"",
        ),
        (|d| d["scaler"]["scale"][0] = json!(0.0), "\"scaler.scale\""),
        (
            |d| {
                d["scaler"]["mean"].as_array_mut().unwrap().pop();
            },
            "\"scaler.mean\"",
        ),
        (
            |d| {
                d["imputer"].as_object_mut().unwrap().remove("statistics");
            },
            "\"imputer.statistics\"",
        ),
        (
            |d| d["encoder"]["columns"][0]["drop"] = json!("someday"),
            "\"encoder.columns[0].drop\"",
        ),
        (|d| d["checks"][2]["p_hat"] = json!(0.5), "reference row 2"),
        (
            |d| d["checks"][1]["row"]["x12"] = json!("five"),
            "\"checks[1].row\"",
        ),
        (
            |d| {
                d.as_object_mut().unwrap().remove("model");
            },
            "\"model\"",
        ),
    ];
    // Format 1 at load: unknown keys and wrong classes are errors, never ignored.
    let v1: Vec<(Edit, &str)> = vec![
        (
            |d| d["model"]["class"] = json!("sklearn.svm.SVC"),
            "\"model.class\"",
        ),
        (
            |d| d["imputer"]["strategy"] = json!("mode"),
            "\"imputer.strategy\"",
        ),
        (
            |d| d["imputer"]["statistcs"] = json!([]),
            "\"imputer.statistcs\"",
        ),
        (
            |d| d["encoder"]["columns"][1]["handle_unknwn"] = json!("ignore"),
            "\"encoder.columns[1].handle_unknwn\"",
        ),
        (
            |d| d["inputs"][3]["knd"] = json!("number"),
            "\"inputs[3].knd\"",
        ),
        (|d| d["extra"] = json!(1), "\"extra\""),
    ];
    for (edit, needle) in cases.into_iter().chain(v1) {
        let mut doc = without_sha(bundled());
        edit(&mut doc);
        let e = err_of(&doc);
        assert!(e.contains(needle), "expected {needle} in: {e}");
    }
    assert!(err_of(&json!([1])).contains("(document)"));
}

#[test]
fn a_minimal_artifact_without_checks_or_hash_compiles() {
    let doc = json!({
        "format": "pg_purchase.logistic_pipeline", "format_version": 1,
        "inputs": [{"column": "spend", "kind": "money"}, {"column": "tier", "kind": "category"}],
        "imputer": {"columns": ["spend"], "statistics": [10.0]},
        "scaler": {"columns": ["spend"], "mean": [10.0], "scale": [2.0]},
        "encoder": {"columns": [{"column": "tier", "categories": ["gold", "silver"], "drop": null, "missing_indicator": true}]},
        "model": {"features": ["spend", "tier_silver", "tier_nan"], "coefficients": [1.0, 0.5, -2.0], "intercept": 0.25},
        "threshold": 0.5
    });
    let model: CompiledModel = CompiledModel::compile(&Artifact::from_json(&doc).unwrap()).unwrap();
    let row = json!({"spend": "$14.00", "tier": null});
    let z: f64 = 0.25 + 2.0 - 2.0;
    let s = score_json_row(&model, row.as_object().unwrap(), 0).unwrap();
    assert_eq!(s.p_hat, 1.0 / (1.0 + (-z).exp()));
    assert_eq!(s.business_outcome, 1);
}

/// Finite inputs never give NaN or an infinity: x91 = x53 = 1e308 made +inf + -inf = NaN.
#[test]
fn huge_finite_inputs_are_an_error_naming_the_column_never_nan() {
    let model = compile_artifact(&bundled(), false).unwrap();
    for row in [
        json!({"x91": "1e308", "x53": "1e308"}),
        json!({"x91": "1e308"}),
        json!({"x53": -1e308}),
    ] {
        let e = score_json_row(&model, row.as_object().unwrap(), 0).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.kind(), super::error::ErrorKind::OutOfRange, "{msg}");
        assert!(
            msg.contains("1e308") && (msg.contains("x91") || msg.contains("x53")),
            "{msg}"
        );
    }
    // The same rows through the prepared path (the JSON service and purchase_features).
    let prepared: Vec<Prepared> = (0..model.inputs.len())
        .map(|i| {
            let raw = if model.inputs[i].column == "x91" {
                RawValue::Text("1e308")
            } else {
                RawValue::Missing
            };
            model.prepare(i, raw).unwrap()
        })
        .collect();
    assert!(model.score_prepared(&prepared).is_err());
    assert!(model.feature_values(&prepared).is_err());
    // Large but representable inputs still score, within [0, 1].
    let s = score_json_row(&model, json!({"x91": "1e300"}).as_object().unwrap(), 0).unwrap();
    assert!((0.0..=1.0).contains(&s.p_hat));
}

/// A tiny positive scale (1e-310) made coef/scale overflow, so the mean scored 0 * inf = NaN.
#[test]
fn a_scale_whose_quotient_overflows_is_refused_naming_the_field() {
    let mut doc = without_sha(bundled());
    doc.as_object_mut().unwrap().remove("checks");
    doc["scaler"]["scale"][87] = json!(1e-310); // x91
    let e = compile_artifact(&doc, true).unwrap_err().to_string();
    assert!(e.contains("scaler.scale") && e.contains("x91"), "{e}");
}

/// Categories: blank text is missing like ''; a number is compared by its text form, the same
/// as an integer column's value would be.
#[test]
fn blank_and_numeric_categories() {
    let doc = json!({
        "format": "pg_purchase.logistic_pipeline", "format_version": 1,
        "inputs": [{"column": "tier", "kind": "category"}],
        "imputer": {"columns": [], "statistics": []},
        "scaler": {"columns": [], "mean": [], "scale": []},
        "encoder": {"columns": [{"column": "tier", "categories": ["1", "2", "2.5"], "drop": "1", "missing_indicator": true}]},
        "model": {"features": ["tier_2", "tier_2.5", "tier_nan"], "coefficients": [1.0, 2.0, -3.0], "intercept": 0.0},
        "threshold": 0.5
    });
    let model = CompiledModel::compile(&Artifact::from_json(&doc).unwrap()).unwrap();
    let z = |row: Value| {
        let p = score_json_row(&model, row.as_object().unwrap(), 0)
            .unwrap()
            .p_hat;
        (p / (1.0 - p)).ln()
    };
    let near = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(near(z(json!({"tier": " "})), -3.0));
    assert!(near(z(json!({"tier": "\t"})), -3.0));
    assert!(near(z(json!({"tier": 2})), 1.0));
    assert!(near(z(json!({"tier": 2.0})), 1.0));
    assert!(near(z(json!({"tier": "2"})), 1.0));
    assert!(near(z(json!({"tier": 2.5})), 2.0));
    assert!(near(z(json!({"tier": 7})), 0.0)); // unseen
}

/// A format 2 artifact over columns that are not the exercise's, hashed as the exporter does.
fn leads_v2() -> Value {
    let mut doc = json!({
        "format": "pg_purchase.logistic_pipeline", "format_version": 2,
        "inputs": [
            {"column": "spend", "kind": "money", "feature": "num__spend",
             "imputer": {"class": "sklearn.impute.SimpleImputer", "strategy": "median", "fill": 12.5},
             "scaler": {"class": "sklearn.preprocessing.StandardScaler", "with_mean": false, "with_std": true,
                        "mean": 99.0, "scale": 4.0}},
            {"column": "visits", "kind": "number", "feature": "remainder__visits"},
            {"column": "plan", "kind": "category",
             "encoder": {"class": "sklearn.preprocessing.OneHotEncoder", "categories": ["basic", "pro", "team"],
                         "missing_category": true, "drop": "first", "handle_unknown": "error",
                         "features": ["cat__plan_pro", "cat__plan_team", "cat__plan_nan"]}},
            {"column": "region", "kind": "category",
             "imputer": {"class": "sklearn.impute.SimpleImputer", "strategy": "most_frequent", "fill": "2"},
             "encoder": {"class": "sklearn.preprocessing.OneHotEncoder", "categories": ["1", "2"],
                         "missing_category": false, "drop": "if_binary", "handle_unknown": "ignore",
                         "features": ["cat__region_2"]}}
        ],
        "model": {"class": "sklearn.linear_model.LogisticRegression",
                  "features": ["num__spend", "remainder__visits", "cat__plan_pro", "cat__plan_team", "cat__plan_nan", "cat__region_2"],
                  "coefficients": [0.5, -0.25, 1.0, 2.0, -1.5, 0.75], "intercept": -0.125},
        "threshold": 0.5,
        "training": {"rows": 5000},
        "checks": [{"row": {"spend": "$10.00", "visits": 2, "plan": "team", "region": "1"},
                    "p_hat": 0.0}]
    });
    // spend 10 / 4 * 0.5 - 0.25 * 2 + 2.0 (team) + 0 (region 1) - 0.125
    let z: f64 = 10.0 / 4.0 * 0.5 - 0.5 + 2.0 - 0.125;
    doc["checks"][0]["p_hat"] = json!(1.0 / (1.0 + (-z).exp()));
    rehash(doc)
}

fn rehash(mut doc: Value) -> Value {
    let sha = jcs_sha256(doc.as_object().unwrap(), "sha256").unwrap();
    doc["sha256"] = json!(sha);
    doc
}

fn score_v2(model: &CompiledModel, row: Value) -> super::error::Result<f64> {
    score_json_row(model, row.as_object().unwrap(), 0).map(|s| s.p_hat)
}

#[test]
fn format_2_scores_every_supported_step() {
    let model = compile_artifact(&leads_v2(), false).unwrap();
    let logistic = |z: f64| 1.0 / (1.0 + (-z).exp());
    // Missing spend -> median 12.5; with_mean=false -> not centred; missing plan -> its own
    // category; missing region -> imputed to "2".
    let p = score_v2(
        &model,
        json!({"spend": null, "visits": 0, "plan": null, "region": null}),
    )
    .unwrap();
    assert!(
        (p - logistic(12.5 / 4.0 * 0.5 - 1.5 + 0.75 - 0.125)).abs() < 1e-15,
        "{p}"
    );
    // basic is the dropped first level; unseen region "9" is ignored (all zeros).
    let p = score_v2(
        &model,
        json!({"spend": "($4.00)", "visits": 1, "plan": "basic", "region": "9"}),
    )
    .unwrap();
    assert!((p - logistic(-0.5 - 0.25 - 0.125)).abs() < 1e-15, "{p}");
    // handle_unknown='error' on plan.
    let e = score_v2(
        &model,
        json!({"spend": 1, "visits": 1, "plan": "gold", "region": "1"}),
    )
    .unwrap_err();
    assert!(matches!(e, PipelineError::UnknownCategory { .. }), "{e}");
    assert!(
        e.to_string().contains("\"gold\"") && e.to_string().contains("\"plan\""),
        "{e}"
    );
    // visits has no imputer: missing is an error naming the column.
    let e = score_v2(&model, json!({"spend": 1, "plan": "pro", "region": "1"})).unwrap_err();
    assert_eq!(
        e,
        PipelineError::MissingValue {
            column: "visits".into()
        }
    );
}

#[test]
fn format_2_refuses_unknown_keys_and_values_naming_the_field() {
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &str)> = vec![
        (
            |d| d["inputs"][2]["encoder"]["handle_unknown"] = json!("infrequent_if_exist"),
            "\"inputs[2].encoder.handle_unknown\"",
        ),
        (
            |d| d["inputs"][0]["imputer"]["strategy"] = json!("mode"),
            "\"inputs[0].imputer.strategy\"",
        ),
        (
            |d| d["inputs"][0]["imputer"]["stratgey"] = json!("mean"),
            "\"inputs[0].imputer.stratgey\"",
        ),
        (
            |d| d["model"]["class"] = json!("sklearn.svm.SVC"),
            "\"model.class\"",
        ),
        (
            |d| d["model"]["coefficients"][3] = json!("x"),
            "\"model.coefficients[3]\"",
        ),
        (
            |d| d["inputs"][2]["encoder"]["drop"] = json!("last"),
            "\"inputs[2].encoder.drop\"",
        ),
        (
            |d| d["inputs"][2]["encoder"]["features"] = json!(["a"]),
            "\"inputs[2].encoder.features\"",
        ),
        (
            |d| d["inputs"][1]["kind"] = json!("decimal"),
            "\"inputs[1].kind\"",
        ),
        (|d| d["extra"] = json!(1), "\"extra\""),
        (
            |d| d["inputs"][0]["scaler"]["scale"] = json!(0.0),
            "\"inputs[0].scaler.scale\"",
        ),
        (
            |d| d["inputs"][3]["imputer"]["strategy"] = json!("mean"),
            "\"inputs[3].imputer\"",
        ),
    ];
    for (edit, needle) in cases {
        let mut doc = leads_v2();
        edit(&mut doc);
        let e = err_of(&rehash(doc));
        assert!(e.contains(needle), "expected {needle} in: {e}");
    }
    // An edit after export fails the RFC 8785 hash.
    let mut doc = leads_v2();
    doc["threshold"] = json!(0.6);
    assert!(err_of(&doc).contains("\"sha256\""));
}

#[test]
fn checks_are_required_unless_allowed() {
    let mut doc = leads_v2();
    doc.as_object_mut().unwrap().remove("checks");
    let doc = rehash(doc);
    assert_eq!(
        compile_artifact(&doc, false).unwrap_err(),
        PipelineError::ChecksRequired
    );
    assert!(compile_artifact(&doc, true).is_ok());
}

#[test]
fn format_1_keeps_its_old_hash_and_takes_rfc8785_too() {
    let doc = bundled();
    assert!(compile_artifact(&doc, false).is_ok());
    let rehashed = rehash(doc);
    assert_ne!(rehashed["sha256"], bundled()["sha256"]);
    assert!(compile_artifact(&rehashed, false).is_ok());
}

#[test]
fn number_spellings_keep_the_hash() {
    // -0.0, 1e16 and an integer >= 2^64 in a check row: hashed as jsonb would print them.
    let mut doc = leads_v2();
    doc["training"] =
        serde_json::from_str(r#"{"neg_zero": -0.0, "big": 1e16, "huge": 18446744073709551616}"#)
            .unwrap();
    let doc = rehash(doc);
    let text = serde_json::to_string(&doc).unwrap();
    assert!(
        text.contains("1e+16") && text.contains("1.8446744073709552e+19"),
        "{text}"
    );
    let as_jsonb_prints: Value = serde_json::from_str(
        &serde_json::to_string(&doc)
            .unwrap()
            .replace("-0.0", "0")
            .replace("1e+16", "10000000000000000")
            .replace("1.8446744073709552e+19", "18446744073709551616"),
    )
    .unwrap();
    assert!(compile_artifact(&as_jsonb_prints, false).is_ok());
}

/// Format 2 carries the standard errors and the drift profile; a wrong shape names its field.
#[test]
fn format_2_standard_errors_and_profile() {
    let mut doc = leads_v2();
    doc["model"]["std_errors"] = json!([0.1, 0.2, null, 0.3, 0.4, 0.5]);
    doc["profile"] = json!({"rows": 5000, "columns": [
        {"column": "spend", "null_rate": 0.01, "mean": 12.0, "std": 4.0,
         "bin_edges": [10.0, 12.0, 14.0], "bin_fractions": [0.25, 0.25, 0.25, 0.25]},
        {"column": "plan", "null_rate": 0.0, "categories": {"basic": 0.5, "pro": 0.3, "team": 0.2}}
    ]});
    let model = compile_artifact(&rehash(doc.clone()), false).unwrap();
    let drift = super::drift::Drift::new(&model, Some(&doc)).finish();
    let spend = drift.iter().find(|r| r.column == "spend").unwrap();
    assert_eq!((spend.train_mean, spend.train_std), (Some(12.0), Some(4.0)));
    for (edit, needle) in [
        (json!({"model": {"std_errors": [0.1]}}), "model.std_errors"),
        (
            json!({"profile": {"columns": [{"column": "nope"}]}}),
            "profile.columns[0].column",
        ),
        (
            json!({"profile": {"columns": [{"column": "spend", "bin_edges": [2.0, 1.0], "bin_fractions": [0.5, 0.25, 0.25]}]}}),
            "profile.columns[0].bin_edges",
        ),
        (
            json!({"profile": {"columns": [{"column": "plan", "shares": {}}]}}),
            "shares",
        ),
    ] {
        let mut bad = doc.clone();
        for (k, v) in edit.as_object().unwrap() {
            if k == "model" {
                bad["model"]["std_errors"] = v["std_errors"].clone();
            } else {
                bad[k] = v.clone();
            }
        }
        let e = compile_artifact(&rehash(bad), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "expected {needle} in: {e}");
    }
}

/// Format 2's `raw_columns`: a column the pipeline was fitted on but drops may travel in strict
/// JSON rows; a column it never saw may not.
#[test]
fn format_2_raw_columns_are_known_keys() {
    let mut doc = leads_v2();
    doc["raw_columns"] = json!(["spend", "visits", "plan", "region", "notes"]);
    let model = compile_artifact(&rehash(doc), false).unwrap();
    let rules = super::json_rows::KeyRules::new(&model);
    let keys = |extra: &'static str| {
        ["spend", "visits", "plan", "region", extra]
            .into_iter()
            .map(str::as_bytes)
    };
    assert!(rules.check(keys("notes"), &mut Vec::new()).is_ok());
    let e = rules.check(keys("lead_id"), &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("lead_id"), "{e}");
}

/// The strict key check merges keys given in jsonb's order and looks up the others: every
/// order of the same keys gets the same answer (all known and present, one unknown, one missing).
#[test]
fn strict_keys_same_answer_in_any_order() {
    let mut doc = leads_v2();
    doc["raw_columns"] = json!(["spend", "visits", "plan", "region", "notes"]);
    let model = compile_artifact(&rehash(doc), false).unwrap();
    let rules = super::json_rows::KeyRules::new(&model);
    let jsonb = |keys: &mut Vec<&'static str>| {
        keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
    };
    for (keys, ok, named) in [
        (vec!["spend", "visits", "plan", "region", "notes"], true, ""),
        (vec!["spend", "visits", "plan", "region", "zz"], false, "zz"),
        (
            vec!["spend", "visits", "plan", "region", "a"],
            false,
            "\"a\"",
        ),
        (vec!["spend", "visits", "plan", "notes"], false, "region"),
    ] {
        let mut sorted = keys.clone();
        jsonb(&mut sorted);
        let mut reversed = sorted.clone();
        reversed.reverse();
        for order in [keys.clone(), sorted, reversed] {
            let r = rules.check(order.iter().map(|k| k.as_bytes()), &mut Vec::new());
            assert_eq!(r.is_ok(), ok, "{order:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains(named), "{order:?}: {e}");
            }
        }
    }
}

/// The one answer key list: business_outcome and p_hat only when asked, every feature, each
/// key once, and a later key (a feature named like an earlier one) replacing the earlier.
#[test]
fn answer_keys_are_the_score_then_the_features_each_once() {
    use super::json_rows::{answer_keys, AnswerSlot};
    let mut model = compile_artifact(&bundled(), false).unwrap();
    let with = answer_keys(&model, true);
    let without = answer_keys(&model, false);
    assert_eq!(with.len(), model.features.len() + 2);
    assert_eq!(without.len(), model.features.len());
    assert!(with.contains(&("p_hat", AnswerSlot::PHat)));
    assert!(!without.iter().any(|(k, _)| *k == "business_outcome"));
    let last = model.features.len() - 1;
    model.features[last].name = "p_hat".into();
    model.features[0].name = model.features[1].name.clone();
    let keys = answer_keys(&model, true);
    assert_eq!(keys.len(), model.features.len());
    assert!(keys.contains(&("p_hat", AnswerSlot::Feature(last))));
    let name = model.features[1].name.as_str();
    assert!(keys.contains(&(name, AnswerSlot::Feature(1))));
}

/// prepare_row reads a serde_json object like score_json_row does and checks keys in strict
/// mode before reading any field.
#[test]
fn prepare_row_checks_keys_then_reads_fields() {
    use super::json_rows::{prepare_row, KeyRules, RowScratch};
    let model = compile_artifact(&bundled(), false).unwrap();
    let row = json!({"x5": "monday", "x12": "($5,032.58)", "x91": 0.3});
    let row = row.as_object().unwrap();
    let mut scratch = RowScratch::default();
    prepare_row(&model, None, row, &mut scratch).unwrap();
    let score = score_json_row(&model, row, 0).unwrap();
    assert_eq!(model.score_prepared(&scratch.prepared).unwrap(), score);
    let rules = KeyRules::new(&model);
    let bad = json!({"x12": [1], "nope": 1});
    let e = prepare_row(&model, Some(&rules), bad.as_object().unwrap(), &mut scratch);
    assert!(e.unwrap_err().to_string().contains("unknown key \"nope\""));
}
