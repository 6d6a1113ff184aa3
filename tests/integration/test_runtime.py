"""The workflow runtime (issue #8): claims, leases, heartbeats, fencing,
recovery by the reaper, and the transition log the database keeps.

Every test runs against the real database; concurrency tests use one
connection per thread (or a separate process) as a service would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pydantic
import pytest

import optiinfra_db as odb
from tests.conftest import World
from tests.sides import api, make_due, own_sql

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = [pytest.mark.usefixtures("side"), pytest.mark.tenant]

Conn = psycopg.Connection[Any]
S = odb.WorkflowStatus
St = odb.StepStatus
SHORT = timedelta(milliseconds=300)


def _runs(
    repos: odb.Repositories,
    world: World,
    n: int,
    *,
    steps: int = 0,
    max_attempts: int = 1,
    workflow_type: odb.WorkflowType = odb.WorkflowType.HEALTH_CHECK,
) -> list[UUID]:
    ids = []
    for _ in range(n):
        detail = repos.workflow_executions.create_with_steps(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=workflow_type,
                max_attempts=max_attempts,
            ),
            [odb.NewWorkflowStep(step_name=f"step-{i}", step_order=i) for i in range(1, steps + 1)],
        )
        ids.append(detail.execution.id)
        repos.conn.commit()  # one transaction each: distinct created_at, in order
    return ids


def _expire(conn: Conn, *ids: UUID) -> None:
    """Age the leases of these runs into the past (as if their worker stopped)."""
    own_sql(
        conn,
        "UPDATE workflow_executions SET lease_expires_at = now() - interval '1 second'"
        " WHERE id = ANY(%s)",
        [list(ids)],
    )
    conn.commit()


# -- claim ----------------------------------------------------------------------------


def test_claim_takes_the_oldest_pending_and_holds_it(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    first, second, third = _runs(repos, world, 3)
    wx = repos.workflow_executions
    claimed = wx.claim("w-1", limit=2, lease=timedelta(seconds=30))
    conn.commit()
    # world.execution is the oldest pending run
    assert [r.id for r in claimed] == [world.execution.id, first]
    for run in claimed:
        assert run.status is S.RUNNING and run.worker_id == "w-1" and run.attempt == 1
        assert run.started_at is not None and run.heartbeat_at is not None
        assert run.lease_expires_at is not None
        left = run.lease_expires_at - run.heartbeat_at
        assert timedelta(seconds=29) < left <= timedelta(seconds=30)
        assert wx.get(run.id) == run
    assert [r.id for r in wx.claim("w-2", limit=5)] == [second, third]
    assert wx.claim("w-3") == []


def test_claim_filters(repos: odb.Repositories, world: World, conn: Conn) -> None:
    (cost,) = _runs(repos, world, 1, workflow_type=odb.WorkflowType.COST_ANALYSIS)
    other_agent = repos.agents.create(odb.AgentCreate(type=odb.AgentType.RESOURCE, name="r-1"))
    conn.commit()
    wx = repos.workflow_executions
    assert wx.claim("w", workflow_types=[odb.WorkflowType.SCALING_DECISION]) == []
    assert wx.claim("w", agent_id=other_agent.id) == []
    got = wx.claim("w", limit=5, workflow_types=[odb.WorkflowType.COST_ANALYSIS])
    assert {r.id for r in got} == {world.execution.id, cost}
    assert all(r.workflow_type is odb.WorkflowType.COST_ANALYSIS for r in got)
    (health,) = _runs(repos, world, 1)
    assert [r.id for r in wx.claim("w", customer_id=world.customer.id)] == [health]


def test_eight_threads_claim_500_runs_each_exactly_once(
    repos: odb.Repositories, world: World, conn: Conn, db_dsn: str
) -> None:
    wx = repos.workflow_executions
    assert wx.cancel(world.execution.id).status is S.CANCELLED
    conn.commit()
    made = set(_runs(repos, world, 500))
    claims: list[tuple[str, UUID]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with api.connect(db_dsn, autocommit=True) as c:
                mine = api.Repositories(c).workflow_executions
                barrier.wait()
                while got := mine.claim(name, limit=3):
                    with lock:
                        claims.extend((name, r.id) for r in got)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    counted = Counter(run for _, run in claims)
    assert set(counted) == made  # none lost
    assert max(counted.values()) == 1  # none claimed twice
    by_worker = dict(
        own_sql(
            conn,
            "SELECT worker_id, count(*) FROM workflow_executions"
            " WHERE status = 'running' AND attempt = 1 GROUP BY worker_id",
        ).fetchall()
    )
    assert sum(by_worker.values()) == 500
    assert by_worker == dict(Counter(name for name, _ in claims))


# -- heartbeat and fencing ------------------------------------------------------------------


def test_heartbeat_extends_only_a_live_lease_of_its_holder(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    (run,) = wx.claim("w-1", lease=timedelta(seconds=5))
    beat = wx.heartbeat(run.id, "w-1", lease=timedelta(seconds=60))
    assert beat.lease_expires_at is not None and run.lease_expires_at is not None
    assert beat.lease_expires_at > run.lease_expires_at
    assert beat.heartbeat_at is not None and beat.heartbeat_at > run.heartbeat_at  # type: ignore[operator]
    with pytest.raises(odb.LeaseLostError, match="held by 'w-1'") as other:
        wx.heartbeat(run.id, "w-2")
    assert isinstance(other.value, odb.InvalidTransitionError)
    conn.commit()
    _expire(conn, run.id)
    with pytest.raises(odb.LeaseLostError, match="lease expired"):
        wx.heartbeat(run.id, "w-1")
    with pytest.raises(odb.NotFoundError):
        wx.heartbeat(UUID(int=7), "w-1")
    assert wx.get(run.id).lease_expires_at < beat.lease_expires_at  # type: ignore[operator,union-attr]


def test_fencing_refuses_a_worker_that_lost_its_lease(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    (run_id,) = _runs(repos, world, 1, steps=2)
    wx, steps = repos.workflow_executions, repos.workflow_steps
    wx.cancel(world.execution.id)
    (run,) = wx.claim("w-1")
    one, two = steps.list_for_execution(run.id)
    steps.start(one.id, worker_id="w-1")
    art = odb.WorkflowArtifactCreate(
        workflow_execution_id=run.id,
        workflow_step_id=one.id,
        artifact_type=odb.ArtifactType.LOG,
        artifact_name="log",
        artifact_path="s3://x/log",
    )
    assert repos.workflow_artifacts.create(art, worker_id="w-1").workflow_step_id == one.id
    for call in (
        lambda: steps.complete(one.id, worker_id="w-2"),
        lambda: steps.fail(one.id, {"e": 1}, worker_id="w-2"),
        lambda: steps.skip(two.id, worker_id="w-2"),
        lambda: steps.retry(one.id, worker_id="w-2"),
        lambda: steps.start(two.id, worker_id="w-2"),
        lambda: repos.workflow_artifacts.create(art, worker_id="w-2"),
        lambda: wx.complete(run.id, worker_id="w-2", skip_remaining=True),
        lambda: wx.fail(run.id, {"e": 1}, worker_id="w-2"),
        lambda: wx.cancel(run.id, worker_id="w-2"),
        lambda: wx.time_out(run.id, worker_id="w-2"),
    ):
        with pytest.raises(odb.LeaseLostError, match="held by 'w-1'"):
            call()
    conn.commit()
    _expire(conn, run.id)
    with pytest.raises(odb.LeaseLostError, match="lease expired"):
        steps.complete(one.id, worker_id="w-1")
    with pytest.raises(odb.LeaseLostError, match="lease expired"):
        repos.workflow_artifacts.create(art, worker_id="w-1")
    with pytest.raises(odb.LeaseLostError, match="lease expired"):
        wx.complete(run.id, worker_id="w-1")
    conn.commit()
    # nothing the late worker sent was written
    assert steps.get(one.id).status is St.RUNNING  # type: ignore[union-attr]
    assert len(repos.workflow_artifacts.list_for_execution(run.id)) == 1
    assert [r.id for r in wx.reap_expired()] == [run_id]
    with pytest.raises(odb.LeaseLostError, match="execution is timeout"):
        steps.start(two.id, worker_id="w-1")


def test_the_log_names_who_acted_beside_the_holder(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    """actor is who made the move: the worker for its own calls, "reaper"
    for reap_expired, the operator's actor= for its calls, None for raw SQL;
    worker_id stays the run's holder."""
    wx, steps = repos.workflow_executions, repos.workflow_steps
    wx.cancel(world.execution.id, actor="ops@console")
    _first, second = _runs(repos, world, 2, steps=1, max_attempts=2)
    (run,) = wx.claim("w-1", reason="picked up")
    (step,) = steps.list_for_execution(run.id)
    steps.start(step.id, worker_id="w-1")
    conn.commit()
    _expire(conn, run.id)
    assert [r.id for r in wx.reap_expired()] == [run.id]
    make_due(conn)
    (_again,) = wx.claim("w-2")
    steps.start(step.id, worker_id="w-2")
    wx.cancel(run.id, actor="ops@console", reason="customer asked")
    own_sql(conn, "UPDATE workflow_executions SET status = 'running' WHERE id = %s", [second])
    conn.commit()
    log = wx.history(run.id)
    run_moves = [(t.to_status, t.actor, t.worker_id) for t in log if t.workflow_step_id is None]
    step_moves = [(t.to_status, t.actor, t.worker_id) for t in log if t.workflow_step_id]
    assert run_moves == [
        ("pending", None, None),
        ("running", "w-1", "w-1"),
        ("pending", "reaper", "w-1"),  # requeued by the reaper: w-1 held it
        ("running", "w-2", "w-2"),
        ("cancelled", "ops@console", "w-2"),  # an operator's cancel: w-2 held it
    ]
    assert step_moves == [
        ("pending", None, None),
        ("running", "w-1", "w-1"),
        ("failed", "reaper", "w-1"),  # the dead worker's step, failed by the reaper
        ("running", "w-2", "w-2"),
        ("failed", "ops@console", "w-2"),
    ]
    assert [t.actor for t in wx.history(world.execution.id)][-1] == "ops@console"
    assert wx.history(second)[-1].actor is None  # a move made outside the library
    assert wx.reap_expired(actor="reaper-7") == []
    with pytest.raises(pydantic.ValidationError):
        wx.cancel(second, actor="x" * 256)


