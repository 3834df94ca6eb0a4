use super::columns::{Column, ColumnValues, NumberColumn, TextColumn};
use super::irls::refit_logistic;
use super::l1::{fit_l1_logistic, L1Settings};
use super::linalg::mat_t_vec;
use super::*;
use crate::loaded::compile_artifact;
use crate::model::logistic;
use ndarray::Array2;

/// splitmix64: a tiny deterministic generator for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn simulated(n: usize, p: usize, true_w: &[f64], seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Rng(seed);
    let x = Array2::from_shape_fn((n, p), |_| rng.normal());
    let t = (0..n)
        .map(|i| {
            let z: f64 = (0..true_w.len()).map(|j| x[[i, j]] * true_w[j]).sum();
            rng.next() < logistic(z)
        })
        .collect();
    (x, t)
}

#[test]
fn l1_solution_meets_the_optimality_conditions() {
    let (x, t) = simulated(3000, 12, &[1.5, -1.0, 0.5, 0.2], 7);
    let c = 0.01;
    let fit = fit_l1_logistic(
        x.view(),
        &t,
        &L1Settings {
            c,
            ..Default::default()
        },
        &mut Quiet,
    )
    .unwrap();
    assert!(
        fit.relative_subgradient <= 1e-10,
        "{}",
        fit.relative_subgradient
    );
    let residual: ndarray::Array1<f64> = (0..x.nrows())
        .map(|i| {
            let z: f64 = (0..12).map(|j| x[[i, j]] * fit.coefficients[j]).sum();
            logistic(z) - f64::from(u8::from(t[i]))
        })
        .collect();
    let g = mat_t_vec(x.view(), residual.view(), &mut Quiet) * c;
    for (j, &w) in fit.coefficients.iter().enumerate() {
        if w != 0.0 {
            assert!(
                (g[j] + w.signum()).abs() < 1e-7,
                "feature {j}: {} {w}",
                g[j]
            );
        } else {
            assert!(g[j].abs() <= 1.0 + 1e-9, "feature {j}: {}", g[j]);
        }
    }
    // The strong true effects survive the penalty with their signs; noise features shrink to 0.
    assert!(fit.coefficients[0] > 0.5 && fit.coefficients[1] < -0.3);
    let zeros = fit.coefficients.iter().filter(|w| **w == 0.0).count();
    assert!(zeros >= 4, "{:?}", fit.coefficients);
}

#[test]
fn refit_matches_the_closed_form_of_disjoint_indicators() {
    // Without intercept, two disjoint 0/1 indicators have MLE logit(rate in group) and
    // standard error 1 / sqrt(n_g p (1 - p)).
    let groups = [(400usize, 100usize), (300, 210)]; // (rows, buyers)
    let n = 400 + 300 + 50;
    let mut x = Array2::zeros((n, 2));
    let mut t = vec![false; n];
    let mut row = 0;
    for (g, &(rows, buyers)) in groups.iter().enumerate() {
        for i in 0..rows {
            x[[row, g]] = 1.0;
            t[row] = i < buyers;
            row += 1;
        }
    }
    for i in 0..50 {
        t[row + i] = i % 2 == 0; // neither indicator: contributes nothing
    }
    let names = vec!["a".to_string(), "b".to_string()];
    let fit = refit_logistic(x.view(), &t, &names, [1.0, 1.0], &mut Quiet).unwrap();
    for (g, &(rows, buyers)) in groups.iter().enumerate() {
        let p = buyers as f64 / rows as f64;
        assert!((fit.coefficients[g] - (p / (1.0 - p)).ln()).abs() < 1e-12);
        let se = 1.0 / (rows as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (fit.std_errors[g] - se).abs() < 1e-12,
            "{} {se}",
            fit.std_errors[g]
        );
    }
}

