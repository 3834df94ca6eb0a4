//! Whom to contact, by money: `optimize_purchase_threshold` (the profit-maximising cut-off on
//! labelled rows; the search itself is `purchase_model::targeting`) and
//! `set_purchase_threshold` (a new version that differs only in its threshold).

use crate::pg::errors::{guard_entry, raise, OrRaise};
use crate::pg::insights::{check_column, model_columns, outcome};
use crate::pg::models::cache::resolve;
use crate::pg::models::catalog;
use crate::pg::source_rows::{check_select, for_each_row, SourceTable};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use purchase_model::targeting::ProfitSearch;

/// Scores every row of `source` with the active version of `model` (in Rust, with the version
/// it reports) and finds the threshold that maximises `value × buyers − cost × contacts`.
/// Rows whose outcome is NULL are left out and counted.
#[pg_extern(stable, parallel_safe)]
fn optimize_purchase_threshold(
    source: Option<SourceTable>,
    target_column: Option<&str>,
    model: default!(Option<&str>, "'default'"),
    value_per_purchase: default!(Option<f64>, "NULL"),
    cost_per_contact: default!(Option<f64>, "NULL"),
) -> JsonB {
    guard_entry("optimize_purchase_threshold", || {
        let source = required(source, "source", OPTIMIZE_EXAMPLE);
        let target_column = required(target_column, "target_column", OPTIMIZE_EXAMPLE);
        let model = required(model, "model", OPTIMIZE_EXAMPLE);
        let value = required(value_per_purchase, "value_per_purchase", OPTIMIZE_EXAMPLE);
        let cost = required(cost_per_contact, "cost_per_contact", OPTIMIZE_EXAMPLE);
        let loaded = resolve(model);
        let relid = source.0;
        let columns = model_columns(&loaded);
        let mut read: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        read.push(target_column);
        check_select(relid, &read);
        for c in &read {
            check_column(relid, c);
        }
        let mut search = ProfitSearch::with_capacity(1024);
        let mut without_outcome = 0i64;
        let mut scanned = 0usize;
        for_each_row(relid, &columns, Some(target_column), |row| {
            scanned += 1;
            let Some(y) = row.text(columns.len()) else {
                without_outcome += 1;
                return;
            };
            let bought = outcome(target_column, &y, scanned);
            let p = loaded
                .model
                .score_with(|i| Ok(row.value(i)))
                .or_raise()
                .p_hat;
            search.add(p, bought);
        });
        let optimum = search
            .optimize(value, cost, loaded.model.threshold)
            .or_raise();
        let mut answer = optimum.to_json();
        let obj = answer.as_object_mut().expect("to_json builds an object");
        obj.insert("rows_without_outcome".into(), without_outcome.into());
        obj.insert("model".into(), loaded.name.clone().into());
        obj.insert("version".into(), loaded.version.into());
        obj.insert("model_threshold".into(), loaded.model.threshold.into());
        JsonB(answer)
    })
}

/// An argument that must be given: NULL is 22004 naming it, never a silent NULL answer.
fn required<T>(value: Option<T>, argument: &str, example: &str) -> T {
    value.unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("argument \"{argument}\" must not be NULL"),
            Some(format!("e.g. {example}")),
        )
    })
}

const OPTIMIZE_EXAMPLE: &str = "optimize_purchase_threshold('customers', 'bought', value_per_purchase => 40, cost_per_contact => 1.5)";
const SET_EXAMPLE: &str = "set_purchase_threshold('default', 0.42)";

/// Stores a new version of `model` that is its active version with another threshold, through
/// the same validation and reference checks as any load; returns the new version. Rolling back
/// is activating the previous version, as for any version.
#[pg_extern(volatile, parallel_unsafe)]
fn set_purchase_threshold(
    model: Option<&str>,
    threshold: Option<f64>,
    activate: default!(Option<bool>, true),
) -> i32 {
    guard_entry("set_purchase_threshold", || {
        crate::pg::admin_only::require_purchase_admin(
            "set_purchase_threshold",
            "It stores a new version of the model",
        );
        let name = required(model, "model", SET_EXAMPLE);
        let activate = required(activate, "activate", SET_EXAMPLE);
        let threshold = match threshold {
            Some(t) if t > 0.0 && t < 1.0 => t,
            other => raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!(
                    "threshold must lie strictly between 0 and 1, not {}",
                    other.map_or("NULL".to_string(), |t| t.to_string())
                ),
                Some("It is a probability: customers with p_hat above it are contacted; optimize_purchase_threshold finds the most profitable one.".into()),
            ),
        };
        // The active version (an error listing the loaded models when there is none).
        let version = resolve(name).version;
        let stored = catalog::full_artifact(name, version).unwrap_or_default();
        let mut doc: serde_json::Value = serde_json::from_str(&stored).unwrap_or_else(|e| {
            raise(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!(
                    "stored artifact of model \"{name}\" version {version} is not valid JSON: {e}"
                ),
                None,
            )
        });
        let unchecked = doc
            .get("checks")
            .and_then(|c| c.as_array())
            .is_none_or(|c| c.is_empty());
        let top = doc.as_object_mut().expect("a stored artifact is an object");
        top.insert("threshold".into(), threshold.into());
        // The hash is of the content, which changed. Format 1 may go without one (the load
        // computes it); format 2 and the tree format must carry theirs: RFC 8785 of the rest.
        top.remove("sha256");
        if top.get("format_version").and_then(|v| v.as_i64()) != Some(1)
            || top.get("format").and_then(|v| v.as_str()) != Some("pg_purchase.logistic_pipeline")
        {
            let hash = purchase_model::canonical::jcs_sha256(top, "sha256").or_raise();
            top.insert("sha256".into(), hash.into());
        }
        // Stored through load_purchase_model (SECURITY DEFINER, purchase_admin's) with the
        // caller's right to execute it; the same input columns by construction.
        crate::pg::calibration::store(doc, name, activate, unchecked)
    })
}
