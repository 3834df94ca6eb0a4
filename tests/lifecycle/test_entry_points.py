"""The insight functions' entry: privilege before any lock, one model resolution per call; and a
cold compile on a scoring backend that can be cancelled (issue 18, items 3, 4 and 8).

Each test needs two sessions at once: one holds a lock (or loads a model), the other calls."""

import json
import math
import random
import threading
import time

import psycopg
import pytest
from common import bundled, connect, load, make_customers, variant

DB = "entry_points"


@pytest.fixture(scope="module")
def db(fresh_database):
    name = fresh_database(DB)
    with connect(name) as conn:
        load(conn, bundled())
        make_customers(conn, rows=400)
        conn.execute("ALTER TABLE customers ADD COLUMN bought int")
        conn.execute("UPDATE customers SET bought = (customer_id * 7919 % 10 < 3)::int")
    return name


def elapsed(f):
    started = time.monotonic()
    try:
        f()
        return None, time.monotonic() - started
    except psycopg.Error as e:
        return e, time.monotonic() - started


def test_no_select_privilege_is_refused_before_any_lock(db):
    """A role without SELECT on a table that another session holds ACCESS EXCLUSIVE gets 42501 at
    once; it used to queue behind the lock (here: 55P03 after lock_timeout)."""
    with connect(db) as admin:
        admin.execute("DROP ROLE IF EXISTS entry_nosel")
        admin.execute("DROP ROLE IF EXISTS entry_columns")
        admin.execute("CREATE ROLE entry_nosel LOGIN IN ROLE purchase_scorer")
        admin.execute("CREATE ROLE entry_columns LOGIN IN ROLE purchase_scorer")
        columns = [r[0] for r in admin.execute("SELECT DISTINCT input_column FROM purchase_model_weights()")]
        columns = [c for c in columns if c]
        admin.execute(f"GRANT SELECT ({', '.join(columns + ['bought'])}) ON customers TO entry_columns")
        try:
            with connect(db) as holder:
                holder.execute("BEGIN")
                holder.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
                with connect(db, user="entry_nosel") as nosel:
                    nosel.execute("SET lock_timeout = '3s'")
                    for sql in (
                        "SELECT evaluate_purchase_model('customers', 'bought')",
                        "SELECT count(*) FROM purchase_drift('customers')",
                    ):
                        e, seconds = elapsed(lambda sql=sql: nosel.execute(sql))
                        assert e is not None and e.sqlstate == "42501", (sql, e)
                        assert e.diag.message_primary == "permission denied for table public.customers"
                        assert "GRANT SELECT" in e.diag.message_hint
                        assert seconds < 1.0, (sql, seconds)
                    # A role with SELECT on the columns read passes the check, then waits for the
                    # lock like any reader.
                    with connect(db, user="entry_columns") as cols:
                        cols.execute("SET lock_timeout = '300ms'")
                        e, _ = elapsed(lambda: cols.execute("SELECT evaluate_purchase_model('customers', 'bought')"))
                        assert e is not None and e.sqlstate == "55P03", e
                holder.execute("ROLLBACK")
            with connect(db, user="entry_columns") as cols:
                answer = cols.execute("SELECT evaluate_purchase_model('customers', 'bought')").fetchone()[0]
                assert answer["rows"] == 400
                drift = cols.execute("SELECT count(*) FROM purchase_drift('customers')").fetchone()[0]
                assert drift == len(columns)
        finally:
            admin.execute("REVOKE ALL ON customers FROM entry_columns")
            admin.execute("DROP ROLE entry_nosel")
            admin.execute("DROP ROLE entry_columns")


