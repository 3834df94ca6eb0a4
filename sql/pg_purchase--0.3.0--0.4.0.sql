-- pg_purchase 0.3.0 -> 0.4.0. Models in purchase.model_versions are kept as they are.
-- Each block below belongs to one change of 0.4.0 and recreates exactly what the current
-- src/**/*.sql defines for the objects it touches (tests/lifecycle/test_nothing_lost.py compares an
-- upgraded database with a fresh install).

-- ---------------------------------------------------------------------------------------------
-- refresh (issue 18 items 1, 12, 15)
-- Item 1: an existing target (and every partition or child of it) must be owned by the calling
-- role or a role it is really a member of, checked before scoring and again once locked, and at
-- scheduling. Item 12: thresholds outside [0, 1], NaN and infinities are refused before a run
-- starts or a job is stored. Item 15: cron.database_name is read through a definer function, only
-- where it is needed, so purchase_admin members can schedule. New helpers, then the four changed
-- objects recreated exactly as src/pg/refresh.sql defines them (their grants are kept).

-- A threshold is a probability (a customer is listed when p_hat > threshold): NaN, infinities and
-- anything outside [0, 1] are refused. NULL, the model's own threshold, passes.
CREATE FUNCTION purchase.refresh_check_threshold(threshold float8) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF threshold = 'NaN'::float8 OR threshold < 0 OR threshold > 1 THEN
    RAISE EXCEPTION 'threshold must be a probability between 0 and 1, not %', threshold
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A customer is listed when p_hat > threshold: pass a number from 0 to 1, '
                   'or NULL (the default) for the model''s own threshold.';
  END IF;
END $$;

