#!/usr/bin/env bash
# SQL regression suite (tests/pg_regress): the API's documentation, checked line by line.
# Needs a running cluster (PGHOST/PGPORT) with pg_purchase installed.
. "$(dirname "$0")/lib.sh"
export PG_PURCHASE_ARTIFACT="$(server_readable)/artifacts/purchase_model.json"
out="${REGRESS_OUT:-/tmp/pg_purchase_regress}"
rm -rf "$out"; mkdir -p "$out"
# pg_regress runs as postgres: give it a copy of the suite it can read and a place to write.
cp -r "$ROOT/tests/pg_regress" "$out/suite"
chmod -R a+rwX "$out"
tests=$(cd "$ROOT/tests/pg_regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
"$PG_BIN/dropdb" --if-exists pg_purchase_regress
"$PG_BIN/createdb" pg_purchase_regress
REGRESS="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"
runas_pg env PG_PURCHASE_ARTIFACT="$PG_PURCHASE_ARTIFACT" "$REGRESS" --use-existing \
  --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname=pg_purchase_regress \
  --inputdir="$out/suite" --outputdir="$out" $tests
