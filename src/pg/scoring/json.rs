//! predict_purchase_json reading PostgreSQL's binary jsonb directly and writing its answer as
//! binary jsonb directly.
//!
//! Input: per row, one merge of the object's keys (stored in jsonb's order) with the known
//! columns (`KeyRules`), which checks them in strict mode (the default: every column the model
//! reads present, null being fine, and every key one of the artifact's raw input columns) and
//! finds each model column's value, read in place from its JEntry. No conversion of the whole
//! document to text and back into a JSON tree (which cost many times the scoring itself), and
//! no search per column (a binary search each was a quarter of the call); `bench/run.sh` times
//! this path.
//!
//! Output: the answer array is encoded straight into jsonb's binary format (the layout
//! `convertToJsonb` produces), one row at a time, into one growing buffer. Nothing else grows
//! with the number of rows: each row's scratch memory (numeric_in's results for the rare text
//! `numeric_in::numeric_body` leaves to it) lives in a context reset after the row, and Rust's
//! per-row vectors are reused. Peak memory is the input plus about twice the output (the
//! buffer doubles), instead of a JSON tree, its text and jsonb's parse tree of it. Every row
//! checks for interrupts.

use crate::pg::datum::column::numeric_raw;
use crate::pg::datum::text::as_str;
use crate::pg::errors::{raise, OrRaise};
use crate::pg::models::cache::{resolve_version, LoadedModel};
use crate::pg::scoring::call_site::{version_arg, Call};
use crate::pg::scoring::entry_points::null_model;
use pgrx::prelude::*;
use pgrx::{PgMemoryContexts, PgSqlErrorCode};
use purchase_model::error::{PipelineError, Result};
use purchase_model::json_rows::{
    answer_keys, field_not_scalar, not_an_object, not_rows, prepare_row, AnswerSlot, JsonRow,
    KeyRules, RowScratch,
};
use purchase_model::model::RawValue;
use purchase_model::numeric_in::numeric_body;
use std::io::Write;
use std::marker::PhantomData;

/// What a jsonb value is, in the words of the error messages.
///
/// # Safety
/// `v` must be a JsonbValue filled by PostgreSQL (a jbvBinary's container valid).
unsafe fn describe(v: &pg_sys::JsonbValue) -> &'static str {
    use pg_sys::jbvType as t;
    match v.type_ {
        t::jbvNull => "null",
        t::jbvString => "a string",
        t::jbvNumeric => "a number",
        t::jbvBool => "a boolean",
        t::jbvArray => "an array",
        t::jbvObject => "an object",
        // SAFETY: a jbvBinary's union member is `binary`, its container valid (the contract).
        t::jbvBinary => unsafe { container_kind(v.val.binary.data) },
        _ => "an unsupported value",
    }
}

/// # Safety
/// `c` must point to a valid JsonbContainer.
unsafe fn container_kind(c: *const pg_sys::JsonbContainer) -> &'static str {
    // SAFETY: a valid container (the contract).
    if unsafe { (*c).header } & pg_sys::JB_FOBJECT != 0 {
        "an object"
    } else {
        "an array"
    }
}

/// An object container inside a detoasted jsonb value that lives for `'a`: a JSON row read in
/// place, without converting the document.
#[derive(Clone, Copy)]
struct JsonbObject<'a> {
    container: *mut pg_sys::JsonbContainer,
    _document: PhantomData<&'a pg_sys::Jsonb>,
}

impl<'a> JsonbObject<'a> {
    /// # Safety
    /// `container` must be an object container (`JB_FOBJECT`) of a detoasted jsonb value that
    /// stays valid and unchanged for `'a`.
    unsafe fn new(container: *mut pg_sys::JsonbContainer) -> JsonbObject<'a> {
        JsonbObject {
            container,
            _document: PhantomData,
        }
    }

    /// The number of keys n and the 2n JEntries (n keys, n values) that follow the header,
    /// before the data area.
    fn entries(&self) -> (usize, *const pg_sys::JEntry) {
        let c = self.container;
        // SAFETY: `c` is a valid object container for the borrow (JsonbObject::new).
        unsafe {
            (
                ((*c).header & pg_sys::JB_CMASK) as usize,
                (*c).children.as_ptr(),
            )
        }
    }
}

