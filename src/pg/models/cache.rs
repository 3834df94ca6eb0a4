//! Each backend caches its compiled models by name. A relcache invalidation of the catalog
//! (queued by every load/activate/drop, delivered by PostgreSQL at commit, never at rollback)
//! empties the cache, so each session's next statement reads the new active version.
//!
//! One subtlety: an invalidation can be processed after the snapshot that reads the catalog was
//! taken (at a lock inside a READ COMMITTED statement, or any time in a REPEATABLE READ or
//! SERIALIZABLE transaction or a cursor, whose snapshot is older still). A model read under that
//! snapshot may be the superseded version, and no further invalidation would ever evict it. So
//! an entry read in a transaction that has processed an invalidation is provisional: it serves
//! only reads under the same snapshot ([`SnapshotKey`]), and a statement with another snapshot
//! reads the catalog again (compiling only when the version actually differs). From the next
//! transaction on, entries are final.

use crate::pg::errors::{raise, OrRaise};
use crate::pg::models::catalog;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use purchase_model::loaded::compile_stored as compile_stored_doc;
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

/// What the catalog looks like to the current statement: two equal keys mean the same
/// transaction, no command of its own in between, and no other transaction completed in
/// between, so a catalog read under either sees the same versions.
///
/// "No other transaction completed" is `snapXactCompletionCount` (PostgreSQL 14+: the count of
/// completed transactions when the snapshot was built, moved by every commit or abort, also
/// when a standby replays one). The xid fields alone do not say it: during recovery the
/// in-progress xids sit in `subxip` with `xcnt` 0, so a replayed activation can leave xmin,
/// xmax and xcnt all unchanged. A snapshot not built by GetSnapshotData (copied or imported)
/// has a count of 0; the xid fields still tell most changes apart there.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SnapshotKey {
    lxid: u32,
    completed: u64,
    xmin: pg_sys::TransactionId,
    xmax: pg_sys::TransactionId,
    xcnt: u32,
    subxcnt: i32,
    curcid: u32,
}

/// How long a cache entry may serve.
enum Validity {
    /// Until the next invalidation of the catalog.
    Final,
    /// Only reads under this snapshot (see the module comment).
    Provisional(SnapshotKey),
    /// Read with no active snapshot: not reused.
    Once,
}

struct Entry {
    model: Rc<LoadedModel>,
    validity: Validity,
}

#[derive(Default)]
struct Cache {
    /// Keyed by name and pinned version (None: the active version), so a version pin never
    /// shares an entry with the active version or another pin.
    entries: HashMap<(String, Option<i32>), Entry>,
    callback_registered: bool,
    catalog_relid: Option<pg_sys::Oid>,
    /// The local transaction that last processed an invalidation of the catalog.
    last_invalidation: Option<u32>,
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
    // snapmgr.c's accessors of the active snapshot: they only read a backend global (they
    // cannot raise an ERROR), so they are bound directly rather than through pgrx's guarded
    // wrappers, whose sigsetjmp would cost more than the rest of a call site's per-row check.
    #[link_name = "ActiveSnapshotSet"]
    fn active_snapshot_set() -> bool;
    #[link_name = "GetActiveSnapshot"]
    fn active_snapshot() -> pg_sys::Snapshot;
}

/// This backend's local transaction id (0 before it has a PGPROC).
fn local_transaction() -> u32 {
    // SAFETY: MyProc is this backend's PGPROC (checked for NULL before the read) and lxid is
    // written only by this backend.
    unsafe {
        if pg_sys::MyProc.is_null() {
            0
        } else {
            (*pg_sys::MyProc).lxid
        }
    }
}

