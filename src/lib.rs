//! pg_purchase: purchase-propensity scoring of customer rows inside PostgreSQL.
//!
//! `pipeline` is the pure model (no pgrx); `pg` is the thin PostgreSQL glue.
pub mod pipeline;
