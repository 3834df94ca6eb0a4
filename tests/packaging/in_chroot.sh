#!/bin/bash
# The packaging test's steps inside the clean Debian 12 chroot (tests/packaging/run.sh copies this
# directory, the .deb, the wheel and the generated reference rows to /pkgtest and runs it as root).
# Every step prints "ok <what>" or stops the test with "FAIL <what>".
#   bash /pkgtest/in_chroot.sh VERSION
set -euo pipefail
cd /pkgtest
VERSION="$1"
PKG=postgresql-15-pg-purchase
MODEL=/usr/share/$PKG/purchase_model.json
PGBIN=/usr/lib/postgresql/15/bin
PGDIR=/pkgtest/pg
export PGHOST=$PGDIR PGPORT=5432 PGUSER=postgres

ok() { echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; exit 1; }
q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }
# check LABEL DB SQL: the query must answer exactly 't'.
check() {
  local got
  got=$(q -d "$2" -c "$3") || fail "$1 (query failed)"
  [ "$got" = t ] || fail "$1 (got '$got': $3)"
  ok "$1"
}

# --- a clean system: no compiler, no Rust, no PostgreSQL --------------------------------------
for tool in cc gcc clang rustc cargo pg_config; do
  ! command -v "$tool" >/dev/null || fail "the chroot has $tool"
done
ok "no compiler, no Rust, no PostgreSQL before the package"

# --- apt-get install ./the.deb pulls PostgreSQL 15 in -----------------------------------------
apt-get update -qq
apt-get install -y -qq ./"${PKG}"_*.deb >/pkgtest/apt-install.log 2>&1 || { tail -n 30 /pkgtest/apt-install.log; fail "apt-get install ./${PKG}_*.deb"; }
dpkg-query -W -f '${Status}' postgresql-15 | grep -q 'install ok installed' || fail "postgresql-15 was not pulled in"
ok "apt-get install ./$(ls ${PKG}_*.deb) pulled in postgresql-15 $(dpkg-query -W -f '${Version}' postgresql-15)"
# What the package put on the system (files and directories), before anything else changes it.
dpkg -L "$PKG" | grep -v '^/\.$' >/pkgtest/package-paths.txt
for f in /usr/lib/postgresql/15/lib/pg_purchase.so /usr/share/postgresql/15/extension/pg_purchase.control "$MODEL" \
  /usr/share/doc/$PKG/copyright; do
  grep -qx "$f" /pkgtest/package-paths.txt || fail "the package lacks $f"
done
for f in /pkgtest/sql/pg_purchase--*.sql; do
  cmp -s "$f" "/usr/share/postgresql/15/extension/$(basename "$f")" || fail "frozen script $(basename "$f") not installed as released"
done
ok "library, control file, every frozen script of sql/ ($(ls /pkgtest/sql | wc -l)), bundled model, copyright"

# --- a cluster of our own, as postgres, on a Unix socket only ---------------------------------
rm -rf "$PGDIR"; mkdir -p "$PGDIR"; chown postgres "$PGDIR"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
printf "listen_addresses = ''\nunix_socket_directories = '%s'\nport = %s\n" "$PGDIR" "$PGPORT" >>"$PGDIR/data/postgresql.conf"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w start >/dev/null
ok "initdb and start as postgres"

# --- CREATE EXTENSION; the packaged model loads and scores real rows --------------------------
q -d postgres -c "CREATE DATABASE fresh" -c "CREATE DATABASE upgraded"
q -d fresh -c "CREATE EXTENSION pg_purchase"
check "CREATE EXTENSION pg_purchase installs $VERSION" fresh \
  "SELECT extversion = '$VERSION' FROM pg_extension WHERE extname = 'pg_purchase'"
q -d fresh -c "SELECT load_purchase_model(pg_read_file('$MODEL')::jsonb)" >/dev/null
q -d fresh -f /pkgtest/reference_rows.sql
ROWS=$(q -d fresh -c "SELECT count(*) FROM expected")
[ "$ROWS" -gt 0 ] || fail "no reference rows"
check "the packaged model scores $ROWS real rows within 1e-9 of scikit-learn (predict_purchase)" fresh \
  "SELECT count(*) = $ROWS AND max(abs(predict_purchase(c) - e.p_hat)) <= 1e-9
     FROM customers c JOIN expected e USING (row_no)"
check "score_purchase agrees, business_outcome = (p_hat > 0.75)" fresh \
  "SELECT bool_and(abs(s.p_hat - e.p_hat) <= 1e-9 AND s.business_outcome = (e.p_hat > 0.75)::int)
     FROM customers c JOIN expected e USING (row_no) CROSS JOIN LATERAL score_purchase(c) s"
