-- Scoring rows in place: predict_purchase, purchase_outcome, score_purchase, purchase_features.
-- A customers table shaped like the raw data (setup/customers.sql): money/percent/categories as
-- text, numbers float8; and typed, the same columns as other SQL types.
\ir setup/common.sql
\ir setup/customers.sql

-- The same p_hat, hand-computed for row 1 from the artifact's figures (imputed x53 scales to 0).
SELECT round(predict_purchase(c)::numeric, 12) AS p_hat,
       round((1 / (1 + exp(-(
         -1.2065298101599897 + 1.0957909263467889 + 0.9249485781323329
         + 0.7659757966244676 * (0.5 - 0.25296330472992057) / 0.28770324616210396
         - 0.5057802785019714 * (0.25 - 0.5005654653552319) / 0.28364036185546393
         - 0.3937791151757429 * (-1000 - 20.485288437500007) / 5775.428520080214
         - 0.28821501386970944 * (1 - 0.007200151135832802) / 0.9875666319853392
         + 0.21070059561543394 * (0 - 0.0023894703053867323) / 0.9823509040811053
         + 0.20022169967126163 * (-1 + 0.010878592103002781) / 0.9933450809147276))))::numeric, 12) AS by_hand
  FROM customers c WHERE customer_id = 1;

-- Every scoring function on every row; row 5 is all missing (imputed means, _nan indicators).
SELECT customer_id, round(predict_purchase(c)::numeric, 12) AS p_hat, purchase_outcome(c) AS outcome
  FROM customers c ORDER BY customer_id;
SELECT c.customer_id, round(s.p_hat::numeric, 12) AS p_hat, s.business_outcome, s.model, s.version
  FROM customers c CROSS JOIN LATERAL score_purchase(c) s ORDER BY 1;
-- The model inputs after clean/impute/scale/encode (x53 missing -> 0 after scaling).
SELECT key, round(value::numeric, 12) AS value
  FROM customers c, jsonb_each_text(purchase_features(c)) WHERE customer_id = 1 ORDER BY key;

-- A table row is rewritten at plan time to pass only the columns the model reads.
EXPLAIN (VERBOSE, COSTS OFF) SELECT predict_purchase(c) FROM customers c;
EXPLAIN (VERBOSE, COSTS OFF) SELECT s.* FROM customers c CROSS JOIN LATERAL score_purchase(c) s;

-- Every other row value takes the generic path and scores the same:
-- ROW(...)::customers, a subquery's record, a view row, jsonb_populate_record.
CREATE VIEW customer_view AS SELECT * FROM customers;
SELECT customer_id,
       predict_purchase(c) = predict_purchase(ROW(c.*)::customers) AS row_cast,
       predict_purchase(c) = (SELECT predict_purchase(s) FROM (SELECT * FROM customers OFFSET 0) s
                               WHERE s.customer_id = c.customer_id) AS subquery_record,
       predict_purchase(c) = (SELECT predict_purchase(v) FROM customer_view v
                               WHERE v.customer_id = c.customer_id) AS view_row,
       predict_purchase(c) = predict_purchase(jsonb_populate_record(NULL::customers, to_jsonb(c))) AS from_jsonb
  FROM customers c ORDER BY 1;

-- Numbers may be float8, float4, numeric, integer or text; categories text, varchar or char(n)
-- (table typed of setup/customers.sql: varchar(12), numeric, char(10), float4, numeric(10,4),
-- integer, bigint, text, text, smallint).
SELECT round(predict_purchase(t)::numeric, 12) AS p_typed,
       predict_purchase(t) = predict_purchase(ROW(1, 'saturday', '($1,000.00)', 'japan', 0.25, NULL, -1, 0, 1,
                                                  NULL, 'July', NULL, 0, NULL)::customers) AS same_as_text,
       (predict_purchase_json('{"x5": "saturday", "x12": "($1,000.00)", "x31": "japan", "x44": 0.25, "x53": null,
                                "x56": -1, "x58": 0, "x62": "1", "x81": "July", "x91": 0}')->0->>'p_hat')::float8
         = predict_purchase(t) AS same_as_json
  FROM typed t;

-- A category never seen in training sets all of its indicators to 0 (like the reference level).
SELECT predict_purchase(ROW(1, 'Funday', '$1', 'mars', 0.5, 0.5, 0, 0, 0, '1%', 'Smarch', 'Male', 0.2, 0)::customers)
     = predict_purchase(ROW(1, 'friday', '$1', 'america', 0.5, 0.5, 0, 0, 0, '1%', 'April', 'Male', 0.2, 0)::customers)
       AS unseen_is_reference;
-- Empty text is missing, like NULL.
SELECT predict_purchase(ROW(1, '', '', '', 0.5, 0.5, 0, 0, 0, '', '', '', 0.2, 0)::customers)
     = predict_purchase(ROW(1, NULL, NULL, NULL, 0.5, 0.5, 0, 0, 0, NULL, NULL, NULL, 0.2, 0)::customers)
       AS empty_is_missing;
-- A NULL row gives NULL; a NULL-extended outer-join row too.
SELECT predict_purchase(NULL::customers) IS NULL AS null_row,
       score_purchase(NULL::customers) IS NULL AS null_score;
SELECT o.n, predict_purchase(c) AS p FROM (VALUES (99)) o(n) LEFT JOIN customers c ON c.customer_id = o.n;

-- The rewrite also applies to view rows and to partitioned tables (each partition's columns).
EXPLAIN (VERBOSE, COSTS OFF) SELECT predict_purchase(v) FROM customer_view v;
CREATE TABLE customers_by_range (LIKE customers) PARTITION BY RANGE (customer_id);
CREATE TABLE customers_low PARTITION OF customers_by_range FOR VALUES FROM (0) TO (3);
CREATE TABLE customers_high PARTITION OF customers_by_range FOR VALUES FROM (3) TO (100);
INSERT INTO customers_by_range SELECT * FROM customers;
EXPLAIN (VERBOSE, COSTS OFF) SELECT purchase_outcome(p) FROM customers_by_range p;
SELECT count(*) FILTER (WHERE predict_purchase(p) = predict_purchase(c)) AS same_scores
  FROM customers_by_range p JOIN customers c USING (customer_id);
-- A NULL-extended row of an outer join stays on the generic path (and scores NULL).
EXPLAIN (VERBOSE, COSTS OFF)
SELECT predict_purchase(c) FROM (VALUES (99)) o(n) LEFT JOIN customers c ON c.customer_id = o.n;
