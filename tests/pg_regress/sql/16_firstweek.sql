-- A user's first week (issue 22): what a new user tripped over, pinned.
\ir setup/common.sql
\ir setup/customers.sql

-- 1. explain_purchase never prints -0: a zero model input times a negative coefficient is 0.
SELECT count(*) FILTER (WHERE contribution::text = '-0') AS minus_zero_contributions,
       count(*) FILTER (WHERE model_input::text = '-0') AS minus_zero_inputs,
       count(*) FILTER (WHERE contribution = 0) AS zero_contributions
  FROM customers c, explain_purchase(c);
SELECT feature, model_input, coefficient < 0 AS negative_coefficient, contribution
  FROM customers c, explain_purchase(c)
 WHERE customer_id = 5 AND feature IN ('x12', 'x5_monday') ORDER BY feature;

-- 2. The first refresh creates its target with a primary key on key_column; where the keys
-- listed repeat (or are NULL), with a plain index on it instead.
CALL refresh_purchase_targets('customers', 'first_list', threshold => 0);
SELECT i.indisprimary AS primary_key, i.indisunique AS is_unique,
       pg_get_indexdef(i.indexrelid) ~ '\(customer_id\)$' AS on_key_column
  FROM pg_index i WHERE i.indrelid = 'first_list'::regclass;
CREATE TABLE repeated AS SELECT * FROM customers UNION ALL SELECT * FROM customers;
CALL refresh_purchase_targets('repeated', 'repeated_list', threshold => 0);
SELECT count(*) AS rows_listed, count(DISTINCT customer_id) AS keys FROM repeated_list;
SELECT i.indisprimary AS primary_key, i.indisunique AS is_unique,
       pg_get_indexdef(i.indexrelid) ~ '\(customer_id\)$' AS on_key_column
  FROM pg_index i WHERE i.indrelid = 'repeated_list'::regclass;
-- A later run keeps the primary key: a run whose keys repeat fails and leaves the list as it was.
CREATE TABLE later (LIKE customers);
INSERT INTO later SELECT * FROM repeated;
CALL refresh_purchase_targets('later', 'first_list', threshold => 0);
SELECT count(*) AS still_listed FROM first_list;
