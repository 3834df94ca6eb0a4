#!/usr/bin/env bash
# SQL regression suite (tests/pg_regress): the API's documentation, checked line by line.
# Needs a running cluster (PGHOST/PGPORT) with pg_purchase installed.
#   scripts/regress.sh                 every file, in order, in one fresh database
#   scripts/regress.sh 07_refresh ...  only the files named (each file runs on its own too: the
#                                      shared set-up is in tests/pg_regress/sql/setup, included
#                                      with \ir by every file after 01_install)
# REGRESS_DB names the database (default pg_purchase_regress; dropped and created anew).
. "$(dirname "$0")/lib.sh"
export PG_PURCHASE_ARTIFACT="$(server_readable)/artifacts/purchase_model.json"
out="${REGRESS_OUT:-/tmp/pg_purchase_regress}"
db="${REGRESS_DB:-pg_purchase_regress}"
rm -rf "$out"; mkdir -p "$out"
# pg_regress runs as postgres: give it a copy of the suite it can read and a place to write.
cp -r "$ROOT/tests/pg_regress" "$out/suite"
chmod -R a+rwX "$out"
if [ $# -gt 0 ]; then
  tests="$*"
else
  tests=$(cd "$ROOT/tests/pg_regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
fi
"$PG_BIN/dropdb" --if-exists "$db"
"$PG_BIN/createdb" "$db"
REGRESS="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"
# psql reads each file on its standard input, so \ir resolves against the working directory:
# run from the suite's sql/ directory.
cd "$out/suite/sql"
runas_pg env PG_PURCHASE_ARTIFACT="$PG_PURCHASE_ARTIFACT" "$REGRESS" --use-existing \
  --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname="$db" \
  --inputdir="$out/suite" --outputdir="$out" $tests
