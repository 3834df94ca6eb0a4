-- refresh_purchase_targets: score a source table into a targeting list, swapped in atomically,
-- every run logged in purchase.refresh_runs. It is a procedure: CALL it outside BEGIN/COMMIT.
\ir setup/common.sql
\ir setup/many.sql
\ir setup/thin.sql
\set SHOW_CONTEXT never
CALL refresh_purchase_targets('many', 'ad_targets');
SELECT count(*) AS targets, min(version) AS version, bool_and(p_hat > 0.75) AS all_above_threshold,
       (SELECT sum(purchase_outcome(m)) FROM many m) AS positives
  FROM ad_targets;
-- The list holds key, p_hat, model, version and scored_at, ordered by p_hat.
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'ad_targets'::regclass AND attnum > 0 ORDER BY attnum;
SELECT bool_and(p_hat <= prev) AS ordered_by_p_hat
  FROM (SELECT p_hat, lag(p_hat) OVER (ORDER BY ctid) AS prev FROM ad_targets) t WHERE prev IS NOT NULL;
-- A custom threshold instead of the model's; grants on the old list survive the swap.
DO $$ BEGIN CREATE ROLE marketing_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT SELECT ON ad_targets TO marketing_reader;
CALL refresh_purchase_targets('many', 'ad_targets', threshold => 0.9);
SELECT count(*) AS targets, bool_and(p_hat > 0.9) AS all_above_0_9 FROM ad_targets;
SELECT has_table_privilege('marketing_reader', 'ad_targets', 'SELECT') AS reader_keeps_access;

-- Hostile target names are identifiers, never SQL: quotes, semicolons, mixed case, schemas.
CREATE SCHEMA "Sales; Dept";
CALL refresh_purchase_targets('many', '"Sales; Dept"."Targets""; DROP TABLE many; --"');
CALL refresh_purchase_targets('many', 'MixedCase');
CALL refresh_purchase_targets('many', '"MixedCase"');
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relname ILIKE '%targets%' OR c.relname ILIKE 'mixedcase' ORDER BY 1, 2;
SELECT count(*) AS many_still_there FROM many;

-- Failures: the old list stays, the run is logged with its error, the caller sees the error.
SELECT count(*) AS before_failure FROM ad_targets;
CALL refresh_purchase_targets('many', 'ad_targets', model => 'nope');
CALL refresh_purchase_targets('many', 'ad_targets', key_column => 'id');
CALL refresh_purchase_targets('thin', 'ad_targets', key_column => 'customer_id');
-- A bad cell fails the run (the default) and the error names the row by its key.
UPDATE many SET x12 = 'twelve dollars' WHERE customer_id = 5000;
CALL refresh_purchase_targets('many', 'ad_targets');
SELECT count(*) AS after_failures FROM ad_targets;
CALL refresh_purchase_targets('many', 'a.b.c');
CALL refresh_purchase_targets('many', 'ad_targets', on_bad_row => 'ignore');

-- Bad rows can be found before scoring: key, column, raw value, SQLSTATE and message.
UPDATE many SET x62 = 'n/a' WHERE customer_id IN (7, 8000);
SELECT * FROM purchase_input_errors('many', 'default') ORDER BY key::int;
SELECT count(*) AS first_two FROM purchase_input_errors('many', max_rows => 2);
SELECT error_of($$SELECT purchase_input_errors('many', 'nope')$$);

-- on_bad_row => 'skip' leaves bad rows out, counts them in the run log and records at most
-- max_bad_rows of them in purchase.refresh_bad_rows.
CALL refresh_purchase_targets('many', 'ad_targets', on_bad_row => 'skip', max_bad_rows => 2);
SELECT rows_scored, rows_targeted, rows_skipped, on_bad_row, status
  FROM purchase.refresh_runs ORDER BY run_id DESC LIMIT 1;
-- (Which two of the three are recorded depends on the scan order.)
SELECT count(*) AS recorded, bool_and(key IN ('7', '5000', '8000')) AS only_bad_keys,
       bool_and(sqlstate = '22P02' AND error LIKE 'invalid value "' || value || '" for column "' || column_name || '"%') AS named,
       min(target) AS target
  FROM purchase.refresh_bad_rows;
