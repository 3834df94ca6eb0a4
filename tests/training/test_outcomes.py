"""One outcome rule for training and evaluate_purchase_model (issue 18 item 10): booleans,
integers 0/1 and numerics equal to 0 or 1 (1.0, 0.00) are outcomes on both; anything else is
the same 22023 error on both, naming the column, the value and the row.

Needs PGHOST/PGPORT/PGUSER of a cluster with pg_purchase installed (scripts/test.sh).
"""

import psycopg
import pytest

DB = "pg_purchase_training_outcomes"


@pytest.fixture(scope="module")
def outcomes_db(fresh_database):
    return fresh_database(DB)


@pytest.fixture
def conn(outcomes_db):
    with psycopg.connect(dbname=outcomes_db, autocommit=True) as connection:
        yield connection


@pytest.fixture
def table(conn):
    """2,000 rows whose outcome is numeric 1.0 / 0.00 (numeric text forms "1.0" and "0.00")."""
    conn.execute("DROP TABLE IF EXISTS outcomes")
    conn.execute("""CREATE TABLE outcomes AS
        SELECT g AS id,
               CASE WHEN (g * 0.618033988749895 - floor(g * 0.618033988749895)) < 1 / (1 + exp(-2 * sin(g * 1.37)))
                    THEN 1.0 ELSE 0.00 END::numeric AS y,
               sin(g * 1.37) AS a, cos(g * 0.91) AS b
          FROM generate_series(1, 2000) g""")
    yield "outcomes"
    conn.execute("DROP TABLE IF EXISTS outcomes")


TRAIN = """SELECT train_purchase_model('outcomes', 'y', 'outcomes', '{"exclude": ["id"], "activate": true}')"""
EVALUATE = "SELECT evaluate_purchase_model('outcomes', 'y', 'outcomes')"
EVALUATE_KEYED = "SELECT evaluate_purchase_model('outcomes', 'y', 'outcomes', key_column => 'id')"


def test_numeric_one_and_zero_are_outcomes_on_both(conn, table):
    assert conn.execute(TRAIN).fetchone()[0] >= 1
    answer = conn.execute(EVALUATE).fetchone()[0]
    expected = conn.execute("SELECT count(*), count(*) FILTER (WHERE y = 1) FROM outcomes").fetchone()
    assert (answer["rows"], answer["positives"]) == expected
    # As boolean and integer outcomes give the same figures.
    conn.execute("ALTER TABLE outcomes ALTER COLUMN y TYPE boolean USING y = 1")
    assert conn.execute(EVALUATE).fetchone()[0]["auc"] == answer["auc"]
    conn.execute("ALTER TABLE outcomes ALTER COLUMN y TYPE int USING y::int")
    assert conn.execute(EVALUATE).fetchone()[0]["auc"] == answer["auc"]


def error_of(conn, sql):
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql)
    e = caught.value
    return e.sqlstate, e.diag.message_primary, e.diag.message_hint


@pytest.mark.parametrize("value", ["2", "0.5", "-1", "1.0000000000000000000001"])
def test_other_values_are_refused_the_same_way_on_both(conn, table, value):
    conn.execute(TRAIN)  # a model to evaluate with
    conn.execute(f"UPDATE outcomes SET y = {value} WHERE id = 7")
    trained = error_of(conn, TRAIN)
    evaluated = error_of(conn, EVALUATE_KEYED)
    assert trained[0] == "22023", trained
    assert '"y"' in trained[1] and value in trained[1], trained
    assert trained[2], "a hint"
    # The same rule and message; evaluate names the row by its key and adds how to skip it.
    assert evaluated[0] == trained[0]
    assert evaluated[1] == f"row id = 7: {trained[1]}", evaluated
    assert evaluated[2].startswith(trained[2]) and "on_bad_row => 'skip'" in evaluated[2], evaluated
