//! The model catalog, `purchase.model_versions`: one immutable row per loaded version, at most
//! one active version per name. Reads run through SPI with the caller's snapshot, so a statement
//! sees exactly the versions committed before it started.

use crate::pg::errors::{raise, OrRaise};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::ops::Not;

// The catalog's SQL: bootstrap, so every other SQL object can require it.
pgrx::extension_sql_file!("catalog.sql", name = "catalog", bootstrap);

pub const SCHEMA: &str = "purchase";
pub const TABLE: &str = "model_versions";

/// The active version of `name` as stored: version, sha256, and the artifact text without its
/// reference checks (verified at load; leaving them out makes a backend's first call cheaper).
pub struct StoredVersion {
    pub version: i32,
    pub sha256: String,
    pub artifact: String,
}

/// Version `version` of `name` as stored, for scoring: the active one when None, else that
/// version whether active or not (a staged or retired version can be scored by pinning it).
///
/// Read with the statement's own snapshot (read-only SPI): pgrx's SPI takes a fresh snapshot
/// per query once the transaction has an XID, so in a CTAS, an INSERT ... SELECT or any statement
/// after a write, a call site starting after a concurrent activation committed would otherwise
/// score with the new version while an earlier one used the old.
pub fn scoring_version(name: &str, version: Option<i32>) -> Option<StoredVersion> {
    as_catalog_owner(|| scoring_version_read(name, version))
}

fn scoring_version_read(name: &str, version: Option<i32>) -> Option<StoredVersion> {
    // Every operator and type qualified: this runs under the caller's search_path. Citus hook:
    // the node's own placement when the catalog is a reference table.
    let which = match version {
        None => "active",
        Some(_) => "version OPERATOR(pg_catalog.=) $2",
    };
    let query = std::ffi::CString::new(format!(
        "SELECT version, sha256,
                (artifact OPERATOR(pg_catalog.-) 'checks'::pg_catalog.text)::pg_catalog.text
           FROM {} WHERE name OPERATOR(pg_catalog.=) $1 AND {which}",
        crate::pg::citus::catalog_table()
    ))
    .unwrap();
    // Without an active snapshot (none is set outside statements) read-only SPI would run
    // with no snapshot at all; take a fresh one then, as any query would.
    // SAFETY: reads the backend's snapshot stack.
    let read_only = unsafe { pg_sys::ActiveSnapshotSet() };
    // SAFETY: opens an SPI connection, closed by SPI_finish below on every path that returns;
    // an ERROR in between is cleaned up by PostgreSQL's transaction abort (AtEOXact_SPI).
    if unsafe { pg_sys::SPI_connect() } != pg_sys::SPI_OK_CONNECT as i32 {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "pg_purchase could not connect to SPI to read its model catalog",
            None,
        );
    }
    let mut argtypes = [pg_sys::TEXTOID, pg_sys::INT4OID];
    let mut values = [
        name.into_datum().unwrap(),
        pg_sys::Datum::from(version.unwrap_or(0)),
    ];
    let nulls = [b' ' as std::ffi::c_char; 2];
    let nargs = if version.is_some() { 2 } else { 1 };
    // SAFETY: a NUL-terminated query and `nargs` (1 or 2) arguments: the three arrays each hold
    // two elements (a text datum palloc'd by into_datum and an int4, their types, "not null")
    // and outlive the call; the query refers to $2 only when nargs is 2.
    let status = unsafe {
        pg_sys::SPI_execute_with_args(
            query.as_ptr(),
            nargs,
            argtypes.as_mut_ptr(),
            values.as_mut_ptr(),
            nulls.as_ptr(),
            read_only,
            1,
        )
    };
    if status != pg_sys::SPI_OK_SELECT as i32 {
        // SAFETY: closes the connection opened above.
        unsafe { pg_sys::SPI_finish() };
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("pg_purchase catalog query failed (SPI status {status})"),
            Some(
                "Is the extension installed completely? Try ALTER EXTENSION pg_purchase UPDATE."
                    .into(),
            ),
        );
    }
    // SAFETY: after SPI_OK_SELECT, SPI_tuptable (checked for NULL) holds SPI_processed rows of
    // the query's three columns: int4, text, text. Row 0 exists when SPI_processed > 0; the
    // values are copied into Rust (i32, String) before SPI_finish frees the tuple table.
    let found = unsafe {
        if pg_sys::SPI_processed == 0 || pg_sys::SPI_tuptable.is_null() {
            None
        } else {
            let table = &*pg_sys::SPI_tuptable;
            let tuple = *table.vals;
            let column = |n: i32| {
                let mut isnull = false;
                let d = pg_sys::SPI_getbinval(tuple, table.tupdesc, n, &mut isnull);
                (d, isnull)
            };
            let (version, version_null) = column(1);
            let (sha, sha_null) = column(2);
            let (artifact, artifact_null) = column(3);
            Some(StoredVersion {
                version: i32::from_datum(version, version_null).unwrap_or_default(),
                sha256: String::from_datum(sha, sha_null).unwrap_or_default(),
                artifact: String::from_datum(artifact, artifact_null).unwrap_or_default(),
            })
        }
    };
    // SAFETY: closes the connection opened above; nothing borrowed from SPI memory is kept.
    unsafe { pg_sys::SPI_finish() };
    found
}

