//! The pure purchase-propensity model of pg_purchase: artifact formats and validation, cleaning,
//! imputing, scaling, encoding, scoring, JSON rows, evaluation, drift and training.
//! This crate does not depend on pgrx (the compiler enforces what used to be a rule), so all of it
//! is tested with plain `cargo test -p purchase_model`, without PostgreSQL headers or libclang.

pub mod artifact;
pub mod calibration;
pub mod canonical;
pub mod checked_json;
pub mod clean;
pub mod compare;
pub mod drift;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod interrupt;
pub mod json_fields;
pub mod json_rows;
pub mod loaded;
pub mod model;
pub mod numeric;
pub mod numeric_in;
pub mod outcome;
pub mod targeting;
pub mod train;
pub mod tree_explain;
pub mod trees;
pub mod vocabulary;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod one_rule_tests;

#[cfg(test)]
mod property_tests;

#[cfg(test)]
mod tree_explain_tests;