SELECT count(*) FILTER (WHERE customer_id IN (7, 5000, 8000)) AS bad_rows_listed,
       count(*) = (SELECT count(*) FROM many m WHERE customer_id NOT IN (7, 5000, 8000) AND purchase_outcome(m) = 1)
         AS every_good_positive_listed
  FROM ad_targets;
-- A later successful run of the target replaces them (the table stays bounded).
UPDATE many SET x12 = '$12.00' WHERE customer_id = 5000;
UPDATE many SET x62 = (sin(customer_id * 0.7))::text WHERE customer_id IN (7, 8000);
CALL refresh_purchase_targets('many', 'ad_targets', on_bad_row => 'skip');
SELECT count(*) AS bad_rows_left FROM purchase.refresh_bad_rows;
-- Every row bad: the run fails rather than emptying the list.
CREATE TABLE all_bad AS SELECT * FROM many WHERE customer_id <= 3;
UPDATE all_bad SET x12 = 'x';
CALL refresh_purchase_targets('all_bad', 'ad_targets', on_bad_row => 'skip');

-- The swap replaces the rows of the target, not the table: its indexes, constraints, comment,
-- grants and dependent views stay. (The primary key ad_targets_pkey on customer_id is the
-- first refresh's own: 16_firstweek.)
CREATE INDEX ad_targets_by_p_hat ON ad_targets (p_hat);
COMMENT ON TABLE ad_targets IS 'Tonight''s ad targets';
CREATE VIEW top_targets AS SELECT customer_id, p_hat FROM ad_targets ORDER BY p_hat DESC LIMIT 3;
GRANT SELECT ON top_targets TO marketing_reader;
SELECT 'ad_targets'::regclass::oid AS oid_before \gset
CALL refresh_purchase_targets('many', 'ad_targets', threshold => 0.95);
SELECT 'ad_targets'::regclass::oid = :oid_before AS same_table,
       obj_description('ad_targets'::regclass, 'pg_class') AS comment,
       (SELECT string_agg(indexrelid::regclass::text, ', ' ORDER BY 1) FROM pg_index
         WHERE indrelid = 'ad_targets'::regclass) AS indexes,
       has_table_privilege('marketing_reader', 'ad_targets', 'SELECT') AS reader_keeps_access,
       (SELECT count(*) FROM top_targets) AS view_rows,
       (SELECT bool_and(p_hat > 0.95) FROM ad_targets) AS new_rows;
-- A target that is not a table is refused.
CALL refresh_purchase_targets('many', 'top_targets');

-- Names: multibyte target names near the 63-byte limit work (no staging name is derived).
CALL refresh_purchase_targets('many', repeat('ü', 31));
CALL refresh_purchase_targets('many', repeat('ü', 31));
SELECT octet_length(relname) AS name_bytes FROM pg_class WHERE relname = repeat('ü', 31);

-- Cancelled or timed out: the run ends failed with 57014, the old list stays.
CREATE FUNCTION slowly(id integer) RETURNS boolean LANGUAGE sql AS 'SELECT pg_sleep(0.002); SELECT true';
CREATE VIEW slow_many AS SELECT * FROM many WHERE customer_id <= 500 AND slowly(customer_id);
SET statement_timeout = '300ms';
CALL refresh_purchase_targets('slow_many', 'ad_targets');
RESET statement_timeout;
SELECT status, sqlstate, error FROM purchase.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS old_list_kept FROM ad_targets;

-- Inside a transaction block the procedure cannot commit its log: 2D000 with a hint.
BEGIN;
CALL refresh_purchase_targets('many', 'ad_targets');
ROLLBACK;

-- The run log: source, target, model, version, rows, status and error of every run.
SELECT run_id, source, target, model, version, rows_scored, rows_targeted, rows_skipped, status, sqlstate, error,
       finished_at >= started_at AS timed
  FROM purchase.refresh_runs ORDER BY run_id;

-- Only a run writes its log row: purchase_admin can neither finish another run nor write the
-- tables. Error text and bad values are shown only to roles that may read the source.
DO $$ BEGIN CREATE ROLE refresh_forger; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE refresh_watcher; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
-- (Quiet: on a cluster that ran the suite before, the roles are members already.)
SET client_min_messages = warning;
GRANT purchase_admin TO refresh_forger;
GRANT purchase_scorer TO refresh_watcher;
RESET client_min_messages;
SET ROLE refresh_forger;
SELECT error_of($$SELECT purchase.refresh_run_finished(1, 'failed', NULL, NULL, 0, 0, 0, 'XX000', 'forged')$$);
SELECT error_of($$SELECT purchase.refresh_bad_row_add(1, 'k', 'x12', 'v', '22P02', 'forged')$$);
SELECT error_of($$UPDATE purchase.refresh_run_log SET status = 'failed'$$);
SELECT error_of($$UPDATE purchase.refresh_runs SET status = 'failed'$$);
SELECT error_of($$INSERT INTO purchase.refresh_bad_row_log VALUES (1, 'k', 'x12', 'v', '22P02', 'forged')$$);
RESET ROLE;
SELECT count(*) AS forged FROM purchase.refresh_runs WHERE error = 'forged' OR status = 'running';
SET ROLE refresh_watcher;
SELECT run_id, source, error FROM purchase.refresh_runs WHERE run_id IN (7, 9) ORDER BY run_id;
RESET ROLE;
GRANT SELECT ON many TO refresh_watcher;
SET ROLE refresh_watcher;
SELECT run_id, source, error FROM purchase.refresh_runs WHERE run_id IN (7, 9) ORDER BY run_id;
RESET ROLE;
REVOKE SELECT ON many FROM refresh_watcher;

-- Without pg_cron in this database, scheduling says how to get it.
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'ad_targets')$$);
SELECT error_of($$SELECT unschedule_purchase_refresh('nightly')$$);

