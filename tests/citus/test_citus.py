"""pg_purchase on a real Citus cluster: a coordinator and two workers on local ports (cluster.py),
a third worker added later. Checks that models reach every node atomically, that distributed
scoring equals single-node scoring exactly (with the planner's column rewrite in the shard
queries), co-located INSERT ... SELECT, refresh on a distributed source, a worker stopped during
a load, and a node added after models were loaded.

The cluster is a module fixture (stopped at the end); before each test every model is dropped and
the bundled one loaded (version 1, active, on every node), so no test depends on another.
Run by tests/citus/run.sh (builds Citus into PG_BIN's PostgreSQL when missing)."""

import json
import os

import cluster
import pytest
from common import bundled, load, make_customers, variant

ROWS = int(os.environ.get("CITUS_TEST_ROWS", "3000"))


def versions_on(node):
    """(version, active) pairs of model 'default' as this node's own copy holds them."""
    with node.connect() as c:
        return c.execute(
            "SELECT version, active FROM purchase.model_versions WHERE name = 'default' ORDER BY version"
        ).fetchall()


def same_rows(conn, query):
    """The query on the distributed table and on the single-node copy; both as dicts by key."""
    dist = dict(conn.execute(query.format(t="customers")).fetchall())
    local = dict(conn.execute(query.format(t="customers_local")).fetchall())
    return dist, local


@pytest.fixture(scope="module")
def nodes():
    """A coordinator and two workers; customers distributed, customers_local its single-node copy."""
    started = cluster.citus_cluster(2)
    try:
        setup(started[0]).close()
        yield started
    finally:
        cluster.stop_all()


@pytest.fixture
def coordinator(nodes):
    """A coordinator connection with no model loaded (every model dropped on every node)."""
    c = nodes[0].connect()
    for (name,) in c.execute("SELECT DISTINCT name FROM purchase.model_versions").fetchall():
        c.execute("SELECT drop_purchase_model(%s)", (name,))
    yield c
    c.close()


@pytest.fixture
def c(coordinator):
    """A coordinator connection with the bundled model loaded as version 1 of 'default'."""
    load(coordinator, bundled())
    return coordinator


def setup(coord):
    c = coord.connect()
    c.execute("CREATE EXTENSION pg_purchase")
    make_customers(c, rows=ROWS)
    c.execute("ALTER TABLE customers ADD COLUMN bought integer")
    c.execute("UPDATE customers SET bought = (customer_id % 3 = 0)::int")
    # The single-node reference: the same rows in a plain table on the coordinator.
    c.execute("CREATE TABLE customers_local AS SELECT * FROM customers")
    c.execute("SELECT create_distributed_table('customers', 'customer_id')")
    return c


def test_models_on_every_node(coordinator, nodes, check):
    c = coordinator
    v = load(c, bundled())
    check("load on the coordinator returns version 1", v == 1)
    for n in nodes:
        check(f"{n.name} holds version 1 active", versions_on(n) == [(1, True)], str(versions_on(n)))
    kind = c.execute(
        "SELECT partmethod, repmodel FROM pg_dist_partition WHERE logicalrelid = 'purchase.model_versions'::regclass"
    ).fetchone()
    check("the catalog is a Citus reference table", kind == ("n", "t"), str(kind))


def test_scoring_equals_single_node(c, check):
    dist, local = same_rows(c, "SELECT customer_id, predict_purchase(c) FROM {t} c")
    check(
        "predict_purchase(c) on the distributed table equals single-node, bit for bit",
        len(dist) == ROWS and dist == local,
        f"{len(dist)} rows",
    )
    dist, local = same_rows(c, "SELECT customer_id, score_purchase(c)::text FROM {t} c")
    check("score_purchase(c) equal", dist == local and len(dist) == ROWS)
    dist, local = same_rows(c, "SELECT customer_id, purchase_features(c)::text FROM {t} c")
    check("purchase_features(c) equal", dist == local and len(dist) == ROWS)
    dist, local = same_rows(c, "SELECT customer_id, purchase_outcome(c) FROM {t} c")
    check("purchase_outcome(c) equal", dist == local and len(dist) == ROWS)
    dist, local = same_rows(
        c, "SELECT customer_id, predict_purchase_json(to_jsonb(c) - 'customer_id' - 'bought')::text FROM {t} c"
    )
    check("predict_purchase_json(to_jsonb(c) - key - outcome) equal", dist == local and len(dist) == ROWS)
    # A set-returning function in the select list (Citus pushes down only immutable functions
    # as table expressions, so explain_purchase(c) goes there, not in FROM).
    dist, local = (
        sorted(
            c.execute(f"SELECT customer_id, explain_purchase(c)::text FROM {t} c WHERE customer_id % 97 = 1").fetchall()
        )
        for t in ("customers", "customers_local")
    )
    check("explain_purchase(c) equal (in the select list)", dist == local and len(dist) > 100, f"{len(dist)} rows")
    ev = [
        c.execute(f"SELECT evaluate_purchase_model('{t}', 'bought')").fetchone()[0]
        for t in ("customers", "customers_local")
    ]
    check(
        "evaluate_purchase_model on a distributed source equals single-node (to 1e-12; rows arrive in another order)",
        close(ev[0], ev[1]),
        json.dumps(ev[0])[:80],
    )

    plan = "\n".join(
        r[0]
        for r in c.execute(
            "EXPLAIN (VERBOSE, COSTS OFF) SELECT customer_id, predict_purchase(c) FROM customers c"
        ).fetchall()
    )
    check("EXPLAIN VERBOSE: pushed down to every shard", "Task Count: 32" in plan)
    check(
        "EXPLAIN VERBOSE: the shard query carries the column rewrite",
        "predict_purchase_columns('default'::text" in plan and "FROM public.customers_" in plan,
    )
    check("EXPLAIN VERBOSE: no whole-row value is built in the shard query", "predict_purchase(c" not in plan)


