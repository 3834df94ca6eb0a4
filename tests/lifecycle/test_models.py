"""Model lifecycle in one cluster: versions, rollback, export round trip, drop, privileges,
cache coherence across sessions, one version per statement. Each test uses a database of its own.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed (scripts/test.sh)."""

import hashlib
import json
import threading
import time

import psycopg
import rfc8785
from common import bundled, connect, load, make_customers, scores, sqlstate_of, variant

# The sha256 field of artifacts/purchase_model.json.
BUNDLED_SHA256 = "093efa86fadb9c789faa5dd06b7979297aa4772b5d5d634c12e51fe64322c6a5"


def test_versions_and_rollback(customers_db, check):
    conn = connect(customers_db)
    v1 = load(conn, bundled())
    s1 = scores(conn)
    v2 = load(conn, variant(1.1))
    s2 = scores(conn)
    check("a load is a new active version", (v1, v2) == (1, 2) and s1 != s2)
    conn.execute("SELECT activate_purchase_model('default', 1)")
    check("activate_purchase_model rolls back in one call", scores(conn) == s1)
    rows = conn.execute("SELECT version, active, sha256, loaded_by FROM purchase_models() ORDER BY 2").fetchall()
    # The bundled artifact (format 1) is stored under the hash it carries (the first release's
    # rule); a variant, which has no sha256 field, under the RFC 8785 hash of its content, computed
    # here with the rfc8785 package and hashlib, not with pg_purchase's exporter.
    variant_sha = hashlib.sha256(rfc8785.dumps(variant(1.1))).hexdigest()
    check(
        "purchase_models lists every version and the active one",
        [r[:3] for r in rows] == [(2, False, variant_sha), (1, True, BUNDLED_SHA256)]
        and all(r[3] == "postgres" for r in rows),
    )
    v3 = load(conn, variant(0.9), activate=False)
    check("load without activate keeps the version in force", v3 == 3 and scores(conn) == s1)
    exported = conn.execute("SELECT export_purchase_model('default', 2)").fetchone()[0]
    load(conn, exported, name="copy")
    check("export then load scores identically", scores(conn, "copy") == s2)
    active_export = conn.execute("SELECT export_purchase_model()").fetchone()[0]
    check("export without a version gives the active one", active_export["sha256"] == bundled()["sha256"])
    check(
        "export of a missing version is 42704",
        sqlstate_of(conn, "SELECT export_purchase_model('default', 99)") == "42704",
    )
    check(
        "activating a missing version is 42704, nothing changes",
        sqlstate_of(conn, "SELECT activate_purchase_model('default', 99)") == "42704" and scores(conn) == s1,
    )
    conn.execute("SELECT drop_purchase_model('copy')")
    check(
        "a dropped model is gone", sqlstate_of(conn, "SELECT predict_purchase(c, 'copy') FROM customers c") == "42704"
    )
    conn.close()


def test_cache_coherence(customers_db, check):
    DB = customers_db
    with connect(DB) as conn:
        # Versions 1 (bundled, active), 2 and 3 (inactive), as versions_and_rollback leaves them.
        load(conn, bundled())
        load(conn, variant(1.1))
        s2 = scores(conn)
        load(conn, variant(0.9), activate=False)
        conn.execute("SELECT activate_purchase_model('default', 1)")
        s1 = scores(conn)
    check("the set-up: versions 1 and 2 score differently", s1 != s2)
    with connect(DB) as a, connect(DB) as b:
        check("session B scores with version 1", scores(b) == s1)
        a.execute("BEGIN")
        a.execute("SELECT activate_purchase_model('default', 2)")
        check("an uncommitted activation is invisible to B", scores(b) == s1)
        a.execute("ROLLBACK")
        check("a rolled-back activation changes nothing", scores(b) == s1 and scores(a) == s1)
        a.execute("SELECT activate_purchase_model('default', 2)")
        check("after commit B's next statement uses the new version", scores(b) == s2)
        # Inside one transaction in READ COMMITTED, each statement sees the latest commit.
        b.execute("BEGIN")
        first = scores(b)
        a.execute("SELECT activate_purchase_model('default', 1)")
        second = scores(b)
        b.execute("COMMIT")
        check("in a transaction, the next statement sees a committed activation", first == s2 and second == s1)
        # A rolled-back load leaves no version behind.
        a.execute("BEGIN")
        load(a, variant(1.3))
        a.execute("ROLLBACK")
        n = b.execute("SELECT count(*) FROM purchase_models()").fetchone()[0]
        check("a rolled-back load leaves the catalog as it was", n == 3 and scores(b) == s1)


