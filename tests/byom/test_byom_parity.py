"""Bring your own model, end to end: four scikit-learn pipelines of a problem that is not the
exercise's (tests/byom/leads.py), exported with the pg_purchase package, loaded, and scored on
5,000 rows through every path, each compared with predict_proba within 1e-9.

Needs PGHOST/PGPORT of a cluster with pg_purchase installed and the package installed as README
says (pip install ./python); creates its own database.
"""

from __future__ import annotations

import json
import math
import os
import tempfile

import leads
import numpy as np
import pg_purchase
import psycopg
import pytest

TOLERANCE = 1e-9
DB = "byom_parity"
N_TRAIN, N_SCORE = 8000, 5000
COLUMNS = list(leads.SQL_TYPES)


def expected_p(pipe, raw):
    cols = [str(c) for c in pipe.feature_names_in_]
    frame = pg_purchase.prepare_frame(
        raw, cols, [c for c in leads.NUMERIC if c in cols], [c for c in leads.CATEGORIES if c in cols]
    )
    return pipe.predict_proba(frame)[:, 1]


def server_file(doc_text):
    """A file the server (running as postgres) can read."""
    folder = tempfile.mkdtemp(prefix="byom-artifacts-", dir="/tmp")
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "model.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(doc_text)
    os.chmod(path, 0o644)
    return path


@pytest.fixture(scope="module")
def world():
    train, y = leads.raw_leads(N_TRAIN, 11)
    score, _ = leads.raw_leads(N_SCORE, 12)
    pipes = leads.fitted_pipelines(train, y)
    docs = {}
    for name, pipe in pipes.items():
        sample = train.head(400).drop(columns=["channel"]) if name == "leads_p2" else train.head(400)
        docs[name] = pg_purchase.export_pipeline(pipe, sample, money=leads.MONEY, percent=leads.PERCENT, name=name)
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    conn = psycopg.connect(dbname=DB, autocommit=True)
    conn.execute("CREATE EXTENSION pg_purchase")
    conn.execute(f"CREATE TABLE leads ({', '.join(f'{c} {t}' for c, t in leads.SQL_TYPES.items())})")
    with conn.cursor().copy(f"COPY leads ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in score[COLUMNS].itertuples(index=False):
            copy.write_row([None if (isinstance(v, float) and math.isnan(v)) else v for v in row])
    conn.execute("ANALYZE leads")
    # One load path per model: jsonb for three, a server file for leads_p2.
    for name, doc in docs.items():
        if name == "leads_p2":
            conn.execute("SELECT load_purchase_model_file(%s, %s)", (server_file(json.dumps(doc)), name))
        else:
            conn.execute("SELECT load_purchase_model(%s::jsonb, %s)", (json.dumps(doc), name))
    yield {
        "conn": conn,
        "pipes": pipes,
        "docs": docs,
        "score": score,
        "expected": {n: expected_p(p, score) for n, p in pipes.items()},
    }
    conn.close()


def assert_parity(label, got, expected):
    got = np.asarray(got, dtype=float)
    assert len(got) == len(expected) == N_SCORE, label
    delta = float(np.max(np.abs(got - expected)))
    if delta > TOLERANCE and os.environ.get("BYOM_DEBUG"):
        bad = np.nonzero(np.abs(got - expected) > TOLERANCE)[0]
        print(label, "bad rows", bad[:20], len(bad))
    print(f"{label:<48} rows={len(got)} max|dp|={delta:.3e}")
    assert delta <= TOLERANCE, f"{label}: max |dp| {delta}"


PATHS = {
    "table rows": "SELECT predict_purchase(l, %s) FROM leads l ORDER BY lead_id",
    "generic records": "SELECT predict_purchase(s, %s) FROM (SELECT * FROM leads OFFSET 0) s ORDER BY lead_id",
    "score_purchase": "SELECT (score_purchase(l, %s)).p_hat FROM leads l ORDER BY lead_id",
}


@pytest.mark.parametrize("model", ["leads_p1", "leads_p2", "leads_p3", "leads_p4"])
@pytest.mark.parametrize("path", list(PATHS))
def test_every_path_agrees_with_predict_proba(world, model, path):
    rows = world["conn"].execute(PATHS[path], (model,)).fetchall()
    assert_parity(f"{model} {path}", [r[0] for r in rows], world["expected"][model])


@pytest.mark.parametrize("model", ["leads_p1", "leads_p2", "leads_p3", "leads_p4"])
def test_predict_purchase_json(world, model):
    # Each object carries exactly the pipeline's raw columns (strict keys: not the table's
    # lead_id); integer category codes travel as JSON numbers, compared by their text form.
    columns = world["docs"][model]["raw_columns"]
    (answer,) = (
        world["conn"]
        .execute(
            "SELECT predict_purchase_json(jsonb_agg((SELECT jsonb_object_agg(e.key, e.value)"
            "   FROM jsonb_each(to_jsonb(l)) e WHERE e.key = ANY(%s)) ORDER BY lead_id), %s) FROM leads l",
            (columns, model),
        )
        .fetchone()
    )
    assert_parity(f"{model} predict_purchase_json", [a["p_hat"] for a in answer], world["expected"][model])


def test_parallel_workers_and_four_models_in_one_statement(world):
    conn = world["conn"]
    with conn.transaction():
        for setting in [
            "force_parallel_mode = on",
            "max_parallel_workers_per_gather = 2",
            "parallel_setup_cost = 0",
            "parallel_tuple_cost = 0",
            "min_parallel_table_scan_size = 0",
        ]:
            conn.execute(f"SET LOCAL {setting}")
        sql = (
            "SELECT lead_id, predict_purchase(l, 'leads_p1'), predict_purchase(l, 'leads_p2'), "
            "predict_purchase(l, 'leads_p3'), predict_purchase(l, 'leads_p4') FROM leads l"
        )
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql).fetchall())
        assert "Gather" in plan, plan
        rows = sorted(conn.execute(sql).fetchall())
    for k, model in enumerate(["leads_p1", "leads_p2", "leads_p3", "leads_p4"], start=1):
        assert_parity(f"{model} parallel, four models in one statement", [r[k] for r in rows], world["expected"][model])


