//! Reading one SQL value as a raw pipeline value, chosen once per column type (not per row):
//! float8/float4/int/numeric directly, text-like types as borrowed UTF-8, anything else through
//! its output function (so a domain, an enum category or the `money` type also work).

use crate::pg::datum::text::{as_str, text_str};
use pgrx::prelude::*;
use purchase_model::artifact::InputKind;
use purchase_model::model::RawValue;
use purchase_model::numeric::header::*;
use purchase_model::numeric::numeric_to_f64;

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
        // float8, the common column type, inline; the rest out of line so that callers'
        // per-input loops stay small enough to inline this.
        match self {
            ColumnReader::Float8 => RawValue::Number(f64::from_bits(datum.value() as u64)),
            // SAFETY: the caller's contract, passed on.
            _ => unsafe { self.read_other(column, datum) },
        }
    }

    /// [`ColumnReader::read`] of a non-null value, out of line: every type (float8 too, though
    /// `read` answers it inline).
    ///
    /// # Safety
    /// As for [`ColumnReader::read`].
    #[inline(never)]
    unsafe fn read_other<'a>(&mut self, column: &str, datum: pg_sys::Datum) -> RawValue<'a> {
        match self {
            ColumnReader::Float8 => RawValue::Number(f64::from_bits(datum.value() as u64)),
            ColumnReader::Float4 => RawValue::Number(f32::from_bits(datum.value() as u32) as f64),
            ColumnReader::Int2 => RawValue::Number(datum.value() as i16 as f64),
            ColumnReader::Int4 => RawValue::Number(datum.value() as i32 as f64),
            ColumnReader::Int8 => RawValue::Number(datum.value() as i64 as f64),
            ColumnReader::Numeric => {
                // SAFETY: the caller guarantees a numeric varlena (any header) valid for 'a;
                // numeric_raw detoasts only when it must, in CurrentMemoryContext.
                unsafe { numeric_raw(datum.cast_mut_ptr()) }
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

/// A numeric (a column's or a jsonb number) as a raw value: the f64 nearest its exact decimal
/// value (what its text, correctly rounded, gives), decoded in place from its base-10000 digits
/// without any text, palloc or detoast ([`numeric_to_f64`]). A numeric NaN is a float NaN,
/// missing like a float8 NaN (README, "Cleaning rule"). Infinities, values beyond f64's range,
/// numerics of more than 256 digits and compressed or external ones take the text path
/// ([`numeric_text_raw`]), so the cleaning error quotes out-of-range values as written.
///
/// # Safety
/// `num` must point to a numeric varlena (any header: short, 4-byte, compressed or external)
/// valid for `'a` (chosen by the caller), and `'a` must end before `CurrentMemoryContext` is
/// reset or deleted: a detoasted copy and the text of the text path are palloc'd there.
#[inline]
pub unsafe fn numeric_raw<'a>(num: pg_sys::Numeric) -> RawValue<'a> {
    let ptr = num.cast::<pg_sys::varlena>();
    // SAFETY: a valid varlena (the contract): its first header byte is readable.
    let in_memory =
        unsafe { !(pgrx::varlena::varatt_is_1b_e(ptr) || pgrx::varlena::varatt_is_4b_c(ptr)) };
    if in_memory {
        // SAFETY: an in-memory numeric varlena (checked just above; the contract).
        if let Some(v) = unsafe { decode_in_place(ptr) } {
            return v;
        }
    }
    // SAFETY: pg_detoast_datum returns the numeric with a 4-byte header (a copy palloc'd in
    // CurrentMemoryContext when it was short, compressed or external), as numeric_normalize
    // needs; it lives for 'a as the caller guarantees.
    unsafe { numeric_text_raw(pg_sys::pg_detoast_datum(ptr).cast()) }
}

/// The most base-10000 digits decoded in place (numeric_to_f64's MAX_DIGITS decimal digits).
const MAX_NBASE_DIGITS: usize = purchase_model::numeric::MAX_DIGITS / 4;

/// A finite numeric or NaN decoded from its bytes (numeric.c's NUMERIC_SIGN, NUMERIC_WEIGHT,
/// NUMERIC_DIGITS, NUMERIC_NDIGITS for PostgreSQL 15's layout); `None` for what the text path
/// must handle (infinities, too many digits, beyond f64's range).
///
/// # Safety
/// `ptr` must point to an in-memory numeric varlena (1- or 4-byte header).
#[inline]
unsafe fn decode_in_place(ptr: *mut pg_sys::varlena) -> Option<RawValue<'static>> {
    // SAFETY: an in-memory varlena (the contract): VARDATA_ANY / VARSIZE_ANY_EXHDR read it.
    let (data, len) = unsafe {
        (
            pgrx::varlena::vardata_any(ptr) as *const u8,
            pgrx::varlena::varsize_any_exhdr(ptr),
        )
    };
    if len < 2 {
        return None;
    }
    // The payload of a short-header numeric is not aligned: every read is unaligned.
    // SAFETY: at least 2 bytes of payload (checked above).
    let header = unsafe { std::ptr::read_unaligned(data.cast::<u16>()) };
    if header & NUMERIC_SIGN_MASK == NUMERIC_SPECIAL {
        return (header & NUMERIC_EXT_SIGN_MASK == NUMERIC_NAN)
            .then_some(RawValue::Number(f64::NAN));
    }
    let (negative, weight, offset) = if header & NUMERIC_SIGN_MASK == NUMERIC_SHORT {
        let magnitude = (header & NUMERIC_SHORT_WEIGHT_MASK) as i16;
        let weight = if header & NUMERIC_SHORT_WEIGHT_SIGN_MASK != 0 {
            magnitude | !(NUMERIC_SHORT_WEIGHT_MASK as i16)
        } else {
            magnitude
        };
        (header & NUMERIC_SHORT_SIGN_MASK != 0, weight, 2)
    } else {
        if len < 4 {
            return None;
        }
        // SAFETY: a long header keeps its weight in the 2 bytes after the sign/dscale word,
        // inside the payload (len >= 4, checked).
        let weight = unsafe { std::ptr::read_unaligned(data.add(2).cast::<i16>()) };
        (header & NUMERIC_SIGN_MASK == NUMERIC_NEG, weight, 4)
    };
    let ndigits = (len - offset) / 2;
    if ndigits > MAX_NBASE_DIGITS {
        return None;
    }
    let mut digits = [0i16; MAX_NBASE_DIGITS];
    for (i, d) in digits[..ndigits].iter_mut().enumerate() {
        // SAFETY: digit i's 2 bytes lie inside the payload: offset + 2 * i + 2 <= len.
        *d = unsafe { std::ptr::read_unaligned(data.add(offset + 2 * i).cast::<i16>()) };
    }
    numeric_to_f64(negative, weight, &digits[..ndigits]).map(RawValue::Number)
}

/// A numeric through its text: numeric_normalize, then Rust's correctly rounded parse.
///
/// # Safety
/// As for [`numeric_raw`], and `num` must have a 4-byte header (detoasted) as
/// numeric_normalize requires.
pub unsafe fn numeric_text_raw<'a>(num: pg_sys::Numeric) -> RawValue<'a> {
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
