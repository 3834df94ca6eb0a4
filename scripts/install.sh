#!/usr/bin/env bash
# Builds pg_purchase from this checkout and installs it into an existing PostgreSQL 15: the one
# whose pg_config PG_CONFIG names (default /usr/lib/postgresql/15/bin/pg_config). Idempotent: run
# it again after a `git pull` to upgrade the files (then ALTER EXTENSION pg_purchase UPDATE).
#   PG_CONFIG=/path/to/pg_config bash scripts/install.sh [--debug]
# Installs what the build needs when missing (clang and libclang, pkg-config; the server headers
# for Debian's PostgreSQL, through apt; cargo-pgrx 0.18.1), never a server. It does not touch the
# server's configuration or any database: it prints the shared_preload_libraries line pg_cron
# needs and the SQL to run next.
. "$(dirname "$0")/lib.sh"
for arg in "$@"; do
  case "$arg" in
    --debug) export PROFILE=debug ;;
    *) echo "usage: PG_CONFIG=/path/to/pg_config bash scripts/install.sh [--debug]" >&2; exit 2 ;;
  esac
done

if ! [ -x "$PG_CONFIG" ]; then
  echo "pg_config not found at $PG_CONFIG: set PG_CONFIG to the pg_config of your PostgreSQL 15" >&2
  exit 1
fi
version="$("$PG_CONFIG" --version)"
case "$version" in
  "PostgreSQL 15"*) ;;
  *) echo "$PG_CONFIG is $version; pg_purchase is built for PostgreSQL 15" >&2; exit 1 ;;
esac
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }

# The build's own needs: bindgen's clang, and the server headers pg_config points at.
install_build_deps() {
  local pkgs=(clang libclang-dev pkg-config) missing=()
  [ -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ] || pkgs+=(postgresql-server-dev-15)
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if command -v apt-get >/dev/null; then
    log "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "install these first (or your system's equivalents): ${missing[*]}" >&2; exit 1
  fi
}
if command -v dpkg >/dev/null; then install_build_deps; fi
install_pgrx
install_extension

share="$("$PG_CONFIG" --sharedir)/extension" lib="$("$PG_CONFIG" --pkglibdir)"
log "installed into $version"
echo "  $lib/pg_purchase.so"
echo "  $share/pg_purchase.control and $(ls "$share"/pg_purchase--*.sql | wc -l) scripts (every release and upgrade)"
cat <<EOF

Next, in postgresql.conf, only for scheduled refreshes (schedule_purchase_refresh uses pg_cron;
restart the server after changing it; keep any libraries already listed):

  shared_preload_libraries = 'pg_cron'
  cron.database_name = 'YOUR_DATABASE'
  cron.use_background_workers = on

EOF
if ! [ -f "$lib/pg_cron.so" ]; then
  echo "  (pg_cron is not installed in this PostgreSQL: apt-get install postgresql-15-cron)"
  echo
fi
cat <<EOF
Then, in your database (psql -d YOUR_DATABASE), as a superuser:

  CREATE EXTENSION pg_purchase;            -- or ALTER EXTENSION pg_purchase UPDATE; after an upgrade
  \\set artifact \`cat $ROOT/artifacts/purchase_model.json\`
  SELECT load_purchase_model(:'artifact'::jsonb);   -- the bundled model, as 'default'
  GRANT purchase_scorer TO your_app_role;  -- may score
  GRANT purchase_admin TO your_ml_role;    -- may load, activate, export, train
  CREATE EXTENSION pg_cron;                -- in cron.database_name, for schedule_purchase_refresh

README.md "Bring your own model" loads a model of your own instead.
EOF
