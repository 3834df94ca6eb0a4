#!/usr/bin/env python3
"""Parity: every scoring path of pg_purchase against scikit-learn's predict_proba.

Loads the 1000 real raw rows of ../shared/data into a table, scores them in the database through
each path, and compares with scikit-learn on the same rows through the same sklearn objects the
bundled artifact was exported from: max |dp| <= 1e-9 and identical business_outcome, every row.
Also: the 9 spreadsheet-resaved rows (BOM, text everywhere) and 10,000 synthetic rows.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed; creates its own database.
"""
import csv
import json
import os
import sys

import numpy as np
import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "python"))
from purchase_pipeline import build_reference_pipeline  # noqa: E402
from pg_purchase.cleaning import clean_number as python_clean_number  # noqa: E402
from synthetic_customers import synthetic_rows  # noqa: E402

DATA = os.environ.get("SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
ARTIFACT = os.path.join(ROOT, "artifacts", "purchase_model.json")
TOLERANCE = 1e-9
THRESHOLD = 0.75
FAILURES = []


def check(label, got_p, got_outcome, expected):
    got_p = np.asarray(got_p, dtype=float)
    got_outcome = np.asarray(got_outcome, dtype=int)
    expected = np.asarray(expected, dtype=float)
    assert len(got_p) == len(expected), f"{label}: {len(got_p)} scores for {len(expected)} rows"
    delta = np.abs(got_p - expected)
    worst = int(np.argmax(delta)) if len(delta) else 0
    outcome_diff = int(np.sum(got_outcome != (expected > THRESHOLD).astype(int)))
    ok = len(delta) > 0 and delta.max() <= TOLERANCE and outcome_diff == 0
    print(f"{'ok  ' if ok else 'FAIL'} {label:<58} rows={len(expected):>6}  max|dp|={delta.max():.3e} "
          f"(row {worst})  outcome mismatches={outcome_diff}")
    if not ok:
        FAILURES.append(label)


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


def score_table(cur, name, label, expected):
    """Every SQL scoring path over one table, each compared with scikit-learn."""
    paths = {
        "predict_purchase(c) [planner rewrite to columns]":
            f"SELECT predict_purchase(c), purchase_outcome(c) FROM {name} c ORDER BY row_no",
        "predict_purchase(c) [generic row path, subquery record]":
            f"SELECT predict_purchase(c), purchase_outcome(c) FROM (SELECT * FROM {name} OFFSET 0) c ORDER BY row_no",
        "predict_purchase(ROW(...)::type) via jsonb_populate_record":
            f"SELECT predict_purchase(r), purchase_outcome(r) FROM {name} c, "
            f"LATERAL jsonb_populate_record(NULL::{name}, to_jsonb(c)) r ORDER BY c.row_no",
        "score_purchase via CREATE TABLE AS":
            f"CREATE TEMP TABLE scored_{name} AS SELECT c.row_no, s.* FROM {name} c "
            f"CROSS JOIN LATERAL score_purchase(c) s; "
            f"SELECT p_hat, business_outcome FROM scored_{name} ORDER BY row_no",
    }
    for path, sql in paths.items():
        *setup, query = [s for s in sql.split("; ") if s]
        for s in setup:
            cur.execute(s)
        cur.execute(query)
        got = cur.fetchall()
        check(f"{label}: {path}", [g[0] for g in got], [g[1] for g in got], expected)
    # Parallel workers (forced), same answers.
    cur.execute("SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; "
                "SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0")
    cur.execute(f"EXPLAIN SELECT row_no, predict_purchase(c), purchase_outcome(c) FROM {name} c")
    plan = " ".join(r[0] for r in cur.fetchall())
    assert "Gather" in plan, plan
    cur.execute(f"SELECT row_no, predict_purchase(c), purchase_outcome(c) FROM {name} c")
    got = sorted(cur.fetchall())
    cur.execute("RESET max_parallel_workers_per_gather")
    check(f"{label}: predict_purchase(c) with 2 parallel workers", [g[1] for g in got], [g[2] for g in got], expected)


def score_json(cur, rows, label, expected):
    cur.execute("SELECT predict_purchase_json(%s::jsonb)", (json.dumps(rows),))
    answers = cur.fetchone()[0]
    check(f"{label}: predict_purchase_json", [a["p_hat"] for a in answers],
          [a["business_outcome"] for a in answers], expected)
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
]


