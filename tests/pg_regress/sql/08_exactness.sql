-- Exactness: query shapes and inputs that once gave a wrong score without a word.
-- (The customers table and error_of come from setup/, like in every file.)
\ir setup/common.sql
\ir setup/customers.sql
\getenv artifact_path PG_PURCHASE_ARTIFACT
CREATE TABLE bundled8 AS SELECT pg_read_file(:'artifact_path')::jsonb - 'sha256' AS doc;
-- Model "doubled": the bundled model with every coefficient doubled (different scores, same columns).
SELECT load_purchase_model(jsonb_set(doc - 'checks', '{model,coefficients}',
         (SELECT jsonb_agg(to_jsonb(2 * c::float8)) FROM jsonb_array_elements_text(doc->'model'->'coefficients') c)),
       'doubled', allow_unchecked => true) AS doubled_version FROM bundled8;

-- 1. A model name computed per row scores each row with its own row's model, on every path
--    (rewritten table rows, generic records) and every function; it used to reuse the first
--    row's model because the name's address repeats in per-tuple memory.
CREATE TABLE segmented AS
  SELECT c.*, CASE WHEN customer_id % 2 = 0 THEN 'DOUBLED' ELSE 'DEFAULT' END AS seg
    FROM customers c;
SELECT customer_id, seg,
       predict_purchase(s, lower(seg)) = predict_purchase(s, CASE WHEN customer_id % 2 = 0 THEN 'doubled' ELSE 'default' END) AS same_as_const,
       predict_purchase(s, lower(seg)) = CASE WHEN customer_id % 2 = 0 THEN predict_purchase(c, 'doubled') ELSE predict_purchase(c, 'default') END AS rewritten_ok,
       predict_purchase(ROW(s.*)::segmented, lower(seg)) = predict_purchase(s, lower(seg)) AS generic_ok,
       (score_purchase(s, lower(seg))).model AS scored_by
  FROM segmented s JOIN customers c USING (customer_id) ORDER BY 1;
-- The two models really differ on these rows (so the checks above can fail).
SELECT count(*) FILTER (WHERE predict_purchase(c, 'doubled') <> predict_purchase(c, 'default')) AS rows_that_differ
  FROM customers c;

-- 2. Finite inputs never give NaN: a scaled input that overflows is an error naming column and value.
SELECT error_of($$SELECT predict_purchase(ROW(1, 'monday', '$1', 'japan', 0.5, 1e308, 0, 0, 0, '1%', 'July', 'Male', 1e308, 0)::customers)$$);
SELECT error_of($$SELECT purchase_outcome(ROW(1, 'monday', '$1', 'japan', 0.5, 0.5, 0, 0, 0, '1%', 'July', 'Male', -1e308, 0)::customers)$$);
SELECT error_of($$SELECT purchase_features(ROW(1, 'monday', '$1', 'japan', 0.5, 0.5, 0, 0, 0, '1%', 'July', 'Male', 1e308, 0)::customers)$$);
SELECT error_of($$SELECT predict_purchase_json('[{"x91": "1e308", "x53": "1e308"}]', strict => false)$$);
-- Large but representable inputs score within [0, 1].
SELECT predict_purchase(ROW(1, 'monday', '$1', 'japan', 0.5, 0.5, 0, 0, 0, '1%', 'July', 'Male', 1e300, 0)::customers) AS p_huge_x91;

-- 3. An artifact whose scale is so small that coefficient/scale overflows is refused (it scored NaN).
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb, %L, allow_unchecked => true)',
         jsonb_set(doc - 'checks', '{scaler,scale,87}', '1e-310'), 'tiny')) FROM bundled8;
SELECT count(*) AS tiny_versions FROM purchase.model_versions WHERE name = 'tiny';

-- 4. GROUPING SETS over a whole row: the grand-total row's NULL row scores NULL, never a customer's score.
SELECT c IS NULL AS total_row, round(predict_purchase(c)::numeric, 12) AS p_hat
  FROM customers c GROUP BY ROLLUP (c) ORDER BY 1, 2;
