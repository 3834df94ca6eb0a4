//! What the model weighs: one row per feature (and the intercept when it is not zero) with its
//! coefficient, standard error, odds ratio, rank by |coefficient| and the standardization of a
//! numeric feature. `purchase_model_weights` returns these rows; `explain_purchase` multiplies
//! them by one row's model inputs.

use crate::model::CompiledModel;
use serde_json::Value;

/// One row of the weights table.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureWeight {
    pub feature: String,
    /// The raw column the feature is computed from; None for the intercept.
    pub input_column: Option<String>,
    pub coefficient: f64,
    pub std_error: Option<f64>,
    pub odds_ratio: f64,
    /// 1 for the largest |coefficient|; 0 for the intercept.
    pub rank: i32,
    pub mean: Option<f64>,
    pub scale: Option<f64>,
}

/// The standard errors a stored artifact carries per feature (`model.std_errors`, in feature
/// order, null where unknown). Neither format carries one for the intercept.
pub fn standard_errors(doc: &Value) -> Option<Vec<Option<f64>>> {
    doc.pointer("/model/std_errors")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(Value::as_f64).collect())
}

/// The weights table of `model`, features in model order, then the intercept if it is not zero.
/// Ties in |coefficient| keep model order in the ranking.
pub fn weights(model: &CompiledModel, std_errors: Option<&[Option<f64>]>) -> Vec<FeatureWeight> {
    let mut order: Vec<usize> = (0..model.features.len()).collect();
    order.sort_by(|&a, &b| {
        model.features[b]
            .coef
            .abs()
            .total_cmp(&model.features[a].coef.abs())
    });
    let mut rank = vec![0i32; model.features.len()];
    for (r, &f) in order.iter().enumerate() {
        rank[f] = r as i32 + 1;
    }
    let mut rows: Vec<FeatureWeight> = model
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let scaling = model.feature_scaling(f);
            FeatureWeight {
                feature: f.name.clone(),
                input_column: Some(model.feature_column(f).to_string()),
                coefficient: f.coef,
                std_error: std_errors.and_then(|s| s.get(i).copied().flatten()),
                odds_ratio: f.coef.exp(),
                rank: rank[i],
                mean: scaling.map(|s| s.0),
                scale: scaling.map(|s| s.1),
            }
        })
        .collect();
    if model.intercept != 0.0 {
        rows.push(FeatureWeight {
            feature: "(intercept)".to_string(),
            input_column: None,
            coefficient: model.intercept,
            std_error: None,
            odds_ratio: model.intercept.exp(),
            rank: 0,
            mean: None,
            scale: None,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loaded::compile_artifact;

    const BUNDLED: &str = include_str!("../../../artifacts/purchase_model.json");

    #[test]
    fn the_bundled_model_weights() {
        let doc: Value = serde_json::from_str(BUNDLED).unwrap();
        let model = compile_artifact(&doc, false).unwrap();
        let se = standard_errors(&doc).expect("the bundled artifact carries std_errors");
        let rows = weights(&model, Some(&se));
        // 25 features; the notebook's refit has no intercept.
        assert_eq!(model.intercept, 0.0);
        assert_eq!(rows.len(), 25);
        let mut ranks: Vec<i32> = rows.iter().map(|r| r.rank).collect();
        ranks.sort();
        assert_eq!(ranks, (1..=25).collect::<Vec<_>>());
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.feature, model.features[i].name);
            assert_eq!(r.coefficient, model.features[i].coef);
            assert_eq!(r.odds_ratio, r.coefficient.exp());
            assert_eq!(r.std_error, se[i]);
            // Rank 1 has the largest |coefficient|, and ranks follow |coefficient|.
            for other in &rows {
                if other.rank < r.rank {
                    assert!(other.coefficient.abs() >= r.coefficient.abs());
                }
            }
        }
        // A scaled numeric feature reports the scaler's mean and scale; an indicator none.
        let x12 = rows.iter().find(|r| r.feature == "x12").unwrap();
        assert_eq!(x12.input_column.as_deref(), Some("x12"));
        assert_eq!(x12.mean, Some(20.485288437500007));
        assert_eq!(x12.scale, Some(5775.428520080214));
        let monday = rows.iter().find(|r| r.feature == "x5_monday").unwrap();
        assert_eq!(monday.input_column.as_deref(), Some("x5"));
        assert_eq!((monday.mean, monday.scale), (None, None));
    }

    #[test]
    fn a_non_zero_intercept_is_a_row_of_its_own() {
        let mut doc: Value = serde_json::from_str(BUNDLED).unwrap();
        doc.as_object_mut().unwrap().remove("sha256");
        doc["model"]["intercept"] = serde_json::json!(-0.5);
        let model =
            CompiledModel::compile(&crate::artifact::Artifact::from_json(&doc).expect("artifact"))
                .unwrap();
        let se = standard_errors(&doc);
        let rows = weights(&model, se.as_deref());
        let last = rows.last().unwrap();
        assert_eq!(last.feature, "(intercept)");
        assert_eq!(last.input_column, None);
        assert_eq!(last.coefficient, -0.5);
        assert_eq!(last.std_error, None);
        assert_eq!(last.odds_ratio, (-0.5f64).exp());
        assert_eq!(last.rank, 0);
        // Without standard errors in the artifact, none is reported.
        let rows = weights(&model, None);
        assert!(rows.iter().all(|r| r.std_error.is_none()));
    }
}
