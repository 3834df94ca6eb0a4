//! The generic path: scoring a whole composite value (`ROW(...)::customers`, a function's result,
//! a record built from jsonb, or a table row the planner did not rewrite).
//!
//! Per call site and row type (typid, typmod) the attribute numbers and column readers are
//! resolved once; per row the tuple is stored in a reusable slot and deformed only up to the
//! last attribute the model reads. No name lookups and no allocation beyond the result.

use crate::pg::datum::column::ColumnReader;
use crate::pg::errors::raise;
use crate::pg::models::cache::{relcache_generation, LoadedModel};
use crate::pg::scoring::binder::bind_inputs;
use crate::pg::scoring::call_site::{version_arg, Call, ModelArgument};
use crate::pg::scoring::output::{emit, Output, OutputState};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::rc::Rc;

struct RowLayout {
    typid: pg_sys::Oid,
    typmod: i32,
    /// The row type's descriptor identity (typcache), and the relcache generation at which it
    /// was last confirmed: a named composite type can change under the same (typid, typmod),
    /// e.g. `ALTER TABLE ... DROP COLUMN` earlier in a transaction whose PL/pgSQL keeps its
    /// call sites.
    identifier: u64,
    generation: u64,
    model: Rc<LoadedModel>,
    slot: *mut pg_sys::TupleTableSlot,
    /// For each model input, its 0-based attribute index in the row type.
    attindex: Vec<usize>,
    readers: Vec<ColumnReader>,
    last_attno: i32,
}

#[derive(Default)]
struct RowSite {
    model: ModelArgument,
    layout: Option<RowLayout>,
    tuple: Option<Box<pg_sys::HeapTupleData>>,
    output: OutputState,
}

impl Drop for RowLayout {
    fn drop(&mut self) {
        // The slot and its descriptor copy live in the call site's context; release them early
        // when the row type changes so alternating types do not accumulate memory.
        // SAFETY: `slot` was made by build_layout from the descriptor copy it owns, is cleared
        // after every row, and is dropped only here (once); the context is still alive (the
        // layout is dropped before or by the context's reset callback).
        unsafe {
            let desc = (*self.slot).tts_tupleDescriptor;
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
            pg_sys::FreeTupleDesc(desc);
        }
    }
}

