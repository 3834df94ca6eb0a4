"""Nothing lost: pg_dump/pg_restore, ALTER EXTENSION UPDATE from the first release, and a
streaming-replication standby that follows activations made on the primary. Each test makes the
databases it needs.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed and wal_level = replica (scripts/test.sh)."""

import os
import shutil
import socket
import tempfile
import time

from common import PG_BIN, bundled, connect, load, make_customers, run, scores, variant

FIRST_RELEASE = "0.1.0"


def catalog_rows(conn):
    return conn.execute(
        "SELECT name, version, active, sha256, loaded_by, artifact FROM purchase.model_versions ORDER BY 1, 2"
    ).fetchall()


def extension_objects(conn):
    """Every member of the extension with its definition, grants and settings."""
    return conn.execute("""
        SELECT pg_describe_object(d.classid, d.objid, 0),
               CASE WHEN d.classid = 'pg_proc'::regclass THEN
                 (SELECT pg_get_function_identity_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid)
                         || ' ' || p.provolatile::text || p.proparallel::text || p.prosecdef::text || p.proisstrict::text
                         || coalesce(p.proconfig::text, '') || coalesce(p.proacl::text, '')
                         || coalesce(p.prosupport::text, '') || ' cost ' || p.procost::text
                    FROM pg_proc p WHERE p.oid = d.objid) END
          FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
         WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pg_purchase' AND d.deptype = 'e'
         ORDER BY 1""").fetchall()


def test_upgrade(fresh_database, check):
    fresh_database("pg_purchase_upgrade", version=FIRST_RELEASE)
    with connect("pg_purchase_upgrade") as conn:
        make_customers(conn)
        load(conn, variant(1.2))
        load(conn, bundled())
        before_rows, before_scores = catalog_rows(conn), scores(conn)
        conn.execute("ALTER EXTENSION pg_purchase UPDATE")
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_purchase'").fetchone()[0]
        after_rows, after_scores = catalog_rows(conn), scores(conn)
        check(
            f"ALTER EXTENSION UPDATE {FIRST_RELEASE} -> {version} keeps every model",
            version != FIRST_RELEASE and before_rows == after_rows,
        )
        check("scores are identical after the upgrade", before_scores == after_scores)
        conn.execute("SELECT activate_purchase_model('default', 1)")
        check(
            "the new lifecycle functions work on the upgraded catalog",
            scores(conn) != after_scores and conn.execute("SELECT count(*) FROM purchase_models()").fetchone()[0] == 2,
        )
        upgraded = extension_objects(conn)
    fresh_database("pg_purchase_fresh")
    with connect("pg_purchase_fresh") as conn:
        fresh = extension_objects(conn)
    diff = set(upgraded) ^ set(fresh)
    check(
        "an upgraded extension has exactly the objects, grants and settings of a fresh install",
        not diff,
        str(sorted(diff))[:400],
    )


def test_dump_restore(fresh_database, check, request):
    fresh_database("pg_purchase_dump")
    with connect("pg_purchase_dump") as conn:
        make_customers(conn)
        load(conn, bundled())
        load(conn, variant(0.8))
        load(conn, variant(1.1), name="spring")
        conn.execute("SELECT activate_purchase_model('default', 1)")
        rows, default_scores, spring_scores = catalog_rows(conn), scores(conn), scores(conn, "spring")
    dump = os.path.join(tempfile.mkdtemp(), "pg_purchase.dump")
    run([f"{PG_BIN}/pg_dump", "-Fc", "-d", "pg_purchase_dump", "-f", dump])
    with connect("postgres") as admin:
        admin.execute("DROP DATABASE IF EXISTS pg_purchase_restored WITH (FORCE)")
        admin.execute("CREATE DATABASE pg_purchase_restored")

    def drop_restored():
        with connect("postgres") as admin:
            admin.execute("DROP DATABASE IF EXISTS pg_purchase_restored WITH (FORCE)")

    request.addfinalizer(drop_restored)
    run([f"{PG_BIN}/pg_restore", "-d", "pg_purchase_restored", "--exit-on-error", dump])
    with connect("pg_purchase_restored") as conn:
        check("pg_dump/pg_restore keeps every version, its hash, author and active flag", catalog_rows(conn) == rows)
        check(
            "a restored database scores identically",
            scores(conn) == default_scores and scores(conn, "spring") == spring_scores,
        )
    shutil.rmtree(os.path.dirname(dump))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for_replay(primary, standby, timeout=30):
    lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
            return True
        time.sleep(0.1)
    return False