def test_one_version_per_statement(customers_db, check):
    """A slow statement keeps the version it started with while activations commit."""
    DB = customers_db
    with connect(DB) as conn:
        load(conn, bundled())
        load(conn, variant(1.1))
    result = {}

    def slow_scan():
        with connect(DB) as b:
            result["versions"] = b.execute(
                "SELECT array_agg(DISTINCT (score_purchase(c)).version) "
                "FROM (SELECT c.*, pg_sleep(0.004) FROM customers c) c"
            ).fetchone()[0]

    worker = threading.Thread(target=slow_scan)
    worker.start()
    with connect(DB) as a:
        for version in (2, 1, 2, 1):
            time.sleep(0.5)
            a.execute("SELECT activate_purchase_model('default', %s)", (version,))
    worker.join()
    check(
        "one statement never mixes versions while activations commit",
        len(result["versions"]) == 1,
        f"versions seen {result['versions']}",
    )


def test_privileges(customers_db, check, server_artifact_path):
    DB, ARTIFACT_PATH = customers_db, server_artifact_path
    with connect(DB) as su:
        load(su, bundled())
        for role in ("plain_user", "model_admin"):
            su.execute(f"DROP ROLE IF EXISTS {role}")
            su.execute(f"CREATE ROLE {role} LOGIN")
        su.execute("GRANT purchase_admin TO model_admin")
        su.execute("GRANT SELECT ON customers TO plain_user, model_admin")
        # The extension's member functions (pg_depend, deptype 'e'), whatever their names.
        definers = su.execute(
            """SELECT p.oid::regprocedure::text, p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']
                 FROM pg_proc p
                 JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_purchase')
                  AND p.prosecdef
                ORDER BY 1"""
        ).fetchall()
    unpinned = [name for name, pinned in definers if not pinned]
    check("every SECURITY DEFINER function of the extension pins search_path", definers and not unpinned, unpinned)
    # The 4 model changes (set_purchase_threshold and calibrate_purchase_model store through
    # load_purchase_model with the caller's rights), sync_purchase_models, the
    # refresh run log's 3 writers and the reader of the superuser-only cron.database_name, and the
    # 3 readers of the admin-only catalog (issue 22): the model list, explain_purchase and the
    # input kinds purchase_input_errors needs; a new one must be added here on purpose.
    check(
        "the extension's SECURITY DEFINER functions are exactly the known twelve",
        sorted(name.split("(")[0] for name, _ in definers)
        == sorted(
            [
                "activate_purchase_model", "drop_purchase_model", "load_purchase_model", "load_purchase_model_file",
                "sync_purchase_models", "purchase.refresh_run_started", "purchase.refresh_run_finished",
                "purchase.refresh_bad_row_add", "purchase.cron_database_name",
                "purchase_models", "explain_purchase", "purchase.model_inputs",
            ]
        ),
        [name for name, _ in definers],
    )  # fmt: skip
    doc = json.dumps(variant(1.05))
    with connect(DB, user="plain_user") as plain:
        check("a plain user can score", len(scores(plain)) == 1000)
        denied = {
            "load": sqlstate_of(plain, "SELECT load_purchase_model(%s::jsonb)", (doc,)),
            "activate": sqlstate_of(plain, "SELECT activate_purchase_model('default', 1)"),
            "drop": sqlstate_of(plain, "SELECT drop_purchase_model('default')"),
            "load file": sqlstate_of(plain, "SELECT load_purchase_model_file(%s)", (ARTIFACT_PATH,)),
            "set threshold": sqlstate_of(plain, "SELECT set_purchase_threshold('default', 0.5)"),
            "insert": sqlstate_of(
                plain,
                "INSERT INTO purchase.model_versions (name, version, artifact, sha256) "
                "VALUES ('x', 1, '{}', repeat('0', 64))",
            ),
            "update": sqlstate_of(plain, "UPDATE purchase.model_versions SET active = false"),
            "delete": sqlstate_of(plain, "DELETE FROM purchase.model_versions"),
            "pg_read_file": sqlstate_of(plain, "SELECT pg_read_file(%s)", (ARTIFACT_PATH,)),
        }
        check(
            "a plain user cannot load, activate, drop, read server files or write the catalog",
            all(v == "42501" for v in denied.values()),
            str(denied),
        )
    with connect(DB, user="model_admin") as admin:
        version = load(admin, variant(1.05), name="campaign")
        who = admin.execute("SELECT loaded_by FROM purchase_models() WHERE name = 'campaign'").fetchone()[0]
        check("purchase_admin can load; loaded_by records the caller", version == 1 and who == "model_admin", who)
        check(
            "purchase_admin without pg_read_server_files cannot load a server file",
            sqlstate_of(admin, "SELECT load_purchase_model_file(%s, 'campaign')", (ARTIFACT_PATH,)) == "42501",
        )
    with connect(DB) as su:
        su.execute("GRANT pg_read_server_files TO model_admin")
    with connect(DB, user="model_admin") as admin:
        version = admin.execute("SELECT load_purchase_model_file(%s, 'campaign')", (ARTIFACT_PATH,)).fetchone()[0]
        admin.execute("SELECT activate_purchase_model('campaign', 1)")
        removed = admin.execute("SELECT drop_purchase_model('campaign')").fetchone()[0]
        check("with pg_read_server_files it can; it can activate and drop", version == 2 and removed == 2)


