"""Streaming reads (issue #7): iter_for_customer / iter_for_agent / iter go
through a server-side cursor, batch by batch, and yield exactly what paging
through the list methods would, with the same validation."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

import optiinfra_db as odb
from tests.conftest import World
from tests.sides import api

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = pytest.mark.usefixtures("side")


def _history(conn: psycopg.Connection[Any], world: World, n: int) -> None:
    conn.execute(
        "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type, status, created_at)"
        " SELECT %s, %s, 'cost_analysis',"
        " CASE WHEN g %% 7 = 0 THEN 'failed' ELSE 'completed' END::workflow_status,"
        " now() - g * interval '1 minute' FROM generate_series(1, %s) AS g",
        [world.agent.id, world.customer.id, n],
    )
    conn.commit()


def _pages(repos: Any, **filters: Any) -> list[Any]:
    out: list[Any] = []
    after = None
    while page := repos.workflow_executions.list_for_customer(limit=97, after=after, **filters):
        out += page
        after = page[-1]
    return out


def test_iter_for_customer_yields_what_the_pages_hold(
    conn: psycopg.Connection[Any], repos: Any, world: World
) -> None:
    _history(conn, world, 1500)
    paged = _pages(repos, customer_id=world.customer.id)
    streamed = list(repos.workflow_executions.iter_for_customer(world.customer.id, batch_size=64))
    assert len(streamed) == 1501 and streamed == paged
    failed = list(repos.workflow_executions.iter_for_customer(world.customer.id, status="failed"))
    assert failed == _pages(repos, customer_id=world.customer.id, status="failed")
    assert {r.status for r in failed} == {odb.WorkflowStatus.FAILED} and len(failed) == 214
    since = datetime.now(UTC) - timedelta(minutes=100)
    recent = list(repos.workflow_executions.iter_for_customer(world.customer.id, since=since))
    assert recent and all(r.created_at >= since for r in recent)
    # Resuming after a record continues right after it.
    resumed = list(repos.workflow_executions.iter_for_customer(world.customer.id, after=paged[9]))
    assert resumed == paged[10:]
    assert list(repos.workflow_executions.iter_for_agent(world.agent.id)) == paged
    assert list(itertools.islice(repos.workflow_executions.iter(), 5)) == paged[:5]


def test_a_stream_fetches_batch_by_batch_and_closes_its_cursor(
    conn: psycopg.Connection[Any], repos: Any, world: World
) -> None:
    _history(conn, world, 300)
    stream = repos.workflow_executions.iter_for_customer(world.customer.id, batch_size=100)
    first = next(stream)
    assert first.customer_id == world.customer.id
    with conn.cursor() as cur:  # the server holds one open cursor while we read
        cur.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE 'optiinfra_%%'")
        assert cur.fetchone() == (1,)
    stream.close()  # an abandoned stream closes its cursor
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE 'optiinfra_%%'")
        assert cur.fetchone() == (0,)
    conn.commit()


def test_a_stream_on_an_autocommit_connection_opens_its_own_transaction(
    db_dsn: str, world: World
) -> None:
    with api.connect(db_dsn, autocommit=True) as auto:
        repos = api.Repositories(auto)
        rows = list(repos.workflow_executions.iter_for_customer(world.customer.id))
        assert [r.id for r in rows] == [world.execution.id]
        assert auto.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_stream_arguments_are_checked_before_any_sql(repos: Any, world: World) -> None:
    for bad in ({"batch_size": 0}, {"batch_size": 10_001}, {"status": "nope"}, {"after": 3}):
        with pytest.raises(ValidationError):
            repos.workflow_executions.iter_for_customer(world.customer.id, **bad)
    with pytest.raises(ValidationError):
        repos.workflow_executions.iter_for_customer("not-a-uuid")
