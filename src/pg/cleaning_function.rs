//! `clean_number`: the cleaning rule on its own, as SQL.
//!
//! A V1 function rather than a #[pg_extern] taking `&str`: pgrx's `&str` argument panics on
//! non-ASCII text in a database that is not UTF-8, where this raises 22021 like every other
//! pg_purchase function. The C symbol is the one earlier releases' SQL binds.

use crate::pg::datum::text::text_str;
use crate::pg::errors::{guard, OrRaise};
use crate::pg::scoring::call_site::arg;
use pgrx::prelude::*;
use purchase_model::clean::clean_number as clean;

pgrx::extension_sql!(
    r#"
-- The cleaning rule on its own: '$1,234.50' -> 1234.5, '($12.00)' -> -12, '36.29%' -> 36.29,
-- '' -> NULL; anything else is an error quoting the value.
CREATE FUNCTION "clean_number"("value" TEXT) RETURNS double precision
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'clean_number_wrapper';
"#,
    name = "clean_number",
    requires = ["catalog"]
);

#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_clean_number_wrapper() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// `clean_number(value text) RETURNS float8` (STRICT).
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn clean_number_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    guard(|| {
        let (value, _) = arg(fcinfo, 0);
        match clean("clean_number", text_str("clean_number", value)).or_raise() {
            Some(v) => v.into_datum().unwrap(),
            None => pgrx::fcinfo::pg_return_null(fcinfo),
        }
    })
}
