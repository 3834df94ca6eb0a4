-- pg_purchase 0.1.0 -> 0.2.0: model lifecycle (versions, rollback, export, file loads, drop),
-- the purchase_admin / purchase_scorer roles and SECURITY DEFINER admin functions, batch refresh
-- of targeting lists with a run log, and pg_cron scheduling.
-- Models in purchase.model_versions are kept as they are.

-- Scoring costs ~a hundred simple operators per call; say so, so large scans go parallel.
ALTER FUNCTION predict_purchase(record, text) COST 100;
ALTER FUNCTION purchase_outcome(record, text) COST 100;
ALTER FUNCTION score_purchase(record, text) COST 100;
ALTER FUNCTION purchase_features(record, text) COST 100;
ALTER FUNCTION predict_purchase_columns(text, text[], "any") COST 100;
ALTER FUNCTION purchase_outcome_columns(text, text[], "any") COST 100;
ALTER FUNCTION score_purchase_columns(text, text[], "any") COST 100;
ALTER FUNCTION purchase_features_columns(text, text[], "any") COST 100;

CREATE FUNCTION "activate_purchase_model"("name" TEXT, "version" INT) RETURNS INT
VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'activate_purchase_model_wrapper';

CREATE FUNCTION "drop_purchase_model"("name" TEXT) RETURNS bigint
VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'drop_purchase_model_wrapper';

CREATE FUNCTION "load_purchase_model_file"("path" TEXT, "name" TEXT DEFAULT 'default', "activate" bool DEFAULT true)
RETURNS INT VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'load_purchase_model_file_wrapper';

-- A NULL argument to the admin functions is an error (22004), not a silent NULL.
ALTER FUNCTION load_purchase_model(jsonb, text, boolean) CALLED ON NULL INPUT;

-- Roles: purchase_admin changes models, purchase_scorer scores. Roles are cluster-wide and
-- outlive the extension; they are created only if missing.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'purchase_admin') THEN
    CREATE ROLE purchase_admin NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'purchase_scorer') THEN
    CREATE ROLE purchase_scorer NOLOGIN;
  END IF;
END $$;

-- Batch scoring into targeting lists, swapped in atomically, every run logged.