impl JsonRow for JsonbObject<'_> {
    /// The keys as stored (jsonb's order): an object's first n JEntries are its keys, their
    /// bytes at the start of the data area after the 2n JEntries.
    fn keys(&self) -> impl Iterator<Item = &[u8]> {
        let (n, children) = self.entries();
        // SAFETY: the data area starts right after the 2n JEntries of the same allocation.
        let data = unsafe { children.add(2 * n) } as *const u8;
        let mut end = 0u32;
        (0..n).map(move |i| {
            // SAFETY: i < n, so JEntry i is one of the keys' entries.
            let e = unsafe { *children.add(i) };
            let start = end;
            end = if e & pg_sys::JENTRY_HAS_OFF != 0 {
                e & pg_sys::JENTRY_OFFLENMASK
            } else {
                start + (e & pg_sys::JENTRY_OFFLENMASK)
            };
            // SAFETY: key i's bytes are [start, end) of the data area (jsonb's JEntry
            // encoding: an offset every JB_OFFSET_STRIDE entries, lengths in between).
            unsafe { std::slice::from_raw_parts(data.add(start as usize), (end - start) as usize) }
        })
    }

    /// A binary search of the object's keys; strings and numerics are read in place.
    fn field(&self, column: &str) -> Result<RawValue<'_>> {
        // SAFETY: a zeroed JsonbValue is a valid jbvNull, overwritten by the lookup.
        let mut slot: pg_sys::JsonbValue = unsafe { std::mem::zeroed() };
        // SAFETY: `container` is a valid object container (JsonbObject::new); the key bytes
        // are `column`'s, of the length passed; `slot` receives the value.
        let found = unsafe {
            pg_sys::getKeyJsonValueFromContainer(
                self.container,
                column.as_ptr().cast(),
                column.len() as i32,
                &mut slot,
            )
        };
        if found.is_null() {
            return Ok(RawValue::Missing);
        }
        // SAFETY: non-null, `found` is `slot`, filled by the lookup from this object, whose
        // data lives for the borrow of `self`.
        unsafe { raw_value(&*found, column) }
    }

    /// The key area, compared whole: the n key JEntries (lengths, and offsets every
    /// JB_OFFSET_STRIDE) and the key bytes, which end where the first value starts. Equal areas
    /// are the same keys in the same order.
    fn same_keys(&self, memo: &mut Vec<u8>) -> bool {
        let (n, children) = self.entries();
        // SAFETY: the first n JEntries are the keys'; the key bytes are the data area's first
        // `entry_offset(n)` bytes (the values' start), all inside the container.
        let (entries, keys) = unsafe {
            let keys_end = entry_offset(children, n) as usize;
            (
                std::slice::from_raw_parts(children as *const u8, 4 * n),
                std::slice::from_raw_parts(children.add(2 * n) as *const u8, keys_end),
            )
        };
        let same = memo.len() == entries.len() + keys.len()
            && memo[..entries.len()] == *entries
            && memo[entries.len()..] == *keys;
        if !same {
            memo.clear();
            memo.extend_from_slice(entries);
            memo.extend_from_slice(keys);
        }
        same
    }

    /// The value of the `position`-th key, read from its JEntry in place (what jsonb's own
    /// fillJsonbValue does after a search): the strict/relaxed key merge already found it.
    fn field_at(&self, position: usize, column: &str) -> Result<RawValue<'_>> {
        let (n, children) = self.entries();
        if position >= n {
            return self.field(column);
        }
        // The value entries follow the n key entries.
        let index = n + position;
        // SAFETY: index < 2n, so the entries before it are the container's.
        let offset = unsafe { entry_offset(children, index) };
        // SAFETY: index < 2n.
        let entry = unsafe { *children.add(index) };
        let length = if entry & pg_sys::JENTRY_HAS_OFF != 0 {
            (entry & pg_sys::JENTRY_OFFLENMASK) - offset
        } else {
            entry & pg_sys::JENTRY_OFFLENMASK
        };
        // SAFETY: the data area starts right after the 2n JEntries; the value's bytes are
        // [offset, offset + length) of it (numerics and containers after INTALIGN padding).
        let data = unsafe { children.add(2 * n) } as *mut u8;
        let aligned = offset.next_multiple_of(4) as usize;
        // SAFETY: a zeroed JsonbValue is a valid jbvNull, set below.
        let mut v: pg_sys::JsonbValue = unsafe { std::mem::zeroed() };
        match entry & pg_sys::JENTRY_TYPEMASK {
            pg_sys::JENTRY_ISNULL => v.type_ = pg_sys::jbvType::jbvNull,
            pg_sys::JENTRY_ISSTRING => {
                v.type_ = pg_sys::jbvType::jbvString;
                v.val.string.len = length as i32;
                // SAFETY: the string's bytes are [offset, offset + length) of the data area.
                v.val.string.val = unsafe { data.add(offset as usize) }.cast();
            }
            pg_sys::JENTRY_ISNUMERIC => {
                v.type_ = pg_sys::jbvType::jbvNumeric;
                // SAFETY: a numeric is stored int-aligned at its offset.
                v.val.numeric = unsafe { data.add(aligned) }.cast();
            }
            pg_sys::JENTRY_ISBOOL_TRUE | pg_sys::JENTRY_ISBOOL_FALSE => {
                v.type_ = pg_sys::jbvType::jbvBool;
                v.val.boolean = entry & pg_sys::JENTRY_TYPEMASK == pg_sys::JENTRY_ISBOOL_TRUE;
            }
            _ => {
                // A container, stored int-aligned at its offset (its length counts the padding).
                v.type_ = pg_sys::jbvType::jbvBinary;
                v.val.binary.len = (length as usize - (aligned - offset as usize)) as i32;
                // SAFETY: as above.
                v.val.binary.data = unsafe { data.add(aligned) }.cast();
            }
        }
        // SAFETY: `v` points into this object's data, valid for the borrow of `self`.
        unsafe { raw_value(&v, column) }
    }
}