-- Thresholds are probabilities: NaN, values outside [0, 1] and infinities are refused (22023,
-- naming the value) before the run starts, so the list stays; scheduling refuses them before
-- storing a job. NULL means the model's own threshold; 0 and 1 are allowed.
SELECT count(*) AS before_bad_thresholds FROM ad_targets;
CALL refresh_purchase_targets('many', 'ad_targets', threshold => 'NaN');
CALL refresh_purchase_targets('many', 'ad_targets', threshold => -1);
CALL refresh_purchase_targets('many', 'ad_targets', threshold => 1.5);
CALL refresh_purchase_targets('many', 'ad_targets', threshold => 'Infinity');
CALL refresh_purchase_targets('many', 'ad_targets', threshold => '-Infinity');
CALL refresh_purchase_targets('many', 'ad_targets', threshold => -0.000001);
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'ad_targets', threshold => 'NaN')$$);
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'ad_targets', threshold => 1.5)$$);
SELECT count(*) AS after_bad_thresholds FROM ad_targets;
SELECT count(*) AS runs_logged_for_bad_thresholds FROM purchase.refresh_runs WHERE finished_at IS NULL OR status = 'running';
CALL refresh_purchase_targets('many', 'ad_targets', threshold => 1);
SELECT count(*) AS nothing_above_1 FROM ad_targets;
CALL refresh_purchase_targets('many', 'ad_targets', threshold => 0);
SELECT count(*) = (SELECT count(*) FROM many) AS everyone_above_0 FROM ad_targets;

-- A non-superuser purchase_admin can schedule: without pg_cron here, it gets the hint naming the
-- cron database (reading cron.database_name, a superuser-only setting, is the extension's job).
SET ROLE refresh_forger;
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'forger_targets')$$);
RESET ROLE;

