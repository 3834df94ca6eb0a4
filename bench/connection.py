"""The benchmarks' database connections.

psycopg prepares a statement on the server once its text has run five times on a connection
(`prepare_threshold`), and a prepared statement keeps the plan it was given then: settings
changed afterwards (`max_parallel_workers_per_gather`, `jit`) no longer reach it. The
benchmarks time one query text under several settings, so a prepared plan would time every
later setting with the first one's plan (before this, "2 parallel workers" reran a serial
plan). Every benchmark connection therefore sends each statement as written, planned anew.
"""

import psycopg


def connect(dbname, **kwargs):
    """An autocommit connection to `dbname` that never prepares statements behind the caller."""
    return psycopg.connect(dbname=dbname, autocommit=True, prepare_threshold=None, **kwargs)
