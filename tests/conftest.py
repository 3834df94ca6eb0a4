"""Shared pytest fixtures for every Python suite of pg_purchase.

* The cluster: scripts/test.sh starts one and exports PGHOST/PGPORT/PGUSER (`pg` fixture); suites
  that need a cluster of their own (tests/safety, tests/citus) start it in a fixture of their own.
* Databases: `fresh_database(name)` creates a new database with pg_purchase installed (dropped at
  the end of the test or module that asked for it).
* The artifact (`artifact`, `artifact_path`, `server_artifact_path`) and the reference data of
  ../shared/data (`data_dir`, `real_rows`, `excel_rows`, `reference_pipeline`).
* `check`: a soft assertion. `check(label, ok, detail)` records a failed check and the test goes
  on, so one run reports every failing check of a scenario; the test fails at its end with the
  list. Scenario tests (several steps on one set-up) use it; everything else asserts directly.
"""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (os.path.join(ROOT, "tools"), os.path.join(ROOT, "python"), os.path.join(ROOT, "tests", "lifecycle")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from common import ARTIFACT_PATH, bundled, connect, server_readable_artifact  # noqa: E402

DATA_DIR = os.environ.get("SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))


class Checks:
    """Soft assertions of one test: every failure is kept and reported at the test's end."""

    def __init__(self):
        self.failures = []

    def __call__(self, label, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {label}{'  (' + str(detail) + ')' if detail else ''}", flush=True)
        if not ok:
            self.failures.append(f"{label}{'  (' + str(detail) + ')' if detail else ''}")
        return bool(ok)

    def allclose(self, label, actual, desired, atol, **kw):
        """numpy.testing.assert_allclose(rtol=0, atol=atol, equal_nan=False) as a soft check."""
        import numpy as np

        try:
            np.testing.assert_allclose(actual, desired, rtol=0, atol=atol, equal_nan=False, **kw)
        except AssertionError as e:
            return self(label, False, str(e).strip())
        return self(label, True)


@pytest.fixture
def check():
    return Checks()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fails a test whose soft checks failed (all of them listed), also when it raised later."""
    checks = getattr(item, "funcargs", {}).get("check")
    try:
        result = yield
    except BaseException as e:
        if isinstance(checks, Checks) and checks.failures:
            e.add_note("failed checks before this error:\n  " + "\n  ".join(checks.failures))
        raise
    if isinstance(checks, Checks) and checks.failures:
        pytest.fail(f"{len(checks.failures)} check(s) failed:\n  " + "\n  ".join(checks.failures), pytrace=False)
    return result


# --- the artifact and the reference data ------------------------------------------------------


@pytest.fixture(scope="session")
def artifact_path():
    return ARTIFACT_PATH


@pytest.fixture
def artifact():
    """The bundled artifact (a fresh copy per test: tests may change it)."""
    return bundled()


@pytest.fixture(scope="session")
def server_artifact_path():
    """A copy of the bundled artifact that the server process (user postgres) can read."""
    return server_readable_artifact()


@pytest.fixture(scope="session")
def data_dir():
    if not os.path.isdir(DATA_DIR):
        pytest.fail(f"the reference data is missing: {DATA_DIR} (set SHARED_DATA)")
    return DATA_DIR


@pytest.fixture(scope="session")
def real_rows(data_dir):
    """The 1000 real raw rows, exactly as the service received them."""
    with open(os.path.join(data_dir, "exercise_26_test_first1000rows_raw.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def excel_rows(data_dir):
    """Nine rows re-saved by a spreadsheet: BOM, every value text, money as "($5,483.24)"."""
    import csv

    path = os.path.join(data_dir, "exercise_26_test_first9rows_excel_resaved.csv")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(handle)]


@pytest.fixture(scope="session")
def reference_pipeline(data_dir):
    """scikit-learn objects the bundled artifact was exported from (tools/purchase_pipeline.py)."""
    from purchase_pipeline import build_reference_pipeline

    return build_reference_pipeline(data_dir)


# --- the cluster and databases ----------------------------------------------------------------


@pytest.fixture(scope="session")
def pg():
    """The cluster scripts/test.sh started (PGHOST/PGPORT), checked to be reachable once."""
    import psycopg

    if not os.environ.get("PGHOST") or not os.environ.get("PGPORT"):
        pytest.fail("PGHOST/PGPORT must name a running cluster with pg_purchase installed (scripts/test.sh)")
    with psycopg.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute("SELECT 1")
    return {"host": os.environ["PGHOST"], "port": os.environ["PGPORT"]}


def create_database(name, version=None):
    """Drops and creates database `name` with pg_purchase (at `version`, default the newest)."""
    with connect("postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with connect(name) as conn:
        conn.execute("CREATE EXTENSION pg_purchase" + (f" VERSION '{version}'" if version else ""))
    return name


def drop_database(name):
    with connect("postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def fresh_database(pg):
    """A factory: fresh_database(name, version=None) -> name (dropped and created anew, with
    pg_purchase installed); every database made is dropped at the end of the test module."""
    made = []

    def make(name, version=None):
        made.append(create_database(name, version))
        return name

    yield make
    for name in made:
        drop_database(name)
