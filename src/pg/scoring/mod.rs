//! Scoring: the V1 entry points, the row path (any record), the column path (what the planner
//! rewrites table rows into), the JSON path, the shared output and the per-call-site state.

pub(crate) mod binder;
pub(crate) mod call_site;
pub(crate) mod columns;
pub(crate) mod entry_points;
pub(crate) mod json;
#[cfg(any(test, feature = "pg_test"))]
mod json_writer_tests;
pub(crate) mod output;
pub(crate) mod row;
pub(crate) mod score_tuple;