def sqlstate_and_message(conn, sql, params=()):
    try:
        conn.execute(sql, params)
    except psycopg.Error as e:
        return e.sqlstate, e.diag.message_primary, e.diag.message_hint
    return None, None, None


def test_handle_unknown_error_and_missing_without_imputer(world):
    conn = world["conn"]
    state, message, hint = sqlstate_and_message(
        conn,
        "SELECT predict_purchase(l, 'leads_p2') FROM (SELECT lead_id, annual_revenue, discount, visits, "
        "tenure_months, company_size, 'mining'::text AS industry, plan, region_code, channel "
        "FROM leads ORDER BY lead_id LIMIT 1) l",
    )
    assert state == "22023" and '"mining"' in message and '"industry"' in message and hint, message
    # company_size is passed through with no imputer: NULL is an error, as in scikit-learn.
    state, message, _ = sqlstate_and_message(
        conn,
        'SELECT predict_purchase_json(\'{"company_size": null, "annual_revenue": "$1.00", '
        '"industry": "retail", "region_code": "1", "visits": 1}\', \'leads_p2\')',
    )
    assert state == "22023" and '"company_size"' in message, message
    # Unknown levels under handle_unknown='ignore' score like scikit-learn (all zeros).
    (p,) = conn.execute(
        'SELECT predict_purchase_json(\'{"plan": "gold", "channel": "fax", '
        '"visits": 3, "tenure_months": 5, "company_size": 10}\', \'leads_p3\')'
    ).fetchone()[0][0:1]
    import pandas as pd

    row = pd.DataFrame([{c: None for c in leads.SQL_TYPES if c != "lead_id"}])
    row.loc[0, ["plan", "channel", "visits", "tenure_months", "company_size"]] = ["gold", "fax", 3, 5, 10]
    assert abs(p["p_hat"] - expected_p(world["pipes"]["leads_p3"], row)[0]) <= TOLERANCE


def test_checks_are_required_and_purchase_models_shows_them(world):
    conn = world["conn"]
    doc = dict(world["docs"]["leads_p1"])
    doc.pop("checks")
    doc["sha256"] = pg_purchase.artifact_sha256(doc)
    state, message, hint = sqlstate_and_message(
        conn, "SELECT load_purchase_model(%s::jsonb, 'unchecked')", (json.dumps(doc),)
    )
    assert state == "22023" and "no reference checks" in message and "allow_unchecked" in hint
    conn.execute("SELECT load_purchase_model(%s::jsonb, 'unchecked', allow_unchecked => true)", (json.dumps(doc),))
    rows = dict(conn.execute("SELECT name, checks FROM purchase_models() WHERE active").fetchall())
    assert rows["unchecked"] == 0 and rows["leads_p1"] == 400, rows
    conn.execute("SELECT drop_purchase_model('unchecked')")