def error_of(conn, sql, params=None):
    """(SQLSTATE, message, hint) of the statement's error, or None."""
    try:
        conn.execute(sql, params)
    except psycopg.Error as e:
        return e.sqlstate, e.diag.message_primary, e.diag.message_hint
    return None


def test_scoring_needs_only_execute(customers_db, check):
    """Issue 22 item 4: no role but purchase_admin reads the catalog (its artifacts hold the
    reference rows); EXECUTE alone decides who scores and explains, also after README's REVOKE
    recipe; every refusal names the function called and the role that grants it."""
    DB = customers_db
    with connect(DB) as su:
        load(su, bundled())
        su.execute("ALTER TABLE customers ADD COLUMN bought boolean")
        su.execute("UPDATE customers SET bought = customer_id % 3 = 0")
        for role in ("app", "analyst", "stranger"):
            su.execute(f"DROP ROLE IF EXISTS {role}")
            su.execute(f"CREATE ROLE {role} LOGIN")
        su.execute("GRANT SELECT ON customers TO app, analyst, stranger")
        expected = scores(su)
        # README's recipe, then: app scores through purchase_scorer; analyst has EXECUTE on the
        # insight functions only; stranger has nothing.
        su.execute("""REVOKE EXECUTE ON FUNCTION predict_purchase, purchase_outcome,
                        score_purchase, purchase_features,
                        predict_purchase_json, purchase_models FROM PUBLIC""")
        su.execute("GRANT purchase_scorer TO app")
        su.execute("""REVOKE EXECUTE ON FUNCTION explain_purchase,
                        evaluate_purchase_model, purchase_model_weights
                        FROM PUBLIC""")
        su.execute("""GRANT EXECUTE ON FUNCTION explain_purchase,
                        evaluate_purchase_model, purchase_model_weights
                        TO analyst""")
        # The catalog's grantees (PUBLIC is grantee 0), and who of the scoring roles may read it.
        grantees = su.execute(
            """SELECT array_agg(coalesce(r.rolname, 'PUBLIC') ORDER BY 1)
                 FROM pg_class c CROSS JOIN aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
                WHERE c.oid = 'purchase.model_versions'::regclass AND a.privilege_type = 'SELECT'
                  AND a.grantee <> c.relowner"""
        ).fetchone()[0]
        readers = su.execute(
            """SELECT array_agg(r ORDER BY r) FROM unnest(ARRAY['purchase_scorer', 'app', 'analyst', 'stranger']) r
                WHERE has_table_privilege(r, 'purchase.model_versions', 'SELECT')"""
        ).fetchone()[0]
    check(
        "only purchase_admin may read the catalog",
        grantees == ["purchase_admin"] and readers is None,
        (grantees, readers),
    )
    with connect(DB, user="app") as app:
        check("purchase_scorer scores without SELECT on the catalog", scores(app) == expected)
        listed = app.execute("SELECT count(*) FROM purchase_models()").fetchone()[0]
        check("and lists the models", listed == 1, listed)
        catalog = error_of(app, "SELECT artifact->'checks' FROM purchase.model_versions")
        check("but cannot read the reference rows", catalog and catalog[0] == "42501", catalog)
        export = error_of(app, "SELECT export_purchase_model()")
        check(
            "nor export; the refusal names the function and the role that grants it",
            export and export[0] == "42501" and "export_purchase_model" in export[1]
            and "GRANT purchase_admin TO app" in (export[2] or ""),
            export,
        )  # fmt: skip
        explained = app.execute(
            "SELECT round(sum(contribution)::numeric, 9) FROM customers c, explain_purchase(c) WHERE customer_id = 7"
        ).fetchone()[0]
        check("and explains", explained is not None)
        errors = app.execute("SELECT count(*) FROM purchase_input_errors('customers', 'default')").fetchone()[0]
        check("purchase_input_errors runs without reading the catalog", errors == 0, errors)
    with connect(DB, user="analyst") as analyst:
        rows = analyst.execute(
            "SELECT count(*) FROM customers c, explain_purchase(c) WHERE customer_id = 7"
        ).fetchone()[0]
        check("EXECUTE on explain_purchase alone explains (no purchase_features, no catalog)", rows > 0, rows)
        auc = analyst.execute("SELECT (evaluate_purchase_model('customers', 'bought')->>'auc')::float8").fetchone()[0]
        check("EXECUTE on evaluate_purchase_model alone evaluates", auc is not None and 0 < auc < 1, auc)
        weights = analyst.execute("SELECT count(*) FROM purchase_model_weights()").fetchone()[0]
        check("and on purchase_model_weights alone lists the weights", weights > 0, weights)
        refused = error_of(analyst, "SELECT predict_purchase(c) FROM customers c LIMIT 1")
        check(
            "scoring itself is refused, naming the function called (not the catalog)",
            refused and refused[0] == "42501" and refused[1] == "permission denied for function predict_purchase",
            refused,
        )
        # A direct call of the internal function the planner's rewrite uses: its own check names
        # the original function and the role that grants it.
        refused = error_of(
            analyst,
            "SELECT predict_purchase_columns('default', '{x5,x12,x31,x44,x53,x56,x58,x62,x81,x91}', "
            "x5, x12, x31, x44, x53, x56, x58, x62, x81, x91) FROM customers c LIMIT 1",
        )
        check(
            "the rewrite's function refuses naming predict_purchase and purchase_scorer",
            refused and refused[0] == "42501" and refused[1] == "permission denied for function predict_purchase"
            and "GRANT purchase_scorer TO analyst" in (refused[2] or ""),
            refused,
        )  # fmt: skip
    with connect(DB, user="stranger") as stranger:
        refused = error_of(stranger, "SELECT predict_purchase(c) FROM customers c LIMIT 1")
        check("a role without EXECUTE is refused (42501)", refused and refused[0] == "42501", refused)


