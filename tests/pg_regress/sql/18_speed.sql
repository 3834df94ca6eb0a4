-- Records that are not table rows are rewritten to their columns too (issue 23, item 2):
-- a subquery's or CTE's row, a flattened subquery's ROW(...), a UNION branch, a view that is
-- not flattened. Each column is found by the name the record would carry at execution, so the
-- rewritten call scores exactly what the generic row path scores; the generic path is forced
-- below with (ARRAY[r])[1], which the planner cannot see through.
\ir setup/common.sql
\ir setup/customers.sql
\ir setup/many.sql

-- Which rows are rewritten: each plan calls predict_purchase_columns with the model's columns.
EXPLAIN (VERBOSE, COSTS OFF) SELECT predict_purchase(s) FROM (SELECT * FROM customers OFFSET 0) s;
EXPLAIN (VERBOSE, COSTS OFF) SELECT predict_purchase(s) FROM (SELECT * FROM customers) s;
EXPLAIN (VERBOSE, COSTS OFF)
WITH s AS MATERIALIZED (SELECT * FROM customers) SELECT predict_purchase(s) FROM s;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT purchase_outcome(u) FROM (SELECT * FROM customers WHERE customer_id < 3
                                 UNION ALL SELECT * FROM customers WHERE customer_id > 3) u;
CREATE VIEW first_customers AS SELECT * FROM customers ORDER BY customer_id LIMIT 3;
EXPLAIN (VERBOSE, COSTS OFF) SELECT predict_purchase(v) FROM first_customers v;

-- Exactness: the same answers as the generic path, row by row, on every form.
SELECT count(*) AS rows,
       count(*) FILTER (WHERE predict_purchase(s) = predict_purchase((ARRAY[s])[1])) AS subquery_same,
       count(*) FILTER (WHERE predict_purchase(s) = p) AS same_as_table_row
  FROM (SELECT *, predict_purchase(m) AS p FROM many m OFFSET 0) s;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE score_purchase(s) = score_purchase((ARRAY[s])[1])) AS flattened_same
  FROM (SELECT * FROM many) s;
WITH s AS MATERIALIZED (SELECT * FROM many)
SELECT count(*) AS rows,
       count(*) FILTER (WHERE purchase_features(s) = purchase_features((ARRAY[s])[1])) AS cte_same
  FROM s;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE purchase_outcome(u) = purchase_outcome((ARRAY[u])[1])) AS union_same
  FROM (SELECT * FROM many WHERE customer_id % 2 = 0 UNION ALL SELECT * FROM many WHERE customer_id % 2 = 1) u;
SELECT customer_id, predict_purchase(v) = predict_purchase((ARRAY[v])[1]) AS view_same
  FROM first_customers v ORDER BY 1;

-- Names are the record's, not the table's: columns renamed or swapped in the subquery are
-- read under their new names, exactly as the generic path reads them.
EXPLAIN (VERBOSE, COSTS OFF)
SELECT predict_purchase(s) FROM (SELECT x5, x12, x31, x44, x53, x56, x58, x62, x81, x44 AS x91
                                   FROM customers OFFSET 0) s;
SELECT customer_id,
       predict_purchase(s) = predict_purchase((ARRAY[s])[1]) AS swapped_same,
       predict_purchase(s) = predict_purchase(c) AS same_as_table_row
  FROM (SELECT customer_id, x5, x12, x31, x44, x53, x56, x58, x62, x81, x44 AS x91 FROM customers OFFSET 0) s
  JOIN customers c USING (customer_id) ORDER BY 1;
-- Column aliases of the subquery (s(a, b, ...)) name the record's columns.
SELECT count(*) FILTER (WHERE predict_purchase(s) = predict_purchase((ARRAY[s])[1])) AS aliased_same
  FROM (SELECT x5, x12, x31, x44, x53, x56, x58, x62, x81, x91 FROM customers OFFSET 0)
       s(x5, x12, x31, x91, x53, x56, x58, x62, x81, x44);
-- A column named twice: the first one counts, on both paths.
SELECT count(*) FILTER (WHERE predict_purchase(s) = predict_purchase((ARRAY[s])[1])) AS first_name_wins
  FROM (SELECT c.*, c.x44 AS x91 FROM customers c OFFSET 0) s;
-- ROW(...) without a type names its fields f1, f2, ...: not rewritten, and the row path's error.
EXPLAIN (VERBOSE, COSTS OFF) SELECT predict_purchase(ROW(c.x5, c.x12)) FROM customers c;
SELECT error_of($$SELECT predict_purchase(ROW(c.x5, c.x12)) FROM customers c$$);
-- A subquery without a column the model reads: not rewritten, the row path's error.
SELECT error_of($$SELECT predict_purchase(s) FROM (SELECT x5, x12 FROM customers OFFSET 0) s$$);
-- The nullable side of an outer join stays on the generic path: a NULL-extended row is NULL.
SELECT o.n, predict_purchase(s) IS NULL AS null_row
  FROM (VALUES (1), (99)) o(n)
  LEFT JOIN (SELECT * FROM customers OFFSET 0) s ON s.customer_id = o.n ORDER BY 1;
