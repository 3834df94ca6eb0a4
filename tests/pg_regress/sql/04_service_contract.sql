-- predict_purchase_json: the old web service's contract, 1..N raw rows in, answers out in order.
-- Empty input: empty answer.
\ir setup/common.sql
\ir setup/customers.sql
SELECT predict_purchase_json('[]');
-- One object (not in an array) is one row. strict => false: absent columns are missing values.
SELECT jsonb_array_length(predict_purchase_json('{"x5": "monday"}', strict => false)) AS answers;
-- Each answer: business_outcome, p_hat and the 25 model inputs.
SELECT count(*) AS keys, bool_and(key IN ('business_outcome', 'p_hat') OR key ~ '^x[0-9]+') AS all_expected
  FROM jsonb_object_keys(predict_purchase_json('[{"x5": "monday"}]', strict => false)->0) key;
-- Five rows, in input order, each equal to scoring the same row in the table. By default an
-- object carries the model's raw columns and nothing else (customer_id is not one of them).
SELECT a.ord, round((a.answer->>'p_hat')::numeric, 12) AS p_hat, (a.answer->>'business_outcome')::int AS outcome,
       (a.answer->>'p_hat')::float8 = predict_purchase(c) AS equals_row_score
  FROM jsonb_array_elements(predict_purchase_json(
         (SELECT jsonb_agg(to_jsonb(c) - 'customer_id' ORDER BY customer_id) FROM customers c))) WITH ORDINALITY a(answer, ord)
  JOIN customers c ON c.customer_id = a.ord
 ORDER BY a.ord;

-- 10,000 synthetic rows: every JSON answer equals predict_purchase on the same row.
CREATE TABLE many AS
SELECT g AS customer_id,
       (ARRAY['monday','tuesday','wednesday','thursday','friday','saturday','sunday', NULL])[1 + g % 8] AS x5,
       CASE WHEN g % 3 = 0 THEN '$' || to_char(g * 1.37, 'FM999,990.00')
            WHEN g % 3 = 1 THEN '($' || to_char(g * 0.91, 'FM999,990.00') || ')'
            ELSE '$-' || to_char(g * 0.5, 'FM999,990.00') END AS x12,
       (ARRAY['germany','asia','america','japan', NULL, 'atlantis'])[1 + g % 6] AS x31,
       (g % 97) / 97.0 AS x44, CASE WHEN g % 13 = 0 THEN NULL ELSE (g % 89) / 89.0 END AS x53,
       sin(g) AS x56, cos(g) AS x58, sin(g * 0.7)::text AS x62,
       (ARRAY['January','February','March','April','May','June','July','August','September',
              'October','November','December'])[1 + g % 12] AS x81,
       (g % 101) / 101.0 AS x91
  FROM generate_series(1, 10000) g;
WITH answers AS (
  SELECT a.answer, a.ord
    FROM jsonb_array_elements(predict_purchase_json(
           (SELECT jsonb_agg(to_jsonb(m) - 'customer_id' ORDER BY customer_id) FROM many m))) WITH ORDINALITY a(answer, ord))
SELECT count(*) AS answers,
       count(*) FILTER (WHERE (a.answer->>'p_hat')::float8 = predict_purchase(m)
                          AND (a.answer->>'business_outcome')::int = purchase_outcome(m)) AS agreeing,
       sum((a.answer->>'business_outcome')::int) AS positives
  FROM answers a JOIN many m ON m.customer_id = a.ord;
