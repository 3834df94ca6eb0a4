\set ECHO none
-- Shared set-up of every file of the suite after 01_install (included with \ir): the same clean
-- state whether a file runs on its own against a fresh database or after the others in one
-- database. Whatever an earlier file left is removed (pg_purchase with its catalog and run log,
-- every schema and the objects in them; public is made anew as in a fresh database), then
-- pg_purchase is installed, the bundled model loaded as 'default' (version 1;
-- PG_PURCHASE_ARTIFACT, exported by scripts/regress.sh, is the path of
-- artifacts/purchase_model.json), and the error_of helper created. Idempotent.
-- Runs without echo or output, so the expected files show only the \ir line.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_purchase CASCADE;
DO $$
DECLARE s name;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
END $$;
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
GRANT USAGE ON SCHEMA public TO PUBLIC;
COMMENT ON SCHEMA public IS 'standard public schema';
CREATE EXTENSION pg_purchase;
\getenv artifact_path PG_PURCHASE_ARTIFACT
SELECT load_purchase_model(pg_read_file(:'artifact_path')::jsonb) AS setup_version \gset
-- Test helper: run a statement and show SQLSTATE, message and hint of its error.
CREATE FUNCTION error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text; hint text;
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN state || ': ' || msg || CASE WHEN hint <> '' THEN E'\nHINT: ' || hint ELSE '' END;
END $$;
RESET client_min_messages;
\set ECHO all