-- A volatile field keeps ROW(...) on the generic path (the field is evaluated once per row).
EXPLAIN (VERBOSE, COSTS OFF)
SELECT predict_purchase(ROW(c.customer_id, c.x5, c.x12, c.x31, c.x44, c.x53, c.x56, c.x58, c.x62,
                            c.x63, c.x81, c.x82, c.x91, random())::customers) FROM customers c;
-- A subquery with a volatile column is not flattened: its row is rewritten, and the volatile
-- column is still evaluated once per row inside the subquery.
EXPLAIN (VERBOSE, COSTS OFF)
SELECT predict_purchase(s) FROM (SELECT *, random() AS r FROM customers) s;
-- numeric columns are decoded from their digits, without text (issue 23, item 4): the same f64
-- as the text path (numeric -> text -> correctly rounded parse), shown on many numerics.
CREATE TABLE num_rows (id int, x5 text, x12 numeric, x31 text, x44 numeric, x53 numeric,
  x56 numeric, x58 numeric, x62 numeric, x81 text, x91 numeric);
INSERT INTO num_rows
SELECT g, 'monday', round((random() * 20000 - 10000)::numeric, 2), 'japan',
       -- a few decimals (the fast path), many digits, huge and tiny magnitudes
       round(random()::numeric, g % 7),
       random()::numeric * random()::numeric * power(10::numeric, g % 40 - 20),
       1::numeric / g,
       (random() - 0.5)::numeric * power(10::numeric, (g % 600) - 300),
       trunc(random() * 1e15)::numeric * 1e-8,
       'July', (g % 3 - 1)::numeric * 1e-10
  FROM generate_series(1, 5000) g;
INSERT INTO num_rows VALUES
  (5001, NULL, 0, NULL, 1.7976931348623157e200, 2.2250738585072014e-308, 4.9406564584124654e-324,
   2.4703282292062328e-324, 1e-320, NULL, NULL),
  (5002, NULL, -0.0, NULL, 9007199254740993, 1.00000000000000011102230246251565404236316680908203125,
   1.00000000000000011102230246251565404236316680908203124, 0.30000000000000004,
   123456789012345678901234567890.123456789012345678901234567890, NULL, 1e22),
  (5003, NULL, 1e23, NULL, -2.2250738585072011e-308, 99999999999999999999,
   ('1.' || repeat('3', 400))::numeric, 1e-4, 1e4, NULL, -1e-22);
CREATE VIEW num_as_float8 AS
  SELECT id, x5, x12::float8, x31, x44::float8, x53::float8, x56::float8, x58::float8,
         x62::float8, x81, x91::float8 FROM num_rows;
CREATE VIEW num_as_text AS
  SELECT id, x5, x12::text, x31, x44::text, x53::text, x56::text, x58::text, x62::text, x81,
         x91::text FROM num_rows;
-- Each model input (the value after cleaning and scaling), and the scores: numeric = float8 = text, row by row.
SELECT count(*) AS rows,
       count(*) FILTER (WHERE n.v = f.v AND f.v = t.v) AS same_model_inputs
  FROM (SELECT r.id, e.feature, e.model_input AS v FROM num_rows r, explain_purchase(r) e) n
  JOIN (SELECT r.id, e.feature, e.model_input AS v FROM num_as_float8 r, explain_purchase(r) e) f USING (id, feature)
  JOIN (SELECT r.id, e.feature, e.model_input AS v FROM num_as_text r, explain_purchase(r) e) t USING (id, feature);
SELECT count(*) AS rows,
       count(*) FILTER (WHERE predict_purchase(n) = predict_purchase(f)
                          AND predict_purchase(f) = predict_purchase(t)) AS same_scores,
       count(*) FILTER (WHERE predict_purchase((ARRAY[n])[1]) = predict_purchase(f)) AS same_scores_generic_path
  FROM num_rows n JOIN num_as_float8 f USING (id) JOIN num_as_text t USING (id);
-- Beyond f64's range: the text path, whose error quotes the value as written.
SELECT error_of($$SELECT predict_purchase(r) FROM (VALUES (1e400::numeric)) v(x44),
  LATERAL (SELECT NULL::text AS x5, NULL::numeric AS x12, NULL::text AS x31, v.x44, NULL::numeric AS x53,
           NULL::numeric AS x56, NULL::numeric AS x58, NULL::numeric AS x62, NULL::text AS x81,
           NULL::numeric AS x91) r$$);
