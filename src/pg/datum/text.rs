//! Borrowing a text datum as &str on the hot path: no FFI call for inline values (PostgreSQL's
//! detoast is only needed for compressed or out-of-line ones) and no UTF-8 re-validation in a
//! UTF-8 database, where the server has already validated every stored string.

use crate::pg::errors::raise;
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::prelude::*;
use pgrx::{FromDatum, PgSqlErrorCode};

/// Whether the database's text is UTF-8 (checked once per backend: a backend serves one
/// database for life).
#[inline]
fn database_is_utf8() -> bool {
    static UTF8: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UTF8.get_or_init(|| {
        // SAFETY: GetDatabaseEncoding only reads the backend's database encoding, which is set
        // before any extension function can run.
        let encoding = unsafe { pg_sys::GetDatabaseEncoding() };
        encoding == pg_sys::pg_enc::PG_UTF8 as i32
    })
}

/// The bytes of a text-like datum, detoasting only when the value is compressed or external.
///
/// # Safety
/// `datum` must be a non-null datum of a varlena type (text, varchar, bpchar, ...) whose memory
/// stays valid for the caller-chosen lifetime `'a`, and `'a` must also end before
/// `CurrentMemoryContext` is reset or deleted (a detoasted copy is allocated there). Callers
/// that can should borrow through [`TextArg`] or another wrapper whose lifetime is tied to the
/// datum's owner instead of choosing `'a` freely.
#[inline]
pub unsafe fn text_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    let mut ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
    // SAFETY: the caller guarantees a valid varlena, so its first header byte is readable;
    // the pgrx helpers test it the way postgres.h's VARATT_IS_1B_E / VARATT_IS_4B_C do, for
    // either byte order.
    let toasted =
        unsafe { pgrx::varlena::varatt_is_1b_e(ptr) || pgrx::varlena::varatt_is_4b_c(ptr) };
    if toasted {
        // SAFETY: an external or compressed varlena is what pg_detoast_datum_packed takes; it
        // returns a plain (possibly short-header) copy palloc'd in CurrentMemoryContext, or
        // raises an ERROR.
        ptr = unsafe { pg_sys::pg_detoast_datum_packed(ptr) };
    }
    // SAFETY: `ptr` is now an in-memory varlena with a 1- or 4-byte header, which is what
    // VARDATA_ANY and VARSIZE_ANY_EXHDR read; its payload lives as long as the caller
    // guarantees for `'a` (the datum's memory, or the detoasted copy in CurrentMemoryContext).
    unsafe {
        std::slice::from_raw_parts(
            pgrx::varlena::vardata_any(ptr) as *const u8,
            pgrx::varlena::varsize_any_exhdr(ptr),
        )
    }
}

/// The text of a datum as &str; `column` names it in the error for invalid UTF-8.
///
/// # Safety
/// As for [`text_bytes`]: a non-null varlena datum valid for the caller-chosen `'a`.
#[inline]
pub unsafe fn text_str<'a>(column: &str, datum: pg_sys::Datum) -> &'a str {
    // SAFETY: the caller's guarantee is text_bytes' contract.
    as_str(column, unsafe { text_bytes(datum) })
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

/// A `text` argument of a `#[pg_extern]` function, borrowed for the call (`'fcx`) through
/// [`text_bytes`]: no detoast of inline values, and no UTF-8 decision yet. pgrx's own `&str`
/// argument panics on non-ASCII text in a database that is not UTF-8; [`TextArg::as_str`]
/// raises 22021 naming the argument instead, like every other pg_purchase reader.
#[derive(Clone, Copy)]
pub struct TextArg<'fcx>(&'fcx [u8]);

impl<'fcx> TextArg<'fcx> {
    /// The text as &str, or 22021 (naming `name`) for non-ASCII text in a non-UTF-8 database.
    #[inline]
    pub fn as_str(self, name: &str) -> &'fcx str {
        as_str(name, self.0)
    }
}

impl FromDatum for TextArg<'_> {
    #[inline]
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        // SAFETY: FromDatum's contract: a non-null (datum, is_null) pair of the declared type
        // (text) that lives as long as the value asked for; ArgAbi below asks only for 'fcx,
        // the function call, during which the argument and CurrentMemoryContext both live.
        (!is_null).then(|| TextArg(unsafe { text_bytes(datum) }))
    }
}

// SAFETY: the argument is unboxed with FromDatum above, for a function whose SQL declares the
// argument `text` (impl_sql_translatable below), so the datum is a text varlena valid for 'fcx.
unsafe impl<'fcx> ArgAbi<'fcx> for TextArg<'fcx> {
    #[inline]
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: the caller (pgrx's wrapper) passes an argument declared text, as required.
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| {
            raise(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!("argument {} must not be NULL", index + 1),
                None,
            )
        })
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> pgrx::nullable::Nullable<Self> {
        // SAFETY: as above.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

pgrx::impl_sql_translatable!(TextArg<'_>, arg_only = "TEXT");
