# Shared shell helpers for scripts/*: install steps (idempotent) and throwaway clusters.
# Source it: . "$(dirname "$0")/lib.sh"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# PG_CONFIG may point at another PostgreSQL 15 installation (a relocated copy lets several
# working trees install and test side by side); everything else follows from it.
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
PG_BIN="$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)"
export PG_CONFIG PG_BIN
PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
# The reference data lives beside the checkout (../shared/data); a clone elsewhere finds it at
# /work/shared/data or through SHARED_DATA.
if [ -z "${SHARED_DATA:-}" ]; then
  for d in "$ROOT/../shared/data" /work/shared/data; do
    if [ -d "$d" ]; then SHARED_DATA="$(cd "$d" && pwd)"; break; fi
  done
fi
export SHARED_DATA="${SHARED_DATA:-$ROOT/../shared/data}"

# Files the server (user postgres) must read: the artifact and the tools PL/Python imports. A
# checkout under a private home directory is not readable by postgres, so copy them out.
server_readable() {
  local dir=/tmp/pg_purchase_files
  mkdir -p "$dir"
  # tools/purchase_pipeline.py imports the cleaning rule from python/pg_purchase beside it.
  cp -r "$ROOT/artifacts" "$ROOT/tools" "$ROOT/python" "$dir/"
  chmod -R a+rX "$dir"
  echo "$dir"
}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt packages: PostgreSQL 15 and headers, clang for bindgen, pg_cron, PL/Python + sklearn.
install_apt() {
  local pkgs=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libclang-dev clang pkg-config sudo
              postgresql-15-cron postgresql-plpython3-15 python3-sklearn python3-pandas python3-venv)
  local missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_pgrx() {
  if ! cargo pgrx --version 2>/dev/null | grep -q '0.18.1'; then
    log "cargo install cargo-pgrx 0.18.1 (about 6 minutes)"
    cargo install cargo-pgrx --version 0.18.1 --locked
  fi
  if [ ! -f "$PGRX_HOME/config.toml" ] || ! grep -q "pg15 = \"$PG_CONFIG\"" "$PGRX_HOME/config.toml"; then
    cargo pgrx init --pg15 "$PG_CONFIG"
  fi
}

install_python() {
  if [ ! -x "$PY" ]; then
    log "python venv at $VENV"
    python3 -m venv "$VENV"
  fi
  if ! "$PY" -c 'import sklearn, pandas, psycopg' 2>/dev/null || [ "$ROOT/requirements.txt" -nt "$VENV/.installed" ]; then
    "$VENV/bin/pip" install -q -r "$ROOT/requirements.txt"
    touch "$VENV/.installed"
  fi
}

install_all() { install_apt; install_pgrx; install_python; }

# Citus (for tests/citus and the distributed benchmark): no package is reachable, so build the
# vendored release into this PostgreSQL when its library is missing. Idempotent; ~1-2 min.
CITUS_TARBALL="${CITUS_TARBALL:-}"
if [ -z "$CITUS_TARBALL" ]; then
  for t in "$ROOT/../shared/vendor/citus-12.1.12.tar.gz" /work/shared/vendor/citus-12.1.12.tar.gz; do
    if [ -f "$t" ]; then CITUS_TARBALL="$t"; break; fi
  done
fi
install_citus() {
  local pkglib; pkglib="$("$PG_CONFIG" --pkglibdir)"
  if [ -f "$pkglib/citus.so" ] && [ -f "$("$PG_CONFIG" --sharedir)/extension/citus.control" ]; then
    return 0
  fi
  [ -f "${CITUS_TARBALL:-}" ] || { log "Citus tarball not found (set CITUS_TARBALL)"; return 1; }
  local deps=(libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev) missing=()
  for p in "${deps[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  log "building Citus from $(basename "$CITUS_TARBALL") (1-2 minutes)"
  local build="$ROOT/target/citus-build" logf="$ROOT/target/citus-build.log"
  rm -rf "$build"; mkdir -p "$build"
  tar xzf "$CITUS_TARBALL" -C "$build"
  if ! (cd "$build"/citus-* && ./configure PG_CONFIG="$PG_CONFIG" && make -j2 && as_root make install) >"$logf" 2>&1; then
    tail -n 40 "$logf" >&2; log "Citus build failed (full log: $logf)"; return 1
  fi
}

# Every file a pg_purchase install puts into PostgreSQL's directories: control file, install and
# upgrade scripts, the library. Removed before each install, so a used machine behaves like a new one.
remove_installed_extension() {
  local share lib
  share="$("$PG_CONFIG" --sharedir)/extension"; lib="$("$PG_CONFIG" --pkglibdir)"
  as_root rm -f "$share"/pg_purchase.control "$share"/pg_purchase--*.sql "$lib"/pg_purchase.so
}

# Build (release unless PROFILE=debug) and install the extension into PostgreSQL 15: the library,
# the current version's script and control file (cargo pgrx), and every frozen script of sql/
# (earlier versions' install scripts and the upgrade scripts), which cargo pgrx does not all copy.
# The build's output goes to target/pgrx-install.log and is shown only when it fails.
install_extension() {
  log "building and installing pg_purchase"
  local args=(--pg-config "$PG_CONFIG") logf="$ROOT/target/pgrx-install.log"
  [ "${PROFILE:-release}" = debug ] || args+=(--release)
  mkdir -p "$ROOT/target"
  remove_installed_extension
  if ! (cd "$ROOT" && cargo pgrx install "${args[@]}" >"$logf" 2>&1); then
    tail -n 60 "$logf" >&2; log "build failed (full log: $logf)"; return 1
  fi
  as_root install -m 644 "$ROOT"/sql/pg_purchase--*.sql "$("$PG_CONFIG" --sharedir)/extension/"
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_cluster DIR [extra postgresql.conf lines...]: initdb + start as postgres; sets PGHOST/PGPORT.
start_cluster() {
  local dir="$1"; shift
  rm -rf "$dir"; mkdir -p "$dir"; chown postgres "$dir" 2>/dev/null || true
  export PGPORT="${PGPORT_WANTED:-$(free_port)}" PGHOST="$dir/socket" PGUSER=postgres PGDATABASE=postgres
  mkdir -p "$PGHOST"; chown postgres "$PGHOST" 2>/dev/null || true
  runas_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "port = $PGPORT"
    echo "unix_socket_directories = '$PGHOST'"
    echo "listen_addresses = '127.0.0.1'"
    echo "shared_buffers = 1GB"
    echo "max_parallel_workers_per_gather = 0"
    for line in "$@"; do echo "$line"; done
  } >> "$dir/data/postgresql.conf"
  runas_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
  CLUSTERS+=("$dir")
  trap stop_clusters EXIT
}

stop_clusters() {
  for d in "${CLUSTERS[@]:-}"; do
    [ -n "$d" ] && [ -d "$d/data" ] && runas_pg "$PG_BIN/pg_ctl" -D "$d/data" -m fast stop >/dev/null 2>&1 || true
  done
}
CLUSTERS=()

runas_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
