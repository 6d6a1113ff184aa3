"""Operator queries (issue #9): status collections, finished windows,
count_by_status, list_running, get_details, failure_summary and stats, each
against hand-built data with the answer asserted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pydantic
import pytest

import optiinfra_db as odb
from tests.conftest import World

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]
S = odb.WorkflowStatus
St = odb.StepStatus
NOW = datetime.now(UTC)


def _run(
    conn: Conn,
    world: World,
    status: S,
    *,
    created: timedelta,
    finished: timedelta | None = None,
    workflow_type: str = "cost_analysis",
    customer: UUID | None = None,
    agent: UUID | None = None,
    worker: str | None = None,
) -> UUID:
    """One execution with exact timestamps (created and finished that long ago)."""
    ident = uuid4()
    started = NOW - created if status is not S.PENDING else None
    conn.execute(
        "INSERT INTO workflow_executions (id, agent_id, customer_id, workflow_type, status,"
        " created_at, started_at, completed_at, worker_id, lease_expires_at, attempt)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            ident,
            agent or world.agent.id,
            customer or world.customer.id,
            workflow_type,
            status.value,
            NOW - created,
            started,
            None if finished is None else NOW - finished,
            worker,
            NOW + timedelta(minutes=1) if worker else None,
            1 if worker else 0,
        ],
    )
    return ident


@pytest.fixture
def history(conn: Conn, world: World, repos: odb.Repositories) -> dict[str, Any]:
    other = repos.customers.create(
        odb.CustomerCreate(name="Other", email="o@x.test", api_key=odb.new_api_key())
    )
    agent2 = repos.agents.create(odb.AgentCreate(type=odb.AgentType.RESOURCE, name="res-1"))
    repos.workflow_executions.cancel(world.execution.id)  # out of the way
    conn.execute(
        "UPDATE workflow_executions SET created_at = %s, completed_at = %s WHERE id = %s",
        [NOW - timedelta(days=30), NOW - timedelta(days=30), world.execution.id],
    )
    h = {
        "old_failed": _run(
            conn, world, S.FAILED, created=timedelta(days=3), finished=timedelta(days=3)
        ),
        "late_failed": _run(
            conn, world, S.FAILED, created=timedelta(minutes=61), finished=timedelta(minutes=5)
        ),
        "timeout": _run(
            conn, world, S.TIMEOUT, created=timedelta(hours=2), finished=timedelta(hours=1)
        ),
        "done": _run(
            conn, world, S.COMPLETED, created=timedelta(minutes=30), finished=timedelta(minutes=20)
        ),
        "running_a": _run(conn, world, S.RUNNING, created=timedelta(minutes=10), worker="w-a"),
        "running_b": _run(
            conn, world, S.RUNNING, created=timedelta(minutes=3), worker="w-b", agent=agent2.id
        ),
        "pending": _run(conn, world, S.PENDING, created=timedelta(minutes=1)),
        "other_failed": _run(
            conn,
            world,
            S.FAILED,
            created=timedelta(minutes=50),
            finished=timedelta(minutes=40),
            customer=other.id,
            workflow_type="health_check",
        ),
    }
    conn.commit()
    return {**h, "other": other.id, "agent2": agent2.id, "cancelled": world.execution.id}


def test_status_takes_a_collection(
    repos: odb.Repositories, world: World, history: dict[str, Any]
) -> None:
    wx = repos.workflow_executions
    bad = {S.FAILED, S.TIMEOUT}
    got = [r.id for r in wx.list_for_customer(world.customer.id, status=bad)]
    assert got == [history["late_failed"], history["timeout"], history["old_failed"]]
    assert [r.id for r in wx.list_for_customer(world.customer.id, status=S.TIMEOUT)] == [
        history["timeout"]
    ]
    assert [r.id for r in wx.list_for_customer(world.customer.id, status=["timeout"])] == [
        history["timeout"]
    ]
    assert {r.id for r in wx.list(status=bad)} == {
        history["late_failed"],
        history["timeout"],
        history["old_failed"],
        history["other_failed"],
    }
    assert [r.id for r in wx.list_for_agent(history["agent2"], status=(S.RUNNING, S.PENDING))] == [
        history["running_b"]
    ]
    streamed = [r.id for r in wx.iter_for_customer(world.customer.id, status=bad, batch_size=2)]
    assert streamed == got


def test_finished_windows_find_a_run_created_long_before_it_failed(
    repos: odb.Repositories, world: World, history: dict[str, Any]
) -> None:
    wx = repos.workflow_executions
    recent = NOW - timedelta(minutes=10)
    # created 61 minutes ago, failed 5 minutes ago: a created_at window misses it
    assert history["late_failed"] not in {
        r.id for r in wx.list_for_customer(world.customer.id, since=recent)
    }
    got = wx.list_for_customer(
        world.customer.id, status={S.FAILED, S.TIMEOUT}, finished_since=recent
    )
    assert [r.id for r in got] == [history["late_failed"]]
    window = wx.list(
        finished_since=NOW - timedelta(hours=2), finished_until=NOW - timedelta(minutes=15)
    )
    assert {r.id for r in window} == {history["timeout"], history["done"], history["other_failed"]}
    assert [r.id for r in wx.list_for_agent(world.agent.id, finished_since=recent)] == [
        history["late_failed"]
    ]


def test_count_by_status(repos: odb.Repositories, world: World, history: dict[str, Any]) -> None:
    wx = repos.workflow_executions
    everything = wx.count_by_status()
    assert everything == {
        S.PENDING: 1,
        S.RUNNING: 2,
        S.COMPLETED: 1,
        S.FAILED: 3,
        S.CANCELLED: 1,
        S.TIMEOUT: 1,
    }
    mine = wx.count_by_status(customer_id=world.customer.id, since=NOW - timedelta(hours=3))
    assert mine == {
        S.PENDING: 1,
        S.RUNNING: 2,
        S.COMPLETED: 1,
        S.FAILED: 1,
        S.CANCELLED: 0,
        S.TIMEOUT: 1,
    }
    assert wx.count_by_status(agent_id=history["agent2"])[S.RUNNING] == 1
    assert sum(wx.count_by_status(customer_id=history["other"]).values()) == 1


def test_list_running_with_the_current_step(
    repos: odb.Repositories, world: World, conn: Conn, history: dict[str, Any]
) -> None:
    steps = repos.workflow_steps
    steps.bulk_create(
        odb.WorkflowStepCreate(
            workflow_execution_id=history["running_a"],
            step_name=name,
            step_order=i,
            status=status,
        )
        for i, (name, status) in enumerate(
            [("fetch", St.COMPLETED), ("analyse", St.PENDING), ("report", St.PENDING)], 1
        )
    )
    conn.commit()
    (analyse,) = [s for s in steps.list_for_execution(history["running_a"]) if s.step_order == 2]
    running = repos.workflow_executions.list_running()
    assert [r.id for r in running] == [history["running_b"], history["running_a"]]
    b, a = running
    assert b.current_step_name is None and b.worker_id == "w-b"
    assert (a.current_step_name, a.current_step_order, a.current_step_status) == (
        "analyse",
        2,
        St.PENDING,
    )
    steps.start(analyse.id)
    (a,) = repos.workflow_executions.list_running(
        customer_id=world.customer.id, agent_id=world.agent.id
    )
    assert (a.current_step_id, a.current_step_status) == (analyse.id, St.RUNNING)
    assert a.current_step_started_at is not None and a.lease_expires_at is not None
    page1 = repos.workflow_executions.list_running(limit=1)
    page2 = repos.workflow_executions.list_running(limit=1, after=page1[-1])
    assert [r.id for r in page1 + page2] == [history["running_b"], history["running_a"]]
    assert repos.workflow_executions.list_running(customer_id=history["other"]) == []


def test_get_details_in_the_order_asked(
    repos: odb.Repositories, world: World, history: dict[str, Any]
) -> None:
    wx = repos.workflow_executions
    asked = [history["done"], UUID(int=3), history["pending"], history["done"]]
    got = wx.get_details(asked)
    assert [d.execution.id for d in got] == [history["done"], history["pending"], history["done"]]
    assert got[0] == wx.get_detail(history["done"])
    assert wx.get_details([]) == []
    with pytest.raises(pydantic.ValidationError):
        wx.get_details([uuid4() for _ in range(1001)])


def test_failure_summary(repos: odb.Repositories, world: World, conn: Conn) -> None:
    wx, steps = repos.workflow_executions, repos.workflow_steps
    wx.cancel(world.execution.id)
    made = []
    for _ in range(3):
        made.append(
            wx.create_with_steps(
                odb.WorkflowExecutionCreate(
                    agent_id=world.agent.id,
                    customer_id=world.customer.id,
                    workflow_type=odb.WorkflowType.SCALING_DECISION,
                ),
                [odb.NewWorkflowStep(step_name="apply", step_order=1, max_retries=2)],
            ).steps[0]
        )
        conn.commit()
    for n, step in enumerate(made):
        wx.claim("w", workflow_types=[odb.WorkflowType.SCALING_DECISION])
        steps.start(step.id)
        steps.fail(step.id, {"error": "Quota", "n": n})
        if n == 0:  # retried and then succeeded: a failed attempt that ended no run
            steps.retry(step.id)
            steps.start(step.id)
            steps.complete(step.id)
            wx.complete(step.workflow_execution_id)
        else:
            wx.fail(step.workflow_execution_id, {"error": "step apply failed"})
    conn.commit()
    (row,) = steps.failure_summary(workflow_type=odb.WorkflowType.SCALING_DECISION)
    assert (row.step_name, row.workflow_type) == ("apply", odb.WorkflowType.SCALING_DECISION)
    assert (row.failed_attempts, row.runs_ended) == (3, 2)
    assert row.latest_error == {"error": "Quota", "n": 2}
    assert steps.failure_summary(since=datetime.now(UTC) + timedelta(seconds=1)) == []
    assert steps.failure_summary(customer_id=uuid4()) == []


def test_stats_is_public_and_filters_by_customer(
    repos: odb.Repositories, world: World, history: dict[str, Any]
) -> None:
    wx = repos.workflow_executions
    stats = {s.workflow_type: s for s in wx.stats()}
    cost = stats[odb.WorkflowType.COST_ANALYSIS]
    # every run created in the window, pending included (the pending run and
    # the one cancelled while pending count too)
    assert (cost.total, cost.failed, cost.timeout, cost.completed, cost.running) == (8, 2, 1, 1, 2)
    assert (cost.pending, cost.cancelled) == (1, 1)
    assert cost.success_rate_pct == pytest.approx(100 * 1 / 5, abs=0.05)
    # stats and count_by_status count the same runs for the same window
    for since in (None, NOW - timedelta(hours=3)):
        counted = wx.count_by_status(since=since)
        assert sum(s.total for s in wx.stats(since=since)) == sum(counted.values())
        assert sum(s.pending for s in wx.stats(since=since)) == counted[S.PENDING]
    assert wx.stats(until=datetime(2000, 1, 1, tzinfo=UTC)) == []
    mine = repos.workflow_executions.stats(customer_id=history["other"])
    assert [(s.workflow_type, s.total, s.failed) for s in mine] == [
        (odb.WorkflowType.HEALTH_CHECK, 1, 1)
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda wx: wx.list(status="exploded"),
        lambda wx: wx.list(status=[]),
        lambda wx: wx.list(status=[S.FAILED, "nope"]),
        lambda wx: wx.list(status=7),
        lambda wx: wx.list(finished_since=datetime(2026, 1, 1)),  # naive
        lambda wx: wx.count_by_status(since=datetime(2026, 1, 1)),
        lambda wx: wx.count_by_status(customer_id="x"),
        lambda wx: wx.list_running(limit=0),
        lambda wx: wx.get_details(["not-a-uuid"]),
    ],
)
def test_bad_operator_input_is_refused_before_any_sql(
    repos: odb.Repositories, conn: Conn, call: Any
) -> None:
    with pytest.raises(pydantic.ValidationError):
        call(repos.workflow_executions)
    assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