SELECT c IS NULL AS total_row, score_purchase(c) IS NULL AS no_score, count(*) AS customers
  FROM customers c GROUP BY GROUPING SETS ((c), ()) ORDER BY 1, 2;
-- A plain GROUP BY of the row scores each group's row.
SELECT round(predict_purchase(c)::numeric, 12) AS p_hat FROM customers c GROUP BY c ORDER BY 1;

-- 5. A column dropped earlier in the transaction is not read from stale layout caches: PL/pgSQL
--    keeps its call sites for the transaction, and must raise 42703 instead of imputing.
CREATE TABLE droppable AS SELECT * FROM customers;
CREATE FUNCTION score_droppable() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE r droppable; total float8 := 0;
BEGIN
  FOR r IN SELECT * FROM droppable ORDER BY customer_id LOOP
    total := total + predict_purchase(r);
  END LOOP;
  RETURN total;
END $$;
BEGIN;
SELECT round(score_droppable()::numeric, 12) AS before_drop;
ALTER TABLE droppable DROP COLUMN x91;
SELECT error_of('SELECT score_droppable()');
ROLLBACK;

-- 6. Categories: blank text is missing like ''; a number (JSON, or an integer/float column) is
--    compared by its text form.
SELECT predict_purchase(ROW(1, '  ', '$1', E'\t', 0.5, 0.5, 0, 0, 0, '1%', ' ', 'Male', 0.2, 0)::customers)
     = predict_purchase(ROW(1, NULL, '$1', NULL, 0.5, 0.5, 0, 0, 0, '1%', NULL, 'Male', 0.2, 0)::customers) AS blank_is_missing;
SELECT (predict_purchase_json('[{"x5": 3}]', strict => false)->0->>'p_hat')::float8
     = (predict_purchase_json('[{"x5": "3"}]', strict => false)->0->>'p_hat')::float8 AS json_number_is_its_text;
CREATE TABLE int_categories (x5 int, x12 text, x31 text, x44 float8, x53 float8, x56 float8, x58 float8,
  x62 float8, x81 text, x91 float8);
INSERT INTO int_categories VALUES (3, '$1', 'japan', 0.5, 0.5, 0, 0, 0, 'July', 0.2);
SELECT predict_purchase(i) = (predict_purchase_json('[{"x5": 3, "x12": "$1", "x31": "japan", "x44": 0.5, "x53": 0.5,
         "x56": 0, "x58": 0, "x62": 0, "x81": "July", "x91": 0.2}]')->0->>'p_hat')::float8 AS int_column_like_json
  FROM int_categories i;

-- Boolean and numeric category codes (a model exported from integer/boolean codes): a boolean
-- column or JSON boolean is "true"/"false" as scikit-learn writes it, a float or numeric column is
-- compared by the same text as a JSON number (3.0 and 3 are "3").
SELECT load_purchase_model('{"format": "pg_purchase.logistic_pipeline", "format_version": 1,
  "inputs": [{"column": "flag", "kind": "category"}, {"column": "code", "kind": "category"}],
  "imputer": {"columns": [], "statistics": []}, "scaler": {"columns": [], "mean": [], "scale": []},
  "encoder": {"columns": [{"column": "flag", "categories": ["false", "true"], "drop": "false", "missing_indicator": false},
                          {"column": "code", "categories": ["1", "2", "2.5"], "drop": "1", "missing_indicator": false}]},
  "model": {"features": ["flag_true", "code_2", "code_2.5"], "coefficients": [1.0, 2.0, 3.0], "intercept": -1.0},
  "threshold": 0.5}', 'codes', allow_unchecked => true) AS codes_version;
CREATE TABLE coded (flag boolean, code numeric, code_f float8);
INSERT INTO coded VALUES (true, 2.0, 2), (false, 2.5, 2.5), (true, 1, 1), (NULL, 7, 7);
SELECT flag, code,
       round(ln(predict_purchase(c, 'codes') / (1 - predict_purchase(c, 'codes')))::numeric, 12) AS logit,
       predict_purchase(c, 'codes') = (predict_purchase_json(jsonb_build_array(jsonb_build_object('flag', flag, 'code', code_f)), 'codes')->0->>'p_hat')::float8 AS same_as_json
  FROM coded c ORDER BY code;
