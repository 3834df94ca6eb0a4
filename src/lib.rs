//! pg_purchase: purchase-propensity scoring of customer rows inside PostgreSQL.
//!
//! The model itself is the `purchase_model` crate (crates/purchase_model: no pgrx, tested with
//! `cargo test -p purchase_model`); `pg` is the thin PostgreSQL glue (catalog, caches, SQL
//! functions, planner support).
//!
//! Unsafe code is kept auditable: every `unsafe` block says why it is sound (`// SAFETY:`),
//! and every `unsafe fn` says what its caller must guarantee (`# Safety`) and spells out its
//! own unsafe operations in `unsafe {}` blocks.
#![deny(unsafe_op_in_unsafe_fn)]
// A warning that `cargo clippy -- -D warnings` (scripts/test.sh) turns into an error.
#![warn(clippy::undocumented_unsafe_blocks)]
// No direct call to a foreign function or function pointer with an unwinding ABI ("C-unwind"):
// PostgreSQL's ERROR (a longjmp) must only ever cross into Rust through pgrx's guard, which
// turns it into a Rust panic. This holds for the whole crate: pgrx's `pg_sys::*` functions are
// not foreign items but Rust wrappers (`#[pg_guard]` on pgrx-pg-sys' `extern "C-unwind"`
// blocks generates `pub unsafe fn f(..) { pg_guard_ffi_boundary(|| f(..)) }`), so the FFI
// call itself happens inside pgrx-pg-sys, and our code only calls Rust functions.
#![deny(ffi_unwind_calls)]

// pgrx turns PostgreSQL's ERRORs (longjmp) into Rust panics and back at every #[pg_guard]
// boundary; with panic = "abort" every ERROR would abort the backend (and restart the server).
#[cfg(not(panic = "unwind"))]
compile_error!("pg_purchase must be built with panic = \"unwind\": pgrx carries PostgreSQL ERRORs across Rust frames as unwinding panics");

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
