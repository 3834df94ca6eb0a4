-- One rule everywhere (issue 18, items 9, 13, 14): a floating-point NaN is a missing value on
-- every path that reads a number (README "Cleaning rule"); a column that became entirely NULL
-- is flagged by purchase_drift; a feature may not take a name the JSON answers give the score.
\ir setup/common.sql
\ir setup/customers.sql

-- 1. NaN is missing. nan_rows holds each customer twice: once with NaN in a float8 and a
-- numeric column the model reads (x44, x12), once with NULL there.
CREATE TABLE nan_rows AS
SELECT customer_id, nan, x5, CASE WHEN nan THEN 'NaN'::numeric END AS x12, x31,
       CASE WHEN nan THEN 'NaN'::float8 END AS x44, x53, x56, x58, x62, x81, x91
  FROM customers, (VALUES (true), (false)) v(nan)
 WHERE customer_id <= 4;
-- The table row (rewritten to the columns path), a subquery's record, and purchase_features:
-- the NaN twin scores exactly as the NULL twin.
SELECT customer_id,
       bool_and(p_table IS NOT NULL) AS scored,
       count(DISTINCT p_table) AS table_scores,
       count(DISTINCT p_record) AS record_scores,
       count(DISTINCT features) AS feature_rows
  FROM (SELECT t.customer_id, predict_purchase(t) AS p_table,
               (SELECT predict_purchase(s) FROM (SELECT * FROM nan_rows u WHERE u.customer_id = t.customer_id
                                                  AND u.nan = t.nan OFFSET 0) s) AS p_record,
               purchase_features(t)::text AS features
          FROM nan_rows t) x
 GROUP BY customer_id ORDER BY customer_id;
-- A NaN in a typed record is the same missing value as NULL.
SELECT predict_purchase(ROW('monday', 'NaN', 'japan', 'NaN', NULL, 1, 0, '1', 'July', 0)::typed)
     = predict_purchase(ROW('monday', NULL, 'japan', NULL, NULL, 1, 0, '1', 'July', 0)::typed) AS same;
-- Infinity stays an error, in a float8 and in a numeric column.
SELECT error_of($$SELECT predict_purchase(t) FROM (SELECT customer_id, x5, x12, x31, 'Infinity'::float8 AS x44, x53,
                  x56, x58, x62, x81, x91 FROM customers WHERE customer_id = 1) t$$);
SELECT error_of($$SELECT predict_purchase(ROW('monday', '-Infinity', 'japan', 0.5, NULL, 1, 0, '1', 'July', 0)::typed)$$);
-- Text is cleaned by the cleaning rule, which has no NaN: the text 'NaN' is an error, in a text
-- column and in a JSON string (JSON has no NaN number; to_jsonb writes a float NaN as "NaN").
SELECT error_of($$SELECT predict_purchase(t) FROM (SELECT customer_id, x5, 'NaN'::text AS x12, x31, x44, x53,
                  x56, x58, x62, x81, x91 FROM customers WHERE customer_id = 1) t$$);
SELECT error_of($$SELECT predict_purchase_json(jsonb_build_array(to_jsonb(t) - 'customer_id' - 'nan'))
                    FROM nan_rows t WHERE nan LIMIT 1$$);
-- evaluate_purchase_model and purchase_drift read NaN as missing too (they refused it, 22P02).
ALTER TABLE nan_rows ADD COLUMN bought boolean;
UPDATE nan_rows SET bought = customer_id % 2 = 0;
SELECT e->'rows' AS rows, e->'positives' AS positives, round((e->>'auc')::numeric, 6) AS auc,
       round((e->>'log_loss')::numeric, 6) AS log_loss
  FROM evaluate_purchase_model('nan_rows', 'bought') e;
-- null_rows: the same rows in the same order (ties in the lift deciles follow it), NULL for NaN.
CREATE TABLE null_rows AS
SELECT customer_id, nan, x5, NULL::numeric AS x12, x31, NULL::float8 AS x44, x53, x56, x58, x62, x81, x91, bought
  FROM nan_rows;
