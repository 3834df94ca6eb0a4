#!/usr/bin/env bash
# The Citus tests: builds Citus from the vendored tarball into this PostgreSQL when it is missing,
# then runs test_citus.py and test_citus_trees.py under pytest (it starts a coordinator and two workers on local ports under
# /tmp/citus-test, adds a third, and stops them all). Expects pg_purchase installed (install_extension).
. "$(dirname "$0")/../../scripts/lib.sh"
install_citus
cd "$ROOT"
CITUS_TEST_DIR="${CITUS_TEST_DIR:-/tmp/citus-test}" PG_BIN="$PG_BIN" "$PY" -m pytest -q -p no:cacheprovider tests/citus/test_citus.py tests/citus/test_citus_trees.py