/// Version `version` of `name` as stored (checks left out), whether active or not.
pub fn stored_version(name: &str, version: i32) -> Option<StoredVersion> {
    as_catalog_owner(|| stored_version_read(name, version))
}

fn stored_version_read(name: &str, version: i32) -> Option<StoredVersion> {
    let table = crate::pg::citus::catalog_table();
    Spi::connect(|client| {
        let rows = client
            .select(
                &format!(
                    "SELECT version, sha256,
                            (artifact OPERATOR(pg_catalog.-) 'checks'::pg_catalog.text)::pg_catalog.text
                       FROM {table}
                      WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2"
                ),
                Some(1),
                &[name.into(), version.into()],
            )
            .or_raise();
        rows.into_iter().next().map(|row| StoredVersion {
            version: row.get(1).or_raise().unwrap_or_default(),
            sha256: row.get(2).or_raise().unwrap_or_default(),
            artifact: row.get(3).or_raise().unwrap_or_default(),
        })
    })
}

/// The whole stored document of version `version` of `name`, reference checks included (for a
/// new version derived from it).
pub fn full_artifact(name: &str, version: i32) -> Option<String> {
    let table = crate::pg::citus::catalog_table();
    as_catalog_owner(|| {
        Spi::connect(|client| {
            let rows = client
                .select(
                    &format!(
                        "SELECT artifact::pg_catalog.text FROM {table}
                      WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2"
                    ),
                    Some(1),
                    &[name.into(), version.into()],
                )
                .or_raise();
            rows.into_iter()
                .next()
                .and_then(|row| row.get(1).or_raise())
        })
    })
}

/// The names that have an active version, for "unknown model" errors.
pub fn active_names() -> Vec<String> {
    let table = crate::pg::citus::catalog_table();
    as_catalog_owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    &format!("SELECT name FROM {table} WHERE active ORDER BY name"),
                    None,
                    &[],
                )
                .or_raise()
                .filter_map(|row| row.get::<String>(1).or_raise())
                .collect()
        })
    })
}

/// Runs a catalog read as the catalog's owner, the way a SECURITY DEFINER function would: the
/// scoring and insight functions are gated by EXECUTE on them (checked before they run), and the
/// catalog, whose artifacts hold the reference rows, is readable by purchase_admin only. Only the
/// catalog query runs so (never the caller's source table); every such query qualifies its
/// operators, and the restricted-operation flag forbids SET ROLE and temporary objects meanwhile.
/// The caller's identity is restored on return and on error.
pub fn as_catalog_owner<R>(read: impl FnOnce() -> R) -> R {
    let Some(owner) = catalog_owner() else {
        return read(); // no catalog: the read reports that in its own words
    };
    let mut user = pg_sys::InvalidOid;
    let mut context = 0;
    // SAFETY: reads two backend globals into the locals.
    unsafe { pg_sys::GetUserIdAndSecContext(&mut user, &mut context) };
    if user == owner {
        return read();
    }
    let restricted =
        (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32;
    // SAFETY: switches the current user id as SECURITY DEFINER does; restored by `finally` on
    // every path, and by transaction abort if an error escapes further.
    unsafe { pg_sys::SetUserIdAndSecContext(owner, context | restricted) };
    PgTryBuilder::new(std::panic::AssertUnwindSafe(read))
        .finally(|| {
            // SAFETY: restores the identity read above.
            unsafe { pg_sys::SetUserIdAndSecContext(user, context) }
        })
        .execute()
}

/// The owner of the catalog table (the role that created the extension).
fn catalog_owner() -> Option<pg_sys::Oid> {
    let relid = catalog_relid()?;
    // SAFETY: opens an existing relation (looked up just above) with the lock any read of it
    // takes; rd_rel is valid while it is open; closed without releasing the lock, as a query
    // would hold it to the end of the transaction.
    unsafe {
        let rel = pg_sys::relation_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let owner = (*(*rel).rd_rel).relowner;
        pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        Some(owner)
    }
}

/// Inserts a new version of `name` (already validated; `artifact` is its JSON text, stored as
/// jsonb without a detour through a Rust JSON tree) and returns its number.
///
/// Under REPEATABLE READ or SERIALIZABLE, a load that waited for a concurrent load of the same
/// name cannot see the version that load committed (its snapshot is older), so it would
/// collide on the version number or the one-active index: that is a serialization failure,
/// raised as 40001 so the caller retries the transaction, not a 23505 duplicate key.
pub fn insert_version(name: &str, artifact: &str, sha256: &str, activate: bool) -> Stored {
    PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
        insert_version_once(name, artifact, sha256, activate)
    }))
    .catch_when(PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION, |caught| {
        // SAFETY: reads the backend's isolation level, a plain global int.
        if unsafe { pg_sys::XactIsoLevel } < pg_sys::XACT_REPEATABLE_READ as i32 {
            caught.rethrow()
        }
        raise(
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            format!("could not serialize access to purchase model \"{name}\" due to a concurrent load"),
            Some("Another transaction loaded a version of this model since this transaction's snapshot was taken; retry the transaction.".into()),
        )
    })
    .execute()
}

