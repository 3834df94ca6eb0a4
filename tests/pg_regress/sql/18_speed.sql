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