-- The target's triggers, rules, policies, defaults and constraints run as the role that runs the
-- refresh, so an existing target must be owned by that role or a role it is a member of (being
-- superuser does not count): else 42501 naming the owner, before anything is written to it.
-- A plain role with CREATE on a schema in a superuser's search_path plants a target whose
-- trigger would make her superuser.
DO $$ BEGIN CREATE ROLE mallory; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
ALTER ROLE mallory NOSUPERUSER;
CREATE SCHEMA shared;
GRANT USAGE, CREATE ON SCHEMA shared TO mallory;
SET ROLE mallory;
CREATE FUNCTION shared.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN ALTER ROLE mallory SUPERUSER; RETURN NEW; END $$;
CREATE TABLE shared.ad_targets (customer_id integer, p_hat float8, model text, version integer, scored_at timestamptz);
CREATE TRIGGER escalate BEFORE INSERT ON shared.ad_targets FOR EACH ROW EXECUTE FUNCTION shared.escalate();
RESET ROLE;
SET search_path = shared, public;
CALL refresh_purchase_targets('many', 'ad_targets');
CALL refresh_purchase_targets('many', 'shared.ad_targets', threshold => 0.9);
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'ad_targets')$$);
RESET search_path;
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'mallory';
SELECT count(*) AS rows_in_planted_target FROM shared.ad_targets;
SELECT status, sqlstate FROM purchase.refresh_runs ORDER BY run_id DESC LIMIT 2;

-- Partitions (and inheritance children) are written too: each must pass the same rule.
CREATE TABLE part_targets (customer_id integer, p_hat float8, model text, version integer, scored_at timestamptz)
  PARTITION BY RANGE (p_hat);
CREATE TABLE part_targets_low PARTITION OF part_targets FOR VALUES FROM (0) TO (0.9);
CREATE TABLE part_targets_high PARTITION OF part_targets FOR VALUES FROM (0.9) TO (2);
CALL refresh_purchase_targets('many', 'part_targets');
SELECT (SELECT count(*) FROM part_targets_low) AS low, (SELECT count(*) FROM part_targets_high) AS high,
       (SELECT count(*) FROM many m WHERE purchase_outcome(m) = 1) AS positives;
ALTER TABLE part_targets_high OWNER TO mallory;
SET ROLE mallory;
CREATE TRIGGER escalate BEFORE INSERT ON part_targets_high FOR EACH ROW EXECUTE FUNCTION shared.escalate();
RESET ROLE;
CALL refresh_purchase_targets('many', 'part_targets', threshold => 0.95);
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'mallory';
SELECT count(*) AS kept, bool_and(p_hat > 0.75) AS old_list FROM part_targets;
CREATE TABLE parent_targets (customer_id integer, p_hat float8, model text, version integer, scored_at timestamptz);
CREATE TABLE child_targets () INHERITS (parent_targets);
ALTER TABLE child_targets OWNER TO mallory;
CALL refresh_purchase_targets('many', 'parent_targets');
SELECT count(*) AS rows_in_parent FROM parent_targets;
-- A view owned by another role is refused for its owner, as any relation is.
CREATE VIEW shared.mallory_view AS SELECT 1 AS customer_id;
ALTER VIEW shared.mallory_view OWNER TO mallory;
CALL refresh_purchase_targets('many', 'shared.mallory_view');

-- The legitimate cases keep working: the caller owns the target (everything above), or is a
-- member of its owner; a superuser that is not a member is refused until it becomes one.
DO $$ BEGIN CREATE ROLE list_owner; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE list_member; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
SET client_min_messages = error;  -- quiet on a cluster that ran the suite before
GRANT list_owner TO list_member;
GRANT purchase_admin TO list_member;
REVOKE list_owner FROM postgres;
RESET client_min_messages;
GRANT SELECT ON many TO list_member;
CREATE TABLE owned_targets (customer_id integer, p_hat float8, model text, version integer, scored_at timestamptz,
                            note text DEFAULT current_user);
ALTER TABLE owned_targets OWNER TO list_owner;
CALL refresh_purchase_targets('many', 'owned_targets');
SET ROLE list_member;
CALL refresh_purchase_targets('many', 'owned_targets');
RESET ROLE;
SELECT count(*) AS listed, min(note) AS written_by FROM owned_targets;
GRANT list_owner TO postgres;
CALL refresh_purchase_targets('many', 'owned_targets', threshold => 0.9);
SELECT count(*) AS listed, min(note) AS written_by, bool_and(p_hat > 0.9) AS above_0_9 FROM owned_targets;
REVOKE list_owner FROM postgres;
REVOKE SELECT ON many FROM list_member;
DROP TABLE owned_targets, part_targets, parent_targets CASCADE;
DROP SCHEMA shared CASCADE;
