-- Safety: NULL arguments, JSON rows with unknown or missing keys, element indexes in errors,
-- the binary jsonb answer, malformed calls of the internal *_columns functions, privileges of
-- rewritten calls, and server-file loads that cannot hang.
\ir setup/common.sql
\ir setup/customers.sql
\getenv artifact_path PG_PURCHASE_ARTIFACT

-- A NULL model name is an error (22004) on every scoring path; a NULL row or document is NULL.
SELECT error_of($$SELECT predict_purchase(c, NULL) FROM customers c$$);
SELECT error_of($$SELECT score_purchase(ROW(c.*)::customers, NULL) FROM customers c$$);
SELECT error_of($$SELECT purchase_features(c, NULL::text) FROM (SELECT * FROM customers OFFSET 0) c$$);
SELECT error_of($$SELECT predict_purchase_json('[]', NULL)$$);
SELECT error_of($$SELECT predict_purchase_json('[]', 'default', NULL)$$);
SELECT predict_purchase(NULL::customers) IS NULL AS null_row, purchase_outcome(NULL::record) IS NULL AS null_record,
       predict_purchase_json(NULL) IS NULL AS null_document;
SELECT count(*) AS null_on_the_nullable_side
  FROM (VALUES (1)) v(x) LEFT JOIN customers c ON false WHERE predict_purchase(c) IS NULL;

-- predict_purchase_json is strict by default: an object carries every column the model reads
-- (null is fine) and no key outside the model's inputs (the artifact's raw columns x0..x99).
\set row '{"x5": "monday", "x12": "$6,882.34", "x31": "germany", "x44": 0.5, "x53": null, "x56": 0.1, "x58": -0.2, "x62": 1, "x81": "July", "x91": 0.3}'
SELECT round((predict_purchase_json(:'row')->0->>'p_hat')::numeric, 12) AS p_hat_strict;
-- A raw column the model does not read is allowed.
SELECT predict_purchase_json(:'row') = predict_purchase_json(:'row'::jsonb || '{"x0": 1.5, "x99": null}') AS extra_raw_column_ok;
-- A misspelt key is an error naming it and the element; so is a column left out.
SELECT error_of(format('SELECT predict_purchase_json(%L)', jsonb_build_array(:'row'::jsonb, (:'row'::jsonb - 'x12') || '{"x_12": "$5"}')));
SELECT error_of(format('SELECT predict_purchase_json(%L)', jsonb_build_array(:'row'::jsonb - 'x81')));
SELECT error_of(format('SELECT predict_purchase_json(%L)', :'row'::jsonb || '{"customer_id": 7}'));
-- strict => false: unknown keys are ignored and absent columns are missing values.
SELECT predict_purchase_json((:'row'::jsonb - 'x12') || '{"x_12": "$5"}', strict => false)
     = predict_purchase_json(:'row'::jsonb || '{"x12": null}') AS relaxed_is_imputed;
-- Rows whose keys change and change back: each answer is the row's own answer scored alone (a
-- row reuses the key check and the columns' places only when its keys are the row before's).
\set shifting 'jsonb_build_array(:''row''::jsonb, :''row''::jsonb - ''x12'', :''row''::jsonb - ''x12'', :''row''::jsonb, :''row''::jsonb || ''{"x0": 2}'', (:''row''::jsonb - ''x91'') || ''{"x92": 1}'', :''row''::jsonb - ''x5'', :''row''::jsonb)'
SELECT count(*) AS shifting_rows, bool_and(a.e = predict_purchase_json(r.e, strict => false)->0) AS each_as_alone
  FROM jsonb_array_elements(predict_purchase_json(:shifting, strict => false)) WITH ORDINALITY a(e, i)
  JOIN jsonb_array_elements(:shifting) WITH ORDINALITY r(e, i) USING (i);
-- Strict: a row after rows that passed is still checked when its keys differ (element 2 adds a
-- raw column, which passes; element 3 lacks one).
SELECT error_of(format('SELECT predict_purchase_json(%L)',
       jsonb_build_array(:'row'::jsonb, :'row'::jsonb, :'row'::jsonb || '{"x0": 1}', :'row'::jsonb - 'x44')));
-- A bad number or a value of the wrong JSON type names the element.
SELECT error_of(format('SELECT predict_purchase_json(%L)',
       jsonb_build_array(:'row'::jsonb, :'row'::jsonb || '{"x12": "12 dollars"}')));
SELECT error_of(format('SELECT predict_purchase_json(%L)',
       jsonb_build_array(:'row'::jsonb, :'row'::jsonb, :'row'::jsonb || '{"x91": "1,2,3"}')));
SELECT error_of(format('SELECT predict_purchase_json(%L)',
       jsonb_build_array(:'row'::jsonb, :'row'::jsonb || '{"x44": [1]}')));

