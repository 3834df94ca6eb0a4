//! `purchase.feature_contributions(features, model, version)`: one row's per-feature contributions to
//! its logit, from the model inputs `purchase_features` gave for it. A logistic model's share
//! is coefficient x input (and the intercept); a tree model's is its exact TreeSHAP value
//! (`purchase_model::tree_explain`), with the expected value as a row of its own.
//! `explain_purchase` (insights.sql) orders, limits and, with `by_column`, sums these rows.

use crate::pg::errors::{guard_entry, raise, OrRaise};
use crate::pg::models::cache::resolve_version;
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use purchase_model::error::PipelineError;
use purchase_model::model::CompiledModel;
use purchase_model::tree_explain;
use serde_json::Value;

type ContributionRow = (String, Option<String>, Option<f64>, Option<f64>, f64);

/// Declared in insights.sql as `purchase.feature_contributions(features jsonb, model text,
/// version integer)` (STABLE, PARALLEL SAFE: it reads the catalog and writes nothing). Not
/// STRICT, as a NULL version is the active one: NULL features or model give no rows.
#[pg_extern(sql = false)]
#[allow(clippy::type_complexity)]
fn feature_contributions(
    features: Option<JsonB>,
    model: Option<&str>,
    version: Option<i32>,
) -> TableIterator<
    'static,
    (
        name!(feature, String),
        name!(input_column, Option<String>),
        name!(model_input, Option<f64>),
        name!(coefficient, Option<f64>),
        name!(contribution, f64),
    ),
> {
    guard_entry("feature_contributions", || {
        let (Some(features), Some(model)) = (features, model) else {
            return TableIterator::new(Vec::new());
        };
        let loaded = resolve_version(model, version);
        let Value::Object(values) = &features.0 else {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "features must be the jsonb object purchase_features gives",
                None,
            )
        };
        let value = |name: &str| -> Result<Option<f64>, PipelineError> {
            match values.get(name) {
                Some(Value::Number(n)) => Ok(n.as_f64()),
                Some(Value::Null) => Ok(None),
                _ => Err(PipelineError::InvalidInput(format!(
                    "features has no number for model feature \"{name}\"; pass what purchase_features(row, model) gives"
                ))),
            }
        };
        let rows = if loaded.model.is_trees() {
            tree_rows(&loaded.name, loaded.version, &loaded.model, value)
        } else {
            logistic_rows(&loaded.model, value)
        };
        TableIterator::new(rows)
    })
}

/// coefficient x model input per feature, then the intercept when it is not zero: the same
/// arithmetic as `coefficient * (features->>feature)::float8` in SQL. "+ 0.0": a zero input times
/// a negative coefficient is -0 in IEEE arithmetic and -0 + 0 is 0 (any other value is
/// unchanged), so no input or contribution prints as -0.
fn logistic_rows<F>(model: &CompiledModel, mut value: F) -> Vec<ContributionRow>
where
    F: FnMut(&str) -> Result<Option<f64>, PipelineError>,
{
    let mut rows: Vec<ContributionRow> = model
        .features
        .iter()
        .map(|f| {
            let x = value(&f.name).or_raise().unwrap_or(f64::NAN);
            (
                f.name.clone(),
                Some(model.feature_column(f).to_string()),
                Some(x + 0.0),
                Some(f.coef),
                f.coef * x + 0.0,
            )
        })
        .collect();
    if model.intercept != 0.0 {
        rows.push((
            "(intercept)".into(),
            None,
            Some(1.0),
            Some(model.intercept),
            model.intercept * 1.0,
        ));
    }
    rows
}

fn tree_rows<F>(name: &str, version: i32, model: &CompiledModel, value: F) -> Vec<ContributionRow>
where
    F: FnMut(&str) -> Result<Option<f64>, PipelineError>,
{
    if !tree_explain::explainable(model) {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("purchase model \"{name}\" version {version} is a tree ensemble whose artifact carries no node covers, which TreeSHAP needs"),
            Some("Re-export the model with this pg_purchase's exporter (python -m pg_purchase export), which stores each node's cover.".into()),
        )
    }
    let e = tree_explain::explain_row(model, value).or_raise();
    let mut rows: Vec<ContributionRow> = e
        .contributions
        .into_iter()
        .map(|c| {
            (
                c.feature,
                Some(c.input_column),
                c.model_input,
                None,
                c.contribution,
            )
        })
        .collect();
    rows.push((
        "(expected value)".into(),
        None,
        None,
        None,
        e.expected_value,
    ));
    rows
}
