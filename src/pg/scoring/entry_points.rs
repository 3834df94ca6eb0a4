//! The SQL scoring functions. They are plain V1 C functions (declared in `scoring.sql`) rather
//! than #[pg_extern]s because they need the raw `fcinfo`: a `record` argument read through the
//! call-site cache, `VARIADIC "any"` column arguments, and the planner support request.

use crate::pg::errors::{guard, raise};
use crate::pg::planner::simplify;
use crate::pg::scoring::call_site::arg;
use crate::pg::scoring::columns::score_columns;
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

macro_rules! v1_function {
    ($finfo:ident, $name:ident, $body:expr) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pg_sys::Pg_finfo_record {
            const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        #[pg_guard]
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $name(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
            let body: unsafe fn(pg_sys::FunctionCallInfo) -> pg_sys::Datum = $body;
            guard(|| body(fcinfo))
        }
    };
}

/// The row functions are CALLED ON NULL INPUT (since 0.3.0) so that a NULL model name is an
/// error, as for the admin functions; a NULL row still gives NULL (what STRICT gave).
/// (A library newer than the SQL of a database still on 0.2.0 is called STRICT: same answers.)
///
/// # Safety
/// `fcinfo` is a call of one of the (record, text) scoring functions.
unsafe fn row_entry(fcinfo: pg_sys::FunctionCallInfo, output: Output) -> pg_sys::Datum {
    if arg(fcinfo, 1).1 {
        null_model()
    }
    if arg(fcinfo, 0).1 {
        return pgrx::fcinfo::pg_return_null(fcinfo);
    }
    score_row(fcinfo, output)
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
    |f| unsafe { row_entry(f, Output::PHat) }
);
v1_function!(
    pg_finfo_purchase_outcome_row,
    purchase_outcome_row,
    |f| unsafe { row_entry(f, Output::Outcome) }
);
v1_function!(
    pg_finfo_score_purchase_row,
    score_purchase_row,
    |f| unsafe { row_entry(f, Output::Score) }
);
v1_function!(
    pg_finfo_purchase_features_row,
    purchase_features_row,
    |f| unsafe { row_entry(f, Output::Features) }
);

v1_function!(
    pg_finfo_predict_purchase_columns,
    predict_purchase_columns,
    |f| unsafe { score_columns(f, Output::PHat) }
);
v1_function!(
    pg_finfo_purchase_outcome_columns,
    purchase_outcome_columns,
    |f| unsafe { score_columns(f, Output::Outcome) }
);
v1_function!(
    pg_finfo_score_purchase_columns,
    score_purchase_columns,
    |f| unsafe { score_columns(f, Output::Score) }
);
v1_function!(
    pg_finfo_purchase_features_columns,
    purchase_features_columns,
    |f| unsafe { score_columns(f, Output::Features) }
);

// The symbol name is the one release 0.1.0's SQL binds (it was a #[pg_extern] then), so a
// database still on 0.1.0 or 0.2.0 keeps working with this library. Those releases declare it
// (rows jsonb, model text) STRICT; 0.3.0 adds "strict boolean DEFAULT true" and CALLED ON NULL
// INPUT (the update script re-creates the function). `predict_json` reads the third argument
// only when the call has one: a two-argument call is strict mode, the default.
v1_function!(
    pg_finfo_predict_purchase_json_wrapper,
    predict_purchase_json_wrapper,
    |f| unsafe { predict_json(f) }
);

v1_function!(
    pg_finfo_purchase_planner_support,
    purchase_planner_support,
    |fcinfo| unsafe {
        let req = (*(*fcinfo).args.as_ptr())
            .value
            .cast_mut_ptr::<pg_sys::Node>();
        if !pgrx::is_a(req, pg_sys::NodeTag::T_SupportRequestSimplify) {
            return pg_sys::Datum::from(0);
        }
        match simplify(req.cast()) {
            Some(expr) => pg_sys::Datum::from(expr),
            None => pg_sys::Datum::from(0),
        }
    }
);
