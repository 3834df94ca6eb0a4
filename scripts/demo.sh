#!/usr/bin/env bash
# The main job: a throwaway PostgreSQL 15 cluster, pg_purchase built and installed, the bundled
# model loaded, N synthetic customers (default 200,000) scored into the list of customers to
# target, a summary. The build is quiet unless it fails (its log: target/pgrx-install.log).
#   bash scripts/demo.sh [ROWS] [--keep]     (--keep leaves the cluster running)
. "$(dirname "$0")/lib.sh"
ROWS=200000 KEEP=
for arg in "$@"; do
  case "$arg" in
    --keep) KEEP=1 ;;
    *[!0-9]*|'') echo "usage: bash scripts/demo.sh [ROWS] [--keep]" >&2; exit 2 ;;
    *) ROWS="$arg" ;;
  esac
done
install_all
install_extension
DEMO_DIR="${DEMO_DIR:-/tmp/pg_purchase_demo}"  # another directory runs a second demo beside it
start_cluster "$DEMO_DIR" "max_parallel_workers_per_gather = 2"
if [ -n "$KEEP" ]; then trap - EXIT; fi
log "loading the bundled model and generating $ROWS synthetic customers"
psql -qX -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_purchase" \
  -c "SELECT load_purchase_model(pg_read_file('$(server_readable)/artifacts/purchase_model.json')::jsonb)" >/dev/null
"$PY" "$ROOT/tools/synthetic_customers.py" --artifact "$ROOT/artifacts/purchase_model.json" --rows "$ROWS" \
  | PGOPTIONS="-c client_min_messages=warning" psql -qX -v ON_ERROR_STOP=1 >/dev/null
log "scoring"
psql -qX -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
SELECT clock_timestamp() AS started \gset
-- Score every customer (in a select list, so large tables use parallel workers) and keep the
-- ones to target: business_outcome = 1, i.e. p_hat above the model's threshold.
CREATE TABLE scored AS
  SELECT customer_id, (s).p_hat, (s).business_outcome, (s).model, (s).version
    FROM (SELECT c.customer_id, score_purchase(c) AS s FROM customers c OFFSET 0) x;
CREATE TABLE customers_to_target AS
  SELECT customer_id, p_hat, model, version FROM scored WHERE business_outcome = 1;
SELECT round(extract(epoch FROM clock_timestamp() - :'started'::timestamptz)::numeric, 3) AS seconds \gset
\echo
\echo '== pg_purchase demo summary =='
SELECT count(*) AS customers_scored,
       sum(business_outcome) AS to_target,
       round(100.0 * avg(business_outcome), 2) AS to_target_pct,
       round(avg(p_hat)::numeric, 4) AS mean_p_hat,
       min(model) || ' v' || min(version) AS model,
       :seconds AS seconds,
       round(count(*) / greatest(:seconds, 0.001)) AS rows_per_second
  FROM scored;
\echo 'top 10 customers to target (table customers_to_target):'
SELECT customer_id, round(p_hat::numeric, 6) AS p_hat
  FROM customers_to_target ORDER BY p_hat DESC, customer_id LIMIT 10;
\echo 'why the top customer was targeted (explain_purchase: raw value, model input, contribution to the logit):'
SELECT e.feature, e.raw_value, round(e.model_input::numeric, 4) AS model_input,
       round(e.contribution::numeric, 4) AS contribution
  FROM customers c, explain_purchase(c, top_k => 6) e
 WHERE c.customer_id = (SELECT customer_id FROM customers_to_target ORDER BY p_hat DESC, customer_id LIMIT 1);
-- Outcomes drawn from the model itself (seeded), so the lift chart shows what a model this good
-- buys: the share of buyers in each tenth of the list, best-scored first.
SELECT setseed(0.26) \g /dev/null
ALTER TABLE customers ADD COLUMN bought boolean;
UPDATE customers c SET bought = random() < predict_purchase(c);
SELECT evaluate_purchase_model('customers', 'bought') AS e \gset
\echo 'decile lift on outcomes drawn from the model (evaluate_purchase_model):'
SELECT (d->>'decile')::int AS decile,
       round((d->>'max_p_hat')::numeric, 3) AS top_p_hat,
       round(100 * (d->>'captured')::numeric, 1) AS buyers_pct,
       round((d->>'lift')::numeric, 2) AS lift,
       repeat('#', round(20 * (d->>'lift')::numeric)::int) AS chart
  FROM jsonb_array_elements((:'e'::jsonb)->'lift') d;
