#!/usr/bin/env bash
# The main job: a throwaway PostgreSQL 15 cluster, pg_purchase built and installed, the bundled
# model loaded, N synthetic customers (default 200,000) scored with CREATE TABLE AS, a summary.
#   bash scripts/demo.sh [ROWS]
. "$(dirname "$0")/lib.sh"
ROWS="${1:-200000}"
install_all
install_extension
start_cluster /tmp/pg_purchase_demo "max_parallel_workers_per_gather = 2"
log "loading the bundled model and generating $ROWS synthetic customers"
psql -qX -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_purchase" \
  -c "SELECT load_purchase_model(pg_read_file('$(server_readable)/artifacts/purchase_model.json')::jsonb)" >/dev/null
"$PY" "$ROOT/tools/synthetic_customers.py" --artifact "$ROOT/artifacts/purchase_model.json" --rows "$ROWS" \
  | psql -qX -v ON_ERROR_STOP=1 >/dev/null
log "scoring"
psql -X -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
SELECT clock_timestamp() AS started \gset
CREATE TABLE ad_targets AS
  SELECT c.customer_id, s.* FROM customers c CROSS JOIN LATERAL score_purchase(c) s;
SELECT round(extract(epoch FROM clock_timestamp() - :'started'::timestamptz)::numeric, 3) AS seconds \gset
\echo
\echo '== pg_purchase demo summary =='
SELECT count(*) AS rows_scored,
       sum(business_outcome) AS positives,
       round(100.0 * avg(business_outcome), 2) AS positive_pct,
       round(avg(p_hat)::numeric, 4) AS mean_p_hat,
       min(model) || ' v' || min(version) AS model,
       :seconds AS seconds,
       round(count(*) / greatest(:seconds, 0.001)) AS rows_per_second
  FROM ad_targets;
\echo 'top 10 customers to target:'
SELECT customer_id, round(p_hat::numeric, 6) AS p_hat, business_outcome
  FROM ad_targets ORDER BY p_hat DESC, customer_id LIMIT 10;
SQL
