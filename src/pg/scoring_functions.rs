//! The SQL scoring functions. They are plain V1 C functions (declared in `schema.rs`) rather
//! than #[pg_extern]s because they need the raw `fcinfo`: a `record` argument read through the
//! call-site cache, `VARIADIC "any"` column arguments, and the planner support request.

use super::columns_scoring::score_columns;
use super::jsonb_rows::predict_json;
use super::planner_support::simplify;
use super::row_scoring::score_row;
use super::scoring_output::Output;
use pgrx::prelude::*;

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
            body(fcinfo)
        }
    };
}

v1_function!(
    pg_finfo_predict_purchase_row,
    predict_purchase_row,
    |f| unsafe { score_row(f, Output::PHat) }
);
v1_function!(
    pg_finfo_purchase_outcome_row,
    purchase_outcome_row,
    |f| unsafe { score_row(f, Output::Outcome) }
);
v1_function!(
    pg_finfo_score_purchase_row,
    score_purchase_row,
    |f| unsafe { score_row(f, Output::Score) }
);
v1_function!(
    pg_finfo_purchase_features_row,
    purchase_features_row,
    |f| unsafe { score_row(f, Output::Features) }
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
// database still on 0.1.0 keeps working with this library.
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
