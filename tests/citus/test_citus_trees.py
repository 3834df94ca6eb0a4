"""Tree models on Citus (issue 19): HistGradientBoosting, LightGBM and XGBoost pipelines fitted on
tests/trees/problems.py's rows, loaded once on the coordinator, score a distributed table exactly
as they score the same rows on a single node and as the library's predict_proba does, with the
planner's column rewrite in the shard queries.

Runs on its own Citus cluster (cluster.py), started and stopped by this module."""

import json
import os
import sys

import cluster
import numpy as np
import pg_purchase
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "trees"))
import problems  # noqa: E402

N_TRAIN, N_SCORE = 3000, 2000
COLUMNS = list(problems.SQL_TYPES)
TOLERANCE = {"hgb_ordinal": 1e-12, "lgbm": 1e-12, "xgb": 1e-6}


@pytest.fixture(scope="module")
def world():
    train, y = problems.raw_rows(N_TRAIN, 11)
    score, _ = problems.raw_rows(N_SCORE, 12, unseen=True)
    pipes = {name: problems.PIPELINES[name](train, y) for name in TOLERANCE}
    expected = {n: p.predict_proba(problems.model_frame(n, score))[:, 1].astype(float) for n, p in pipes.items()}
    nodes = cluster.citus_cluster(2)
    try:
        c = nodes[0].connect()
        c.execute("CREATE EXTENSION pg_purchase")
        types = ", ".join(f"{col} {t}" for col, t in problems.SQL_TYPES.items())
        for table in ("shoppers", "shoppers_local"):
            c.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, {types}, unused text DEFAULT 'x')")
            with c.cursor().copy(f"COPY {table} (id, {', '.join(COLUMNS)}) FROM STDIN") as copy:
                for i, row in enumerate(score[COLUMNS].itertuples(index=False)):
                    copy.write_row([i] + [None if pg_purchase.is_missing_category(v) else v for v in row])
        c.execute("SELECT create_distributed_table('shoppers', 'id')")
        for name, pipe in pipes.items():
            doc = pg_purchase.export_pipeline(
                pipe, score.head(200), money=problems.MONEY, percent=problems.PERCENT, name=name
            )
            c.execute("SELECT load_purchase_model(%s::jsonb, %s)", (json.dumps(doc), name))
        yield {"conn": c, "nodes": nodes, "expected": expected}
        c.close()
    finally:
        cluster.stop_all()


def scores(conn, sql, model):
    return dict(conn.execute(sql, (model,)).fetchall())


@pytest.mark.parametrize("model", list(TOLERANCE))
def test_distributed_tree_scores_equal_single_node_and_the_library(world, model, check):
    c = world["conn"]
    for label, sql in {
        "predict_purchase(s)": "SELECT id, predict_purchase(s, %s) FROM {t} s",
        "score_purchase(s).p_hat": "SELECT id, (score_purchase(s, %s)).p_hat FROM {t} s",
        "predict_purchase_json": "SELECT id, (predict_purchase_json(to_jsonb(s) - 'id' - 'unused', %s)"
        " -> 0 ->> 'p_hat')::float8 FROM {t} s",
    }.items():
        dist = scores(c, sql.format(t="shoppers"), model)
        local = scores(c, sql.format(t="shoppers_local"), model)
        check(f"{model} {label}: distributed equals single-node bit for bit", dist == local and len(dist) == N_SCORE)
        got = np.array([dist[i] for i in range(N_SCORE)])
        delta = float(np.max(np.abs(got - world["expected"][model])))
        check(f"{model} {label}: distributed vs predict_proba", delta <= TOLERANCE[model], f"max |dp| {delta:.3e}")
    outcomes = scores(c, "SELECT id, purchase_outcome(s, %s) FROM shoppers s", model)
    local = scores(c, "SELECT id, purchase_outcome(s, %s) FROM shoppers_local s", model)
    check(f"{model} purchase_outcome equal", outcomes == local)


def test_shard_queries_carry_the_tree_column_rewrite(world, check):
    c = world["conn"]
    plan = "\n".join(
        r[0] for r in c.execute("EXPLAIN (VERBOSE, COSTS OFF) SELECT id, predict_purchase(s, 'lgbm') FROM shoppers s")
    )
    check("pushed down to every shard", "Task Count: 32" in plan)
    check(
        "the shard query carries the column rewrite",
        "predict_purchase_columns('lgbm'::text" in plan and "FROM public.shoppers_" in plan,
    )
    check("no whole-row value is built in the shard query", "predict_purchase(s" not in plan)
    check("the unused column is not read", "unused" not in plan)


def test_tree_models_reach_every_worker(world, check):
    for n in world["nodes"]:
        with n.connect() as x:
            kinds = x.execute("SELECT name, kind FROM purchase_models() ORDER BY name").fetchall()
        check(
            f"{n.name} holds the three tree models",
            kinds == [("hgb_ordinal", "hist_gradient_boosting"), ("lgbm", "lightgbm"), ("xgb", "xgboost")],
            str(kinds),
        )
