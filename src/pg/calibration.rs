//! `calibrate_purchase_model`: a new version of a model whose p_hat is calibrated on held-out
//! labelled rows, Platt scaling or isotonic regression as scikit-learn's
//! `CalibratedClassifierCV(FrozenEstimator(model))` fits them (the math is
//! `purchase_model::calibration`). The source is read with the caller's rights; the version is
//! stored through `load_purchase_model` (SECURITY DEFINER), so it passes the same validation
//! and reference checks as any load and only roles that may load models may calibrate.

use crate::pg::errors::{guard_entry, raise, OrRaise};
use crate::pg::insights::{check_column, model_columns, outcome, quote_ident};
use crate::pg::models::cache::resolve;
use crate::pg::models::catalog;
use crate::pg::source_rows::{check_select, for_each_row, SourceTable};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use purchase_model::calibration::{calibrated_document, Calibration, METHODS};

const EXAMPLE: &str =
    "calibrate_purchase_model('holdout', 'bought', 'default', method => 'isotonic')";

/// Fits `method` on the labelled rows of `source` (NULL outcomes left out) against the active
/// version of `model`, stores the calibrated version and returns its number; it is put in
/// force only when `activate`.
#[pg_extern(volatile, parallel_unsafe)]
fn calibrate_purchase_model(
    source: Option<SourceTable>,
    target_column: Option<&str>,
    model: default!(Option<&str>, "'default'"),
    method: default!(Option<&str>, "'sigmoid'"),
    activate: default!(Option<bool>, false),
) -> i32 {
    guard_entry("calibrate_purchase_model", || {
        crate::pg::admin_only::require_purchase_admin(
            "calibrate_purchase_model",
            "It stores a new version of the model",
        );
        let source = required(source, "source");
        let target_column = required(target_column, "target_column");
        let name = required(model, "model");
        let method = required(method, "method");
        let activate = required(activate, "activate");
        if !METHODS.contains(&method) {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("argument \"method\" is \"{method}\"; the calibration methods are 'sigmoid' (Platt scaling) and 'isotonic'"),
                Some("'sigmoid' fits p = 1 / (1 + exp(a f + b)) on the model's response f; 'isotonic' an increasing step function (it needs more rows, a thousand or more).".into()),
            );
        }
        let loaded = resolve(name);
        let mut base = loaded.model.clone();
        base.calibration = None;
        let relid = source.0;
        let columns = model_columns(&loaded);
        let mut read: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        read.push(target_column);
        check_select(relid, &read);
        for c in &read {
            check_column(relid, c);
        }
        let (mut responses, mut bought) = (Vec::new(), Vec::new());
        let mut scanned = 0usize;
        for_each_row(relid, &columns, Some(target_column), |row| {
            scanned += 1;
            let Some(y) = row.text(columns.len()) else {
                return;
            };
            bought.push(outcome(target_column, &y, scanned));
            responses.push(base.response_with(|i| Ok(row.value(i))).or_raise());
        });
        let calibration = Calibration::fit(method, base.calibration_response(), &responses, &bought)
            .unwrap_or_else(|e| {
                raise(
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    e.to_string(),
                    Some("Calibrate on held-out rows the model was not trained on, with buyers and non-buyers: outcomes 0/1 or boolean; rows with a NULL outcome are left out.".into()),
                )
            });
        let stored = catalog::full_artifact(name, loaded.version).unwrap_or_default();
        let doc: serde_json::Value = serde_json::from_str(&stored).unwrap_or_else(|e| {
            raise(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!(
                    "stored artifact of model \"{name}\" version {} is not valid JSON: {e}",
                    loaded.version
                ),
                None,
            )
        });
        let unchecked = doc
            .get("checks")
            .and_then(|c| c.as_array())
            .is_none_or(|c| c.is_empty());
        let doc = calibrated_document(doc, &base, &calibration).or_raise();
        let version = store(doc, name, activate, unchecked);
        pgrx::notice!(
            "calibrate_purchase_model: {} on {} labelled rows of version {}, stored as version {version} of \"{name}\"{}",
            calibration.method(),
            responses.len(),
            loaded.version,
            if activate {
                " (active)"
            } else {
                "; SELECT activate_purchase_model(name, version) puts it in force"
            }
        );
        version
    })
}

fn required<T>(value: Option<T>, argument: &str) -> T {
    value.unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("argument \"{argument}\" must not be NULL"),
            Some(format!("e.g. {EXAMPLE}")),
        )
    })
}

/// Stores through `load_purchase_model` (SECURITY DEFINER), the one validated insert path,
/// with the caller's right to execute it.
pub(crate) fn store(
    artifact: serde_json::Value,
    name: &str,
    activate: bool,
    unchecked: bool,
) -> i32 {
    let schema = Spi::get_one::<String>(
        "SELECT n.nspname::text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_purchase'",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| raise(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, "extension pg_purchase is not installed in this database", None));
    let query = format!(
        "SELECT {}.load_purchase_model($1, $2, $3, $4)",
        quote_ident(&schema)
    );
    Spi::get_one_with_args::<i32>(
        &query,
        &[
            JsonB(artifact).into(),
            name.into(),
            activate.into(),
            unchecked.into(),
        ],
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "storing the new version returned no version",
            None,
        )
    })
}
