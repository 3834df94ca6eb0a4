-- Training inside the database (README "Retraining"): train a new version from a table, compare
-- its metrics, activate it, roll back; and what bad training data gets.
\ir setup/common.sql
SET client_min_messages = warning;  -- the progress NOTICEs carry timings
CREATE TABLE train_src AS
SELECT g AS id,
       (g * 0.618033988749895 - floor(g * 0.618033988749895)
          < 1 / (1 + exp(-(1.5 * cos(g * 0.7) - 0.8 * coalesce(b, 0) + CASE WHEN g % 3 = 0 THEN 1 ELSE -0.5 END))))::int AS bought,
       cos(g * 0.7) AS a,
       b,
       CASE WHEN v < 0 THEN '($' || to_char(-v, 'FM999,990.00') || ')' ELSE '$' || to_char(v, 'FM999,990.00') || ' ' END AS spend,
       to_char(abs(sin(g * 0.37)) * 100, 'FM990.00') || '%' AS share,
       CASE g % 3 WHEN 0 THEN 'north' WHEN 1 THEN 'south' ELSE 'east' END AS region,
       g % 5 = 0 AS holdout
  FROM generate_series(1, 2000) g,
       LATERAL (SELECT CASE WHEN g % 11 = 0 THEN NULL ELSE sin(g * 1.3) END AS b,
                       round((cos(g * 2.1) * 1500)::numeric, 2) AS v) x;

-- 1. train: a new version, not active
SELECT train_purchase_model('train_src', 'bought', 'regress',
       '{"exclude": ["id"], "validation_column": "holdout", "top_k": 4}');
SELECT version, active, features, columns FROM purchase_models() WHERE name = 'regress';
SELECT i->>'column' AS column_name, i->>'kind' AS kind
  FROM jsonb_array_elements(export_purchase_model('regress', 1)->'inputs') i;

-- 2. compare: metrics, the L1 ranking, coefficients with standard errors
SELECT round((metrics->>'validation_auc')::numeric, 6) AS validation_auc,
       round((metrics->>'log_likelihood')::numeric, 6) AS log_likelihood,
       metrics->'iterations' AS iterations, metrics->'training_rows' AS training_rows,
       metrics->'validation_rows' AS validation_rows
  FROM purchase_models() WHERE name = 'regress';
SELECT r->>'rank' AS rank, r->>'feature' AS feature,
       round((r->>'l1_coefficient')::numeric, 6) AS l1_coefficient, r->>'selected' AS selected
  FROM purchase_models() m, jsonb_array_elements(m.metrics->'ranking') r WHERE m.name = 'regress';
SELECT feature, round(coefficient::numeric, 6) AS coefficient, round(std_error::numeric, 6) AS std_error
  FROM purchase_model_weights('regress', 1) ORDER BY rank;

-- 3. activate and score; a second training activated at once; 4. roll back
SELECT activate_purchase_model('regress', 1);
SELECT round(avg(predict_purchase(t, 'regress'))::numeric, 6) AS mean_p_hat FROM train_src t WHERE holdout;
SELECT train_purchase_model('train_src', 'bought', 'regress',
       '{"exclude": ["id"], "validation_column": "holdout", "top_k": 2, "activate": true}');
SELECT version, active, features FROM purchase_models() WHERE name = 'regress' ORDER BY version;
SELECT activate_purchase_model('regress', 1);
SELECT version, active FROM purchase_models() WHERE name = 'regress' ORDER BY version;

-- Bad training data and options: each an error naming the problem, nothing stored
SELECT train_purchase_model('train_src', 'nope', 'regress');
SELECT train_purchase_model('train_src', 'bought', 'regress', '{"exclude": ["id"], "top_k": 0}');
SELECT train_purchase_model('train_src', 'bought', 'regress', '{"exclude": ["id"], "kinds": {"region": "date"}}');
SELECT train_purchase_model('train_src', 'bought', 'regress', '{"exclude": ["id"]}');
SELECT train_purchase_model('train_src', 'bought', 'regress', '{"exclude": ["id", "holdout"], "max_rows": 100}');
SELECT train_purchase_model('train_src', 'bought', 'regress', '{"exclude": ["id", "holdout"], "kinds": {"region": "number"}}');
SELECT train_purchase_model('train_src', 'region', 'regress', '{"exclude": ["id", "holdout"]}');
SELECT train_purchase_model('train_src', 'bought', 'regress', '{"exclude": ["id", "holdout"], "validation_column": "a"}');
UPDATE train_src SET bought = 3 WHERE id = 7;
SELECT train_purchase_model('train_src', 'bought', 'regress', '{"exclude": ["id", "holdout"]}');
SELECT count(*) AS versions FROM purchase_models() WHERE name = 'regress';  -- still 2
SELECT drop_purchase_model('regress');
DROP TABLE train_src;
