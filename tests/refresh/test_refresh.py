"""refresh_purchase_targets under concurrency, cancellation and termination, and scheduled with a
real pg_cron.

Needs a cluster started with exactly the README's pg_cron recipe (scripts/test.sh):
shared_preload_libraries = 'pg_cron', cron.database_name = 'pg_purchase_cron',
cron.use_background_workers = on. The module's fixture makes the cron database (emptied, not
dropped) with the bundled model, 200,000 customers and a slow view; each test uses targets of its own.
"""

import os
import threading
import time

import psycopg
import pytest
from common import bundled, connect, load, make_customers, sqlstate_of

DB = "pg_purchase_cron"
OTHER_DB = "pg_purchase_other"
CRON_WAIT = int(os.environ.get("CRON_WAIT_SECONDS", "150"))


@pytest.fixture(scope="module", autouse=True)
def cron_db(pg):
    with connect("postgres") as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone()
        if not exists:
            admin.execute(f"CREATE DATABASE {DB}")
    with connect(DB) as conn:
        if exists:
            # Emptied rather than dropped: dropping the cron database would stop pg_cron's
            # scheduler for good (it exits cleanly and is not restarted).
            conn.execute("DROP EXTENSION IF EXISTS pg_purchase, pg_cron CASCADE")
            for (schema,) in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname !~ '^(pg_|information_schema)'"
            ).fetchall():
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            # As in a fresh database: roles other than the owner use public's functions too.
            conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
            conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
        conn.execute("CREATE EXTENSION pg_purchase")
        load(conn, bundled())
        make_customers(conn, rows=200000)
        # A source that takes ~2 s to score (1 ms a row), so other sessions can act meanwhile.
        conn.execute(
            "CREATE FUNCTION slowly(id bigint) RETURNS boolean LANGUAGE sql AS 'SELECT pg_sleep(0.001); SELECT true'"
        )
        conn.execute(
            "CREATE VIEW slow_customers AS SELECT * FROM customers WHERE customer_id <= 2000 AND slowly(customer_id)"
        )
        conn.execute("DO $$ BEGIN CREATE ROLE refresh_forger LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        conn.execute("ALTER ROLE refresh_forger LOGIN")
        conn.execute("GRANT purchase_admin TO refresh_forger")


def in_background(sql, params=None, notices=None):
    """Runs sql in its own session on a thread; returns (thread, outcome dict with pid/result/error)."""
    outcome, started = {}, threading.Event()

    def work():
        with connect(DB) as conn:
            if notices is not None:
                conn.add_notice_handler(lambda d: notices.append(d.message_primary))
            outcome["pid"] = conn.info.backend_pid
            started.set()
            try:
                outcome["result"] = conn.execute(sql, params).fetchone()
            except psycopg.Error as e:
                outcome["error"] = (e.sqlstate, str(e))

    thread = threading.Thread(target=work)
    thread.start()
    started.wait()
    return thread, outcome


def running_run(conn, target):
    """The run_id of the running refresh of target, once it is logged."""
    for _ in range(100):
        row = conn.execute(
            "SELECT run_id FROM purchase.refresh_runs WHERE status = 'running' AND target = %s", (target,)
        ).fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    return None


def test_readers_never_see_a_partial_list(check):
    with connect(DB) as conn:
        conn.execute("CALL refresh_purchase_targets('customers', 'ad_targets')")
        full = {
            conn.execute("SELECT count(*) FROM customers c WHERE predict_purchase(c) > %s", (t,)).fetchone()[0]
            for t in (0.75, 0.9)
        }
    seen, errors, stop = [], [], threading.Event()

    def reader():
        with connect(DB) as r:
            while not stop.is_set():
                try:
                    seen.append(r.execute("SELECT count(*) FROM ad_targets").fetchone()[0])
                except Exception as e:  # noqa: BLE001 - any error is a failure of the swap
                    errors.append(str(e))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    with connect(DB) as conn:
        for threshold in (0.9, None, 0.9, None):
            conn.execute("CALL refresh_purchase_targets('customers', 'ad_targets', threshold => %s)", (threshold,))
    stop.set()
    for t in threads:
        t.join()
    check(
        "readers during 4 refreshes saw only complete lists, never an error",
        not errors and seen and set(seen) <= full,
        f"{len(seen)} reads, sizes {sorted(set(seen))}, full {sorted(full)}, errors {errors[:1]}",
    )


def test_concurrent_refreshes_do_not_collide(check):
    notices, results = [], {}

    def refresh(label):
        with connect(DB) as conn:
            conn.add_notice_handler(lambda d: notices.append(d.message_primary))
            results[label] = conn.execute("CALL refresh_purchase_targets('slow_customers', 'slow_targets')").fetchone()[
                0
            ]

    first = threading.Thread(target=refresh, args=("first",))
    first.start()
    time.sleep(0.7)
    refresh("second")
    first.join()
    with connect(DB) as conn:
        last = conn.execute(
            "SELECT status FROM purchase.refresh_runs WHERE target = 'public.slow_targets' ORDER BY run_id"
        ).fetchall()
        count = conn.execute("SELECT count(*) FROM slow_targets").fetchone()[0]
    check(
        "a second refresh of the same target skips with a NOTICE and is logged as skipped",
        results.get("second") == 0
        and any("already running" in n for n in notices)
        and sorted(s for (s,) in last) == ["skipped", "succeeded"]
        and count == results.get("first") > 0,
        f"{results}, {last}, notices {notices}",
    )


def test_batch_scoring_at_scale_is_parallel(check):
    """CREATE TABLE AS with score_purchase over 1M rows gets a parallel plan when allowed."""
    with connect(DB) as conn:
        conn.execute("DROP TABLE IF EXISTS big, big_targets, big_list")
        conn.execute(
            "CREATE TABLE big AS SELECT g AS customer_id, "
            "(ARRAY['monday','friday','saturday'])[1 + g % 3] AS x5, '$' || (g % 5000) || '.25' AS x12, "
            "(ARRAY['asia','japan',NULL])[1 + g % 3] AS x31, (g % 97) / 97.0 AS x44, (g % 89) / 89.0 AS x53, "
            "sin(g) AS x56, cos(g) AS x58, sin(g * 0.3) AS x62, "
            "(ARRAY['July','April','May'])[1 + g % 3] AS x81, (g % 101) / 101.0 AS x91 "
            "FROM generate_series(1, 1000000) g"
        )
        conn.execute("ANALYZE big")
        conn.execute("SET max_parallel_workers_per_gather = 2")
        # The refresh procedure's shape: scoring in a select list, run by the workers.
        ctas = (
            "CREATE TABLE big_targets AS SELECT customer_id, (s).p_hat, (s).model, (s).version "
            "FROM (SELECT c.customer_id, score_purchase(c) AS s FROM big c OFFSET 0) x "
            "WHERE (s).business_outcome = 1 ORDER BY (s).p_hat DESC"
        )
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + ctas).fetchall())
        conn.execute(ctas)
        made = conn.execute("SELECT count(*) FROM big_targets").fetchone()[0]
        conn.execute("SET max_parallel_workers_per_gather = 0")
        expected = conn.execute("SELECT count(*) FROM big c WHERE predict_purchase(c) > 0.75").fetchone()[0]
        check(
            "CREATE TABLE AS scoring 1M rows plans a Gather with 2 workers (default costs), same rows as serial",
            "Gather" in plan and "Workers Planned: 2" in plan and made == expected,
            plan.replace("\n", " | ")[:300],
        )
        # The LATERAL form: PostgreSQL costs function-scan rescans as free, so it needs cheaper
        # parallel tuple costs to go parallel.
        conn.execute("DROP TABLE big_targets")
        conn.execute("SET max_parallel_workers_per_gather = 2; SET parallel_tuple_cost = 0.001")
        lateral = (
            "CREATE TABLE big_targets AS SELECT c.customer_id, s.* FROM big c "
            "CROSS JOIN LATERAL score_purchase(c) s WHERE s.business_outcome = 1"
        )
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + lateral).fetchall())
        conn.execute(lateral)
        made = conn.execute("SELECT count(*) FROM big_targets").fetchone()[0]
        check(
            "the CROSS JOIN LATERAL form goes parallel too once parallel_tuple_cost allows",
            "Gather" in plan and made == expected,
            plan.replace("\n", " | ")[:300],
        )
        conn.execute("RESET parallel_tuple_cost; RESET max_parallel_workers_per_gather")
        # And the refresh procedure itself, over the million rows.
        conn.execute("CALL refresh_purchase_targets('big', 'big_list')")
        listed = conn.execute("SELECT count(*) FROM big_list").fetchone()[0]
        check("refresh_purchase_targets over 1M rows lists the same customers", listed == expected)
        conn.execute("DROP TABLE big, big_targets, big_list")


