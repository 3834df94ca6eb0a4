//! A `jsonb` argument read as its text, so the artifact is parsed by our path-tracking parser
//! (pgrx's `JsonB` panics, as XX000, on numbers such as 1e999 or nesting deeper than 128
//! levels, which jsonb itself accepts). The text is `jsonb_out`'s palloc'd copy in the call's
//! memory context, copied once into Rust and freed at once.

use crate::pg::errors::{raise, OrRaise};
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::prelude::*;
use pgrx::{FromDatum, PgSqlErrorCode};
use purchase_model::checked_json::parse_checked;

pub struct JsonbText(pub String);

impl FromDatum for JsonbText {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<JsonbText> {
        if is_null {
            return None;
        }
        // SAFETY: FromDatum's contract gives a non-null jsonb datum. pg_detoast_datum_packed
        // returns it or a palloc'd plain copy; jsonb_out reads that and returns a palloc'd
        // NUL-terminated string, copied into a String before it is pfree'd; the detoasted copy
        // (only when it is not the datum itself) is pfree'd last, after every use.
        unsafe {
            let varlena = datum.cast_mut_ptr::<pg_sys::varlena>();
            let detoasted = pg_sys::pg_detoast_datum_packed(varlena);
            let cstr = pgrx::direct_function_call::<&std::ffi::CStr>(
                pg_sys::jsonb_out,
                &[Some(pg_sys::Datum::from(detoasted))],
            )?;
            let text = cstr.to_string_lossy().into_owned();
            pg_sys::pfree(cstr.as_ptr() as *mut std::ffi::c_void);
            if detoasted != varlena {
                pg_sys::pfree(detoasted.cast());
            }
            Some(JsonbText(text))
        }
    }
}

// SAFETY: unboxed through FromDatum above, for arguments whose SQL type is jsonb
// (impl_sql_translatable below); the value is an owned String, so it borrows nothing.
unsafe impl<'fcx> ArgAbi<'fcx> for JsonbText {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        // SAFETY: the caller (pgrx's wrapper) passes an argument declared jsonb.
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| {
            raise(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "argument \"artifact\" must not be NULL",
                None,
            )
        })
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> pgrx::nullable::Nullable<Self> {
        // SAFETY: as above.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

pgrx::impl_sql_translatable!(JsonbText, arg_only = "jsonb");

/// Parses artifact text into a JSON value; a number out of range or nesting deeper than
/// serde_json's limit (128) is a 22023 error naming the field where it happened. Cancellable.
pub fn parse_artifact_text(text: &str) -> serde_json::Value {
    parse_checked(text).or_raise()
}

/// Lets PostgreSQL cancel a long validation (the pure pipeline calls this hook).
pub fn install_interrupt_check() {
    fn check() {
        pgrx::check_for_interrupts!();
    }
    purchase_model::interrupt::set_interrupt_check(check);
}
