-- Checking a staged version before it goes live (issue 22 items 2 and 6): every scoring and
-- insight function takes version => n (NULL: the active version), on the planner's rewrite, the
-- generic row path and the JSON path alike, so two versions are compared in one statement; bad
-- rows in evaluate and drift are named by their key or skipped and counted.
\ir setup/common.sql
\ir setup/many.sql
SET client_min_messages = warning;  -- training's progress NOTICEs carry timings
-- Outcomes drawn from version 1's scores, and a column version 1 does not read.
CREATE TABLE labelled AS
SELECT m.*, ((m.customer_id * 0.618033988749895) % 1 < predict_purchase(m))::int AS bought,
       (m.customer_id % 7) / 7.0 AS extra
  FROM many m;
-- Version 2 of 'default', staged (training does not activate): it reads extra, which version 1
-- never had, and not x5 or x12.
SELECT train_purchase_model('labelled', 'bought', 'default',
       '{"exclude": ["customer_id", "x5", "x12"], "validation_fraction": 0}') AS staged;
RESET client_min_messages;
SELECT version, active, columns FROM purchase_models() WHERE name = 'default' ORDER BY version;

-- 1. Parity: version 2 scores its own reference rows (the artifact's checks) on the JSON path,
-- and the rewrite, the generic row path and the JSON path agree on every row.
SELECT count(*) AS checks,
       max(abs((predict_purchase_json(c->'row', 'default', false, version => 2)->0->>'p_hat')::float8
               - (c->>'p_hat')::float8)) < 1e-12 AS json_matches_reference
  FROM jsonb_array_elements((SELECT artifact->'checks' FROM purchase.model_versions
                              WHERE name = 'default' AND version = 2)) c;
CREATE TEMP TABLE pinned AS
SELECT l.customer_id,
       predict_purchase(l, 'default', version => 2) AS rewritten,
       (SELECT predict_purchase(s, 'default', version => 2)
          FROM (SELECT * FROM labelled x WHERE x.customer_id = l.customer_id OFFSET 0) s) AS generic,
       (predict_purchase_json(to_jsonb(l), 'default', false, version => 2)->0->>'p_hat')::float8 AS json,
       predict_purchase(l) AS active
  FROM labelled l WHERE l.customer_id <= 500;
SELECT count(*) AS rows, count(*) FILTER (WHERE rewritten = generic AND rewritten = json) AS all_paths_equal,
       count(*) FILTER (WHERE rewritten <> active) AS differ_from_active
  FROM pinned;
-- The rewrite passes version 2's columns to the pinned columns function; version => NULL is the
-- active one.
EXPLAIN (COSTS OFF, VERBOSE) SELECT predict_purchase(l, 'default', version => 2) FROM labelled l;
EXPLAIN (COSTS OFF, VERBOSE) SELECT predict_purchase(l, 'default', version => NULL) FROM labelled l;
SELECT (score_purchase(l, 'default', version => 2)).version AS pinned_version,
       (score_purchase(l, 'default', version => 1)).version AS version_1,
       (score_purchase(l)).version AS active_version,
       purchase_outcome(l, 'default', version => 2) = (predict_purchase(l, 'default', version => 2) > 0.75)::int
         AS outcome_uses_version_2_threshold,
       purchase_features(l, 'default', version => 2) ? 'extra' AS features_of_version_2
  FROM labelled l WHERE customer_id = 42;

-- 2. A/B in one statement: each call site keeps its own version.
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a = p.active) AS version_1_is_active,
       count(*) FILTER (WHERE b = p.rewritten) AS version_2_as_pinned
  FROM (SELECT customer_id, predict_purchase(l, 'default', version => 1) AS a,
               predict_purchase(l, 'default', version => 2) AS b
          FROM labelled l WHERE customer_id <= 500) ab JOIN pinned p USING (customer_id);
-- A pin that changes from row to row (not a plan constant) takes the generic path and never
-- answers with the other version.
SELECT count(*) FILTER (WHERE predict_purchase(l, 'default', version => 1 + (customer_id % 2))
                             = CASE WHEN customer_id % 2 = 0 THEN p.active ELSE p.rewritten END) AS per_row_pin_right
  FROM labelled l JOIN pinned p USING (customer_id);
