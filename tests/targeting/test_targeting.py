"""Whom to contact (issue 21 item 6): optimize_purchase_threshold against a brute force in Python
over every cut-off, budget lists, independence of storage order, and who may store a version.

The data sets are the 1000 real rows scored by the shipped model, and copies of a few of them
(heavy ties; every score equal), with outcomes drawn from a seeded generator. The brute force
tries contacting `p_hat > t` for t = 0 and every distinct p_hat (every set of rows a threshold
can pick: rows of equal p_hat go together), keeps the most profitable and, among equal profits,
the fewest contacts. Profits are compared exactly: both sides compute value * buyers - cost *
contacts in double precision.
"""

from __future__ import annotations

import json
import random

import numpy as np
import psycopg
import pytest

DB = "pg_purchase_targeting"
FIGURES = [(40.0, 9.0), (10.0, 1.0), (10.0, 4.0), (1.0, 0.0), (5.0, 6.0)]


def brute_force(p, y, value, cost):
    best = (0.0, 0, 0)  # contacting nobody
    for t in sorted({0.0, *p}):
        chosen = p > t
        contacts, reached = int(chosen.sum()), int(y[chosen].sum())
        profit = value * float(reached) - cost * float(contacts)
        if profit > best[0] or (profit == best[0] and contacts < best[1]):
            best = (profit, contacts, reached)
    return best


def columns_sql(artifact):
    return ", ".join(f"{i['column']} {'float8' if i['kind'] == 'number' else 'text'}" for i in artifact["inputs"])


def insert(conn, artifact, table, keyed_rows):
    """keyed_rows: (key, raw row, outcome) in the order they are to be stored."""
    columns = [i["column"] for i in artifact["inputs"]]
    with conn.cursor().copy(f"COPY {table} (customer_id, bought, {', '.join(columns)}) FROM STDIN") as copy:
        for key, row, bought in keyed_rows:
            copy.write_row([key, bought] + [row.get(c) for c in columns])


def create(conn, artifact, table, keyed_rows):
    conn.execute(f"CREATE TABLE {table} (customer_id int PRIMARY KEY, bought int, {columns_sql(artifact)})")
    insert(conn, artifact, table, keyed_rows)
    conn.execute(f"ANALYZE {table}")


@pytest.fixture(scope="module")
def db(fresh_database, artifact_path, real_rows):
    with open(artifact_path, encoding="utf-8") as handle:
        artifact = json.load(handle)
    fresh_database(DB)
    conn = psycopg.connect(dbname=DB, autocommit=True)
    conn.execute("SELECT load_purchase_model(%s::jsonb)", (json.dumps(artifact),))
    rng = np.random.default_rng(2106)
    create(conn, artifact, "real_rows", [(i, r, None) for i, r in enumerate(real_rows)])
    p = np.array(
        [v for (v,) in conn.execute("SELECT predict_purchase(r) FROM real_rows r ORDER BY customer_id").fetchall()]
    )
    # The real rows, outcomes drawn from a distortion of p, a NULL outcome every 37th row.
    bought = (rng.random(len(p)) < p**0.6).astype(int)
    real = [(i, r, None if i % 37 == 0 else int(b)) for i, (r, b) in enumerate(zip(real_rows, bought))]
    # Heavy ties: 1200 rows, each a copy of one of 6 real rows of different scores, keys shuffled.
    picks = [int(i) for i in np.argsort(p)[[10, 300, 600, 900, 990, 999]]]
    keys = rng.permutation(100000)[:1200]
    ties = [(int(k), real_rows[picks[j % 6]], int(rng.random() < 0.15 + 0.13 * (j % 6))) for j, k in enumerate(keys)]
    # Every score equal: 300 copies of one row, 120 buyers.
    equal_bought = rng.permutation([1] * 120 + [0] * 180)
    equal = [(k, real_rows[7], int(b)) for k, b in enumerate(equal_bought)]
    for name, rows in (("real", real), ("ties", ties), ("equal", equal)):
        create(conn, artifact, name, rows)
    yield {"conn": conn, "rows": {"real": real, "ties": ties, "equal": equal}, "artifact": artifact}
    conn.close()


def scored(conn, table):
    got = conn.execute(
        f"SELECT predict_purchase(t), bought FROM {table} t WHERE bought IS NOT NULL ORDER BY customer_id"
    ).fetchall()
    return np.array([g[0] for g in got]), np.array([g[1] for g in got])


