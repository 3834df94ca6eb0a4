"""Which version scores, when activations commit while a statement or transaction runs:
one statement sees one version even after its transaction has written (CTAS, INSERT ... SELECT),
and a session never keeps a superseded version after a REPEATABLE READ transaction or a cursor.
Each test activates version 1 first: no test depends on another.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed (scripts/test.sh)."""

import threading
import time

import pytest
from common import bundled, connect, load, make_customers, variant

DB = "pg_purchase_snapshots"


@pytest.fixture(scope="module", autouse=True)
def snapshots_db(fresh_database):
    """50 customers; version 1 (bundled) and version 2 (coefficients x1.3) of 'default'."""
    fresh_database(DB)
    with connect(DB) as conn:
        make_customers(conn, rows=50)
        load(conn, bundled())
        load(conn, variant(1.3))
    return DB


# Three call sites that start at different times in one statement: `a` before a 3 s pause,
# `b` after it. The CTEs are materialized, so `b` scores only after `w` (the pause) has run.
TWO_CALL_SITES = """
    WITH a AS MATERIALIZED (SELECT (score_purchase(c)).version AS v FROM customers c LIMIT 1),
         w AS MATERIALIZED (SELECT pg_sleep(3) FROM a),
         b AS MATERIALIZED (SELECT (score_purchase(c)).version AS v FROM customers c, w LIMIT 1)
    SELECT a.v AS first_site, b.v AS later_site FROM a, b"""


def activate_later(version, delay=1.0):
    def run():
        time.sleep(delay)
        with connect(DB) as other:
            other.execute("SELECT activate_purchase_model('default', %s)", (version,))

    t = threading.Thread(target=run)
    t.start()
    return t


def test_one_version_per_statement_after_a_write(check):
    with connect(DB) as conn:
        conn.execute("SELECT activate_purchase_model('default', 1)")
        for label, setup, statement in [
            ("a statement after a write in its transaction", "CREATE TEMP TABLE scratch (x int)", TWO_CALL_SITES),
            ("CREATE TABLE AS", None, f"CREATE TEMP TABLE seen AS {TWO_CALL_SITES}"),
            ("INSERT ... SELECT", "CREATE TEMP TABLE seen2 (a int, b int)", f"INSERT INTO seen2 {TWO_CALL_SITES}"),
        ]:
            conn.execute("SELECT activate_purchase_model('default', 1)")
            with conn.transaction():
                if setup:
                    conn.execute(setup)
                other = activate_later(2)
                if setup and not statement.startswith("INSERT"):
                    seen = conn.execute(statement).fetchone()
                else:
                    conn.execute(statement)
                other.join()
                if statement.startswith("CREATE TEMP TABLE seen AS"):
                    seen = conn.execute("SELECT * FROM seen").fetchone()
                elif statement.startswith("INSERT"):
                    seen = conn.execute("SELECT * FROM seen2").fetchone()
                else:
                    # The transaction's next statement (READ COMMITTED) sees the activation.
                    nxt = conn.execute(statement.replace("pg_sleep(3)", "pg_sleep(0)")).fetchone()
                    check(f"{label}: the next statement uses the new version", nxt == (2, 2), str(nxt))
            check(f"{label}: one version in one statement", seen == (1, 1), str(seen))
            conn.execute("DROP TABLE IF EXISTS seen, seen2, scratch")


def test_no_superseded_version_after_repeatable_read(check):
    with connect(DB) as a:
        a.execute("SELECT activate_purchase_model('default', 1)")
        a.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        first = a.execute("SELECT (score_purchase(c)).version FROM customers c LIMIT 1").fetchone()[0]
        with connect(DB) as b:
            b.execute("SELECT activate_purchase_model('default', 2)")
        inside = [
            a.execute("SELECT (score_purchase(c)).version FROM customers c LIMIT 1").fetchone()[0] for _ in range(2)
        ]
        a.execute("COMMIT")
        after = a.execute("SELECT (score_purchase(c)).version FROM customers c LIMIT 1").fetchone()[0]
        check(
            "REPEATABLE READ keeps its snapshot's version inside the transaction",
            (first, inside) == (1, [1, 1]),
            str((first, inside)),
        )
        check("after COMMIT the next statement uses the version activated meanwhile", after == 2, str(after))


def test_no_superseded_version_after_a_cursor(check):
    with connect(DB) as a:
        a.execute("SELECT activate_purchase_model('default', 1)")
        a.execute("BEGIN")
        a.execute("DECLARE cur CURSOR FOR SELECT (score_purchase(c)).version FROM customers c")
        with connect(DB) as b:
            b.execute("SELECT activate_purchase_model('default', 2)")
        fetched = {r[0] for r in a.execute("FETCH ALL FROM cur").fetchall()}
        a.execute("COMMIT")
        after = a.execute("SELECT (score_purchase(c)).version FROM customers c LIMIT 1").fetchone()[0]
        check("a cursor scores with its snapshot's version", fetched == {1}, str(fetched))
        check("after the cursor's transaction the new version is used", after == 2, str(after))
