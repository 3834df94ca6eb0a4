-- No function or procedure of pg_purchase resolves a name through its caller's search_path, so a
-- role that can create objects in a schema on that path cannot get its code run by the caller.
\ir setup/common.sql
\ir setup/many.sql
\set SHOW_CONTEXT never

-- 1. Every member of the extension (through pg_depend), by kind:
--    pinned      SET search_path = pg_catalog, pg_temp (SQL and PL/pgSQL functions);
--    qualified   cannot pin (a procedure with SET may not COMMIT; scheduling must pass on the
--                caller's path to resolve an unqualified target), so its body calls only
--                schema-qualified functions and uses no operator (checked in 2, attacked in 3);
--    C           runs no SQL that resolves a name (reason below), or, for scoring, one catalog
--                query per backend and model version (src/pg/models/catalog.rs) whose every operator,
--                type and relation is schema-qualified.
-- SET on a C scoring function would make PostgreSQL save and restore the GUC on every call,
-- which costs more than a whole score (README, "Guarantees", has the
-- measurement); so the scoring functions are not pinned.
WITH members AS (
  SELECT p.oid, p.oid::regprocedure::text AS member, l.lanname, p.proconfig, p.prosrc
    FROM pg_depend d
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_purchase'
    JOIN pg_proc p ON p.oid = d.objid
    JOIN pg_language l ON l.oid = p.prolang
   WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
), c_reasons(symbol, reason) AS (VALUES
  ('clean_number_wrapper', 'pure: text in, number out, no SQL'),
  ('purchase_in_transaction_block', 'reads the transaction state, no SQL'),
  ('relation_owner_wrapper', 'reads one pg_class row from the syscache, no SQL'),
  ('caller_is_member_of_wrapper', 'reads role memberships from the caches, no SQL'),
  ('purchase_planner_support', 'plan-time rewrite; looks up *_columns by schema-qualified name'),
  ('load_purchase_model_wrapper', 'SECURITY DEFINER, pinned'),
  ('load_purchase_model_file_wrapper', 'SECURITY DEFINER, pinned'),
  ('activate_purchase_model_wrapper', 'SECURITY DEFINER, pinned'),
  ('drop_purchase_model_wrapper', 'SECURITY DEFINER, pinned'),
  ('purchase_model_weights_wrapper', 'catalog queries with qualified operators, types and relations'),
  ('evaluate_purchase_model_pinned_wrapper', 'one scan of the source: its own schema-qualified function, pg_catalog casts, no operator'),
  ('purchase_drift_pinned_wrapper', 'one scan of the source: pg_catalog casts, no operator'),
  ('compare_purchase_models_wrapper', 'one scan of the source: pg_catalog casts, no operator'),
  ('model_catalog_changed_wrapper', 'trigger on the catalog: queues a cache invalidation, no SQL')
)
SELECT m.member, m.lanname,
       CASE WHEN m.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'] THEN 'pinned'
            WHEN m.lanname IN ('sql', 'plpgsql') AND m.member LIKE ANY (ARRAY['refresh_purchase_targets(%', 'schedule_purchase_refresh(%'])
              THEN 'qualified'
            WHEN m.lanname = 'c' THEN 'C: ' || coalesce(r.reason, 'scoring: one catalog query per backend and model version, operators and types qualified (catalog.rs)')
            ELSE 'NOT SAFE' END AS search_path
  FROM members m LEFT JOIN c_reasons r ON r.symbol = m.prosrc
 ORDER BY 1;

-- 2. The two "qualified" bodies, without string literals and comments, contain no unqualified
-- function call and no operator (:=, =>, "SELECT *", "ERRCODE =" and "HINT =" of RAISE and
-- "x = MESSAGE_TEXT" of GET DIAGNOSTICS are PL/pgSQL syntax).
WITH bodies AS (
  SELECT p.proname,
         regexp_replace(regexp_replace(regexp_replace(p.prosrc, '--[^\n]*', '', 'g'), '''([^'']|'''')*''', '', 'g'),
                        '(:=|=>|\mSELECT\s+\*|\m(ERRCODE|HINT)\s*=|=\s*(RETURNED_SQLSTATE|MESSAGE_TEXT|PG_EXCEPTION_HINT)\M)',
                        ' ', 'g') AS code
    FROM pg_proc p WHERE p.proname IN ('refresh_purchase_targets', 'schedule_purchase_refresh')
)
SELECT proname,
       ARRAY(SELECT DISTINCT m[1] FROM regexp_matches(code, '(?:^|[^.\w"])([a-z_][a-z0-9_]*)\s*\(', 'gi') m
              WHERE lower(m[1]) NOT IN ('if', 'and', 'or', 'not', 'in', 'select', 'from', 'exception', 'using',
                                        'refresh_purchase_targets', 'when', 'then')) AS unqualified_calls,
       ARRAY(SELECT DISTINCT m[1] FROM regexp_matches(code, '([-+*/<>=~!@#%^&|`?]+)', 'g') m) AS operators
  FROM bodies ORDER BY 1;

-- 3. The attack: a role that may create in a schema on a superuser's search_path plants
-- look-alikes of what pg_purchase's SQL uses, both better matches (found even after pg_catalog)
-- and exact copies (found when the schema comes first). None of them may ever run.
DO $$ BEGIN CREATE ROLE mallory; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA evil AUTHORIZATION mallory;
SET ROLE mallory;
CREATE FUNCTION evil.hijacked(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'HIJACKED: % ran as %', what, current_user; END $$;
CREATE FUNCTION evil.array_length(text[], integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('array_length'); RETURN 1; END $$;
CREATE FUNCTION evil.format(text, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('format/2'); RETURN ''; END $$;
CREATE FUNCTION evil.format(text, text, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('format/3'); RETURN ''; END $$;
CREATE FUNCTION evil.parse_ident(text, boolean DEFAULT true) RETURNS text[] LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('parse_ident'); RETURN '{}'; END $$;
CREATE FUNCTION evil.current_schema() RETURNS name LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('current_schema'); RETURN 'evil'; END $$;
CREATE FUNCTION evil.current_schemas(boolean) RETURNS name[] LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('current_schemas'); RETURN '{evil}'; END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('now'); RETURN NULL; END $$;
CREATE FUNCTION evil.pg_try_advisory_xact_lock(bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('pg_try_advisory_xact_lock'); RETURN true; END $$;
CREATE FUNCTION evil.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('text = text'); RETURN true; END $$;
CREATE OPERATOR evil.= (FUNCTION = evil.text_eq, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION evil.text_cat(text, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('text || text'); RETURN ''; END $$;
CREATE OPERATOR evil.|| (FUNCTION = evil.text_cat, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION evil.refresh_in_transaction_block() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.hijacked('refresh_in_transaction_block'); RETURN false; END $$;
RESET ROLE;
-- The look-alikes work: unqualified calls by the superuser now run mallory's code.
SET search_path = evil, pg_catalog, public;
SELECT format('%s.%s', 'a', 'b');
SELECT 'a' || 'b';
-- The whole API, called by that superuser with that search_path: nothing is hijacked.
CALL refresh_purchase_targets('many', 'public.safe_targets');
CALL refresh_purchase_targets('many', 'public.safe_targets', threshold => 0.9);
UPDATE many SET x12 = 'bad' WHERE customer_id = 3;
CALL refresh_purchase_targets('many', 'public.safe_targets');
CALL refresh_purchase_targets('many', 'public.safe_targets', on_bad_row => 'skip');
SELECT key, column_name, value FROM purchase_input_errors('many');
UPDATE many SET x12 = '$3.00' WHERE customer_id = 3;
SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'safe_targets');
SELECT unschedule_purchase_refresh('nightly');
SELECT count(*) AS versions FROM purchase_models();
SELECT export_purchase_model('default') IS NOT NULL AS exported;
SELECT activate_purchase_model('default', 1) AS active;
BEGIN;
CALL refresh_purchase_targets('many', 'safe_targets');
ROLLBACK;
RESET search_path;
-- (This query's own = would be hijacked under that path; it is the test's, not pg_purchase's.)
SELECT status, rows_targeted, rows_skipped, sqlstate FROM purchase.refresh_runs
 WHERE target = 'public.safe_targets' ORDER BY run_id;
\set VERBOSITY terse
DROP SCHEMA evil CASCADE;
\set VERBOSITY default