def optimize(conn, table, value, cost):
    return conn.execute(
        "SELECT optimize_purchase_threshold(%s, 'bought', value_per_purchase => %s, cost_per_contact => %s)",
        (table, value, cost),
    ).fetchone()[0]


@pytest.mark.parametrize("table", ["real", "ties", "equal"])
@pytest.mark.parametrize(("value", "cost"), FIGURES)
def test_optimum_equals_the_brute_force(db, table, value, cost):
    conn = db["conn"]
    p, y = scored(conn, table)
    a = optimize(conn, table, value, cost)
    profit, contacts, reached = brute_force(p, y, value, cost)
    assert (a["profit"], a["contacts"], a["buyers_reached"]) == (profit, contacts, reached)
    # The threshold reported picks exactly those rows.
    chosen = p > a["threshold"]
    assert (int(chosen.sum()), int(y[chosen].sum())) == (contacts, reached)
    assert a["precision"] == (reached / contacts if contacts else None)
    assert a["break_even_p"] == cost / value
    assert (a["rows"], a["buyers"]) == (len(p), int(y.sum()))
    assert a["rows_without_outcome"] == sum(1 for _, _, b in db["rows"][table] if b is None)
    today = p > db["artifact"]["threshold"]
    assert a["profit_at_model_threshold"] == value * float(y[today].sum()) - cost * float(today.sum())
    assert a["contacts_at_model_threshold"] == int(today.sum())
    assert len(a["curve"]) == 100
    for k, point in enumerate(a["curve"]):
        t = k / 100
        c = p > t
        assert point == {
            "threshold": t,
            "contacts": int(c.sum()),
            "buyers": int(y[c].sum()),
            "profit": value * float(y[c].sum()) - cost * float(c.sum()),
        }


def test_the_cases_have_the_expected_answers(db):
    """What the brute force says on the special cases, stated: the test can fail."""
    conn = db["conn"]
    p, _ = scored(conn, "equal")
    assert len(set(p)) == 1
    # All scores equal: everyone or no one. 120 buyers of 300: 10 x 120 - 1 x 300 = 900.
    a = optimize(conn, "equal", 10, 1)
    assert (a["contacts"], a["buyers_reached"], a["profit"]) == (300, 120, 900.0)
    assert a["threshold"] == p[0] / 2
    a = optimize(conn, "equal", 10, 5)  # 1200 - 1500 < 0: nobody
    assert (a["contacts"], a["profit"]) == (0, 0.0)
    # Profit never positive (a contact costs more than a purchase earns): contact nobody.
    for table in ("real", "ties", "equal"):
        p, _ = scored(conn, table)
        a = optimize(conn, table, 5, 6)
        assert (a["contacts"], a["buyers_reached"], a["profit"], a["precision"]) == (0, 0, 0.0, None)
        assert a["threshold"] >= p.max()
    # Heavy ties: the optimum contacts whole groups of equal score.
    p, _ = scored(conn, "ties")
    a = optimize(conn, "ties", 10, 4)
    assert len(set(p)) == 6 and a["contacts"] in {int((p >= s).sum()) for s in set(p)} | {0}
    # Free contacts: every contact down to the lowest-scored buyer pays; below it a contact adds
    # nothing, and among equal profits the fewer contacts win.
    p, y = scored(conn, "real")
    assert optimize(conn, "real", 1, 0)["contacts"] == int((p >= p[y == 1].min()).sum()) < len(p)


def sqlstate(conn, sql, args=()):
    try:
        conn.execute(sql, args)
    except psycopg.Error as e:
        return e.sqlstate, str(e), e.diag.message_hint
    return None


@pytest.mark.parametrize("filling", ["1", "0", "NULL"])
def test_one_class_or_no_labelled_row_is_refused(db, filling):
    conn = db["conn"]
    conn.execute("DROP TABLE IF EXISTS degenerate")
    conn.execute("CREATE TABLE degenerate AS SELECT * FROM real WHERE customer_id < 200")
    conn.execute(f"UPDATE degenerate SET bought = {filling}")
    call = "SELECT optimize_purchase_threshold('degenerate', 'bought', value_per_purchase => 10, cost_per_contact => 1)"
    state, message, _ = sqlstate(conn, call)
    assert state == "22023"
    expected = {
        "1": "has one class only (200 of 200 rows bought)",
        "0": "has one class only (0 of 200 rows bought)",
        "NULL": "has no row with a known outcome",
    }[filling]
    assert expected in message
    conn.execute("TRUNCATE degenerate")  # no row at all
    state, message, _ = sqlstate(conn, call)
    assert state == "22023" and "has no row with a known outcome" in message


