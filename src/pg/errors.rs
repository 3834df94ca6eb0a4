//! Every error pg_purchase raises goes through here: a SQLSTATE, a message naming the
//! column/field/value, and a HINT where one helps. Raising unwinds through #[pg_guard] into
//! PostgreSQL's ereport, so no panic ever crosses into the server as a crash.

use crate::pipeline::error::{ErrorKind, PipelineError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

pub fn raise(code: PgSqlErrorCode, message: impl Into<String>, hint: Option<String>) -> ! {
    let mut report = ErrorReport::new(code, message.into(), "pg_purchase");
    if let Some(h) = hint {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR-level reports do not return")
}

pub fn raise_pipeline(err: PipelineError) -> ! {
    let code = match err.kind() {
        ErrorKind::InvalidText => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        ErrorKind::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        ErrorKind::UndefinedColumn => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        ErrorKind::DatatypeMismatch => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        ErrorKind::OutOfRange => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
    };
    raise(code, err.to_string(), err.hint())
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

/// SPI failures are internal errors: they mean the catalog is missing or damaged.
impl<T> OrRaise<T> for Result<T, pgrx::spi::SpiError> {
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("pg_purchase catalog query failed: {e}"),
                Some("Is the extension installed completely? Try ALTER EXTENSION pg_purchase UPDATE.".into()),
            ),
        }
    }
}
