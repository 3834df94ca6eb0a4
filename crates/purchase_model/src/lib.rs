//! The pure scoring pipeline: artifact format, cleaning, imputing, scaling, encoding, scoring.
//! Nothing here imports pgrx, so all of it is tested with plain `cargo test`.

pub mod artifact;
pub mod canonical;
pub mod checked_json;
pub mod clean;
pub mod drift;
pub mod error;
pub mod evaluate;
pub mod interrupt;
pub mod json_fields;
pub mod json_rows;
pub mod loaded;
pub mod model;
pub mod train;
pub mod vocabulary;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod property_tests;
