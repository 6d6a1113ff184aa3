"""How long a run really took, and a step's retries told from its restarts
(issue: the record tells the truth, points 2 and 9).

first_started_at is kept across requeues and every duration runs from it;
``workflow_steps.fail(..., retry=True)`` retries in the same statement while
retries are left; a step started again after its run was requeued is a
restart (restart_count), which spends no retry. Every assertion reads back
from the database, on both sides and through customer-scoped repositories.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pydantic
import pytest

import optiinfra_db as odb
from optiinfra_db.migrate import migrate, rollback
from optiinfra_db.schema import MIGRATION_IDS
from tests.conftest import World
from tests.sides import api, make_due, own_sql

pytestmark = [pytest.mark.usefixtures("side"), pytest.mark.tenant]

Conn = psycopg.Connection[Any]
S = odb.WorkflowStatus
St = odb.StepStatus


def _run(repos: odb.Repositories, world: World, *, steps: int = 1, retries: int = 1) -> UUID:
    world_run = repos.workflow_executions.get(world.execution.id)
    if world_run is not None and world_run.status is S.PENDING:
        repos.workflow_executions.cancel(world.execution.id)  # keep it out of the queue
    detail = repos.workflow_executions.create_with_steps(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=odb.WorkflowType.HEALTH_CHECK,
            max_attempts=3,
        ),
        [
            odb.NewWorkflowStep(step_name=f"s{i}", step_order=i, max_retries=retries)
            for i in range(1, steps + 1)
        ],
    )
    repos.conn.commit()
    return detail.execution.id


def _expire(conn: Conn, run_id: UUID) -> None:
    own_sql(
        conn,
        "UPDATE workflow_executions SET lease_expires_at = now() - interval '1 second'"
        " WHERE id = %s",
        [run_id],
    )
    conn.commit()


def test_a_requeued_run_keeps_its_first_start_and_durations_run_from_it(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    run_id = _run(repos, world, steps=0)
    assert wx.get(run_id).first_started_at is None  # type: ignore[union-attr]
    (first,) = wx.claim("w-1")
    assert first.first_started_at == first.started_at is not None
    conn.commit()
    _expire(conn, run_id)
    (requeued,) = wx.reap_expired()
    assert requeued.started_at is None and requeued.first_started_at == first.started_at
    conn.commit()
    make_due(conn)
    (second,) = wx.claim("w-2")
    assert second.started_at is not None and second.started_at > first.started_at  # type: ignore[operator]
    assert second.first_started_at == first.started_at
    done = wx.complete(run_id, worker_id="w-2")
    conn.commit()
    assert done.first_started_at == first.started_at
    assert done.completed_at is not None and first.started_at is not None
    whole = (done.completed_at - first.started_at).total_seconds()
    detail = wx.get_detail(run_id)
    assert detail is not None and detail.execution.first_started_at == first.started_at
    reports = api.ReportRepository(conn, customer_id=repos.customer_id)
    (summary,) = [r for r in reports.runs(limit=100) if r.id == run_id]
    assert summary.first_started_at == first.started_at
    assert summary.started_at == second.started_at
    assert summary.duration_s == pytest.approx(whole, abs=1e-6)
    (row,) = [
        r
        for r in wx.stats(since=done.created_at, until=done.created_at + timedelta(microseconds=1))
        if r.workflow_type is odb.WorkflowType.HEALTH_CHECK
    ]
    assert row.completed == 1 and row.p50_s == pytest.approx(whole, abs=1e-6)


def test_first_started_at_is_filled_for_every_writer_and_never_moves(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    """A run created as running, a raw UPDATE of started_at, an unfenced start:
    each gets first_started_at from its first started_at; a data update and a
    later start leave it, and updated_at moves only with a real change."""
    wx = repos.workflow_executions
    imported = wx.create(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=odb.WorkflowType.COST_ANALYSIS,
            status=S.RUNNING,
            started_at=world.execution.created_at,
        )
    )
    assert imported.first_started_at == world.execution.created_at
    pending = _run(repos, world, steps=0)
    started = wx.start(pending)
    assert started.first_started_at == started.started_at is not None
    changed = wx.update(pending, odb.WorkflowExecutionUpdate(metadata={"k": 1}))
    assert changed.first_started_at == started.first_started_at
    assert changed.updated_at > started.updated_at
    conn.commit()
    raw = _run(repos, world, steps=0)
    own_sql(
        conn,
        "UPDATE workflow_executions SET status = 'running',"
        " started_at = '2026-01-02T03:04:05Z' WHERE id = %s",
        [raw],
    )
    own_sql(
        conn,
        "UPDATE workflow_executions SET started_at = '2026-02-02T00:00:00Z' WHERE id = %s",
        [raw],
    )
    conn.commit()
    got = wx.get(raw)
    assert got is not None and got.first_started_at is not None
    assert got.first_started_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert got.started_at is not None and got.started_at.month == 2


def test_fail_with_retry_retries_in_one_statement_while_retries_are_left(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx, steps = repos.workflow_executions, repos.workflow_steps
    run_id = _run(repos, world, retries=1)
    wx.claim("w")
    (step,) = steps.list_for_execution(run_id)
    steps.start(step.id, worker_id="w")
    moved = steps.fail(step.id, {"error": "flaky 1"}, retry=True, worker_id="w")
    assert (moved.status, moved.retry_count, moved.restart_count) == (St.RETRYING, 1, 0)
    assert moved.error_details == {"error": "flaky 1"}
    steps.start(step.id, worker_id="w")
    last = steps.fail(step.id, {"error": "flaky 2"}, retry=True, worker_id="w")
    assert (last.status, last.retry_count) == (St.FAILED, 1)  # no retry left: it fails
    conn.commit()
    assert steps.get(step.id) == last
    moves = [
        (t.from_status, t.to_status, t.error_details)
        for t in wx.history(run_id)
        if t.workflow_step_id == step.id
    ]
    assert moves == [
        (None, "pending", None),
        ("pending", "running", None),
        ("running", "retrying", {"error": "flaky 1"}),  # one statement, its error kept
        ("retrying", "running", None),
        ("running", "failed", {"error": "flaky 2"}),
    ]
    tries = steps.attempts(step.id)
    assert [(a.attempt, a.kind, a.outcome, a.error_details) for a in tries] == [
        (1, "first", St.RETRYING, {"error": "flaky 1"}),
        (2, "retry", St.FAILED, {"error": "flaky 2"}),
    ]
    with pytest.raises(pydantic.ValidationError):
        steps.fail(step.id, {"e": 1}, retry="yes")  # type: ignore[arg-type]
    assert steps.get(step.id) == last


def test_a_restart_after_a_requeue_is_counted_and_spends_no_retry(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx, steps = repos.workflow_executions, repos.workflow_steps
    run_id = _run(repos, world, retries=1)
    (step,) = steps.list_for_execution(run_id)
    for worker in ("w-1", "w-2"):  # each worker dies holding the run
        wx.claim(worker)
        steps.start(step.id, worker_id=worker)
        conn.commit()
        _expire(conn, run_id)
        assert [r.id for r in wx.reap_expired()] == [run_id]
        conn.commit()
        make_due(conn)
    wx.claim("w-3")
    again = steps.start(step.id, worker_id="w-3")
    assert (again.status, again.retry_count, again.restart_count) == (St.RUNNING, 0, 2)
    retried = steps.fail(step.id, {"error": "x"}, retry=True, worker_id="w-3")
    assert (retried.status, retried.retry_count, retried.restart_count) == (St.RETRYING, 1, 2)
    steps.start(step.id, worker_id="w-3")
    done = steps.complete(step.id, worker_id="w-3")
    conn.commit()
    assert (done.retry_count, done.restart_count) == (1, 2)
    assert steps.get(step.id) == done
    tries = steps.attempts(step.id)
    assert [(a.kind, a.execution_attempt, a.worker_id, a.outcome) for a in tries] == [
        ("first", 1, "w-1", St.FAILED),
        ("restart", 2, "w-2", St.FAILED),
        ("restart", 3, "w-3", St.RETRYING),
        ("retry", 3, "w-3", St.COMPLETED),
    ]


@pytest.mark.sync_only  # a migration test: no async twin
def test_0020_0021_fill_first_started_at_from_the_log_without_touching_updated_at(
    empty_db_dsn: str,
) -> None:
    """Runs written before 0020: a running one, a requeued one (started_at
    cleared, its first start only in the log) and one never started. 0021's
    batched backfill gives the first two their first start; updated_at stays
    (optimistic concurrency tokens survive); the unused index is gone."""
    migrate(empty_db_dsn)
    later = MIGRATION_IDS[MIGRATION_IDS.index("0020.first-start-and-restarts") :]
    assert rollback(empty_db_dsn, steps=len(later)) == list(reversed(later))
    with psycopg.connect(empty_db_dsn) as conn:
        customer = conn.execute(
            "INSERT INTO customers (name, email, api_key_hash) VALUES ('a', 'a@x.test', %s)"
            " RETURNING id",
            ("a" * 64,),
        ).fetchone()[0]  # type: ignore[index]
        agent = conn.execute(
            "INSERT INTO agents (type, name) VALUES ('cost', 'c') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(  # more than one batch of 5,000, never started
            "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type)"
            " SELECT %s, %s, 'cost_analysis' FROM generate_series(1, 6001)",
            (agent, customer),
        )
        running, requeued = (
            conn.execute(
                "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type, status,"
                " started_at, attempt) VALUES (%s, %s, 'cost_analysis', 'running', %s, 1)"
                " RETURNING id",
                (agent, customer, at),
            ).fetchone()[0]  # type: ignore[index]
            for at in ("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z")
        )
        conn.execute(  # requeued: its start is in the log only
            "UPDATE workflow_executions SET status = 'pending', started_at = NULL WHERE id = %s",
            (requeued,),
        )
        stamps = conn.execute(
            "SELECT id, updated_at FROM workflow_executions ORDER BY id"
        ).fetchall()
    assert migrate(empty_db_dsn) == list(later)
    with psycopg.connect(empty_db_dsn) as conn:
        firsts = dict(
            conn.execute(  # type: ignore[arg-type]
                "SELECT id, first_started_at FROM workflow_executions"
                " WHERE first_started_at IS NOT NULL"
            ).fetchall()
        )
        assert firsts == {
            running: datetime(2026, 3, 1, tzinfo=UTC),
            requeued: datetime(2026, 3, 2, tzinfo=UTC),
        }
        after = conn.execute("SELECT id, updated_at FROM workflow_executions ORDER BY id")
        assert after.fetchall() == stamps
        assert conn.execute(
            "SELECT to_regclass('ix_workflow_executions_started_at')"
        ).fetchone() == (None,)
