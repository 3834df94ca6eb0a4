-- Whom to contact, by money (README "Choosing whom to contact"): the most profitable threshold on
-- labelled rows, checked against a brute force over every cut-off in SQL; a threshold stored as a
-- version; bad arguments.
\ir setup/common.sql
\ir setup/many.sql
-- Outcomes drawn from the model's own scores (a fixed pseudo-random draw per row), a NULL
-- outcome every 50th row, and an integer, a boolean and a numeric form of the same outcome.
CREATE TABLE labelled AS
SELECT m.*, CASE WHEN m.customer_id % 50 = 0 THEN NULL
                 ELSE ((m.customer_id * 0.618033988749895) % 1 < predict_purchase(m))::int END AS bought
  FROM many m;
ALTER TABLE labelled ADD COLUMN bought_bool boolean, ADD COLUMN bought_numeric numeric;
UPDATE labelled SET bought_bool = bought::boolean, bought_numeric = bought::numeric(3,1);

-- 1. The optimum and the brute force: every distinct score (and 0) as a cut-off "p_hat > t".
CREATE TEMP TABLE answer AS
SELECT optimize_purchase_threshold('labelled', 'bought', value_per_purchase => 40, cost_per_contact => 9) AS a;
SELECT a->'contacts' AS contacts, a->'buyers_reached' AS buyers_reached, round((a->>'profit')::numeric, 6) AS profit,
       round((a->>'precision')::numeric, 6) AS precision, a->'rows' AS rows, a->'buyers' AS buyers,
       a->'rows_without_outcome' AS rows_without_outcome, a->'break_even_p' AS break_even_p,
       round((a->>'profit_at_model_threshold')::numeric, 6) AS profit_at_model_threshold,
       jsonb_array_length(a->'curve') AS curve_points, a->'model' AS model, a->'version' AS version
  FROM answer;
WITH scored AS (SELECT predict_purchase(l) AS p, bought FROM labelled l WHERE bought IS NOT NULL),
     cuts AS (SELECT DISTINCT p AS t FROM scored UNION SELECT 0),
     profits AS (SELECT t, 40 * count(*) FILTER (WHERE p > t AND bought = 1) - 9 * count(*) FILTER (WHERE p > t) AS profit
                   FROM cuts, scored GROUP BY t)
SELECT max(profit) = (SELECT (a->>'profit')::float8 FROM answer) AS brute_force_agrees,
       (SELECT 40 * count(*) FILTER (WHERE bought = 1) - 9 * count(*) FROM scored
         WHERE p > (SELECT (a->>'threshold')::float8 FROM answer)) = (SELECT (a->>'profit')::float8 FROM answer)
         AS threshold_earns_the_profit
  FROM profits;
-- The curve: the profit of contacting p_hat > t at t = 0.00, 0.01, ..., 0.99.
SELECT c->>'threshold' AS threshold, c->'contacts' AS contacts, c->'buyers' AS buyers, c->'profit' AS profit
  FROM answer, jsonb_array_elements(a->'curve') WITH ORDINALITY AS e(c, i) WHERE i IN (1, 26, 51, 76, 100);
-- The same answer whatever form the outcome takes, and whatever order the rows are stored in.
SELECT optimize_purchase_threshold('labelled', 'bought_bool', value_per_purchase => 40, cost_per_contact => 9)
     = (SELECT a FROM answer) AS boolean_outcome_same,
       optimize_purchase_threshold('labelled', 'bought_numeric', value_per_purchase => 40, cost_per_contact => 9)
     = (SELECT a FROM answer) AS numeric_outcome_same;
CREATE TABLE labelled_reversed AS SELECT * FROM labelled ORDER BY customer_id DESC;
SELECT optimize_purchase_threshold('labelled_reversed', 'bought', value_per_purchase => 40, cost_per_contact => 9)
     = (SELECT a FROM answer) AS order_independent;
-- Contacts free: everyone with p_hat > 0 is worth it; contacts dearer than a purchase: nobody.
SELECT a->'contacts' AS contacts, a->'profit' AS profit
  FROM optimize_purchase_threshold('labelled', 'bought', value_per_purchase => 40, cost_per_contact => 0) a;