/// jsonb's getJsonbOffset: where entry `index`'s bytes start in the data area, its JEntry
/// lengths summed back to the nearest entry holding an offset.
///
/// # Safety
/// `children` must point to a container's JEntries, of which there are at least `index`.
unsafe fn entry_offset(children: *const pg_sys::JEntry, index: usize) -> u32 {
    let mut offset = 0u32;
    for j in (0..index).rev() {
        // SAFETY: j < index (the contract).
        let e = unsafe { *children.add(j) };
        offset += e & pg_sys::JENTRY_OFFLENMASK;
        if e & pg_sys::JENTRY_HAS_OFF != 0 {
            break;
        }
    }
    offset
}

/// A scalar field's raw value; anything else is `field_not_scalar`.
///
/// # Safety
/// `v` must be filled from a detoasted jsonb that stays valid for `'a` (strings and numerics
/// point into it).
unsafe fn raw_value<'a>(v: &pg_sys::JsonbValue, column: &str) -> Result<RawValue<'a>> {
    match v.type_ {
        pg_sys::jbvType::jbvNull => Ok(RawValue::Missing),
        pg_sys::jbvType::jbvString => {
            // SAFETY: a jbvString's val/len point into the document (the contract).
            let bytes = unsafe {
                let s = v.val.string;
                std::slice::from_raw_parts(s.val as *const u8, s.len as usize)
            };
            Ok(RawValue::Text(as_str(column, bytes)))
        }
        // SAFETY: a jbvNumeric's numeric points into the document (the contract).
        pg_sys::jbvType::jbvNumeric => Ok(unsafe { numeric_raw(v.val.numeric) }),
        // A boolean category code, by scikit-learn's text of it (a number column refuses it).
        pg_sys::jbvType::jbvBool => {
            // SAFETY: the union's boolean member is the one a jbvBool sets.
            let b = unsafe { v.val.boolean };
            Ok(RawValue::Text(if b { "true" } else { "false" }))
        }
        // SAFETY: `v` is a filled value (the contract).
        _ => Err(field_not_scalar(column, unsafe { describe(v) })),
    }
}

