#!/usr/bin/env bash
# The benchmark (not a test; never asserts times): release build, own cluster, N customers.
#   bash bench/run.sh [ROWS]        (default 1,000,000; results in bench/results/latest.md)
. "$(dirname "$0")/../scripts/lib.sh"
export BENCH_ROWS="${1:-${BENCH_ROWS:-1000000}}"
install_all
install_extension
start_cluster /tmp/pg_purchase_bench "max_worker_processes = 8" "max_parallel_workers = 8"
PG_PURCHASE_SERVER_TOOLS="$(server_readable)/tools" "$PY" "$ROOT/bench/bench.py"
# Tree models against LightGBM's and XGBoost's own predict_proba and contributions, one thread
# (bench/results/trees.md; `python bench/trees.py ROWS EXPLAIN_ROWS` for a quick run).
"$VENV/bin/pip" install -q "$ROOT/python"
rm -rf "$ROOT/python/build" "$ROOT"/python/*.egg-info
"$PY" "$ROOT/bench/trees.py" "$BENCH_ROWS"