#[test]
fn separable_data_is_an_error_naming_the_feature() {
    let n = 200;
    let x = Array2::from_shape_fn((n, 1), |(i, _)| i as f64 - 99.5);
    let t: Vec<bool> = (0..n).map(|i| i >= 100).collect();
    let err =
        refit_logistic(x.view(), &t, &["leak".to_string()], [1.0, 1.0], &mut Quiet).unwrap_err();
    assert_eq!(err.kind, TrainErrorKind::Numeric);
    assert!(
        err.message.contains("separable") && err.message.contains("\"leak\""),
        "{}",
        err.message
    );
}

#[test]
fn collinear_features_are_an_error() {
    let (mut x, t) = simulated(500, 3, &[1.0], 3);
    for i in 0..500 {
        x[[i, 2]] = x[[i, 0]] - x[[i, 1]];
    }
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let err = refit_logistic(x.view(), &t, &names, [1.0, 1.0], &mut Quiet).unwrap_err();
    assert!(
        err.message.contains("linearly dependent"),
        "{}",
        err.message
    );
}

fn meta() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("source".into(), json!("test"));
    m
}

/// A small raw table: numbers with gaps, money text, a category with a missing value.
fn raw_set(n: usize, seed: u64) -> TrainingSet {
    let mut rng = Rng(seed);
    let mut a = NumberColumn::new("a");
    let mut b = NumberColumn::new("b");
    let mut constant = NumberColumn::new("constant");
    let mut money = TextColumn::new("money", None, 100);
    let mut day = TextColumn::new("day", None, 100);
    let mut target = Vec::new();
    let mut validation = Vec::new();
    for i in 0..n {
        let (va, vb, vm) = (rng.normal(), rng.normal(), rng.normal() * 1000.0);
        let d = ["mon", "tue", "wed"][(rng.next() * 3.0) as usize];
        let z = 1.2 * va - 0.8 * vm / 1000.0 + if d == "tue" { 1.0 } else { 0.0 };
        target.push(rng.next() < logistic(z));
        validation.push(i % 5 == 4);
        a.push((i % 17 != 0).then_some(va)).unwrap();
        b.push(Some(vb)).unwrap();
        constant.push(Some(3.0)).unwrap();
        let text = if vm < 0.0 {
            format!("(${:.2})", -vm)
        } else {
            format!("${vm:.2}")
        };
        money.push(Some(&text)).unwrap();
        day.push((i % 23 != 0).then_some(d)).unwrap();
    }
    TrainingSet {
        columns: vec![
            a.finish(),
            b.finish(),
            constant.finish(),
            money.finish().unwrap(),
            day.finish().unwrap(),
        ],
        target,
        validation,
    }
}