def test_storage_order_does_not_change_the_answer_or_the_budget_list(db):
    conn, artifact = db["conn"], db["artifact"]
    rows = list(db["rows"]["ties"])
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    create(conn, artifact, "ties_shuffled", shuffled)
    create(conn, artifact, "ties_moved", sorted(rows, key=lambda r: -r[0]))
    # Physically reordered, then rows moved by updates (new tuple versions at the end).
    conn.execute("CREATE INDEX ties_moved_bought ON ties_moved (bought, customer_id DESC)")
    conn.execute("CLUSTER ties_moved USING ties_moved_bought")
    conn.execute("UPDATE ties_moved SET bought = bought WHERE customer_id % 3 = 0")
    orders = conn.execute(
        "SELECT (SELECT array_agg(customer_id) FROM (SELECT customer_id FROM ties LIMIT 50) a) "
        "<> (SELECT array_agg(customer_id) FROM (SELECT customer_id FROM ties_moved LIMIT 50) b)"
    ).fetchone()[0]
    assert orders  # the heap order really differs
    for value, cost in FIGURES:
        answers = [optimize(conn, t, value, cost) for t in ("ties", "ties_shuffled", "ties_moved")]
        assert answers[0] == answers[1] == answers[2]
    # Budget lists: the N highest p_hat, ties at the cut broken by key ascending.
    p = dict(conn.execute("SELECT customer_id, predict_purchase(t) FROM ties t").fetchall())
    ranked = sorted(p, key=lambda k: (-p[k], k))
    top = p[ranked[0]]
    in_top = sum(1 for k in p if p[k] == top)
    for budget in (in_top - 7, in_top + 13, 555):  # cuts inside the first and a later tie
        assert p[ranked[budget - 1]] == p[ranked[budget]]  # the cut falls inside a tie
        expected = [(k, p[k]) for k in ranked[:budget]]
        for table in ("ties", "ties_shuffled", "ties_moved"):
            conn.execute(
                f"CALL refresh_purchase_targets('{table}', 'list_{table}', threshold => 0, budget => %s)", (budget,)
            )
            got = conn.execute(
                f"SELECT customer_id, p_hat FROM list_{table} ORDER BY p_hat DESC, customer_id"
            ).fetchall()
            assert got == expected, table


def test_only_purchase_admin_stores_a_version(db):
    conn = db["conn"]
    for role in ("targeting_plain", "targeting_admin"):
        conn.execute(f"DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        conn.execute(f"GRANT SELECT ON real TO {role}")
    conn.execute("GRANT purchase_admin TO targeting_admin")
    versions = conn.execute("SELECT count(*) FROM purchase_models()").fetchone()[0]
    conn.execute("SET ROLE targeting_plain")
    try:
        for sql in (
            "SELECT set_purchase_threshold('default', 0.5)",
            "SELECT calibrate_purchase_model('real', 'bought')",
            "SELECT calibrate_purchase_model('real', 'bought', method => 'isotonic', activate => true)",
        ):
            state, message, hint = sqlstate(conn, sql)
            assert state == "42501", sql
            assert "permission denied for function" in message
            assert "GRANT purchase_admin TO targeting_plain" in hint
        # Anyone may search.
        assert optimize(conn, "real", 40, 9)["rows"] > 0
    finally:
        conn.execute("RESET ROLE")
    assert conn.execute("SELECT count(*) FROM purchase_models()").fetchone()[0] == versions  # nothing stored
    conn.execute("SET ROLE targeting_admin")
    try:
        threshold_version = conn.execute(
            "SELECT set_purchase_threshold('default', 0.31, activate => false)"
        ).fetchone()[0]
        calibrated_version = conn.execute("SELECT calibrate_purchase_model('real', 'bought')").fetchone()[0]
    finally:
        conn.execute("RESET ROLE")
    got = {
        v: rest
        for v, *rest in conn.execute(
            "SELECT version, threshold, active, loaded_by::text FROM purchase_models() WHERE name = 'default'"
        ).fetchall()
    }
    assert got[threshold_version] == [0.31, False, "targeting_admin"]
    assert calibrated_version == threshold_version + 1
    assert got[calibrated_version] == [0.75, False, "targeting_admin"]
