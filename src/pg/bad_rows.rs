//! What the insight functions that read a whole source table (`evaluate_purchase_model`,
//! `purchase_drift`) do with a row scoring would refuse: `on_bad_row => 'error'` (the default)
//! raises the row's error naming the row by its key (`key_column`), `'skip'` leaves the row
//! out and counts it in the result.

use crate::pg::errors::{pipeline_sqlstate, raise};
use crate::pg::insights::{check_column, relation_name};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use purchase_model::error::PipelineError;

/// The key column used when `key_column` is NULL (the refresh's default).
pub const DEFAULT_KEY: &str = "customer_id";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnBadRow {
    Error,
    Skip,
}

/// `on_bad_row` as given: 'error' or 'skip'; anything else is 22023, NULL 22004.
pub fn on_bad_row(value: Option<&str>) -> OnBadRow {
    match value {
        Some("error") => OnBadRow::Error,
        Some("skip") => OnBadRow::Skip,
        Some(other) => raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("on_bad_row must be 'error' or 'skip', not '{other}'"),
            Some("'error' (the default) stops at the first row scoring would refuse and names it; 'skip' leaves such rows out and counts them.".into()),
        ),
        None => raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "argument \"on_bad_row\" must not be NULL",
            Some("Pass 'error' or 'skip'.".into()),
        ),
    }
}

/// The column that names a bad row: `key_column` when given (it must exist: 42703; the caller
/// checks SELECT on it), else `customer_id` when the source has one the caller may read (a role
/// with SELECT on only the columns the model reads is not refused for the default key), else
/// None (the row is named by its number in the scan).
pub fn key_column(relid: pg_sys::Oid, key_column: Option<&str>) -> Option<String> {
    match key_column {
        Some(column) => {
            check_column(relid, column);
            Some(column.to_string())
        }
        None => readable_column(relid, DEFAULT_KEY).then(|| DEFAULT_KEY.to_string()),
    }
}

/// Whether `relid` has `column` and the current user may SELECT it (table or column privilege),
/// from the catalog caches, before any lock.
fn readable_column(relid: pg_sys::Oid, column: &str) -> bool {
    let name = std::ffi::CString::new(column).unwrap_or_default();
    let select = pg_sys::ACL_SELECT as pg_sys::AclMode;
    // SAFETY: syscache lookups with a NUL-terminated name that outlives the calls; an unknown
    // column is InvalidAttrNumber, checked before the column privilege is looked up.
    unsafe {
        let attnum = pg_sys::get_attnum(relid, name.as_ptr());
        if attnum == pg_sys::InvalidAttrNumber as i16 {
            return false;
        }
        let user = pg_sys::GetUserId();
        pg_sys::pg_class_aclcheck(relid, user, select) == pg_sys::AclResult::ACLCHECK_OK
            || pg_sys::pg_attribute_aclcheck(relid, attnum, user, select)
                == pg_sys::AclResult::ACLCHECK_OK
    }
}

/// The bad rows of one pass over a source.
pub struct BadRows {
    policy: OnBadRow,
    key_column: Option<String>,
    relation: String,
    pub skipped: i64,
}

impl BadRows {
    pub fn new(policy: OnBadRow, key_column: Option<String>, relid: pg_sys::Oid) -> BadRows {
        BadRows {
            policy,
            key_column,
            relation: relation_name(relid),
            skipped: 0,
        }
    }

    /// Deals with `err`, raised by row `row` (1-based in the scan) whose key reads `key` (its
    /// text; None when the key is NULL or there is no key column): counts it under 'skip',
    /// raises it naming the row under 'error'.
    pub fn bad_row(&mut self, err: PipelineError, row: usize, key: Option<String>) {
        if self.policy == OnBadRow::Skip {
            self.skipped += 1;
            return;
        }
        let which = match (&self.key_column, key) {
            (Some(column), Some(key)) => format!("row {column} = {key}"),
            (Some(column), None) => format!("row {row} of the scan ({column} is NULL)"),
            (None, _) => format!("row {row} of the scan"),
        };
        let code = pipeline_sqlstate(&err);
        let mut hint = err.hint().map(|h| format!("{h} ")).unwrap_or_default();
        hint.push_str(&format!(
            "Fix that row of {}, or pass on_bad_row => 'skip' to leave such rows out (they are counted in the result).",
            self.relation
        ));
        if self.key_column.is_none() {
            hint.push_str(" key_column => a column of the source names the row by its value.");
        }
        raise(code, format!("{which}: {err}"), Some(hint))
    }
}