#[test]
fn training_produces_an_artifact_the_loader_accepts() {
    let set = raw_set(4000, 11);
    let settings = TrainSettings {
        top_k: 3,
        ..Default::default()
    };
    let trained = train(&set, &settings, meta(), &mut Quiet).unwrap();
    // The loader's own validation, hash check and reference checks.
    let model = compile_artifact(&trained.artifact, false).unwrap();
    let features: Vec<&str> = model.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(features.len(), 3);
    for f in ["a", "money", "day_tue"] {
        assert!(features.contains(&f), "{features:?}");
    }
    assert_eq!(trained.dropped.len(), 1);
    assert_eq!(trained.dropped[0].0, "constant");
    let m = &trained.metrics;
    assert_eq!(m["training_rows"], 3200);
    assert_eq!(m["validation_rows"], 800);
    let auc = m["validation_auc"].as_f64().unwrap();
    assert!(auc > 0.7 && auc < 1.0, "{auc}");
    assert_eq!(trained.artifact["checks"].as_array().unwrap().len(), 20);
    assert_eq!(
        trained.artifact["model"]["std_errors"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Kinds were inferred from the values.
    let kinds: Vec<&str> = trained.artifact["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["number", "number", "money", "category"]);
    // The profile describes each input for drift, with bins that cover the training values.
    let profiles = crate::drift::profiles(&trained.artifact);
    let a = &profiles["a"];
    assert!((a.null_rate.unwrap() - 189.0 / 3200.0).abs() < 0.01);
    assert!((a.bin_fractions.as_ref().unwrap().iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert_eq!(profiles["day"].categories.as_ref().unwrap().len(), 3);
}

#[test]
fn unusable_training_data_gets_clear_errors() {
    let mut set = raw_set(400, 5);
    set.target.iter_mut().for_each(|t| *t = false);
    let err = train(&set, &TrainSettings::default(), Map::new(), &mut Quiet).unwrap_err();
    assert!(
        err.message.contains("target is 0 in all 320 training rows"),
        "{}",
        err.message
    );

    let set = raw_set(5, 5);
    let err = train(&set, &TrainSettings::default(), Map::new(), &mut Quiet).unwrap_err();
    assert!(
        err.message.starts_with("there are 4 training rows for"),
        "{}",
        err.message
    );
}

#[test]
fn an_all_missing_column_is_left_out() {
    let mut set = raw_set(1000, 9);
    let mut empty = NumberColumn::new("empty");
    for _ in 0..1000 {
        empty.push(None).unwrap();
    }
    set.columns.push(empty.finish());
    let trained = train(
        &set,
        &TrainSettings {
            top_k: 3,
            ..Default::default()
        },
        Map::new(),
        &mut Quiet,
    )
    .unwrap();
    assert!(trained
        .dropped
        .iter()
        .any(|(c, why)| c == "empty" && why.contains("NULL in every")));
    let _: &Column = &set.columns[0];
    assert!(matches!(set.columns[5].values, ColumnValues::Numbers(_)));
}

#[test]
fn the_artifact_is_format_2_with_the_rfc_8785_hash() {
    let set = raw_set(2000, 3);
    let settings = TrainSettings {
        top_k: 3,
        ..Default::default()
    };
    let trained = train(&set, &settings, meta(), &mut Quiet).unwrap();
    let doc = &trained.artifact;
    assert_eq!(doc["format_version"], 2);
    let sha = crate::canonical::jcs_sha256(doc.as_object().unwrap(), "sha256").unwrap();
    assert_eq!(doc["sha256"], json!(sha));
    // The format-2 loader reads it (unknown keys would be refused) as format 2.
    assert_eq!(
        crate::artifact::Artifact::from_json(doc)
            .unwrap()
            .format_version,
        2
    );
    assert_eq!(doc["training"]["source"], "test");
    assert_eq!(doc["training"]["rows"], 1600);
    assert_eq!(doc["training"]["metrics"], trained.metrics);
    let day = doc["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["column"] == "day")
        .unwrap();
    assert_eq!(day["encoder"]["categories"], json!(["mon", "tue", "wed"]));
    assert_eq!(day["encoder"]["missing_category"], true);
    assert_eq!(
        day["encoder"]["features"],
        json!(["day_tue", "day_wed", "day_nan"])
    );
}

#[test]
fn a_column_whose_variance_overflows_is_an_out_of_range_error_naming_it() {
    let mut set = raw_set(400, 5);
    if let ColumnValues::Numbers(v) = &mut set.columns[0].values {
        v.iter_mut().for_each(|x| *x *= 1e300);
    }
    let err = train(&set, &TrainSettings::default(), Map::new(), &mut Quiet).unwrap_err();
    assert_eq!(err.kind, TrainErrorKind::OutOfRange);
    assert!(
        err.message
            .starts_with("column \"a\" cannot be standardised: its variance overflows"),
        "{}",
        err.message
    );
    assert!(err.hint.unwrap().contains("options.exclude [\"a\"]"));
}

#[test]
fn a_training_above_max_memory_mb_is_refused_before_allocating() {
    let set = raw_set(20_000, 11);
    let settings = TrainSettings {
        top_k: 3,
        max_memory_mb: 1,
        ..Default::default()
    };
    let err = train(&set, &settings, Map::new(), &mut Quiet).unwrap_err();
    assert_eq!(err.kind, TrainErrorKind::Limit);
    assert!(
        err.message.contains("more than max_memory_mb = 1")
            && err.message.contains("16000 training rows x 7 features"), // 6 and the intercept
        "{}",
        err.message
    );
}
