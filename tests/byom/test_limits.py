"""Large artifacts: validation and compilation are linear in the number of features, can be
cancelled, and leave no memory behind in the backend."""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time

import pg_purchase
import psycopg
import pytest

DB = "byom_limits"


def wide_artifact(n):
    """One category with n levels, every level a feature, and 50 reference rows."""
    levels = [f"level_{i:07d}" for i in range(n)]
    features = [f"cat__segment_{level}" for level in levels]
    rng = random.Random(n)
    coefs = [rng.uniform(-1, 1) for _ in range(n)]
    checks = [
        {"row": {"segment": levels[i]}, "p_hat": 1 / (1 + math.exp(-coefs[i]))} for i in range(0, n, max(1, n // 50))
    ]
    doc = {
        "format": "pg_purchase.logistic_pipeline",
        "format_version": 2,
        "inputs": [
            {
                "column": "segment",
                "kind": "category",
                "encoder": {
                    "class": "sklearn.preprocessing.OneHotEncoder",
                    "categories": levels,
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
        "checks": checks,
    }
    doc["sha256"] = pg_purchase.artifact_sha256(doc)
    return json.dumps(doc)


@pytest.fixture(scope="module")
def conn():
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(dbname=DB, autocommit=True) as c:
        c.execute("CREATE EXTENSION pg_purchase")
        yield c


def rss_anon_mb(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_seconds(conn, text, name):
    start = time.perf_counter()
    conn.execute("SELECT load_purchase_model(%s::jsonb, %s)", (text, name))
    return time.perf_counter() - start


def test_loading_is_linear_in_features_and_frees_its_memory(conn):
    small, large = wide_artifact(40_000), wide_artifact(160_000)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    t_small = load_seconds(conn, small, "wide_small")
    t_large = load_seconds(conn, large, "wide_large")
    left = rss_anon_mb(pid)
    print(
        f"40k features {t_small:.2f}s, 160k features {t_large:.2f}s (ratio {t_large / t_small:.1f}); "
        f"backend private memory after the loads {left:.0f} MB"
    )
    # Linear: 4x the features takes about 4x the time (a quadratic step would take 16x).
    assert t_large / t_small < 8
    assert left < 100
    (p,) = conn.execute("SELECT predict_purchase_json('{\"segment\": \"level_0000007\"}', 'wide_large')").fetchone()
    assert abs(p[0]["p_hat"] - 1 / (1 + math.exp(-json.loads(large)["model"]["coefficients"][7]))) <= 1e-12


def test_a_long_load_can_be_cancelled(conn):
    """Validation checks for interrupts (CHECK_FOR_INTERRUPTS through the pure pipeline's hook):
    a cancelled load stops early, long before a whole load's time, and stores nothing."""
    folder = tempfile.mkdtemp(prefix="byom-limits-", dir="/tmp")
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "wide.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(wide_artifact(160_000))
    os.chmod(path, 0o644)
    start = time.perf_counter()
    conn.execute("SELECT load_purchase_model_file(%s, 'whole')", (path,))
    whole = time.perf_counter() - start
    conn.execute("SET statement_timeout = '100ms'")
    start = time.perf_counter()
    try:
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT load_purchase_model_file(%s, 'cancelled')", (path,))
    finally:
        cancelled = time.perf_counter() - start
        conn.execute("RESET statement_timeout")
    print(f"whole load {whole:.2f}s, cancelled after {cancelled:.2f}s")
    assert cancelled < 0.5 * whole
    assert conn.execute("SELECT count(*) FROM purchase_models() WHERE name = 'cancelled'").fetchone()[0] == 0