/// Entry for predict_purchase / purchase_outcome / score_purchase / purchase_features on a row.
///
/// # Safety
/// `call` is a call of a V1 function declared with (record, text) arguments, both non-null.
pub unsafe fn score_row(call: Call<'_>, output: Output) -> pg_sys::Datum {
    // SAFETY: this function is the only user of the row functions' fn_extra, always as RowSite.
    let site: &mut RowSite = unsafe { call.state(RowSite::default) };
    let (row, _) = call.arg(0);
    // A new model invalidates the layout below (it compares the model it was built for).
    // SAFETY: argument 1 is a non-null text (this function's contract); argument 2, when the
    // declaration has it, is the int4 version pin.
    let (model, _) = unsafe { site.model.model_version(call, 1, version_arg(call, 2)) };

    // SAFETY: argument 0 is a non-null composite datum (this function's contract); detoasted,
    // it is a HeapTupleHeader valid for the call.
    let (header, typid, typmod) = unsafe {
        let header = pg_sys::pg_detoast_datum(row.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
        (
            header,
            pgrx::heap_tuple_header_get_type_id(header),
            pgrx::heap_tuple_header_get_typmod(header),
        )
    };
    let stale = match &mut site.layout {
        Some(l) => {
            l.typid != typid
                || l.typmod != typmod
                || !Rc::ptr_eq(&l.model, &model)
                || !l.still_current()
        }
        None => true,
    };
    if stale {
        site.layout = None;
        site.layout = Some(build_layout(call, model.clone(), typid, typmod));
    }
    let Some(layout) = site.layout.as_mut() else {
        unreachable!("the layout was just built")
    };
    // SAFETY: a zeroed HeapTupleData is valid plain data; its fields are set before each use.
    let tuple = site
        .tuple
        .get_or_insert_with(|| Box::new(unsafe { std::mem::zeroed() }));
    // SAFETY: `header` is this row's tuple (above); the slot's descriptor is the row type's
    // (typid, typmod), checked just above; the slot does not own the tuple (false) and is
    // cleared before returning, so it never outlives the datum.
    let (values, nulls) = unsafe {
        tuple.t_len = pgrx::heap_tuple_header_get_datum_length(header) as u32;
        tuple.t_data = header;
        pg_sys::ExecStoreHeapTuple(tuple.as_mut(), layout.slot, false);
        pg_sys::slot_getsomeattrs(layout.slot, layout.last_attno);
        ((*layout.slot).tts_values, (*layout.slot).tts_isnull)
    };
    let RowLayout {
        attindex, readers, ..
    } = layout;
    let result = emit(output, &mut site.output, call, &model, |i| {
        let a = attindex[i];
        // SAFETY: a < last_attno, deformed just above; the reader was made for the
        // attribute's type; the value lives until the slot is cleared below.
        unsafe { readers[i].read(&model.model.inputs[i].column, *values.add(a), *nulls.add(a)) }
    });
    // SAFETY: the slot holds this row's tuple, stored above.
    unsafe { pg_sys::ExecClearTuple(layout.slot) };
    result
}

impl RowLayout {
    /// Whether the row type still has the descriptor the layout was built from. Checked with
    /// one comparison per row; the typcache is consulted only after a relcache invalidation.
    #[inline]
    fn still_current(&mut self) -> bool {
        let generation = relcache_generation();
        if generation == self.generation {
            return true;
        }
        // SAFETY: typid/typmod identify a row type this call site has already read.
        let identifier = unsafe { pg_sys::assign_record_type_identifier(self.typid, self.typmod) };
        self.generation = generation;
        identifier == self.identifier
    }
}

/// The layout of row type (typid, typmod) for `model`, built in the call site's context.
fn build_layout(
    call: Call<'_>,
    model: Rc<LoadedModel>,
    typid: pg_sys::Oid,
    typmod: i32,
) -> RowLayout {
    // SAFETY: the flinfo of the current call has a valid fn_mcxt, which outlives the layout
    // (the layout is part of the call-site state dropped at its reset).
    let mut mcxt = pgrx::PgMemoryContexts::For(unsafe { (*call.flinfo()).fn_mcxt });
    // SAFETY: switch_to runs the closure with fn_mcxt current and restores the previous context
    // (also on error).
    unsafe { mcxt.switch_to(|_| build_layout_in_context(model, typid, typmod)) }
}

fn build_layout_in_context(model: Rc<LoadedModel>, typid: pg_sys::Oid, typmod: i32) -> RowLayout {
    let generation = relcache_generation();
    // SAFETY: (typid, typmod) come from a composite datum's header: a registered row type.
    // The descriptor copy is owned by the layout (freed in Drop).
    let (identifier, desc) = unsafe {
        (
            pg_sys::assign_record_type_identifier(typid, typmod),
            pg_sys::lookup_rowtype_tupdesc_copy(typid, typmod),
        )
    };
    // SAFETY: `desc` is a valid descriptor with natts attributes.
    let attrs = unsafe { (*desc).attrs.as_slice((*desc).natts as usize) };
    let needed: Vec<&str> = model.model.columns().collect();
    let available = attrs
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.attisdropped)
        .map(|(index, a)| (pgrx::name_data_to_str(&a.attname), index));
    let attindex = match bind_inputs(&needed, available) {
        Ok(attindex) => attindex,
        Err(missing) => {
            // SAFETY: format_type_be returns a palloc'd C string for any type oid.
            let type_name = unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(typid)) }
                .to_string_lossy();
            raise(
                PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                format!(
                    "purchase model \"{}\" (version {}) reads column \"{}\", which row type {} does not have",
                    model.name, model.version, missing.column, type_name
                ),
                Some(format!("The model reads the columns {}.", needed.join(", "))),
            );
        }
    };
    let readers = model
        .model
        .inputs
        .iter()
        .zip(&attindex)
        .map(|(input, &index)| ColumnReader::for_type(attrs[index].atttypid, input.kind))
        .collect();
    let last_attno = attindex.iter().map(|&i| i as i32 + 1).max().unwrap_or(0);
    // SAFETY: `desc` is a valid descriptor; the slot keeps a pointer to it (owned by the layout).
    let slot = unsafe { pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsHeapTuple) };
    RowLayout {
        typid,
        typmod,
        identifier,
        generation,
        model,
        slot,
        attindex,
        readers,
        last_attno,
    }
}
