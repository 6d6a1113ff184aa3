"""Live progress (issue #9): watch follows the transition log without holes
or repeats (late commits included, nothing held back) and survives drops;
wait_for_work wakes a worker on new and requeued work, never on a
rolled-back insert."""

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
from tests.sides import api

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
            for t in api.watch(self.dsn, **self.kwargs):
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


def test_a_late_commit_holds_nothing_back_and_resume_repeats_nothing(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    """A transaction holding a lower id delays only its own transition: the
    later one comes at once, the late one when it commits, and a watch
    resumed from a yielded position neither repeats nor loses anything."""
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
        watcher = Collector(db_dsn, after=start, stop_after=1, timeout=20)
        watcher.start()
        wx.cancel(fast_run)  # a higher id, committed now
        conn.commit()
        watcher.join(5)
        assert [t.workflow_execution_id for t in watcher.got] == [fast_run]
        assert watcher.got[0].position is not None
        slow.commit()
    # stopped after one; resumed from its position: the late one, then nothing more
    rest = Collector(db_dsn, after=watcher.got[-1].position, timeout=1)
    rest.start()
    rest.join(20)
    assert rest.error is None
    assert [t.id for t in rest.got] == [held[0]]
    seen = [t.id for t in watcher.got + rest.got]
    assert sorted(seen) == _log_after(conn, start)


def test_the_reported_interleaving_loses_nothing(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    """T2 takes its transaction id; T1 creates a run (log id 1); T2 creates a
    run (log id 2) and commits; T1 commits 1.5 s later. Both are yielded,
    T2's without waiting for T1."""
    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    position = api.log_position(conn)
    conn.commit()
    watcher = Collector(db_dsn, after=position, stop_after=2, timeout=20)
    watcher.start()
    with api.connect(db_dsn) as t1, api.connect(db_dsn) as t2:
        t2.execute("SELECT pg_current_xact_id()")
        one = _create(api.Repositories(t1), world)
        two = _create(api.Repositories(t2), world)
        t2.commit()
        deadline = time.monotonic() + 5
        while not watcher.got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [t.workflow_execution_id for t in watcher.got] == [two]  # before T1 commits
        time.sleep(1.5)
        t1.commit()
    watcher.join(10)
    assert watcher.error is None
    assert [t.workflow_execution_id for t in watcher.got] == [two, one]
    assert watcher.got[1].id < watcher.got[0].id  # the lower id came second: commit order


def _create(repos: odb.Repositories, world: World) -> UUID:
    return repos.workflow_executions.create(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=odb.WorkflowType.HEALTH_CHECK,
        )
    ).id


def test_many_writers_out_of_order_with_rollbacks_lose_and_repeat_nothing(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    """Six writers commit out of order (random waits inside their
    transactions, one 2-second transaction, 10 % rolled back); a watcher from
    a position taken first, and a second one stopped halfway and resumed from
    the position it reached, each yield every committed transition once."""
    import random

    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    position = api.log_position(conn)
    conn.commit()
    whole = Collector(db_dsn, after=position, timeout=3)
    half = Collector(db_dsn, after=position, stop_after=40, timeout=3)
    whole.start()
    half.start()
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with api.connect(db_dsn) as c:
                r = api.Repositories(c)
                for i in range(12):
                    _create(r, world)
                    if seed == 0 and i == 3:
                        time.sleep(2.0)  # the long one
                    time.sleep(rng.random() * 0.03)
                    if rng.random() < 0.1:
                        c.rollback()
                    else:
                        c.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    half.join(30)
    assert half.error is None and len(half.got) == 40
    rest = Collector(db_dsn, after=half.got[-1].position, timeout=3)
    rest.start()
    whole.join(60)
    rest.join(60)
    assert not errors and whole.error is None and rest.error is None
    committed = _log_after(conn, 0)
    committed = [
        i
        for i in committed
        if i > max(t.id for t in repos.workflow_executions.history(world.execution.id))
    ]
    got = [t.id for t in whole.got]
    assert len(got) == len(set(got)) and sorted(got) == committed
    resumed = [t.id for t in half.got + rest.got]
    assert len(resumed) == len(set(resumed)) and sorted(resumed) == committed


def test_no_watcher_waits_for_a_transaction_that_wrote_no_transition(
    db_dsn: str, empty_db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    """Write transactions open in another database of the server, and in
    this one on another table, delay no watcher."""
    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    position = api.log_position(conn)
    conn.commit()
    watcher = Collector(db_dsn, after=position, stop_after=1, timeout=20)
    watcher.start()
    with psycopg.connect(empty_db_dsn) as elsewhere, psycopg.connect(db_dsn) as here:
        elsewhere.execute("SELECT pg_current_xact_id()")  # an open write transaction
        here.execute("UPDATE customers SET name = name")
        time.sleep(0.2)
        run = _new_run(repos, world, steps=0)
        committed = time.monotonic()
        watcher.join(5)
        waited = time.monotonic() - committed
        assert [t.workflow_execution_id for t in watcher.got] == [run]
        assert waited < 0.5, waited


def test_timeout_ends_a_watch_whatever_it_waits_for(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    """With a transition held uncommitted, and with the server unreachable,
    a watch ends within a second of its timeout."""
    with psycopg.connect(db_dsn) as slow:
        slow.execute(
            "UPDATE workflow_executions SET status = 'cancelled', completed_at = now()"
            " WHERE id = %s",
            [world.execution.id],
        )
        for dsn in (db_dsn, "postgresql://nobody@127.0.0.1:1/none"):
            began = time.monotonic()
            watcher = Collector(dsn, timeout=1.5)
            watcher.start()
            watcher.join(10)
            assert not watcher.is_alive() and watcher.got == []
            assert time.monotonic() - began < 2.5
        slow.rollback()


def test_bad_positions_are_refused_before_connecting() -> None:
    for bad in ("", "//", "1:2:/", "5:3://", "1:9:7,3//", "1:9://4", "x", "1:2:/1:3:/"):
        with pytest.raises(pydantic.ValidationError):
            api.watch("postgresql://nobody@127.0.0.1:1/none", after=bad)


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
    with api.connect(db_dsn, autocommit=True) as worker:
        assert api.wait_for_work(worker, timeout=1) is True  # subscribes
        # a rolled-back insert announces nothing
        repos.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.HEALTH_CHECK,
            )
        )
        conn.rollback()
        assert api.wait_for_work(worker, timeout=0.4) is False

        def later(fn: Any) -> None:
            threading.Timer(0.2, fn).start()

        later(lambda: _new_run(repos, world, steps=0))
        began = time.monotonic()
        assert api.wait_for_work(worker, timeout=5) is True
        assert 0.15 < time.monotonic() - began < 2


def test_wait_for_work_wakes_on_a_requeue_and_filters_by_type(
    db_dsn: str, repos: odb.Repositories, world: World, conn: Conn
) -> None:
    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    run = _new_run(repos, world, steps=0, max_attempts=2)
    with api.connect(db_dsn, autocommit=True) as worker:
        wx = api.Repositories(worker).workflow_executions
        assert api.wait_for_work(worker, timeout=1) is True  # subscribes
        assert [r.id for r in wx.claim("w", lease=timedelta(milliseconds=50))] == [run]
        assert api.wait_for_work(worker, timeout=0.3) is False  # nothing pending
        time.sleep(0.1)
        threading.Timer(0.1, _reap, args=(db_dsn,)).start()
        assert api.wait_for_work(worker, timeout=5, workflow_types=["health_check"]) is True
        assert wx.claim("w2") == []  # requeued with the reaper's backoff (about 2 s)
        assert api.wait_for_work(worker, timeout=5, workflow_types=["health_check"]) is True
        assert [r.id for r in wx.claim("w2")] == [run]  # woken when it fell due
        # a new run of another type does not wake a worker waiting for health checks
        threading.Timer(
            0.1,
            lambda: _new_run(repos, world, steps=0, workflow_type=odb.WorkflowType.COST_ANALYSIS),
        ).start()
        assert api.wait_for_work(worker, timeout=0.6, workflow_types=["health_check"]) is False


def _reap(dsn: str) -> None:
    with api.connect(dsn, autocommit=True) as c:
        assert api.Repositories(c).workflow_executions.reap_expired()


@pytest.mark.parametrize(
    "call",
    [
        lambda dsn: api.watch(dsn, after=-1),
        lambda dsn: api.watch(dsn, after="10"),
        lambda dsn: api.watch(dsn, timeout=0),
        lambda dsn: api.watch(dsn, timeout=-5),
        lambda dsn: api.watch(dsn, execution_id="not-a-uuid"),
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
            api.wait_for_work(conn, **kwargs)  # type: ignore[arg-type]
    assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