SELECT a->'contacts' AS contacts, a->'profit' AS profit
  FROM optimize_purchase_threshold('labelled', 'bought', value_per_purchase => 5, cost_per_contact => 6) a;

-- 2. Bad arguments: each named, nothing half done.
SELECT error_of($$SELECT optimize_purchase_threshold('labelled', 'bought', value_per_purchase => 0, cost_per_contact => 1)$$);
SELECT error_of($$SELECT optimize_purchase_threshold('labelled', 'bought', value_per_purchase => 10, cost_per_contact => -1)$$);
SELECT error_of($$SELECT optimize_purchase_threshold('labelled', 'bought', value_per_purchase => 'NaN', cost_per_contact => 1)$$);
SELECT error_of($$SELECT optimize_purchase_threshold('labelled', 'bought', cost_per_contact => 1)$$);
SELECT error_of($$SELECT optimize_purchase_threshold('labelled', 'nope', value_per_purchase => 10, cost_per_contact => 1)$$);
SELECT error_of($$SELECT optimize_purchase_threshold('labelled', 'x44', value_per_purchase => 10, cost_per_contact => 1)$$);
CREATE TABLE one_class AS SELECT * FROM labelled WHERE bought = 1;
SELECT error_of($$SELECT optimize_purchase_threshold('one_class', 'bought', value_per_purchase => 10, cost_per_contact => 1)$$);
SELECT error_of($$SELECT optimize_purchase_threshold('(SELECT 1)', 'bought', value_per_purchase => 10, cost_per_contact => 1)$$);
SELECT error_of($$SELECT optimize_purchase_threshold(NULL, 'bought', value_per_purchase => 10, cost_per_contact => 1)$$);

-- 3. set_purchase_threshold: a new version, identical but for its threshold; rollback as usual.
SELECT set_purchase_threshold('default', (SELECT round((a->>'threshold')::numeric, 4)::float8 FROM answer)) AS new_version;
SELECT version, active, threshold, features, checks, format FROM purchase_models() WHERE name = 'default' ORDER BY version;
SELECT (export_purchase_model('default', 1) - 'threshold' - 'sha256')
     = (export_purchase_model('default', 2) - 'threshold' - 'sha256') AS identical_but_threshold;
SELECT count(*) FILTER (WHERE s.version = 2) AS scored_by_v2,
       count(*) FILTER (WHERE s.business_outcome = (s.p_hat > (SELECT threshold FROM purchase_models() WHERE name = 'default' AND version = 2))::int) AS outcome_follows_threshold
  FROM labelled l CROSS JOIN LATERAL score_purchase(l) s;
SELECT activate_purchase_model('default', 1);
SELECT version, active, threshold FROM purchase_models() WHERE name = 'default' ORDER BY version;
SELECT set_purchase_threshold('default', 0.5, activate => false) AS staged;
SELECT version, active, threshold FROM purchase_models() WHERE name = 'default' ORDER BY version;
SELECT error_of($$SELECT set_purchase_threshold('default', 1)$$);
SELECT error_of($$SELECT set_purchase_threshold('default', 'NaN')$$);
SELECT error_of($$SELECT set_purchase_threshold('nobody', 0.5)$$);
SELECT error_of($$SELECT set_purchase_threshold(NULL, 0.5)$$);
-- Only purchase_admin may store one; anyone may search.
DO $$ BEGIN CREATE ROLE targeting_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT SELECT ON labelled TO targeting_reader;
SET ROLE targeting_reader;
SELECT error_of($$SELECT set_purchase_threshold('default', 0.6)$$);
SELECT (optimize_purchase_threshold('labelled', 'bought', value_per_purchase => 40, cost_per_contact => 9)->>'contacts')::int > 0 AS reader_may_search;
SELECT error_of($$SELECT optimize_purchase_threshold('one_class', 'bought', value_per_purchase => 10, cost_per_contact => 1)$$);
RESET ROLE;
SELECT count(*) AS versions FROM purchase_models() WHERE name = 'default';
