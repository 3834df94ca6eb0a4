-- Explanations by raw column and of tree models (README "Explain, weights, evaluate, drift"):
-- explain_purchase(..., by_column => true) on the bundled logistic model sums each raw column's
-- features (its one-hot levels) into one row; a one-tree LightGBM model whose Shapley values are
-- computed by hand; what purchase_model_weights gives for a tree model; the refusals.
\ir setup/common.sql
\ir setup/customers.sql

-- 1. by_column on the logistic model: one row per raw column the model reads (and the intercept
-- when it is not zero; the bundled model's is), each the sum of that column's features (x5, x31,
-- x81: one-hot levels); model_input and coefficient only where a column has a single feature.
-- The rows still add up to logit(p_hat).
SELECT feature, raw_value, round(model_input::numeric, 6) AS model_input,
       round(coefficient::numeric, 6) AS coefficient, round(contribution::numeric, 9) AS contribution
  FROM customers c, explain_purchase(c, by_column => true) WHERE customer_id = 2;
SELECT count(*) AS columns_rows,
       (SELECT count(DISTINCT COALESCE(input_column, feature)) FROM purchase_model_weights()) AS raw_columns,
       abs(sum(contribution) - ln(p / (1 - p))) < 1e-12 AS sums_to_logit
  FROM customers c, explain_purchase(c, by_column => true), predict_purchase(c) p
 WHERE customer_id = 2 GROUP BY p;
-- Every column's row equals the sum of its features' rows, on every customer (NULLs included).
WITH per_feature AS (
  SELECT c.customer_id, COALESCE(w.input_column, e.feature) AS col, sum(e.contribution) AS s
    FROM customers c, explain_purchase(c) e LEFT JOIN purchase_model_weights() w USING (feature)
   GROUP BY 1, 2),
     per_column AS (
  SELECT c.customer_id, e.feature AS col, e.contribution AS s
    FROM customers c, explain_purchase(c, by_column => true) e)
SELECT count(*) AS rows_compared, count(*) FILTER (WHERE abs(f.s - b.s) > 1e-12) AS differ
  FROM per_feature f FULL JOIN per_column b USING (customer_id, col);
-- top_k with by_column: the strongest columns.
SELECT feature, round(contribution::numeric, 6) AS contribution
  FROM customers c, explain_purchase(c, top_k => 3, by_column => true) WHERE customer_id = 1;
-- A NULL row explains to nothing, as it scores to NULL.
SELECT count(*) AS rows_for_null FROM explain_purchase(NULL::customers, by_column => true);

-- 2. A tree model explained by hand. One LightGBM tree: spend <= 100 (cover 10) -> -1 (cover 4),
-- else plan_code <= 0.5 (cover 6) -> 0.5 (cover 2) or 2.0 (cover 4); plan "free"/"pro" coded 0/1.
-- Expected value (4*-1 + 2*0.5 + 4*2)/10 = 0.5. For spend $150, plan pro (leaf 2.0):
-- v({spend}) = (2*0.5 + 4*2)/6 = 1.5, v({plan}) = (4*-1 + 6*2)/10 = 0.8, so
-- phi(spend) = ((1.5-0.5) + (2.0-0.8))/2 = 1.1 and phi(plan) = ((0.8-0.5) + (2.0-1.5))/2 = 0.4.
SELECT load_purchase_model('{"format":"pg_purchase.tree_pipeline","format_version":1,"inputs":[{"column":"spend","kind":"money","feature":"spend"},{"column":"plan","kind":"category","feature":"plan_code","categories":["free","pro"],"unknown":"missing"}],"model":{"library":"lightgbm","features":["spend","plan_code"],"baseline":0.0,"input_dtype":"float64","trees":[{"left":[1,-1,3,-1,-1],"right":[2,-1,4,-1,-1],"feature":[0,0,1,0,0],"threshold":[100.0,0.0,0.5,0.0,0.0],"value":[0.0,-1.0,0.0,0.5,2.0],"default_left":[true,false,false,false,false],"missing_type":["NaN","None","NaN","None","None"],"cover":[10.0,4.0,6.0,2.0,4.0],"gain":[3.0,0.0,1.5,0.0,0.0]}]},"threshold":0.5,"checks":[{"row":{"spend":"$150.00","plan":"pro"},"p_hat":0.8807970779778823},{"row":{"spend":"$50.00","plan":"pro"},"p_hat":0.2689414213699951}],"sha256":"b4916a6a2f29fde154a5cf67ba717bb86a2723ed8e372a1e4c9d25af502926b5"}'::jsonb, 'tiny_tree') AS version;
CREATE TABLE shoppers (id int, spend text, plan text);
INSERT INTO shoppers VALUES (1, '$150.00', 'pro'), (2, '$50.00', 'pro'), (3, NULL, 'pro'), (4, '$150.00', 'gold');
SELECT s.id, e.feature, e.raw_value, e.model_input, e.coefficient, round(e.contribution::numeric, 12) AS contribution
  FROM shoppers s, explain_purchase(s, 'tiny_tree') e ORDER BY s.id, e.feature;
-- The rows add up to the logit of p_hat on every row (a missing spend follows the default side,
-- an unknown plan is missing).
SELECT id, round(total::numeric, 12) AS total, abs(total - ln(p / (1 - p))) < 1e-9 AS sums_to_logit
  FROM (SELECT s.id, predict_purchase(s, 'tiny_tree') AS p,
               (SELECT sum(e.contribution) FROM explain_purchase(s, 'tiny_tree') e) AS total
          FROM shoppers s) x ORDER BY id;
-- by_column names the raw column (plan, not plan_code).
SELECT feature, raw_value, model_input, round(contribution::numeric, 12) AS contribution
  FROM shoppers s, explain_purchase(s, 'tiny_tree', by_column => true) WHERE s.id = 1;
-- Importance: mean |contribution| over the artifact's two reference rows (spend $150 and $50,
-- plan pro: (1.1 + 1.65)/2 and (0.4 + 0.15)/2), the library's split gain and split count.
SELECT feature, input_column, coefficient, odds_ratio, rank, round(importance::numeric, 12) AS importance, gain, splits
  FROM purchase_model_weights('tiny_tree') ORDER BY rank;