echo "     max |p_hat - scikit-learn| = $(q -d fresh -c "SELECT max(abs(predict_purchase(c) - e.p_hat)) FROM customers c JOIN expected e USING (row_no)")"

# --- 0.2.0 with a model, then ALTER EXTENSION UPDATE keeps the model and its scores ------------
q -d upgraded -c "CREATE EXTENSION pg_purchase VERSION '0.2.0'"
q -d upgraded -c "SELECT load_purchase_model(pg_read_file('$MODEL')::jsonb)" >/dev/null
q -d upgraded -f /pkgtest/reference_rows.sql
q -d upgraded -c "CREATE TABLE models_before AS SELECT name, version, active, sha256 FROM purchase_models()" \
  -c "CREATE TABLE scores_before AS SELECT row_no, predict_purchase(c) AS p FROM customers c"
q -d upgraded -c "ALTER EXTENSION pg_purchase UPDATE"
check "ALTER EXTENSION pg_purchase UPDATE from 0.2.0 reaches $VERSION" upgraded \
  "SELECT extversion = '$VERSION' FROM pg_extension WHERE extname = 'pg_purchase'"
check "the update keeps the model (name, version, active, sha256)" upgraded \
  "SELECT count(*) = 1 AND NOT EXISTS (
     (SELECT name, version, active, sha256 FROM purchase_models() EXCEPT SELECT * FROM models_before)
     UNION ALL (SELECT * FROM models_before EXCEPT SELECT name, version, active, sha256 FROM purchase_models()))
   FROM models_before"
check "the update keeps the scores (bit for bit, and within 1e-9 of scikit-learn)" upgraded \
  "SELECT count(*) = $ROWS AND bool_and(predict_purchase(c) = b.p AND abs(b.p - e.p_hat) <= 1e-9)
     FROM customers c JOIN scores_before b USING (row_no) JOIN expected e USING (row_no)"

# --- the wheel in a venv: its exporter writes an artifact the packaged extension loads ---------
apt-get install -y -qq python3-venv >/pkgtest/apt-venv.log 2>&1 || { tail -n 20 /pkgtest/apt-venv.log; fail "apt-get install python3-venv"; }
python3 -m venv /opt/byom
/opt/byom/bin/pip install -q /pkgtest/pg_purchase-"$VERSION"-py3-none-any.whl >/pkgtest/pip.log 2>&1 ||
  { tail -n 20 /pkgtest/pip.log; fail "pip install the wheel"; }
/opt/byom/bin/pip check >/dev/null || fail "pip check after installing the wheel"
ok "pip install pg_purchase-$VERSION-py3-none-any.whl: $(/opt/byom/bin/pip list 2>/dev/null | grep -iE '^(scikit-learn|pandas|numpy|rfc8785) ' | tr -s ' ' | paste -sd, -)"
/opt/byom/bin/python /pkgtest/byom.py /pkgtest/real_rows.json /pkgtest/byom
ok "python -m pg_purchase export wrote and the packaged extension loaded and scored the artifact"

# --- apt-get remove, then purge: nothing of the package is left -------------------------------
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null
apt-get remove -y -qq "$PKG" >/dev/null
left_behind() {
  local p
  while read -r p; do
    if [ -d "$p" ] && [ ! -L "$p" ]; then
      # A directory may stay only while another package still owns it (/usr/share/doc, ...).
      dpkg -S "$p" >/dev/null 2>&1 || echo "$p"
    elif [ -e "$p" ] || [ -L "$p" ]; then
      echo "$p"
    fi
  done </pkgtest/package-paths.txt
}
left=$(left_behind)
[ -z "$left" ] || fail "apt-get remove left: $left"
ok "apt-get remove left none of the $(wc -l </pkgtest/package-paths.txt) paths dpkg -L listed"
# The package has no conffiles, so remove already forgot it; purge it from installed, too.
apt-get install -y -qq ./"${PKG}"_*.deb >/dev/null 2>&1 || fail "apt-get install ./${PKG}_*.deb again"
apt-get purge -y -qq "$PKG" >/dev/null
! dpkg-query -W -f '${Status}' "$PKG" 2>/dev/null | grep -q ' installed$' || fail "still known to dpkg after purge"
left=$(left_behind)
stray=$(find / -xdev \( -path /pkgtest -o -path /opt/byom -o -path /proc -o -path /sys -o -path /dev \) -prune -o \
  \( -iname '*pg_purchase*' -o -iname '*pg-purchase*' \) -print)
[ -z "$left$stray" ] || fail "apt-get purge left: $left $stray"
[ -x "$PGBIN/postgres" ] || fail "removing the package removed PostgreSQL"
ok "apt-get purge (installed again first): none of those paths, no file named after the package anywhere, PostgreSQL itself stays"
