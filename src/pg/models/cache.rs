//! Each backend caches its compiled models by name. A relcache invalidation of the catalog
//! (queued by every load/activate/drop, delivered by PostgreSQL at commit, never at rollback)
//! empties the cache, so each session's next statement reads the new active version.
//!
//! One subtlety: an invalidation can be processed after the snapshot that reads the catalog was
//! taken (at a lock inside a READ COMMITTED statement, or any time in a REPEATABLE READ or
//! SERIALIZABLE transaction or a cursor, whose snapshot is older still). A model read under that
//! snapshot may be the superseded version, and no further invalidation would ever evict it. So
//! an entry read in a transaction that has processed an invalidation is provisional: it serves
//! only the statement that read it, and the next statement reads the catalog again (compiling
//! only when the version actually differs). From the next transaction on, entries are final.

use crate::pg::errors::{raise, OrRaise};
use crate::pg::models::catalog;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use purchase_model::artifact::Artifact;
use purchase_model::model::CompiledModel;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// A compiled model with the catalog identity it was read from.
pub struct LoadedModel {
    pub name: String,
    pub version: i32,
    pub model: CompiledModel,
}

/// Identifies the current top-level statement: (local transaction id, statement start).
pub type StatementId = (u32, i64);

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
    /// Bumped by every relcache invalidation this backend processes (any relation): a cheap
    /// per-row test of whether any row type may have changed since a layout was built.
    static RELCACHE_GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// The number of relcache invalidations processed so far (see `RELCACHE_GENERATION`).
#[inline]
pub fn relcache_generation() -> u64 {
    RELCACHE_GENERATION.with(Cell::get)
}

unsafe extern "C" {
    /// xact.c's statement start time: it only returns a backend global (it cannot raise an
    /// ERROR), so it is bound directly rather than through pgrx's guarded wrapper, whose
    /// sigsetjmp would cost more than the rest of a call site's per-row check.
    #[link_name = "GetCurrentStatementStartTimestamp"]
    fn statement_start_timestamp() -> pg_sys::TimestampTz;
}

/// The current top-level statement. Call sites compare it on every row, so it reads two
/// backend globals and nothing else.
#[inline]
pub fn statement_id() -> StatementId {
    // SAFETY: MyProc is this backend's PGPROC (checked for NULL before the read) and lxid is
    // written only by this backend; the timestamp function reads a backend global and cannot
    // fail.
    unsafe {
        let lxid = if pg_sys::MyProc.is_null() {
            0
        } else {
            (*pg_sys::MyProc).lxid
        };
        (lxid, statement_start_timestamp())
    }
}

/// PostgreSQL's relcache invalidation callback (registered once per backend). Not `unsafe`:
/// it reads neither argument as a pointer.
#[pg_guard]
extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    RELCACHE_GENERATION.with(|g| g.set(g.get().wrapping_add(1)));
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
        // SAFETY: registers a callback with the signature PostgreSQL expects, which lives for
        // the process (a function of this library, never unloaded); once per backend, so the
        // fixed-size callback table cannot overflow because of us.
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
    // SAFETY: processes queued invalidations, which may run on_relcache_invalidation; that
    // callback borrows CACHE mutably, and no borrow of CACHE is held across this call.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let now = statement_id();
    let (cached, usable) = CACHE.with(|c| {
        let cache = c.borrow();
        match cache.entries.get(name) {
            Some(e) => {
                let usable = e.provisional_for.is_none_or(|stmt| stmt == now);
                (Some(e.model.clone()), usable)
            }
            None => (None, false),
        }
    });
    if usable {
        return cached;
    }
    let stored = catalog::active_version(name)?;
    let version = stored.version;
    let loaded = match cached {
        // A provisional entry re-read unchanged: keep the compiled model.
        Some(m) if m.version == version && m.model.sha256 == stored.sha256 => m,
        _ => compile_stored(name, stored),
    };
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        let same_transaction = cache.last_invalidation.map(|(lxid, _)| lxid) == Some(now.0);
        cache.entries.insert(
            name.to_string(),
            Entry {
                model: loaded.clone(),
                provisional_for: same_transaction.then_some(now),
            },
        );
    });
    Some(loaded)
}

/// Compiles a stored version (validated, self-checked and hashed when it was loaded).
pub fn compile_stored(name: &str, stored: catalog::StoredVersion) -> Rc<LoadedModel> {
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
    Rc::new(LoadedModel {
        name: name.to_string(),
        version,
        model,
    })
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
