"""Live progress (issue #9): watch follows the transition log in id order
without holes (late commits included) and survives drops; wait_for_work
wakes a worker on new and requeued work, never on a rolled-back insert."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pydantic
import pytest

import optiinfra_db as odb
from tests.conftest import World

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]
S = odb.WorkflowStatus


def _new_run(repos: odb.Repositories, world: World, steps: int = 2, **kw: Any) -> UUID:
    run = repos.workflow_executions.create_with_steps(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=kw.pop("workflow_type", odb.WorkflowType.HEALTH_CHECK),
            **kw,
        ),
        [odb.NewWorkflowStep(step_name=f"s{i}", step_order=i) for i in range(1, steps + 1)],
    ).execution.id
    repos.conn.commit()
    return run


def _top(conn: Conn) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM workflow_transitions").fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def _log_after(conn: Conn, after: int) -> list[int]:
    rows = conn.execute(
        "SELECT id FROM workflow_transitions WHERE id > %s ORDER BY id", [after]
    ).fetchall()
    conn.commit()
    return [r[0] for r in rows]


class Collector(threading.Thread):
    """Runs a watcher in a thread, collecting what it yields (up to `stop_after`)."""

    def __init__(self, dsn: str, stop_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(daemon=True)
        self.dsn, self.kwargs, self.stop_after = dsn, kwargs, stop_after
        self.got: list[odb.WorkflowTransition] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for t in odb.watch(self.dsn, **self.kwargs):
                self.got.append(t)
                if self.stop_after is not None and len(self.got) >= self.stop_after:
                    break  # closes the generator (and its connection)
        except BaseException as exc:
            self.error = exc


def _run_to_the_end(repos: odb.Repositories, run: UUID, worker: str) -> None:
    wx, steps = repos.workflow_executions, repos.workflow_steps
    (got,) = wx.claim(worker, agent_id=None, workflow_types=None)
    assert got.id == run
    for step in steps.list_for_execution(run):
        steps.start(step.id, worker_id=worker)
        steps.complete(step.id, worker_id=worker)
    wx.complete(run, worker_id=worker)
    repos.conn.commit()


def test_a_watcher_sees_every_transition_of_a_run_in_order(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    run = _new_run(repos, world)
    start = repos.workflow_executions.history(run)[-1].id
    watcher = Collector(db_dsn, execution_id=run, after=start, timeout=20)
    watcher.start()
    _run_to_the_end(repos, run, "w-live")
    watcher.join(30)
    assert not watcher.is_alive(), "the watcher did not stop when the run finished"
    assert watcher.error is None
    logged = [t for t in repos.workflow_executions.history(run) if t.id > start]
    assert watcher.got == logged  # every one, in order, equal to the log
    assert watcher.got[-1].to_status == "completed"


def test_a_late_commit_is_held_back_then_delivered_and_resume_repeats_nothing(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    slow_run = _new_run(repos, world, steps=0)
    fast_run = _new_run(repos, world, steps=0)
    start = _top(conn)
    with psycopg.connect(db_dsn) as slow:  # takes the lower id, commits last
        slow.execute(
            "UPDATE workflow_executions SET status = 'cancelled', completed_at = now()"
            " WHERE id = %s",
            [slow_run],
        )
        held = slow.execute("SELECT max(id) FROM workflow_transitions").fetchone()
        assert held is not None and held[0] > start
        wx.cancel(fast_run)  # a higher id, committed now
        conn.commit()
        watcher = Collector(db_dsn, after=start, stop_after=1, timeout=20)
        watcher.start()
        time.sleep(0.5)
        assert watcher.got == [], "yielded past a transaction still holding a lower id"
        slow.commit()
    watcher.join(20)
    assert watcher.error is None
    assert [t.id for t in watcher.got] == [held[0]]  # the late one first
    # killed after one; resumed from the last id it yielded: nothing lost or repeated
    rest = Collector(db_dsn, after=watcher.got[-1].id, timeout=1)
    rest.start()
    rest.join(20)
    seen = [t.id for t in watcher.got + rest.got]
    assert seen == _log_after(conn, start)
    assert len(set(seen)) == len(seen)


def test_a_watcher_survives_a_dropped_connection(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    start = _top(conn)
    watcher = Collector(db_dsn, after=start, timeout=3)
    watcher.start()
    runs = [_new_run(repos, world, steps=1) for _ in range(3)]
    time.sleep(0.3)
    with psycopg.connect(db_dsn, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'optiinfra-watch' AND datname = current_database()"
        ).fetchone()
    assert killed == (1,)
    for run in runs:
        repos.workflow_executions.cancel(run)
        conn.commit()
    watcher.join(30)
    assert watcher.error is None
    assert [t.id for t in watcher.got] == _log_after(conn, start)


def test_wait_for_work_wakes_on_new_and_requeued_work_only(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    with odb.connect(db_dsn, autocommit=True) as worker:
        assert odb.wait_for_work(worker, timeout=1) is True  # subscribes
        # a rolled-back insert announces nothing
        repos.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.HEALTH_CHECK,
            )
        )
        conn.rollback()
        assert odb.wait_for_work(worker, timeout=0.4) is False

        def later(fn: Any) -> None:
            threading.Timer(0.2, fn).start()

        later(lambda: _new_run(repos, world, steps=0))
        began = time.monotonic()
        assert odb.wait_for_work(worker, timeout=5) is True
        assert 0.15 < time.monotonic() - began < 2


def test_wait_for_work_wakes_on_a_requeue_and_filters_by_type(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    run = _new_run(repos, world, steps=0, max_attempts=2)
    with odb.connect(db_dsn, autocommit=True) as worker:
        wx = odb.Repositories(worker).workflow_executions
        assert odb.wait_for_work(worker, timeout=1) is True  # subscribes
        assert [r.id for r in wx.claim("w", lease=timedelta(milliseconds=50))] == [run]
        assert odb.wait_for_work(worker, timeout=0.3) is False  # nothing pending
        time.sleep(0.1)
        threading.Timer(0.1, _reap, args=(db_dsn,)).start()
        assert odb.wait_for_work(worker, timeout=5, workflow_types=["health_check"]) is True
        assert [r.id for r in wx.claim("w2")] == [run]
        # a new run of another type does not wake a worker waiting for health checks
        threading.Timer(
            0.1,
            lambda: _new_run(repos, world, steps=0, workflow_type=odb.WorkflowType.COST_ANALYSIS),
        ).start()
        assert odb.wait_for_work(worker, timeout=0.6, workflow_types=["health_check"]) is False


def _reap(dsn: str) -> None:
    with odb.connect(dsn, autocommit=True) as c:
        assert odb.Repositories(c).workflow_executions.reap_expired()


@pytest.mark.parametrize(
    "call",
    [
        lambda dsn: odb.watch(dsn, after=-1),
        lambda dsn: odb.watch(dsn, after="10"),
        lambda dsn: odb.watch(dsn, timeout=0),
        lambda dsn: odb.watch(dsn, timeout=-5),
        lambda dsn: odb.watch(dsn, execution_id="not-a-uuid"),
    ],
)
def test_bad_watch_input_is_refused_before_connecting(call: Any) -> None:
    with pytest.raises(pydantic.ValidationError):
        call("postgresql://nobody@127.0.0.1:1/none")


def test_bad_wait_input_is_refused_before_any_sql(conn: Conn) -> None:
    for kwargs in (
        {"timeout": 0},
        {"timeout": 1, "workflow_types": ["nope"]},
        {"timeout": 1, "workflow_types": []},
    ):
        with pytest.raises(pydantic.ValidationError):
            odb.wait_for_work(conn, **kwargs)  # type: ignore[arg-type]
    assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
