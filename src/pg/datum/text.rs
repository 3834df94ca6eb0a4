//! Borrowing a text datum as &str on the hot path: no FFI call for inline values (PostgreSQL's
//! detoast is only needed for compressed or out-of-line ones) and no UTF-8 re-validation in a
//! UTF-8 database, where the server has already validated every stored string.

use crate::pg::errors::raise;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Whether the database's text is UTF-8 (checked once per backend: a backend serves one
/// database for life).
#[inline]
fn database_is_utf8() -> bool {
    static UTF8: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UTF8.get_or_init(|| unsafe { pg_sys::GetDatabaseEncoding() == pg_sys::pg_enc::PG_UTF8 as i32 })
}

/// The bytes of a text-like datum, detoasting only when the value is compressed or external.
///
/// # Safety
/// `datum` must be a non-null varlena datum valid for the current row.
#[inline]
pub unsafe fn text_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    let mut ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
    let header = *(ptr as *const u8);
    // 0x01: 1-byte-header external pointer; low bits 10: 4-byte-header compressed.
    if header == 0x01 || header & 0x03 == 0x02 {
        ptr = pg_sys::pg_detoast_datum_packed(ptr);
    }
    std::slice::from_raw_parts(
        pgrx::varlena::vardata_any(ptr) as *const u8,
        pgrx::varlena::varsize_any_exhdr(ptr),
    )
}

/// The text of a datum as &str; `column` names it in the error for invalid UTF-8.
///
/// # Safety
/// As for [`text_bytes`].
#[inline]
pub unsafe fn text_str<'a>(column: &str, datum: pg_sys::Datum) -> &'a str {
    as_str(column, text_bytes(datum))
}

/// `bytes` as &str. In a UTF-8 database the server has validated them. In any other database
/// only ASCII is read: a non-ASCII byte is an error (22021), never a panic and never a guess
/// (LATIN1 bytes can happen to form valid but different UTF-8).
#[inline]
pub fn as_str<'a>(column: &str, bytes: &'a [u8]) -> &'a str {
    if database_is_utf8() || bytes.is_ascii() {
        // SAFETY: a UTF-8 database only stores valid UTF-8 text, and ASCII is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    } else {
        raise(
            PgSqlErrorCode::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
            format!("column \"{column}\" holds non-ASCII text, which pg_purchase reads only in UTF-8 databases"),
            Some("Create the database with ENCODING 'UTF8', or send ASCII text.".into()),
        )
    }
}
