"""Every named query against the migrated schema: it prepares (so no query can
break without a failing test), it carries its origin, and the enums agree."""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import psycopg
import pytest

import optiinfra_db as odb
from optiinfra_db.enums import PG_ENUMS
from optiinfra_db.queries import CATALOG, Query
from tests.catalog import enums
from tests.sides import api

_PLACEHOLDER = re.compile(r"%\(([a-z_][a-z0-9_]*)\)s")


def _to_dollar(query: Query) -> str:
    """The statement with %(name)s turned into $1, $2 ... as the server sees it."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${numbers.setdefault(match[1], len(numbers) + 1)}"

    return _PLACEHOLDER.sub(number, query.sql).replace("%%", "%")


#: `optiinfra-db top`'s statements read the extension's view.
NEEDS_PG_STAT_STATEMENTS = {"telemetry.statements", "telemetry.statements_reset_at"}


# meta.table_has_rows is an identifier template ({table}), composed before it runs.
@pytest.mark.parametrize(
    "key", sorted(k for k, q in CATALOG.items() if q.kind != "copy" and "{" not in q.sql)
)
def test_every_named_query_prepares(
    raw_conn: psycopg.Connection[Any], db_dsn: str, key: str
) -> None:
    query = CATALOG[key]
    if key in NEEDS_PG_STAT_STATEMENTS:
        available = raw_conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ).fetchone()
        if available != (1,):
            pytest.skip("pg_stat_statements is not installed here: tests/integration/test_top.py")
    if query.kind == "exec" and not query.params:
        # A utility statement (VACUUM) can't be prepared, nor run in a transaction: run it.
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            conn.execute(query.sql)
        return
    statement = _to_dollar(query).rstrip().rstrip(";")
    # Parameters whose type the server can't infer fail here, as they would
    # when psycopg sends None (unknown type) at run time.
    raw_conn.execute(f"PREPARE q AS {statement}")  # type: ignore[arg-type]
    n_params = raw_conn.execute(
        "SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = 'q'"
    ).fetchone()
    assert n_params == (len(query.params),)


@pytest.mark.parametrize("key", sorted(k for k, q in CATALOG.items() if q.kind == "copy"))
def test_every_copy_statement_runs(raw_conn: psycopg.Connection[Any], key: str) -> None:
    with raw_conn.cursor() as cur, cur.copy(CATALOG[key].sql):
        pass  # zero rows: checks table and column names
    raw_conn.rollback()


def test_statements_carry_their_origin_in_pg_stat_activity(
    conn: psycopg.Connection[Any], db_dsn: str
) -> None:
    api.Repositories(conn).workflow_executions.get(uuid4())
    with psycopg.connect(db_dsn, autocommit=True) as observer:
        row = observer.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", [conn.info.backend_pid]
        ).fetchone()
    assert row is not None
    assert row[0].startswith("/* optiinfra_db:workflow_executions:get */")


def test_every_python_enum_equals_its_postgresql_enum(raw_conn: psycopg.Connection[Any]) -> None:
    in_db = enums(raw_conn)
    assert set(in_db) == set(PG_ENUMS)
    for name, enum in PG_ENUMS.items():
        assert [m.value for m in enum] == in_db[name], name
        assert all(m.name == m.value.upper() for m in enum), name


def test_connect_registers_enums_and_jsonb(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "SELECT 'timeout'::workflow_status, ARRAY['free', 'enterprise']::customer_plan[],"
        " %s::jsonb ->> 'k'",
        [{"k": "v"}],
    ).fetchone()
    assert row == (
        odb.WorkflowStatus.TIMEOUT,
        [odb.CustomerPlan.FREE, odb.CustomerPlan.ENTERPRISE],
        "v",
    )
    assert isinstance(row[0], odb.WorkflowStatus)
    # A Python enum is sent as its label.
    assert conn.execute("SELECT %s::text", [odb.StepStatus.RETRYING]).fetchone() == ("retrying",)


def test_connect_to_unmigrated_database_works(empty_db_dsn: str) -> None:
    with api.connect(empty_db_dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def test_connect_leaves_defaults_and_passes_kwargs(db_dsn: str) -> None:
    with api.connect(db_dsn) as conn:
        assert conn.autocommit is False
        assert conn.prepare_threshold == 5
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SHOW transaction_isolation").fetchone() == ("read committed",)
    with api.connect(db_dsn, autocommit=True, prepare_threshold=None) as conn:
        assert conn.autocommit is True and conn.prepare_threshold is None


def test_pool_connections_are_configured(db_dsn: str) -> None:
    seen: list[int] = []
    with (
        api.create_pool(
            db_dsn, min_size=1, max_size=2, configure=lambda c: seen.append(c.info.backend_pid)
        ) as pool,
        pool.connection() as conn,
    ):
        status = conn.execute("SELECT 'running'::workflow_status").fetchone()
        assert status == (odb.WorkflowStatus.RUNNING,)
        assert conn.info.backend_pid in seen
