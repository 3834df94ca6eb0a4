//! Who may write a table a refresh writes: its owner as the catalog says now, and whether the
//! calling role really belongs to that owner. Two primitives for refresh.sql's
//! `purchase.refresh_check_owner`, which holds the rule and the error.
//!
//! Why C and not SQL: the refresh runs under one REPEATABLE READ snapshot taken before it locks
//! the target, so a `pg_class` query would see the owner as of that snapshot; the syscache sees
//! the latest committed row (invalidations are accepted when the lock is taken). And
//! `pg_has_role(..., 'MEMBER')` counts a superuser as a member of every role, which is exactly
//! the case the rule is for: a superuser's refresh must not run a plain role's triggers.

use crate::pg::errors::guard_entry;
use pgrx::prelude::*;

/// `purchase.relation_owner(relation oid) RETURNS oid`: `pg_class.relowner` of relation from the
/// syscache (the latest committed state, not the transaction's snapshot); NULL when no such
/// relation exists now.
#[pg_extern(sql = false)]
fn relation_owner(relation: pg_sys::Oid) -> Option<pg_sys::Oid> {
    guard_entry("relation_owner", || {
        // SAFETY: SearchSysCache1 takes a cache id and a by-value key and returns a pinned
        // tuple or NULL; the tuple is a pg_class row (RELOID), so its struct is FormData_pg_class,
        // read before ReleaseSysCache unpins it.
        unsafe {
            let tuple = pg_sys::SearchSysCache1(
                pg_sys::SysCacheIdentifier::RELOID as _,
                pg_sys::Datum::from(relation),
            );
            if tuple.is_null() {
                return None;
            }
            let owner =
                (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple)).relowner;
            pg_sys::ReleaseSysCache(tuple);
            Some(owner)
        }
    })
}

/// `purchase.caller_is_member_of(role oid) RETURNS boolean`: whether the current role is role
/// or a member of it, directly or through other roles (pg_has_role's MEMBER), with superuser
/// status counting for nothing.
#[pg_extern(sql = false)]
fn caller_is_member_of(role: pg_sys::Oid) -> bool {
    guard_entry("caller_is_member_of", || {
        // SAFETY: both functions only read the backend's user id and the role-membership
        // caches; any OID is a valid argument (an unknown role is simply not a member).
        unsafe { pg_sys::is_member_of_role_nosuper(pg_sys::GetUserId(), role) }
    })
}