CREATE TABLE purchase.refresh_runs (
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
    status        text        NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    sqlstate      text,
    error         text,
    run_by        name        NOT NULL DEFAULT session_user
);
COMMENT ON TABLE purchase.refresh_runs IS 'One row per refresh_purchase_targets run, kept even when the run fails';
SELECT pg_catalog.pg_extension_config_dump('purchase.refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('purchase.refresh_runs_run_id_seq', '');
REVOKE ALL ON purchase.refresh_runs FROM PUBLIC;
GRANT SELECT ON purchase.refresh_runs TO purchase_admin, purchase_scorer;

-- Writing the run log is done by these two, as the extension owner, so refreshing needs no
-- write privilege on the catalog schema.
CREATE FUNCTION purchase.refresh_run_started(source text, target text, model text) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO purchase.refresh_runs (source, target, model, run_by)
  VALUES (source, target, model, session_user) RETURNING run_id
$$;

CREATE FUNCTION purchase.refresh_run_finished(run bigint, status text, version integer,
                                              rows_scored bigint, rows_targeted bigint,
                                              sqlstate text DEFAULT NULL, error text DEFAULT NULL) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  UPDATE purchase.refresh_runs r
     SET status = refresh_run_finished.status, version = refresh_run_finished.version,
         rows_scored = refresh_run_finished.rows_scored, rows_targeted = refresh_run_finished.rows_targeted,
         sqlstate = refresh_run_finished.sqlstate, error = refresh_run_finished.error,
         finished_at = clock_timestamp()
   WHERE r.run_id = run AND r.status = 'running'
$$;

-- A procedure, not a function: the run-log row is committed before the work starts and its
-- outcome is committed after, so a failed run stays logged while the caller (and pg_cron's
-- cron.job_run_details) still sees the error. CALL it outside an explicit transaction block.
-- (No SET clause: a procedure with one may not COMMIT; names are schema-qualified instead.)
CREATE PROCEDURE refresh_purchase_targets(source regclass, target text, model text DEFAULT 'default',
                                          key_column text DEFAULT 'customer_id', threshold float8 DEFAULT NULL,
                                          INOUT rows_targeted bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $proc$
DECLARE
  parts      text[];
  tschema    text;
  tname      text;
  staging    text;
  run        bigint;
  scored     bigint;
  used       integer;
  acl_sql    text;
  failed     boolean := false;
  err_state  text;
  err_text   text;
  err_hint   text;
BEGIN
  IF source IS NULL OR target IS NULL OR model IS NULL OR key_column IS NULL THEN
    RAISE EXCEPTION 'refresh_purchase_targets: source, target, model and key_column must not be NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  run := purchase.refresh_run_started(source::text, target, model);
  COMMIT;

  BEGIN
    -- The target may be schema-qualified and quoted: "Sales"."Targets 2026"; parse_ident
    -- splits it exactly as the parser would, and every use below goes through %I.
    parts := parse_ident(target);
    IF array_length(parts, 1) = 1 THEN
      tschema := current_schema();
      tname := parts[1];
    ELSIF array_length(parts, 1) = 2 THEN
      tschema := parts[1];
      tname := parts[2];
    ELSE
      RAISE EXCEPTION 'target "%" must be a table name, optionally schema-qualified', target
        USING ERRCODE = 'invalid_name';
    END IF;
    IF tschema IS NULL THEN
      RAISE EXCEPTION 'no schema to create target "%" in', target USING ERRCODE = 'invalid_schema_name';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = source AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped) THEN
      RAISE EXCEPTION 'column "%" does not exist in %', key_column, source
        USING ERRCODE = 'undefined_column', HINT = 'Pass key_column => the column that identifies a customer.';
    END IF;
    SELECT m.version INTO used FROM purchase.model_versions m WHERE m.name = model AND m.active;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'purchase model "%" does not exist', model
        USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM purchase_models() lists the models.';
    END IF;

    -- Two refreshes of one target never interleave: the second skips with a NOTICE.
    IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('pg_purchase.refresh:' || tschema || '.' || tname)) THEN
      RAISE NOTICE 'a refresh of %.% is already running; skipping this one', quote_ident(tschema), quote_ident(tname);
      PERFORM purchase.refresh_run_finished(run, 'skipped', NULL, 0, 0);
      rows_targeted := 0;
      RETURN;
    END IF;

    -- Build the new list beside the old one...
    staging := left(tname, 40) || '_pgp_new_' || run;
    EXECUTE format('SELECT count(*) FROM %s', source) INTO scored;
    -- Scoring in the select list of a subquery (OFFSET 0 keeps it from being flattened into one
    -- call per field) lets the planner run it in parallel workers; a LATERAL function scan would
    -- be costed as free on rescans and stay serial.
    EXECUTE format(
      'CREATE TABLE %I.%I AS
         SELECT scored.key AS %I, (scored.s).p_hat, (scored.s).model, (scored.s).version, now() AS scored_at
           FROM (SELECT c.%I AS key, @extschema@.score_purchase(c, %L) AS s FROM %s c OFFSET 0) scored
          WHERE %s
          ORDER BY (scored.s).p_hat DESC',
      tschema, staging, key_column, key_column, model, source,
      CASE WHEN threshold IS NULL THEN '(scored.s).business_outcome = 1'
           ELSE format('(scored.s).p_hat > %L::float8', threshold) END);
    GET DIAGNOSTICS rows_targeted = ROW_COUNT;
    EXECUTE format('SELECT coalesce(min(version), %s) FROM %I.%I', used, tschema, staging) INTO used;

    -- ...then swap it in: readers see the old complete list until commit, then the new one.
    IF to_regclass(format('%I.%I', tschema, tname)) IS NOT NULL THEN
      EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', tschema, tname);
      -- Keep the grants readers had on the old list.
      SELECT string_agg(format('GRANT %s ON %I.%I TO %s', a.privilege_type, tschema, staging,
                               CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END), '; ')
        INTO acl_sql
        FROM pg_catalog.pg_class k, aclexplode(k.relacl) a
       WHERE k.oid = format('%I.%I', tschema, tname)::regclass AND a.grantee <> k.relowner;
      IF acl_sql IS NOT NULL THEN
        EXECUTE acl_sql;
      END IF;
      EXECUTE format('DROP TABLE %I.%I', tschema, tname);
    END IF;
    EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', tschema, staging, tname);
    PERFORM purchase.refresh_run_finished(run, 'succeeded', used, scored, rows_targeted);
  EXCEPTION WHEN OTHERS THEN
    -- Everything above is rolled back: the old list stays.
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_text = MESSAGE_TEXT, err_hint = PG_EXCEPTION_HINT;
    failed := true;
  END;

  IF failed THEN
    PERFORM purchase.refresh_run_finished(run, 'failed', used, NULL, NULL, err_state, err_text);
    COMMIT;  -- the log entry survives the error raised next
    RAISE EXCEPTION 'refresh of "%" from % failed: %', target, source, err_text
      USING ERRCODE = err_state, HINT = coalesce(nullif(err_hint, ''), 'See purchase.refresh_runs run ' || run || '.');
  END IF;
