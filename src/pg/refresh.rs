//! Targeting-list refresh: the SQL of refresh.sql (batch scoring into a table swapped in
//! atomically, a run log, pg_cron scheduling) and the one C helper it needs.

use pgrx::prelude::*;

// Batch refresh of targeting lists and its pg_cron scheduling.
pgrx::extension_sql_file!(
    "refresh.sql",
    name = "refresh",
    requires = ["scoring_functions"]
);

/// Whether the session is inside a transaction block (after BEGIN, or among several statements
/// sent as one query string), where `refresh_purchase_targets` could not commit its run-log
/// entry; it checks first so the caller gets a hint instead of a bare 2D000. Runs no SQL.
/// A V1 function declared in refresh.sql as `purchase.refresh_in_transaction_block()`.
#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_purchase_in_transaction_block() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn purchase_in_transaction_block(
    _fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: reads the current transaction's block state, valid in any backend transaction.
    pg_sys::Datum::from(unsafe { pg_sys::IsTransactionBlock() })
}
