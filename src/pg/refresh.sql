-- Batch scoring into targeting lists, swapped in atomically, every run logged.
--
-- Safety rules of this file (tests/pg_regress/sql/10_search_path.sql checks them):
--  * every SQL and PL/pgSQL function pins search_path = pg_catalog, pg_temp (the two C helpers
--    run no SQL); the two members that cannot
--    (refresh_purchase_targets: a procedure with SET may not COMMIT; schedule_purchase_refresh:
--    it must see the caller's search_path) contain only schema-qualified function calls and no
--    operators, so nothing in them is resolved through the caller's search_path;
--  * the run log and the bad-rows table are written only through the SECURITY DEFINER functions
--    below, and only by the session that started the run;
--  * error text and bad values are shown only to roles that may read the run's source.

-- The run log, private: readers use the view purchase.refresh_runs.
CREATE TABLE purchase.refresh_run_log (
    run_id        bigserial   PRIMARY KEY,
    source        text        NOT NULL,
    target        text        NOT NULL,
    model         text        NOT NULL,
    version       integer,
    rows_scored   bigint,
    rows_targeted bigint,
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz,
    duration      interval GENERATED ALWAYS AS (finished_at - started_at) STORED,
    status        text        NOT NULL DEFAULT 'running',
    sqlstate      text,
    error         text,
    run_by        name        NOT NULL DEFAULT session_user,
    source_oid    oid,
    rows_skipped  bigint,
    on_bad_row    text,
    backend_pid   integer,
    backend_start timestamptz,
    budget        bigint,
    CONSTRAINT refresh_run_log_status_check
      CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'abandoned'))
);
COMMENT ON TABLE purchase.refresh_run_log IS 'One row per refresh_purchase_targets run, kept even when the run fails; read it through purchase.refresh_runs';
SELECT pg_catalog.pg_extension_config_dump('purchase.refresh_run_log', '');
SELECT pg_catalog.pg_extension_config_dump('purchase.refresh_run_log_run_id_seq', '');
REVOKE ALL ON purchase.refresh_run_log FROM PUBLIC;

-- Rows a run with on_bad_row => 'skip' left out (at most max_bad_rows per run; only the latest
-- successful run of each target keeps its rows). Private: readers use purchase.refresh_bad_rows.
CREATE TABLE purchase.refresh_bad_row_log (
    run_id      bigint NOT NULL REFERENCES purchase.refresh_run_log ON DELETE CASCADE,
    key         text,
    column_name text,
    value       text,
    sqlstate    text,
    error       text
);
CREATE INDEX refresh_bad_row_log_run ON purchase.refresh_bad_row_log (run_id);
COMMENT ON TABLE purchase.refresh_bad_row_log IS 'Rows left out by refresh runs with on_bad_row => skip; read it through purchase.refresh_bad_rows';
REVOKE ALL ON purchase.refresh_bad_row_log FROM PUBLIC;

-- Views run functions with the reader's identity: has_table_privilege asks about the reader.
CREATE VIEW purchase.refresh_runs WITH (security_barrier) AS
SELECT r.run_id, r.source, r.target, r.model, r.version, r.rows_scored, r.rows_targeted,
       r.started_at, r.finished_at, r.duration, r.status, r.sqlstate,
       CASE WHEN r.error IS NULL OR pg_catalog.has_table_privilege(r.source_oid, 'SELECT') THEN r.error
            ELSE 'hidden: only roles that may read ' || r.source || ' see this error' END AS error,
       r.run_by, r.rows_skipped, r.on_bad_row, r.budget
  FROM purchase.refresh_run_log r;
COMMENT ON VIEW purchase.refresh_runs IS 'The refresh run log; error text only for roles that may read the run''s source';

CREATE VIEW purchase.refresh_bad_rows WITH (security_barrier) AS
SELECT b.run_id, r.source, r.target, b.key, b.column_name, b.value, b.sqlstate, b.error
  FROM purchase.refresh_bad_row_log b JOIN purchase.refresh_run_log r ON r.run_id = b.run_id
 WHERE pg_catalog.has_table_privilege(r.source_oid, 'SELECT');
COMMENT ON VIEW purchase.refresh_bad_rows IS 'Rows the latest skip-mode run of each target left out, for roles that may read its source';

-- Whether the session is in a transaction block, where the procedure could not COMMIT (C, no SQL).
CREATE FUNCTION purchase.refresh_in_transaction_block() RETURNS boolean
    AS 'MODULE_PATHNAME', 'purchase_in_transaction_block' LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- Whether run is still running and was started by this very session (backend pid and start
-- time): the only session allowed to write its log row.
CREATE FUNCTION purchase.refresh_run_is_mine(run bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT FROM purchase.refresh_run_log r, pg_stat_activity a
                  WHERE r.run_id = run AND r.status = 'running'
                    AND a.pid = pg_backend_pid() AND r.backend_pid = a.pid AND r.backend_start = a.backend_start)
