//! Every error pg_purchase raises goes through here: a SQLSTATE, a message naming the
//! column/field/value, and a HINT where one helps. Raising unwinds through #[pg_guard] into
//! PostgreSQL's ereport, so no panic ever crosses into the server as a crash.
//!
//! What reaches a client is only ever one of:
//! - pg_purchase's own errors, each with its SQLSTATE (22P02, 22023, 42703, ...);
//! - a PostgreSQL error raised underneath (a cancel, a timeout, a catalog error), with its own
//!   SQLSTATE, message, detail and hint;
//! - for a bug (a Rust panic), `XX000 pg_purchase internal error` with a hint; the panic's
//!   message, location and (when RUST_BACKTRACE is set) backtrace go to the server log only.
//!
//! pgrx's own panic hook would attach a Rust backtrace to the DETAIL of every error (including
//! cancels and timeouts) whenever RUST_BACKTRACE is set in the server's environment; `_PG_init`
//! replaces it by [`panic_hook`], which never does.

use pgrx::pg_sys::panic::{CaughtError, ErrorReport, ErrorReportWithLevel};
use pgrx::prelude::*;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use purchase_model::error::{ErrorKind, PipelineError};
use std::cell::RefCell;

pub fn raise(code: PgSqlErrorCode, message: impl Into<String>, hint: Option<String>) -> ! {
    let mut report = ErrorReport::new(code, message.into(), "pg_purchase");
    if let Some(h) = hint {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR-level reports do not return")
}

pub fn raise_pipeline(err: PipelineError) -> ! {
    raise(pipeline_sqlstate(&err), err.to_string(), err.hint())
}

/// The SQLSTATE a pipeline error is raised with.
pub fn pipeline_sqlstate(err: &PipelineError) -> PgSqlErrorCode {
    match err.kind() {
        ErrorKind::InvalidText => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        ErrorKind::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        ErrorKind::UndefinedColumn => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        ErrorKind::DatatypeMismatch => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        ErrorKind::OutOfRange => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
    }
}

/// `result.or_raise()`: the value, or the pipeline error raised as a PostgreSQL ERROR.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, PipelineError> {
    #[inline]
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise_pipeline(e),
        }
    }
}

/// SpiError results (as opposed to errors PostgreSQL raises during a query, which propagate as
/// themselves) mean the catalog does not have the shape this library expects: a column of
/// another type, a missing column. That is a state to fix, not an internal error.
impl<T> OrRaise<T> for Result<T, pgrx::spi::SpiError> {
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("pg_purchase catalog query failed: {e}"),
                Some("Is the extension installed completely? Try ALTER EXTENSION pg_purchase UPDATE.".into()),
            ),
        }
    }
}

thread_local! {
    /// What the panic hook saw of the last Rust panic (a bug): message and location, plus a
    /// backtrace when RUST_BACKTRACE asks for one. Logged server-side by [`guard`].
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The library's panic hook. ERRORs travel as panics (pgrx raises pg_purchase's own errors and
/// re-raises PostgreSQL's that way): for those it does nothing, so no backtrace is ever
/// attached to what the client receives. For a genuine panic it notes the message and location
/// (and a backtrace if the environment asks for one) for the server log.
fn panic_hook(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info.payload();
    if payload.is::<CaughtError>()
        || payload.is::<ErrorReportWithLevel>()
        || payload.is::<ErrorReport>()
    {
        return;
    }
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-text panic payload)".into());
    let location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let backtrace = std::backtrace::Backtrace::capture();
    let mut text = format!("pg_purchase panic at {location}: {message}");
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        text.push_str(&format!("\n{backtrace}"));
    }
    // Only the main (backend) thread ever runs pg_purchase code; keep the note thread-local.
    let _ = LAST_PANIC.try_with(|p| p.replace(Some(text)));
}

/// Installs [`panic_hook`] in place of pgrx's (which `Pg_magic_func` registered just before).
/// The hook is this library's own: other extensions in the backend keep theirs.
pub fn install_panic_hook() {
    let _pgrx_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(panic_hook));
}

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    install_panic_hook();
    // In every backend, not only one that loads a model: a scoring call's first use of a large
    // model compiles it (cache.rs), and that must be cancellable too.
    crate::pg::models::artifact_input::install_interrupt_check();
}

/// Runs the body of a SQL-callable function: every entry point (each `#[pg_extern]`, the V1
/// functions of `scoring/entry_points.rs` and `refresh.rs`, the Citus trigger) goes through it.
/// Errors (pg_purchase's and PostgreSQL's) pass through untouched; a genuine Rust panic (a bug)
/// is logged server-side with its message, location and backtrace, and the client gets
/// `XX000 pg_purchase internal error`.
#[inline(always)]
pub fn guard<R>(body: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(payload) => {
            if payload.is::<CaughtError>()
                || payload.is::<ErrorReportWithLevel>()
                || payload.is::<ErrorReport>()
            {
                std::panic::resume_unwind(payload);
            }
            let note = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "pg_purchase panic (no details)".into());
            ErrorReport::new(
                PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
                note,
                "pg_purchase",
            )
            .report(PgLogLevel::LOG_SERVER_ONLY);
            raise(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                "pg_purchase internal error",
                Some("This is a bug in pg_purchase; the server log has the details. Please report it.".into()),
            )
        }
    }
}

/// `guard`, for an entry point named `entry`: test builds can plant a panic at its start
/// ([`plant_panic`]) to show that the body runs under the guard.
#[inline(always)]
pub fn guard_entry<R>(entry: &'static str, body: impl FnOnce() -> R) -> R {
    guard(|| {
        planted_panic(entry);
        body()
    })
}

#[cfg(any(test, feature = "pg_test"))]
thread_local! {
    static PLANTED: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Test builds only: the next call of entry point `entry` panics (a stand-in for a bug there).
#[cfg(any(test, feature = "pg_test"))]
pub fn plant_panic(entry: Option<&'static str>) {
    PLANTED.with(|p| p.set(entry));
}

#[cfg(any(test, feature = "pg_test"))]
fn planted_panic(entry: &'static str) {
    if PLANTED.with(|p| p.get()) == Some(entry) {
        PLANTED.with(|p| p.set(None));
        panic!("planted panic in {entry}: index out of bounds, secret internals");
    }
}

#[cfg(not(any(test, feature = "pg_test")))]
#[inline(always)]
fn planted_panic(_entry: &'static str) {}
