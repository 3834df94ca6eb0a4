//! The PostgreSQL glue: catalog, caches, SQL functions and planner support. Thin by design;
//! the model itself is the `purchase_model` crate. ARCHITECTURE.md says how the parts and
//! their caches fit together.

mod admin_only;
mod bad_rows;
mod calibration;
mod citus;
mod cleaning_function;
mod compare;
mod datum;
pub(crate) mod errors;
mod explain;
mod insights;
mod models;
mod ownership;
mod planner;
mod refresh;
mod row_columns;
mod scoring;
mod source_rows;
mod targeting;
mod training;