def replayed_activation_between_statements(primary, standby):
    """The versions a PL/pgSQL call site on the standby scores with in two statements of one
    transaction, with version 2's activation replayed in between. The snapshot key once missed it:
    during recovery in-progress xids sit in subxip (xcnt is 0), so with an older transaction holding
    xmin and a younger one already committed (holding xmax), the activation's commit left xmin, xmax
    and xcnt unchanged, and the call site kept version 1."""
    db = "pg_purchase_replica"
    primary.execute("CREATE TABLE IF NOT EXISTS xid_holder (x int)")
    primary.execute(
        """CREATE OR REPLACE FUNCTION version_of_one() RETURNS int LANGUAGE plpgsql AS $$
           DECLARE r customers;
           BEGIN SELECT * INTO r FROM customers WHERE customer_id = 1; RETURN (score_purchase(r)).version; END $$"""
    )
    with connect(db) as holder, connect(db) as activator, connect(db) as younger:
        holder.execute("BEGIN")
        holder.execute("INSERT INTO xid_holder VALUES (0)")
        activator.execute("BEGIN")
        activator.execute("SELECT activate_purchase_model('default', 2)")
        younger.execute("INSERT INTO xid_holder VALUES (1)")
        wait_for_replay(primary, standby)
        standby.execute("BEGIN")
        first = standby.execute("SELECT version_of_one()").fetchone()[0]
        activator.execute("COMMIT")
        wait_for_replay(primary, standby)
        second = standby.execute("SELECT version_of_one()").fetchone()[0]
        standby.execute("COMMIT")
        holder.execute("ROLLBACK")
    primary.execute("SELECT activate_purchase_model('default', 1)")
    return first, second


def test_replica(fresh_database, check):
    fresh_database("pg_purchase_replica")
    with connect("pg_purchase_replica") as conn:
        make_customers(conn)
        load(conn, bundled())
        s_bundled = scores(conn)
    base = tempfile.mkdtemp(prefix="pg_purchase_standby_")
    os.chmod(base, 0o777)
    data, port = os.path.join(base, "data"), free_port()
    host, primary_port = os.environ["PGHOST"], os.environ["PGPORT"]
    run(
        [
            f"{PG_BIN}/pg_basebackup",
            "-h",
            host,
            "-p",
            primary_port,
            "-U",
            "postgres",
            "-D",
            data,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        ],
        as_postgres=True,
    )
    with open(os.path.join(data, "postgresql.conf"), "a") as conf:
        conf.write(
            f"\nport = {port}\nunix_socket_directories = '{base}'\nhot_standby = on\nshared_preload_libraries = ''\n"
        )
    run([f"{PG_BIN}/pg_ctl", "-D", data, "-l", os.path.join(base, "log"), "-w", "start"], as_postgres=True)
    try:
        with connect("pg_purchase_replica") as primary, connect("pg_purchase_replica", host=base, port=port) as standby:
            check("the standby is in recovery", standby.execute("SELECT pg_is_in_recovery()").fetchone()[0])
            check("the standby scores with the model loaded on the primary", scores(standby) == s_bundled)
            load(primary, variant(1.3))
            s_new = scores(primary)
            replayed = wait_for_replay(primary, standby)
            check(
                "the same standby session picks up a new version after replay",
                replayed and scores(standby) == s_new and s_new != s_bundled,
            )
            primary.execute("BEGIN")
            primary.execute("SELECT activate_purchase_model('default', 1)")
            primary.execute("ROLLBACK")
            primary.execute("SELECT activate_purchase_model('default', 1)")
            replayed = wait_for_replay(primary, standby)
            check("and a rollback by activation", replayed and scores(standby) == s_bundled)
            check(
                "a standby call site that outlives its statement sees a replayed activation",
                replayed_activation_between_statements(primary, standby) == (1, 2),
            )
    finally:
        run([f"{PG_BIN}/pg_ctl", "-D", data, "-m", "fast", "stop"], as_postgres=True)
        shutil.rmtree(base, ignore_errors=True)