SELECT evaluate_purchase_model('nan_rows', 'bought') = evaluate_purchase_model('null_rows', 'bought')
       AS nan_evaluates_as_null;
SELECT column_name, live_null_rate, round(live_mean::numeric, 6) AS live_mean
  FROM purchase_drift('nan_rows') WHERE column_name IN ('x12', 'x44') ORDER BY 1;
SELECT count(*) AS same_rows FROM (SELECT * FROM purchase_drift('nan_rows')
                                   INTERSECT SELECT * FROM purchase_drift('null_rows')) d;
-- Training: NaN is missing there too, so a model trains on a table with NaN (as on its NULL
-- twin, to the same coefficients) and can be evaluated on it.
SET client_min_messages = warning;
CREATE TABLE train_nan AS
SELECT g AS id, (g * 0.618 - floor(g * 0.618) < 1 / (1 + exp(-cos(g * 0.7))))::int AS bought,
       CASE WHEN g % 7 = 0 THEN 'NaN'::float8 ELSE cos(g * 0.7) END AS a,
       sin(g * 1.3) AS b
  FROM generate_series(1, 600) g;
CREATE TABLE train_null AS SELECT id, bought, CASE WHEN a = 'NaN' THEN NULL ELSE a END AS a, b FROM train_nan;
SELECT train_purchase_model('train_nan', 'bought', 'nan_model', '{"exclude": ["id"]}') AS nan_version,
       train_purchase_model('train_null', 'bought', 'null_model', '{"exclude": ["id"]}') AS null_version;
RESET client_min_messages;
SELECT n.feature, n.coefficient = u.coefficient AS same_coefficient
  FROM purchase_model_weights('nan_model', 1) n JOIN purchase_model_weights('null_model', 1) u USING (feature)
 ORDER BY n.rank;
SELECT activate_purchase_model('nan_model', 1);
SELECT (evaluate_purchase_model('train_nan', 'bought', 'nan_model'))->'rows' AS evaluated_rows;

-- 2. Drift: a column that became entirely NULL is flagged, though the bundled model has no
-- profile (no training null rate): scoring imputes the training mean on every row.
CREATE TABLE went_null AS SELECT * FROM customers;
UPDATE went_null SET x44 = NULL, x31 = NULL;
SELECT column_name, live_null_rate, train_null_rate, flagged
  FROM purchase_drift('went_null') WHERE column_name IN ('x31', 'x44', 'x56') ORDER BY 1;

-- 3. A feature named p_hat or business_outcome would replace the score in JSON answers: refused
-- at load (22023) naming the feature, for formats 1 and 2; nothing is stored.
CREATE TABLE reserved AS SELECT
  '{"format": "pg_purchase.logistic_pipeline", "format_version": 1,
    "inputs": [{"column": "spend", "kind": "number"}, {"column": "business", "kind": "category"}],
    "imputer": {"columns": ["spend"], "statistics": [1.0]},
    "scaler": {"columns": ["spend"], "mean": [1.0], "scale": [2.0]},
    "encoder": {"columns": [{"column": "business", "categories": ["income", "outcome"]}]},
    "model": {"features": ["spend", "business_outcome"], "coefficients": [0.5, 1.0], "intercept": 0.0},
    "threshold": 0.5}'::jsonb AS doc;
SELECT error_of($$SELECT load_purchase_model(doc, 'reserved', allow_unchecked => true) FROM reserved$$);
SELECT error_of($$SELECT load_purchase_model(jsonb_set(jsonb_set(jsonb_set(jsonb_set(doc,
         '{inputs,0,column}', '"p_hat"'), '{imputer,columns}', '["p_hat"]'), '{scaler,columns}', '["p_hat"]'),
         '{model,features,0}', '"p_hat"'), 'reserved', allow_unchecked => true) FROM reserved$$);
-- Renamed, the same model loads.
SELECT load_purchase_model(jsonb_set(jsonb_set(doc, '{encoder,columns,0,categories,1}', '"other"'),
         '{model,features,1}', '"business_other"'), 'reserved', allow_unchecked => true) AS version FROM reserved;
SELECT count(*) AS versions FROM purchase_models() WHERE name = 'reserved';
