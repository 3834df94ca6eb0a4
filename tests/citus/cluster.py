"""A throwaway Citus cluster on local ports: PostgreSQL instances under /tmp/citus-*, each with
citus preloaded. Used by tests/citus and bench/citus.sh; every node started is stopped by stop_all()."""

import os
import shutil
import socket
import subprocess
import time

import psycopg

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
BASE = os.environ.get("CITUS_TEST_DIR", "/tmp/citus-test")
DB = "pgp"
STARTED = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def as_postgres(cmd):
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


class Node:
    def __init__(self, name, extra_conf=()):
        self.name = name
        self.dir = os.path.join(BASE, name)
        self.port = free_port()
        self.socket = os.path.join(self.dir, "socket")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.socket)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.socket, "postgres")
        as_postgres(
            [
                f"{PG_BIN}/initdb",
                "-D",
                f"{self.dir}/data",
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        conf = [
            f"port = {self.port}",
            f"unix_socket_directories = '{self.socket}'",
            "listen_addresses = '127.0.0.1'",
            "shared_preload_libraries = 'citus'",
            # no SSL on these clusters; the default node_conninfo requires it
            "citus.node_conninfo = 'sslmode=prefer'",
            # two-phase commit of model changes needs prepared transactions on every node
            "max_prepared_transactions = 64",
            "shared_buffers = 256MB",
            "max_parallel_workers_per_gather = 0",
            "jit = off",
            "log_min_messages = warning",
            *extra_conf,
        ]
        with open(f"{self.dir}/data/postgresql.conf", "a", encoding="utf-8") as f:
            f.write("\n".join(conf) + "\n")
        self.start()

    def start(self):
        as_postgres([f"{PG_BIN}/pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/server.log", "-w", "start"])
        if self not in STARTED:
            STARTED.append(self)

    def stop(self, mode="fast"):
        as_postgres([f"{PG_BIN}/pg_ctl", "-D", f"{self.dir}/data", "-m", mode, "-w", "stop"])

    def running(self):
        return os.path.exists(f"{self.dir}/data/postmaster.pid")

    def connect(self, db=DB, **kw):
        kw.setdefault("autocommit", True)
        return psycopg.connect(host=self.socket, port=self.port, user="postgres", dbname=db, **kw)


def stop_all():
    for node in STARTED:
        if node.running():
            try:
                node.stop("immediate")
            except subprocess.CalledProcessError:
                pass


def citus_cluster(workers=2):
    """A coordinator and `workers` workers, database DB with citus, pg_purchase not yet created."""
    nodes = [Node("coordinator")] + [Node(f"worker{i + 1}") for i in range(workers)]
    for node in nodes:
        prepare_node(node)
    coord = nodes[0]
    with coord.connect() as c:
        c.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (coord.port,))
        for w in nodes[1:]:
            c.execute("SELECT citus_add_node('127.0.0.1', %s)", (w.port,))
    return nodes


def prepare_node(node):
    """Database DB with the citus extension (what citus_add_node expects of a new node)."""
    with node.connect("postgres") as c:
        c.execute(f"CREATE DATABASE {DB}")
    with node.connect() as c:
        c.execute("CREATE EXTENSION citus")


def wait_until(predicate, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False
