//! `clean_number`: the cleaning rule on its own, as SQL.
//!
//! The argument is a [`TextArg`] rather than pgrx's `&str`: pgrx's `&str` panics on non-ASCII
//! text in a database that is not UTF-8, where this raises 22021 like every other pg_purchase
//! function. pgrx names the C symbol `clean_number_wrapper`, the one earlier releases' SQL
//! binds (sql/pg_purchase--0.1.0.sql, --0.2.0.sql).

use crate::pg::datum::text::TextArg;
use crate::pg::errors::{guard_entry, OrRaise};
use pgrx::prelude::*;
use purchase_model::clean::clean_number as clean;

/// The cleaning rule on its own: '$1,234.50' -> 1234.5, '($12.00)' -> -12, '36.29%' -> 36.29,
/// '' -> NULL; anything else is an error quoting the value.
#[pg_extern(immutable, strict, parallel_safe)]
fn clean_number(value: TextArg<'_>) -> Option<f64> {
    guard_entry("clean_number", || {
        clean("clean_number", value.as_str("clean_number")).or_raise()
    })
}
