#!/usr/bin/env bash
# Distributed vs single-node scoring on a local Citus cluster (not a test; never asserts times).
#   bash bench/citus.sh [ROWS]      (default 1,000,000; results in bench/results/citus.md)
. "$(dirname "$0")/../scripts/lib.sh"
export BENCH_ROWS="${1:-${BENCH_ROWS:-1000000}}"
install_all
install_citus
install_extension
CITUS_TEST_DIR=/tmp/citus-bench PG_BIN="$PG_BIN" "$PY" "$ROOT/bench/citus_bench.py"
