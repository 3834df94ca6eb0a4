//! The PostgreSQL glue: catalog, caches, SQL functions and planner support. Thin by design;
//! the model itself lives in `purchase_model`.

mod artifact_input;
mod call_site;
mod catalog;
mod citus;
mod cleaning_function;
mod column_reader;
mod columns_scoring;
pub(crate) mod errors;
mod insights;
mod jsonb_rows;
mod model_admin;
mod model_cache;
mod planner_support;
mod row_scoring;
mod schema;
mod scoring_functions;
mod scoring_output;
mod text_datum;
mod training;