/// One row's answer: business_outcome, p_hat and the features, or the row's error.
fn score_object(
    loaded: &LoadedModel,
    rules: &KeyRules,
    scratch: &mut Scratch,
    row: JsonbObject<'_>,
) -> Result<()> {
    let model = &loaded.model;
    prepare_row(model, Some(rules), &row, &mut scratch.row)?;
    let prepared = &scratch.row.prepared;
    let score = model.score_prepared(prepared)?;
    scratch.values.clear();
    scratch.values.push(f64::from(score.business_outcome));
    scratch.values.push(score.p_hat);
    scratch
        .values
        .extend(model.feature_values(prepared)?.into_iter().map(|(_, v)| v));
    Ok(())
}

/// Per-row buffers reused across rows.
#[derive(Default)]
struct Scratch {
    row: RowScratch,
    /// business_outcome, p_hat, then the features in model order (`AnswerSlot::index`).
    values: Vec<f64>,
}

/// The V1 entry of `predict_purchase_json(rows jsonb, model text, strict boolean)`
/// (CALLED ON NULL INPUT: a NULL document gives NULL, a NULL model or strict is 22004).
/// Release 0.1.0's and 0.2.0's SQL declare it (jsonb, text) STRICT: then it is strict mode.
/// Since 0.4.0 a fourth argument, `version integer DEFAULT NULL`, pins a version (NULL: the
/// active one).
///
/// # Safety
/// `call` is a call with a jsonb, a text, (since 0.3.0) a boolean and (since 0.4.0) an
/// integer argument.
pub unsafe fn predict_json(call: Call<'_>) -> pg_sys::Datum {
    let (doc, doc_null) = call.arg(0);
    if call.arg(1).1 {
        null_model();
    }
    let strict = if call.nargs() >= 3 {
        let (value, null) = call.arg(2);
        if null {
            raise(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "argument \"strict\" must not be NULL",
                Some("strict => true (the default) requires exactly the model's columns; strict => false relaxes it.".into()),
            );
        }
        value.value() != 0
    } else {
        true
    };
    if doc_null {
        return call.return_null();
    }
    // SAFETY: argument 1 is a non-null text (the declaration; checked above).
    let loaded = resolve_version(unsafe { call.text_arg("model", 1) }, version_arg(call, 3));
    let rules = if strict {
        KeyRules::new(&loaded.model)
    } else {
        KeyRules::relaxed(&loaded.model)
    };
    // SAFETY: argument 0 is a non-null jsonb (the declaration; checked above): detoasted, a
    // Jsonb whose root container lives for the call.
    let root: *mut pg_sys::JsonbContainer = unsafe {
        let jsonb = pg_sys::pg_detoast_datum(doc.cast_mut_ptr()) as *mut pg_sys::Jsonb;
        &mut (*jsonb).root
    };
    // SAFETY: `root` is a valid container (above).
    let header = unsafe { (*root).header };
    if header & pg_sys::JB_FSCALAR != 0 {
        // A bare scalar is stored as a one-element array flagged scalar.
        // SAFETY: a scalar root has exactly one element, index 0.
        let found = unsafe { describe(&*pg_sys::getIthJsonbValueFromContainer(root, 0)) };
        Err::<(), _>(not_rows(found)).or_raise();
    }
    let single = header & pg_sys::JB_FOBJECT != 0;
    let count = if single {
        1
    } else {
        (header & pg_sys::JB_CMASK) as usize
    };

    // SAFETY: in a transaction (a SQL function call).
    let layout = unsafe { OutputLayout::new(&loaded, true) };
    // SAFETY: in a transaction; the buffer is palloc'd in the calling context, where the
    // result must live.
    let mut out = unsafe { ArrayWriter::new(count) };
    let mut scratch = Scratch::default();
    let mut row_memory = PgMemoryContexts::new("pg_purchase predict_purchase_json row");
    for i in 0..count {
        pgrx::check_for_interrupts!(); // a long document stays cancellable (tests/safety times a cancel)
                                       // SAFETY: switch_to makes the row context current for the closure and restores the
                                       // previous one (also on error). Inside: `root` is a valid array (or the single object)
                                       // with `count` elements; an element is used as an object only after its type check;
                                       // every borrow of the document ends with the row.
        let outcome = unsafe {
            row_memory.switch_to(|_| {
                let object = if single {
                    root
                } else {
                    let v = pg_sys::getIthJsonbValueFromContainer(root, i as u32);
                    let is_object = (*v).type_ == pg_sys::jbvType::jbvBinary
                        && (*(*v).val.binary.data).header & pg_sys::JB_FOBJECT != 0;
                    if !is_object {
                        return Err(not_an_object(i, describe(&*v)));
                    }
                    (*v).val.binary.data
                };
                score_object(&loaded, &rules, &mut scratch, JsonbObject::new(object))
                    .map_err(|e| e.in_element(i))?;
                layout.write_object(&mut out, &scratch.values);
                Ok::<(), PipelineError>(())
            })
        };
        outcome.or_raise();
        // SAFETY: nothing allocated in the row context outlives the row (the answer is copied
        // into `out`, palloc'd in the calling context).
        unsafe { row_memory.reset() };
    }
    drop(row_memory);
    // SAFETY: every element has been written (count of them).
    unsafe { out.finish() }
}

