"""The benchmarks time one query text under several settings (serial, 2 workers, default jit), so
their connections must plan each statement anew: psycopg prepares a statement once its text has
run five times, and the prepared plan ignores settings changed afterwards (bench/connection.py).

Needs PGHOST/PGPORT of a cluster (scripts/test.sh)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench"))
from connection import connect  # noqa: E402

QUERY = "SELECT count(*) FROM generate_series(1, 1000)"


def test_a_statement_run_often_is_never_prepared():
    with connect("postgres") as conn:
        for workers in (0, 2) * 5:
            conn.execute(f"SET max_parallel_workers_per_gather = {workers}")
            assert conn.execute(QUERY).fetchone()[0] == 1000
        prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    assert prepared == 0


def test_the_check_sees_a_prepared_statement():
    """The query above does get prepared on a connection with psycopg's default threshold, so
    the first test would see it."""
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True) as conn:
        for _ in range(10):
            conn.execute(QUERY)
        prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    assert prepared == 1