/// What a load did: the version it returns, whether that version was already stored (the same
/// artifact loaded again: nothing inserted), whether an existing version was made active by it,
/// and whether the catalog changed at all.
pub struct Stored {
    pub version: i32,
    pub existing: bool,
    pub activated: bool,
    pub changed: bool,
}

/// One insert attempt; a per-name transaction advisory lock serialises concurrent loads of one name.
fn insert_version_once(name: &str, artifact: &str, sha256: &str, activate: bool) -> Stored {
    let loaded_by = invoking_role();
    Spi::connect_mut(|client| {
        lock_name(client, name);
        // The same artifact loaded again under the same name: its newest version, not a copy.
        let same = client
            .select(
                "SELECT version, active FROM purchase.model_versions
                  WHERE name = $1 AND sha256 = $2 ORDER BY version DESC LIMIT 1",
                None,
                &[name.into(), sha256.into()],
            )
            .or_raise()
            .next()
            .map(|row| {
                (
                    row.get::<i32>(1).or_raise().unwrap_or_default(),
                    row.get::<bool>(2).or_raise().unwrap_or_default(),
                )
            });
        if let Some((version, active)) = same {
            let activated = activate && !active;
            if activated {
                set_active(client, name, version);
            }
            return Stored {
                version,
                existing: true,
                activated,
                changed: activated,
            };
        }
        if activate {
            client
                .update(
                    "UPDATE purchase.model_versions SET active = false WHERE name = $1 AND active",
                    None,
                    &[name.into()],
                )
                .or_raise();
        }
        let row = client
            .update(
                // The alias: Citus deparses RETURNING of a self-referencing INSERT ... SELECT
                // on a reference table with the table's name, ambiguous without one.
                "INSERT INTO purchase.model_versions AS m (name, version, artifact, sha256, active, loaded_by)
                 SELECT $1, coalesce(max(version), 0) + 1, $2::jsonb, $3, $4, $5
                   FROM purchase.model_versions WHERE name = $1
                 RETURNING version",
                None,
                &[name.into(), artifact.into(), sha256.into(), activate.into(), loaded_by.into()],
            )
            .or_raise();
        let version = row
            .into_iter()
            .next()
            .and_then(|r| r.get::<i32>(1).or_raise())
            .unwrap_or_else(|| {
                raise(
                    PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "inserting the model version returned no row",
                    Some("A rule or trigger on purchase.model_versions suppressed the insert; remove it.".into()),
                )
            });
        Stored {
            version,
            existing: false,
            activated: activate,
            changed: true,
        }
    })
}

/// The active version of `name` and the raw columns its inputs name, if it has one.
pub fn active_input_columns(name: &str) -> Option<(i32, Vec<String>)> {
    Spi::connect(|client| {
        let rows = client
            .select(
                "SELECT version, ARRAY(SELECT i->>'column' FROM jsonb_array_elements(artifact->'inputs') i)
                   FROM purchase.model_versions WHERE name = $1 AND active",
                Some(1),
                &[name.into()],
            )
            .or_raise();
        rows.into_iter().next().map(|row| {
            (
                row.get::<i32>(1).or_raise().unwrap_or_default(),
                row.get::<Vec<String>>(2).or_raise().unwrap_or_default(),
            )
        })
    })
}

