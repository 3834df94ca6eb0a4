"""Concurrency: pgbench, 8 clients scoring single rows for 30 s (prepared statements) while
another session loads and activates a new version every 200 ms. Zero errors, and every score
observed equals the score of one of the two alternating models.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed (scripts/test.sh) and pgbench in PG_BIN."""

import os
import subprocess
import tempfile
import threading
import time

from common import PG_BIN, bundled, connect, load, make_customers, variant

DB = "pg_purchase_concurrency"
SECONDS = int(os.environ.get("CONCURRENCY_SECONDS", "30"))


def test_pgbench_while_versions_swap(fresh_database, check):
    fresh_database(DB)
    model_a, model_b = bundled(), variant(1.25)
    with connect(DB) as conn:
        make_customers(conn, rows=1000)
        load(conn, model_a, name="a")
        load(conn, model_b, name="b")
        load(conn, model_a)
        expected = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                "SELECT customer_id, predict_purchase(c, 'a'), predict_purchase(c, 'b') FROM customers c"
            )
        }
        # The harness records what each scoring returned; scoring itself writes nothing.
        conn.execute("CREATE UNLOGGED TABLE observed (customer_id bigint, p_hat float8)")
    script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    script.write(
        "\\set id random(1, 1000)\n"
        "INSERT INTO observed SELECT customer_id, predict_purchase(c) FROM customers c "
        "WHERE customer_id = :id;\n"
    )
    script.close()
    os.chmod(script.name, 0o644)
    stop = threading.Event()
    loads = []

    def swapper():
        with connect(DB) as conn:
            turn = 0
            while not stop.is_set():
                turn += 1
                loads.append(load(conn, model_b if turn % 2 else model_a))
                time.sleep(0.2)

    thread = threading.Thread(target=swapper)
    thread.start()
    bench = subprocess.run(
        [f"{PG_BIN}/pgbench", "-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", str(SECONDS), "-f", script.name, DB],
        capture_output=True,
        text=True,
    )
    stop.set()
    thread.join()
    os.unlink(script.name)
    tx = [line for line in bench.stdout.splitlines() if "number of transactions actually processed" in line]
    failed = [line for line in bench.stdout.splitlines() if "failed" in line]
    check(
        "pgbench: 8 clients ran to the end with zero errors",
        bench.returncode == 0 and not bench.stderr.strip(),
        (tx[0] if tx else bench.stderr.strip()[:300]) + (" " + failed[0] if failed else ""),
    )
    with connect(DB) as conn:
        rows = conn.execute("SELECT customer_id, p_hat FROM observed").fetchall()
    wrong = [(i, p) for i, p in rows if p not in expected[i]]
    from_a = sum(1 for i, p in rows if p == expected[i][0])
    check(
        f"all {len(rows)} scores equal one of the two versions' ({len(loads)} versions loaded meanwhile)",
        len(rows) > 1000 and not wrong and 0 < from_a < len(rows),
        f"{len(wrong)} wrong, {from_a} from a",
    )
