//! Each backend caches its compiled models by name. A relcache invalidation of the catalog
//! (queued by every load/activate/drop, delivered by PostgreSQL at commit, never at rollback)
//! empties the cache, so each session's next statement reads the new active version.
//!
//! One subtlety: an invalidation can be processed after the current statement took its snapshot
//! (at transaction start or at a lock). A model loaded in that statement may then be the old
//! version, and no further invalidation would ever evict it. Such entries are marked provisional
//! and re-read by the next statement.

use super::catalog;
use super::errors::{raise, OrRaise};
use crate::pipeline::artifact::Artifact;
use crate::pipeline::model::CompiledModel;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A compiled model with the catalog identity it was read from.
pub struct LoadedModel {
    pub name: String,
    pub version: i32,
    pub model: CompiledModel,
}

/// Identifies the current top-level statement: (local transaction id, statement start).
type StatementId = (u32, i64);

struct Entry {
    model: Rc<LoadedModel>,
    provisional_for: Option<StatementId>,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Entry>,
    callback_registered: bool,
    catalog_relid: Option<pg_sys::Oid>,
    last_invalidation: Option<StatementId>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

fn statement_id() -> StatementId {
    unsafe {
        let lxid = if pg_sys::MyProc.is_null() {
            0
        } else {
            (*pg_sys::MyProc).lxid
        };
        (lxid, pg_sys::GetCurrentStatementStartTimestamp())
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if relid == pg_sys::InvalidOid || Some(relid) == cache.catalog_relid {
            cache.entries.clear();
            cache.last_invalidation = Some(statement_id());
            // The catalog may have been dropped (DROP EXTENSION): look its OID up again.
            cache.catalog_relid = None;
        }
    });
}

fn ensure_registered() {
    // No RefCell borrow may be held across a PostgreSQL call: a catalog lookup can process
    // invalidations, which re-enter on_relcache_invalidation.
    let (registered, relid) = CACHE.with(|c| {
        let cache = c.borrow();
        (cache.callback_registered, cache.catalog_relid)
    });
    if !registered {
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(
                Some(on_relcache_invalidation),
                pg_sys::Datum::from(0),
            );
        }
        CACHE.with(|c| c.borrow_mut().callback_registered = true);
    }
    if relid.is_none() {
        let found = catalog::catalog_relid();
        CACHE.with(|c| c.borrow_mut().catalog_relid = found);
    }
}

/// The catalog's OID (for plan dependencies), if the extension is installed here.
pub fn catalog_relid() -> Option<pg_sys::Oid> {
    ensure_registered();
    CACHE.with(|c| c.borrow().catalog_relid)
}

/// The active version of model `name`, or None when there is none.
pub fn try_resolve(name: &str) -> Option<Rc<LoadedModel>> {
    ensure_registered();
    // Once per call site (not per row): take in invalidations already committed, so a
    // statement whose relation locks were all held before still sees the latest activation.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let now = statement_id();
    let cached = CACHE.with(|c| {
        let cache = c.borrow();
        cache
            .entries
            .get(name)
            .and_then(|e| match e.provisional_for {
                Some(stmt) if stmt != now => None,
                _ => Some(e.model.clone()),
            })
    });
    if cached.is_some() {
        return cached;
    }
    let stored = catalog::active_version(name)?;
    let version = stored.version;
    let doc: serde_json::Value = serde_json::from_str(&stored.artifact).unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("stored artifact of model \"{name}\" version {version} is not valid JSON: {e}"),
            None,
        )
    });
    // The artifact was fully validated, self-checked and hashed when it was loaded.
    let artifact = Artifact::from_stored_json(&doc, &stored.sha256).or_raise();
    let model = CompiledModel::compile(&artifact).or_raise();
    let loaded = Rc::new(LoadedModel {
        name: name.to_string(),
        version,
        model,
    });
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        let provisional_for = (cache.last_invalidation == Some(now)).then_some(now);
        cache.entries.insert(
            name.to_string(),
            Entry {
                model: loaded.clone(),
                provisional_for,
            },
        );
    });
    Some(loaded)
}

/// The active version of model `name`; an error listing the loaded models when there is none.
pub fn resolve(name: &str) -> Rc<LoadedModel> {
    try_resolve(name).unwrap_or_else(|| {
        let names = catalog::active_names();
        let listed = if names.is_empty() {
            "no model is loaded".to_string()
        } else {
            format!("loaded models: {}", names.join(", "))
        };
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("purchase model \"{name}\" does not exist ({listed})"),
            Some("Load one with SELECT load_purchase_model(pg_read_file('.../purchase_model.json')::jsonb, 'name').".into()),
        )
    })
}
