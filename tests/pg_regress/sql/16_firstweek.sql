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

-- 3. Names. A model trained as 'leads' names itself so (training.name); it reads visits and plan,
-- while the active 'default' reads x0 ... x99.
CREATE TABLE leads AS
SELECT g AS lead_id, (g * 0.618033988749895 % 1 < 0.3 + 0.4 * (g % 3 = 0)::int)::int AS bought,
       cos(g * 0.7) AS visits, CASE g % 3 WHEN 0 THEN 'pro' ELSE 'basic' END AS plan
  FROM generate_series(1, 400) g;
SET client_min_messages = warning;
SELECT train_purchase_model('leads', 'bought', 'leads', '{"exclude": ["lead_id"], "activate": true}') AS leads_version;
RESET client_min_messages;
SELECT export_purchase_model('leads') AS leads_doc \gset
SELECT (:'leads_doc'::jsonb)->'training'->>'name' AS own_name,
       ARRAY(SELECT i->>'column' FROM jsonb_array_elements((:'leads_doc'::jsonb)->'inputs') i) AS columns;
-- Loaded into 'default' by mistake: refused, naming both sets of columns; nothing is stored.
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb, %L)', :'leads_doc', 'default'));
SELECT count(*) AS default_versions FROM purchase_models() WHERE name = 'default';
-- Staged too (it would serve the same queries once activated).
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb, %L, activate => false)', :'leads_doc', 'default'));
-- On purpose: replace_inputs => true (rolled back here).
BEGIN;
SELECT load_purchase_model(:'leads_doc'::jsonb, 'default', replace_inputs => true) AS replaced_version;
SELECT version, active, array_length(columns, 1) AS columns_read FROM purchase_models() WHERE name = 'default' ORDER BY version;
ROLLBACK;
-- Without a name argument: under the artifact's own name. It is identical to version 1 of
-- 'leads' (same sha256): that version is returned, with a NOTICE, and nothing is stored.
SELECT load_purchase_model(:'leads_doc'::jsonb) AS version;
SELECT name, version, active FROM purchase_models() ORDER BY name, version;
-- An identical reload with activate => true makes a staged copy active again.
SELECT set_purchase_threshold('leads', 0.4) AS threshold_version;
SELECT load_purchase_model(:'leads_doc'::jsonb) AS reactivated;
SELECT name, version, active FROM purchase_models() WHERE name = 'leads' ORDER BY version;
-- Both given and different: the name given wins, with a NOTICE; the columns rule applies to it.
SELECT load_purchase_model(:'leads_doc'::jsonb, 'leads_copy') AS copy_version;
-- No name argument and an artifact without a name of its own: 'default' (the bundled model).
\getenv artifact_path PG_PURCHASE_ARTIFACT
SELECT load_purchase_model(pg_read_file(:'artifact_path')::jsonb) AS bundled_again;
-- A NULL name is "not given"; NULL activate or replace_inputs is an error.
SELECT error_of('SELECT load_purchase_model(''{}''::jsonb, ''default'', replace_inputs => NULL)');

-- 4. Privileges. The catalog is purchase_admin's to read (its artifacts hold the reference rows in
-- checks); a member of purchase_scorer scores, lists and explains without reading it, and is
-- refused export and the raw catalog, the refusal naming the function and the role granting it.
SELECT array_agg(coalesce(r.rolname, 'PUBLIC') ORDER BY 1) AS catalog_readers
  FROM pg_class c CROSS JOIN aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
 WHERE c.oid = 'purchase.model_versions'::regclass AND a.privilege_type = 'SELECT' AND a.grantee <> c.relowner;
CREATE ROLE purchase_regress_app;
GRANT purchase_scorer TO purchase_regress_app;
GRANT SELECT ON customers TO purchase_regress_app;
SET ROLE purchase_regress_app;
SELECT count(predict_purchase(c)) AS scored, count(DISTINCT (score_purchase(c)).version) AS versions
  FROM customers c;
SELECT count(*) AS models_listed FROM purchase_models();
SELECT count(*) > 0 AS explained FROM customers c, explain_purchase(c) WHERE customer_id = 1;
SELECT error_of('SELECT export_purchase_model()');
SELECT error_of('SELECT count(*) FROM purchase.model_versions');
-- After README's recipe (EXECUTE revoked from PUBLIC), the insight functions granted alone still
-- work: explain_purchase reads purchase_features and the catalog as their owner.
RESET ROLE;
REVOKE purchase_scorer FROM purchase_regress_app;
REVOKE EXECUTE ON FUNCTION purchase_features, predict_purchase, explain_purchase FROM PUBLIC;
GRANT EXECUTE ON FUNCTION explain_purchase TO purchase_regress_app;
SET ROLE purchase_regress_app;
SELECT count(*) AS contributions FROM customers c, explain_purchase(c) WHERE customer_id = 1;
SELECT error_of('SELECT predict_purchase(c) FROM customers c');
SELECT error_of($$SELECT predict_purchase_columns('default', '{x5,x12,x31,x44,x53,x56,x58,x62,x81,x91}',
                  x5, x12, x31, x44, x53, x56, x58, x62, x81, x91) FROM customers c$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION purchase_features, predict_purchase, explain_purchase TO PUBLIC;
DROP OWNED BY purchase_regress_app;
DROP ROLE purchase_regress_app;
