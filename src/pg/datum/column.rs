//! Reading one SQL value as a raw pipeline value, chosen once per column type (not per row):
//! float8/float4/int/numeric directly, text-like types as borrowed UTF-8, anything else through
//! its output function (so a domain, an enum category or the `money` type also work).

use crate::pg::datum::text::{as_str, text_str};
use pgrx::prelude::*;
use purchase_model::artifact::InputKind;
use purchase_model::model::RawValue;

pub enum ColumnReader {
    Float8,
    Float4,
    Int2,
    Int4,
    Int8,
    Numeric,
    /// A boolean: 1/0 for a number, `true`/`false` for a category (scikit-learn's text of a
    /// bool code, not PostgreSQL's `t`/`f`).
    Bool {
        numeric: bool,
    },
    Text {
        blank_padded: bool,
    },
    Output(Box<pg_sys::FmgrInfo>),
}

impl ColumnReader {
    /// The reader for values of `typid` feeding an input of `kind`. The output function's
    /// FmgrInfo is boxed by Rust; what fmgr attaches to it is allocated in the current memory
    /// context (the call site's), which must outlive the reader (see [`ColumnReader::read`]).
    pub fn for_type(typid: pg_sys::Oid, kind: InputKind) -> ColumnReader {
        // SAFETY: a syscache lookup by OID; an unknown type is a PostgreSQL ERROR, not UB.
        let base = unsafe { pg_sys::getBaseType(typid) };
        let numeric = kind.is_numeric();
        match base {
            // Floats and numerics are read as numbers for categories too, so a category code is
            // compared by one text form whatever its type: 3.0 (float8, numeric or JSON) is "3".
            pg_sys::FLOAT8OID => ColumnReader::Float8,
            pg_sys::FLOAT4OID if numeric => ColumnReader::Float4,
            pg_sys::NUMERICOID => ColumnReader::Numeric,
            // Integer categories keep their exact text (int8 codes beyond 2^53 included).
            pg_sys::INT2OID if numeric => ColumnReader::Int2,
            pg_sys::INT4OID if numeric => ColumnReader::Int4,
            pg_sys::INT8OID if numeric => ColumnReader::Int8,
            pg_sys::BOOLOID => ColumnReader::Bool { numeric },
            pg_sys::TEXTOID | pg_sys::VARCHAROID => ColumnReader::Text {
                blank_padded: false,
            },
            pg_sys::BPCHAROID => ColumnReader::Text { blank_padded: true },
            _ => {
                let mut func = pg_sys::InvalidOid;
                let mut varlena = false;
                // SAFETY: both out-pointers are live locals; an unknown type or a type without
                // an output function is a PostgreSQL ERROR.
                unsafe { pg_sys::getTypeOutputInfo(typid, &mut func, &mut varlena) };
                // SAFETY: FmgrInfo is a plain C struct for which all-zero bytes (null pointers,
                // no function, zero counts) is a valid value; fmgr_info_cxt fills it in next.
                let mut finfo: Box<pg_sys::FmgrInfo> = Box::new(unsafe { std::mem::zeroed() });
                // SAFETY: `finfo` points to a live FmgrInfo whose address is stable (boxed) for
                // as long as the reader keeps it; fmgr_info_cxt records CurrentMemoryContext
                // (the caller's, which outlives the reader) for the function's own data.
                unsafe {
                    pg_sys::fmgr_info_cxt(func, finfo.as_mut(), pg_sys::CurrentMemoryContext)
                };
                ColumnReader::Output(finfo)
            }
        }
    }

    /// Reads one value. Text borrows the datum's memory, which lives for the current row.
    ///
    /// # Safety
    /// - Unless `isnull`, `datum` is a value of the type this reader was built for (its
    ///   `typid`, or a domain over the same base type), valid for the caller-chosen `'a`.
    /// - `'a` ends before `CurrentMemoryContext` is reset or deleted: detoasted numerics and
    ///   the text of output functions are palloc'd there.
    /// - The memory context that was current when the reader was built is still alive (an
    ///   output function's FmgrInfo keeps data there).
    #[inline(always)]
    pub unsafe fn read<'a>(
        &mut self,
        column: &str,
        datum: pg_sys::Datum,
        isnull: bool,
    ) -> RawValue<'a> {
        if isnull {
            return RawValue::Missing;
        }
        match self {
            ColumnReader::Float8 => RawValue::Number(f64::from_bits(datum.value() as u64)),
            ColumnReader::Float4 => RawValue::Number(f32::from_bits(datum.value() as u32) as f64),
            ColumnReader::Int2 => RawValue::Number(datum.value() as i16 as f64),
            ColumnReader::Int4 => RawValue::Number(datum.value() as i32 as f64),
            ColumnReader::Int8 => RawValue::Number(datum.value() as i64 as f64),
            ColumnReader::Numeric => {
                // SAFETY: the caller guarantees a numeric varlena; pg_detoast_datum returns it,
                // or a 4-byte-header copy palloc'd in CurrentMemoryContext (numeric_normalize
                // needs that form), which lives for 'a as the caller guarantees.
                unsafe {
                    let num = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as pg_sys::Numeric;
                    numeric_raw(num)
                }
            }
            ColumnReader::Bool { numeric } => {
                let b = datum.value() != 0;
                if *numeric {
                    RawValue::Number(f64::from(u8::from(b)))
                } else {
                    RawValue::Text(if b { "true" } else { "false" })
                }
            }
            ColumnReader::Text { blank_padded } => {
                // SAFETY: a Text reader is built only for text, varchar and bpchar (or domains
                // over them): a non-null varlena valid for 'a, as text_str requires.
                let text = unsafe { text_str(column, datum) };
                RawValue::Text(if *blank_padded {
                    text.trim_end_matches(' ')
                } else {
                    text
                })
            }
            ColumnReader::Output(finfo) => {
                // SAFETY: `finfo` was set up by fmgr_info_cxt for this type's output function
                // and its memory context is alive (caller's guarantee); the datum is a non-null
                // value of that type. The result is a NUL-terminated string palloc'd in
                // CurrentMemoryContext, which outlives 'a (caller's guarantee).
                let bytes = unsafe {
                    let cstr = pg_sys::OutputFunctionCall(finfo.as_mut(), datum);
                    std::ffi::CStr::from_ptr(cstr).to_bytes()
                };
                RawValue::Text(as_str(column, bytes))
            }
        }
    }
}

/// A numeric (a column's or a jsonb number) as a raw value: its exact decimal text, correctly
/// rounded to f64 (what numeric_float8 gives). A numeric NaN is a float NaN, missing like a
/// float8 NaN (README, "Cleaning rule"); infinities and values beyond f64's range stay text, so
/// the cleaning error quotes them as written.
///
/// # Safety
/// `num` must point to a detoasted numeric (4-byte header), and `'a` (chosen by the caller)
/// must end before `CurrentMemoryContext` is reset or deleted: the text is palloc'd there.
pub unsafe fn numeric_raw<'a>(num: pg_sys::Numeric) -> RawValue<'a> {
    // SAFETY: numeric_normalize reads a valid detoasted numeric (caller's guarantee) and
    // returns a NUL-terminated ASCII string palloc'd in CurrentMemoryContext, alive for 'a.
    let text = unsafe { std::ffi::CStr::from_ptr(pg_sys::numeric_normalize(num)) }
        .to_str()
        .unwrap_or("NaN");
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => RawValue::Number(v),
        _ if text == "NaN" => RawValue::Number(f64::NAN),
        _ => RawValue::Text(text),
    }
}
