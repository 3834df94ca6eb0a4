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
\ir setup/many.sql
WITH answers AS (
  SELECT a.answer, a.ord
    FROM jsonb_array_elements(predict_purchase_json(
           (SELECT jsonb_agg(to_jsonb(m) - 'customer_id' ORDER BY customer_id) FROM many m))) WITH ORDINALITY a(answer, ord))
SELECT count(*) AS answers,
       count(*) FILTER (WHERE (a.answer->>'p_hat')::float8 = predict_purchase(m)
                          AND (a.answer->>'business_outcome')::int = purchase_outcome(m)) AS agreeing,
       sum((a.answer->>'business_outcome')::int) AS positives
  FROM answers a JOIN many m ON m.customer_id = a.ord;
