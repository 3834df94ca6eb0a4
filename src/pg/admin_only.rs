//! Functions that store a model version (`set_purchase_threshold`, `calibrate_purchase_model`)
//! are purchase_admin's. EXECUTE alone would refuse other roles with a bare "permission denied"
//! naming no role, so these functions are executable by everyone, run with the caller's rights,
//! and refuse a caller outside purchase_admin first, with a hint naming the role to grant. They
//! store through `load_purchase_model`, itself purchase_admin's: the check is not the only gate.

use crate::pg::errors::raise;
use crate::pg::insights::quote_ident;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Raises 42501 unless the calling role is purchase_admin or a member of it (USAGE: the
/// privileges inherited, as for any grant; a superuser passes).
pub fn require_purchase_admin(function: &str, what: &str) {
    let member = Spi::get_one::<bool>("SELECT pg_catalog.pg_has_role('purchase_admin', 'USAGE')")
        .ok()
        .flatten()
        .unwrap_or(false);
    if member {
        return;
    }
    let role = Spi::get_one::<String>("SELECT current_user::text")
        .ok()
        .flatten()
        .unwrap_or_default();
    raise(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("permission denied for function {function}"),
        Some(format!(
            "{what}, which is for purchase_admin: GRANT purchase_admin TO {};",
            quote_ident(&role)
        )),
    )
}