def fuzz_texts(count, seed=26):
    """Random short strings over the rule's alphabet: most are refused, some accepted."""
    rng = np.random.default_rng(seed)
    alphabet = list("0123456789$,.%()-+e ") + ["00", "1,000", "$1"]
    return ["".join(rng.choice(alphabet, size=rng.integers(1, 9))) for _ in range(count)]


def cleaning_rule(cur):
    """The database's clean_number and the Python rule agree on every text: same double, or both refuse."""
    texts = CLEANING_TABLE + fuzz_texts(20000)
    cur.execute("""CREATE FUNCTION pg_temp.try_clean(t text) RETURNS text LANGUAGE plpgsql AS $$
                   BEGIN RETURN coalesce(float8send(clean_number(t))::text, 'missing');
                   EXCEPTION WHEN invalid_text_representation THEN RETURN 'refused'; END $$""")
    cur.execute("SELECT t, pg_temp.try_clean(t) FROM unnest(%s::text[]) WITH ORDINALITY u(t, n) ORDER BY n",
                (texts,))
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
    ok = not mismatches and accepted > 100
    print(f"{'ok  ' if ok else 'FAIL'} cleaning rule: database and Python agree on {len(texts)} texts "
          f"({accepted} accepted){'' if ok else ': ' + repr(mismatches[:5])}")
    if not ok:
        FAILURES.append("cleaning rule")


def fresh_database(dbname, artifact):
    """A new database with pg_purchase installed and `artifact` loaded as 'default'; its connection."""
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {dbname}")
        admin.execute(f"CREATE DATABASE {dbname}")
    conn = psycopg.connect(dbname=dbname, autocommit=True)
    conn.execute("CREATE EXTENSION pg_purchase")
    conn.execute("SELECT load_purchase_model(%s::jsonb)", (json.dumps(artifact),))
    return conn


def main():
    with open(ARTIFACT, encoding="utf-8") as handle:
        artifact = json.load(handle)
    pipe = build_reference_pipeline(DATA)
    dbname = "pg_purchase_parity"
    with fresh_database(dbname, artifact) as conn, conn.cursor() as cur:
        cleaning_rule(cur)

        # 1. The 1000 real rows, exactly as the service received them.
        with open(os.path.join(DATA, "exercise_26_test_first1000rows_raw.json"), encoding="utf-8") as handle:
            real = json.load(handle)
        expected = pipe.predict_proba(real)
        cur.execute(table_sql(artifact, "real_rows"))
        insert_rows(cur, artifact, "real_rows", real)
        score_table(cur, "real_rows", "1000 real rows", expected)
        score_json(cur, real, "1000 real rows", expected)

        # 2. Nine rows re-saved by a spreadsheet: BOM, every value text, money as "($5,483.24)".
        with open(os.path.join(DATA, "exercise_26_test_first9rows_excel_resaved.csv"), encoding="utf-8-sig",
                  newline="") as handle:
            excel = [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(handle)]
        expected = pipe.predict_proba(excel)
        cur.execute(table_sql(artifact, "excel_rows", all_text=True))
        insert_rows(cur, artifact, "excel_rows", excel)
        score_table(cur, "excel_rows", "9 spreadsheet rows (all text)", expected)
        score_json(cur, excel, "9 spreadsheet rows (all text)", expected)

        # 3. 10,000 synthetic rows: unseen categories, '' as missing, numbers as strings.
        synth = synthetic_rows(artifact, 10000, seed=2026)
        expected = pipe.predict_proba(synth)
        cur.execute(table_sql(artifact, "synthetic_rows", all_text=True))
        insert_rows(cur, artifact, "synthetic_rows", [{k: (None if v is None else str(v)) for k, v in r.items()}
                                                      for r in synth])
        score_table(cur, "synthetic_rows", "10,000 synthetic rows", expected)
        score_json(cur, synth, "10,000 synthetic rows", expected)
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {dbname}")
    if FAILURES:
        print(f"parity FAILED on {len(FAILURES)} path(s)")
        sys.exit(1)
    print("parity: every path agrees with scikit-learn within 1e-9, identical business_outcome")


if __name__ == "__main__":
    main()
