//! Running on a Citus cluster. The model catalog becomes a Citus reference table: one copy
//! (placement) on every node, written by Citus in the coordinator's distributed transaction with
//! two-phase commit, so a model change takes effect on all nodes or on none, and a node that
//! cannot be reached makes the change fail. Citus copies reference tables to a node before it
//! places any shard there (`create_distributed_table`, the rebalancer), and
//! `sync_purchase_models()` copies them at once after `citus_add_node`.
//!
//! Scoring on a worker runs inside a shard query, where Citus refuses a distributed query on a
//! reference table; the catalog is then read from the node's own placement, a plain table.
//! Placement writes carry no relcache invalidation, so a statement trigger on each placement
//! queues one for the catalog on that node: every node's model cache and cached plans follow the
//! change at its commit (COMMIT PREPARED), as on a single node.
//!
//! Every query here calls only schema-qualified functions and operators (`OPERATOR(pg_catalog.=)`,
//! no `USING` join, which looks `=` up by name): the scoring path runs it under the caller's
//! search_path, where a look-alike operator could be planted.
//!
//! Without Citus none of this runs: one `get_extension_oid` lookup per catalog read (a cache
//! miss, never per row) and per model change.

use crate::pg::errors::{raise, OrRaise};
use crate::pg::models::catalog;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Whether the citus extension is installed in this database (a syscache lookup).
pub fn citus_installed() -> bool {
    // SAFETY: a NUL-terminated static name; with missing_ok = true a missing extension is
    // InvalidOid, never an ERROR.
    unsafe { pg_sys::get_extension_oid(c"citus".as_ptr(), true) != pg_sys::InvalidOid }
}

/// The relation the scoring path reads the catalog from on this node, schema-qualified and
/// quoted: the catalog itself, or on a Citus node its local reference-table placement.
pub fn catalog_table() -> String {
    let catalog = format!("{}.{}", catalog::SCHEMA, catalog::TABLE);
    if !citus_installed() {
        return catalog;
    }
    match local_placement() {
        Some(placement) => placement,
        // Not distributed (yet), or no copy here: Citus routes the query (outside shard queries).
        None => catalog,
    }
}

/// The catalog's local placement (`purchase.model_versions_<shardid>`) if it is a reference
/// table with a copy on this node.
fn local_placement() -> Option<String> {
    let shard = catalog_shard()?;
    let name = format!("{}_{shard}", catalog::TABLE);
    let schema = std::ffi::CString::new(catalog::SCHEMA).ok()?;
    let rel = std::ffi::CString::new(name.clone()).ok()?;
    // SAFETY: syscache lookups by NUL-terminated names that live until the end of the
    // function; missing_ok = true and get_relname_relid answer InvalidOid for a missing object.
    unsafe {
        let nsp = pg_sys::get_namespace_oid(schema.as_ptr(), true);
        if nsp == pg_sys::InvalidOid
            || pg_sys::get_relname_relid(rel.as_ptr(), nsp) == pg_sys::InvalidOid
        {
            return None;
        }
    }
    Some(format!("{}.{name}", catalog::SCHEMA))
}

/// The shard id of the catalog when Citus knows it as a distributed (reference) table.
fn catalog_shard() -> Option<i64> {
    catalog::catalog_relid()?;
    // Read-only SPI with the caller's snapshot: this runs on the scoring path too.
    Spi::connect(|client| {
        client
            .select(
                "SELECT shardid FROM pg_catalog.pg_dist_shard
                  WHERE logicalrelid OPERATOR(pg_catalog.=) 'purchase.model_versions'::pg_catalog.regclass
                  ORDER BY shardid LIMIT 1",
                None,
                &[],
            )
            .or_raise()
            .next()
            .and_then(|row| row.get::<i64>(1).or_raise())
    })
}

/// What this node is in a Citus cluster, for model changes.
enum Role {
    /// No Citus, or a Citus node without workers: changes stay local.
    Standalone,
    Coordinator {
        distributed: bool,
    },
    Worker,
}

fn role(client: &pgrx::spi::SpiClient<'_>) -> Role {
    if !citus_installed() {
        return Role::Standalone;
    }
    let row = client
        .select(
            "SELECT pg_catalog.citus_is_coordinator(),
                    EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE groupid OPERATOR(pg_catalog.<>) 0 AND noderole OPERATOR(pg_catalog.=) 'primary'),
                    EXISTS (SELECT FROM pg_catalog.pg_dist_partition
                             WHERE logicalrelid OPERATOR(pg_catalog.=) 'purchase.model_versions'::pg_catalog.regclass)",
            None,
            &[],
        )
        .or_raise()
        .first();
    let coordinator = row.get::<bool>(1).or_raise().unwrap_or(true);
    let has_workers = row.get::<bool>(2).or_raise().unwrap_or(false);
    let distributed = row.get::<bool>(3).or_raise().unwrap_or(false);
    match (coordinator, has_workers || distributed) {
        (false, _) => Role::Worker,
        (true, false) => Role::Standalone,
        (true, true) => Role::Coordinator { distributed },
    }
}

