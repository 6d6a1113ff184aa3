"""run_worker (issue: a worker loop in the library, and cancellation that
reaches the running worker), on both sides.

The handler is written once per side (a plain function for the sync loop's
threads, a coroutine function for the asyncio loop's tasks), as a small
interpreter of the run's ``input_data``: ``{"do": "complete" | "retry" |
"fail" | "raise" | "sleep" | "freeze", ...}``. Every assertion reads back
from the database.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pydantic
import pytest

import optiinfra_db as odb
import optiinfra_db.aio as odb_aio
from tests import aio_bridge
from tests.conftest import World
from tests.sides import api, make_due, own_sql
from tests.worker_handlers import start_worker_process

pytestmark = [pytest.mark.usefixtures("side")]

Conn = psycopg.Connection[Any]
S = odb.WorkflowStatus
T = odb.WorkflowType


@dataclass
class Seen:
    """What the handlers saw, for the test to read (filled from their threads)."""

    started: dict[UUID, float] = field(default_factory=dict)
    stopped: dict[UUID, float] = field(default_factory=dict)
    attempts: list[tuple[UUID, int]] = field(default_factory=list)
    late_write: dict[UUID, str] = field(default_factory=dict)


def _plan(job: Any, seen: Seen) -> tuple[str, dict[str, Any]]:
    plan: dict[str, Any] = job.execution.input_data or {}
    seen.started[job.id] = time.monotonic()
    seen.attempts.append((job.id, job.execution.attempt))
    do = plan.get("do", "complete")
    if do == "retry" and job.execution.attempt > 1:
        do = "complete"  # the second attempt succeeds
    return do, plan


def sync_handler(seen: Seen) -> Any:
    def handle(job: odb.Job) -> dict[str, Any] | None:
        do, plan = _plan(job, seen)
        if do == "retry":
            raise odb.Retry(delay=timedelta(0), error_details={"try": "again"})
        if do == "fail":
            raise odb.Fail({"why": "bad input"})
        if do == "raise":
            raise ValueError("boom")
        if do == "sleep":  # writes nothing, watches its cancelled event
            job.cancelled.wait(plan.get("s", 30))
            seen.stopped[job.id] = time.monotonic()
            return {"slept": True}
        if do == "freeze":  # stops short of its lease's end, then writes
            while not job.cancelled.is_set():
                time.sleep(0.05)
            _late_write(job, seen)
            return {"late": True}
        return {"ok": plan.get("n", 0), "steps": len(job.steps)}

    return handle


def async_handler(seen: Seen) -> Any:
    async def handle(job: odb_aio.Job) -> dict[str, Any] | None:
        do, plan = _plan(job, seen)
        if do == "retry":
            raise odb.Retry(delay=timedelta(0), error_details={"try": "again"})
        if do == "fail":
            raise odb.Fail({"why": "bad input"})
        if do == "raise":
            raise ValueError("boom")
        if do == "sleep":  # writes nothing: its task is cancelled
            try:
                await asyncio.sleep(plan.get("s", 30))
            finally:
                seen.stopped[job.id] = time.monotonic()
            return {"slept": True}
        if do == "freeze":
            try:
                await asyncio.sleep(30)
            finally:
                await _late_write_async(job, seen)
        return {"ok": plan.get("n", 0), "steps": len(job.steps)}

    return handle


def _late_write(job: Any, seen: Seen) -> None:
    try:
        job.repos.workflow_executions.complete(job.id, {"late": True}, worker_id=job.worker_id)
        seen.late_write[job.id] = "landed"
    except odb.RepositoryError as exc:
        seen.late_write[job.id] = type(exc).__name__


async def _late_write_async(job: Any, seen: Seen) -> None:
    try:
        await job.repos.workflow_executions.complete(
            job.id, {"late": True}, worker_id=job.worker_id
        )
        seen.late_write[job.id] = "landed"
    except odb.RepositoryError as exc:
        seen.late_write[job.id] = type(exc).__name__


class Running:
    """A run_worker call in a thread of the test (through ``api``), and how
    to stop it from the test's thread."""

    def __init__(self, side: str, dsn: str, seen: Seen, **kw: Any) -> None:
        self.asyncio = side.endswith("async")
        self.loop = aio_bridge.ACTIVE
        size = kw.get("concurrency", 1) + 4
        self.pool = api.create_pool(dsn, min_size=1, max_size=size, kwargs={"autocommit": True})
        self.stop: Any = asyncio.Event() if self.asyncio else threading.Event()
        handler = async_handler(seen) if self.asyncio else sync_handler(seen)
        self.report: Any = None
        self.failed: BaseException | None = None

        def run() -> None:
            try:
                self.report = api.run_worker(self.pool, handler, stop=self.stop, **kw)
            except BaseException as exc:  # the test reads it
                self.failed = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def halt(self, timeout: float = 15) -> Any:
        if self.asyncio:
            assert self.loop is not None
            self.loop.loop.call_soon_threadsafe(self.stop.set)
        else:
            self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run_worker did not return"
        self.pool.close()
        if self.failed is not None:
            raise self.failed
        return self.report


