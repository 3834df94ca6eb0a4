//! A source table read by the insight functions (`evaluate_purchase_model`, `purchase_drift`):
//! its `regclass` argument taken as a bare OID (pgrx's `PgRelation` would open the relation and
//! take `AccessShareLock` before anything else), the caller's SELECT privilege checked before
//! any lock, then its columns read through a cursor with the scoring path's column readers, so
//! a value means here exactly what it means to `predict_purchase`.

use crate::pg::datum::column::ColumnReader;
use crate::pg::errors::{raise, OrRaise};
use crate::pg::insights::{quote_ident, relation_name};
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::prelude::*;
use pgrx::{FromDatum, PgMemoryContexts, PgSqlErrorCode};
use purchase_model::artifact::InputKind;
use purchase_model::model::RawValue;

/// A `regclass` argument, not opened: regclass input resolved the name without a lock.
pub struct SourceTable(pub pg_sys::Oid);

impl FromDatum for SourceTable {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<SourceTable> {
        (!is_null).then(|| SourceTable(pg_sys::Oid::from(datum.value() as u32)))
    }
}

// SAFETY: unboxed through FromDatum above, for arguments whose SQL type is regclass (an OID,
// passed by value); nothing is borrowed.
unsafe impl<'fcx> ArgAbi<'fcx> for SourceTable {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        // SAFETY: the caller (pgrx's wrapper) passes an argument declared regclass.
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| {
            raise(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "argument \"source\" must not be NULL",
                None,
            )
        })
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> pgrx::nullable::Nullable<Self> {
        // SAFETY: as above.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

pgrx::impl_sql_translatable!(SourceTable, arg_only = "regclass");

/// Refuses (42501) unless the current user may read `columns` of `relid`: SELECT on the table,
/// or on each of these columns, as `has_table_privilege`/`has_column_privilege` decide it,
/// from the catalog caches and before any lock on the relation, so a caller without the
/// privilege is refused at once instead of queueing behind another session's lock.
pub fn check_select(relid: pg_sys::Oid, columns: &[&str]) {
    // SAFETY: GetUserId reads backend state; pg_class_aclcheck is a syscache lookup by OID
    // (a relation dropped meanwhile is a PostgreSQL ERROR, not UB) that takes no relation lock.
    let user = unsafe { pg_sys::GetUserId() };
    let select = pg_sys::ACL_SELECT as pg_sys::AclMode;
    // SAFETY: as above.
    if unsafe { pg_sys::pg_class_aclcheck(relid, user, select) } == pg_sys::AclResult::ACLCHECK_OK {
        return;
    }
    let readable = |column: &str| {
        let name = std::ffi::CString::new(column).unwrap_or_default();
        // SAFETY: syscache lookups with a NUL-terminated name that outlives the calls; an
        // unknown column is InvalidAttrNumber, which is refused without another lookup.
        unsafe {
            let attnum = pg_sys::get_attnum(relid, name.as_ptr());
            attnum != pg_sys::InvalidAttrNumber as i16
                && pg_sys::pg_attribute_aclcheck(relid, attnum, user, select)
                    == pg_sys::AclResult::ACLCHECK_OK
        }
    };
    if !columns.iter().all(|c| readable(c)) {
        let table = relation_name(relid);
        raise(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("permission denied for table {table}"),
            Some(format!(
                "GRANT SELECT ON {table} (or on the columns the model reads and the outcome column) to the calling role."
            )),
        );
    }
}

/// One fetched row: `value(i)` reads input `i` as scoring reads it, `text(i)` a trailing
/// column selected as text.
pub struct SourceRow<'r> {
    batch: &'r pgrx::spi::SpiTupleTable<'r>,
    columns: &'r [(String, InputKind)],
    readers: &'r mut [ColumnReader],
}

impl<'r> SourceRow<'r> {
    /// The value lives as long as the row (the batch, and the per-batch context).
    pub fn value(&mut self, i: usize) -> RawValue<'r> {
        let datum = self.batch.get_datum_by_ordinal(i + 1).or_raise();
        // SAFETY: the reader was built for the type of result column i + 1 (the query selects
        // the column itself); the datum points into the batch's tuple, which lives until the
        // batch is dropped after this row; what the reader pallocs goes into the per-batch
        // context that is reset only after the batch; the readers' own context (SPI's
        // procedure context) outlives the whole cursor.
        unsafe {
            self.readers[i].read(
                &self.columns[i].0,
                datum.unwrap_or(pg_sys::Datum::from(0)),
                datum.is_none(),
            )
        }
    }

    pub fn text(&self, i: usize) -> Option<String> {
        self.batch.get::<String>(i + 1).or_raise()
    }
}

/// Reads `columns` (and `text_column` as text, last) of every row of `relid` through a
/// cursor, 10,000 rows per batch, calling `on_row` for each; checks for interrupts after every
/// batch. The caller has checked the columns exist and may be read.
pub fn for_each_row(
    relid: pg_sys::Oid,
    columns: &[(String, InputKind)],
    text_column: Option<&str>,
    on_row: impl FnMut(&mut SourceRow<'_>),
) {
    for_each_row_with_texts(relid, columns, text_column.as_slice(), on_row)
}

/// Like [`for_each_row`], with several trailing columns read as text (`row.text(columns.len()
/// + j)` is `text_columns[j]`).
pub fn for_each_row_with_texts(
    relid: pg_sys::Oid,
    columns: &[(String, InputKind)],
    text_columns: &[&str],
    mut on_row: impl FnMut(&mut SourceRow<'_>),
) {
    let mut select: Vec<String> = columns
        .iter()
        .map(|(c, _)| format!("s.{}", quote_ident(c)))
        .collect();
    select.extend(
        text_columns
            .iter()
            .map(|c| format!("s.{}::pg_catalog.text", quote_ident(c))),
    );
    let query = format!(
        "SELECT {} FROM {} s",
        select.join(", "),
        relation_name(relid)
    );
    Spi::connect(|client| {
        let mut cursor = client.open_cursor(query.as_str(), &[]);
        let mut readers: Vec<ColumnReader> = Vec::new();
        let mut rows_context = PgMemoryContexts::new("pg_purchase source rows");
        loop {
            let mut batch = cursor.fetch(10_000).or_raise();
            if batch.is_empty() {
                break;
            }
            if readers.is_empty() {
                // In SPI's procedure context, which outlives the cursor (ColumnReader::for_type).
                readers = columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| {
                        let typid = batch.column_type_oid(i + 1).or_raise().value();
                        ColumnReader::for_type(typid, *kind)
                    })
                    .collect();
            }
            // SAFETY: switch_to makes the per-batch context current for the closure and
            // restores the previous one after; nothing allocated in it outlives the batch.
            unsafe {
                rows_context.switch_to(|_| {
                    while batch.next().is_some() {
                        let mut row = SourceRow {
                            batch: &batch,
                            columns,
                            readers: &mut readers,
                        };
                        on_row(&mut row);
                    }
                })
            };
            // SAFETY: nothing allocated in the per-batch context is referenced any more: the
            // rows' values were used inside on_row and the batch's tuples live in SPI's memory.
            unsafe { rows_context.reset() };
            pgrx::check_for_interrupts!();
        }
    });
}