/// The answer objects' keys in jsonb's order (shorter first, then bytewise), with their
/// JEntries and bytes: the same for every row, so computed once per call.
pub(crate) struct OutputLayout {
    /// For each key, the index of its value in `Scratch::values`.
    slots: Vec<usize>,
    key_entries: Vec<u32>,
    key_bytes: Vec<u8>,
    /// Numerics for the values that recur in every answer (0, 1 and 0.0, 1.0 of the one-hot
    /// features), converted once.
    common: Vec<((bool, u64), Vec<u8>)>,
}

/// jsonb's object key order.
fn jsonb_key_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl OutputLayout {
    /// The layout of predict_purchase_json's answers (`with_score`: business_outcome, p_hat and
    /// the features) or of purchase_features' objects (the features), from the one key list
    /// `answer_keys`.
    ///
    /// # Safety
    /// Calls numeric_in: must run in a transaction (it allocates in the current context).
    pub(crate) unsafe fn new(loaded: &LoadedModel, with_score: bool) -> OutputLayout {
        let keys = answer_keys(&loaded.model, with_score)
            .into_iter()
            .map(|(key, slot)| (key.as_bytes(), slot.index()))
            .collect();
        // SAFETY: this function's contract.
        unsafe { OutputLayout::from_keys(keys) }
    }

    /// The layout of objects with these keys, each taking its value from `values[slot]`
    /// (slot `AnswerSlot::BusinessOutcome.index()` is written as an integer). The keys must be
    /// distinct (`answer_keys` makes them so).
    ///
    /// # Safety
    /// As for [`OutputLayout::new`].
    pub(crate) unsafe fn from_keys(mut unique: Vec<(&[u8], usize)>) -> OutputLayout {
        unique.sort_by(|a, b| jsonb_key_order(a.0, b.0));
        let mut key_entries = Vec::with_capacity(unique.len());
        let mut key_bytes = Vec::new();
        for (i, (k, _)) in unique.iter().enumerate() {
            key_bytes.extend_from_slice(k);
            key_entries.push(if i.is_multiple_of(pg_sys::JB_OFFSET_STRIDE as usize) {
                key_bytes.len() as u32 | pg_sys::JENTRY_HAS_OFF
            } else {
                k.len() as u32
            });
        }
        let common = [0.0f64, 1.0, 0.0, 1.0]
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                // business_outcome (an integer) is written as 0 / 1, features as 0.0 / 1.0.
                let text = if i < 2 {
                    format!("{}", v as i64)
                } else {
                    zmij::Buffer::new().format_finite(v).to_string()
                };
                // SAFETY: in a transaction (this function's contract).
                (key_of(i < 2, v), unsafe { numeric_bytes(&text) })
            })
            .collect();
        OutputLayout {
            slots: unique.into_iter().map(|(_, s)| s).collect(),
            key_entries,
            key_bytes,
            common,
        }
    }

    /// Appends one answer object (`values` indexed by `AnswerSlot::index`) to the array.
    ///
    /// # Safety
    /// As for [`OutputLayout::write`].
    pub(crate) unsafe fn write_object(&self, out: &mut ArrayWriter, values: &[f64]) {
        // SAFETY: this function's contract.
        let length = unsafe { self.write(&mut out.buf, values) };
        out.push_element(pg_sys::JENTRY_ISCONTAINER, length);
    }

    /// One object (`values` indexed by `AnswerSlot::index`) as a jsonb datum of its own,
    /// palloc'd in the current memory context: purchase_features' result.
    ///
    /// # Safety
    /// As for [`OutputLayout::write`].
    pub(crate) unsafe fn object_datum(&self, values: &[f64]) -> pg_sys::Datum {
        // SAFETY: palloc in a transaction (this function's contract).
        let mut buf = unsafe { PallocBuffer::new(64 + 32 * self.slots.len()) };
        buf.reserve(pg_sys::VARHDRSZ); // the varlena header, set below
                                       // SAFETY: this function's contract.
        let length = unsafe { self.write(&mut buf, values) };
        check_size(length);
        // SAFETY: buf.ptr is a palloc'd block of at least buf.len() bytes, 4-byte aligned, and
        // buf.len() fits the 4-byte varlena header (checked just above).
        unsafe { pgrx::set_varsize_4b(buf.ptr.cast(), buf.len() as i32) };
        pg_sys::Datum::from(buf.ptr)
    }

    /// Appends one object container (jsonb's binary layout) to `buf`; returns its length,
    /// including the alignment padding before it.
    ///
    /// # Safety
    /// Must run in a transaction (numeric_in, palloc); `values` must hold every slot.
    unsafe fn write(&self, buf: &mut PallocBuffer, values: &[f64]) -> u64 {
        let n = self.slots.len();
        let base = buf.len();
        buf.pad_to_int();
        buf.push_u32(n as u32 | pg_sys::JB_FOBJECT);
        let entries = buf.reserve((2 * n) * 4);
        for (i, e) in self.key_entries.iter().enumerate() {
            buf.put_u32(entries + 4 * i, *e);
        }
        buf.extend(&self.key_bytes);
        let mut total = self.key_bytes.len() as u64;
        for (j, &v) in self.slots.iter().enumerate() {
            let value = values[v];
            let meta = if value.is_finite() {
                let integer = v == AnswerSlot::BusinessOutcome.index();
                let start = buf.len();
                buf.pad_to_int();
                match self
                    .common
                    .iter()
                    .find(|(k, _)| *k == key_of(integer, value))
                {
                    Some((_, bytes)) => buf.extend(bytes),
                    // SAFETY: in a transaction (this function's contract).
                    None => unsafe { write_number(buf, integer, value) },
                }
                pg_sys::JENTRY_ISNUMERIC | (buf.len() - start) as u32
            } else {
                // What serde_json made of a non-finite number: null.
                pg_sys::JENTRY_ISNULL
            };
            total += u64::from(meta & pg_sys::JENTRY_OFFLENMASK);
            check_size(total);
            let meta = if (j + n).is_multiple_of(pg_sys::JB_OFFSET_STRIDE as usize) {
                (meta & pg_sys::JENTRY_TYPEMASK) | total as u32 | pg_sys::JENTRY_HAS_OFF
            } else {
                meta
            };
            buf.put_u32(entries + 4 * (n + j), meta);
        }
        let length = (buf.len() - base) as u64;
        check_size(length);
        length
    }
}

