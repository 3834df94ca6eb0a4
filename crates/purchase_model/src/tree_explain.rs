//! What a tree model's answer is made of: per row, each model feature's exact TreeSHAP
//! contribution to the raw score (log-odds) and the expected value (`explain_purchase`); over
//! the artifact's reference rows, the mean |contribution| per feature, with the library's
//! split counts and total gain (`purchase_model_weights`). A tree model has no coefficients,
//! so neither answer invents one.

use crate::error::Result;
use crate::json_rows::{prepare_row, RowScratch};
use crate::model::{CompiledModel, Prepared};
use crate::trees::Ensemble;
use serde_json::Value;

/// One feature's share of one row's raw score.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeContribution {
    pub feature: String,
    pub input_column: String,
    /// The value the trees read (a number or a category code); None when missing.
    pub model_input: Option<f64>,
    pub contribution: f64,
}

/// A row's explanation: the contributions (model feature order) and the expected raw score
/// over the training cover. Together they add up to the row's raw score.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeExplanation {
    pub contributions: Vec<TreeContribution>,
    pub expected_value: f64,
}

/// Whether `model` is a tree model whose artifact carries the node covers TreeSHAP needs.
pub fn explainable(model: &CompiledModel) -> bool {
    model.ensemble().is_some_and(Ensemble::has_covers)
}

/// The model inputs of a row in input order (the ensemble's feature order), given each
/// feature's value by name (None: missing, which the trees route themselves).
fn inputs_by_feature<F>(model: &CompiledModel, mut value: F) -> Result<Vec<f64>>
where
    F: FnMut(&str) -> Result<Option<f64>>,
{
    let mut x = vec![f64::NAN; model.inputs.len()];
    for f in &model.features {
        x[model.feature_input(f)] = value(&f.name)?.unwrap_or(f64::NAN);
    }
    Ok(x)
}

/// TreeSHAP of one row whose model inputs (what `purchase_features` shows) `value` gives by
/// feature name. Errors when the model is not a tree model with covers.
pub fn explain_row<F>(model: &CompiledModel, value: F) -> Result<TreeExplanation>
where
    F: FnMut(&str) -> Result<Option<f64>>,
{
    let ensemble = tree_ensemble(model)?;
    let x = inputs_by_feature(model, value)?;
    let c = ensemble.contributions(&x)?;
    let contributions = model
        .features
        .iter()
        .map(|f| {
            let i = model.feature_input(f);
            TreeContribution {
                feature: f.name.clone(),
                input_column: model.feature_column(f).to_string(),
                model_input: Some(x[i]).filter(|v| !v.is_nan()),
                contribution: c.phi[i],
            }
        })
        .collect();
    Ok(TreeExplanation {
        contributions,
        expected_value: c.expected_value,
    })
}

fn tree_ensemble(model: &CompiledModel) -> Result<&Ensemble> {
    model
        .ensemble()
        .ok_or_else(|| crate::error::PipelineError::InvalidInput("not a tree model".into()))
}

/// One feature's global importance in a tree model.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeImportance {
    pub feature: String,
    pub input_column: String,
    /// Mean |TreeSHAP contribution| over the reference rows; None without covers or rows.
    pub mean_abs_contribution: Option<f64>,
    /// Total split gain of the feature; None when the artifact carries no gains.
    pub gain: Option<f64>,
    /// Number of splits on the feature, over all trees.
    pub splits: i32,
    /// 1 for the most important feature: by mean |contribution| when known, else by gain.
    pub rank: i32,
}

/// The artifact's reference rows (`checks[*].row`, raw rows scored at export) as model
/// inputs; rows that no longer prepare (none should: they passed at load) are an error.
pub fn reference_inputs(model: &CompiledModel, doc: &Value) -> Result<Vec<Vec<f64>>> {
    let rows = doc
        .get("checks")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut scratch = RowScratch::default();
    let mut out = Vec::with_capacity(rows.len());
    for (index, check) in rows.iter().enumerate() {
        let Some(row) = check.get("row").and_then(Value::as_object) else {
            continue;
        };
        prepare_row(model, None, row, &mut scratch).map_err(|e| e.in_element(index))?;
        out.push(
            scratch
                .prepared
                .iter()
                .map(|p| match p {
                    Prepared::Imputed(x) => *x,
                    _ => f64::NAN,
                })
                .collect(),
        );
    }
    Ok(out)
}

/// The importance table of a tree model over `reference` rows (model inputs in input order,
/// see `reference_inputs`). None when there is nothing to rank by: neither covers with at
/// least one reference row nor split gains.
pub fn importance(
    model: &CompiledModel,
    reference: &[Vec<f64>],
) -> Result<Option<Vec<TreeImportance>>> {
    let ensemble = tree_ensemble(model)?;
    let n = model.inputs.len();
    let mean_abs = if ensemble.has_covers() && !reference.is_empty() {
        let mut total = vec![0.0; n];
        for x in reference {
            let c = ensemble.contributions(x)?;
            for (t, phi) in total.iter_mut().zip(&c.phi) {
                *t += phi.abs();
            }
        }
        Some(
            total
                .into_iter()
                .map(|t| t / reference.len() as f64)
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    let (splits, gains) = ensemble.split_counts_and_gains();
    let Some(key) = mean_abs.as_ref().or(gains.as_ref()) else {
        return Ok(None);
    };
    let mut order: Vec<usize> = (0..model.features.len()).collect();
    let input = |k: usize| model.feature_input(&model.features[k]);
    order.sort_by(|&a, &b| key[input(b)].total_cmp(&key[input(a)]));
    let mut rank = vec![0i32; order.len()];
    for (r, &k) in order.iter().enumerate() {
        rank[k] = r as i32 + 1;
    }
    Ok(Some(
        model
            .features
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let i = model.feature_input(f);
                TreeImportance {
                    feature: f.name.clone(),
                    input_column: model.feature_column(f).to_string(),
                    mean_abs_contribution: mean_abs.as_ref().map(|m| m[i]),
                    gain: gains.as_ref().map(|g| g[i]),
                    splits: splits[i] as i32,
                    rank: rank[k],
                }
            })
            .collect(),
    ))
}
