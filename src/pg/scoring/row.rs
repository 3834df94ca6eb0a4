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
use crate::pg::scoring::call_site::{arg, call_site, ModelArgument};
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
/// Called only from the V1 functions declared STRICT with (record, text) arguments.
pub unsafe fn score_row(fcinfo: pg_sys::FunctionCallInfo, output: Output) -> pg_sys::Datum {
    let site: &mut RowSite = call_site(fcinfo, RowSite::default);
    let (row, _) = arg(fcinfo, 0);
    let (name_datum, _) = arg(fcinfo, 1);
    // A new model invalidates the layout below (it compares the model it was built for).
    let (model, _) = site.model.model(fcinfo, 1, name_datum);

    let header = pg_sys::pg_detoast_datum(row.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
    let typid = pgrx::heap_tuple_header_get_type_id(header);
    let typmod = pgrx::heap_tuple_header_get_typmod(header);
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
        site.layout = Some(build_layout(fcinfo, model.clone(), typid, typmod));
    }
    let layout = site.layout.as_mut().unwrap();
    let tuple = site
        .tuple
        .get_or_insert_with(|| Box::new(std::mem::zeroed()));
    tuple.t_len = pgrx::heap_tuple_header_get_datum_length(header) as u32;
    tuple.t_data = header;
    pg_sys::ExecStoreHeapTuple(tuple.as_mut(), layout.slot, false);
    pg_sys::slot_getsomeattrs(layout.slot, layout.last_attno);
    let values = (*layout.slot).tts_values;
    let nulls = (*layout.slot).tts_isnull;
    let RowLayout {
        attindex, readers, ..
    } = layout;
    let result = emit(output, &mut site.output, fcinfo, &model, |i| {
        let a = attindex[i];
        readers[i].read(&model.model.inputs[i].column, *values.add(a), *nulls.add(a))
    });
    pg_sys::ExecClearTuple(layout.slot);
    result
}

impl RowLayout {
    /// Whether the row type still has the descriptor the layout was built from. Checked with
    /// one comparison per row; the typcache is consulted only after a relcache invalidation.
    #[inline]
    unsafe fn still_current(&mut self) -> bool {
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

unsafe fn build_layout(
    fcinfo: pg_sys::FunctionCallInfo,
    model: Rc<LoadedModel>,
    typid: pg_sys::Oid,
    typmod: i32,
) -> RowLayout {
    let mcxt = (*(*fcinfo).flinfo).fn_mcxt;
    pgrx::PgMemoryContexts::For(mcxt).switch_to(|_| {
        let generation = relcache_generation();
        let identifier = pg_sys::assign_record_type_identifier(typid, typmod);
        let desc = pg_sys::lookup_rowtype_tupdesc_copy(typid, typmod);
        let natts = (*desc).natts as usize;
        let attrs = (*desc).attrs.as_slice(natts);
        let needed: Vec<&str> = model.model.columns().collect();
        let available = attrs
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.attisdropped)
            .map(|(index, a)| (pgrx::name_data_to_str(&a.attname), index));
        let attindex = match bind_inputs(&needed, available) {
            Ok(attindex) => attindex,
            Err(missing) => {
                let type_name = std::ffi::CStr::from_ptr(pg_sys::format_type_be(typid)).to_string_lossy();
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
        let slot = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsHeapTuple);
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
    })
}