def test_evaluate_reports_the_version_that_scored(db):
    """evaluate_purchase_model resolves the model once and scores with it. Before, it resolved the
    active version for its answer and scored through an SPI query, which (in a transaction with an
    XID, after waiting for a lock on the view's table) took the version activated meanwhile."""
    with connect(db) as conn:
        load(conn, bundled(), name="evaluated")
        load(conn, variant(0.5), name="evaluated", activate=False)
        conn.execute("CREATE OR REPLACE VIEW customers_view AS SELECT * FROM customers")
        evaluate = "SELECT evaluate_purchase_model('customers_view', 'bought', 'evaluated')"
        v1 = conn.execute(evaluate).fetchone()[0]
        conn.execute("SELECT activate_purchase_model('evaluated', 2)")
        v2 = conn.execute(evaluate).fetchone()[0]
        conn.execute("SELECT activate_purchase_model('evaluated', 1)")
        assert (v1["version"], v2["version"]) == (1, 2)
        assert v1["log_loss"] != v2["log_loss"]

        with connect(db) as holder, connect(db) as caller:
            holder.execute("BEGIN")
            holder.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
            caller.execute("BEGIN")
            caller.execute("SELECT pg_catalog.txid_current()")
            result = {}
            thread = threading.Thread(target=lambda: result.update(answer=caller.execute(evaluate).fetchone()[0]))
            thread.start()
            # The call has resolved version 1 and waits for the table's lock.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                waiting = holder.execute(
                    "SELECT count(*) FROM pg_locks WHERE relation = 'customers'::regclass AND NOT granted"
                ).fetchone()[0]
                if waiting:
                    break
                time.sleep(0.02)
            assert waiting, "the call never waited for the lock"
            holder.execute("SELECT activate_purchase_model('evaluated', 2)")
            holder.execute("COMMIT")
            thread.join(30)
            caller.execute("COMMIT")
        assert result["answer"] == v1, (result["answer"], v1)
        conn.execute("SELECT drop_purchase_model('evaluated')")


def wide_artifact(levels):
    """One category of `levels` levels, each a feature; hashed as the exporter does."""
    import pg_purchase

    names = [f"level_{i:07d}" for i in range(levels)]
    features = [f"cat__segment_{n}" for n in names]
    rng = random.Random(levels)
    coefs = [rng.uniform(-1, 1) for _ in range(levels)]
    doc = {
        "format": "pg_purchase.logistic_pipeline",
        "format_version": 2,
        "inputs": [
            {
                "column": "segment",
                "kind": "category",
                "encoder": {
                    "class": "sklearn.preprocessing.OneHotEncoder",
                    "categories": names,
                    "missing_category": False,
                    "drop": None,
                    "handle_unknown": "ignore",
                    "features": features,
                },
            }
        ],
        "model": {
            "class": "sklearn.linear_model.LogisticRegression",
            "features": features,
            "coefficients": coefs,
            "intercept": 0.0,
        },
        "threshold": 0.5,
        "checks": [{"row": {"segment": names[7]}, "p_hat": 1 / (1 + math.exp(-coefs[7]))}],
    }
    doc["sha256"] = pg_purchase.artifact_sha256(doc)
    return doc


def test_a_cold_compile_in_a_scoring_call_can_be_cancelled(db):
    """A backend that never loaded a model compiles a large one on its first scoring call; a
    statement_timeout stops that compile early (the interrupt hook is installed in _PG_init; it
    used to be installed only by a load, so the compile ran to its end before the cancel)."""
    with connect(db) as conn:
        conn.execute("SELECT load_purchase_model(%s::jsonb, 'wide')", (json.dumps(wide_artifact(100_000)),))
    score = "SELECT predict_purchase_json('{\"segment\": \"level_0000007\"}', 'wide')"
    with connect(db) as cold:
        e, whole = elapsed(lambda: cold.execute(score))
        assert e is None, e
    with connect(db) as cold:
        cold.execute("SET statement_timeout = '50ms'")
        e, cancelled = elapsed(lambda: cold.execute(score))
    print(f"     cold first call {whole:.2f} s; with statement_timeout 50ms cancelled after {cancelled:.2f} s")
    assert e is not None and e.sqlstate == "57014", e
    assert cancelled < 0.5 * whole, (cancelled, whole)
    with connect(db) as conn:
        conn.execute("SELECT drop_purchase_model('wide')")
