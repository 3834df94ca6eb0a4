#!/usr/bin/env python3
"""Benchmark of train_purchase_model (not a test; never asserts times).

    PGHOST=... PGPORT=... .venv/bin/python bench/training.py [--million]

40,000 generated rows (tests/training's generator): train_purchase_model (3 runs, median, each
on a fresh backend) against scikit-learn + statsmodels on the same rows with the data already in
memory (design matrix built; only the two fits timed, as the notebook runs them). The backend's
peak resident memory (VmHWM) is read from /proc, against a fresh backend's. --million also
trains on 1,000,000 rows (the 40,000 repeated 25 times, max_rows and max_memory_mb raised).
"""

import os
import statistics
import sys
import time

import statsmodels.api as sm
from connection import connect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "training"))
import test_training as tt  # noqa: E402

DB = "pg_purchase_bench_training"
OPTIONS = '{"exclude": ["id"], "validation_column": "is_validation"}'


def peak_kb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))


def train_once(table, options=OPTIONS):
    with connect(DB) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("SELECT count(*) FROM purchase_models()")  # extension loaded, catalog read
        before = peak_kb(pid)
        start = time.perf_counter()
        conn.execute(f"SELECT train_purchase_model('{table}', 'y', 'bench', %s::jsonb)", (options,))
        seconds = time.perf_counter() - start
        return seconds, before, peak_kb(pid)


def main():
    with connect("postgres") as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    cols, y, validation = tt.generate(40000)
    with connect(DB) as conn:
        conn.execute("CREATE EXTENSION pg_purchase")
        tt.create_table(conn, "customers_train", cols, y, validation)
        conn.execute("VACUUM ANALYZE customers_train")
    runs = [train_once("customers_train") for _ in range(3)]
    db = statistics.median(r[0] for r in runs)

    train = ~validation
    names, x = tt.design(cols, train)
    py_runs = []
    for _ in range(3):
        start = time.perf_counter()
        w = tt.l1_model().fit(x[train], y[train]).coef_[0]
        top = [j for j in sorted(range(len(names)), key=lambda j: -(w[j] ** 2)) if w[j] != 0][:25]
        sm.Logit(y[train], x[train][:, top]).fit(method="newton", tol=1e-12, maxiter=100, disp=0)
        py_runs.append(time.perf_counter() - start)
    py = statistics.median(py_runs)
    print("| what | time | backend peak RSS (fresh backend) |")
    print("|---|---|---|")
    print(
        f"| train_purchase_model, 40,000 rows (median of 3) | {db:.3f} s | {runs[0][2] / 1024:.0f} MB ({runs[0][1] / 1024:.0f} MB) |"
    )
    print(f"| scikit-learn liblinear L1 + statsmodels Logit, same rows, in memory (median of 3) | {py:.3f} s | |")
    print(f"| ratio | {db / py:.2f} | |")
    if "--million" in sys.argv:
        with connect(DB) as conn:
            conn.execute("CREATE TABLE customers_1m AS SELECT * FROM customers_train, generate_series(0, 24) k")
            conn.execute("ALTER TABLE customers_1m DROP COLUMN k")
            conn.execute("VACUUM ANALYZE customers_1m")
        seconds, before, after = train_once(
            "customers_1m",
            '{"exclude": ["id"], "validation_column": "is_validation", "max_rows": 1000000, "max_memory_mb": 4096}',
        )
        print(
            f"| train_purchase_model, 1,000,000 rows | {seconds:.3f} s | {after / 1024:.0f} MB ({before / 1024:.0f} MB) |"
        )
    with connect("postgres") as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