def close(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    return a == b


def test_insert_select_colocated(c, check):
    c.execute("DROP TABLE IF EXISTS targets")
    c.execute("CREATE TABLE targets (customer_id bigint, p_hat float8, version int)")
    c.execute("SELECT create_distributed_table('targets', 'customer_id', colocate_with => 'customers')")
    q = (
        "INSERT INTO targets SELECT customer_id, (s).p_hat, (s).version"
        " FROM (SELECT customer_id, score_purchase(c) AS s FROM customers c) x"
    )
    plan = "\n".join(r[0] for r in c.execute("EXPLAIN (VERBOSE, COSTS OFF) " + q).fetchall())
    check(
        "INSERT ... SELECT score_purchase(c) is pushed down shard to shard",
        "INSERT INTO public.targets_" in plan
        and "pull to coordinator" not in plan.lower()
        and "repartition" not in plan.lower(),
        plan.splitlines()[0],
    )
    c.execute(q)
    got = dict(c.execute("SELECT customer_id, p_hat FROM targets").fetchall())
    want = dict(c.execute("SELECT customer_id, predict_purchase(c) FROM customers_local c").fetchall())
    check("the co-located INSERT ... SELECT wrote the single-node scores", got == want, f"{len(got)} rows")


def test_activation_and_caches(c, nodes, check):
    # A second version with other scores; a worker backend that already cached version 1 (Citus
    # keeps its connections) must follow the activation at commit.
    before = dict(c.execute("SELECT customer_id, predict_purchase(c) FROM customers c").fetchall())
    v2 = load(c, variant(0.5))
    after = dict(c.execute("SELECT customer_id, predict_purchase(c) FROM customers c").fetchall())
    local2 = dict(c.execute("SELECT customer_id, predict_purchase(c) FROM customers_local c").fetchall())
    check(
        "a new version is in force on every worker at the next statement", after == local2 and after != before, f"v{v2}"
    )
    versions = {r[0] for r in c.execute("SELECT (score_purchase(c)).version FROM customers c").fetchall()}
    check("every shard scored with version 2", versions == {2}, str(versions))
    c.execute("SELECT activate_purchase_model('default', 1)")
    back = dict(c.execute("SELECT customer_id, predict_purchase(c) FROM customers c").fetchall())
    check("activate_purchase_model (rollback to 1) reaches every worker", back == before)
    for n in nodes:
        check(f"{n.name}: version 1 active, 2 kept", versions_on(n) == [(1, True), (2, False)], str(versions_on(n)))
    # A prepared statement's plan (column list baked in) is re-made on the coordinator.
    c.execute("PREPARE p AS SELECT sum(predict_purchase(c)) FROM customers c WHERE customer_id < 100")
    p1 = c.execute("EXECUTE p").fetchone()[0]
    c.execute("SELECT activate_purchase_model('default', 2)")
    p2 = c.execute("EXECUTE p").fetchone()[0]
    l2 = c.execute("SELECT sum(predict_purchase(c)) FROM customers_local c WHERE customer_id < 100").fetchone()[0]
    check("a prepared statement follows the activation", p1 != p2 and abs(p2 - l2) < 1e-9, f"{p1} -> {p2}")
    c.execute("DEALLOCATE p")
    c.execute("SELECT activate_purchase_model('default', 1)")


def test_drop_and_reload(c, nodes, check):
    load(c, bundled(), name="spring")
    c.execute("SELECT drop_purchase_model('spring')")
    for n in nodes:
        with n.connect() as x:
            left = x.execute("SELECT count(*) FROM purchase.model_versions WHERE name = 'spring'").fetchone()[0]
        check(f"drop_purchase_model removed the model on {n.name}", left == 0)
    try:
        c.execute("SELECT sum(predict_purchase(c, 'spring')) FROM customers c")
        check("scoring a dropped model on the workers fails", False)
    except Exception as e:  # noqa: BLE001
        check(
            "scoring a dropped model on the workers fails with 42704",
            getattr(e, "sqlstate", None) == "42704",
            str(e).splitlines()[0],
        )


def test_refused_on_a_worker(nodes, check):
    with nodes[1].connect() as w:
        try:
            w.execute("SELECT load_purchase_model(%s::jsonb, 'from_worker')", (json.dumps(bundled()),))
            check("load_purchase_model on a worker is refused", False)
        except Exception as e:  # noqa: BLE001
            check(
                "load_purchase_model on a worker is refused (0A000, names the coordinator)",
                e.sqlstate == "0A000" and "coordinator" in str(e),
                str(e).splitlines()[0],
            )


def test_worker_down_during_load(c, nodes, check):
    coord, w1, w2 = nodes
    # Versions 1 (active) and 2, as after the activation test: the loads that fail take no number.
    load(c, variant(0.5), activate=False)
    state = {n.name: versions_on(n) for n in nodes}
    # (a) the worker is already down when the load starts
    w2.stop("immediate")
    try:
        load(c, variant(2.0))
        check("a load with a worker down fails", False)
    except Exception as e:  # noqa: BLE001
        check(
            "a load with a worker down fails, naming the unreachable node",
            str(w2.port) in str(e),
            str(e).splitlines()[0],
        )
    check(
        "... and nothing changed on the coordinator or the live worker",
        versions_on(coord) == state["coordinator"] and versions_on(w1) == state["worker1"],
    )
    w2.start()
    check("... nor on the stopped worker once it is back", versions_on(w2) == state["worker2"])
    # (b) the worker dies after the load wrote to it, before COMMIT: the PREPARE fails everywhere
    with coord.connect(autocommit=False) as t:
        t.execute("SELECT load_purchase_model(%s::jsonb, allow_unchecked => true)", (json.dumps(variant(2.0)),))
        w2.stop("immediate")
        try:
            t.commit()
            check("COMMIT of a load whose worker died fails", False)
        except Exception as e:  # noqa: BLE001
            # The coordinator reports the lost worker connection (its own session survives).
            check("COMMIT of a load whose worker died fails", not t.closed, str(e).splitlines()[0])
    w2.start()
    cluster.wait_until(lambda: versions_on(w2) is not None)
    check(
        "... and all three nodes still hold exactly what they held before",
        all(versions_on(n) == state[n.name] for n in nodes),
        str({n.name: versions_on(n) for n in nodes}),
    )
    with coord.connect() as fresh:
        ok = load(fresh, variant(2.0))
        check("with every worker up the load succeeds", ok == 3)
        fresh.execute("SELECT activate_purchase_model('default', 1)")


def test_node_added_later(c, nodes, check):
    w3 = cluster.Node("worker3")
    cluster.prepare_node(w3)
    c.execute("SELECT citus_add_node('127.0.0.1', %s)", (w3.port,))
    n = c.execute("SELECT sync_purchase_models()").fetchone()[0]
    check("sync_purchase_models() puts the catalog on all 4 nodes", n == 4, str(n))
    check("the added worker holds every version", versions_on(w3) == versions_on(nodes[0]), str(versions_on(w3)))
    # A table distributed now places shards on worker3 too; its scores equal single-node ones.
    c.execute("DROP TABLE IF EXISTS customers2")
    c.execute("CREATE TABLE customers2 AS SELECT * FROM customers_local")
    c.execute("SELECT create_distributed_table('customers2', 'customer_id', colocate_with => 'none')")
    on_w3 = c.execute(
        "SELECT count(*) FROM citus_shards WHERE table_name = 'customers2'::regclass AND nodeport = %s", (w3.port,)
    ).fetchone()[0]
    got = dict(c.execute("SELECT customer_id, predict_purchase(c) FROM customers2 c").fetchall())
    want = dict(c.execute("SELECT customer_id, predict_purchase(c) FROM customers_local c").fetchall())
    check("shards on the added worker score exactly as single-node", on_w3 > 0 and got == want, f"{on_w3} shards there")
    v = load(c, variant(0.25), activate=False)
    check("a later load reaches the added worker too", (v, False) in versions_on(w3))


def test_refresh_on_distributed_source(c, check):
    c.execute("CALL refresh_purchase_targets('customers', 'to_target')")
    c.execute("CALL refresh_purchase_targets('customers_local', 'to_target_local')")
    got = c.execute("SELECT customer_id, p_hat, version FROM to_target ORDER BY customer_id").fetchall()
    want = c.execute("SELECT customer_id, p_hat, version FROM to_target_local ORDER BY customer_id").fetchall()
    check(
        "refresh_purchase_targets on a distributed source equals single-node",
        got == want and len(got) > 0,
        f"{len(got)} targeted",
    )
    kind = c.execute("SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'to_target'::regclass").fetchone()[0]
    check("the target list is a local table on the coordinator (documented)", kind == 0)
    run = c.execute(
        "SELECT status, rows_scored FROM purchase.refresh_runs WHERE source = 'public.customers'"
        " ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    check("the run is logged", run == ("succeeded", ROWS), str(run))
