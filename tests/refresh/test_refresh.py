#!/usr/bin/env python3
"""refresh_purchase_targets under concurrency, and scheduled with a real pg_cron.

Needs a cluster started with shared_preload_libraries = 'pg_cron',
cron.database_name = 'pg_purchase_cron' and cron.host = its socket directory (scripts/test.sh)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lifecycle"))
from common import bundled, check, connect, finish, load, make_customers  # noqa: E402

DB = "pg_purchase_cron"
CRON_WAIT = int(os.environ.get("CRON_WAIT_SECONDS", "150"))


def setup():
    with connect("postgres") as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    with connect(DB) as conn:
        conn.execute("CREATE EXTENSION pg_purchase")
        load(conn, bundled())
        make_customers(conn, rows=200000)


def readers_never_see_a_partial_list():
    with connect(DB) as conn:
        conn.execute("CALL refresh_purchase_targets('customers', 'ad_targets')")
        full = {conn.execute("SELECT count(*) FROM customers c WHERE predict_purchase(c) > %s", (t,)).fetchone()[0]
                for t in (0.75, 0.9)}
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
    check("readers during 4 refreshes saw only complete lists, never an error",
          not errors and seen and set(seen) <= full, f"{len(seen)} reads, sizes {sorted(set(seen))}, full {sorted(full)}, errors {errors[:1]}")


def concurrent_refreshes_do_not_collide():
    notices, results = [], {}
    with connect(DB) as conn:
        # A source that takes ~2 s to score, so the second refresh surely starts meanwhile.
        conn.execute("CREATE FUNCTION slowly(id bigint) RETURNS boolean LANGUAGE sql "
                     "AS 'SELECT pg_sleep(0.001); SELECT true'")
        conn.execute("CREATE VIEW slow_customers AS SELECT * FROM customers WHERE customer_id <= 2000 "
                     "AND slowly(customer_id)")

    def refresh(label):
        with connect(DB) as conn:
            conn.add_notice_handler(lambda d: notices.append(d.message_primary))
            results[label] = conn.execute(
                "CALL refresh_purchase_targets('slow_customers', 'slow_targets')").fetchone()[0]

    first = threading.Thread(target=refresh, args=("first",))
    first.start()
    time.sleep(0.7)
    refresh("second")
    first.join()
    with connect(DB) as conn:
        last = conn.execute("SELECT status FROM purchase.refresh_runs WHERE target = 'slow_targets' "
                            "ORDER BY run_id").fetchall()
        count = conn.execute("SELECT count(*) FROM slow_targets").fetchone()[0]
    check("a second refresh of the same target skips with a NOTICE and is logged as skipped",
          results.get("second") == 0 and any("already running" in n for n in notices)
          and sorted(s for (s,) in last) == ["skipped", "succeeded"] and count == results.get("first") > 0,
          f"{results}, {last}, notices {notices}")


def batch_scoring_at_scale_is_parallel():
    """CREATE TABLE AS with score_purchase over 1M rows gets a parallel plan when allowed."""
    with connect(DB) as conn:
        conn.execute("CREATE TABLE big AS SELECT g AS customer_id, "
                     "(ARRAY['monday','friday','saturday'])[1 + g % 3] AS x5, '$' || (g % 5000) || '.25' AS x12, "
                     "(ARRAY['asia','japan',NULL])[1 + g % 3] AS x31, (g % 97) / 97.0 AS x44, (g % 89) / 89.0 AS x53, "
                     "sin(g) AS x56, cos(g) AS x58, sin(g * 0.3) AS x62, "
                     "(ARRAY['July','April','May'])[1 + g % 3] AS x81, (g % 101) / 101.0 AS x91 "
                     "FROM generate_series(1, 1000000) g")
        conn.execute("ANALYZE big")
        conn.execute("SET max_parallel_workers_per_gather = 2")
        # The refresh procedure's shape: scoring in a select list, run by the workers.
        ctas = ("CREATE TABLE big_targets AS SELECT customer_id, (s).p_hat, (s).model, (s).version "
                "FROM (SELECT c.customer_id, score_purchase(c) AS s FROM big c OFFSET 0) x "
                "WHERE (s).business_outcome = 1 ORDER BY (s).p_hat DESC")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + ctas).fetchall())
        conn.execute(ctas)
        made = conn.execute("SELECT count(*) FROM big_targets").fetchone()[0]
        conn.execute("SET max_parallel_workers_per_gather = 0")
        expected = conn.execute("SELECT count(*) FROM big c WHERE predict_purchase(c) > 0.75").fetchone()[0]
        check("CREATE TABLE AS scoring 1M rows plans a Gather with 2 workers (default costs), same rows as serial",
              "Gather" in plan and "Workers Planned: 2" in plan and made == expected, plan.replace("\n", " | ")[:300])
        # The LATERAL form: PostgreSQL costs function-scan rescans as free, so it needs cheaper
        # parallel tuple costs to go parallel.
        conn.execute("DROP TABLE big_targets")
        conn.execute("SET max_parallel_workers_per_gather = 2; SET parallel_tuple_cost = 0.001")
        lateral = ("CREATE TABLE big_targets AS SELECT c.customer_id, s.* FROM big c "
                   "CROSS JOIN LATERAL score_purchase(c) s WHERE s.business_outcome = 1")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + lateral).fetchall())
        conn.execute(lateral)
        made = conn.execute("SELECT count(*) FROM big_targets").fetchone()[0]
        check("the CROSS JOIN LATERAL form goes parallel too once parallel_tuple_cost allows",
              "Gather" in plan and made == expected, plan.replace("\n", " | ")[:300])
        conn.execute("RESET parallel_tuple_cost; RESET max_parallel_workers_per_gather")
        # And the refresh procedure itself, over the million rows.
        conn.execute("CALL refresh_purchase_targets('big', 'big_list')")
        listed = conn.execute("SELECT count(*) FROM big_list").fetchone()[0]
        check("refresh_purchase_targets over 1M rows lists the same customers", listed == expected)
        conn.execute("DROP TABLE big, big_targets, big_list")


def pg_cron_runs_the_job():
    with connect(DB) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        job = conn.execute("SELECT schedule_purchase_refresh('pg-purchase-nightly', '* * * * *', "
                           "'customers', 'cron_targets')").fetchone()[0]
        bad = conn.execute("SELECT schedule_purchase_refresh('pg-purchase-broken', '* * * * *', "
                           "'customers', 'cron_broken', 'no_such_model')").fetchone()[0]
        command = conn.execute("SELECT command FROM cron.job WHERE jobid = %s", (job,)).fetchone()[0]
        check("the job is registered in cron.job", "refresh_purchase_targets('customers'::regclass, 'cron_targets'" in command,
              command)
        deadline = time.time() + CRON_WAIT
        runs = {}
        while time.time() < deadline:
            runs = dict(conn.execute(
                "SELECT jobid, status FROM cron.job_run_details WHERE jobid IN (%s, %s) "
                "AND status IN ('succeeded', 'failed')", (job, bad)).fetchall())
            if len(runs) == 2:
                break
            time.sleep(2)
        message = conn.execute("SELECT return_message FROM cron.job_run_details WHERE jobid = %s "
                               "ORDER BY runid LIMIT 1", (bad,)).fetchone()
        check("pg_cron ran the refresh on its schedule and it succeeded", runs.get(job) == "succeeded", str(runs))
        logged = conn.execute("SELECT status, rows_targeted FROM purchase.refresh_runs WHERE target = 'cron_targets' "
                              "ORDER BY run_id LIMIT 1").fetchone()
        targets = conn.execute("SELECT count(*) FROM cron_targets").fetchone()[0] if conn.execute(
            "SELECT to_regclass('cron_targets') IS NOT NULL").fetchone()[0] else None
        check("it produced the target table and a run-log row", logged is not None and logged[0] == "succeeded"
              and targets == logged[1] and targets > 0, f"{logged}, {targets}")
        failed = conn.execute("SELECT status, error FROM purchase.refresh_runs WHERE target = 'cron_broken' "
                              "ORDER BY run_id LIMIT 1").fetchone()
        check("a failing job is failed in cron.job_run_details and logged with its error",
              runs.get(bad) == "failed" and failed is not None and failed[0] == "failed"
              and "no_such_model" in (message[0] if message else "") and "no_such_model" in failed[1],
              f"{runs.get(bad)}, {message}, {failed}")
        conn.execute("SELECT unschedule_purchase_refresh('pg-purchase-nightly')")
        conn.execute("SELECT unschedule_purchase_refresh('pg-purchase-broken')")
        left = conn.execute("SELECT count(*) FROM cron.job WHERE jobname LIKE 'pg-purchase-%'").fetchone()[0]
        check("unschedule_purchase_refresh removes the jobs", left == 0)


def main():
    setup()
    readers_never_see_a_partial_list()
    concurrent_refreshes_do_not_collide()
    batch_scoring_at_scale_is_parallel()
    pg_cron_runs_the_job()
    finish()


if __name__ == "__main__":
    main()
