//! `clean_number`: the cleaning rule on its own, as SQL.

use super::errors::OrRaise;
use crate::pipeline::clean::clean_number as clean;
use pgrx::prelude::*;

/// The cleaning rule on its own: '$1,234.50' -> 1234.5, '($12.00)' -> -12, '36.29%' -> 36.29,
/// '' -> NULL; anything else is an error quoting the value.
#[pg_extern(immutable, parallel_safe, strict)]
fn clean_number(value: &str) -> Option<f64> {
    clean("clean_number", value).or_raise()
}