END
$proc$;
COMMENT ON PROCEDURE refresh_purchase_targets(regclass, text, text, text, float8, bigint) IS
  'Scores every row of source and atomically replaces target with the customers to target, ordered by p_hat';

-- Scheduling with pg_cron, when it is installed in this database (pg_purchase does not need it).
CREATE FUNCTION schedule_purchase_refresh(job_name text, schedule text, source regclass, target text,
                                          model text DEFAULT 'default') RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  command text;
  job bigint;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Install postgresql-15-cron, set shared_preload_libraries = ''pg_cron'' and cron.database_name = '''
                   || current_database() || ''', restart, then CREATE EXTENSION pg_cron.';
  END IF;
  command := format('CALL @extschema@.refresh_purchase_targets(%L::regclass, %L, %L)', source::text, target, model);
  EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING job_name, schedule, command;
  RETURN job;
END $$;

CREATE FUNCTION unschedule_purchase_refresh(job_name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE found boolean;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
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

REVOKE EXECUTE ON FUNCTION purchase.refresh_run_started(text, text, text),
  purchase.refresh_run_finished(bigint, text, integer, bigint, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purchase.refresh_run_started(text, text, text),
  purchase.refresh_run_finished(bigint, text, integer, bigint, bigint, text, text) TO purchase_admin;
REVOKE EXECUTE ON PROCEDURE refresh_purchase_targets(regclass, text, text, text, float8, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION schedule_purchase_refresh(text, text, regclass, text, text),
  unschedule_purchase_refresh(text) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE refresh_purchase_targets(regclass, text, text, text, float8, bigint) TO purchase_admin;
GRANT EXECUTE ON FUNCTION schedule_purchase_refresh(text, text, regclass, text, text),
  unschedule_purchase_refresh(text) TO purchase_admin;

-- Model lifecycle: listing and exporting versions (SQL), privileges of the two roles.
CREATE FUNCTION purchase_models()
RETURNS TABLE (name text, version integer, active boolean, sha256 text, loaded_at timestamptz,
               loaded_by name, features integer, threshold float8, columns text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT m.name, m.version, m.active, m.sha256, m.loaded_at, m.loaded_by,
         jsonb_array_length(m.artifact->'model'->'features'),
         (m.artifact->>'threshold')::float8,
         ARRAY(SELECT i->>'column' FROM jsonb_array_elements(m.artifact->'inputs') i)
    FROM purchase.model_versions m
   ORDER BY m.name, m.version
$$;
COMMENT ON FUNCTION purchase_models() IS 'Every loaded model version with its metadata; active marks the version in force';

CREATE FUNCTION export_purchase_model(name text DEFAULT 'default', version integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE doc jsonb;
BEGIN
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

-- Roles (created in the bootstrap SQL): purchase_admin changes models, purchase_scorer scores.
GRANT purchase_scorer TO purchase_admin;

-- The catalog is written only through the SECURITY DEFINER functions below. Scoring reads it
-- with the caller's rights: PUBLIC may read (and so score) unless the DBA revokes that, in
-- which case purchase_scorer keeps both.
REVOKE ALL ON purchase.model_versions FROM PUBLIC;
GRANT SELECT ON purchase.model_versions TO PUBLIC, purchase_scorer, purchase_admin;

ALTER FUNCTION load_purchase_model(jsonb, text, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION load_purchase_model_file(text, text, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION activate_purchase_model(text, integer) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION drop_purchase_model(text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION load_purchase_model(jsonb, text, boolean), load_purchase_model_file(text, text, boolean),
  activate_purchase_model(text, integer), drop_purchase_model(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION load_purchase_model(jsonb, text, boolean), load_purchase_model_file(text, text, boolean),
  activate_purchase_model(text, integer), drop_purchase_model(text) TO purchase_admin;
GRANT EXECUTE ON FUNCTION predict_purchase(record, text), purchase_outcome(record, text),
  score_purchase(record, text), purchase_features(record, text), predict_purchase_json(jsonb, text),
  predict_purchase_columns(text, text[], "any"), purchase_outcome_columns(text, text[], "any"),
  score_purchase_columns(text, text[], "any"), purchase_features_columns(text, text[], "any"),
  clean_number(text), purchase_models(), export_purchase_model(text, integer) TO purchase_scorer;