@pytest.fixture
def running(side: str, db_dsn: str) -> Iterator[Any]:
    started: list[Running] = []

    def start(seen: Seen, **kw: Any) -> Running:
        kw.setdefault("worker_id", f"w-{len(started)}")
        kw.setdefault("lease", timedelta(seconds=30))
        worker = Running(side, db_dsn, seen, **kw)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.thread.is_alive():
            worker.halt()


def _create(repos: Any, world: World, plan: dict[str, Any], **kw: Any) -> UUID:
    run = repos.workflow_executions.create(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=T.HEALTH_CHECK,
            input_data=plan,
            **kw,
        )
    )
    repos.conn.commit()
    return run.id  # type: ignore[no-any-return]


def _until(conn: Conn, sql: str, params: Any, want: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = own_sql(conn, sql, params).fetchall()
        conn.commit()
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _status(conn: Conn, ids: list[UUID]) -> dict[UUID, str]:
    rows = own_sql(
        conn, "SELECT id, status::text FROM workflow_executions WHERE id = ANY(%s)", [ids]
    ).fetchall()
    conn.commit()
    return dict(rows)


def _started(seen: Seen, runs: list[UUID], timeout: float = 10) -> None:
    """Wait until the handlers have begun on ``runs``."""
    deadline = time.monotonic() + timeout
    while not set(runs) <= set(seen.started) and time.monotonic() < deadline:
        time.sleep(0.02)


def _quiet(repos: Any, world: World) -> None:
    repos.workflow_executions.cancel(world.execution.id)
    repos.conn.commit()


# -- what happens after the handler ---------------------------------------------------------


def test_the_handler_completes_retries_and_fails_runs(
    repos: Any, world: World, conn: Conn, running: Any
) -> None:
    _quiet(repos, world)
    ok = _create(repos, world, {"do": "complete", "n": 7})
    retry = _create(repos, world, {"do": "retry"}, max_attempts=2)
    fail = _create(repos, world, {"do": "fail"}, max_attempts=3)
    boom = _create(repos, world, {"do": "raise"}, max_attempts=1)
    seen = Seen()
    worker = running(seen, concurrency=2, worker_id="w-outcomes")
    ids = [ok, retry, fail, boom]
    got = _until(
        conn,
        "SELECT count(*) FROM workflow_executions WHERE id = ANY(%s) AND completed_at IS NOT NULL",
        [ids],
        [(4,)],
    )
    report = worker.halt()
    assert got == [(4,)]
    assert _status(conn, ids) == {
        ok: "completed",
        retry: "completed",
        fail: "failed",
        boom: "failed",
    }
    wx = repos.workflow_executions
    assert wx.get(ok).output_data == {"ok": 7, "steps": 0}
    again = wx.get(retry)
    assert again.attempt == 2 and again.output_data == {"ok": 0, "steps": 0}
    assert [t.to_status for t in wx.history(retry) if t.workflow_step_id is None] == [
        "pending",
        "running",
        "pending",
        "running",
        "completed",
    ]
    requeued = [t for t in wx.history(retry) if t.to_status == "pending" and t.from_status]
    assert requeued[0].error_details == {"try": "again"} and requeued[0].actor == "w-outcomes"
    failed = wx.get(fail)
    assert failed.error_details == {"why": "bad input"} and failed.attempt == 1  # no retry
    exhausted = wx.get(boom).error_details
    assert exhausted["error"] == "ValueError" and exhausted["message"] == "boom"
    assert exhausted["reason"] == "attempts_exhausted"
    assert (report.completed, report.requeued, report.failed) == (2, 1, 2)
    assert report.errors == []
    conn.commit()


def test_bad_arguments_are_refused_before_anything_connects(running: Any, db_dsn: str) -> None:
    pool = api.create_pool(db_dsn, min_size=1, max_size=4)
    try:
        for bad in (
            {"concurrency": 0},
            {"lease": timedelta(0)},
            {"per_customer_limit": 0},
            {"shutdown_grace": timedelta(seconds=-1)},
            {"workflow_types": ["no_such_type"]},
            {"worker_id": ""},
        ):
            kw: dict[str, Any] = {"worker_id": "w", **bad}
            with pytest.raises(pydantic.ValidationError):
                api.run_worker(pool, lambda job: None, **kw)
        with pytest.raises(ValueError, match="concurrency \\+ 3"):
            api.run_worker(pool, lambda job: None, worker_id="w", concurrency=2)
    finally:
        pool.close()


# -- cancellation ---------------------------------------------------------------------------


def test_a_cancel_reaches_a_handler_that_writes_nothing_within_a_second(
    repos: Any, world: World, conn: Conn, running: Any
) -> None:
    _quiet(repos, world)
    run = _create(repos, world, {"do": "sleep", "s": 30})
    seen = Seen()
    worker = running(seen, worker_id="w-cancel")
    _started(seen, [run])
    assert run in seen.started
    repos.workflow_executions.cancel(run, reason="operator said so", actor="ops@acme")
    conn.commit()
    committed = time.monotonic()
    while run not in seen.stopped and time.monotonic() < committed + 5:
        time.sleep(0.01)
    assert run in seen.stopped
    assert seen.stopped[run] - committed < 1.0
    report = worker.halt()
    cancelled = repos.workflow_executions.get(run)
    assert cancelled.status is S.CANCELLED and not cancelled.output_data  # nothing written
    last = repos.workflow_executions.history(run)[-1]
    assert (last.to_status, last.actor) == ("cancelled", "ops@acme")
    assert last.reason == "operator said so"
    assert report.dropped == 1 and report.completed == 0
    conn.commit()


# -- shutdown -------------------------------------------------------------------------------


def test_shutdown_gives_unfinished_runs_back_without_spending_an_attempt(
    repos: Any, world: World, conn: Conn, running: Any
) -> None:
    _quiet(repos, world)
    slow = [_create(repos, world, {"do": "sleep", "s": 30}) for _ in range(2)]
    seen = Seen()
    worker = running(seen, concurrency=2, shutdown_grace=timedelta(seconds=0.3))
    _started(seen, slow)
    assert set(seen.started) == set(slow)
    report = worker.halt()
    assert report.given_back == 2
    wx = repos.workflow_executions
    for ident in slow:
        back = wx.get(ident)
        assert back.status is S.PENDING and back.attempt == 0 and back.worker_id is None
        moves = [t for t in wx.history(ident) if t.workflow_step_id is None]
        assert (moves[-1].from_status, moves[-1].to_status, moves[-1].reason) == (
            "running",
            "pending",
            "shutdown",
        )
    # Claimed again, it runs as the same attempt, and completes.
    (again,) = wx.claim("w-next", limit=1, workflow_types=[T.HEALTH_CHECK])
    assert again.attempt == 1
    conn.commit()


def test_shutdown_lets_a_handler_finish_within_the_grace(
    repos: Any, world: World, conn: Conn, running: Any
) -> None:
    _quiet(repos, world)
    run = _create(repos, world, {"do": "sleep", "s": 0.5})
    seen = Seen()
    worker = running(seen, shutdown_grace=timedelta(seconds=10))
    _started(seen, [run])
    report = worker.halt()
    assert repos.workflow_executions.get(run).status is S.COMPLETED
    assert report.completed == 1 and report.given_back == 0
    conn.commit()


# -- fencing --------------------------------------------------------------------------------


def test_a_handler_past_its_lease_is_fenced_out(
    repos: Any, world: World, conn: Conn, running: Any
) -> None:
    _quiet(repos, world)
    run = _create(repos, world, {"do": "freeze"}, max_attempts=3)
    seen = Seen()
    worker = running(seen, worker_id="w-frozen", lease=timedelta(seconds=3))
    _started(seen, [run])
    # Its lease runs out (as if the process had stopped); a reaper (this test,
    # or the worker's own) requeues it, and another worker takes it.
    own_sql(
        conn,
        "UPDATE workflow_executions SET lease_expires_at = now() - interval '1 second'"
        " WHERE id = %s",
        [run],
    )
    conn.commit()
    wx = repos.workflow_executions
    wx.reap_expired()
    conn.commit()
    sql = "SELECT status::text FROM workflow_executions WHERE id = %s"
    assert _until(conn, sql, [run], [("pending",)]) == [("pending",)]
    make_due(conn)
    (taken,) = wx.claim("w-other", workflow_types=[T.HEALTH_CHECK])
    conn.commit()
    assert taken.id == run
    # The frozen worker's next heartbeat is refused: its handler is told, and
    # what it writes afterwards does not land.
    deadline = time.monotonic() + 15
    while run not in seen.late_write and time.monotonic() < deadline:
        time.sleep(0.05)
    report = worker.halt()
    assert seen.late_write[run] == "LeaseLostError"
    held = wx.get(run)
    assert held.status is S.RUNNING and held.worker_id == "w-other" and not held.output_data
    assert report.dropped == 1 and report.completed == 0
    conn.commit()


# -- a worker process killed mid-run ----------------------------------------------------------


def _with_steps(repos: Any, world: World, pause: float, steps: int = 2) -> UUID:
    detail = repos.workflow_executions.create_with_steps(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=T.HEALTH_CHECK,
            input_data={"pause": pause},
            max_attempts=5,
        ),
        [odb.NewWorkflowStep(step_name=f"s{i}", step_order=i + 1) for i in range(steps)],
    )
    repos.conn.commit()
    return detail.execution.id  # type: ignore[no-any-return]


