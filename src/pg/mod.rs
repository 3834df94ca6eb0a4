//! The PostgreSQL glue: catalog, caches, SQL functions and planner support. Thin by design;
//! the model itself is the `purchase_model` crate. ARCHITECTURE.md says how the parts and
//! their caches fit together.

mod citus;
mod cleaning_function;
mod datum;
pub(crate) mod errors;
mod insights;
mod models;
// TEMPORARY: audited on branch sqlsafety; the lead removes this at merge
#[allow(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
mod planner;
mod refresh;
// TEMPORARY: audited on branch sqlsafety; the lead removes this at merge
#[allow(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
mod scoring;
mod training;