-- The answer is written as binary jsonb directly. A model with 100 features (102 keys per
-- answer) over 2,000 rows of all 100 raw columns: every answer equals, as text, the same row
-- scored through purchase_features/predict_purchase (encoded by PostgreSQL's own jsonb input).
CREATE TABLE wide AS
SELECT jsonb_set(jsonb_set(d.doc, '{model,features}', fc.f), '{model,coefficients}', fc.c) AS doc
  FROM (SELECT pg_read_file(:'artifact_path')::jsonb - 'sha256' - 'checks' #- '{model,std_errors}' AS doc) d,
       LATERAL (SELECT jsonb_agg(z.x ORDER BY z.o) AS f, jsonb_agg(0.01 * ((z.o % 7) - 3) ORDER BY z.o) AS c
                  FROM (SELECT t.x, t.o FROM jsonb_array_elements_text(d.doc->'imputer'->'columns') WITH ORDINALITY t(x, o)
                        UNION ALL VALUES ('x5_monday', 1001), ('x31_nan', 1002), ('x81_July', 1003), ('x82_Male', 1004)) z) fc;
SELECT load_purchase_model(doc, 'wide', allow_unchecked => true) AS wide_version FROM wide;
DO $$ BEGIN
  EXECUTE (SELECT 'CREATE TYPE wide_row AS (' || string_agg(format('x%s text', k), ', ' ORDER BY k) || ')'
             FROM generate_series(0, 99) k);
END $$;
CREATE TABLE wide_rows AS
SELECT g, jsonb_object_agg('x' || k, CASE
         WHEN (g + k) % 23 = 0 THEN NULL
         WHEN k = 5 THEN to_jsonb((ARRAY['monday','tuesday','friday','sunday'])[1 + g % 4])
         WHEN k = 31 THEN to_jsonb((ARRAY['germany','asia','america','japan'])[1 + g % 4])
         WHEN k = 81 THEN to_jsonb((ARRAY['July','April','May'])[1 + g % 3])
         WHEN k = 82 THEN to_jsonb((ARRAY['Male','Female'])[1 + g % 2])
         WHEN k = 12 THEN to_jsonb('$' || to_char(g * 1.5, 'FM999,990.00'))
         WHEN k = 63 THEN to_jsonb(g % 100 || '.5%')
         ELSE to_jsonb(((g * 37 + k * 11) % 1000) / 100.0 - 5 + g * 1e-7) END) AS obj
  FROM generate_series(1, 2000) g, generate_series(0, 99) k GROUP BY g;
WITH answers AS (
  SELECT a.answer, a.ord
    FROM jsonb_array_elements(predict_purchase_json((SELECT jsonb_agg(obj ORDER BY g) FROM wide_rows), 'wide'))
         WITH ORDINALITY a(answer, ord)),
expected AS (
  SELECT w.g, purchase_features(r, 'wide')
              || jsonb_build_object('p_hat', predict_purchase(r, 'wide'), 'business_outcome', purchase_outcome(r, 'wide')) AS answer
    FROM wide_rows w, LATERAL jsonb_populate_record(NULL::wide_row, w.obj) r)
SELECT count(*) AS answers, count(*) FILTER (WHERE a.answer::text = e.answer::text) AS same_text,
       count(*) FILTER (WHERE a.answer = e.answer) AS equal, min(jsonb_array_length(jsonb_path_query_array(a.answer, '$.*'))) AS keys,
       -- Both sides now come from the same writer, so also check it against PostgreSQL's own
       -- encoding of the same text: byte for byte.
       count(*) FILTER (WHERE jsonb_send(a.answer) = jsonb_send(a.answer::text::jsonb)
                          AND jsonb_send(e.answer) = jsonb_send(e.answer::text::jsonb)) AS same_bytes_as_jsonb_in
  FROM answers a JOIN expected e ON e.g = a.ord;
SELECT drop_purchase_model('wide') AS dropped;

-- Feature values next to the writer's pre-encoded 0 and 1 keep their exact value (1 + 2^-52 was
-- written as the integer 1, and 5e-324 as 0, when a float's bits could pass for an integer's).
SELECT load_purchase_model('{"format": "pg_purchase.logistic_pipeline", "format_version": 1,
  "inputs": [{"column": "x", "kind": "number"}],
  "imputer": {"columns": ["x"], "statistics": [0.0]}, "scaler": {"columns": ["x"], "mean": [0.0], "scale": [1.0]},
  "encoder": {"columns": []},
  "model": {"features": ["x"], "coefficients": [1e-300], "intercept": 0.0}, "threshold": 0.5}', 'edge', allow_unchecked => true) AS edge_version;
CREATE TYPE edge_row AS (x float8);
SELECT v, purchase_features(ROW(v)::edge_row, 'edge')->'x' = to_jsonb(v) AS features_exact,
       predict_purchase_json(jsonb_build_array(jsonb_build_object('x', v)), 'edge')->0->'x' = to_jsonb(v) AS json_exact,
       jsonb_send(purchase_features(ROW(v)::edge_row, 'edge'))
         = jsonb_send(purchase_features(ROW(v)::edge_row, 'edge')::text::jsonb) AS same_bytes_as_jsonb_in
  FROM unnest(ARRAY[1.0000000000000002, 0.9999999999999999, 5e-324, 1e-7, 0, 1, -0.0, 123456789.125]::float8[]) v;
DROP TYPE edge_row;
SELECT drop_purchase_model('edge') AS dropped_edge;

-- The internal *_columns functions refuse malformed direct calls with named errors.
SELECT error_of($$SELECT predict_purchase_columns('default', '{x5,x12,x31,x44,x53,x56,x58,x62,x81,x91}', 'monday')$$);
SELECT error_of($$SELECT predict_purchase_columns('default', '{x5,x12}', VARIADIC ARRAY['monday', '$5'])$$);
SELECT error_of($$SELECT predict_purchase_columns('default', '{x5,NULL}', 'monday', '$5')$$);
SELECT error_of($$SELECT predict_purchase_columns('default', NULL, 'monday')$$);
SELECT error_of($$SELECT predict_purchase_columns('default', '{x5,x5}', 'monday', 'friday')$$);
SELECT error_of($$SELECT predict_purchase_columns('default', '{{x5},{x12}}', 'monday', '$5')$$);
SELECT error_of($$SELECT predict_purchase_columns('default', ARRAY[c.x5], 'monday') FROM customers c$$);
SELECT error_of($$SELECT score_purchase_columns(NULL, '{x5}', 'monday')$$);
-- A well-formed direct call scores like the row.
SELECT count(*) FILTER (WHERE predict_purchase_columns('default', '{x5,x12,x31,x44,x53,x56,x58,x62,x81,x91}',
                               x5, x12, x31, x44, x53, x56, x58, x62, x81, x91) = predict_purchase(c)) AS direct_calls_agree
  FROM customers c;

-- A rewritten call is allowed exactly when the original would be: REVOKE EXECUTE on
-- predict_purchase stops scoring table rows, through the rewrite and through a direct call.
CREATE ROLE purchase_regress_plain;
GRANT SELECT ON customers TO purchase_regress_plain;
REVOKE EXECUTE ON FUNCTION predict_purchase(record, text, integer) FROM PUBLIC;
SET ROLE purchase_regress_plain;
SELECT error_of('SELECT predict_purchase(c) FROM customers c');
SELECT error_of($$SELECT predict_purchase_columns('default', '{x5,x12,x31,x44,x53,x56,x58,x62,x81,x91}',
                  x5, x12, x31, x44, x53, x56, x58, x62, x81, x91) FROM customers c$$);
SELECT count(score_purchase(c)) AS other_functions_unaffected FROM customers c;
RESET ROLE;
-- A plan made (and rewritten) for a role that may score, run after SET ROLE by one that may not.
SET plan_cache_mode = force_generic_plan;
PREPARE scored AS SELECT count(predict_purchase(c)) FROM customers c;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE scored;
EXECUTE scored;
SET ROLE purchase_regress_plain;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE scored;
SELECT error_of('EXECUTE scored');
RESET ROLE;
GRANT purchase_scorer TO purchase_regress_plain;
SET ROLE purchase_regress_plain;
EXECUTE scored;
RESET ROLE;
DEALLOCATE scored;
RESET plan_cache_mode;
GRANT EXECUTE ON FUNCTION predict_purchase(record, text, integer) TO PUBLIC;
REVOKE purchase_scorer FROM purchase_regress_plain;
DROP OWNED BY purchase_regress_plain;
DROP ROLE purchase_regress_plain;

-- load_purchase_model_file reads regular files only: a device, a directory or a FIFO (which
-- would wait for a writer) is refused at once.
SET statement_timeout = '10s';
SELECT error_of($$SELECT load_purchase_model_file('/dev/zero')$$);
SELECT error_of($$SELECT load_purchase_model_file('/')$$);
SELECT error_of($$SELECT load_purchase_model_file('/nonexistent/model.json')$$);
SELECT '/tmp/pg_purchase_regress_fifo_' || pg_backend_pid() AS fifo \gset
SELECT format('cat >/dev/null; rm -f %s && mkfifo %s', :'fifo', :'fifo') AS mkfifo \gset
COPY (SELECT 1) TO PROGRAM :'mkfifo';
SELECT replace(error_of(format('SELECT load_purchase_model_file(%L)', :'fifo')), :'fifo', '<fifo>');
SELECT format('cat >/dev/null; rm -f %s', :'fifo') AS rmfifo \gset
COPY (SELECT 1) TO PROGRAM :'rmfifo';
RESET statement_timeout;
SELECT count(*) AS versions_after_refused_loads FROM purchase.model_versions WHERE name = 'default';
