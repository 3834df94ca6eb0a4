//! JSON-in/JSON-out scoring (the old web service's contract) and the cleaning rule alone.

use super::errors::OrRaise;
use super::model_cache::resolve;
use crate::pipeline::clean::clean_number as clean;
use crate::pipeline::json_rows::service_answers;
use pgrx::prelude::*;
use pgrx::JsonB;

/// One raw row (object) or an array of rows in; an array of
/// `{business_outcome, p_hat, <features>}` out, in input order.
#[pg_extern(stable, parallel_safe, strict)]
fn predict_purchase_json(rows: JsonB, model: default!(&str, "'default'")) -> JsonB {
    let loaded = resolve(model);
    JsonB(serde_json::Value::Array(
        service_answers(&loaded.model, &rows.0).or_raise(),
    ))
}

/// The cleaning rule on its own: '$1,234.50' -> 1234.5, '($12.00)' -> -12, '36.29%' -> 36.29,
/// '' -> NULL; anything else is an error quoting the value.
#[pg_extern(immutable, parallel_safe, strict)]
fn clean_number(value: &str) -> Option<f64> {
    clean("clean_number", value).or_raise()
}