-- The same through a prepared statement and a PL/pgSQL variable.
PREPARE by_version(int) AS SELECT predict_purchase(l, 'default', version => $1) FROM labelled l WHERE customer_id = 7;
EXECUTE by_version(2); EXECUTE by_version(1); EXECUTE by_version(NULL);
SELECT rewritten AS v2, active AS v1 FROM pinned WHERE customer_id = 7;
DO $$
DECLARE v int; p float8; expected float8;
BEGIN
  FOREACH v IN ARRAY ARRAY[2, 1, 2] LOOP
    SELECT predict_purchase(l, 'default', version => v) INTO p FROM labelled l WHERE customer_id = 7;
    SELECT CASE v WHEN 2 THEN rewritten ELSE active END INTO expected FROM pinned WHERE customer_id = 7;
    IF p IS DISTINCT FROM expected THEN
      RAISE EXCEPTION 'version % scored % instead of %', v, p, expected;
    END IF;
  END LOOP;
END $$;

-- 3. Unknown versions, and NULL
SELECT error_of($$SELECT predict_purchase(l, 'default', version => 9) FROM labelled l LIMIT 1$$);
SELECT error_of($$SELECT predict_purchase_json('{}', 'default', false, version => 9)$$);
SELECT error_of($$SELECT evaluate_purchase_model('labelled', 'bought', version => 9)$$);
SELECT error_of($$SELECT predict_purchase(l, 'nosuch', version => 1) FROM labelled l LIMIT 1$$);

-- 4. Insights of the staged version: explain adds up to its logit, evaluate and drift report it.
SELECT round(sum(contribution)::numeric, 10) = round(ln(p / (1 - p))::numeric, 10) AS explain_adds_up
  FROM labelled l, explain_purchase(l, 'default', version => 2),
       LATERAL (SELECT predict_purchase(l, 'default', version => 2) AS p) x
 WHERE l.customer_id = 42 GROUP BY p;
SELECT e->'version' AS version, e->'rows' AS rows, e->'rows_skipped' AS rows_skipped,
       round((e->>'auc')::numeric, 6) = round((SELECT (evaluate_purchase_model('labelled', 'bought', version => 2))->>'auc')::numeric, 6) AS same
  FROM evaluate_purchase_model('labelled', 'bought', 'default', 2) e;
SELECT (evaluate_purchase_model('labelled', 'bought'))->'version' AS active_evaluated;
SELECT count(*) AS drift_columns, bool_or(column_name = 'extra') AS reads_extra, max(rows_skipped) AS rows_skipped
  FROM purchase_drift('labelled', version => 2);
SELECT count(*) AS weights_of_version_2 FROM purchase_model_weights('default', 2) WHERE input_column = 'extra';

-- 5. Bad rows in evaluate and drift: named by key_column (customer_id when the source has it),
-- or skipped and counted.
CREATE TABLE messy AS SELECT * FROM labelled WHERE customer_id <= 1000;
ALTER TABLE messy ALTER COLUMN x44 TYPE text, ADD COLUMN lead_code text;
UPDATE messy SET lead_code = 'L-' || customer_id;
UPDATE messy SET x44 = 'n/a' WHERE customer_id = 321;
UPDATE messy SET bought = 7 WHERE customer_id = 654;
SELECT error_of($$SELECT evaluate_purchase_model('messy', 'bought')$$);
SELECT error_of($$SELECT evaluate_purchase_model('messy', 'bought', key_column => 'lead_code')$$);
SELECT error_of($$SELECT * FROM purchase_drift('messy')$$);
SELECT e->'rows' AS rows, e->'rows_skipped' AS rows_skipped
  FROM evaluate_purchase_model('messy', 'bought', on_bad_row => 'skip') e;
CREATE TABLE clean AS SELECT * FROM messy WHERE customer_id NOT IN (321, 654);
SELECT (evaluate_purchase_model('messy', 'bought', on_bad_row => 'skip')) - 'rows_skipped'
     = (evaluate_purchase_model('clean', 'bought')) - 'rows_skipped' AS skip_equals_clean_table;
-- drift reads no outcome: only row 321 is bad for it.
CREATE TABLE without_321 AS SELECT * FROM messy WHERE customer_id <> 321;
SELECT max(d.rows_skipped) AS drift_rows_skipped,
       bool_and(d.live_mean IS NOT DISTINCT FROM c.live_mean AND d.psi IS NOT DISTINCT FROM c.psi) AS drift_equals_clean_table
  FROM purchase_drift('messy', on_bad_row => 'skip') d
  JOIN purchase_drift('without_321') c USING (column_name);
ALTER TABLE messy DROP COLUMN customer_id;
SELECT error_of($$SELECT evaluate_purchase_model('messy', 'bought')$$);
SELECT error_of($$SELECT evaluate_purchase_model('messy', 'bought', key_column => 'nope')$$);
SELECT error_of($$SELECT evaluate_purchase_model('messy', 'bought', on_bad_row => 'ignore')$$);
SELECT error_of($$SELECT * FROM purchase_drift('messy', on_bad_row => NULL)$$);