/// Appends `value` as the numeric jsonb_in makes of its JSON text (an integer's digits, else
/// the shortest round-trip decimal, as serde_json writes it), with its varlena header: encoded
/// here (`numeric_in::numeric_body`), or by numeric_in for text beyond that encoder.
///
/// # Safety
/// Must run in a transaction (numeric_in, palloc).
unsafe fn write_number(buf: &mut PallocBuffer, integer: bool, value: f64) {
    let mut digits = zmij::Buffer::new();
    let mut whole = [0u8; 24];
    let text = if integer {
        let mut cursor = std::io::Cursor::new(&mut whole[..]);
        // An i64's text is at most 20 bytes: it fits.
        let _ = write!(cursor, "{}", value as i64);
        let end = cursor.position() as usize;
        std::str::from_utf8(&whole[..end]).unwrap_or("0")
    } else {
        digits.format_finite(value)
    };
    match numeric_body(text) {
        Some(body) => buf.extend_varlena(body.as_bytes()),
        // SAFETY: in a transaction (this function's contract).
        None => buf.extend(&unsafe { numeric_bytes(text) }),
    }
}

/// Identifies a value among `OutputLayout::common`: whether it is written as an integer, and
/// its exact bits (a pair, so no float's bits can pass for another entry's).
fn key_of(integer: bool, v: f64) -> (bool, u64) {
    (integer, v.to_bits())
}

