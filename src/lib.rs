//! pg_purchase: purchase-propensity scoring of customer rows inside PostgreSQL.
//!
//! The model itself is the `purchase_model` crate (crates/purchase_model: no pgrx, tested with
//! `cargo test -p purchase_model`); `pg` is the thin PostgreSQL glue (catalog, caches, SQL
//! functions, planner support).

pub(crate) mod pg;

pgrx::pg_module_magic!(name, version);

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
