"""Helpers for the lifecycle tests: connections, databases, the bundled artifact and variants."""

import json
import os
import subprocess

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACT_PATH = os.path.join(ROOT, "artifacts", "purchase_model.json")


def server_readable_artifact():
    """A copy of the artifact the server process (user postgres) can read."""
    import shutil

    os.makedirs("/tmp/pg_purchase_files", exist_ok=True)
    path = shutil.copy(ARTIFACT_PATH, "/tmp/pg_purchase_files/purchase_model_for_tests.json")
    os.chmod(path, 0o644)
    return path


PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def bundled():
    with open(ARTIFACT_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def variant(coefficient_scale):
    """The bundled model with every coefficient scaled: different scores, same columns."""
    doc = bundled()
    doc.pop("sha256")
    doc.pop("checks")
    doc["model"]["coefficients"] = [c * coefficient_scale for c in doc["model"]["coefficients"]]
    return doc


def connect(db, **kw):
    return psycopg.connect(dbname=db, autocommit=True, **kw)


def make_customers(conn, rows=1000, table="customers"):
    """A small customers table of the raw schema (the synthetic generator's SQL)."""
    import sys

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from synthetic_customers import customers_table_sql

    conn.execute(customers_table_sql(bundled(), rows, table))


def load(conn, doc, name="default", activate=True):
    # Variants carry no reference checks: such a load must say so (allow_unchecked, from 0.3.0;
    # releases before it loaded anything).
    takes_it = conn.execute(
        "SELECT count(*) FROM pg_proc WHERE proname = 'load_purchase_model' AND 'allow_unchecked' = ANY (proargnames)"
    ).fetchone()[0]
    unchecked = ", allow_unchecked => true" if "checks" not in doc and takes_it else ""
    return conn.execute(
        f"SELECT load_purchase_model(%s::jsonb, %s, %s{unchecked})", (json.dumps(doc), name, activate)
    ).fetchone()[0]


def scores(conn, model="default", table="customers"):
    return dict(conn.execute(f"SELECT customer_id, predict_purchase(c, %s) FROM {table} c", (model,)).fetchall())


def run(cmd, as_postgres=False, **kw):
    if as_postgres and os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def sqlstate_of(conn, sql, params=None):
    try:
        conn.execute(sql, params)
    except psycopg.Error as e:
        return e.sqlstate
    return None
