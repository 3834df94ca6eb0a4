//! Calibration against figures scikit-learn 1.5.2 printed for the same inputs, and the
//! properties the scoring paths rely on.

use super::*;

const F: [f64; 6] = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0];
const Y: [bool; 6] = [false, false, true, false, true, true];

#[test]
fn sigmoid_stops_where_scikit_learn_stops() {
    // _sigmoid_calibration(F, y) in scikit-learn 1.5.2 and 1.9.1 (scipy 1.17.1): L-BFGS-B
    // stops ~1e-8 from the exact optimum on 6 rows; with F * 20 (scaled by 60 first) it stops
    // elsewhere. Both stopping points are reproduced.
    let (a, b) = fit_sigmoid(&F, &Y).unwrap();
    println!("{a:e} {b:e}");
    assert!((a - -0.5355096311540318).abs() < 1e-15, "{a:e}");
    assert!((b - 0.2677548155234845).abs() < 1e-15, "{b:e}");
    let big: Vec<f64> = F.iter().map(|f| f * 20.0).collect();
    let (a20, b20) = fit_sigmoid(&big, &Y).unwrap();
    println!("{a20:e} {b20:e}");
    assert!((a20 - -0.02677548218312835).abs() < 1e-16, "{a20:e}");
    assert!((b20 - 0.2677548666194397).abs() < 1e-15, "{b20:e}");
}

#[test]
fn isotonic_merges_ties_pools_violators_and_clips() {
    // IsotonicRegression(out_of_bounds='clip').fit(F, y): X_thresholds_ = F, y_thresholds_ =
    // [0, 0, .5, .5, 1, 1]; predict([-5, 0.5, 10]) = [0, 0.5, 1].
    let (x, y) = fit_isotonic(&F, &Y).unwrap();
    assert_eq!(x, F.to_vec());
    assert_eq!(y, vec![0.0, 0.0, 0.5, 0.5, 1.0, 1.0]);
    let c = Calibration {
        response: Response::DecisionFunction,
        calibrator: Calibrator::Isotonic { x, y },
        rows: None,
    };
    assert_eq!(
        [c.apply(-5.0), c.apply(0.5), c.apply(10.0)],
        [0.0, 0.5, 1.0]
    );
    assert_eq!(c.apply(-0.5), 0.25);
    // scikit-learn's test of issue 9432 (ties in groups of different sizes, as R's gpava):
    // x [0, 1, 1, 2, 3, 4], y [0, 0, 1, 0, 0, 1] -> [0, .25, .25, .25, .25, 1].
    let x = [0.0, 1.0, 1.0, 2.0, 3.0, 4.0];
    let b = [false, false, true, false, false, true];
    let (tx, ty) = fit_isotonic(&x, &b).unwrap();
    assert_eq!(tx, vec![0.0, 1.0, 3.0, 4.0]);
    assert_eq!(ty, vec![0.0, 0.25, 0.25, 1.0]);
    // _make_unique merges responses less than 1e-15 above the first of their group
    // (sklearn: [0, 1e-16, 5e-16, 2e-15, 1] -> x [0, 2e-15, 1]).
    // sklearn: x [0, 2e-15, 1], y [.5, .5, 1] (the group of 0 holds three rows, mean 2/3,
    // pooled with the 0 at 2e-15).
    let (tx, ty) = fit_isotonic(
        &[0.0, 1e-16, 5e-16, 2e-15, 1.0],
        &[false, true, true, false, true],
    )
    .unwrap();
    assert_eq!(tx, vec![0.0, 2e-15, 1.0]);
    assert_eq!(ty, vec![0.5, 0.5, 1.0]);
}

#[test]
fn bad_rows_and_methods_are_named() {
    let err = Calibration::fit("platt", Response::DecisionFunction, &F, &Y).unwrap_err();
    assert!(err.to_string().contains("\"method\""), "{err}");
    let err = Calibration::fit("sigmoid", Response::DecisionFunction, &[], &[]).unwrap_err();
    assert!(
        err.to_string().contains("no row with a known outcome"),
        "{err}"
    );
    let err = Calibration::fit("isotonic", Response::DecisionFunction, &F, &[true; 6]).unwrap_err();
    assert!(err.to_string().contains("only one class"), "{err}");
}

