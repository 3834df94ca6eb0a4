-- refresh_purchase_targets: score a source table into a targeting list, swapped in atomically,
-- every run logged in purchase.refresh_runs. It is a procedure: CALL it outside BEGIN/COMMIT.
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
UPDATE many SET x12 = 'twelve dollars' WHERE customer_id = 5000;
CALL refresh_purchase_targets('many', 'ad_targets');
SELECT count(*) AS after_failures FROM ad_targets;
CALL refresh_purchase_targets('many', 'a.b.c');

-- The run log: source, target, model, version, rows, status and error of every run.
SELECT run_id, source, target, model, version, rows_scored, rows_targeted, status, sqlstate, error,
       finished_at >= started_at AS timed
  FROM purchase.refresh_runs ORDER BY run_id;

-- Without pg_cron in this database, scheduling says how to get it.
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'ad_targets')$$);
SELECT error_of($$SELECT unschedule_purchase_refresh('nightly')$$);