/// Called before every write to the catalog (load, train, activate, drop), inside the caller's
/// transaction. On a Citus coordinator it makes the catalog a reference table first (once), so
/// the write that follows goes to every node in the same distributed transaction. On a worker
/// it refuses: a change made there alone would leave the nodes disagreeing.
pub fn prepare_catalog_write(client: &mut pgrx::spi::SpiClient<'_>) {
    match role(client) {
        Role::Standalone | Role::Coordinator { distributed: true } => {}
        Role::Coordinator { distributed: false } => distribute_catalog(client),
        Role::Worker => raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "pg_purchase models are changed on the Citus coordinator, not on a worker",
            Some("Connect to the coordinator and call the function there; it changes every node in one distributed transaction.".into()),
        ),
    }
}

/// Makes the catalog a reference table (copying the versions already loaded to every node) and
/// adds the trigger that keeps each node's caches in step with its placement.
fn distribute_catalog(client: &mut pgrx::spi::SpiClient<'_>) {
    // The trigger first: Citus creates a table's triggers on each placement it makes (also on
    // nodes added later), when enable_unsafe_triggers lets a distributed table have one.
    client
        .update(
            "SELECT pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true)",
            None,
            &[],
        )
        .or_raise();
    client
        .update(
            "CREATE TRIGGER model_versions_changed
               AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON purchase.model_versions
               FOR EACH STATEMENT EXECUTE FUNCTION purchase.model_catalog_changed()",
            None,
            &[],
        )
        .or_raise();
    client
        .update(
            "SELECT pg_catalog.create_reference_table('purchase.model_versions')",
            None,
            &[],
        )
        .or_raise();
}

/// Queues a relcache invalidation of the catalog on this node when its placement changes
/// (each node's model cache listens for that one).
#[pg_trigger(sql = false)]
fn model_catalog_changed<'a>(
    _trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, pgrx::PgTriggerError> {
    crate::pg::errors::guard_entry("model_catalog_changed", catalog::announce_change);
    Ok(None)
}

pgrx::extension_sql!(
    r#"
CREATE FUNCTION purchase.model_catalog_changed() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'model_catalog_changed_wrapper';
COMMENT ON FUNCTION purchase.model_catalog_changed() IS 'On Citus: keeps each node''s model caches in step with its copy of the catalog';
ALTER FUNCTION sync_purchase_models() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sync_purchase_models() IS 'On a Citus coordinator: puts every model on every node (after citus_add_node); returns the number of nodes holding them';
REVOKE EXECUTE ON FUNCTION sync_purchase_models() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sync_purchase_models() TO purchase_admin;
"#,
    name = "citus",
    requires = ["catalog", sync_purchase_models]
);

/// Puts every model on every node: on a Citus coordinator, distributes the catalog if it is not
/// yet, and copies it to nodes that lack it (after `citus_add_node`). Returns the number of
/// nodes that hold the catalog. Without Citus (or without workers) it is 1: this node.
#[pg_extern(volatile, parallel_unsafe)]
fn sync_purchase_models() -> i64 {
    crate::pg::errors::guard_entry("sync_purchase_models", sync_purchase_models_body)
}

fn sync_purchase_models_body() -> i64 {
    Spi::connect_mut(|client| {
        match role(client) {
            Role::Standalone => return 1,
            Role::Worker => raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "sync_purchase_models() runs on the Citus coordinator",
                Some("Connect to the coordinator and call it there.".into()),
            ),
            Role::Coordinator { distributed } => {
                if !distributed {
                    distribute_catalog(client);
                } else {
                    client
                        .update(
                            "SELECT pg_catalog.replicate_reference_tables('block_writes')",
                            None,
                            &[],
                        )
                        .or_raise();
                }
            }
        }
        client
            .select(
                "SELECT count(DISTINCT p.groupid) FROM pg_catalog.pg_dist_placement p
                   JOIN pg_catalog.pg_dist_shard s ON s.shardid OPERATOR(pg_catalog.=) p.shardid
                  WHERE s.logicalrelid OPERATOR(pg_catalog.=) 'purchase.model_versions'::pg_catalog.regclass",
                None,
                &[],
            )
            .or_raise()
            .first()
            .get::<i64>(1)
            .or_raise()
            .unwrap_or(0)
    })
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    const BUNDLED: &str = include_str!("../../artifacts/purchase_model.json");

    /// Without Citus the catalog stays a plain table read as before, and syncing is a no-op.
    #[pg_test]
    fn without_citus_nothing_changes() {
        assert!(!super::citus_installed());
        assert_eq!(super::catalog_table(), "purchase.model_versions");
        Spi::run_with_args("SELECT load_purchase_model($1::jsonb)", &[BUNDLED.into()]).unwrap();
        assert_eq!(
            Spi::get_one::<i64>("SELECT sync_purchase_models()").unwrap(),
            Some(1)
        );
        let triggers = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'purchase.model_versions'::regclass",
        )
        .unwrap();
        assert_eq!(triggers, Some(0));
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM purchase.model_versions WHERE active")
                .unwrap(),
            Some(1)
        );
    }
}
