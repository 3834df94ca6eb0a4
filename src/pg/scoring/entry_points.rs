//! The SQL scoring functions. They are plain V1 C functions (declared in `scoring.sql`) rather
//! than #[pg_extern]s. pgrx 0.18.1's #[pg_extern] cannot express them without changing the
//! installed SQL or slowing the hot path (checked in pgrx-macros / pgrx-sql-entity-graph 0.18.1):
//!
//! - **C symbol names**: a #[pg_extern] always exports `<rust name>_wrapper`
//!   (`pgrx-sql-entity-graph/src/finfo.rs`). The frozen install scripts 0.1.0 and 0.2.0 bind
//!   `predict_purchase_row`, `purchase_outcome_row`, `score_purchase_row`,
//!   `purchase_features_row`, the four `*_columns` and `purchase_planner_support`: none ends in
//!   `_wrapper`, so a database still on 0.1.0/0.2.0 would lose them with this library.
//! - **`*_row(record, text)`**: pgrx unboxes a composite argument into a `PgHeapTuple` (a
//!   copied tuple, deformed by name) on every call; the row path must read the raw
//!   `HeapTupleHeader` through its call-site layout (`row.rs`), which is the reason the path is
//!   faster than plain SQL. The virtual `fcinfo: pg_sys::FunctionCallInfo` argument pgrx offers
//!   does not stop the other arguments from being unboxed.
//! - **`*_columns(text, text[], VARIADIC "any")`**: pgrx's variadic is `VariadicArray<T>`,
//!   i.e. `VARIADIC T[]` of one element type; it has no `VARIADIC "any"` (values of different
//!   types, each read by its own argument type).
//! - **`predict_purchase_json`**: its symbol has the `_wrapper` form (it was a #[pg_extern] in
//!   0.1.0), but the wrapper unboxes a fixed argument list: 0.1.0/0.2.0 declare it with two
//!   arguments, 0.3.0 with three (the third read only when present), and `JsonB` unboxing
//!   would turn the binary document into a serde_json tree (many times the cost of scoring the
//!   row; `bench/run.sh` times `predict_purchase_json`) that `json.rs` avoids by reading jsonb
//!   in place.
//! - **`purchase_planner_support(internal)`**: `Internal` and `support = ...` exist, but the
//!   symbol name is frozen (above), and the functions it supports are V1 anyway.
//! - The #[pg_extern] wrapper also switches memory contexts and runs `check_and_prepare` per
//!   call, on a path whose whole per-row cost `bench/run.sh` measures (its "plain-argument
//!   call" row is the yardstick).
//!
//! The SQL (names, argument names and types, defaults, STABLE PARALLEL SAFE COST 100 SUPPORT)
//! is therefore written by hand in `scoring.sql`; `v1_function!` below gives each symbol the
//! same guard (`pg_guard` + `errors::guard`) a #[pg_extern] would.

use crate::pg::errors::{guard_entry, raise};
use crate::pg::planner::simplify;
use crate::pg::scoring::call_site::Call;
use crate::pg::scoring::columns::{score_columns, Shape};
use crate::pg::scoring::json::predict_json;
use crate::pg::scoring::output::Output;
use crate::pg::scoring::row::score_row;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

// The SQL declarations of the V1 functions below.
pgrx::extension_sql_file!(
    "scoring.sql",
    name = "scoring_functions",
    requires = ["catalog"]
);

/// A V1 function `$name` (and its `pg_finfo_` record) whose body is a safe
/// `fn(Call<'_>) -> Datum`; PostgreSQL errors and Rust panics are turned into ERRORs.
macro_rules! v1_function {
    ($finfo:ident, $name:ident, $body:expr) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pg_sys::Pg_finfo_record {
            const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        /// # Safety
        /// Called by PostgreSQL's fmgr with a valid `fcinfo` of the SQL function declared for
        /// this symbol in `scoring.sql`.
        #[pg_guard]
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $name(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
            let body: fn(Call<'_>) -> pg_sys::Datum = $body;
            // SAFETY: fmgr passes this function's own valid fcinfo; the Call lives only for
            // this call.
            let call = unsafe { Call::new(fcinfo) };
            guard_entry(stringify!($name), || body(call))
        }
    };
}

/// The row functions are CALLED ON NULL INPUT (since 0.3.0) so that a NULL model name is an
/// error, as for the admin functions; a NULL row still gives NULL (what STRICT gave).
/// (A library newer than the SQL of a database still on 0.2.0 is called STRICT: same answers.)
/// Since 0.4.0 they take a third argument, `version integer DEFAULT NULL` (a version pin;
/// NULL is the active version); 0.1.0-0.3.0's SQL calls them with two, read as no pin.
///
/// # Safety
/// `call` is a call of one of the (record, text[, integer]) scoring functions.
unsafe fn row_entry(call: Call<'_>, output: Output) -> pg_sys::Datum {
    if call.arg(1).1 {
        null_model()
    }
    if call.arg(0).1 {
        return call.return_null();
    }
    // SAFETY: a (record, text) call (this function's contract) with both arguments non-null.
    unsafe { score_row(call, output) }
}

/// A NULL model name: 22004, like a NULL argument to the admin functions.
pub fn null_model() -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
        "argument \"model\" must not be NULL",
        Some(
            "Name a loaded model, e.g. 'default'; SELECT * FROM purchase_models() lists them."
                .into(),
        ),
    )
}