/// The catalog table's OID, if the extension's schema exists in this database.
pub fn catalog_relid() -> Option<pg_sys::Oid> {
    let schema = std::ffi::CString::new(SCHEMA).unwrap();
    let table = std::ffi::CString::new(TABLE).unwrap();
    // SAFETY: syscache lookups by NUL-terminated names that outlive the calls; a missing schema
    // (missing_ok = true) or table is InvalidOid, not an ERROR.
    unsafe {
        let nsp = pg_sys::get_namespace_oid(schema.as_ptr(), true);
        if nsp == pg_sys::InvalidOid {
            return None;
        }
        let rel = pg_sys::get_relname_relid(table.as_ptr(), nsp);
        (rel != pg_sys::InvalidOid).then_some(rel)
    }
}

/// Queues a relcache invalidation of the catalog: at commit every backend drops its cached
/// models and every cached plan that was simplified for them; at rollback nothing happens.
pub fn announce_change() {
    if let Some(rel) = catalog_relid() {
        // SAFETY: queues an invalidation of an existing relation (looked up just above); an
        // OID that vanished meanwhile is a PostgreSQL ERROR, not UB.
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel) };
    }
}

/// Serialises changes to one model name (loads, activations, drops) until the transaction ends.
fn lock_name(client: &mut pgrx::spi::SpiClient<'_>, name: &str) {
    // Citus hook: on a coordinator the catalog is (made) a reference table, so the write that
    // follows reaches every node in this distributed transaction.
    crate::pg::citus::prepare_catalog_write(client);
    client
        .update(
            "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pg_purchase.model:' || $1))",
            None,
            &[name.into()],
        )
        .or_raise();
}

/// Makes `version` of `name` the active one; false when that version does not exist.
pub fn activate_version(name: &str, version: i32) -> bool {
    Spi::connect_mut(|client| {
        lock_name(client, name);
        let exists = client
            .select(
                "SELECT 1 FROM purchase.model_versions WHERE name = $1 AND version = $2",
                None,
                &[name.into(), version.into()],
            )
            .or_raise()
            .is_empty()
            .not();
        if exists {
            set_active(client, name, version);
        }
        exists
    })
}

/// Makes an existing `version` of `name` the active one (the caller holds the name's lock).
fn set_active(client: &mut pgrx::spi::SpiClient<'_>, name: &str, version: i32) {
    // Two statements: the one-active-per-name index is checked row by row.
    client
        .update(
            "UPDATE purchase.model_versions SET active = false WHERE name = $1 AND active AND version <> $2",
            None,
            &[name.into(), version.into()],
        )
        .or_raise();
    client
        .update(
            "UPDATE purchase.model_versions SET active = true WHERE name = $1 AND version = $2 AND NOT active",
            None,
            &[name.into(), version.into()],
        )
        .or_raise();
}

/// The versions of `name`, oldest first.
pub fn versions(name: &str) -> Vec<i32> {
    Spi::connect(|client| {
        client
            .select(
                "SELECT version FROM purchase.model_versions WHERE name OPERATOR(pg_catalog.=) $1 ORDER BY version",
                None,
                &[name.into()],
            )
            .or_raise()
            .filter_map(|row| row.get::<i32>(1).or_raise())
            .collect()
    })
}

/// Deletes every version of `name`; returns how many there were.
pub fn delete_model(name: &str) -> i64 {
    Spi::connect_mut(|client| {
        lock_name(client, name);
        client
            .update(
                "DELETE FROM purchase.model_versions WHERE name = $1",
                None,
                &[name.into()],
            )
            .or_raise()
            .len() as i64
    })
}

/// The hint of a refusal to score or explain: the role that grants the function called.
pub fn scorer_hint(function: &str) -> String {
    format!(
        "EXECUTE on {function} is granted to purchase_scorer: GRANT purchase_scorer TO {};",
        crate::pg::insights::quote_ident(&current_role())
    )
}

/// The role whose privileges apply now (inside a SECURITY DEFINER function, its owner).
pub fn current_role() -> String {
    // SAFETY: as invoking_role, for GetUserId.
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false);
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
}

/// The role that called us: the session's current role, even inside SECURITY DEFINER functions.
pub fn invoking_role() -> String {
    // SAFETY: GetOuterUserId reads a backend global; GetUserNameFromId with noerr = false
    // returns a palloc'd NUL-terminated name (never NULL: a missing role is an ERROR), copied
    // into a String at once.
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetOuterUserId(), false);
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
}

/// Whether the invoking role may read server files (superuser or pg_read_server_files).
pub fn invoker_may_read_server_files() -> bool {
    // SAFETY: catalog lookups by role OID; no pointers involved.
    unsafe {
        let role = pg_sys::GetOuterUserId();
        pg_sys::superuser_arg(role)
            || pg_sys::has_privs_of_role(role, pg_sys::Oid::from(pg_sys::ROLE_PG_READ_SERVER_FILES))
    }
}