@pytest.mark.sync_only
@pytest.mark.parametrize("handler", ["with_steps", "with_steps_async"])
def test_a_worker_killed_mid_run_is_reaped_and_another_finishes_the_run(
    repos: Any, world: World, conn: Conn, db_dsn: str, handler: str
) -> None:
    """Both loops (threads, asyncio) in worker processes of their own."""
    _quiet(repos, world)
    run = _with_steps(repos, world, pause=1.0)
    first = start_worker_process(db_dsn, "w-doomed", "--lease", "2s", handler=handler)
    try:
        sql = (
            "SELECT count(*) FROM workflow_steps WHERE workflow_execution_id = %s"
            " AND status = 'running'"
        )
        assert _until(conn, sql, [run], [(1,)], timeout=20) == [(1,)]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = start_worker_process(db_dsn, "w-rescuer", "--lease", "2s", handler=handler)
    try:
        sql = "SELECT status::text FROM workflow_executions WHERE id = %s"
        assert _until(conn, sql, [run], [("completed",)], timeout=30) == [("completed",)]
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0
    done = repos.workflow_executions.get(run)
    assert done.output_data == {"done": True, "by": "w-rescuer"} and done.attempt == 2
    steps = repos.workflow_steps.list_for_execution(run)
    assert [s.status for s in steps] == [odb.StepStatus.COMPLETED] * 2
    reaped = [t for t in repos.workflow_executions.history(run) if t.reason == "lease_expired"]
    assert reaped and reaped[0].worker_id == "w-doomed"
    conn.commit()
