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
fn in_transaction_block() -> bool {
    // SAFETY: IsTransactionBlock only reads the backend's transaction state, which exists
    // whenever a SQL function runs; it takes no arguments and cannot raise.
    unsafe { pg_sys::IsTransactionBlock() }
}

// A hand-written V1 function rather than #[pg_extern]: refresh.sql and the frozen upgrade
// script sql/pg_purchase--0.2.0--0.3.0.sql declare `purchase.refresh_in_transaction_block()`
// with the C symbol `purchase_in_transaction_block`, and pgrx would name its symbol
// `<rust fn>_wrapper`. Converting would need this symbol kept beside pgrx's anyway, and would
// leave a fresh install (pgrx's symbol in pg_proc.prosrc) different from an upgraded one.

#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_purchase_in_transaction_block() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// `purchase.refresh_in_transaction_block() RETURNS boolean`. Safe to call: it never reads
/// `_fcinfo` (the function takes no arguments and returns a by-value boolean).
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn purchase_in_transaction_block(
    _fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    crate::pg::errors::guard_entry("refresh_in_transaction_block", || {
        pg_sys::Datum::from(in_transaction_block())
    })
}
