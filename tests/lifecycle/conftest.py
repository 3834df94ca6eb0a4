"""Fixtures of the lifecycle tests: a database of their own per test, with a customers table."""

import pytest
from common import connect, make_customers


@pytest.fixture
def customers_db(request, fresh_database):
    """A fresh database named after the test, pg_purchase installed, 1000 customers; its name."""
    name = "pgp_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:50]
    fresh_database(name)
    with connect(name) as conn:
        make_customers(conn, rows=1000)
    return name