-- 6. compare_purchase_models: the live version 1 against the staged version 2 on the same rows,
-- in one pass.
CREATE TEMP TABLE ab AS
SELECT compare_purchase_models('labelled', 'bought', version_a => 1, version_b => 2,
                               value_per_purchase => 40, cost_per_contact => 1.5) AS c;
SELECT c->'rows' AS rows, c->'buyers' AS buyers, c->'a'->'model' AS a_model, c->'a'->'version' AS a_version,
       c->'b'->'version' AS b_version, c->'rows_skipped' AS skipped, c->'rows_without_outcome' AS without_outcome
  FROM ab;
-- Each side's AUC and log loss are evaluate_purchase_model's for that version.
SELECT abs((c->'a'->>'auc')::float8 - (e1->>'auc')::float8) < 1e-12 AS a_auc,
       abs((c->'b'->>'auc')::float8 - (e2->>'auc')::float8) < 1e-12 AS b_auc,
       abs((c->'a'->>'log_loss')::float8 - (e1->>'log_loss')::float8) < 1e-12 AS a_log_loss,
       abs((c->'b'->>'log_loss')::float8 - (e2->>'log_loss')::float8) < 1e-12 AS b_log_loss
  FROM ab, evaluate_purchase_model('labelled', 'bought', version => 1) e1,
       evaluate_purchase_model('labelled', 'bought', version => 2) e2;
-- Contacts, buyers, profit and agreement are what each version's outcome says row by row.
SELECT (c->'a'->>'contacts')::int = count(*) FILTER (WHERE oa = 1) AS a_contacts,
       (c->'b'->>'contacts')::int = count(*) FILTER (WHERE ob = 1) AS b_contacts,
       (c->'b'->>'buyers_reached')::int = count(*) FILTER (WHERE ob = 1 AND bought = 1) AS b_buyers,
       (c->'a'->>'profit')::float8 = 40 * count(*) FILTER (WHERE oa = 1 AND bought = 1) - 1.5 * count(*) FILTER (WHERE oa = 1) AS a_profit,
       (c->'agreement'->>'both_1')::int = count(*) FILTER (WHERE oa = 1 AND ob = 1) AS both_1,
       (c->'agreement'->>'only_a')::int = count(*) FILTER (WHERE oa = 1 AND ob = 0) AS only_a,
       (c->'agreement'->>'only_b')::int = count(*) FILTER (WHERE oa = 0 AND ob = 1) AS only_b,
       abs((c->'agreement'->>'rate')::float8 - avg((oa = ob)::int)) < 1e-12 AS rate
  FROM ab, (SELECT bought, purchase_outcome(l, 'default', version => 1) AS oa,
                   purchase_outcome(l, 'default', version => 2) AS ob FROM labelled l) o
 GROUP BY c;
-- DeLong's test (its arithmetic is checked against scipy in tests/parity/test_staged.py).
SELECT abs((c->'delong'->>'auc_difference')::float8 - ((c->'a'->>'auc')::float8 - (c->'b'->>'auc')::float8)) < 1e-15 AS difference,
       (c->'delong'->>'std_error')::float8 > 0 AS has_std_error,
       abs((c->'delong'->>'z')::float8 * (c->'delong'->>'std_error')::float8 - (c->'delong'->>'auc_difference')::float8) < 1e-12 AS z,
       (c->'delong'->>'p_value')::float8 BETWEEN 0 AND 1 AS p_value
  FROM ab;
-- A version compared with itself: equal AUCs, no test; without value and cost, no profit.
SELECT c->'delong' AS delong, c->'a'->'profit' AS profit, c->'agreement'->'rate' AS agreement
  FROM compare_purchase_models('labelled', 'bought', version_a => 2, version_b => 2) c;
SELECT error_of($$SELECT compare_purchase_models('labelled', 'bought', version_b => 9)$$);
SELECT error_of($$SELECT compare_purchase_models('labelled', 'bought', model_a => 'nosuch')$$);
SELECT error_of($$SELECT compare_purchase_models('labelled', 'bought', value_per_purchase => 40)$$);
SELECT error_of($$SELECT compare_purchase_models('labelled', 'bought', value_per_purchase => 0, cost_per_contact => 1)$$);
SELECT error_of($$SELECT compare_purchase_models('labelled', NULL)$$);
SELECT error_of($$SELECT compare_purchase_models('labelled', 'x31')$$);
-- Bad rows as in evaluate: the messy table (no key column left) skips its two bad rows.
SELECT c->'rows' AS rows, c->'rows_skipped' AS rows_skipped
  FROM compare_purchase_models('messy', 'bought', version_b => 2, on_bad_row => 'skip') c;
SELECT error_of($$SELECT compare_purchase_models('messy', 'bought', version_b => 2)$$);
