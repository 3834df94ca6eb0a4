//! A `regclass` argument that is *not* opened when the call's arguments are read (pgrx's
//! `PgRelation` takes AccessShareLock right away): a function that reads a table on the caller's
//! behalf checks SELECT first, as `has_table_privilege` does, so a role without it cannot queue
//! behind a lock on a table it may not read.

use crate::pg::errors::raise;
use crate::pg::insights::relation_name;
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::nullable::Nullable;
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable,
};
use pgrx::{FromDatum, PgSqlErrorCode};

/// The OID of a `regclass` argument, unopened and unlocked.
#[derive(Clone, Copy, Debug)]
pub struct SourceRelation(pub pg_sys::Oid);

impl FromDatum for SourceRelation {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<SourceRelation> {
        if is_null {
            return None;
        }
        // SAFETY: a regclass datum is an OID by value (the caller's contract on `datum`).
        unsafe { pg_sys::Oid::from_datum(datum, false) }.map(SourceRelation)
    }
}

// SAFETY: unboxed through FromDatum above, as pgrx does for its own by-value types; a NULL
// argument is refused (or None for Option<SourceRelation>) without reading the datum.
unsafe impl<'fcx> ArgAbi<'fcx> for SourceRelation {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: the argument is this function's regclass argument (the caller's contract).
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        // SAFETY: as above.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

// SAFETY: the SQL type is regclass, whose datum is the OID read above.
unsafe impl SqlTranslatable for SourceRelation {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(SourceRelation);
    const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
        pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
        Ok(SqlMappingRef::literal("regclass"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::literal("regclass")));
}

impl SourceRelation {
    /// Refuses (42501) unless the current role may SELECT from the relation; takes no lock.
    pub fn check_select(self) {
        // SAFETY: an ACL check by OID through the syscache; a relation dropped meanwhile is
        // an ERROR PostgreSQL raises itself.
        let ok = unsafe {
            pg_sys::pg_class_aclcheck(self.0, pg_sys::GetUserId(), pg_sys::ACL_SELECT as _)
                == pg_sys::AclResult::ACLCHECK_OK
        };
        if !ok {
            raise(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!("permission denied for table {}", relation_name(self.0)),
                Some("The rows are read with your privileges: GRANT SELECT on the table to your role.".into()),
            );
        }
    }
}
