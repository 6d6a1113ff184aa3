"""Test harness: a real PostgreSQL, a migrated template database built once per
session, and a fresh clone of it for every test.

Where the server comes from:
  * ``OPTIINFRA_TEST_DSN`` (any libpq DSN of a role that may create databases);
  * otherwise an embedded PostgreSQL 16 started with ``pgserver`` in a temporary
    folder (works on a fresh machine with no server installed, also as root).

Databases are created and dropped with pytest-postgresql's ``DatabaseJanitor``;
the template is filled by applying the migrations through yoyo, exactly as a
deploy would.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pytest_postgresql.janitor import DatabaseJanitor

from optiinfra_db import embedded
from optiinfra_db.migrate import migrate


@dataclass(frozen=True)
class Server:
    """How to reach the test server (host may be a Unix-socket folder)."""

    host: str
    port: int
    user: str
    password: str | None
    maintenance_dbname: str
    label: str

    def dsn(self, dbname: str) -> str:
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=dbname,
        )

    def janitor(self, dbname: str, **kwargs: Any) -> DatabaseJanitor:
        return DatabaseJanitor(
            user=self.user,
            host=self.host,
            port=self.port,
            password=self.password,
            dbname=dbname,
            maintenance_dbname=self.maintenance_dbname,
            **kwargs,
        )


_counter = itertools.count()


def _unique_name(prefix: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{prefix}_{os.getpid()}{worker}_{next(_counter)}"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    dsn = os.environ.get("OPTIINFRA_TEST_DSN")
    label = "OPTIINFRA_TEST_DSN"
    if not dsn:
        dsn = embedded.start(tmp_path_factory.mktemp("pgdata"))
        label = "embedded pgserver"
    params = conninfo_to_dict(dsn)
    return Server(
        host=str(params.get("host") or "localhost"),
        port=int(params.get("port") or 5432),
        user=str(params.get("user") or os.environ.get("USER", "postgres")),
        password=str(params["password"]) if params.get("password") else None,
        maintenance_dbname=str(params.get("dbname") or "postgres"),
        label=label,
    )


def pytest_report_header(config: pytest.Config) -> str:
    return (
        "database: "
        + ("OPTIINFRA_TEST_DSN" if os.environ.get("OPTIINFRA_TEST_DSN") else "embedded pgserver")
        + (f" through PgBouncer at {PGBOUNCER}" if PGBOUNCER else "")
    )


def _apply_migrations(
    host: str, port: int, user: str, dbname: str, password: str | None, **kwargs: Any
) -> None:
    """pytest-postgresql loader: migrate the template through yoyo."""
    migrate(
        make_conninfo(host=host, port=port, user=user, dbname=dbname, password=password or None)
    )


@pytest.fixture(scope="session")
def template_db(pg_server: Server) -> Iterator[str]:
    """A database with every migration applied, marked as a template."""
    name = _unique_name("optiinfra_tmpl")
    janitor = pg_server.janitor(name, as_template=True)
    with janitor:
        janitor.load(_apply_migrations)
        from tests.tenant_harness import ensure_app_login

        ensure_app_login(pg_server.dsn(name))
        yield name


#: ``host:port`` of a PgBouncer in transaction mode in front of the test
#: server (``.ci/run`` starts one): tests then reach their database through it.
PGBOUNCER = os.environ.get("OPTIINFRA_TEST_PGBOUNCER", "")


@pytest.fixture
def db_dsn(pg_server: Server, template_db: str) -> Iterator[str]:
    """DSN of a fresh, migrated database for this test alone (dropped afterwards).

    With OPTIINFRA_TEST_PGBOUNCER set, the DSN goes through that PgBouncer.
    """
    name = _unique_name("optiinfra_test")
    with pg_server.janitor(name, template_dbname=template_db):
        if PGBOUNCER:
            host, _, port = PGBOUNCER.rpartition(":")
            yield make_conninfo(host=host, port=int(port), user=pg_server.user, dbname=name)
        else:
            yield pg_server.dsn(name)


@pytest.fixture
def empty_db_dsn(pg_server: Server) -> Iterator[str]:
    """DSN of a fresh database with nothing migrated."""
    name = _unique_name("optiinfra_empty")
    with pg_server.janitor(name):
        yield pg_server.dsn(name)


@pytest.fixture
def raw_conn(
    request: pytest.FixtureRequest, db_dsn: str
) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A plain psycopg connection to the test database (autocommit off; on
    the async side a plain AsyncConnection behind the bridge)."""
    if "side" in request.fixturenames and request.getfixturevalue("side").endswith("async"):
        from tests.aio_bridge import plain_async_connection

        with plain_async_connection(db_dsn) as aconn:
            yield aconn
        return
    with psycopg.connect(db_dsn) as conn:
        yield conn


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give ``side`` its two values, or only ``sync`` for a test marked
    ``sync_only`` (it runs no library I/O that has an async twin: migrations,
    pure validation).

    ``OPTIINFRA_TEST_SIDES`` (a comma list, e.g. ``sync,tenant``) keeps only
    those sides: CI runs every side once, on the embedded server, and the
    second server only where its SQL could differ (the async twin runs the
    same statements as the sync side)."""
    if "side" in metafunc.fixturenames:
        one = metafunc.definition.get_closest_marker("sync_only") is not None
        sides = ["sync"] if one else ["sync", "async"]
        if (
            metafunc.definition.get_closest_marker("tenant") is not None
            and metafunc.definition.get_closest_marker("operator_only") is None
            and not one
        ):
            sides += ["tenant", "tenant-async"]
        wanted = os.environ.get("OPTIINFRA_TEST_SIDES")
        if wanted:
            sides = [s for s in sides if s in wanted.split(",")] or sides[:1]
        metafunc.parametrize("side", sides, indirect=True)


@pytest.fixture
def side(request: pytest.FixtureRequest) -> Iterator[str]:
    """The side the test runs on, which decides what ``tests.sides.api`` is:
    the library as it is (sync); ``optiinfra_db.aio`` behind a blocking
    bridge (async, see ``tests/aio_bridge.py``); in ``tenant`` modules also
    customer-scoped repositories on an optiinfra_app login, on each side
    (see ``tests/tenant_harness.py``). Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("side")``."""
    from tests import sides

    loop = None
    chosen = sides.sync_api()
    if request.param.endswith("async"):
        from tests.aio_bridge import Loop, async_api

        loop = Loop()
        chosen = async_api(loop)
    if request.param.startswith("tenant"):
        from tests.tenant_harness import tenant_api

        chosen = tenant_api(chosen, request.getfixturevalue("db_dsn"))
    sides.activate(chosen)
    try:
        yield request.param
    finally:
        sides.activate(None)
        if loop is not None:
            loop.close()


@pytest.fixture
def conn(request: pytest.FixtureRequest, db_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection made by the library (adapters registered), autocommit off
    (an ``AsyncConnection`` behind the blocking bridge on the async side)."""
    if "side" in request.fixturenames:
        request.getfixturevalue("side")
    from tests.sides import api

    with api.connect(db_dsn) as connection:
        yield connection


@pytest.fixture
def repos(conn: psycopg.Connection[Any]) -> Any:
    from tests.sides import api

    return api.Repositories(conn)


@dataclass(frozen=True)
class World:
    customer: Any
    agent: Any
    execution: Any


@pytest.fixture
def world(repos: Any, conn: psycopg.Connection[Any]) -> World:
    """A customer, an agent and a pending execution, committed."""
    import optiinfra_db as odb

    customer = repos.customers.create(
        odb.CustomerCreate(name="Acme Corp", email="ops@acme.test", api_key=odb.new_api_key())
    )
    agent = repos.agents.create(odb.AgentCreate(type=odb.AgentType.COST, name="cost-agent-1"))
    execution = repos.workflow_executions.create(
        odb.WorkflowExecutionCreate(
            agent_id=agent.id,
            customer_id=customer.id,
            workflow_type=odb.WorkflowType.COST_ANALYSIS,
            input_data={"window": "7d"},
        )
    )
    conn.commit()
    return World(customer, agent, execution)