def test_a_model_edited_after_export_is_refused(world):
    doc = json.loads(json.dumps(world["docs"]["leads_p4"]))
    doc["model"]["coefficients"][0] += 0.5
    state, message, _ = sqlstate_and_message(
        world["conn"], "SELECT load_purchase_model(%s::jsonb, 'edited')", (json.dumps(doc),)
    )
    assert state == "22023" and '"sha256"' in message
    doc["sha256"] = pg_purchase.artifact_sha256(doc)  # re-hashed: the reference rows still catch it
    state, message, _ = sqlstate_and_message(
        world["conn"], "SELECT load_purchase_model(%s::jsonb, 'edited')", (json.dumps(doc),)
    )
    assert state == "22023" and "model check failed" in message


def test_awkward_numbers_load_by_both_paths_and_export_reload(world):
    """-0.0, a whole-number float and an integer >= 2^64 in an artifact: the RFC 8785 hash is
    the same in Python and in the database, whatever jsonb does to the number text."""
    conn = world["conn"]
    doc = json.loads(json.dumps(world["docs"]["leads_p3"]))
    doc["training"].update({"neg_zero": -0.0, "whole": 1e16, "huge": float(2**64)})
    doc["sha256"] = pg_purchase.artifact_sha256(doc)
    text = json.dumps(doc).replace("1.8446744073709552e+19", "18446744073709551616")
    assert "18446744073709551616" in text and "-0.0" in text and "1e+16" in text
    v_jsonb = conn.execute("SELECT load_purchase_model(%s::jsonb, 'awkward')", (text,)).fetchone()[0]
    v_file = conn.execute("SELECT load_purchase_model_file(%s, 'awkward')", (server_file(text),)).fetchone()[0]
    exported = conn.execute("SELECT export_purchase_model('awkward', %s)::text", (v_jsonb,)).fetchone()[0]
    v_reload = conn.execute("SELECT load_purchase_model(%s::jsonb, 'awkward')", (exported,)).fetchone()[0]
    # One artifact (one sha256) by three paths: stored once, each load returns that version.
    assert (v_jsonb, v_file, v_reload) == (1, 1, 1)
    hashes = {r[0] for r in conn.execute("SELECT sha256 FROM purchase_models() WHERE name = 'awkward'")}
    assert hashes == {doc["sha256"]}, hashes
    rows = conn.execute("SELECT predict_purchase(l, 'awkward') FROM leads l ORDER BY lead_id").fetchall()
    assert_parity("awkward numbers, export->reload", [r[0] for r in rows], world["expected"]["leads_p3"])
    # Every exported leads model reloads and scores identically.
    for name in ["leads_p1", "leads_p2", "leads_p4"]:
        conn.execute("SELECT load_purchase_model(export_purchase_model(%s), %s)", (name, name + "_again"))
        same = conn.execute(
            "SELECT count(*) FILTER (WHERE predict_purchase(l, %s) = predict_purchase(l, %s)) FROM leads l",
            (name, name + "_again"),
        ).fetchone()[0]
        assert same == N_SCORE, name


def test_drift_of_an_imported_pipeline_with_a_training_profile(world):
    """The exporter's training profile gives purchase_drift its PSI: the scoring rows are drawn
    like the training rows (nothing flagged); the same rows shifted are flagged."""
    conn = world["conn"]
    train, y = leads.raw_leads(N_TRAIN, 11)
    doc = pg_purchase.export_pipeline(
        world["pipes"]["leads_p1"],
        train.head(50),
        money=leads.MONEY,
        percent=leads.PERCENT,
        name="profiled",
        training_rows=train,
    )
    conn.execute("SELECT load_purchase_model(%s::jsonb, 'profiled')", (json.dumps(doc),))
    rows = conn.execute("SELECT column_name, psi, flagged FROM purchase_drift('leads', 'profiled')").fetchall()
    numeric = [r for r in rows if r[1] is not None]
    assert numeric and all(not flagged for _, _, flagged in rows), rows
    conn.execute("CREATE TABLE leads_shifted AS SELECT * FROM leads")
    conn.execute("UPDATE leads_shifted SET visits = visits * 3 + 10")
    flagged = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM purchase_drift('leads_shifted', 'profiled') WHERE flagged"
        ).fetchall()
    }
    assert "visits" in flagged, flagged
    conn.execute("SELECT drop_purchase_model('profiled')")