def test_only_a_run_writes_its_log_row(check):
    """Issue 9.3: purchase_admin cannot finish (forge) a run of another session."""
    thread, outcome = in_background("CALL refresh_purchase_targets('slow_customers', 'forge_targets')")
    with connect(DB, user="refresh_forger") as forger:
        run = running_run(forger, "forge_targets")
        state = sqlstate_of(
            forger,
            "SELECT purchase.refresh_run_finished(%s, 'failed', NULL, NULL, 215000, 0, 0, 'XX000', 'forged')",
            (run,),
        )
    thread.join()
    with connect(DB) as conn:
        logged = conn.execute(
            "SELECT status, rows_scored, error FROM purchase.refresh_runs WHERE run_id = %s", (run,)
        ).fetchone()
    check(
        "purchase_admin's attempt to finish another session's run is refused (42501) and the run logs itself",
        run is not None and state == "42501" and "error" not in outcome and logged == ("succeeded", 2000, None),
        f"run {run}, {state}, {logged}, {outcome}",
    )


def test_cancelled_and_terminated_runs_end_in_the_log(check):
    """Issue 9.11: cancel and statement_timeout end as failed 57014; a terminated run's row is
    marked abandoned by the next run."""
    with connect(DB) as conn:
        conn.execute("SET statement_timeout = '500ms'")
        state = sqlstate_of(conn, "CALL refresh_purchase_targets('slow_customers', 'cancel_targets')")
        conn.execute("RESET statement_timeout")
        timed_out = conn.execute(
            "SELECT status, sqlstate FROM purchase.refresh_runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
    check(
        "a refresh stopped by statement_timeout raises 57014 and is logged failed 57014",
        state == "57014" and timed_out == ("failed", "57014"),
        f"{state}, {timed_out}",
    )

    thread, outcome = in_background("CALL refresh_purchase_targets('slow_customers', 'cancel_targets')")
    with connect(DB) as conn:
        run = running_run(conn, "cancel_targets")
        conn.execute("SELECT pg_cancel_backend(%s)", (outcome["pid"],))
        thread.join()
        cancelled = conn.execute(
            "SELECT status, sqlstate, error FROM purchase.refresh_runs WHERE run_id = %s", (run,)
        ).fetchone()
    check(
        "a refresh cancelled with pg_cancel_backend raises 57014 and is logged failed 57014",
        outcome.get("error", ("",))[0] == "57014" and cancelled[:2] == ("failed", "57014"),
        f"{outcome.get('error')}, {cancelled}",
    )

    thread, outcome = in_background("CALL refresh_purchase_targets('slow_customers', 'cancel_targets')")
    with connect(DB) as conn:
        run = running_run(conn, "cancel_targets")
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", (outcome["pid"],))
        thread.join()
        after_kill = conn.execute("SELECT status FROM purchase.refresh_runs WHERE run_id = %s", (run,)).fetchone()
        conn.execute("CALL refresh_purchase_targets('customers', 'after_kill_targets')")
        marked = conn.execute(
            "SELECT status, finished_at IS NOT NULL, error FROM purchase.refresh_runs WHERE run_id = %s", (run,)
        ).fetchone()
    check(
        "a terminated refresh (its backend gone) is marked abandoned by the next run",
        after_kill == ("running",) and marked[0] == "abandoned" and marked[1] and "ended" in marked[2],
        f"{after_kill}, {marked}",
    )


def test_lock_keys_and_counts(check):
    """Issue 9.13: "a.b".c and a."b.c" are different targets; rows_scored and the list come from
    one scan, even while rows are added to the source."""
    with connect(DB) as conn:
        conn.execute('CREATE SCHEMA IF NOT EXISTS "a.b"; CREATE SCHEMA IF NOT EXISTS a')
    notices = []
    thread, outcome = in_background("""CALL refresh_purchase_targets('slow_customers', '"a.b".c')""", notices=notices)
    with connect(DB) as conn:
        running_run(conn, '"a.b".c')
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        second = conn.execute("""CALL refresh_purchase_targets('slow_customers', 'a."b.c"')""").fetchone()[0]
    thread.join()
    first = outcome.get("result", (None,))[0]
    check(
        'refreshes of "a.b".c and a."b.c" run side by side (no lock-key collision)',
        first and second and first == second and not notices,
        f"{first}, {second}, {notices}",
    )

    thread, outcome = in_background("CALL refresh_purchase_targets('slow_customers', 'scan_targets')")
    with connect(DB) as conn:
        run = running_run(conn, "scan_targets")
        time.sleep(0.3)
        # Copies of the best customers, with new (negative) keys, appear while the run scores.
        with conn.transaction():
            conn.execute(
                "CREATE TEMP TABLE newcomers AS SELECT * FROM customers c "
                "WHERE c.customer_id <= 2000 AND predict_purchase(c) > 0.9"
            )
            conn.execute("UPDATE newcomers SET customer_id = -customer_id")
            conn.execute("INSERT INTO customers SELECT * FROM newcomers")
        thread.join()
        logged = conn.execute(
            "SELECT rows_scored, rows_targeted FROM purchase.refresh_runs WHERE run_id = %s", (run,)
        ).fetchone()
        listed = conn.execute("SELECT count(*), count(*) FILTER (WHERE customer_id <= 0) FROM scan_targets").fetchone()
        conn.execute("DELETE FROM customers WHERE customer_id <= 0")
    check(
        "rows_scored and the list come from the same scan (rows added meanwhile are in neither)",
        logged is not None and logged[0] == 2000 and listed == (logged[1], 0),
        f"{logged}, {listed}",
    )


def test_pg_cron_runs_the_job(check):
    """Issue 9.15: the README recipe (background workers, no cron.host) runs jobs, in the cron
    database and, through cron.schedule_in_database, in another one."""
    with connect("postgres") as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {OTHER_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {OTHER_DB}")
    with connect(OTHER_DB) as other:
        other.execute("CREATE EXTENSION pg_purchase")
        load(other, bundled())
        make_customers(other, rows=3000)
        other.execute("CREATE SCHEMA sales")
        other.execute("SET search_path = sales, public")
        hint = state = None
        try:
            other.execute(
                "SELECT schedule_purchase_refresh('pg-purchase-other', '* * * * *', 'customers', 'other_targets')"
            )
        except psycopg.Error as e:
            hint, state = e.diag.message_hint, e.sqlstate
    recipe = hint.split("): ", 1)[1] if hint and "): " in hint else None
    check(
        "scheduling from a database without pg_cron names the cron database and gives the exact call",
        state == "0A000"
        and recipe
        and recipe.startswith("SELECT cron.schedule_in_database(")
        and "''public.customers''::regclass" in recipe
        and "''sales.other_targets''" in recipe
        and f"'{OTHER_DB}')" in recipe,
        str(hint),
    )
    with connect(DB) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        other_job = conn.execute(recipe).fetchone()[0] if recipe else None
        conn.execute("CREATE SCHEMA IF NOT EXISTS marketing")
        # Scheduled with a search_path that finds marketing first: the job stores both names
        # fully qualified and does not depend on the path it later runs with.
        conn.execute("SET search_path = marketing, public")
        job = conn.execute(
            "SELECT schedule_purchase_refresh('pg-purchase-nightly', '* * * * *', 'customers', 'cron_targets')"
        ).fetchone()[0]
        conn.execute("RESET search_path")
        bad = conn.execute(
            "SELECT schedule_purchase_refresh('pg-purchase-broken', '* * * * *', "
            "'customers', 'cron_broken', 'no_such_model')"
        ).fetchone()[0]
        command = conn.execute("SELECT command FROM cron.job WHERE jobid = %s", (job,)).fetchone()[0]
        check(
            "the job is registered in cron.job with source and target fully qualified",
            "refresh_purchase_targets('public.customers'::regclass, 'marketing.cron_targets'" in command,
            command,
        )
        deadline = time.time() + CRON_WAIT
        runs = {}
        while time.time() < deadline:
            runs = dict(
                conn.execute(
                    "SELECT jobid, status FROM cron.job_run_details WHERE jobid IN (%s, %s, %s) "
                    "AND status IN ('succeeded', 'failed')",
                    (job, bad, other_job),
                ).fetchall()
            )
            if len(runs) == 3:
                break
            time.sleep(2)
        message = conn.execute(
            "SELECT return_message FROM cron.job_run_details WHERE jobid = %s ORDER BY runid LIMIT 1", (bad,)
        ).fetchone()
        check("pg_cron ran the refresh on its schedule and it succeeded", runs.get(job) == "succeeded", str(runs))
        logged = conn.execute(
            "SELECT status, rows_targeted FROM purchase.refresh_runs "
            "WHERE target = 'marketing.cron_targets' ORDER BY run_id LIMIT 1"
        ).fetchone()
        targets = (
            conn.execute("SELECT count(*) FROM marketing.cron_targets").fetchone()[0]
            if conn.execute("SELECT to_regclass('marketing.cron_targets') IS NOT NULL").fetchone()[0]
            else None
        )
        check(
            "it produced the target table and a run-log row",
            logged is not None and logged[0] == "succeeded" and targets == logged[1] and targets > 0,
            f"{logged}, {targets}",
        )
        failed = conn.execute(
            "SELECT status, error FROM purchase.refresh_runs WHERE target = 'public.cron_broken' "
            "ORDER BY run_id LIMIT 1"
        ).fetchone()
        check(
            "a failing job is failed in cron.job_run_details and logged with its error",
            runs.get(bad) == "failed"
            and failed is not None
            and failed[0] == "failed"
            and "no_such_model" in (message[0] if message else "")
            and "no_such_model" in failed[1],
            f"{runs.get(bad)}, {message}, {failed}",
        )
        conn.execute("SELECT unschedule_purchase_refresh('pg-purchase-nightly')")
        conn.execute("SELECT unschedule_purchase_refresh('pg-purchase-broken')")
        if other_job:
            conn.execute("SELECT cron.unschedule(%s)", (other_job,))
        left = conn.execute("SELECT count(*) FROM cron.job WHERE jobname LIKE 'pg-purchase-%'").fetchone()[0]
        check("unschedule_purchase_refresh removes the jobs", left == 0)
    with connect(OTHER_DB) as other:
        done = other.execute(
            "SELECT status, rows_targeted FROM purchase.refresh_runs ORDER BY run_id LIMIT 1"
        ).fetchone()
        made = (
            other.execute("SELECT count(*) FROM sales.other_targets").fetchone()[0]
            if other.execute("SELECT to_regclass('sales.other_targets') IS NOT NULL").fetchone()[0]
            else None
        )
    check(
        f"the job scheduled from {DB} with cron.schedule_in_database refreshed the list in {OTHER_DB}",
        runs.get(other_job) == "succeeded" and done is not None and done[0] == "succeeded" and made == done[1] > 0,
        f"{runs.get(other_job)}, {done}, {made}",
    )


def error_of(conn, sql, params=None):
    """(SQLSTATE, message) of the error sql raises, or None."""
    try:
        conn.execute(sql, params)
    except psycopg.Error as e:
        return e.sqlstate, e.diag.message_primary
    return None


def test_pg_cron_jobs_write_only_targets_their_user_owns(check):
    """Issue 18.1 and 18.15, on one wait for the next minute: a superuser's job whose target a
    plain role planted (with a trigger that would make her superuser) is refused with 42501; a
    purchase_admin member that is no superuser, with the README's recipe, schedules a job that
    pg_cron runs as that role and that refreshes the list."""
    with connect(DB) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        conn.execute("GRANT USAGE ON SCHEMA cron TO purchase_admin")  # README's recipe
        for role in ("mallory", "cron_admin"):
            conn.execute(f"DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
            conn.execute(f"ALTER ROLE {role} LOGIN NOSUPERUSER")
        conn.execute("GRANT purchase_admin TO cron_admin")
        conn.execute("GRANT SELECT ON customers TO cron_admin")
        conn.execute("CREATE SCHEMA admin_lists AUTHORIZATION cron_admin")
        conn.execute("CREATE SCHEMA shared")
        conn.execute("GRANT USAGE, CREATE ON SCHEMA shared TO mallory")
        positives = conn.execute("SELECT count(*) FROM customers c WHERE purchase_outcome(c) = 1").fetchone()[0]
        # The superuser schedules a new target; shared comes first in its search_path.
        conn.execute("SET search_path = shared, public")
        bait = conn.execute(
            "SELECT schedule_purchase_refresh('pg-purchase-bait', '* * * * *', 'customers', 'ad_bait')"
        ).fetchone()[0]
        conn.execute("RESET search_path")
    with connect(DB, user="mallory") as mallory:
        mallory.execute(
            "CREATE FUNCTION shared.escalate() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN ALTER ROLE mallory SUPERUSER; RETURN NEW; END $$"
        )
        mallory.execute(
            "CREATE TABLE shared.ad_bait (customer_id bigint, p_hat float8, model text, version int, scored_at timestamptz)"
        )
        mallory.execute(
            "CREATE TRIGGER escalate BEFORE INSERT ON shared.ad_bait FOR EACH ROW EXECUTE FUNCTION shared.escalate()"
        )
    with connect(DB) as conn:
        refused = error_of(
            conn, "SELECT schedule_purchase_refresh('pg-purchase-bait-2', '* * * * *', 'customers', 'shared.ad_bait')"
        )
    check(
        "scheduling a refresh of a target another role owns is refused with 42501 naming the owner",
        refused is not None and refused[0] == "42501" and "mallory" in refused[1],
        str(refused),
    )
    with connect(DB, user="cron_admin") as admin:
        bad = error_of(
            admin,
            "SELECT schedule_purchase_refresh('pg-purchase-nan', '* * * * *', 'customers', 'admin_lists.nightly', "
            "threshold => 'NaN')",
        )
        job = None
        try:
            job = admin.execute(
                "SELECT schedule_purchase_refresh('pg-purchase-admin', '* * * * *', 'customers', 'admin_lists.nightly')"
            ).fetchone()[0]
        except psycopg.Error as e:
            check("a purchase_admin member that is no superuser schedules a refresh", False, str(e))
        stored = admin.execute(
            "SELECT count(*) FROM cron.job WHERE jobname IN ('pg-purchase-nan', 'pg-purchase-bait-2')"
        ).fetchone()[0]
    check(
        "a NaN threshold is refused (22023) before a job is stored",
        bad is not None and bad[0] == "22023" and "NaN" in bad[1] and stored == 0,
        f"{bad}, {stored} stored",
    )
    with connect(DB) as conn:
        runs = {}
        deadline = time.time() + CRON_WAIT
        while time.time() < deadline:
            runs = dict(
                conn.execute(
                    "SELECT jobid, status FROM cron.job_run_details WHERE jobid IN (%s, %s) "
                    "AND status IN ('succeeded', 'failed')",
                    (bait, job),
                ).fetchall()
            )
            if len(runs) == 2 or (job is None and runs):
                break
            time.sleep(2)
        message = conn.execute(
            "SELECT return_message FROM cron.job_run_details WHERE jobid = %s ORDER BY runid LIMIT 1", (bait,)
        ).fetchone()
        escalated = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'").fetchone()[0]
        planted_rows = conn.execute("SELECT count(*) FROM shared.ad_bait").fetchone()[0]
        logged = conn.execute(
            "SELECT status, sqlstate, run_by FROM purchase.refresh_runs WHERE target = 'shared.ad_bait' "
            "ORDER BY run_id LIMIT 1"
        ).fetchone()
        check(
            "the superuser's job into mallory's planted target failed with 42501 naming her, and wrote nothing",
            runs.get(bait) == "failed"
            and message is not None
            and "owned by role mallory" in message[0]
            and logged == ("failed", "42501", "postgres")
            and planted_rows == 0,
            f"{runs.get(bait)}, {message}, {logged}, {planted_rows} rows",
        )
        check("mallory is still not a superuser", escalated is False, str(escalated))
        done = conn.execute(
            "SELECT status, rows_targeted, run_by FROM purchase.refresh_runs WHERE target = 'admin_lists.nightly' "
            "ORDER BY run_id LIMIT 1"
        ).fetchone()
        listed = (
            conn.execute("SELECT count(*) FROM admin_lists.nightly").fetchone()[0]
            if conn.execute("SELECT to_regclass('admin_lists.nightly') IS NOT NULL").fetchone()[0]
            else None
        )
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = 'admin_lists' AND tablename = 'nightly'"
        ).fetchone()
        check(
            "pg_cron ran the admin's job as cron_admin and it listed every positive customer",
            runs.get(job) == "succeeded"
            and done == ("succeeded", positives, "cron_admin")
            and listed == positives > 0
            and owner == ("cron_admin",),
            f"{runs.get(job)}, {done}, {listed} listed of {positives}, owner {owner}",
        )
        conn.execute("SELECT cron.unschedule(%s)", (bait,))
    with connect(DB, user="cron_admin") as admin:
        removed = (
            admin.execute("SELECT unschedule_purchase_refresh('pg-purchase-admin')").fetchone()[0] if job else None
        )
    check("the admin unschedules its own job", removed is True, str(removed))


def test_pg_cron_runs_a_budget_job(check):
    """Issue 21 item 3 and issue 22 item 6: a job scheduled with budget and max_bad_rows lists
    exactly the budget's best rows (ties by key ascending), skips bad rows recording at most
    max_bad_rows of them, and its run log records the budget."""
    with connect(DB) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        conn.execute("DROP TABLE IF EXISTS budget_customers, budget_cron_targets")
        conn.execute("CREATE TABLE budget_customers AS SELECT * FROM customers WHERE customer_id <= 5000")
        # A tie across the cut: three copies of the 48th-best row, under keys below and above
        # its own, so the 50-row cut falls inside a tie of four.
        best48 = conn.execute(
            "SELECT customer_id FROM budget_customers c WHERE purchase_outcome(c) = 1 "
            "ORDER BY predict_purchase(c) DESC, customer_id LIMIT 1 OFFSET 47"
        ).fetchone()[0]
        conn.execute("CREATE TEMP TABLE tie_row AS SELECT * FROM budget_customers WHERE customer_id = %s", (best48,))
        for key in (-1, 6000000, 7000000):
            conn.execute("UPDATE tie_row SET customer_id = %s", (key,))
            conn.execute("INSERT INTO budget_customers SELECT * FROM tie_row")
        tie = conn.execute(
            "SELECT array_agg(customer_id ORDER BY customer_id) FROM budget_customers c "
            "WHERE predict_purchase(c) = (SELECT predict_purchase(b) FROM budget_customers b WHERE customer_id = %s)",
            (best48,),
        ).fetchone()[0]
        conn.execute("UPDATE budget_customers SET x12 = 'twelve dollars' WHERE customer_id IN (11, 12, 13)")
        expected = [
            r[0]
            for r in conn.execute(
                "SELECT customer_id FROM (SELECT * FROM budget_customers WHERE customer_id NOT IN (11, 12, 13) "
                "OFFSET 0) c WHERE purchase_outcome(c) = 1 ORDER BY predict_purchase(c) DESC, customer_id LIMIT 50"
            ).fetchall()
        ]
        job = conn.execute(
            "SELECT schedule_purchase_refresh('pg-purchase-budget', '* * * * *', 'budget_customers', "
            "'budget_cron_targets', on_bad_row => 'skip', max_bad_rows => 1, budget => 50)"
        ).fetchone()[0]
        command = conn.execute("SELECT command FROM cron.job WHERE jobid = %s", (job,)).fetchone()[0]
        check(
            "the job's command carries the budget and max_bad_rows",
            "max_bad_rows => 1, budget => 50)" in command and "on_bad_row => 'skip'" in command,
            command,
        )
        deadline = time.time() + CRON_WAIT
        status = None
        while time.time() < deadline:
            row = conn.execute(
                "SELECT status FROM cron.job_run_details WHERE jobid = %s AND status IN ('succeeded', 'failed')",
                (job,),
            ).fetchone()
            if row:
                status = row[0]
                break
            time.sleep(2)
        conn.execute("SELECT unschedule_purchase_refresh('pg-purchase-budget')")
        check("pg_cron ran the budget job and it succeeded", status == "succeeded", str(status))
        logged = conn.execute(
            "SELECT budget, rows_targeted, rows_skipped, on_bad_row FROM purchase.refresh_runs "
            "WHERE target = 'public.budget_cron_targets' ORDER BY run_id LIMIT 1"
        ).fetchone()
        check("the run log records the budget and the skipped rows", logged == (50, 50, 3, "skip"), str(logged))
        recorded = conn.execute(
            "SELECT count(*) FROM purchase.refresh_bad_rows WHERE target = 'public.budget_cron_targets'"
        ).fetchone()[0]
        check("at most max_bad_rows of the bad rows are recorded", recorded == 1, str(recorded))
        listed = [
            r[0]
            for r in conn.execute(
                "SELECT customer_id FROM budget_cron_targets ORDER BY p_hat DESC, customer_id"
            ).fetchall()
        ]
        check(
            "the list is exactly the 50 best rows, the tie at the cut broken by key ascending",
            listed == expected and len(tie) == 4 and tie[0] == -1 and -1 in listed and 7000000 not in listed,
            f"{listed[-5:]} vs {expected[-5:]}, tie {tie}",
        )