/// The key of the active snapshot, None without one. Call sites compare it on every row, so it
/// reads backend globals and nothing else.
#[inline]
pub fn snapshot_key() -> Option<SnapshotKey> {
    // SAFETY: both functions only read snapmgr.c's ActiveSnapshot; GetActiveSnapshot is called
    // only when one is set, and its fields are plain values.
    let snapshot = unsafe {
        if !active_snapshot_set() {
            return None;
        }
        &*active_snapshot()
    };
    Some(SnapshotKey {
        lxid: local_transaction(),
        completed: snapshot.snapXactCompletionCount,
        xmin: snapshot.xmin,
        xmax: snapshot.xmax,
        xcnt: snapshot.xcnt,
        subxcnt: snapshot.subxcnt,
        curcid: snapshot.curcid,
    })
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
            cache.last_invalidation = Some(local_transaction());
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
    try_resolve_version(name, None)
}

/// Version `version` of model `name` (the active one when None), or None when there is none.
/// A pinned version is cached under its own key and read with the same snapshot rules as the
/// active one (`set_purchase_threshold` and drops change the catalog, which empties the cache).
pub fn try_resolve_version(name: &str, version: Option<i32>) -> Option<Rc<LoadedModel>> {
    ensure_registered();
    // Once per call site (not per row): take in invalidations already committed, so a
    // statement whose relation locks were all held before still sees the latest activation.
    // SAFETY: processes queued invalidations, which may run on_relcache_invalidation; that
    // callback borrows CACHE mutably, and no borrow of CACHE is held across this call.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let now = snapshot_key();
    let (cached, usable) = CACHE.with(|c| {
        let cache = c.borrow();
        match cache.entries.get(&(name.to_string(), version)) {
            Some(e) => {
                let usable = match e.validity {
                    Validity::Final => true,
                    Validity::Provisional(key) => Some(key) == now,
                    Validity::Once => false,
                };
                (Some(e.model.clone()), usable)
            }
            None => (None, false),
        }
    });
    if usable {
        return cached;
    }
    let stored = catalog::scoring_version(name, version)?;
    let loaded = match cached {
        // A provisional entry re-read unchanged: keep the compiled model.
        Some(m) if m.version == stored.version && m.model.sha256 == stored.sha256 => m,
        _ => compile_stored(name, stored),
    };
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        let validity = if cache.last_invalidation != Some(local_transaction()) {
            Validity::Final
        } else if let Some(key) = now {
            Validity::Provisional(key)
        } else {
            Validity::Once
        };
        cache.entries.insert(
            (name.to_string(), version),
            Entry {
                model: loaded.clone(),
                validity,
            },
        );
    });
    Some(loaded)
}

/// Whether the cached entry of model `name` is final: read in a transaction that had processed
/// no invalidation of the catalog, so no later activation can be hidden from it except by an
/// invalidation still to come (which then reaches every plan built on it). A provisional entry
/// (see the module comment) may be the superseded version, and a plan built on it would keep it.
pub fn is_final(name: &str, version: Option<i32>) -> bool {
    CACHE.with(|c| {
        matches!(
            c.borrow()
                .entries
                .get(&(name.to_string(), version))
                .map(|e| &e.validity),
            Some(Validity::Final)
        )
    })
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
    let model = compile_stored_doc(&doc, &stored.sha256).or_raise();
    Rc::new(LoadedModel {
        name: name.to_string(),
        version,
        model,
    })
}

/// Version `version` of model `name` (the active one when None); an error naming the model and
/// the version, and listing the versions there are, when it does not exist.
pub fn resolve_version(name: &str, version: Option<i32>) -> Rc<LoadedModel> {
    let Some(pinned) = version else {
        return resolve(name);
    };
    try_resolve_version(name, Some(pinned)).unwrap_or_else(|| {
        let versions = catalog::versions(name);
        let listed = if versions.is_empty() {
            format!("no model \"{name}\" is loaded")
        } else {
            let numbers: Vec<String> = versions.iter().map(i32::to_string).collect();
            format!("its versions: {}", numbers.join(", "))
        };
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("purchase model \"{name}\" has no version {pinned} ({listed})"),
            Some("SELECT * FROM purchase_models() lists every version; version => NULL scores with the active one.".into()),
        )
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
