#!/usr/bin/env bash
# Runs every test of pg_purchase on a fresh Debian 12 machine with Rust:
# installs what is missing (apt, cargo-pgrx 0.18.1, Python venv with pytest and ruff), then
#   1. cargo fmt --check and cargo clippy -D warnings; ruff format --check and ruff check over
#      tests/, bench/, tools/, python/ (ruff.toml)
#   2. pure pipeline unit tests (cargo test -p purchase_model: no PostgreSQL needed)
#   3. in-database tests (cargo pgrx test pg15), with the jsonb writer against jsonb_in (~1 min)
#   4. the SQL regression suite (tests/pg_regress) on a throwaway cluster; every file also runs
#      on its own (shared set-up in tests/pg_regress/sql/setup)
# Steps 5-10 are pytest suites (tests/conftest.py: shared fixtures), run as
# "$PY" -m pytest -q -p no:cacheprovider <files>, files named so exit status 5 cannot happen:
#   5. parity with scikit-learn on the 1000 real rows, 9 spreadsheet rows and 10,000 synthetic rows
#   5b. train_purchase_model against scikit-learn + statsmodels, and bad training data
#   6. lifecycle tests (tests/lifecycle): versions, privileges, caches, dump/restore, upgrade,
#      a streaming replica, pgbench concurrency with model swaps
#   7. targeting-list refresh under concurrency and scheduled by a real pg_cron (tests/refresh)
#   8. safety on a cluster started with RUST_BACKTRACE=1 (tests/safety): no Rust internals reach
#      clients, cancel latency and memory of predict_purchase_json, a LATIN1 database, loads under
#      REPEATABLE READ, a FIFO as model file
#   9. bring your own model (tests/byom): the pg_purchase package installed with pip as
#      README says, with the pinned and the newest scikit-learn; parity of four pipelines on
#      every path and the notebook's form of the shipped model
#   9b. tree models (tests/trees): HistGradientBoosting, LightGBM and XGBoost exported and scored
#      on every path against predict_proba, with both venvs; hostile tree artifacts; their
#      explanations (TreeSHAP) against each library's own contributions
#  10. a real Citus cluster (tests/citus): Citus built from ../shared/vendor when missing
#  11. packaging: scripts/package.sh builds the .deb (checked by lintian) and the wheel;
#      tests/packaging checks the versions and the wheel's declared dependencies, then installs,
#      uses, upgrades and removes both in a clean Debian 12 chroot (tests/packaging/run.sh)
#
# scripts/test.sh --quick: the inner loop (a few minutes), not the CI gate: steps 1 and 2, a
# debug build (unless PROFILE is set), the SQL regression suite and the parity tests (step 5's
# test_parity.py and test_insights.py); no cargo pgrx test, training, lifecycle, refresh,
# safety, byom or Citus.
QUICK=0
case "${1:-}" in
  --quick) QUICK=1; export PROFILE="${PROFILE:-debug}" ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
esac
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
install_all

log "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
"$VENV/bin/ruff" format --check
"$VENV/bin/ruff" check
log "released SQL scripts unchanged (sql/README.md)"
(cd sql && sha256sum --check --strict --quiet SHA256SUMS)

log "pure pipeline unit tests"
cargo test -p purchase_model

if [ "$QUICK" = 0 ]; then
  log "in-database tests (cargo pgrx test)"
  pgrx_data=$(mktemp -d /tmp/pg_purchase_pgrx.XXXXXX); chown postgres "$pgrx_data"
  cargo pgrx test pg15 --runas postgres --pgdata "$pgrx_data"
  rm -rf "$pgrx_data"
fi

install_extension
# The pg_cron settings are exactly README's recipe ("Nightly targeting lists"), which
# tests/refresh checks end to end.
start_cluster "${TEST_CLUSTER_DIR:-/tmp/pg_purchase_test}" "shared_preload_libraries = 'pg_cron'" \
  "cron.database_name = 'pg_purchase_cron'" "cron.use_background_workers = on" \
  "wal_level = replica" "max_wal_senders = 4"

