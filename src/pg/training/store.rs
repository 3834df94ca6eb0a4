//! Storing a trained artifact: through `load_purchase_model` itself (SECURITY DEFINER), so a
//! trained model passes exactly the validation, hash and reference checks of an imported one,
//! and only roles that may load models may train them.

use crate::pg::errors::raise;
use crate::pg::insights::quote_ident;
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::Value;

pub fn now_text() -> String {
    Spi::get_one::<String>("SELECT pg_catalog.now()::text")
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Stores through `load_purchase_model` (SECURITY DEFINER): the one validated insert path.
pub fn store(artifact: Value, name: &str, activate: bool) -> i32 {
    let schema = Spi::get_one::<String>(
        "SELECT n.nspname::text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_purchase'",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| raise(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, "extension pg_purchase is not installed in this database", None));
    // A staged version (the default) may read other columns than the active one: it serves
    // no query until activate_purchase_model chooses it. An activated one is held to the
    // active version's columns like any load (train with activate false, then activate).
    let query = format!(
        "SELECT {}.load_purchase_model($1, $2, $3, replace_inputs => $4)",
        quote_ident(&schema)
    );
    let version = Spi::get_one_with_args::<i32>(
        &query,
        &[
            JsonB(artifact).into(),
            name.into(),
            activate.into(),
            (!activate).into(),
        ],
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "storing the trained model returned no version",
            None,
        )
    });
    pgrx::notice!(
        "train_purchase_model: stored as version {version} of \"{name}\"{}",
        if activate {
            " (active)"
        } else {
            "; SELECT activate_purchase_model(name, version) puts it in force"
        }
    );
    version
}