#[test]
fn the_stored_form_round_trips_and_is_validated() {
    let c = Calibration::fit("isotonic", Response::PredictProba, &F, &Y).unwrap();
    assert_eq!(Calibration::from_json(&c.to_json()).unwrap(), c);
    let s = Calibration::fit("sigmoid", Response::DecisionFunction, &F, &Y).unwrap();
    assert_eq!(Calibration::from_json(&s.to_json()).unwrap(), s);
    let bad = |v: serde_json::Value| Calibration::from_json(&v).unwrap_err().to_string();
    assert!(
        bad(json!({"method": "sigmoid", "response": "decision_function", "a": 1.0}))
            .contains("calibration.b")
    );
    assert!(bad(
        json!({"method": "isotonic", "response": "predict_proba", "x": [0.0, 0.0], "y": [0.1, 0.2]})
    )
    .contains("calibration.x[1]"));
    assert!(bad(
        json!({"method": "isotonic", "response": "predict_proba", "x": [0.0, 1.0], "y": [0.3, 0.2]})
    )
    .contains("calibration.y[1]"));
    assert!(
        bad(json!({"method": "beta", "response": "predict_proba"})).contains("calibration.method")
    );
    assert!(
        bad(json!({"method": "sigmoid", "response": "margin", "a": 1.0, "b": 0.0}))
            .contains("calibration.response")
    );
}

#[test]
fn equal_responses_calibrate_near_the_platt_target_mean() {
    // Every response equal: the optimum probability is the mean of Platt's targets (L-BFGS-B
    // stops within its tolerance of it).
    let f = [0.7; 5];
    let y = [true, false, false, true, false];
    let (a, b) = fit_sigmoid(&f, &y).unwrap();
    let p = expit(-(a * 0.7 + b));
    let mean = (2.0 * (3.0 / 4.0) + 3.0 * (1.0 / 5.0)) / 5.0;
    assert!((p - mean).abs() < 1e-6, "{p} {mean}");
}

/// The bundled (format 1) artifact, calibrated on responses of its own check rows.
fn calibrated_bundled(method: &str) -> (serde_json::Value, crate::model::CompiledModel) {
    use crate::json_rows::{response_json_row, score_json_row};
    use crate::loaded::compile_artifact;
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../../artifacts/purchase_model.json")).unwrap();
    let base = compile_artifact(&doc, false).unwrap();
    assert!(base.calibration.is_none());
    let rows: Vec<_> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["row"].as_object().unwrap().clone())
        .collect();
    let f: Vec<f64> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| response_json_row(&base, r, i).unwrap())
        .collect();
    // The logistic model's response is its logit.
    let p = score_json_row(&base, &rows[0], 0).unwrap().p_hat;
    assert!((crate::model::logistic(f[0]) - p).abs() < 1e-15);
    let bought: Vec<bool> = f
        .iter()
        .enumerate()
        .map(|(i, v)| *v > 0.5 || i % 3 == 0)
        .collect();
    let c = Calibration::fit(method, base.calibration_response(), &f, &bought).unwrap();
    let calibrated = calibrated_document(doc, &base, &c).unwrap();
    // Through the loader: validation, hash and the re-expressed reference checks.
    let model = compile_artifact(&calibrated, false).unwrap();
    for (i, r) in rows.iter().enumerate() {
        let got = score_json_row(&model, r, i).unwrap().p_hat;
        assert_eq!(got, c.apply(f[i]), "row {i}");
    }
    (calibrated, model)
}

#[test]
fn a_calibrated_document_loads_and_scores_the_calibrated_probability() {
    for method in METHODS {
        let (doc, model) = calibrated_bundled(method);
        assert_eq!(doc["calibration"]["method"], method);
        assert_eq!(doc["calibration"]["response"], "decision_function");
        assert_eq!(model.calibration.as_ref().unwrap().method(), method);
        // A stored calibrated artifact compiles to the same model.
        let stored = crate::loaded::compile_stored(&doc, &model.sha256).unwrap();
        assert_eq!(stored.calibration, model.calibration);
    }
    // A response that is not the one scikit-learn reads from a logistic model is refused.
    let (mut doc, _) = calibrated_bundled("sigmoid");
    doc["calibration"]["response"] = json!("predict_proba");
    doc.as_object_mut().unwrap().remove("sha256");
    let err = crate::loaded::compile_artifact(&doc, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("calibration.response"), "{err}");
}
