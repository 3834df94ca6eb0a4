#!/usr/bin/env bash
# Runs every test of pg_purchase on a fresh Debian 12 machine with Rust:
# installs what is missing (apt, cargo-pgrx 0.18.1, Python venv), then
#   1. cargo fmt --check and cargo clippy -D warnings
#   2. pure pipeline unit tests (cargo test --lib)
#   3. in-database tests (cargo pgrx test pg15)
#   4. the SQL regression suite (tests/pg_regress) on a throwaway cluster
#   5. parity with scikit-learn on the 1000 real rows, 9 spreadsheet rows and 10,000 synthetic rows
#   6. lifecycle tests (tests/lifecycle): versions, privileges, caches, dump/restore, upgrade,
#      a streaming replica, pgbench concurrency with model swaps
#   7. targeting-list refresh under concurrency and scheduled by a real pg_cron (tests/refresh)
#   8. a real Citus cluster (tests/citus): Citus built from ../shared/vendor when missing
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
install_all

log "format and lints"
cargo fmt --check
cargo clippy --all-targets -- -D warnings

log "pure pipeline unit tests"
cargo test --lib pipeline::

log "in-database tests (cargo pgrx test)"
pgrx_data=$(mktemp -d /tmp/pg_purchase_pgrx.XXXXXX); chown postgres "$pgrx_data"
cargo pgrx test pg15 --runas postgres --pgdata "$pgrx_data"
rm -rf "$pgrx_data"

install_extension
start_cluster /tmp/pg_purchase_test "shared_preload_libraries = 'pg_cron'" \
  "cron.database_name = 'pg_purchase_cron'" "cron.host = '/tmp/pg_purchase_test/socket'" \
  "wal_level = replica" "max_wal_senders = 4"

log "SQL regression suite"
if ! "$ROOT/scripts/regress.sh"; then
  cat /tmp/pg_purchase_regress/regression.diffs >&2 || true
  exit 1
fi

log "parity with scikit-learn"
"$PY" "$ROOT/tests/parity/test_parity.py"
log "insights (explain, weights, evaluate, drift) against scikit-learn"
"$PY" "$ROOT/tests/parity/test_insights.py"

for t in test_models test_snapshots test_nothing_lost test_concurrency; do
  log "lifecycle: $t"
  "$PY" "$ROOT/tests/lifecycle/$t.py"
done
log "refresh and pg_cron"
"$PY" "$ROOT/tests/refresh/test_refresh.py"
log "Citus: a coordinator and two workers, a third added later"
"$ROOT/tests/citus/run.sh"
log "all tests passed"