-- 3. Refusals, each with its SQLSTATE and a hint.
SELECT error_of($$SELECT * FROM customers c, explain_purchase(c, by_column => NULL)$$);
SELECT error_of($$SELECT * FROM customers c, explain_purchase(c, top_k => -1, by_column => true)$$);
-- A tree artifact with split gains but no node covers: weights rank by gain, no importance;
-- no explanation (TreeSHAP needs the covers).
SELECT load_purchase_model('{"format":"pg_purchase.tree_pipeline","format_version":1,"inputs":[{"column":"spend","kind":"money","feature":"spend"},{"column":"plan","kind":"category","feature":"plan_code","categories":["free","pro"],"unknown":"missing"}],"model":{"library":"lightgbm","features":["spend","plan_code"],"baseline":0.0,"input_dtype":"float64","trees":[{"left":[1,-1,3,-1,-1],"right":[2,-1,4,-1,-1],"feature":[0,0,1,0,0],"threshold":[100.0,0.0,0.5,0.0,0.0],"value":[0.0,-1.0,0.0,0.5,2.0],"default_left":[true,false,false,false,false],"missing_type":["NaN","None","NaN","None","None"],"gain":[3.0,0.0,1.5,0.0,0.0]}]},"threshold":0.5,"checks":[{"row":{"spend":"$150.00","plan":"pro"},"p_hat":0.8807970779778823},{"row":{"spend":"$50.00","plan":"pro"},"p_hat":0.2689414213699951}],"sha256":"aa26f6a8a3509ab92c5f2bb54f4b950f3353e1c0cbd78302a049d8fe0d2381da"}'::jsonb, 'gains_only') AS version;
SELECT feature, coefficient, rank, importance, gain, splits FROM purchase_model_weights('gains_only') ORDER BY rank;
SELECT error_of($$SELECT * FROM shoppers s, explain_purchase(s, 'gains_only')$$);
-- Neither covers nor gains: nothing to list.
SELECT load_purchase_model('{"format":"pg_purchase.tree_pipeline","format_version":1,"inputs":[{"column":"spend","kind":"money","feature":"spend"},{"column":"plan","kind":"category","feature":"plan_code","categories":["free","pro"],"unknown":"missing"}],"model":{"library":"lightgbm","features":["spend","plan_code"],"baseline":0.0,"input_dtype":"float64","trees":[{"left":[1,-1,3,-1,-1],"right":[2,-1,4,-1,-1],"feature":[0,0,1,0,0],"threshold":[100.0,0.0,0.5,0.0,0.0],"value":[0.0,-1.0,0.0,0.5,2.0],"default_left":[true,false,false,false,false],"missing_type":["NaN","None","NaN","None","None"]}]},"threshold":0.5,"checks":[{"row":{"spend":"$150.00","plan":"pro"},"p_hat":0.8807970779778823},{"row":{"spend":"$50.00","plan":"pro"},"p_hat":0.2689414213699951}],"sha256":"93af4e852aab9d0ad95d43d67d6dfb4668f94b353d4d64aeaa5adb7453e000db"}'::jsonb, 'bare_tree') AS version;
SELECT error_of($$SELECT * FROM purchase_model_weights('bare_tree')$$);
SELECT error_of($$SELECT * FROM shoppers s, explain_purchase(s, 'bare_tree', by_column => true)$$);