log "SQL regression suite"
if ! "$ROOT/scripts/regress.sh"; then
  cat "${REGRESS_OUT:-/tmp/pg_purchase_regress}/regression.diffs" >&2 || true
  exit 1
fi

# pytest with the named files only (no collection surprises, exit status 5 cannot happen).
pytest_run() { "$PY" -m pytest -q -p no:cacheprovider "$@"; }
log "parity with scikit-learn"
pytest_run tests/parity/test_parity.py
log "insights (explain, weights, evaluate, drift) against scikit-learn"
pytest_run tests/parity/test_insights.py
log "a staged version on every path, and compare_purchase_models against scipy (DeLong)"
pytest_run tests/parity/test_staged.py
log "whom to contact: the profit optimum against a brute force, budget ties, storage order, privileges"
pytest_run tests/targeting/test_targeting.py
log "the benchmarks' connections plan every statement under the settings of its run"
pytest_run tests/bench/test_connection.py
if [ "$QUICK" = 1 ]; then
  log "quick run passed (lints, pure crate, SQL regression, parity); scripts/test.sh runs everything"
  exit 0
fi

log "training inside the database against scikit-learn and statsmodels (40,000 rows)"
pytest_run tests/training/test_training.py tests/training/test_limits.py tests/training/test_outcomes.py tests/training/test_options.py

for t in test_models test_snapshots test_nothing_lost test_concurrency test_entry_points; do
  log "lifecycle: $t"
  pytest_run "tests/lifecycle/$t.py"
done
log "refresh and pg_cron"
pytest_run tests/refresh/test_refresh.py
log "safety: a RUST_BACKTRACE=1 cluster, cancels, memory, LATIN1, concurrent loads"
pytest_run tests/safety/test_safety.py

# Bring your own model: the package is installed as README says (pip install ./python), into
# the pinned venv and into one with the newest scikit-learn (requirements-newest.txt).
NEWEST="$ROOT/.venv-newest"
[ -x "$NEWEST/bin/python" ] || python3 -m venv "$NEWEST"
"$NEWEST/bin/pip" install -q -r "$ROOT/requirements-newest.txt"
for venv in "$VENV" "$NEWEST"; do
  "$venv/bin/pip" install -q "$ROOT/python"
  rm -rf "$ROOT/python/build" "$ROOT"/python/*.egg-info
  log "bring your own model, scikit-learn $("$venv/bin/python" -c 'import sklearn; print(sklearn.__version__)')"
  # Named files, so pytest always collects tests (exit status 5 cannot happen); any failure stops.
  (cd "$ROOT/tests/byom" && "$venv/bin/python" -m pytest -q -p no:cacheprovider \
     test_export.py test_byom_parity.py test_notebook.py test_limits.py)
done

# Tree models (HistGradientBoosting, LightGBM, XGBoost), with both venvs like byom.
for venv in "$VENV" "$NEWEST"; do
  "$venv/bin/pip" install -q "$ROOT/python"
  rm -rf "$ROOT/python/build" "$ROOT"/python/*.egg-info
  log "tree models, scikit-learn $("$venv/bin/python" -c 'import sklearn; print(sklearn.__version__)')"
  (cd "$ROOT/tests/trees" && "$venv/bin/python" -m pytest -q -p no:cacheprovider test_trees.py test_tree_export.py test_tree_explain.py)
  # calibrate_purchase_model against CalibratedClassifierCV (cv='prefit' / FrozenEstimator), and its export
  (cd "$ROOT/tests/parity" && "$venv/bin/python" -m pytest -q -p no:cacheprovider test_calibration.py test_calibrated_export.py)
done

log "Citus: a coordinator and two workers, a third added later"
"$ROOT/tests/citus/run.sh"

log "packaging: the .deb (lintian) and the wheel"
"$ROOT/scripts/package.sh"
pytest_run tests/packaging/test_versions.py tests/packaging/test_wheel.py
log "packaging: install, score, upgrade, export and remove in a clean Debian 12 chroot"
"$ROOT/tests/packaging/run.sh"
log "all tests passed"