unsafe extern "C-unwind" {
    /// PostgreSQL's numeric_in as a function pointer for DirectFunctionCall.
    #[link_name = "numeric_in"]
    fn numeric_in_raw(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum;
}

/// The numeric of decimal `text`, as the bytes jsonb stores (numeric_in's result, with its
/// varlena header). Allocates in the current (per-row) memory context.
///
/// # Safety
/// Must run in a transaction (numeric_in may raise an ERROR; palloc).
unsafe fn numeric_bytes(text: &str) -> Vec<u8> {
    let c = std::ffi::CString::new(text).unwrap_or_default();
    // SAFETY: numeric_in(cstring, oid, int4) called with a NUL-terminated string, no type oid
    // and typmod -1; it returns a palloc'd numeric varlena, read for its full size.
    unsafe {
        let d = pg_sys::DirectFunctionCall3Coll(
            Some(numeric_in_raw),
            pg_sys::InvalidOid,
            pg_sys::Datum::from(c.as_ptr()),
            pg_sys::Datum::from(pg_sys::InvalidOid),
            pg_sys::Datum::from(-1i32),
        );
        let ptr = d.cast_mut_ptr::<pg_sys::varlena>();
        std::slice::from_raw_parts(ptr as *const u8, pgrx::varlena::varsize_any(ptr)).to_vec()
    }
}

fn check_size(length: u64) {
    if length > u64::from(pg_sys::JENTRY_OFFLENMASK) {
        raise(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "the answer of predict_purchase_json would exceed the {} bytes a jsonb value can hold",
                pg_sys::JENTRY_OFFLENMASK
            ),
            Some("Score fewer rows per call, or score table rows with score_purchase.".into()),
        );
    }
}

/// The jsonb array being written: its header and element JEntries up front, elements after.
pub(crate) struct ArrayWriter {
    buf: PallocBuffer,
    count: usize,
    written: usize,
    entries: usize,
    total: u64,
}

impl ArrayWriter {
    /// # Safety
    /// As for [`PallocBuffer::new`].
    pub(crate) unsafe fn new(count: usize) -> ArrayWriter {
        // SAFETY: this function's contract.
        let mut buf = unsafe { PallocBuffer::new(64 + count * 1024) };
        buf.reserve(pg_sys::VARHDRSZ); // the varlena header, set at the end
        buf.push_u32(count as u32 | pg_sys::JB_FARRAY);
        let entries = buf.reserve(count * 4);
        ArrayWriter {
            buf,
            count,
            written: 0,
            entries,
            total: 0,
        }
    }

    /// Records the element just appended (its type bits and length including padding).
    fn push_element(&mut self, type_bits: u32, length: u64) {
        let i = self.written;
        self.total += length;
        check_size(self.total);
        let meta = if i.is_multiple_of(pg_sys::JB_OFFSET_STRIDE as usize) {
            type_bits | self.total as u32 | pg_sys::JENTRY_HAS_OFF
        } else {
            type_bits | length as u32
        };
        self.buf.put_u32(self.entries + 4 * i, meta);
        self.written += 1;
    }

    /// The finished jsonb datum.
    ///
    /// # Safety
    /// Every one of the `count` elements must have been written (else the datum has
    /// zeroed JEntries, which jsonb readers take as empty strings).
    pub(crate) unsafe fn finish(self) -> pg_sys::Datum {
        debug_assert_eq!(self.written, self.count);
        check_size((self.buf.len() - pg_sys::VARHDRSZ) as u64);
        let len = self.buf.len();
        // SAFETY: `ptr` is a palloc'd, 4-byte aligned block of at least `len` bytes, the first
        // 4 reserved for the header; `len` fits a 4-byte varlena header (checked above).
        unsafe { pgrx::set_varsize_4b(self.buf.ptr.cast(), len as i32) };
        pg_sys::Datum::from(self.buf.ptr)
    }
}