SELECT round(((:'e'::jsonb)->>'auc')::numeric, 4) AS auc,
       round(((:'e'::jsonb)->>'precision')::numeric, 4) AS precision_at_threshold,
       round(((:'e'::jsonb)->>'recall')::numeric, 4) AS recall_at_threshold;
-- Whom to contact by money (README "Choosing whom to contact"): for example figures, a purchase
-- earning 40 and a contact costing 9, the most profitable threshold against today's 0.75.
\echo 'the most profitable threshold if a purchase earns 40 and a contact costs 9 (optimize_purchase_threshold):'
SELECT round((a->>'threshold')::numeric, 4) AS best_threshold, round((a->>'profit')::numeric) AS profit,
       a->'contacts' AS contacts, round((a->>'profit_at_model_threshold')::numeric) AS profit_at_0_75,
       a->'contacts_at_model_threshold' AS contacts_at_0_75
  FROM optimize_purchase_threshold('customers', 'bought', value_per_purchase => 40, cost_per_contact => 9) a;
-- The worked example of README "Choosing whom to contact": calibrate on a held-out fifth, choose
-- the threshold by money, make it the rule (a new version), list a budget, chart the curve.
CREATE TABLE holdout AS SELECT * FROM customers WHERE customer_id % 5 = 0;
SELECT calibrate_purchase_model('holdout', 'bought', method => 'sigmoid', activate => true) AS calibrated \gset
\echo 'Platt calibration on the held-out fifth (calibrate_purchase_model), active as version' :calibrated
SELECT c->>'method' AS method, round((c->>'a')::numeric, 4) AS a, round((c->>'b')::numeric, 4) AS b, c->'rows' AS rows
  FROM (SELECT export_purchase_model('default', :calibrated)->'calibration' AS c) x;
SELECT optimize_purchase_threshold('customers', 'bought', value_per_purchase => 40, cost_per_contact => 9) AS o \gset
SELECT round(((:'o'::jsonb)->>'threshold')::numeric, 4) AS best_threshold, round(((:'o'::jsonb)->>'profit')::numeric) AS profit,
       (:'o'::jsonb)->'contacts' AS contacts, round(((:'o'::jsonb)->>'profit_at_model_threshold')::numeric) AS profit_at_0_75,
       (:'o'::jsonb)->'contacts_at_model_threshold' AS contacts_at_0_75, (:'o'::jsonb)->'break_even_p' AS break_even_p;
\echo 'profit of contacting p_hat > threshold (the curve of optimize_purchase_threshold, every 5th point):'
SELECT round((c->>'threshold')::numeric, 2) AS threshold, (c->>'contacts')::bigint AS contacts,
       round((c->>'profit')::numeric) AS profit,
       repeat('#', greatest(0, round(40 * (c->>'profit')::numeric / ((:'o'::jsonb)->>'profit')::numeric))::int) AS chart
  FROM jsonb_array_elements((:'o'::jsonb)->'curve') WITH ORDINALITY e(c, i) WHERE i % 5 = 1;
SELECT set_purchase_threshold('default', ((:'o'::jsonb)->>'threshold')::float8) AS rule_version \gset
\echo 'the profitable threshold is the rule now (set_purchase_threshold), version' :rule_version
\echo 'this week the budget buys 5000 contacts (refresh_purchase_targets ... budget => 5000):'
CALL refresh_purchase_targets('customers', 'ad_targets', budget => 5000) \g /dev/null
SELECT count(*) AS listed, round(min(p_hat)::numeric, 4) AS lowest_p_hat_listed, round(max(p_hat)::numeric, 4) AS highest_p_hat
  FROM ad_targets;
SQL
cat <<EOF

What to try next:
  bash scripts/demo.sh $ROWS --keep      keep the cluster running and print how to connect; then:
  SELECT * FROM purchase_models();                                  the loaded model versions
  SELECT predict_purchase(c) FROM customers c LIMIT 5;              score rows in place
  SELECT purchase_features(c) FROM customers c LIMIT 1;             what the model saw
  CALL refresh_purchase_targets('customers', 'ad_targets');        the nightly refresh (README)
  SELECT * FROM explain_purchase((SELECT c FROM customers c LIMIT 1), top_k => 5);   why a score
  SELECT * FROM purchase_drift('customers') WHERE flagged;          is today's data still like training?
  SELECT optimize_purchase_threshold('customers', 'bought', value_per_purchase => 40, cost_per_contact => 9);   whom to contact
EOF
if [ -n "$KEEP" ]; then
  echo
  echo "The cluster keeps running: psql -h $PGHOST -p $PGPORT -U postgres"
  echo "Stop it with: runuser -u postgres -- $PG_BIN/pg_ctl -D $DEMO_DIR/data stop"
fi