SELECT drop_purchase_model('codes') AS dropped_codes;
DROP TABLE coded;

-- 7. The cleaning rule is strict where a reading is ambiguous (README, "Cleaning rule").
SELECT v AS raw, clean_number(v) AS cleaned
  FROM unnest(ARRAY['-$5,032.58', '$1,234,567.5', '(5%)', '$.5', '5.', '1e-3']) AS v;
SELECT error_of(format('SELECT clean_number(%L)', v))
  FROM unnest(ARRAY['1.234,56', '1 234,56', '1,2,3', '5 5', '$$5', '(+5)', '(1,2)', '1234,567',
                    '$5%', '1,234.5e3', '+-5']) AS v;
-- The text form of a point in a money column is refused, not read as -12.
CREATE TABLE pointy (x5 text, x12 point, x31 text, x44 float8, x53 float8, x56 float8, x58 float8,
  x62 float8, x81 text, x91 float8);
INSERT INTO pointy VALUES ('monday', '(1,2)', 'japan', 0.5, 0.5, 0, 0, 0, 'July', 0.2);
SELECT error_of('SELECT predict_purchase(p) FROM pointy p');

-- 8. A PL/pgSQL function keeps its simple expressions' call sites for the whole transaction;
--    each statement must still score with the version active when it starts (the second
--    statement below used to keep scoring with the first one's version).
SELECT load_purchase_model(doc - 'checks', 'swapped', allow_unchecked => true) AS swapped_v1 FROM bundled8;
SELECT load_purchase_model(export_purchase_model('doubled'), 'swapped', activate => false,
                           allow_unchecked => true) AS swapped_v2;
CREATE FUNCTION swapped_p(c customers) RETURNS float8 LANGUAGE plpgsql
  AS $$ BEGIN RETURN predict_purchase(c, 'swapped'); END $$;
CREATE FUNCTION swapped_version(c customers) RETURNS integer LANGUAGE plpgsql
  AS $$ BEGIN RETURN (score_purchase(c, 'swapped')).version; END $$;
BEGIN;
SELECT min(swapped_version(c)) AS v_min, max(swapped_version(c)) AS v_max,
       bool_and(swapped_p(c) = predict_purchase(c, 'default')) AS scores_as_v1 FROM customers c;
SELECT activate_purchase_model('swapped', 2) AS activated;
SELECT min(swapped_version(c)) AS v_min, max(swapped_version(c)) AS v_max,
       bool_and(swapped_p(c) = predict_purchase(c, 'doubled')) AS scores_as_v2 FROM customers c;
SELECT activate_purchase_model('swapped', 1) AS rolled_back;
SELECT min(swapped_version(c)) AS v_min, max(swapped_version(c)) AS v_max,
       bool_and(swapped_p(c) = predict_purchase(c, 'default')) AS scores_as_v1 FROM customers c;
COMMIT;
-- The same sent as one query string (\; joins statements into one message): the statements
-- share their start time, and each must still score with what its own snapshot sees.
BEGIN;
SELECT min(swapped_version(c)) AS v_min, bool_and(swapped_p(c) = predict_purchase(c, 'default')) AS scores_as_v1
  FROM customers c \; SELECT activate_purchase_model('swapped', 2) AS activated \; SELECT min(swapped_version(c)) AS v_min, max(swapped_version(c)) AS v_max, bool_and(swapped_p(c) = predict_purchase(c, 'doubled')) AS scores_as_v2 FROM customers c;
ROLLBACK;
DROP FUNCTION swapped_p(customers), swapped_version(customers);
SELECT drop_purchase_model('swapped') AS dropped_swapped;

DROP TABLE segmented, droppable, int_categories, pointy, bundled8;
DROP FUNCTION score_droppable();
SELECT drop_purchase_model('doubled') AS dropped_versions;
