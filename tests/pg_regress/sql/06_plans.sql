-- Plans stay correct when the model is replaced after they were made.
-- A second model that reads other columns (x99, x82) than the bundled one.
\ir setup/common.sql
\ir setup/customers.sql
\ir setup/many.sql
\getenv artifact_path PG_PURCHASE_ARTIFACT
CREATE TABLE other_model AS
SELECT jsonb_set(jsonb_set(pg_read_file(:'artifact_path')::jsonb - 'sha256' - 'checks' #- '{model,std_errors}',
         '{model,features}', '["x99", "x82_Male"]'), '{model,coefficients}', '[0.5, -0.3]') AS doc;
CREATE FUNCTION other_model_by_hand(c customers) RETURNS float8 LANGUAGE sql AS $$
  WITH st AS (SELECT (doc->'imputer'->'statistics'->>(i - 1)::int)::float8 AS m,
                     (doc->'scaler'->'scale'->>(i - 1)::int)::float8 AS s
                FROM other_model, jsonb_array_elements_text(doc->'imputer'->'columns') WITH ORDINALITY col(name, i)
               WHERE col.name = 'x99')
  SELECT 1 / (1 + exp(-(0.5 * (coalesce(c.x99, m) - m) / s - 0.3 * coalesce((c.x82 = 'Male')::int, 0)))) FROM st $$;

-- A prepared statement and a PL/pgSQL function, both planned (and rewritten) for version 1.
PREPARE scores AS SELECT customer_id, predict_purchase(c) AS p FROM customers c ORDER BY 1;
CREATE FUNCTION scores_now() RETURNS TABLE (customer_id int, p float8) LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY SELECT c.customer_id, predict_purchase(c) FROM customers c ORDER BY 1; END $$;
CREATE TEMP TABLE v1_scores AS EXECUTE scores;
SELECT count(*) FILTER (WHERE f.p = v.p) AS plpgsql_on_v1 FROM scores_now() f JOIN v1_scores v USING (customer_id);
-- Version 2 of 'default' reads x99 and x82: the next executions must use it, correctly.
SELECT load_purchase_model(doc, allow_unchecked => true) AS version FROM other_model;
CREATE TEMP TABLE v2_scores AS EXECUTE scores;
SELECT c.customer_id, abs(s.p - other_model_by_hand(c)) < 1e-12 AS prepared_uses_v2,
       abs(f.p - other_model_by_hand(c)) < 1e-12 AS plpgsql_uses_v2
  FROM customers c JOIN v2_scores s USING (customer_id) JOIN scores_now() f USING (customer_id)
 ORDER BY 1;
-- Back to the bundled model (version 1 made active again: the same artifact is not stored twice):
-- both plans follow again.
SELECT load_purchase_model(pg_read_file(:'artifact_path')::jsonb) AS version;
CREATE TEMP TABLE v3_scores AS EXECUTE scores;
SELECT count(*) FILTER (WHERE f.p = v.p AND s.p = v.p) AS back_on_bundled
  FROM scores_now() f JOIN v1_scores v USING (customer_id) JOIN v3_scores s USING (customer_id);
DEALLOCATE scores;

-- Parallel query: scoring and CREATE TABLE AS batch scoring get parallel plans.
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT sum(purchase_outcome(c)) FROM many c;
SELECT sum(purchase_outcome(c)) AS positives_parallel FROM many c;
EXPLAIN (COSTS OFF) CREATE TABLE targets AS
  SELECT c.customer_id, s.* FROM many c CROSS JOIN LATERAL score_purchase(c) s WHERE s.business_outcome = 1;
CREATE TABLE targets AS
  SELECT c.customer_id, s.* FROM many c CROSS JOIN LATERAL score_purchase(c) s WHERE s.business_outcome = 1;
RESET max_parallel_workers_per_gather;
SELECT count(*) AS targets, (SELECT sum(purchase_outcome(c)) FROM many c) AS positives_serial FROM targets;
