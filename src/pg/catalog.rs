//! The model catalog, `purchase.model_versions`: one immutable row per loaded version, at most
//! one active version per name. Reads run through SPI with the caller's snapshot, so a statement
//! sees exactly the versions committed before it started.

use super::errors::{raise, OrRaise};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};

pub const SCHEMA: &str = "purchase";
pub const TABLE: &str = "model_versions";

/// The active version of `name`: (version, artifact text).
pub fn active_version(name: &str) -> Option<(i32, String)> {
    Spi::connect(|client| {
        let rows = client
            .select(
                "SELECT version, artifact::text FROM purchase.model_versions WHERE name = $1 AND active",
                Some(1),
                &[name.into()],
            )
            .or_raise();
        rows.into_iter().next().map(|row| {
            let version: i32 = row.get(1).or_raise().unwrap_or_default();
            let text: String = row.get(2).or_raise().unwrap_or_default();
            (version, text)
        })
    })
}

/// The names that have an active version, for "unknown model" errors.
pub fn active_names() -> Vec<String> {
    Spi::connect(|client| {
        client
            .select(
                "SELECT name FROM purchase.model_versions WHERE active ORDER BY name",
                None,
                &[],
            )
            .or_raise()
            .filter_map(|row| row.get::<String>(1).or_raise())
            .collect()
    })
}

/// Inserts a new version of `name` (already validated) and returns its number.
/// A per-name transaction advisory lock serialises concurrent loads of one name.
pub fn insert_version(name: &str, artifact: JsonB, sha256: &str, activate: bool) -> i32 {
    Spi::connect_mut(|client| {
        client
            .update(
                "SELECT pg_advisory_xact_lock(hashtext('pg_purchase.model:' || $1))",
                None,
                &[name.into()],
            )
            .or_raise();
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
                "INSERT INTO purchase.model_versions (name, version, artifact, sha256, active)
                 SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4
                   FROM purchase.model_versions WHERE name = $1
                 RETURNING version",
                None,
                &[name.into(), artifact.into(), sha256.into(), activate.into()],
            )
            .or_raise();
        row.into_iter()
            .next()
            .and_then(|r| r.get::<i32>(1).or_raise())
            .unwrap_or_else(|| {
                raise(
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    "inserting the model version returned no row",
                    None,
                )
            })
    })
}

/// The catalog table's OID, if the extension's schema exists in this database.
pub fn catalog_relid() -> Option<pg_sys::Oid> {
    unsafe {
        let schema = std::ffi::CString::new(SCHEMA).unwrap();
        let table = std::ffi::CString::new(TABLE).unwrap();
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
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel) };
    }
}
