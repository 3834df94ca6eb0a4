"""Training memory: a training that would need more memory than options.max_memory_mb (default
1024) is refused with 54000 and the estimate before the design matrix is allocated, and the
server survives (issue 18 item 2: a 25 GB ndarray::zeros used to abort the backend, and with it
every session, followed by crash recovery).

Needs PGHOST/PGPORT/PGUSER of a cluster with pg_purchase installed (scripts/test.sh).
"""

import re

import psycopg
import pytest

DB = "pg_purchase_training_limits"


@pytest.fixture(scope="module")
def limits_db(fresh_database):
    return fresh_database(DB)


@pytest.fixture
def conn(limits_db):
    with psycopg.connect(dbname=limits_db, autocommit=True) as connection:
        yield connection


def refused(conn, sql):
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql)
    return caught.value


def test_a_40_gb_training_is_refused_and_the_server_survives(conn, limits_db):
    """200,000 rows x a category of 25,000 levels: a 40 GB dense design matrix. Refused with
    54000 naming the estimate and the limit; every other session lives on."""
    conn.execute("DROP TABLE IF EXISTS wide")
    conn.execute("""CREATE TABLE wide AS
        SELECT (g % 2) AS y, sin(g) AS a, 'level_' || (g * 7919 % 25000) AS shop
          FROM generate_series(1, 200000) g""")
    with psycopg.connect(dbname=limits_db, autocommit=True) as bystander:
        bystander_pid = bystander.execute("SELECT pg_backend_pid()").fetchone()[0]
        e = refused(
            conn,
            """SELECT train_purchase_model('wide', 'y', 'wide',
                   '{"max_levels": 30000, "validation_fraction": 0, "fit_intercept": false}')""",
        )
        assert e.sqlstate == "54000", f"{e.sqlstate} {e.diag.message_primary}"
        message = e.diag.message_primary
        # 200,000 x 25,000 x 8 bytes (38,147 MB) for the design matrix, 2 x 25,000² x 8 bytes
        # (9,537 MB) for the L1 fit's Gram matrices, the rest row vectors and the rows as read.
        assert "design matrix of 200000 training rows x 25000 features is 38,147 MB" in message, message
        assert "Gram matrices 9,537 MB" in message, message
        estimate = int(re.search(r"about ([\d,]+) MB", message).group(1).replace(",", ""))
        assert 38_147 + 9_537 < estimate < 38_147 + 9_537 + 1_000, message
        assert "more than max_memory_mb = 1024" in message, message
        assert "max_memory_mb" in (e.diag.message_hint or ""), e.diag.message_hint
        # The same session and a session opened before both go on: no backend aborted, so the
        # server did not restart (a crash ends every session).
        assert conn.execute("SELECT 1").fetchone()[0] == 1
        assert bystander.execute("SELECT pg_backend_pid()").fetchone()[0] == bystander_pid
    conn.execute("DROP TABLE wide")


@pytest.fixture
def small(conn):
    """20,000 rows of 10 numeric columns: a design matrix of 1.6 MB."""
    conn.execute("DROP TABLE IF EXISTS small")
    columns = ", ".join(f"sin(g * {j + 1}.37) AS x{j}" for j in range(10))
    conn.execute(f"""CREATE TABLE small AS
        SELECT ((g * 0.618033988749895 - floor(g * 0.618033988749895)) < 1 / (1 + exp(-sin(g * 1.37))))::int AS y,
               {columns}
          FROM generate_series(1, 20000) g""")
    yield "small"
    conn.execute("DROP TABLE IF EXISTS small")


def test_max_memory_mb_refuses_and_accepts(conn, small):
    """A limit below the estimate refuses the training (54000, nothing stored); one above it
    trains."""
    before = conn.execute("SELECT count(*) FROM purchase_models()").fetchone()[0]
    e = refused(
        conn,
        """SELECT train_purchase_model('small', 'y', 'small', '{"max_memory_mb": 3, "validation_fraction": 0}')""",
    )
    assert e.sqlstate == "54000", f"{e.sqlstate} {e.diag.message_primary}"
    assert "max_memory_mb = 3" in e.diag.message_primary, e.diag.message_primary
    estimate = int(re.search(r"about ([\d,]+) MB", e.diag.message_primary).group(1).replace(",", ""))
    assert 3 < estimate < 10, e.diag.message_primary
    assert conn.execute("SELECT count(*) FROM purchase_models()").fetchone()[0] == before
    version = conn.execute(
        """SELECT train_purchase_model('small', 'y', 'small', '{"max_memory_mb": 16, "validation_fraction": 0}')"""
    ).fetchone()[0]
    assert version == 1


def test_reading_more_than_max_memory_mb_is_refused(conn, small):
    """The rows as read count too: a limit below them stops the scan (54000)."""
    e = refused(conn, """SELECT train_purchase_model('small', 'y', 'small', '{"max_memory_mb": 1}')""")
    assert e.sqlstate == "54000", f"{e.sqlstate} {e.diag.message_primary}"
    assert "max_memory_mb = 1" in e.diag.message_primary, e.diag.message_primary


@pytest.mark.parametrize("value", ["0", "-5", "1.5", '"lots"'])
def test_max_memory_mb_must_be_a_positive_integer(conn, small, value):
    e = refused(conn, f"""SELECT train_purchase_model('small', 'y', 'small', '{{"max_memory_mb": {value}}}')""")
    assert e.sqlstate == "22023", f"{e.sqlstate} {e.diag.message_primary}"
    assert '"max_memory_mb"' in e.diag.message_primary, e.diag.message_primary