/// PostgreSQL's MaxAllocSize (1 GB - 1), the most palloc/repalloc give.
const MAX_ALLOC_SIZE: usize = 0x3FFF_FFFF;

/// A byte buffer palloc'd in the calling context (where the result must live), grown by
/// doubling with repalloc; writes are plain memory copies.
struct PallocBuffer {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

impl PallocBuffer {
    /// An empty buffer of capacity `cap`, palloc'd in the current memory context.
    ///
    /// # Safety
    /// Must run in a transaction (palloc), and the buffer must not be used after the current
    /// memory context is reset (it does not own its memory in Rust's sense).
    unsafe fn new(cap: usize) -> PallocBuffer {
        let cap = cap.clamp(64, 1 << 26);
        PallocBuffer {
            // SAFETY: the contract; palloc raises an ERROR rather than returning NULL.
            ptr: unsafe { pg_sys::palloc(cap) }.cast(),
            len: 0,
            cap,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Appends `n` zero bytes; returns where they start.
    fn reserve(&mut self, n: usize) -> usize {
        let start = self.grow(n);
        // SAFETY: [start, start + n) is inside the block (grow).
        unsafe { std::ptr::write_bytes(self.ptr.add(start), 0, n) };
        start
    }

    /// Appends `n` bytes left as they are, for the caller to write at once; returns where
    /// they start.
    fn grow(&mut self, n: usize) -> usize {
        let start = self.len;
        if self.len + n > self.cap {
            let mut cap = self.cap.max(64);
            while cap < self.len + n {
                cap *= 2;
            }
            // jsonb cannot exceed 256 MB (checked as it grows); MaxAllocSize is 1 GB.
            let cap = cap.min(MAX_ALLOC_SIZE);
            if cap < self.len + n {
                check_size(u64::MAX);
            }
            // SAFETY: `ptr` is this buffer's palloc'd block (PallocBuffer::new); `cap` is at
            // most MaxAllocSize; repalloc keeps the first `len` bytes and raises on failure.
            self.ptr = unsafe { pg_sys::repalloc(self.ptr.cast(), cap).cast() };
            self.cap = cap;
        }
        self.len += n;
        start
    }

    fn extend(&mut self, bytes: &[u8]) {
        let at = self.grow(bytes.len());
        // SAFETY: [at, at + bytes.len()) was just reserved inside the block, which `bytes`
        // (a Rust slice) does not overlap.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at), bytes.len()) };
    }

    /// Appends a varlena of `body` with its 4-byte header (the layout numeric_in's palloc'd
    /// result has, which jsonb stores as is), int-aligned as jsonb stores numerics (no padding
    /// when the caller has padded already).
    fn extend_varlena(&mut self, body: &[u8]) {
        self.pad_to_int();
        let total = pg_sys::VARHDRSZ + body.len();
        let at = self.grow(total);
        // SAFETY: [at, at + total) was just reserved inside the block, which `body` (a Rust
        // slice) does not overlap; `at` is a multiple of 4 in a palloc'd (MAXALIGN'd) block, so
        // the header's u32 write is aligned; total is far below the 4-byte header's limit.
        unsafe {
            std::ptr::copy_nonoverlapping(
                body.as_ptr(),
                self.ptr.add(at + pg_sys::VARHDRSZ),
                body.len(),
            );
            pgrx::set_varsize_4b(self.ptr.add(at).cast(), total as i32);
        }
    }

    fn push_u32(&mut self, v: u32) {
        self.extend(&v.to_ne_bytes());
    }

    /// Overwrites 4 bytes already written at `at`.
    fn put_u32(&mut self, at: usize, v: u32) {
        assert!(at + 4 <= self.len, "put_u32 beyond the written bytes");
        // SAFETY: [at, at + 4) is inside the written part of the block (asserted above).
        unsafe { std::ptr::copy_nonoverlapping(v.to_ne_bytes().as_ptr(), self.ptr.add(at), 4) };
    }

    /// Zero padding to the next 4-byte boundary (jsonb's INTALIGN); returns its length.
    fn pad_to_int(&mut self) -> usize {
        let pad = (4 - self.len % 4) % 4;
        self.reserve(pad);
        pad
    }
}