-- pg_class.relowner as committed now (the syscache, not the run's snapshot), and whether the
-- current role is a role or a member of it with superuser status counting for nothing
-- (src/pg/ownership.rs says why these two are C).
CREATE FUNCTION purchase.relation_owner(relation oid) RETURNS oid
    AS 'MODULE_PATHNAME', 'relation_owner_wrapper' LANGUAGE C STABLE STRICT;
CREATE FUNCTION purchase.caller_is_member_of(role oid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'caller_is_member_of_wrapper' LANGUAGE C STABLE STRICT;

-- Who may have a target written: the target and every table a write to it reaches (partitions,
-- inheritance children) must be owned by the calling role or a role it is a member of. Their
-- triggers, rules, policies, defaults and constraints run as the caller, so superuser status
-- does not count: a superuser's refresh must never run a plain role's trigger. Owners are read
-- as committed now; the refresh checks again once the target is locked.
CREATE FUNCTION purchase.refresh_check_owner(target oid, target_name text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  rel   oid;
  owner oid;
BEGIN
  FOR rel IN WITH RECURSIVE tree(relid) AS (
               SELECT target
               UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid)
             SELECT tree.relid FROM tree LOOP
    owner := purchase.relation_owner(rel);
    CONTINUE WHEN owner IS NULL OR purchase.caller_is_member_of(owner);
    RAISE EXCEPTION '% is owned by role %, and role % is neither it nor a member of it',
      CASE WHEN rel = target THEN format('target %s', target_name)
           ELSE format('table %s (a partition or child of target %s)', rel::regclass, target_name) END,
      quote_ident(pg_get_userbyid(owner)), quote_ident(current_user)
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('A refresh runs the triggers, rules, policies, defaults and constraints of the tables it '
                          'writes as the role running it, so it writes only tables that role owns or belongs to the '
                          'owner of (being superuser does not count). Refresh as the owner (SET ROLE %I), or '
                          'choose another target.', pg_get_userbyid(owner));
  END LOOP;
END $$;

-- cron.database_name is a superuser-only setting: members of purchase_admin that schedule
-- read it through this definer function (owned by the superuser who installed pg_purchase).
CREATE FUNCTION purchase.cron_database_name() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT current_setting('cron.database_name', true) $$;

-- The work of one run, in the caller's rights: score source into a temporary table (one scan:
-- rows_scored and the list come from it), then replace the target's contents under an
-- ACCESS EXCLUSIVE lock with TRUNCATE + INSERT, which keeps the table itself with its indexes,
-- constraints, comments, grants, triggers, policies and dependent views.
CREATE OR REPLACE FUNCTION purchase.refresh_work(run bigint, source regclass, target text, caller_schemas name[],
                                      creation_schema name, model text, key_column text, threshold float8,
                                      on_bad_row text, max_bad_rows integer,
                                      OUT r_status text, OUT r_target text, OUT r_version integer,
                                      OUT r_scored bigint, OUT r_targeted bigint, OUT r_skipped bigint)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tschema   text;
  tname     text;
  existing  oid;
  kind      "char";
  staging   text := 'pg_purchase_refresh_' || run;
  bad_keys  text := 'pg_purchase_refresh_bad_' || run;
  keep      text;
  bad       record;
  first_bad record;
BEGIN
  IF on_bad_row NOT IN ('error', 'skip') THEN
    RAISE EXCEPTION 'on_bad_row must be ''error'' or ''skip'', not %', quote_literal(on_bad_row)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF max_bad_rows < 0 OR max_bad_rows > 10000 THEN
    RAISE EXCEPTION 'max_bad_rows must be between 0 and 10000, not %', max_bad_rows
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT t.schema_name, t.table_name, t.existing INTO tschema, tname, existing
    FROM purchase.refresh_target(target, caller_schemas, creation_schema) t;
  r_target := format('%I.%I', tschema, tname);
  IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = source AND a.attname = key_column
                                              AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'column "%" does not exist in %', key_column, source
      USING ERRCODE = 'undefined_column', HINT = 'Pass key_column => the column that identifies a customer.';
  END IF;
  SELECT mv.version INTO r_version FROM purchase.model_versions mv WHERE mv.name = model AND mv.active;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purchase model "%" does not exist', model
      USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM purchase_models() lists the models.';
  END IF;
  -- Two refreshes of one target never interleave: the second skips with a NOTICE. The key is
  -- the quoted qualified name (unambiguous: "a.b".c and a."b.c" differ), hashed to 64 bits.
  IF NOT pg_try_advisory_xact_lock(hashtextextended('pg_purchase.refresh:' || r_target, 0)) THEN
    RAISE NOTICE 'a refresh of % is already running; skipping this one', r_target;
    r_status := 'skipped';
    r_scored := 0;
    r_targeted := 0;
    RETURN;
  END IF;
  -- Looked up again under the lock: a refresh that held it may have just created the target.
  SELECT c.oid, c.relkind INTO existing, kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = tschema AND c.relname = tname;
  IF existing IS NOT NULL THEN
    PERFORM purchase.refresh_check_owner(existing, r_target);
  END IF;
  IF existing IS NOT NULL AND kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'target % is not a table', r_target
      USING ERRCODE = 'wrong_object_type', HINT = 'A refresh replaces the rows of a table it creates or that has its columns.';
  END IF;

  -- Score every row once (rows_scored and the list come from this one scan).
  BEGIN
    EXECUTE purchase.refresh_scoring_sql(staging, source, model, key_column, '');
  EXCEPTION WHEN data_exception OR datatype_mismatch THEN
    -- A bad cell: find the rows at fault (scoring each row on its own).
    IF on_bad_row = 'error' THEN
      SELECT * INTO first_bad FROM @extschema@.purchase_input_errors(source, model, key_column, 1);
      IF NOT FOUND THEN
        RAISE;  -- no single row explains it: the original error
      END IF;
      RAISE EXCEPTION 'row %: %', format('%I = %s', key_column, first_bad.key), first_bad.error
        USING ERRCODE = first_bad.sqlstate,
              HINT = 'Fix that row, or pass on_bad_row => ''skip'' to leave bad rows out; '
                     || format('SELECT * FROM purchase_input_errors(%L, %L, %L) lists them all.', source::text, model, key_column);
    END IF;
    EXECUTE format('CREATE TEMP TABLE %I (key text) ON COMMIT DROP', bad_keys);
    r_skipped := 0;
    FOR bad IN SELECT * FROM @extschema@.purchase_input_errors(source, model, key_column, NULL) LOOP
      EXECUTE format('INSERT INTO pg_temp.%I VALUES ($1)', bad_keys) USING bad.key;
      IF r_skipped < max_bad_rows THEN
        PERFORM purchase.refresh_bad_row_add(run, bad.key, bad.column_name, bad.value, bad.sqlstate, bad.error);
      END IF;
      r_skipped := r_skipped + 1;
    END LOOP;
    EXECUTE purchase.refresh_scoring_sql(staging, source, model, key_column,
      format('WHERE NOT EXISTS (SELECT FROM pg_temp.%I b WHERE b.key = c.%I::text)', bad_keys, key_column));
  END;
  GET DIAGNOSTICS r_scored = ROW_COUNT;
  r_skipped := coalesce(r_skipped, 0);
  IF r_scored = 0 AND r_skipped > 0 THEN
    RAISE EXCEPTION 'every row of % is bad (% rows); the list is left as it was', source, r_skipped
      USING ERRCODE = 'data_exception',
            HINT = format('SELECT * FROM purchase_input_errors(%L, %L, %L) lists them.', source::text, model, key_column);
  END IF;
  EXECUTE format('SELECT coalesce(min(version), %s) FROM pg_temp.%I', r_version, staging) INTO r_version;

  keep := CASE WHEN threshold IS NULL THEN 'business_outcome = 1' ELSE format('p_hat > %L::float8', threshold) END;
  IF existing IS NULL THEN
    EXECUTE format('CREATE TABLE %I.%I AS
                      SELECT key AS %I, p_hat, %L::text AS model, version, now() AS scored_at
                        FROM pg_temp.%I WHERE %s ORDER BY p_hat DESC',
                   tschema, tname, key_column, model, staging, keep);
  ELSE
    -- Readers see the old complete list until commit, then the new one.
    EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', tschema, tname);
    -- Checked again now that it is locked (owners cannot change any more): the name still means
    -- the table checked before scoring, not one dropped and created anew meanwhile, and its
    -- owners as committed now. Nothing has been written to it yet.
    IF to_regclass(r_target)::oid IS DISTINCT FROM existing THEN
      RAISE EXCEPTION 'target % was dropped or replaced while the refresh ran', r_target
        USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Run the refresh again.';
    END IF;
    PERFORM purchase.refresh_check_owner(existing, r_target);
    EXECUTE format('TRUNCATE TABLE %I.%I', tschema, tname);
    EXECUTE format('INSERT INTO %I.%I (%I, p_hat, model, version, scored_at)
                      SELECT key, p_hat, %L, version, now() FROM pg_temp.%I WHERE %s ORDER BY p_hat DESC',
                   tschema, tname, key_column, model, staging, keep);
  END IF;
  GET DIAGNOSTICS r_targeted = ROW_COUNT;
  EXECUTE format('DROP TABLE pg_temp.%I', staging);
  r_status := 'succeeded';
END $$;

-- A procedure, not a function: the run-log row is committed before the work starts and its
-- outcome is committed after, so a failed, cancelled or timed-out run stays logged while the
-- caller (and pg_cron's cron.job_run_details) still sees the error. CALL it outside an explicit
-- transaction block. A procedure with a SET clause may not COMMIT, so this one has none: it
-- calls only schema-qualified functions and uses no operator, and the work runs in
-- purchase.refresh_work, which pins search_path.
CREATE OR REPLACE PROCEDURE refresh_purchase_targets(source regclass, target text, model text DEFAULT 'default',
                                          key_column text DEFAULT 'customer_id', threshold float8 DEFAULT NULL,
                                          on_bad_row text DEFAULT 'error', max_bad_rows integer DEFAULT 100,
                                          INOUT rows_targeted bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $proc$
DECLARE
  run       bigint;
  outcome   record;
  failed    boolean := false;
  err_state text;
  err_text  text;
  err_hint  text;
BEGIN
  IF purchase.refresh_in_transaction_block() THEN
    RAISE EXCEPTION 'refresh_purchase_targets cannot run inside a transaction block'
      USING ERRCODE = 'invalid_transaction_termination',
            HINT = 'It commits its run-log entry before and after the work: CALL it on its own (autocommit, '
                   'not between BEGIN and COMMIT, not together with other statements in one query string), as pg_cron does.';
  END IF;
  IF source IS NULL OR target IS NULL OR model IS NULL OR key_column IS NULL OR on_bad_row IS NULL OR max_bad_rows IS NULL THEN
    RAISE EXCEPTION 'refresh_purchase_targets: source, target, model, key_column, on_bad_row and max_bad_rows must not be NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM purchase.refresh_check_threshold(threshold);
  run := purchase.refresh_run_started(source, target, model, on_bad_row);
  IF run IS NULL THEN
    RAISE EXCEPTION 'source % does not exist', source USING ERRCODE = 'undefined_table';
  END IF;
  COMMIT;
  -- One snapshot for the whole run: the rows scored, skipped and listed are the same rows.
  SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;

  BEGIN
    SELECT * INTO outcome
      FROM purchase.refresh_work(run, source, target, pg_catalog.current_schemas(true), pg_catalog.current_schema(),
                                 model, key_column, threshold, on_bad_row, max_bad_rows);
    PERFORM purchase.refresh_run_finished(run, outcome.r_status, outcome.r_target, outcome.r_version,
                                          outcome.r_scored, outcome.r_targeted, outcome.r_skipped, NULL, NULL);
    rows_targeted := outcome.r_targeted;
  EXCEPTION WHEN OTHERS OR query_canceled THEN
    -- Everything above is rolled back: the old list stays. A cancel or statement_timeout
    -- (57014) is logged as failed too, then raised again.
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_text = MESSAGE_TEXT, err_hint = PG_EXCEPTION_HINT;
    failed := true;
  END;

  IF failed THEN
    PERFORM purchase.refresh_run_finished(run, 'failed', NULL, NULL, NULL, NULL, NULL, err_state, err_text);
    COMMIT;  -- the log entry survives the error raised next
    RAISE EXCEPTION 'refresh of "%" from % failed: %', target, source, err_text
      USING ERRCODE = err_state, HINT = purchase.refresh_failure_hint(err_hint, run);
  END IF;
END
$proc$;

-- The CALL a pg_cron job runs: source and target fully qualified when scheduled, so the job
-- does not depend on the search_path it runs with.
CREATE OR REPLACE FUNCTION purchase.refresh_job_command(source regclass, target text, caller_schemas name[], creation_schema name,
                                             model text, key_column text, threshold float8, on_bad_row text)
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE qualified_source text; qualified_target text; existing oid;
BEGIN
  IF source IS NULL OR target IS NULL OR model IS NULL OR key_column IS NULL OR on_bad_row IS NULL THEN
    RAISE EXCEPTION 'schedule_purchase_refresh: source, target, model, key_column and on_bad_row must not be NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT format('%I.%I', n.nspname, c.relname) INTO qualified_source
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
  PERFORM purchase.refresh_check_threshold(threshold);
  SELECT format('%I.%I', t.schema_name, t.table_name), t.existing INTO qualified_target, existing
    FROM purchase.refresh_target(target, caller_schemas, creation_schema) t;
  -- Refused now rather than every night (the run checks again: a target can appear later).
  IF existing IS NOT NULL THEN
    PERFORM purchase.refresh_check_owner(existing, qualified_target);
  END IF;
  RETURN format('CALL %s.refresh_purchase_targets(%L::regclass, %L, %L, key_column => %L, threshold => %s, on_bad_row => %L)',
                '@extschema@', qualified_source, qualified_target, model, key_column,
                coalesce(quote_literal(threshold) || '::float8', 'NULL'), on_bad_row);
END $$;

CREATE OR REPLACE FUNCTION purchase.schedule_refresh_job(job_name text, schedule text, command text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  job bigint;
  cron_db text;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
    cron_db := purchase.cron_database_name();
    IF cron_db IS NOT NULL AND cron_db <> current_database() THEN
      RAISE EXCEPTION 'pg_cron runs its jobs from database "%", not from "%"', cron_db, current_database()
        USING ERRCODE = 'feature_not_supported',
              HINT = format('Schedule it from database %I (as a superuser, or a role granted EXECUTE on cron.schedule_in_database): SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                            cron_db, job_name, schedule, command, current_database());
    END IF;
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Install postgresql-15-cron; set shared_preload_libraries = ''pg_cron'', cron.database_name = '''
                   || current_database() || ''' and cron.use_background_workers = on; restart; then CREATE EXTENSION pg_cron.';
  END IF;
  EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING job_name, schedule, command;
  RETURN job;
END $$;

REVOKE EXECUTE ON FUNCTION purchase.refresh_check_threshold(float8),
  purchase.relation_owner(oid),
  purchase.caller_is_member_of(oid),
  purchase.refresh_check_owner(oid, text),
  purchase.cron_database_name() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purchase.refresh_check_threshold(float8),
  purchase.relation_owner(oid),
  purchase.caller_is_member_of(oid),
  purchase.refresh_check_owner(oid, text),
  purchase.cron_database_name() TO purchase_admin;
-- (end refresh)

-- ---------------------------------------------------------------------------------------------
-- training (issue 18 items 2, 10, 11, 16)
-- (end training)

-- ---------------------------------------------------------------------------------------------
-- rules (issue 18 items 3, 4, 8, 9, 13, 14)
-- (end rules)

-- ---------------------------------------------------------------------------------------------
-- trees (issue 19)
-- purchase_models() gains kind, trees and leaves (a changed result type: dropped and recreated,
-- with its grant to purchase_scorer).
DROP FUNCTION purchase_models();
CREATE FUNCTION purchase_models()
RETURNS TABLE (name text, version integer, active boolean, sha256 text, loaded_at timestamptz,
               loaded_by name, features integer, threshold float8, columns text[],
               format integer, checks integer, metrics jsonb,
               kind text, trees integer, leaves integer)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT m.name, m.version, m.active, m.sha256, m.loaded_at, m.loaded_by,
         jsonb_array_length(m.artifact->'model'->'features'),
         (m.artifact->>'threshold')::float8,
         ARRAY(SELECT i->>'column' FROM jsonb_array_elements(m.artifact->'inputs') i),
         (m.artifact->>'format_version')::integer,
         coalesce(jsonb_array_length(m.artifact->'checks'), 0),  -- 0: loaded with allow_unchecked
         m.artifact->'training'->'metrics',
         -- trees: the tree format's library; NULL trees and leaves for a logistic model
         CASE m.artifact->>'format'
           WHEN 'pg_purchase.tree_pipeline' THEN
             CASE m.artifact->'model'->>'library'
               WHEN 'sklearn.HistGradientBoostingClassifier' THEN 'hist_gradient_boosting'
               ELSE m.artifact->'model'->>'library' END
           ELSE 'logistic_regression' END,
         CASE WHEN m.artifact->>'format' = 'pg_purchase.tree_pipeline'
              THEN jsonb_array_length(m.artifact->'model'->'trees') END,
         CASE WHEN m.artifact->>'format' = 'pg_purchase.tree_pipeline'
              THEN (SELECT count(*)::integer
                      FROM jsonb_array_elements(m.artifact->'model'->'trees') t,
                           jsonb_array_elements(t->'left') l
                     WHERE l = '-1'::jsonb) END
    FROM purchase.model_versions m
   ORDER BY m.name, m.version
$$;
COMMENT ON FUNCTION purchase_models() IS 'Every loaded model version with its metadata; active marks the version in force; metrics for versions trained by train_purchase_model; kind, and for tree models the number of trees and leaves';
GRANT EXECUTE ON FUNCTION purchase_models() TO purchase_scorer;
-- (end trees)

-- ---------------------------------------------------------------------------------------------
-- targeting (issue 21: optimize_purchase_threshold, set_purchase_threshold)
CREATE FUNCTION "optimize_purchase_threshold"(
	"source" regclass,
	"target_column" TEXT,
	"model" TEXT DEFAULT 'default',
	"value_per_purchase" double precision DEFAULT NULL,
	"cost_per_contact" double precision DEFAULT NULL
) RETURNS jsonb
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'optimize_purchase_threshold_wrapper';
CREATE FUNCTION "set_purchase_threshold"(
	"model" TEXT,
	"threshold" double precision,
	"activate" bool DEFAULT true
) RETURNS INT
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'set_purchase_threshold_wrapper';
GRANT EXECUTE ON FUNCTION optimize_purchase_threshold(regclass, text, text, float8, float8) TO purchase_scorer;
ALTER FUNCTION optimize_purchase_threshold(regclass, text, text, float8, float8) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION set_purchase_threshold(text, float8, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION set_purchase_threshold(text, float8, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_purchase_threshold(text, float8, boolean) TO purchase_admin;
-- (end targeting)

-- ==== explain ====
-- explain (issue 20: tree explanations; by_column). purchase_model_weights gains importance,
-- gain and splits (a changed result type: dropped and recreated, granted to purchase_scorer
-- again). purchase.feature_contributions is new (what explain_purchase reads). explain_purchase's
-- by_column comes with its version argument, in the versions block below (one new signature).
DROP FUNCTION purchase_model_weights(text, integer);
CREATE  FUNCTION "purchase_model_weights"(
	"model" TEXT DEFAULT 'default', /* Option < & str > */
	"version" INT DEFAULT NULL /* Option < i32 > */
) RETURNS TABLE (
	"feature" TEXT,  /* String */
	"input_column" TEXT,  /* Option < String > */
	"coefficient" double precision,  /* Option < f64 > */
	"std_error" double precision,  /* Option < f64 > */
	"odds_ratio" double precision,  /* Option < f64 > */
	"rank" INT,  /* i32 */
	"mean" double precision,  /* Option < f64 > */
	"scale" double precision,  /* Option < f64 > */
	"importance" double precision,  /* Option < f64 > */
	"gain" double precision,  /* Option < f64 > */
	"splits" INT  /* Option < i32 > */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'purchase_model_weights_wrapper';
CREATE FUNCTION purchase.feature_contributions(features jsonb, model text, version integer)
RETURNS TABLE (feature text, input_column text, model_input float8, coefficient float8, contribution float8)
    AS 'MODULE_PATHNAME', 'feature_contributions_wrapper' LANGUAGE C STABLE PARALLEL SAFE;

GRANT EXECUTE ON FUNCTION purchase_model_weights(text, integer),
  purchase.feature_contributions(jsonb, text, integer) TO purchase_scorer;
-- ==== (end explain) ====
-- ---------------------------------------------------------------------------------------------
-- ==== targeting ====
-- Issue 21 item 3 (budgets) and issue 22 item 6's schedule part: refresh_purchase_targets and
-- schedule_purchase_refresh take budget => N (the N highest-scored rows, ties by key_column
-- ascending), schedule_purchase_refresh takes max_bad_rows like the procedure, and the run log
-- records the budget. Changed signatures are new functions: the old ones are dropped and the new
-- ones created exactly as src/pg/refresh.sql defines them, with the same grants.
ALTER TABLE purchase.refresh_run_log ADD COLUMN budget bigint;
CREATE OR REPLACE VIEW purchase.refresh_runs WITH (security_barrier) AS
SELECT r.run_id, r.source, r.target, r.model, r.version, r.rows_scored, r.rows_targeted,
       r.started_at, r.finished_at, r.duration, r.status, r.sqlstate,
       CASE WHEN r.error IS NULL OR pg_catalog.has_table_privilege(r.source_oid, 'SELECT') THEN r.error
            ELSE 'hidden: only roles that may read ' || r.source || ' see this error' END AS error,
       r.run_by, r.rows_skipped, r.on_bad_row, r.budget
  FROM purchase.refresh_run_log r;

DROP PROCEDURE refresh_purchase_targets(regclass, text, text, text, float8, text, integer, bigint);
DROP FUNCTION schedule_purchase_refresh(text, text, regclass, text, text, text, float8, text);
DROP FUNCTION purchase.refresh_job_command(regclass, text, name[], name, text, text, float8, text);
DROP FUNCTION purchase.refresh_work(bigint, regclass, text, name[], name, text, text, float8, text, integer);
DROP FUNCTION purchase.refresh_run_started(regclass, text, text, text);
-- Starts a run: marks runs whose session is gone as abandoned, then logs this one as running,
-- bound to the calling session.
CREATE FUNCTION purchase.refresh_run_started(source regclass, target text, model text, on_bad_row text, budget bigint)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  UPDATE purchase.refresh_run_log r
     SET status = 'abandoned', finished_at = clock_timestamp(),
         error = 'the session running it ended before the run finished (terminated, crashed or the server restarted)'
   WHERE r.status = 'running'
     AND NOT EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = r.backend_pid AND a.backend_start = r.backend_start);
  INSERT INTO purchase.refresh_run_log (source, source_oid, target, model, on_bad_row, budget, run_by, backend_pid, backend_start)
  SELECT format('%I.%I', n.nspname, c.relname), c.oid, target, model, on_bad_row, budget, session_user, a.pid, a.backend_start
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, pg_stat_activity a
   WHERE c.oid = source AND a.pid = pg_backend_pid()
  RETURNING run_id
$$;
-- A budget is how many customers the list may hold at most: a positive count. NULL, no budget,
-- passes; max_bad_rows is checked with it for schedule_purchase_refresh, which stores both in a job.
CREATE FUNCTION purchase.refresh_check_budget(budget bigint) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF budget <= 0 THEN
    RAISE EXCEPTION 'budget must be a positive number of customers, not %', budget
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'budget => N lists the N highest-scored customers (ties at the cut broken by key_column '
                   'ascending); pass NULL (the default) for no limit.';
  END IF;
END $$;
CREATE FUNCTION purchase.refresh_check_max_bad_rows(max_bad_rows integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF max_bad_rows IS NULL OR max_bad_rows < 0 OR max_bad_rows > 10000 THEN
    RAISE EXCEPTION 'max_bad_rows must be between 0 and 10000, not %', coalesce(max_bad_rows::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'It is how many of the rows on_bad_row => ''skip'' leaves out are recorded in purchase.refresh_bad_rows.';
  END IF;
END $$;
-- The work of one run, in the caller's rights: score source into a temporary table (one scan:
-- rows_scored and the list come from it), then replace the target's contents under an
-- ACCESS EXCLUSIVE lock with TRUNCATE + INSERT, which keeps the table itself with its indexes,
-- constraints, comments, grants, triggers, policies and dependent views.
CREATE FUNCTION purchase.refresh_work(run bigint, source regclass, target text, caller_schemas name[],
                                      creation_schema name, model text, key_column text, threshold float8,
                                      on_bad_row text, max_bad_rows integer, budget bigint,
                                      OUT r_status text, OUT r_target text, OUT r_version integer,
                                      OUT r_scored bigint, OUT r_targeted bigint, OUT r_skipped bigint)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tschema   text;
  tname     text;
  existing  oid;
  kind      "char";
  staging   text := 'pg_purchase_refresh_' || run;
  bad_keys  text := 'pg_purchase_refresh_bad_' || run;
  keep      text;
  bad       record;
  first_bad record;
BEGIN
  IF on_bad_row NOT IN ('error', 'skip') THEN
    RAISE EXCEPTION 'on_bad_row must be ''error'' or ''skip'', not %', quote_literal(on_bad_row)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM purchase.refresh_check_max_bad_rows(max_bad_rows);
  PERFORM purchase.refresh_check_budget(budget);
  SELECT t.schema_name, t.table_name, t.existing INTO tschema, tname, existing
    FROM purchase.refresh_target(target, caller_schemas, creation_schema) t;
  r_target := format('%I.%I', tschema, tname);
  IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = source AND a.attname = key_column
                                              AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'column "%" does not exist in %', key_column, source
      USING ERRCODE = 'undefined_column', HINT = 'Pass key_column => the column that identifies a customer.';
  END IF;
  SELECT mv.version INTO r_version FROM purchase.model_versions mv WHERE mv.name = model AND mv.active;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purchase model "%" does not exist', model
      USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM purchase_models() lists the models.';
  END IF;
  -- Two refreshes of one target never interleave: the second skips with a NOTICE. The key is
  -- the quoted qualified name (unambiguous: "a.b".c and a."b.c" differ), hashed to 64 bits.
  IF NOT pg_try_advisory_xact_lock(hashtextextended('pg_purchase.refresh:' || r_target, 0)) THEN
    RAISE NOTICE 'a refresh of % is already running; skipping this one', r_target;
    r_status := 'skipped';
    r_scored := 0;
    r_targeted := 0;
    RETURN;
  END IF;
  -- Looked up again under the lock: a refresh that held it may have just created the target.
  SELECT c.oid, c.relkind INTO existing, kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = tschema AND c.relname = tname;
  IF existing IS NOT NULL THEN
    PERFORM purchase.refresh_check_owner(existing, r_target);
  END IF;
  IF existing IS NOT NULL AND kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'target % is not a table', r_target
      USING ERRCODE = 'wrong_object_type', HINT = 'A refresh replaces the rows of a table it creates or that has its columns.';
  END IF;

  -- Score every row once (rows_scored and the list come from this one scan).
  BEGIN
    EXECUTE purchase.refresh_scoring_sql(staging, source, model, key_column, '');
  EXCEPTION WHEN data_exception OR datatype_mismatch THEN
    -- A bad cell: find the rows at fault (scoring each row on its own).
    IF on_bad_row = 'error' THEN
      SELECT * INTO first_bad FROM @extschema@.purchase_input_errors(source, model, key_column, 1);
      IF NOT FOUND THEN
        RAISE;  -- no single row explains it: the original error
      END IF;
      RAISE EXCEPTION 'row %: %', format('%I = %s', key_column, first_bad.key), first_bad.error
        USING ERRCODE = first_bad.sqlstate,
              HINT = 'Fix that row, or pass on_bad_row => ''skip'' to leave bad rows out; '
                     || format('SELECT * FROM purchase_input_errors(%L, %L, %L) lists them all.', source::text, model, key_column);
    END IF;
    EXECUTE format('CREATE TEMP TABLE %I (key text) ON COMMIT DROP', bad_keys);
    r_skipped := 0;
    FOR bad IN SELECT * FROM @extschema@.purchase_input_errors(source, model, key_column, NULL) LOOP
      EXECUTE format('INSERT INTO pg_temp.%I VALUES ($1)', bad_keys) USING bad.key;
      IF r_skipped < max_bad_rows THEN
        PERFORM purchase.refresh_bad_row_add(run, bad.key, bad.column_name, bad.value, bad.sqlstate, bad.error);
      END IF;
      r_skipped := r_skipped + 1;
    END LOOP;
    EXECUTE purchase.refresh_scoring_sql(staging, source, model, key_column,
      format('WHERE NOT EXISTS (SELECT FROM pg_temp.%I b WHERE b.key = c.%I::text)', bad_keys, key_column));
  END;
  GET DIAGNOSTICS r_scored = ROW_COUNT;
  r_skipped := coalesce(r_skipped, 0);
  IF r_scored = 0 AND r_skipped > 0 THEN
    RAISE EXCEPTION 'every row of % is bad (% rows); the list is left as it was', source, r_skipped
      USING ERRCODE = 'data_exception',
            HINT = format('SELECT * FROM purchase_input_errors(%L, %L, %L) lists them.', source::text, model, key_column);
  END IF;
  EXECUTE format('SELECT coalesce(min(version), %s) FROM pg_temp.%I', r_version, staging) INTO r_version;

  keep := CASE WHEN threshold IS NULL THEN 'business_outcome = 1' ELSE format('p_hat > %L::float8', threshold) END;
  -- The listed rows: highest p_hat first, ties by key ascending (in the key's own type), so a
  -- budget's cut is deterministic; LIMIT NULL is no limit.
  keep := format('%s ORDER BY p_hat DESC, key ASC LIMIT %s', keep, coalesce(budget::text, 'NULL'));
  IF existing IS NULL THEN
    EXECUTE format('CREATE TABLE %I.%I AS
                      SELECT key AS %I, p_hat, %L::text AS model, version, now() AS scored_at
                        FROM pg_temp.%I WHERE %s',
                   tschema, tname, key_column, model, staging, keep);
  ELSE
    -- Readers see the old complete list until commit, then the new one.
    EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', tschema, tname);
    -- Checked again now that it is locked (owners cannot change any more): the name still means
    -- the table checked before scoring, not one dropped and created anew meanwhile, and its
    -- owners as committed now. Nothing has been written to it yet.
    IF to_regclass(r_target)::oid IS DISTINCT FROM existing THEN
      RAISE EXCEPTION 'target % was dropped or replaced while the refresh ran', r_target
        USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Run the refresh again.';
    END IF;
    PERFORM purchase.refresh_check_owner(existing, r_target);
    EXECUTE format('TRUNCATE TABLE %I.%I', tschema, tname);
    EXECUTE format('INSERT INTO %I.%I (%I, p_hat, model, version, scored_at)
                      SELECT key, p_hat, %L, version, now() FROM pg_temp.%I WHERE %s',
                   tschema, tname, key_column, model, staging, keep);
  END IF;
  GET DIAGNOSTICS r_targeted = ROW_COUNT;
  EXECUTE format('DROP TABLE pg_temp.%I', staging);
  r_status := 'succeeded';
END $$;
-- A procedure, not a function: the run-log row is committed before the work starts and its
-- outcome is committed after, so a failed, cancelled or timed-out run stays logged while the
-- caller (and pg_cron's cron.job_run_details) still sees the error. CALL it outside an explicit
-- transaction block. A procedure with a SET clause may not COMMIT, so this one has none: it
-- calls only schema-qualified functions and uses no operator, and the work runs in
-- purchase.refresh_work, which pins search_path.
CREATE PROCEDURE refresh_purchase_targets(source regclass, target text, model text DEFAULT 'default',
                                          key_column text DEFAULT 'customer_id', threshold float8 DEFAULT NULL,
                                          on_bad_row text DEFAULT 'error', max_bad_rows integer DEFAULT 100,
                                          budget bigint DEFAULT NULL, INOUT rows_targeted bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $proc$
DECLARE
  run       bigint;
  outcome   record;
  failed    boolean := false;
  err_state text;
  err_text  text;
  err_hint  text;
BEGIN
  IF purchase.refresh_in_transaction_block() THEN
    RAISE EXCEPTION 'refresh_purchase_targets cannot run inside a transaction block'
      USING ERRCODE = 'invalid_transaction_termination',
            HINT = 'It commits its run-log entry before and after the work: CALL it on its own (autocommit, '
                   'not between BEGIN and COMMIT, not together with other statements in one query string), as pg_cron does.';
  END IF;
  IF source IS NULL OR target IS NULL OR model IS NULL OR key_column IS NULL OR on_bad_row IS NULL OR max_bad_rows IS NULL THEN
    RAISE EXCEPTION 'refresh_purchase_targets: source, target, model, key_column, on_bad_row and max_bad_rows must not be NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM purchase.refresh_check_threshold(threshold);
  PERFORM purchase.refresh_check_budget(budget);
  run := purchase.refresh_run_started(source, target, model, on_bad_row, budget);
  IF run IS NULL THEN
    RAISE EXCEPTION 'source % does not exist', source USING ERRCODE = 'undefined_table';
  END IF;
  COMMIT;
  -- One snapshot for the whole run: the rows scored, skipped and listed are the same rows.
  SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;

  BEGIN
    SELECT * INTO outcome
      FROM purchase.refresh_work(run, source, target, pg_catalog.current_schemas(true), pg_catalog.current_schema(),
                                 model, key_column, threshold, on_bad_row, max_bad_rows, budget);
    PERFORM purchase.refresh_run_finished(run, outcome.r_status, outcome.r_target, outcome.r_version,
                                          outcome.r_scored, outcome.r_targeted, outcome.r_skipped, NULL, NULL);
    rows_targeted := outcome.r_targeted;
  EXCEPTION WHEN OTHERS OR query_canceled THEN
    -- Everything above is rolled back: the old list stays. A cancel or statement_timeout
    -- (57014) is logged as failed too, then raised again.
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_text = MESSAGE_TEXT, err_hint = PG_EXCEPTION_HINT;
    failed := true;
  END;

  IF failed THEN
    PERFORM purchase.refresh_run_finished(run, 'failed', NULL, NULL, NULL, NULL, NULL, err_state, err_text);
    COMMIT;  -- the log entry survives the error raised next
    RAISE EXCEPTION 'refresh of "%" from % failed: %', target, source, err_text
      USING ERRCODE = err_state, HINT = purchase.refresh_failure_hint(err_hint, run);
  END IF;
END
$proc$;
COMMENT ON PROCEDURE refresh_purchase_targets(regclass, text, text, text, float8, text, integer, bigint, bigint) IS
  'Scores every row of source and atomically replaces the contents of target with the customers to target (at most budget of them), ordered by p_hat';
-- The CALL a pg_cron job runs: source and target fully qualified when scheduled, so the job
-- does not depend on the search_path it runs with.
CREATE FUNCTION purchase.refresh_job_command(source regclass, target text, caller_schemas name[], creation_schema name,
                                             model text, key_column text, threshold float8, on_bad_row text,
                                             max_bad_rows integer, budget bigint)
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE qualified_source text; qualified_target text; existing oid;
BEGIN
  IF source IS NULL OR target IS NULL OR model IS NULL OR key_column IS NULL OR on_bad_row IS NULL THEN
    RAISE EXCEPTION 'schedule_purchase_refresh: source, target, model, key_column and on_bad_row must not be NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT format('%I.%I', n.nspname, c.relname) INTO qualified_source
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
  PERFORM purchase.refresh_check_threshold(threshold);
  PERFORM purchase.refresh_check_max_bad_rows(max_bad_rows);
  PERFORM purchase.refresh_check_budget(budget);
  SELECT format('%I.%I', t.schema_name, t.table_name), t.existing INTO qualified_target, existing
    FROM purchase.refresh_target(target, caller_schemas, creation_schema) t;
  -- Refused now rather than every night (the run checks again: a target can appear later).
  IF existing IS NOT NULL THEN
    PERFORM purchase.refresh_check_owner(existing, qualified_target);
  END IF;
  RETURN format('CALL %s.refresh_purchase_targets(%L::regclass, %L, %L, key_column => %L, threshold => %s, '
                'on_bad_row => %L, max_bad_rows => %s, budget => %s)',
                '@extschema@', qualified_source, qualified_target, model, key_column,
                coalesce(quote_literal(threshold) || '::float8', 'NULL'), on_bad_row, max_bad_rows,
                coalesce(budget::text, 'NULL'));
END $$;
-- Scheduling with pg_cron, when it is installed in this database (pg_purchase does not need it).
-- No SET clause: it must pass on the caller's search_path to resolve an unqualified target;
-- it calls only schema-qualified functions.
CREATE FUNCTION schedule_purchase_refresh(job_name text, schedule text, source regclass, target text,
                                          model text DEFAULT 'default', key_column text DEFAULT 'customer_id',
                                          threshold float8 DEFAULT NULL, on_bad_row text DEFAULT 'error',
                                          max_bad_rows integer DEFAULT 100, budget bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE
AS $$
  SELECT purchase.schedule_refresh_job(job_name, schedule,
           purchase.refresh_job_command(source, target, pg_catalog.current_schemas(true), pg_catalog.current_schema(),
                                        model, key_column, threshold, on_bad_row, max_bad_rows, budget))
$$;

REVOKE EXECUTE ON FUNCTION purchase.refresh_run_started(regclass, text, text, text, bigint),
  purchase.refresh_work(bigint, regclass, text, name[], name, text, text, float8, text, integer, bigint),
  purchase.refresh_job_command(regclass, text, name[], name, text, text, float8, text, integer, bigint),
  purchase.refresh_check_budget(bigint),
  purchase.refresh_check_max_bad_rows(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purchase.refresh_run_started(regclass, text, text, text, bigint),
  purchase.refresh_work(bigint, regclass, text, name[], name, text, text, float8, text, integer, bigint),
  purchase.refresh_job_command(regclass, text, name[], name, text, text, float8, text, integer, bigint),
  purchase.refresh_check_budget(bigint),
  purchase.refresh_check_max_bad_rows(integer) TO purchase_admin;
REVOKE EXECUTE ON PROCEDURE refresh_purchase_targets(regclass, text, text, text, float8, text, integer, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION schedule_purchase_refresh(text, text, regclass, text, text, text, float8, text, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE refresh_purchase_targets(regclass, text, text, text, float8, text, integer, bigint, bigint) TO purchase_admin;
GRANT EXECUTE ON FUNCTION schedule_purchase_refresh(text, text, regclass, text, text, text, float8, text, integer, bigint) TO purchase_admin;

-- Issue 21 item 4: calibrate_purchase_model, as src/pg/calibration.rs and lifecycle.sql define it.
CREATE FUNCTION "calibrate_purchase_model"(
	"source" regclass,
	"target_column" TEXT,
	"model" TEXT DEFAULT 'default',
	"method" TEXT DEFAULT 'sigmoid',
	"activate" bool DEFAULT false
) RETURNS INT
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'calibrate_purchase_model_wrapper';
ALTER FUNCTION calibrate_purchase_model(regclass, text, text, text, boolean) SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION calibrate_purchase_model(regclass, text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION calibrate_purchase_model(regclass, text, text, text, boolean) TO purchase_admin;
-- ==== end targeting ====

-- ---------------------------------------------------------------------------------------------
-- ==== versions ====
-- issue 22 items 2 and 6. Item 2: every scoring and insight function takes an optional version
-- (NULL: the active version), so a staged version can be scored, explained, evaluated and
-- compared before it goes live; a constant pin is rewritten by the planner into the new
-- *_version_columns functions. Item 6: evaluate_purchase_model and purchase_drift get
-- on_bad_row ('error' names the bad row by key_column; 'skip' counts it in the result).
-- A changed signature is a new function: each old one is dropped and the new one created
-- exactly as src/pg/scoring/scoring.sql, src/pg/insights.sql and insights.rs define it, keeping
-- the old one's grants and revokes (a DBA's REVOKE ... FROM PUBLIC stays in force; the grants to
-- purchase_scorer come along) and its comment, as 0.2.0 -> 0.3.0 did for predict_purchase_json.
-- A view or SQL-standard function body that calls one of them blocks the update (2BP01): drop
-- it first and re-create it afterwards. The C symbols of the old signatures stay in the library
-- (a database not yet updated keeps working).
-- Replays a dropped function's privileges (onto the default: PUBLIC and the owner may execute,
-- then what the old list did not give is taken away) and its comment onto its successor.
CREATE FUNCTION purchase.versions_keep_privileges(new_fn regprocedure, old_acl aclitem[], owner_id oid, note text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  item record;
BEGIN
  IF old_acl IS NOT NULL THEN
    FOR item IN SELECT a.grantee, a.privilege_type, a.is_grantable FROM aclexplode(old_acl) a LOOP
      EXECUTE format('GRANT %s ON FUNCTION %s TO %s%s', item.privilege_type, new_fn,
        CASE WHEN item.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(item.grantee)) END,
        CASE WHEN item.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    IF NOT EXISTS (SELECT FROM aclexplode(old_acl) a WHERE a.grantee = 0) THEN
      EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', new_fn);
    END IF;
    IF NOT EXISTS (SELECT FROM aclexplode(old_acl) a WHERE a.grantee = owner_id) THEN
      EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %I', new_fn, pg_get_userbyid(owner_id));
    END IF;
  END IF;
  IF note IS NOT NULL THEN
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', new_fn, note);
  END IF;
END $$;

DO $upgrade$
DECLARE
  old_fn   oid := 'predict_purchase(record, text)'::regprocedure;
  old_acl  aclitem[];
  owner_id oid;
  note     text;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, owner_id FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
  note := pg_catalog.obj_description(old_fn, 'pg_proc');
  DROP FUNCTION predict_purchase(record, text);
  CREATE FUNCTION predict_purchase("row" record, model text DEFAULT 'default', version integer DEFAULT NULL) RETURNS float8
      AS 'MODULE_PATHNAME', 'predict_purchase_row'
      LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
  PERFORM purchase.versions_keep_privileges('predict_purchase(record, text, integer)'::regprocedure, old_acl, owner_id, note);
END $upgrade$;

DO $upgrade$
DECLARE
  old_fn   oid := 'purchase_outcome(record, text)'::regprocedure;
  old_acl  aclitem[];
  owner_id oid;
  note     text;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, owner_id FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
  note := pg_catalog.obj_description(old_fn, 'pg_proc');
  DROP FUNCTION purchase_outcome(record, text);
  CREATE FUNCTION purchase_outcome("row" record, model text DEFAULT 'default', version integer DEFAULT NULL) RETURNS integer
      AS 'MODULE_PATHNAME', 'purchase_outcome_row'
      LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
  PERFORM purchase.versions_keep_privileges('purchase_outcome(record, text, integer)'::regprocedure, old_acl, owner_id, note);
END $upgrade$;

DO $upgrade$
DECLARE
  old_fn   oid := 'score_purchase(record, text)'::regprocedure;
  old_acl  aclitem[];
  owner_id oid;
  note     text;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, owner_id FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
  note := pg_catalog.obj_description(old_fn, 'pg_proc');
  DROP FUNCTION score_purchase(record, text);
  CREATE FUNCTION score_purchase("row" record, model text DEFAULT 'default', version integer DEFAULT NULL) RETURNS purchase_score
      AS 'MODULE_PATHNAME', 'score_purchase_row'
      LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
  PERFORM purchase.versions_keep_privileges('score_purchase(record, text, integer)'::regprocedure, old_acl, owner_id, note);
END $upgrade$;

DO $upgrade$
DECLARE
  old_fn   oid := 'purchase_features(record, text)'::regprocedure;
  old_acl  aclitem[];
  owner_id oid;
  note     text;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, owner_id FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
  note := pg_catalog.obj_description(old_fn, 'pg_proc');
  DROP FUNCTION purchase_features(record, text);
  CREATE FUNCTION purchase_features("row" record, model text DEFAULT 'default', version integer DEFAULT NULL) RETURNS jsonb
      AS 'MODULE_PATHNAME', 'purchase_features_row'
      LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
  PERFORM purchase.versions_keep_privileges('purchase_features(record, text, integer)'::regprocedure, old_acl, owner_id, note);
END $upgrade$;

DO $upgrade$
DECLARE
  old_fn   oid := 'predict_purchase_json(jsonb, text, boolean)'::regprocedure;
  old_acl  aclitem[];
  owner_id oid;
  note     text;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, owner_id FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
  note := pg_catalog.obj_description(old_fn, 'pg_proc');
  DROP FUNCTION predict_purchase_json(jsonb, text, boolean);
  CREATE FUNCTION predict_purchase_json("rows" jsonb, "model" text DEFAULT 'default', "strict" boolean DEFAULT true,
                                        "version" integer DEFAULT NULL)
      RETURNS jsonb
      AS 'MODULE_PATHNAME', 'predict_purchase_json_wrapper' LANGUAGE C STABLE PARALLEL SAFE;
  PERFORM purchase.versions_keep_privileges('predict_purchase_json(jsonb, text, boolean, integer)'::regprocedure, old_acl, owner_id, note);
END $upgrade$;

DO $upgrade$
DECLARE
  old_fn   oid := 'explain_purchase(record, text, integer)'::regprocedure;
  old_acl  aclitem[];
  owner_id oid;
  note     text;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, owner_id FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
  note := pg_catalog.obj_description(old_fn, 'pg_proc');
  DROP FUNCTION explain_purchase(record, text, integer);
  CREATE FUNCTION explain_purchase("row" record, model text DEFAULT 'default', top_k integer DEFAULT NULL,
                                   by_column boolean DEFAULT false, version integer DEFAULT NULL)
  RETURNS TABLE (feature text, raw_value text, model_input float8, coefficient float8, contribution float8)
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
  AS $$
  DECLARE
    features jsonb := @extschema@.purchase_features("row", model, version);
    raw jsonb := pg_catalog.to_jsonb("row");
  BEGIN
    IF top_k IS NOT NULL AND top_k < 0 THEN
      RAISE EXCEPTION 'top_k must be NULL or at least 0, not %', top_k USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF by_column IS NULL THEN
      RAISE EXCEPTION 'by_column must not be NULL' USING ERRCODE = 'null_value_not_allowed',
        HINT = 'Pass true for one row per raw column, false (the default) for one row per model feature.';
    END IF;
    IF features IS NULL THEN
      RETURN;  -- a NULL row, as every scoring function answers NULL for it
    END IF;
    IF NOT by_column THEN
      RETURN QUERY
        SELECT c.feature, raw OPERATOR(pg_catalog.->>) c.input_column, c.model_input, c.coefficient, c.contribution
          FROM purchase.feature_contributions(features, model, version) c
         ORDER BY pg_catalog.abs(c.contribution) DESC, c.feature
         LIMIT top_k;
    ELSE
      RETURN QUERY
        SELECT COALESCE(c.input_column, pg_catalog.min(c.feature)),
               raw OPERATOR(pg_catalog.->>) c.input_column,
               CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.=) 1 THEN pg_catalog.min(c.model_input) END,
               CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.=) 1 THEN pg_catalog.min(c.coefficient) END,
               pg_catalog.sum(c.contribution)
          FROM purchase.feature_contributions(features, model, version) c
         GROUP BY c.input_column, CASE WHEN c.input_column IS NULL THEN c.feature END
         ORDER BY pg_catalog.abs(pg_catalog.sum(c.contribution)) DESC, 1
         LIMIT top_k;
    END IF;
  END $$;
  COMMENT ON FUNCTION explain_purchase(record, text, integer, boolean, integer) IS 'Per-feature (or, by_column, per-column) contributions to one row''s logit: coefficient x model input, or exact TreeSHAP for a tree model; they add up to logit(p_hat)';
  PERFORM purchase.versions_keep_privileges('explain_purchase(record, text, integer, boolean, integer)'::regprocedure, old_acl, owner_id, NULL);
END $upgrade$;

DO $upgrade$
DECLARE
  old_fn   oid := 'evaluate_purchase_model(regclass, text, text)'::regprocedure;
  old_acl  aclitem[];
  owner_id oid;
  note     text;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, owner_id FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
  note := pg_catalog.obj_description(old_fn, 'pg_proc');
  DROP FUNCTION evaluate_purchase_model(regclass, text, text);
  CREATE  FUNCTION "evaluate_purchase_model"(
  	"source" regclass, /* SourceTable */
  	"target_column" TEXT, /* Option < & str > */
  	"model" TEXT DEFAULT 'default', /* Option < & str > */
  	"version" INT DEFAULT NULL, /* Option < i32 > */
  	"on_bad_row" TEXT DEFAULT 'error', /* Option < & str > */
  	"key_column" TEXT DEFAULT NULL /* Option < & str > */
  ) RETURNS jsonb /* JsonB */
  STABLE PARALLEL SAFE 
  LANGUAGE c /* Rust */
  AS 'MODULE_PATHNAME', 'evaluate_purchase_model_pinned_wrapper';
  PERFORM purchase.versions_keep_privileges('evaluate_purchase_model(regclass, text, text, integer, text, text)'::regprocedure, old_acl, owner_id, note);
END $upgrade$;

DO $upgrade$
DECLARE
  old_fn   oid := 'purchase_drift(regclass, text)'::regprocedure;
  old_acl  aclitem[];
  owner_id oid;
  note     text;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, owner_id FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
  note := pg_catalog.obj_description(old_fn, 'pg_proc');
  DROP FUNCTION purchase_drift(regclass, text);
  CREATE  FUNCTION "purchase_drift"(
  	"source" regclass, /* SourceTable */
  	"model" TEXT DEFAULT 'default', /* Option < & str > */
  	"version" INT DEFAULT NULL, /* Option < i32 > */
  	"on_bad_row" TEXT DEFAULT 'error', /* Option < & str > */
  	"key_column" TEXT DEFAULT NULL /* Option < & str > */
  ) RETURNS TABLE (
  	"column_name" TEXT,  /* String */
  	"train_mean" double precision,  /* Option < f64 > */
  	"live_mean" double precision,  /* Option < f64 > */
  	"train_std" double precision,  /* Option < f64 > */
  	"live_std" double precision,  /* Option < f64 > */
  	"train_null_rate" double precision,  /* Option < f64 > */
  	"live_null_rate" double precision,  /* Option < f64 > */
  	"unseen_categories" TEXT[],  /* :: std :: option :: Option < Vec < String > > */
  	"psi" double precision,  /* Option < f64 > */
  	"flagged" bool,  /* bool */
  	"rows_skipped" bigint  /* i64 */
  )
  STABLE PARALLEL SAFE 
  LANGUAGE c /* Rust */
  AS 'MODULE_PATHNAME', 'purchase_drift_pinned_wrapper';
  PERFORM purchase.versions_keep_privileges('purchase_drift(regclass, text, integer, text, text)'::regprocedure, old_acl, owner_id, note);
END $upgrade$;

DROP FUNCTION purchase.versions_keep_privileges(regprocedure, aclitem[], oid, text);

-- What a call with a constant version pin is rewritten into: that version's columns only.
-- (A name of their own: overloads of the *_columns names would make direct calls with untyped
-- literals ambiguous.)
CREATE FUNCTION predict_purchase_version_columns(model text, version integer, columns text[], VARIADIC "any") RETURNS float8
    AS 'MODULE_PATHNAME', 'predict_purchase_version_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
CREATE FUNCTION purchase_outcome_version_columns(model text, version integer, columns text[], VARIADIC "any") RETURNS integer
    AS 'MODULE_PATHNAME', 'purchase_outcome_version_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
CREATE FUNCTION score_purchase_version_columns(model text, version integer, columns text[], VARIADIC "any") RETURNS purchase_score
    AS 'MODULE_PATHNAME', 'score_purchase_version_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
CREATE FUNCTION purchase_features_version_columns(model text, version integer, columns text[], VARIADIC "any") RETURNS jsonb
    AS 'MODULE_PATHNAME', 'purchase_features_version_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;

GRANT EXECUTE ON FUNCTION predict_purchase_version_columns(text, integer, text[], "any"),
  purchase_outcome_version_columns(text, integer, text[], "any"),
  score_purchase_version_columns(text, integer, text[], "any"),
  purchase_features_version_columns(text, integer, text[], "any") TO purchase_scorer;

-- Two models, or two versions of one, compared on the same labelled rows (src/pg/compare.rs).
CREATE  FUNCTION "compare_purchase_models"(
	"source" regclass, /* SourceTable */
	"target_column" TEXT, /* Option < & str > */
	"model_a" TEXT DEFAULT 'default', /* Option < & str > */
	"model_b" TEXT DEFAULT 'default', /* Option < & str > */
	"version_a" INT DEFAULT NULL, /* Option < i32 > */
	"version_b" INT DEFAULT NULL, /* Option < i32 > */
	"value_per_purchase" double precision DEFAULT NULL, /* Option < f64 > */
	"cost_per_contact" double precision DEFAULT NULL, /* Option < f64 > */
	"on_bad_row" TEXT DEFAULT 'error', /* Option < & str > */
	"key_column" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS jsonb /* JsonB */
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'compare_purchase_models_wrapper';
GRANT EXECUTE ON FUNCTION compare_purchase_models(regclass, text, text, text, integer, integer, float8, float8, text, text) TO purchase_scorer;
-- ==== end versions ====

-- ==== firstweek ====
-- issue 22 items 1, 3, 4, 7, 8, 9 (slice "firstweek"). Each object below is recreated exactly as
-- the src/**/*.sql file named defines it.

-- Item 9 (src/pg/explain.rs): explain_purchase never returns -0; its one new definition is in
-- the versions block above.

-- Item 7 (src/pg/refresh.sql): the first refresh creates its target with a primary key on
-- key_column (or a plain index where the keys repeat); refresh_work calls the new helper.

CREATE FUNCTION purchase.refresh_index_new_target(tschema text, tname text, key_column text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE unique_keys boolean;
BEGIN
  EXECUTE format('SELECT count(%1$I) = count(*) AND count(DISTINCT %1$I) = count(*) FROM %2$I.%3$I',
                 key_column, tschema, tname) INTO unique_keys;
  IF unique_keys THEN
    EXECUTE format('ALTER TABLE %I.%I ADD PRIMARY KEY (%I)', tschema, tname, key_column);
  ELSE
    EXECUTE format('CREATE INDEX ON %I.%I (%I)', tschema, tname, key_column);
  END IF;
END $$;

REVOKE EXECUTE ON FUNCTION purchase.refresh_index_new_target(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purchase.refresh_index_new_target(text, text, text) TO purchase_admin;

CREATE OR REPLACE FUNCTION purchase.refresh_work(run bigint, source regclass, target text, caller_schemas name[],
                                      creation_schema name, model text, key_column text, threshold float8,
                                      on_bad_row text, max_bad_rows integer, budget bigint,
                                      OUT r_status text, OUT r_target text, OUT r_version integer,
                                      OUT r_scored bigint, OUT r_targeted bigint, OUT r_skipped bigint)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tschema   text;
  tname     text;
  existing  oid;
  kind      "char";
  staging   text := 'pg_purchase_refresh_' || run;
  bad_keys  text := 'pg_purchase_refresh_bad_' || run;
  keep      text;
  bad       record;
  first_bad record;
BEGIN
  IF on_bad_row NOT IN ('error', 'skip') THEN
    RAISE EXCEPTION 'on_bad_row must be ''error'' or ''skip'', not %', quote_literal(on_bad_row)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM purchase.refresh_check_max_bad_rows(max_bad_rows);
  PERFORM purchase.refresh_check_budget(budget);
  SELECT t.schema_name, t.table_name, t.existing INTO tschema, tname, existing
    FROM purchase.refresh_target(target, caller_schemas, creation_schema) t;
  r_target := format('%I.%I', tschema, tname);
  IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = source AND a.attname = key_column
                                              AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'column "%" does not exist in %', key_column, source
      USING ERRCODE = 'undefined_column', HINT = 'Pass key_column => the column that identifies a customer.';
  END IF;
  SELECT mv.version INTO r_version FROM purchase.model_versions mv WHERE mv.name = model AND mv.active;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purchase model "%" does not exist', model
      USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM purchase_models() lists the models.';
  END IF;
  -- Two refreshes of one target never interleave: the second skips with a NOTICE. The key is
  -- the quoted qualified name (unambiguous: "a.b".c and a."b.c" differ), hashed to 64 bits.
  IF NOT pg_try_advisory_xact_lock(hashtextextended('pg_purchase.refresh:' || r_target, 0)) THEN
    RAISE NOTICE 'a refresh of % is already running; skipping this one', r_target;
    r_status := 'skipped';
    r_scored := 0;
    r_targeted := 0;
    RETURN;
  END IF;
  -- Looked up again under the lock: a refresh that held it may have just created the target.
  SELECT c.oid, c.relkind INTO existing, kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = tschema AND c.relname = tname;
  IF existing IS NOT NULL THEN
    PERFORM purchase.refresh_check_owner(existing, r_target);
  END IF;
  IF existing IS NOT NULL AND kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'target % is not a table', r_target
      USING ERRCODE = 'wrong_object_type', HINT = 'A refresh replaces the rows of a table it creates or that has its columns.';
  END IF;

  -- Score every row once (rows_scored and the list come from this one scan).
  BEGIN
    EXECUTE purchase.refresh_scoring_sql(staging, source, model, key_column, '');
  EXCEPTION WHEN data_exception OR datatype_mismatch THEN
    -- A bad cell: find the rows at fault (scoring each row on its own).
    IF on_bad_row = 'error' THEN
      SELECT * INTO first_bad FROM @extschema@.purchase_input_errors(source, model, key_column, 1);
      IF NOT FOUND THEN
        RAISE;  -- no single row explains it: the original error
      END IF;
      RAISE EXCEPTION 'row %: %', format('%I = %s', key_column, first_bad.key), first_bad.error
        USING ERRCODE = first_bad.sqlstate,
              HINT = 'Fix that row, or pass on_bad_row => ''skip'' to leave bad rows out; '
                     || format('SELECT * FROM purchase_input_errors(%L, %L, %L) lists them all.', source::text, model, key_column);
    END IF;
    EXECUTE format('CREATE TEMP TABLE %I (key text) ON COMMIT DROP', bad_keys);
    r_skipped := 0;
    FOR bad IN SELECT * FROM @extschema@.purchase_input_errors(source, model, key_column, NULL) LOOP
      EXECUTE format('INSERT INTO pg_temp.%I VALUES ($1)', bad_keys) USING bad.key;
      IF r_skipped < max_bad_rows THEN
        PERFORM purchase.refresh_bad_row_add(run, bad.key, bad.column_name, bad.value, bad.sqlstate, bad.error);
      END IF;
      r_skipped := r_skipped + 1;
    END LOOP;
    EXECUTE purchase.refresh_scoring_sql(staging, source, model, key_column,
      format('WHERE NOT EXISTS (SELECT FROM pg_temp.%I b WHERE b.key = c.%I::text)', bad_keys, key_column));
  END;
  GET DIAGNOSTICS r_scored = ROW_COUNT;
  r_skipped := coalesce(r_skipped, 0);
  IF r_scored = 0 AND r_skipped > 0 THEN
    RAISE EXCEPTION 'every row of % is bad (% rows); the list is left as it was', source, r_skipped
      USING ERRCODE = 'data_exception',
            HINT = format('SELECT * FROM purchase_input_errors(%L, %L, %L) lists them.', source::text, model, key_column);
  END IF;
  EXECUTE format('SELECT coalesce(min(version), %s) FROM pg_temp.%I', r_version, staging) INTO r_version;

  keep := CASE WHEN threshold IS NULL THEN 'business_outcome = 1' ELSE format('p_hat > %L::float8', threshold) END;
  -- The listed rows: highest p_hat first, ties by key ascending (in the key's own type), so a
  -- budget's cut is deterministic; LIMIT NULL is no limit.
  keep := format('%s ORDER BY p_hat DESC, key ASC LIMIT %s', keep, coalesce(budget::text, 'NULL'));
  IF existing IS NULL THEN
    EXECUTE format('CREATE TABLE %I.%I AS
                      SELECT key AS %I, p_hat, %L::text AS model, version, now() AS scored_at
                        FROM pg_temp.%I WHERE %s',
                   tschema, tname, key_column, model, staging, keep);
  ELSE
    -- Readers see the old complete list until commit, then the new one.
    EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', tschema, tname);
    -- Checked again now that it is locked (owners cannot change any more): the name still means
    -- the table checked before scoring, not one dropped and created anew meanwhile, and its
    -- owners as committed now. Nothing has been written to it yet.
    IF to_regclass(r_target)::oid IS DISTINCT FROM existing THEN
      RAISE EXCEPTION 'target % was dropped or replaced while the refresh ran', r_target
        USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Run the refresh again.';
    END IF;
    PERFORM purchase.refresh_check_owner(existing, r_target);
    EXECUTE format('TRUNCATE TABLE %I.%I', tschema, tname);
    EXECUTE format('INSERT INTO %I.%I (%I, p_hat, model, version, scored_at)
                      SELECT key, p_hat, %L, version, now() FROM pg_temp.%I WHERE %s',
                   tschema, tname, key_column, model, staging, keep);
  END IF;
  GET DIAGNOSTICS r_targeted = ROW_COUNT;
  IF existing IS NULL THEN
    PERFORM purchase.refresh_index_new_target(tschema, tname, key_column);
  END IF;
  EXECUTE format('DROP TABLE pg_temp.%I', staging);
  r_status := 'succeeded';
END $$;

-- Item 3 (src/pg/models/admin.rs, lifecycle.sql): load_purchase_model and _file gain
-- replace_inputs, and name defaults to NULL (the artifact's own name, else 'default'): a new
-- signature, so the 0.3.0 functions are dropped (the library keeps their C entry points for
-- databases not yet updated) and the new ones created with the same privileges.
DROP FUNCTION load_purchase_model(jsonb, text, boolean, boolean);
DROP FUNCTION load_purchase_model_file(text, text, boolean, boolean);
CREATE FUNCTION "load_purchase_model"(
	"artifact" jsonb,
	"name" TEXT DEFAULT NULL,
	"activate" bool DEFAULT true,
	"allow_unchecked" bool DEFAULT false,
	"replace_inputs" bool DEFAULT false
) RETURNS INT
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'load_purchase_model_named_wrapper';
CREATE FUNCTION "load_purchase_model_file"(
	"path" TEXT,
	"name" TEXT DEFAULT NULL,
	"activate" bool DEFAULT true,
	"allow_unchecked" bool DEFAULT false,
	"replace_inputs" bool DEFAULT false
) RETURNS INT
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'load_purchase_model_file_named_wrapper';
ALTER FUNCTION load_purchase_model(jsonb, text, boolean, boolean, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION load_purchase_model_file(text, text, boolean, boolean, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION load_purchase_model(jsonb, text, boolean, boolean, boolean),
  load_purchase_model_file(text, text, boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION load_purchase_model(jsonb, text, boolean, boolean, boolean),
  load_purchase_model_file(text, text, boolean, boolean, boolean) TO purchase_admin;

-- Item 4 (src/pg/models/lifecycle.sql, catalog.sql, refresh.sql): the catalog is purchase_admin's
-- to read (its artifacts hold the reference rows); scoring reads it as its owner, so EXECUTE
-- alone decides who scores; export is purchase_admin's and its refusal names the role.
REVOKE ALL ON purchase.model_versions FROM PUBLIC;
REVOKE ALL ON purchase.model_versions FROM purchase_scorer;
GRANT SELECT ON purchase.model_versions TO purchase_admin;
ALTER FUNCTION purchase_models() SECURITY DEFINER;
-- explain_purchase, whatever its arguments (it calls purchase_features, which the README's recipe
-- may revoke from PUBLIC; EXECUTE on explain_purchase is what decides).
DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
            WHERE p.proname = 'explain_purchase' AND p.pronamespace = '@extschema@'::regnamespace LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER', f);
  END LOOP;
END $$;
CREATE OR REPLACE FUNCTION export_purchase_model(name text DEFAULT 'default', version integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE doc jsonb;
BEGIN
  -- The artifact holds the reference rows (checks), which may be real customer rows: it is
  -- purchase_admin's, and the refusal says so (EXECUTE alone would name no role).
  IF NOT pg_has_role('purchase_admin', 'USAGE') THEN
    RAISE EXCEPTION 'permission denied for function export_purchase_model'
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('The artifact holds the reference rows in checks; exporting is for purchase_admin: GRANT purchase_admin TO %I;', current_user);
  END IF;
  SELECT m.artifact INTO doc FROM purchase.model_versions m
   WHERE m.name = export_purchase_model.name
     AND (m.version = export_purchase_model.version OR (export_purchase_model.version IS NULL AND m.active));
  IF doc IS NULL THEN
    RAISE EXCEPTION 'purchase model "%" has no %', name,
          coalesce('version ' || version, 'active version')
      USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM purchase_models() lists every version.';
  END IF;
  RETURN doc;
END $$;
COMMENT ON FUNCTION export_purchase_model(text, integer) IS 'The stored artifact of a version (the active one by default); load_purchase_model of it scores identically';
REVOKE EXECUTE ON FUNCTION export_purchase_model(text, integer) FROM purchase_scorer;
GRANT EXECUTE ON FUNCTION export_purchase_model(text, integer) TO purchase_admin;
-- The column and kind of each input of a model's active version, NULL without one: what
-- purchase_input_errors needs, read as the catalog's owner (the catalog, whose artifacts hold the
-- reference rows, is purchase_admin's), so EXECUTE on purchase_input_errors is enough. PUBLIC
-- keeps EXECUTE: it tells no more than the columns purchase_models() lists.
CREATE FUNCTION purchase.model_inputs(model text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('column', i->>'column', 'kind', i->>'kind') ORDER BY n), '[]')
    FROM purchase.model_versions mv, jsonb_array_elements(mv.artifact->'inputs') WITH ORDINALITY AS e(i, n)
   WHERE mv.name = model AND mv.active
  HAVING count(mv.name) > 0
$$;

-- Finds rows of source that the model cannot score: key, the column and raw value at fault
-- (when one column explains it), SQLSTATE and message. Reads with the caller's rights; each
-- row is scored in its own subtransaction, so this is for diagnosis, not for the hot path.
CREATE OR REPLACE FUNCTION purchase_input_errors(source regclass, model text DEFAULT 'default',
                                      key_column text DEFAULT 'customer_id', max_rows bigint DEFAULT 1000)
RETURNS TABLE (key text, column_name text, value text, sqlstate text, error text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r       record;
  inputs  jsonb;
  doc     jsonb;
  listed  bigint := 0;
  col     text;
  kind    text;
  e_state text;
  e_text  text;
BEGIN
  IF source IS NULL OR model IS NULL OR key_column IS NULL THEN
    RAISE EXCEPTION 'purchase_input_errors: source, model and key_column must not be NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = source AND a.attname = key_column
                                              AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'column "%" does not exist in %', key_column, source
      USING ERRCODE = 'undefined_column', HINT = 'Pass key_column => the column that identifies a customer.';
  END IF;
  inputs := purchase.model_inputs(model);
  IF inputs IS NULL THEN
    RAISE EXCEPTION 'purchase model "%" does not exist', model
      USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM purchase_models() lists the models.';
  END IF;
  IF max_rows IS NOT NULL AND max_rows <= 0 THEN
    RETURN;
  END IF;
  -- A record variable (not a field of one): its row type may differ from call to call.
  FOR r IN EXECUTE format('SELECT c.%I::text AS "pg_purchase key", c.* FROM %s c', key_column, source) LOOP
    BEGIN
      PERFORM @extschema@.score_purchase(r, model);
      CONTINUE;
    EXCEPTION WHEN data_exception OR datatype_mismatch THEN
      GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_text = MESSAGE_TEXT;
    END;
    key := r."pg_purchase key";
    sqlstate := e_state;
    error := e_text;
    column_name := NULL;
    value := NULL;
    -- The column at fault: the first number column whose text does not clean.
    doc := to_jsonb(r);
    FOR col, kind IN SELECT i->>'column', i->>'kind' FROM jsonb_array_elements(inputs) i LOOP
      CONTINUE WHEN kind = 'category' OR doc->>col IS NULL;
      BEGIN
        PERFORM @extschema@.clean_number(doc->>col);
      EXCEPTION WHEN data_exception THEN
        column_name := col;
        value := left(doc->>col, 200);
        EXIT;
      END;
    END LOOP;
    RETURN NEXT;
    listed := listed + 1;
    EXIT WHEN listed >= max_rows;
  END LOOP;
END $$;
COMMENT ON FUNCTION purchase_input_errors(regclass, text, text, bigint) IS
  'Rows of source the model cannot score (key, column, value, SQLSTATE, message): find bad rows before a refresh';
-- ==== end firstweek ====

-- ==== targeting round 2 ====
-- set_purchase_threshold and calibrate_purchase_model run with the caller's rights and refuse a
-- caller outside purchase_admin themselves, with a hint naming the role (src/pg/admin_only.rs);
-- EXECUTE is everyone's, as src/pg/models/lifecycle.sql defines it.
ALTER FUNCTION set_purchase_threshold(text, float8, boolean) SECURITY INVOKER;
REVOKE EXECUTE ON FUNCTION set_purchase_threshold(text, float8, boolean) FROM purchase_admin;
GRANT EXECUTE ON FUNCTION set_purchase_threshold(text, float8, boolean) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION calibrate_purchase_model(regclass, text, text, text, boolean) FROM purchase_admin;
GRANT EXECUTE ON FUNCTION calibrate_purchase_model(regclass, text, text, text, boolean) TO PUBLIC;
-- ==== end targeting round 2 ====
