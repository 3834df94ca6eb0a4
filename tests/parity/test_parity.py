"""Parity: every scoring path of pg_purchase against scikit-learn's predict_proba.

Loads the 1000 real raw rows of ../shared/data into a table, scores them in the database through
each path, and compares with scikit-learn on the same rows through the same sklearn objects the
bundled artifact was exported from: max |dp| <= 1e-9 and identical business_outcome, every row.
Also: the 9 spreadsheet-resaved rows (BOM, text everywhere) and 10,000 synthetic rows.
One test per data set and scoring path.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed; creates its own database.
"""

import json

import numpy as np
import psycopg
import pytest
from pg_purchase.cleaning import clean_number as python_clean_number
from synthetic_customers import synthetic_rows

TOLERANCE = 1e-9
THRESHOLD = 0.75
DB = "pg_purchase_parity"


def assert_scores(got_p, got_outcome, expected):
    """p_hat within 1e-9 of scikit-learn on every row, and the same business_outcome."""
    got_p = np.asarray(got_p, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert len(expected) > 0
    assert len(got_p) == len(expected), f"{len(got_p)} scores for {len(expected)} rows"
    np.testing.assert_allclose(got_p, expected, rtol=0, atol=TOLERANCE, equal_nan=False)
    np.testing.assert_array_equal(np.asarray(got_outcome, dtype=int), (expected > THRESHOLD).astype(int))


def table_sql(artifact, name, all_text=False):
    cols = ["row_no int PRIMARY KEY"]
    for spec in artifact["inputs"]:
        text = all_text or spec["kind"] != "number"
        cols.append(f"{spec['column']} {'text' if text else 'float8'}")
    return f"CREATE TABLE {name} ({', '.join(cols)})"


def insert_rows(cur, artifact, name, rows):
    columns = [s["column"] for s in artifact["inputs"]]
    with cur.copy(f"COPY {name} (row_no, {', '.join(columns)}) FROM STDIN") as copy:
        for i, row in enumerate(rows):
            copy.write_row([i] + [row.get(c) for c in columns])


def load_database(dbname, artifact):
    """Loads `artifact` as 'default' into the (fresh) database dbname."""
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        conn.execute("SELECT load_purchase_model(%s::jsonb)", (json.dumps(artifact),))


DATASETS = ["real", "excel", "synthetic"]


@pytest.fixture(scope="module")
def parity_db(fresh_database, artifact_path, real_rows, excel_rows, reference_pipeline):
    """The database with the bundled model and one table per data set; scikit-learn's answers."""
    with open(artifact_path, encoding="utf-8") as handle:
        artifact = json.load(handle)
    fresh_database(DB)
    load_database(DB, artifact)
    synth = synthetic_rows(artifact, 10000, seed=2026)
    sets = {
        # The 1000 real rows, exactly as the service received them.
        "real": ("real_rows", real_rows, real_rows, False),
        # Nine rows re-saved by a spreadsheet: BOM, every value text, money as "($5,483.24)".
        "excel": ("excel_rows", excel_rows, excel_rows, True),
        # 10,000 synthetic rows: unseen categories, '' as missing, numbers as strings.
        "synthetic": (
            "synthetic_rows",
            synth,
            [{k: (None if v is None else str(v)) for k, v in r.items()} for r in synth],
            True,
        ),
    }
    data = {}
    with psycopg.connect(dbname=DB, autocommit=True) as conn, conn.cursor() as cur:
        for key, (table, rows, stored, all_text) in sets.items():
            cur.execute(table_sql(artifact, table, all_text=all_text))
            insert_rows(cur, artifact, table, stored)
            data[key] = {"table": table, "rows": rows, "expected": reference_pipeline.predict_proba(rows)}
    return data


@pytest.fixture
def cur(parity_db):
    with psycopg.connect(dbname=DB, autocommit=True) as conn, conn.cursor() as cursor:
        yield cursor


# Every SQL scoring path over one table ({t}): setup statements, then the query of (p_hat, outcome).
PATHS = {
    "planner_rewrite": [
        # predict_purchase(c) [planner rewrite to columns]
        "SELECT predict_purchase(c), purchase_outcome(c) FROM {t} c ORDER BY row_no",
    ],
    "generic_row_path": [
        # predict_purchase(r) [generic row path: a record the planner cannot see into]
        "SELECT predict_purchase((ARRAY[c])[1]), purchase_outcome((ARRAY[c])[1]) FROM {t} c ORDER BY row_no",
    ],
    "subquery_record": [
        # predict_purchase(s) [planner rewrite of a subquery's record to its columns]
        "SELECT predict_purchase(c), purchase_outcome(c) FROM (SELECT * FROM {t} OFFSET 0) c ORDER BY row_no",
    ],
    "flattened_subquery_row": [
        # predict_purchase(ROW(...)) of a flattened subquery [planner rewrite]
        "SELECT predict_purchase(c), purchase_outcome(c) FROM (SELECT * FROM {t}) c ORDER BY row_no",
    ],
    "materialized_cte_row": [
        # predict_purchase(s) of a CTE scan [planner rewrite]
        "WITH c AS MATERIALIZED (SELECT * FROM {t}) "
        "SELECT predict_purchase(c), purchase_outcome(c) FROM c ORDER BY row_no",
    ],
    "union_branch_row": [
        # predict_purchase(u) of a UNION ALL [planner rewrite, per branch]
        "SELECT predict_purchase(c), purchase_outcome(c) FROM (SELECT * FROM {t} WHERE row_no % 2 = 0 "
        "UNION ALL SELECT * FROM {t} WHERE row_no % 2 = 1) c ORDER BY row_no",
    ],
    "select_list_ctas": [
        # score_purchase in a select list, CREATE TABLE AS (the batch form README shows first)
        "CREATE TEMP TABLE listed_{t} AS SELECT row_no, (s).p_hat, (s).business_outcome "
        "FROM (SELECT c.row_no, score_purchase(c) AS s FROM {t} c OFFSET 0) x",
        "SELECT p_hat, business_outcome FROM listed_{t} ORDER BY row_no",
    ],
    "jsonb_populate_record": [
        # predict_purchase(ROW(...)::type) via jsonb_populate_record
        "SELECT predict_purchase(r), purchase_outcome(r) FROM {t} c, "
        "LATERAL jsonb_populate_record(NULL::{t}, to_jsonb(c)) r ORDER BY c.row_no",
    ],
    "score_purchase_ctas": [
        # score_purchase via CREATE TABLE AS
        "CREATE TEMP TABLE scored_{t} AS SELECT c.row_no, s.* FROM {t} c CROSS JOIN LATERAL score_purchase(c) s",
        "SELECT p_hat, business_outcome FROM scored_{t} ORDER BY row_no",
    ],
}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("dataset", DATASETS)
def test_table_path(cur, parity_db, dataset, path):
    data = parity_db[dataset]
    *setup, query = [s.format(t=data["table"]) for s in PATHS[path]]
    for statement in setup:
        cur.execute(statement)
    cur.execute(query)
    got = cur.fetchall()
    assert_scores([g[0] for g in got], [g[1] for g in got], data["expected"])


@pytest.mark.parametrize("dataset", DATASETS)
def test_parallel_workers(cur, parity_db, dataset):
    """predict_purchase(c) with 2 parallel workers (forced): same answers."""
    table = parity_db[dataset]["table"]
    cur.execute(
        "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; "
        "SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0"
    )
    cur.execute(f"EXPLAIN SELECT row_no, predict_purchase(c), purchase_outcome(c) FROM {table} c")
    plan = " ".join(r[0] for r in cur.fetchall())
    assert "Gather" in plan, plan
    cur.execute(f"SELECT row_no, predict_purchase(c), purchase_outcome(c) FROM {table} c")
    got = sorted(cur.fetchall())
    assert_scores([g[1] for g in got], [g[2] for g in got], parity_db[dataset]["expected"])


@pytest.mark.parametrize("dataset", DATASETS)
def test_predict_purchase_json(cur, parity_db, dataset):
    data = parity_db[dataset]
    cur.execute("SELECT predict_purchase_json(%s::jsonb)", (json.dumps(data["rows"]),))
    answers = cur.fetchone()[0]
    assert_scores([a["p_hat"] for a in answers], [a["business_outcome"] for a in answers], data["expected"])
    assert all(len(a) == 27 for a in answers)


# The cleaning rule's table (README, "Cleaning rule"): accepted forms and hostile text that an
# older rule misread. Both implementations must agree on every one, value for value.
CLEANING_TABLE = [
    "$6,882.34", "($5,032.58)", "$-5,032.58", "-$5,032.58", "+$5", "36.29%", "(5%)", "-3.5e-2", "14.757",
    "1e-400", "5.", ".5", "$.5", "$1,234,567.89", " 7 ", "\t7\n", "", "   ", "0", "-0", "(0)",
    "1.234,56", "1 234,56", "1,2,3", "5 5", "$$5", "(+5)", "(-5)", "(1,2)", "1234,567", ",123", "1,23",
    "$5%", "5%%", "1,234.5e3", "+-5", "-$-5", "$ 5", "NaN", "nan", "inf", "-Infinity", "1e999", "-1e309",
    "1_000", "0x10", "\u00a05", "5\u00a0000", "\u0663", "(5", "5)", "()", "-(5)", "1e", "e5", ".", "-", "$",
    "1.7976931348623157e308", "123456789012345678901234567890", "0.000000000000000000000000123",
]  # fmt: skip


def fuzz_texts(count, seed=26):
    """Random short strings over the rule's alphabet: most are refused, some accepted."""
    rng = np.random.default_rng(seed)
    alphabet = list("0123456789$,.%()-+e ") + ["00", "1,000", "$1"]
    return ["".join(rng.choice(alphabet, size=rng.integers(1, 9))) for _ in range(count)]


def test_cleaning_rule(cur):
    """The database's clean_number and the Python rule agree on every text: same double, or both refuse."""
    texts = CLEANING_TABLE + fuzz_texts(20000)
    cur.execute("""CREATE FUNCTION pg_temp.try_clean(t text) RETURNS text LANGUAGE plpgsql AS $$
                   BEGIN RETURN coalesce(float8send(clean_number(t))::text, 'missing');
                   EXCEPTION WHEN invalid_text_representation THEN RETURN 'refused'; END $$""")
    cur.execute("SELECT t, pg_temp.try_clean(t) FROM unnest(%s::text[]) WITH ORDINALITY u(t, n) ORDER BY n", (texts,))
    database = cur.fetchall()
    mismatches, accepted = [], 0
    for text, got in database:
        try:
            v = python_clean_number(text)
            want = "missing" if v is None else "\\x" + np.float64(v).byteswap().tobytes().hex()
        except ValueError:
            want = "refused"
        accepted += want not in ("refused", "missing")
        if got != want:
            mismatches.append((text, got, want))
    assert len(database) == len(texts)
    assert not mismatches, f"{len(mismatches)} texts differ (text, database, python): {mismatches[:5]!r}"
    assert accepted > 100, f"only {accepted} of {len(texts)} texts accepted"