$$;

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

-- Ends a run of this session: anything else is refused, so no role can rewrite another run.
CREATE FUNCTION purchase.refresh_run_finished(run bigint, status text, target text, version integer,
                                              rows_scored bigint, rows_targeted bigint, rows_skipped bigint,
                                              sqlstate text, error text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF status IS NULL OR status NOT IN ('succeeded', 'failed', 'skipped') THEN
    RAISE EXCEPTION 'a refresh run ends as succeeded, failed or skipped, not %', coalesce(status, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT purchase.refresh_run_is_mine(run) THEN
    RAISE EXCEPTION 'refresh run % is not a running refresh of this session', run
      USING ERRCODE = 'insufficient_privilege', HINT = 'Only the run itself writes its log row.';
  END IF;
  UPDATE purchase.refresh_run_log r
     SET status = refresh_run_finished.status, target = coalesce(refresh_run_finished.target, r.target),
         version = refresh_run_finished.version, rows_scored = refresh_run_finished.rows_scored,
         rows_targeted = refresh_run_finished.rows_targeted, rows_skipped = refresh_run_finished.rows_skipped,
         sqlstate = refresh_run_finished.sqlstate, error = refresh_run_finished.error,
         finished_at = clock_timestamp()
   WHERE r.run_id = run;
  IF status = 'succeeded' THEN
    -- Bounded: only the latest successful run of a target keeps its bad rows.
    DELETE FROM purchase.refresh_bad_row_log b USING purchase.refresh_run_log r
     WHERE b.run_id = r.run_id AND r.run_id < run AND r.target = refresh_run_finished.target;
  END IF;
END $$;

-- Records one row a skip-mode run left out (the run's own session only).
CREATE FUNCTION purchase.refresh_bad_row_add(run bigint, key text, column_name text, value text,
                                             sqlstate text, error text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT purchase.refresh_run_is_mine(run) THEN
    RAISE EXCEPTION 'refresh run % is not a running refresh of this session', run
      USING ERRCODE = 'insufficient_privilege', HINT = 'Only the run itself records its bad rows.';
  END IF;
  INSERT INTO purchase.refresh_bad_row_log VALUES (run, key, column_name, left(value, 200), sqlstate, error);
END $$;

-- The table a target names, as PostgreSQL would resolve it for the caller: a qualified name as
-- written; an unqualified one in the first schema of the caller's path that has it, else in
-- the caller's creation schema. existing is its OID when it exists.
CREATE FUNCTION purchase.refresh_target(target text, caller_schemas name[], creation_schema name,
                                        OUT schema_name text, OUT table_name text, OUT existing oid)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE parts text[];
BEGIN
  parts := parse_ident(target);
  IF array_length(parts, 1) = 2 THEN
    schema_name := parts[1];
    table_name := parts[2];
  ELSIF array_length(parts, 1) = 1 THEN
    table_name := parts[1];
    SELECT n.nspname INTO schema_name
      FROM unnest(caller_schemas) WITH ORDINALITY s(nsp, i)
      JOIN pg_namespace n ON n.nspname = s.nsp
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = table_name
     ORDER BY s.i LIMIT 1;
    schema_name := coalesce(schema_name, creation_schema);
  ELSE
    RAISE EXCEPTION 'target "%" must be a table name, optionally schema-qualified', target
      USING ERRCODE = 'invalid_name';
  END IF;
  IF schema_name IS NULL THEN
    RAISE EXCEPTION 'no schema to create target "%" in', target USING ERRCODE = 'invalid_schema_name';
  END IF;
  SELECT c.oid INTO existing FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = schema_name AND c.relname = table_name;
END $$;

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
CREATE FUNCTION purchase_input_errors(source regclass, model text DEFAULT 'default',
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

-- The statement that scores every row of source once into a temporary table. Scoring in the
-- select list of a subquery (OFFSET 0 keeps it from being flattened into one call per field)
-- lets the planner use parallel workers.
CREATE FUNCTION purchase.refresh_scoring_sql(staging text, source regclass, model text, key_column text, filter text)
RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT format('CREATE TEMP TABLE %I ON COMMIT DROP AS
                   SELECT scored.key, (scored.s).p_hat, (scored.s).business_outcome, (scored.s).version
                     FROM (SELECT c.%I AS key, %s.score_purchase(c, %L) AS s FROM %s c %s OFFSET 0) scored',
                staging, key_column, '@extschema@', model, source, filter)
$$;

-- The index of a target the first refresh creates: a primary key on key_column when the keys
-- listed are unique and not NULL (what a table of customers to contact is keyed by), else a plain
-- index (a source whose keys repeat). Later refreshes keep it: TRUNCATE + INSERT keep indexes,
-- so a later run whose keys repeat fails on the primary key and leaves the old list.
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
  IF existing IS NULL THEN
    PERFORM purchase.refresh_index_new_target(tschema, tname, key_column);
  END IF;
  EXECUTE format('DROP TABLE pg_temp.%I', staging);
  r_status := 'succeeded';
END $$;

CREATE FUNCTION purchase.refresh_failure_hint(hint text, run bigint) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(nullif(hint, ''), 'See purchase.refresh_runs run ' || run || '.') $$;

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

CREATE FUNCTION purchase.schedule_refresh_job(job_name text, schedule text, command text) RETURNS bigint
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

CREATE FUNCTION unschedule_purchase_refresh(job_name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE found boolean;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
      USING ERRCODE = 'feature_not_supported', HINT = 'There is nothing to unschedule without pg_cron.';
  END IF;
  EXECUTE 'SELECT EXISTS (SELECT FROM cron.job WHERE jobname = $1 AND username = current_user)' INTO found USING job_name;
  IF NOT found THEN
    RAISE EXCEPTION 'no pg_cron job named "%"', job_name
      USING ERRCODE = 'undefined_object', HINT = 'SELECT jobname, schedule, command FROM cron.job lists the jobs.';
  END IF;
  EXECUTE 'SELECT cron.unschedule($1)' INTO found USING job_name;
  RETURN found;
END $$;

-- Privileges. The log writers and the work are internal: only purchase_admin (who may refresh)
-- executes them, and the writers refuse any run but the caller's own.
REVOKE EXECUTE ON FUNCTION purchase.refresh_run_is_mine(bigint),
  purchase.refresh_run_started(regclass, text, text, text, bigint),
  purchase.refresh_run_finished(bigint, text, text, integer, bigint, bigint, bigint, text, text),
  purchase.refresh_bad_row_add(bigint, text, text, text, text, text),
  purchase.refresh_target(text, name[], name),
  purchase.refresh_work(bigint, regclass, text, name[], name, text, text, float8, text, integer, bigint),
  purchase.refresh_failure_hint(text, bigint),
  purchase.refresh_scoring_sql(text, regclass, text, text, text),
  purchase.refresh_job_command(regclass, text, name[], name, text, text, float8, text, integer, bigint),
  purchase.schedule_refresh_job(text, text, text),
  purchase.refresh_check_threshold(float8),
  purchase.refresh_check_budget(bigint),
  purchase.refresh_check_max_bad_rows(integer),
  purchase.relation_owner(oid),
  purchase.caller_is_member_of(oid),
  purchase.refresh_check_owner(oid, text),
  purchase.cron_database_name() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purchase.refresh_run_started(regclass, text, text, text, bigint),
  purchase.refresh_run_finished(bigint, text, text, integer, bigint, bigint, bigint, text, text),
  purchase.refresh_bad_row_add(bigint, text, text, text, text, text),
  purchase.refresh_target(text, name[], name),
  purchase.refresh_work(bigint, regclass, text, name[], name, text, text, float8, text, integer, bigint),
  purchase.refresh_failure_hint(text, bigint),
  purchase.refresh_scoring_sql(text, regclass, text, text, text),
  purchase.refresh_job_command(regclass, text, name[], name, text, text, float8, text, integer, bigint),
  purchase.schedule_refresh_job(text, text, text),
  purchase.refresh_check_threshold(float8),
  purchase.refresh_check_budget(bigint),
  purchase.refresh_check_max_bad_rows(integer),
  purchase.relation_owner(oid),
  purchase.caller_is_member_of(oid),
  purchase.refresh_check_owner(oid, text),
  purchase.cron_database_name() TO purchase_admin;
GRANT SELECT ON purchase.refresh_runs, purchase.refresh_bad_rows TO purchase_admin, purchase_scorer;
REVOKE EXECUTE ON PROCEDURE refresh_purchase_targets(regclass, text, text, text, float8, text, integer, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION schedule_purchase_refresh(text, text, regclass, text, text, text, float8, text, integer, bigint),
  unschedule_purchase_refresh(text) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE refresh_purchase_targets(regclass, text, text, text, float8, text, integer, bigint, bigint) TO purchase_admin;
GRANT EXECUTE ON FUNCTION schedule_purchase_refresh(text, text, regclass, text, text, text, float8, text, integer, bigint),
  unschedule_purchase_refresh(text) TO purchase_admin;
GRANT EXECUTE ON FUNCTION purchase_input_errors(regclass, text, text, bigint) TO purchase_scorer;