v1_function!(
    pg_finfo_predict_purchase_row,
    predict_purchase_row,
    |call| {
        // SAFETY: scoring.sql declares predict_purchase_row as predict_purchase("row" record, model text).
        unsafe { row_entry(call, Output::PHat) }
    }
);
v1_function!(
    pg_finfo_purchase_outcome_row,
    purchase_outcome_row,
    |call| {
        // SAFETY: scoring.sql declares purchase_outcome_row as purchase_outcome("row" record, model text).
        unsafe { row_entry(call, Output::Outcome) }
    }
);
v1_function!(pg_finfo_score_purchase_row, score_purchase_row, |call| {
    // SAFETY: scoring.sql declares score_purchase_row as score_purchase("row" record, model text).
    unsafe { row_entry(call, Output::Score) }
});
v1_function!(
    pg_finfo_purchase_features_row,
    purchase_features_row,
    |call| {
        // SAFETY: scoring.sql declares purchase_features_row as purchase_features("row" record, model text).
        unsafe { row_entry(call, Output::Features) }
    }
);

v1_function!(
    pg_finfo_predict_purchase_columns,
    predict_purchase_columns,
    |call| {
        // SAFETY: scoring.sql declares it predict_purchase_columns(model text, columns text[], VARIADIC "any").
        unsafe { score_columns(call, Output::PHat, Shape::Active) }
    }
);
v1_function!(
    pg_finfo_purchase_outcome_columns,
    purchase_outcome_columns,
    |call| {
        // SAFETY: scoring.sql declares it purchase_outcome_columns(model text, columns text[], VARIADIC "any").
        unsafe { score_columns(call, Output::Outcome, Shape::Active) }
    }
);
v1_function!(
    pg_finfo_score_purchase_columns,
    score_purchase_columns,
    |call| {
        // SAFETY: scoring.sql declares it score_purchase_columns(model text, columns text[], VARIADIC "any").
        unsafe { score_columns(call, Output::Score, Shape::Active) }
    }
);
v1_function!(
    pg_finfo_purchase_features_columns,
    purchase_features_columns,
    |call| {
        // SAFETY: scoring.sql declares it purchase_features_columns(model text, columns text[], VARIADIC "any").
        unsafe { score_columns(call, Output::Features, Shape::Active) }
    }
);

// The pinned columns functions (since 0.4.0): what the planner rewrites a call with a constant
// version pin into, `*_version_columns(model text, version integer, columns text[], VARIADIC "any")`.
v1_function!(
    pg_finfo_predict_purchase_version_columns,
    predict_purchase_version_columns,
    |call| {
        // SAFETY: scoring.sql declares it predict_purchase_version_columns(model text, version integer, columns text[], VARIADIC "any").
        unsafe { score_columns(call, Output::PHat, Shape::Pinned) }
    }
);
v1_function!(
    pg_finfo_purchase_outcome_version_columns,
    purchase_outcome_version_columns,
    |call| {
        // SAFETY: scoring.sql declares it purchase_outcome_version_columns(model text, version integer, columns text[], VARIADIC "any").
        unsafe { score_columns(call, Output::Outcome, Shape::Pinned) }
    }
);
v1_function!(
    pg_finfo_score_purchase_version_columns,
    score_purchase_version_columns,
    |call| {
        // SAFETY: scoring.sql declares it score_purchase_version_columns(model text, version integer, columns text[], VARIADIC "any").
        unsafe { score_columns(call, Output::Score, Shape::Pinned) }
    }
);
v1_function!(
    pg_finfo_purchase_features_version_columns,
    purchase_features_version_columns,
    |call| {
        // SAFETY: scoring.sql declares it purchase_features_version_columns(model text, version integer, columns text[], VARIADIC "any").
        unsafe { score_columns(call, Output::Features, Shape::Pinned) }
    }
);

// The symbol name is the one release 0.1.0's SQL binds (it was a #[pg_extern] then), so a
// database still on 0.1.0 or 0.2.0 keeps working with this library. Those releases declare it
// (rows jsonb, model text) STRICT; 0.3.0 adds "strict boolean DEFAULT true" and CALLED ON NULL
// INPUT (the update script re-creates the function). `predict_json` reads the third argument
// only when the call has one: a two-argument call is strict mode, the default.
v1_function!(
    pg_finfo_predict_purchase_json_wrapper,
    predict_purchase_json_wrapper,
    |call| {
        // SAFETY: every release declares it predict_purchase_json(jsonb, text[, boolean]).
        unsafe { predict_json(call) }
    }
);

v1_function!(
    pg_finfo_purchase_planner_support,
    purchase_planner_support,
    |call| {
        // Declared STRICT (internal): argument 0 is the planner's request node.
        let req = call.arg(0).0.cast_mut_ptr::<pg_sys::Node>();
        // SAFETY: a support function's argument is a valid request Node (SupportRequest*).
        if !unsafe { pgrx::is_a(req, pg_sys::NodeTag::T_SupportRequestSimplify) } {
            return pg_sys::Datum::from(0);
        }
        // SAFETY: just checked to be the planner's SupportRequestSimplify.
        match unsafe { simplify(req.cast()) } {
            Some(expr) => pg_sys::Datum::from(expr),
            None => pg_sys::Datum::from(0),
        }
    }
);
