-- Budgets (README "Nightly targeting lists"): refresh_purchase_targets(..., budget => N) lists
-- exactly the N highest-scored rows, ties at the cut broken by key_column ascending in the key's
-- own type; with a threshold, the rows above it, at most N of them. The run log records the budget.
\ir setup/common.sql
\ir setup/many.sql
\set SHOW_CONTEXT never
-- Four more rows with exactly the features (so the p_hat) of the 5th-best row: a tie of five
-- at ranks 5 to 9. Their keys sort differently as integers and as text (20000 < 100000, but
-- '100000' < '20000'), so a cut inside the tie shows which order was used.
CREATE TABLE tied AS SELECT * FROM many;
CREATE TEMP TABLE fifth AS
SELECT customer_id FROM many m ORDER BY predict_purchase(m) DESC LIMIT 1 OFFSET 4;
INSERT INTO tied SELECT k, x5, x12, x31, x44, x53, x56, x58, x62, x81, x91
  FROM many, unnest(ARRAY[300000, 100000, 20000, 9000000]) k WHERE customer_id = (SELECT customer_id FROM fifth);
SELECT count(*) AS tie_size FROM tied t
 WHERE predict_purchase(t) = (SELECT predict_purchase(m) FROM many m WHERE customer_id = (SELECT customer_id FROM fifth));

-- Budget 6: the four best rows, then the two smallest keys of the tie (the original row's key,
-- then 20000).
CALL refresh_purchase_targets('tied', 'budget_targets', budget => 6);
SELECT count(*) AS listed,
       count(*) FILTER (WHERE customer_id IN (20000, 100000, 300000, 9000000)) AS copies_listed,
       bool_or(customer_id = 20000) AS key_20000_listed, bool_or(customer_id = 100000) AS key_100000_listed,
       bool_or(customer_id = (SELECT customer_id FROM fifth)) AS original_listed
  FROM budget_targets;
-- Exactly the rows ORDER BY p_hat DESC, key ASC LIMIT 6 gives, in that order.
SELECT array_agg(customer_id ORDER BY p_hat DESC, customer_id) =
       (SELECT array_agg(customer_id) FROM (SELECT customer_id FROM tied t
                                             WHERE purchase_outcome(t) = 1
                                             ORDER BY predict_purchase(t) DESC, customer_id LIMIT 6) e)
         AS the_six_best
  FROM budget_targets;
-- The same list whatever order the rows are stored in.
CREATE TABLE tied_reversed AS SELECT * FROM tied ORDER BY customer_id DESC;
CALL refresh_purchase_targets('tied_reversed', 'budget_targets_reversed', budget => 6);
SELECT (SELECT array_agg(customer_id ORDER BY customer_id) FROM budget_targets)
     = (SELECT array_agg(customer_id ORDER BY customer_id) FROM budget_targets_reversed) AS order_independent;
-- A text key: ties broken by the text order.
CREATE TABLE tied_text AS SELECT customer_id::text AS customer_id, x5, x12, x31, x44, x53, x56, x58, x62, x81, x91 FROM tied;
CALL refresh_purchase_targets('tied_text', 'budget_targets_text', budget => 6);
SELECT bool_or(customer_id = '100000') AS key_100000_listed, bool_or(customer_id = '20000') AS key_20000_listed
  FROM budget_targets_text;

-- With a threshold: the rows above it, at most N of them.
CALL refresh_purchase_targets('many', 'budget_targets', threshold => 0.9, budget => 5);
SELECT count(*) AS listed, bool_and(p_hat > 0.9) AS all_above_0_9 FROM budget_targets;
SELECT count(*) AS above_0_99 FROM many m WHERE predict_purchase(m) > 0.99;
CALL refresh_purchase_targets('many', 'budget_targets', threshold => 0.99, budget => 1000000);
-- The model's own rule (business_outcome = 1) with a budget larger than the list: the whole list.
CALL refresh_purchase_targets('many', 'budget_targets', budget => 100000);
SELECT count(*) = (SELECT count(*) FROM many m WHERE purchase_outcome(m) = 1) AS every_positive_listed FROM budget_targets;

-- The run log records each run's budget (NULL: no budget).
CALL refresh_purchase_targets('many', 'budget_targets', budget => NULL);
SELECT target, rows_targeted, budget, status FROM purchase.refresh_runs ORDER BY run_id DESC LIMIT 3;

-- Bad budgets are refused before the run starts (nothing is logged, the list stays).
SELECT count(*) AS runs_before FROM purchase.refresh_runs;
CALL refresh_purchase_targets('many', 'budget_targets', budget => 0);
CALL refresh_purchase_targets('many', 'budget_targets', budget => -5);
SELECT count(*) AS runs_after FROM purchase.refresh_runs;

-- schedule_purchase_refresh takes budget and max_bad_rows too, checks them before storing a job,
-- and writes them into the job's command (here pg_cron lives in another database: its hint shows
-- the command).
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'budget_targets', budget => 0)$$);
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'budget_targets', max_bad_rows => NULL)$$);
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'budget_targets', max_bad_rows => 20000)$$);
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'budget_targets',
                                                   on_bad_row => 'skip', max_bad_rows => 7, budget => 500)$$);

-- Privileges: only purchase_admin may refresh or schedule, with or without a budget.
DO $$ BEGIN CREATE ROLE budget_outsider; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT SELECT ON many TO budget_outsider;
SET ROLE budget_outsider;
CALL refresh_purchase_targets('many', 'outsider_targets', budget => 5);
SELECT error_of($$SELECT schedule_purchase_refresh('nightly', '0 3 * * *', 'many', 'outsider_targets', budget => 5)$$);
RESET ROLE;