def test_own_schema(pg, check):
    """CREATE EXTENSION ... SCHEMA elsewhere: rewrite, refresh and scheduling still resolve."""
    with connect("postgres") as admin:
        admin.execute("DROP DATABASE IF EXISTS pg_purchase_schema WITH (FORCE)")
        admin.execute("CREATE DATABASE pg_purchase_schema")
    with connect("pg_purchase_schema") as conn:
        conn.execute("CREATE SCHEMA scoring")
        conn.execute("CREATE EXTENSION pg_purchase SCHEMA scoring")
        conn.execute("SELECT scoring.load_purchase_model(%s::jsonb)", (json.dumps(bundled()),))
        make_customers(conn, rows=500)
        plan = " ".join(
            r[0] for r in conn.execute("EXPLAIN VERBOSE SELECT scoring.predict_purchase(c) FROM customers c").fetchall()
        )
        conn.execute("CALL scoring.refresh_purchase_targets('customers', 'targets')")
        listed = conn.execute("SELECT count(*) FROM targets").fetchone()[0]
        expected = conn.execute("SELECT count(*) FROM customers c WHERE scoring.purchase_outcome(c) = 1").fetchone()[0]
        check(
            "installed in its own schema, calls are rewritten and refreshes work",
            "scoring.predict_purchase_columns" in plan and listed == expected > 0,
        )
    with connect("postgres") as admin:
        admin.execute("DROP DATABASE pg_purchase_schema WITH (FORCE)")