def test_a_lost_lease_says_what_happened_to_the_run(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    """LeaseLostError tells the worker why (cause), how the run stands now
    (run_status, holder, lease_expires_at), and names the refused call."""
    wx, steps = repos.workflow_executions, repos.workflow_steps
    wx.cancel(world.execution.id)
    (run_id,) = _runs(repos, world, 1, steps=2, max_attempts=3)
    (_run,) = wx.claim("w-1")
    one, _ = steps.list_for_execution(run_id)
    steps.start(one.id, worker_id="w-1")
    conn.commit()
    _expire(conn, run_id)
    with pytest.raises(odb.LeaseLostError) as expired:
        repos.workflow_artifacts.create(
            odb.WorkflowArtifactCreate(
                workflow_execution_id=run_id,
                artifact_type=odb.ArtifactType.LOG,
                artifact_name="log",
                artifact_path="s3://x/log",
            ),
            worker_id="w-1",
        )
    lost = expired.value
    assert (lost.cause, lost.run_status, lost.holder) == ("lease_expired", "running", "w-1")
    assert lost.lease_expires_at is not None and lost.execution_id == run_id
    assert f"worker 'w-1' can't add an artifact to execution {run_id}" in str(lost)
    conn.rollback()
    assert [r.id for r in wx.reap_expired()] == [run_id]
    conn.commit()
    with pytest.raises(odb.LeaseLostError) as requeued:
        steps.complete(one.id, worker_id="w-1")
    assert (requeued.value.cause, requeued.value.run_status) == ("requeued", "pending")
    assert f"can't complete step {one.id} of execution {run_id}" in str(requeued.value)
    conn.rollback()
    make_due(conn)
    (_again,) = wx.claim("w-2")
    conn.commit()
    with pytest.raises(odb.LeaseLostError) as other:
        wx.heartbeat(run_id, "w-1")
    assert (other.value.cause, other.value.holder) == ("held_by_other", "w-2")
    assert f"can't renew its lease on execution {run_id}" in str(other.value)
    conn.rollback()
    wx.cancel(run_id, reason="operator")
    conn.commit()
    with pytest.raises(odb.LeaseLostError) as cancelled:
        wx.complete(run_id, worker_id="w-2")
    assert (cancelled.value.cause, cancelled.value.run_status) == ("cancelled", "cancelled")
    assert f"can't complete execution {run_id}" in str(cancelled.value)
    conn.rollback()
    (done,) = _runs(repos, world, 1)
    (claimed,) = wx.claim("w-3")
    wx.complete(claimed.id, worker_id="w-3")
    conn.commit()
    with pytest.raises(odb.LeaseLostError) as finished:
        wx.heartbeat(done, "w-3")
    assert (finished.value.cause, finished.value.run_status) == ("finished", "completed")
    assert set(odb.LeaseLostError.CAUSES) == {
        "cancelled",
        "requeued",
        "finished",
        "held_by_other",
        "lease_expired",
    }


def test_steps_move_only_while_their_execution_runs(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    (run_id,) = _runs(repos, world, 1, steps=1)
    (step,) = repos.workflow_steps.list_for_execution(run_id)
    with pytest.raises(odb.InvalidTransitionError, match=f"execution {run_id} is pending"):
        repos.workflow_steps.start(step.id)
    with pytest.raises(odb.InvalidTransitionError, match="is pending"):
        repos.workflow_steps.skip(step.id)
    repos.workflow_executions.cancel(run_id)
    with pytest.raises(odb.InvalidTransitionError, match="is cancelled"):
        repos.workflow_steps.start(step.id)
    assert repos.workflow_steps.get(step.id).status is St.SKIPPED  # type: ignore[union-attr]


# -- no run ends with open steps --------------------------------------------------------------


def test_complete_refuses_open_steps_unless_skipping_the_pending(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    (run_id,) = _runs(repos, world, 1, steps=3)
    wx, steps = repos.workflow_executions, repos.workflow_steps
    wx.cancel(world.execution.id)
    wx.claim("w")
    one, two, three = steps.list_for_execution(run_id)
    steps.start(one.id)
    with pytest.raises(
        odb.InvalidTransitionError, match=r"1 step\(s\) running or retrying and 2 pending"
    ):
        wx.complete(run_id)
    with pytest.raises(odb.InvalidTransitionError, match="running or retrying"):
        wx.complete(run_id, skip_remaining=True)
    steps.complete(one.id)
    with pytest.raises(odb.InvalidTransitionError, match="2 pending"):
        wx.complete(run_id, worker_id="w")
    done = wx.complete(run_id, worker_id="w", skip_remaining=True, reason="enough")
    assert done.status is S.COMPLETED and done.lease_expires_at is None and done.worker_id == "w"
    assert [s.status for s in steps.list_for_execution(run_id)] == [
        St.COMPLETED,
        St.SKIPPED,
        St.SKIPPED,
    ]
    moves = [(t.workflow_step_id, t.to_status, t.reason) for t in wx.history(run_id)]
    assert (None, "completed", "enough") in moves
    assert (two.id, "skipped", "enough") in moves and (three.id, "skipped", "enough") in moves


@pytest.mark.parametrize(
    ("end", "status"),
    [
        (lambda wx, i: wx.fail(i, {"code": 500}, reason="upstream died"), S.FAILED),
        (lambda wx, i: wx.cancel(i, reason="upstream died"), S.CANCELLED),
        (lambda wx, i: wx.time_out(i, reason="upstream died"), S.TIMEOUT),
    ],
)
def test_fail_cancel_time_out_close_the_open_steps(
    repos: odb.Repositories, world: World, conn: Conn, end: Any, status: S
) -> None:
    (run_id,) = _runs(repos, world, 1, steps=4)
    wx, steps = repos.workflow_executions, repos.workflow_steps
    wx.cancel(world.execution.id)
    wx.claim("w")
    one, two, three, four = steps.list_for_execution(run_id)
    steps.start(one.id)
    steps.complete(one.id)
    steps.start(two.id)
    steps.start(three.id)
    steps.retry(three.id)  # running -> retrying
    ended = end(wx, run_id)
    assert ended.status is status
    if status is S.TIMEOUT:
        assert ended.error_details == {"reason": "upstream died"}
    got = {s.id: s for s in steps.list_for_execution(run_id)}
    assert got[one.id].status is St.COMPLETED
    for open_ in (two.id, three.id):
        assert got[open_].status is St.FAILED
        assert got[open_].error_details is not None
        assert got[open_].error_details["reason"] == "upstream died"
        assert got[open_].error_details["execution_status"] == status.value
    assert got[four.id].status is St.SKIPPED
    (attempt,) = steps.attempts(two.id)
    assert attempt.outcome is St.FAILED and attempt.error_details == got[two.id].error_details


# -- the reaper ----------------------------------------------------------------------------


def test_reaper_requeues_then_times_out_at_max_attempts(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx, steps = repos.workflow_executions, repos.workflow_steps
    wx.cancel(world.execution.id)
    (run_id,) = _runs(repos, world, 1, steps=3, max_attempts=2)
    one, two, three = steps.list_for_execution(run_id)
    (_run,) = wx.claim("w-1")
    steps.start(one.id)
    steps.complete(one.id)
    steps.start(two.id)
    conn.commit()
    assert wx.reap_expired() == []  # lease still live
    _expire(conn, run_id)
    (requeued,) = wx.reap_expired()
    conn.commit()
    assert requeued.status is S.PENDING and requeued.worker_id is None
    assert requeued.lease_expires_at is None and requeued.attempt == 1
    assert requeued.error_details is not None
    assert requeued.error_details["reason"] == "lease_expired"
    assert requeued.error_details["worker_id"] == "w-1"
    assert requeued.error_details["attempt"] == 1
    got = {s.id: s.status for s in steps.list_for_execution(run_id)}
    assert got == {one.id: St.COMPLETED, two.id: St.FAILED, three.id: St.PENDING}

    make_due(conn)
    (again,) = wx.claim("w-2")
    assert again.attempt == 2 and again.error_details is None
    steps.start(two.id, worker_id="w-2")  # the failed step resumes
    conn.commit()
    _expire(conn, run_id)
    (timed_out,) = wx.reap_expired()
    conn.commit()
    assert timed_out.status is S.TIMEOUT and timed_out.worker_id == "w-2"
    assert timed_out.completed_at is not None
    assert timed_out.error_details is not None and timed_out.error_details["attempt"] == 2
    got = {s.id: s.status for s in steps.list_for_execution(run_id)}
    assert got == {one.id: St.COMPLETED, two.id: St.FAILED, three.id: St.SKIPPED}
    runs = [
        (t.from_status, t.to_status, t.worker_id, t.reason)
        for t in wx.history(run_id)
        if t.workflow_step_id is None
    ]
    assert runs == [
        (None, "pending", None, None),
        ("pending", "running", "w-1", None),
        ("running", "pending", "w-1", "lease_expired"),
        ("pending", "running", "w-2", None),
        ("running", "timeout", "w-2", "lease_expired"),
    ]
    tries = steps.attempts(two.id)
    assert [(a.attempt, a.execution_attempt, a.outcome) for a in tries] == [
        (1, 1, St.FAILED),
        (2, 2, St.FAILED),
    ]
    assert tries[0].error_details is not None and tries[0].error_details["worker_id"] == "w-1"
    assert tries[1].error_details is not None and tries[1].error_details["worker_id"] == "w-2"


def test_two_reapers_never_move_a_run_twice(
    repos: odb.Repositories, world: World, conn: Conn, db_dsn: str
) -> None:
    wx = repos.workflow_executions
    wx.cancel(world.execution.id)
    conn.commit()
    _runs(repos, world, 300, max_attempts=3)
    claimed = wx.claim("w", limit=300)
    conn.commit()
    _expire(conn, *(r.id for r in claimed))
    moved: list[UUID] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def reaper() -> None:
        with api.connect(db_dsn, autocommit=True) as c:
            mine = api.Repositories(c).workflow_executions
            barrier.wait()
            while got := mine.reap_expired(limit=7):
                with lock:
                    moved.extend(r.id for r in got)

    threads = [threading.Thread(target=reaper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(moved) == 300 and len(set(moved)) == 300
    found = own_sql(
        conn,
        "SELECT count(*) FROM workflow_transitions"
        " WHERE reason = 'lease_expired' AND workflow_step_id IS NULL",
    ).fetchone()
    assert found == (300,)


def _late_worker(
    dsn: str, run_id: UUID, at: datetime, barrier: threading.Barrier, result: dict[str, Any]
) -> None:
    """Heartbeat, then complete, at ``at``: around the moment the lease runs out."""
    with api.connect(dsn, autocommit=True) as c:
        mine = api.Repositories(c).workflow_executions
        barrier.wait()
        time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
        try:
            mine.heartbeat(run_id, "late", lease=timedelta(milliseconds=5))
            result["worker"] = mine.complete(run_id, worker_id="late").status
        except odb.LeaseLostError:
            result["worker"] = "lost"


def _reaper(dsn: str, barrier: threading.Barrier, result: dict[str, Any]) -> None:
    """Reap in a loop for 600 ms, stopping at the first run moved."""
    with api.connect(dsn, autocommit=True) as c:
        mine = api.Repositories(c).workflow_executions
        barrier.wait()
        deadline = time.monotonic() + 0.6
        got: list[UUID] = []
        while time.monotonic() < deadline and not got:
            got = [r.id for r in mine.reap_expired()]
        result["reaper"] = got


def test_reaper_racing_a_late_worker_gives_exactly_one_outcome(
    repos: odb.Repositories, world: World, conn: Conn, db_dsn: str
) -> None:
    """The worker heartbeats and completes while its lease runs out; a reaper
    runs at the same moment. Either the worker's complete landed and the
    reaper left the run alone, or the reaper requeued it and the worker got
    LeaseLostError: never both, never neither."""
    wx = repos.workflow_executions
    wx.cancel(world.execution.id)
    conn.commit()
    outcomes = Counter()
    for i in range(24):
        (run_id,) = _runs(repos, world, 1, max_attempts=5)
        (run,) = wx.claim("late", lease=timedelta(milliseconds=300))
        conn.commit()
        assert run.lease_expires_at is not None
        # the worker acts from 6 ms before to 6 ms after its lease runs out
        at = run.lease_expires_at + timedelta(milliseconds=i % 13 - 6)
        barrier = threading.Barrier(2, timeout=10)
        result: dict[str, Any] = {}
        threads = [
            threading.Thread(target=_late_worker, args=(db_dsn, run_id, at, barrier, result)),
            threading.Thread(target=_reaper, args=(db_dsn, barrier, result)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        final = wx.get(run_id)
        conn.commit()
        assert final is not None
        if result["worker"] == S.COMPLETED:
            assert result["reaper"] == [] and final.status is S.COMPLETED
            outcomes["worker"] += 1
        else:
            assert result["worker"] == "lost" and result["reaper"] == [run_id]
            assert final.status is S.PENDING
            outcomes["reaper"] += 1
        moves = [t.to_status for t in wx.history(run_id) if t.workflow_step_id is None]
        assert ("completed" in moves) != ("pending" in moves[1:])
        if final.status is S.PENDING:
            wx.cancel(run_id)  # out of the next round's queue
            conn.commit()
    print("race outcomes:", dict(outcomes))
    assert sum(outcomes.values()) == 24


def test_a_reaper_skips_a_run_whose_worker_is_writing(
    repos: odb.Repositories, world: World, conn: Conn, db_dsn: str
) -> None:
    """A worker's uncommitted complete holds the row: SKIP LOCKED leaves it,
    and once the complete commits there is nothing to reap."""
    wx = repos.workflow_executions
    wx.cancel(world.execution.id)
    (run_id,) = _runs(repos, world, 1)
    (_run,) = wx.claim("w", lease=timedelta(seconds=1))
    conn.commit()
    with api.connect(db_dsn) as other:
        api.Repositories(other).workflow_executions.complete(run_id, worker_id="w")
        time.sleep(1.1)  # the lease runs out while the complete is uncommitted
        assert wx.reap_expired() == []
        conn.commit()
        other.commit()
    assert wx.reap_expired() == []
    assert wx.get(run_id).status is S.COMPLETED  # type: ignore[union-attr]


_WORKER = r"""
import sys, time
from datetime import UTC, datetime, timedelta
from optiinfra_db import Repositories, connect  # a process of its own: the sync side

with connect(sys.argv[1], autocommit=True) as conn:
    repos = Repositories(conn)
    (run,) = repos.workflow_executions.claim("doomed", lease=timedelta(seconds=1))
    one, two = repos.workflow_steps.list_for_execution(run.id)
    repos.workflow_steps.start(one.id, worker_id="doomed")
    repos.workflow_steps.complete(one.id, {"rows": 10}, worker_id="doomed")
    repos.workflow_steps.start(two.id, worker_id="doomed")
    print("mid-run", flush=True)
    time.sleep(600)
"""


def test_a_worker_process_killed_mid_run_is_recovered(
    repos: odb.Repositories, world: World, conn: Conn, db_dsn: str
) -> None:
    wx, steps = repos.workflow_executions, repos.workflow_steps
    wx.cancel(world.execution.id)
    (run_id,) = _runs(repos, world, 1, steps=2, max_attempts=2)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, db_dsn],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "mid-run"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while not (moved := wx.reap_expired()) and time.monotonic() < deadline:
        conn.commit()
        time.sleep(0.2)
    assert [r.id for r in moved] == [run_id] and moved[0].status is S.PENDING
    conn.commit()

    make_due(conn)
    (run,) = wx.claim("survivor")
    assert run.id == run_id and run.attempt == 2
    for step in steps.list_for_execution(run_id):
        if step.status in (St.COMPLETED, St.SKIPPED):
            continue  # resume at the first unfinished step
        steps.start(step.id, worker_id="survivor")
        steps.complete(step.id, {"ok": True}, worker_id="survivor")
    done = wx.complete(run_id, {"total": 2}, worker_id="survivor")
    conn.commit()
    assert done.status is S.COMPLETED

    runs = [
        (t.to_status, t.worker_id, t.attempt)
        for t in wx.history(run_id)
        if t.workflow_step_id is None
    ]
    assert runs == [
        ("pending", None, 0),
        ("running", "doomed", 1),
        ("pending", "doomed", 1),
        ("running", "survivor", 2),
        ("completed", "survivor", 2),
    ]
    one, two = steps.list_for_execution(run_id)
    assert [a.outcome for a in steps.attempts(one.id)] == [St.COMPLETED]
    first, second = steps.attempts(two.id)
    assert (first.worker_id, first.execution_attempt, first.outcome) == ("doomed", 1, St.FAILED)
    assert first.error_details is not None and first.error_details["reason"] == "lease_expired"
    assert (second.worker_id, second.execution_attempt, second.outcome) == (
        "survivor",
        2,
        St.COMPLETED,
    )
    assert second.error_details is None and two.error_details is None


# -- the transition log ----------------------------------------------------------------------


@pytest.mark.operator_only  # its raw COPY FROM: PostgreSQL refuses it under row-level security
def test_a_raw_update_is_logged_and_inherits_nothing(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    (run,) = wx.claim("w", reason="first of the day")
    # same transaction, after a library call
    own_sql(conn, "UPDATE workflow_executions SET status = 'failed' WHERE id = %s", [run.id])
    conn.commit()
    moves = [(t.from_status, t.to_status, t.worker_id, t.reason) for t in wx.history(run.id)]
    assert moves == [
        (None, "pending", None, None),
        ("pending", "running", "w", "first of the day"),
        ("running", "failed", "w", None),
    ]
    with conn.cursor() as cur:  # COPY logs the first status too
        with cur.copy(
            "COPY workflow_executions (agent_id, customer_id, workflow_type, status) FROM STDIN"
        ) as copy:
            copy.write_row((world.agent.id, world.customer.id, "health_check", "completed"))
        cur.execute(
            "SELECT count(*) FROM workflow_transitions t JOIN workflow_executions e"
            " ON e.id = t.workflow_execution_id WHERE e.status = 'completed'"
            " AND t.from_status IS NULL AND t.to_status = 'completed'"
        )
        assert cur.fetchone() == (1,)
    conn.commit()


def test_the_log_goes_with_its_execution(repos: odb.Repositories, world: World, conn: Conn) -> None:
    (run_id,) = _runs(repos, world, 1, steps=2)
    assert len(repos.workflow_executions.history(run_id)) == 3
    repos.workflow_executions.delete(run_id)
    assert repos.workflow_executions.history(run_id) == []
    with pytest.raises(odb.NotFoundError):
        repos.workflow_steps.attempts(UUID(int=5))


def test_every_failed_attempt_error_survives_a_later_success(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    (run_id,) = _runs(repos, world, 1, steps=1)
    wx, steps = repos.workflow_executions, repos.workflow_steps
    wx.cancel(world.execution.id)
    wx.claim("w")
    (step,) = steps.list_for_execution(run_id)
    for n in (1, 2):
        steps.start(step.id, worker_id="w")
        steps.fail(step.id, {"try": n}, worker_id="w", reason=f"flaky {n}")
        steps.retry(step.id, worker_id="w")
    steps.start(step.id, worker_id="w")
    assert steps.get(step.id).error_details is None  # type: ignore[union-attr]
    steps.complete(step.id, worker_id="w")
    tries = steps.attempts(step.id)
    assert [(a.attempt, a.outcome, a.error_details, a.reason) for a in tries] == [
        (1, St.FAILED, {"try": 1}, "flaky 1"),
        (2, St.FAILED, {"try": 2}, "flaky 2"),
        (3, St.COMPLETED, None, None),
    ]
    assert all(a.worker_id == "w" and a.execution_attempt == 1 for a in tries)
    assert all(a.ended_at is not None and a.ended_at >= a.started_at for a in tries)


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda wx: wx.claim("w", lease=timedelta(0)),
        lambda wx: wx.claim("w", lease=timedelta(seconds=-1)),
        lambda wx: wx.claim("w", lease=timedelta(days=1, seconds=1)),
        lambda wx: wx.claim(""),
        lambda wx: wx.claim("w" * 256),
        lambda wx: wx.claim("w\x00"),
        lambda wx: wx.claim("w", limit=0),
        lambda wx: wx.claim("w", limit=1001),
        lambda wx: wx.claim("w", workflow_types=[]),
        lambda wx: wx.claim("w", workflow_types=["nope"]),
        lambda wx: wx.claim("w", agent_id="not-a-uuid"),
        lambda wx: wx.heartbeat(UUID(int=1), "", lease=timedelta(seconds=1)),
        lambda wx: wx.heartbeat(UUID(int=1), "w", lease=timedelta(0)),
        lambda wx: wx.reap_expired(limit=0),
        lambda wx: wx.reap_expired(limit=1001),
        lambda wx: wx.complete(UUID(int=1), worker_id=""),
        lambda wx: wx.complete(UUID(int=1), skip_remaining="yes please"),
        lambda wx: wx.time_out(UUID(int=1), reason="\x00"),
    ],
)
def test_bad_runtime_input_is_refused_before_any_sql(
    repos: odb.Repositories, conn: Conn, call: Any
) -> None:
    assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
    with pytest.raises(pydantic.ValidationError):
        call(repos.workflow_executions)
    # no statement was sent: the connection never opened a transaction
    assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE


def test_max_attempts_validates_and_reads_back(repos: odb.Repositories, world: World) -> None:
    with pytest.raises(pydantic.ValidationError):
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=odb.WorkflowType.HEALTH_CHECK,
            max_attempts=0,
        )
    (run_id,) = _runs(repos, world, 1, max_attempts=4)
    got = repos.workflow_executions.get(run_id)
    assert got is not None and got.max_attempts == 4 and got.attempt == 0 and got.worker_id is None
