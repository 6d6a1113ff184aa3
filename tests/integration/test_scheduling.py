"""Scheduling (issue: delayed runs, retry with backoff, priorities,
per-customer limits, idempotent enqueue, re-run).

Every assertion reads back from the database, on both sides and (but for
the tests that need several customers) through customer-scoped
repositories on an optiinfra_app login.
"""

from __future__ import annotations

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
from tests.sides import api, own_sql

pytestmark = [pytest.mark.usefixtures("side"), pytest.mark.tenant]

Conn = psycopg.Connection[Any]
S = odb.WorkflowStatus
St = odb.StepStatus
T = odb.WorkflowType


def _quiet(repos: odb.Repositories, world: World) -> None:
    """Keep the world's pending run out of the queue."""
    run = repos.workflow_executions.get(world.execution.id)
    if run is not None and run.status is S.PENDING:
        repos.workflow_executions.cancel(world.execution.id)
    repos.conn.commit()


def _new(world: World, customer: UUID | None = None, **kw: Any) -> odb.WorkflowExecutionCreate:
    fields: dict[str, Any] = {
        "agent_id": world.agent.id,
        "customer_id": customer or world.customer.id,
        "workflow_type": T.HEALTH_CHECK,
        **kw,
    }
    return odb.WorkflowExecutionCreate(**fields)


def _server_now(conn: Conn) -> datetime:
    now = own_sql(conn, "SELECT clock_timestamp()").fetchone()[0]
    conn.commit()
    return now  # type: ignore[no-any-return]


# -- delay and order ------------------------------------------------------------------------


def test_a_delayed_run_is_invisible_to_claim_until_due(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    due = _server_now(conn) + timedelta(seconds=1.2)
    run = wx.create(_new(world, run_after=due))
    conn.commit()
    assert run.run_after == due and run.priority == 0 and run.idempotency_key is None
    assert wx.claim("w") == []  # not yet due
    conn.commit()
    while _server_now(conn) < due:
        assert wx.claim("w") == []
        conn.commit()
        time.sleep(0.1)
    (claimed,) = wx.claim("w")
    assert claimed.id == run.id and claimed.run_after == due
    conn.commit()


def test_claim_orders_by_priority_then_by_when_each_became_claimable(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    low = wx.create(_new(world, priority=-1))
    conn.commit()
    plain = wx.create(_new(world))
    conn.commit()
    urgent_new = wx.create(_new(world, priority=5))
    conn.commit()
    # claimable since an hour ago: ahead of urgent_new, created later
    urgent_due = wx.create(
        _new(world, priority=5, run_after=_server_now(conn) - timedelta(hours=1))
    )
    conn.commit()
    later = wx.create(_new(world, priority=9, run_after=_server_now(conn) + timedelta(hours=1)))
    conn.commit()
    got = wx.claim("w", limit=10)
    assert [r.id for r in got] == [urgent_due.id, urgent_new.id, plain.id, low.id]
    assert later.id not in {r.id for r in got}
    conn.commit()
    stored = dict(own_sql(conn, "SELECT id, priority FROM workflow_executions").fetchall())
    assert stored[low.id] == -1 and stored[urgent_new.id] == 5 and stored[later.id] == 9


# -- per-customer limits --------------------------------------------------------------------


@pytest.mark.operator_only  # ten customers: a scoped login acts for one
def test_eight_claimers_with_a_per_customer_limit_keep_every_customer_served(
    repos: odb.Repositories, world: World, conn: Conn, db_dsn: str
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    big = world.customer.id
    small = [
        repos.customers.create(
            odb.CustomerCreate(name=f"c{i}", email=f"c{i}@x.test", api_key=odb.new_api_key())
        ).id
        for i in range(9)
    ]
    conn.commit()
    own_sql(  # the big customer's backlog first: oldest, so claimed first without a limit
        conn,
        "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type, created_at)"
        " SELECT %s, %s, 'health_check', now() - interval '1 hour' + n * interval '1 ms'"
        " FROM generate_series(1, 1000) AS n",
        [world.agent.id, big],
    )
    for c in small:
        for _ in range(10):
            wx.create(_new(world, customer=c))
    conn.commit()
    limit = 2
    claimed: list[UUID] = []  # customers, in claim order
    lock = threading.Lock()
    over: list[tuple[UUID, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)
    done = threading.Event()

    def worker(name: str) -> None:
        try:
            with api.connect(db_dsn, autocommit=True) as c:
                mine = api.Repositories(c).workflow_executions
                barrier.wait()
                while not done.is_set():
                    got = mine.claim(name, per_customer_limit=limit)
                    if not got:
                        time.sleep(0.005)
                        continue
                    (run,) = got
                    with lock:
                        claimed.append(run.customer_id)
                    time.sleep(0.002)  # the work
                    mine.complete(run.id, worker_id=name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            done.set()

    def monitor() -> None:
        with psycopg.connect(db_dsn, autocommit=True) as c:
            while not done.is_set():
                rows = c.execute(
                    "SELECT customer_id, count(*) FROM workflow_executions"
                    " WHERE status = 'running' GROUP BY customer_id HAVING count(*) > %s",
                    [limit],
                ).fetchall()
                over.extend(rows)
                left = c.execute(
                    "SELECT count(*) FROM workflow_executions"
                    " WHERE status IN ('pending', 'running')"
                ).fetchone()
                if left is not None and left[0] == 0:
                    done.set()
                time.sleep(0.003)

    threads = [threading.Thread(target=worker, args=(f"w-{i}",)) for i in range(8)]
    watcher = threading.Thread(target=monitor)
    for t in [*threads, watcher]:
        t.start()
    for t in [*threads, watcher]:
        t.join(timeout=300)
    assert not errors
    assert over == []  # never more than 2 of a customer running, every worker's counted
    counts = Counter(claimed)
    assert counts[big] == 1000 and all(counts[c] == 10 for c in small)
    last_small = max(i for i, c in enumerate(claimed) if c != big)
    big_before = sum(1 for c in claimed[:last_small] if c == big)
    # the nine small customers were all served while the big backlog was still there
    assert big_before < 1000 / 2, big_before
    conn.commit()
    finished = own_sql(
        conn, "SELECT count(*) FROM workflow_executions WHERE status = 'completed'"
    ).fetchone()[0]
    assert finished == 1090


def test_a_claim_of_several_keeps_one_customer_within_its_limit(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    for _ in range(5):
        wx.create(_new(world))
    conn.commit()
    first = wx.claim("w", limit=10, per_customer_limit=3)
    assert len(first) == 3
    conn.commit()
    assert wx.claim("w", limit=10, per_customer_limit=3) == []
    conn.commit()
    wx.complete(first[0].id, worker_id="w")
    conn.commit()
    assert len(wx.claim("w", limit=10, per_customer_limit=3)) == 1
    conn.commit()
    running = own_sql(
        conn, "SELECT count(*) FROM workflow_executions WHERE status = 'running'"
    ).fetchone()[0]
    assert running == 3


# -- idempotent enqueue ---------------------------------------------------------------------


def test_sixteen_concurrent_creates_with_one_key_make_one_run(
    repos: odb.Repositories, world: World, conn: Conn, db_dsn: str
) -> None:
    data = _new(world, idempotency_key="order-42", input_data={"n": 1})
    results: list[UUID] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)
    lock = threading.Lock()

    def client() -> None:
        try:
            with api.connect(db_dsn) as c:
                mine = api.Repositories(c).workflow_executions
                barrier.wait()
                run = mine.create(data)
                c.commit()
                with lock:
                    results.append(run.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 16 and len(set(results)) == 1
    rows = own_sql(
        conn,
        "SELECT id FROM workflow_executions WHERE idempotency_key = 'order-42'",
    ).fetchall()
    assert [r[0] for r in rows] == [results[0]]


def test_a_used_key_returns_its_run_or_refuses_another_request(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    first = wx.create(_new(world, idempotency_key="k-1", input_data={"a": 1, "b": [True]}))
    conn.commit()
    again = wx.create(_new(world, idempotency_key="k-1", input_data={"b": [True], "a": 1.0}))
    assert again == first  # unchanged, the same record
    detail = wx.create_with_steps(
        _new(world, idempotency_key="k-1", input_data={"a": 1, "b": [True]}),
        [odb.NewWorkflowStep(step_name="x", step_order=1)],
    )
    assert detail.execution == first and detail.steps == []  # nothing written
    for other in (
        _new(world, idempotency_key="k-1", input_data={"a": 2, "b": [True]}),
        _new(world, idempotency_key="k-1", input_data={"a": 1, "b": [1]}),  # true is not 1
        _new(world, idempotency_key="k-1", input_data={"a": 1, "b": [True]},
             workflow_type=T.COST_ANALYSIS),
    ):  # fmt: skip
        with pytest.raises(odb.IdempotencyConflictError, match="k-1"):
            wx.create(other)
        with pytest.raises(odb.ConflictError):
            wx.create_with_steps(other, [])
    conn.commit()  # the transaction is still usable
    keyed = own_sql(
        conn, "SELECT count(*) FROM workflow_executions WHERE idempotency_key = 'k-1'"
    ).fetchone()[0]
    assert keyed == 1
    made = wx.create_with_steps(
        _new(world, idempotency_key="k-2"), [odb.NewWorkflowStep(step_name="x", step_order=1)]
    )
    conn.commit()
    assert made.execution.idempotency_key == "k-2" and len(made.steps) == 1
    again_detail = wx.create_with_steps(_new(world, idempotency_key="k-2"), [])
    assert again_detail.execution.id == made.execution.id and len(again_detail.steps) == 1
    # the key is free again once its run is gone
    assert wx.delete(first.id)
    conn.commit()
    fresh = wx.create(_new(world, idempotency_key="k-1", input_data={"a": 5}))
    assert fresh.id != first.id and fresh.input_data == {"a": 5}
    conn.commit()


# -- requeue and backoff ----------------------------------------------------------------------


def _moved_at(wx: Any, run_id: UUID) -> datetime:
    return [t for t in wx.history(run_id) if t.workflow_step_id is None][-1].at  # type: ignore[no-any-return]


def test_requeue_backs_off_then_fails_when_attempts_run_out(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    run = wx.create_with_steps(
        _new(world, max_attempts=3), [odb.NewWorkflowStep(step_name="s", step_order=1)]
    ).execution
    conn.commit()
    wx.claim("w")
    step = repos.workflow_steps.list_for_execution(run.id)[0]
    repos.workflow_steps.start(step.id, worker_id="w")
    conn.commit()
    back = wx.requeue(run.id, worker_id="w", error_details={"error": "flaky"})
    conn.commit()
    assert back.status is S.PENDING and back.worker_id is None and back.attempt == 1
    assert back.error_details == {"error": "flaky"}
    wait = (back.run_after - _moved_at(wx, run.id)).total_seconds()  # type: ignore[operator]
    assert 1.6 - 0.05 <= wait <= 2.4 + 0.05, wait  # 2 s x 2^0, +/-20 %
    failed_step = repos.workflow_steps.get(step.id)
    assert failed_step.status is St.FAILED  # type: ignore[union-attr]
    assert failed_step.error_details["error"] == "flaky"  # type: ignore[index,union-attr]
    assert wx.claim("w") == []  # backing off
    conn.commit()
    own_sql(conn, "UPDATE workflow_executions SET run_after = now() WHERE id = %s", [run.id])
    conn.commit()
    wx.claim("w")
    conn.commit()
    back = wx.requeue(run.id, worker_id="w")  # attempt 2: 4 s
    conn.commit()
    wait = (back.run_after - _moved_at(wx, run.id)).total_seconds()  # type: ignore[operator]
    assert 3.2 - 0.05 <= wait <= 4.8 + 0.05, wait
    own_sql(conn, "UPDATE workflow_executions SET run_after = now() WHERE id = %s", [run.id])
    conn.commit()
    wx.claim("w")
    conn.commit()
    with pytest.raises(odb.LeaseLostError):
        wx.requeue(run.id, worker_id="someone-else")
    conn.commit()
    last = wx.requeue(run.id, worker_id="w", delay=timedelta(seconds=30), error_details={"e": 3})
    conn.commit()
    assert last.status is S.FAILED and last.completed_at is not None
    assert last.error_details == {
        "e": 3, "reason": "attempts_exhausted", "attempt": 3, "max_attempts": 3
    }  # fmt: skip
    moves = [(t.from_status, t.to_status, t.reason) for t in wx.history(run.id)
             if t.workflow_step_id is None]  # fmt: skip
    assert moves[-1] == ("running", "failed", "requeue")
    assert moves.count(("running", "pending", "requeue")) == 2


def test_requeue_with_a_delay_and_the_backoff_cap(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    run = wx.create(_new(world, max_attempts=50))
    conn.commit()
    wx.claim("w")
    conn.commit()
    back = wx.requeue(run.id, worker_id="w", delay=timedelta(seconds=30), reason="rate limited")
    conn.commit()
    wait = (back.run_after - _moved_at(wx, run.id)).total_seconds()  # type: ignore[operator]
    assert 29.95 <= wait <= 30.05, wait
    assert wx.history(run.id)[-1].reason == "rate limited"
    own_sql(
        conn, "UPDATE workflow_executions SET run_after = now(), attempt = 30 WHERE id = %s",
        [run.id],
    )  # fmt: skip
    conn.commit()
    wx.claim("w")
    conn.commit()
    capped = wx.requeue(run.id, worker_id="w")
    conn.commit()
    wait = (capped.run_after - _moved_at(wx, run.id)).total_seconds()  # type: ignore[operator]
    assert 0.8 * 3600 - 1 <= wait <= 1.2 * 3600 + 1, wait


def test_the_reaper_requeues_with_the_same_backoff(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    run = wx.create(_new(world, max_attempts=2))
    conn.commit()
    wx.claim("w")
    conn.commit()
    own_sql(
        conn,
        "UPDATE workflow_executions SET lease_expires_at = now() - interval '1 s' WHERE id = %s",
        [run.id],
    )
    conn.commit()
    (reaped,) = wx.reap_expired()
    conn.commit()
    wait = (reaped.run_after - _moved_at(wx, run.id)).total_seconds()  # type: ignore[operator]
    assert reaped.status is S.PENDING and 1.6 - 0.05 <= wait <= 2.4 + 0.05, wait
    assert wx.claim("w") == []
    conn.commit()


# -- re-run -----------------------------------------------------------------------------------


def _ended(wx: Any, conn: Conn, world: World, how: str) -> UUID:
    run = wx.create_with_steps(
        _new(world, max_attempts=2),
        [odb.NewWorkflowStep(step_name=f"s{i}", step_order=i) for i in (1, 2)],
    ).execution
    conn.commit()
    if how == "cancelled":
        wx.cancel(run.id)
    else:
        wx.claim("w")
        if how == "failed":
            wx.fail(run.id, {"error": "boom"}, worker_id="w")
        else:
            wx.time_out(run.id, worker_id="w")
    conn.commit()
    return run.id  # type: ignore[no-any-return]


@pytest.mark.parametrize("how", ["failed", "timeout", "cancelled"])
def test_rerun_sends_an_unsuccessful_run_round_again(
    repos: odb.Repositories, world: World, conn: Conn, how: str
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    run_id = _ended(wx, conn, world, how)
    before = wx.get(run_id)
    assert before is not None and before.status.value == how
    again = wx.rerun(run_id, reason="fixed upstream")
    conn.commit()
    assert again.status is S.PENDING and again.completed_at is None and again.worker_id is None
    assert again.attempt == before.attempt and again.max_attempts == before.attempt + 2
    steps = repos.workflow_steps.list_for_execution(run_id)
    assert [s.status for s in steps] == [St.PENDING, St.PENDING]
    last = [t for t in wx.history(run_id) if t.workflow_step_id is None][-1]
    assert (last.from_status, last.to_status, last.reason) == (how, "pending", "fixed upstream")
    (claimed,) = wx.claim("w2")
    assert claimed.id == run_id and claimed.attempt == before.attempt + 1
    conn.commit()
    wx.fail(run_id, {"error": "again"}, worker_id="w2")
    conn.commit()
    twice = wx.rerun(run_id, max_attempts=5)
    conn.commit()
    assert twice.max_attempts == claimed.attempt + 5
    wx.cancel(run_id)
    conn.commit()
    thrice = wx.rerun(run_id)  # the budget given last: 5
    assert thrice.max_attempts == claimed.attempt + 5
    conn.commit()


def test_rerun_is_refused_from_any_other_status(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    pending = wx.create(_new(world))
    conn.commit()
    with pytest.raises(odb.InvalidTransitionError, match="pending"):
        wx.rerun(pending.id)
    wx.claim("w")
    conn.commit()
    with pytest.raises(odb.InvalidTransitionError, match="running"):
        wx.rerun(pending.id)
    wx.complete(pending.id, worker_id="w")
    conn.commit()
    with pytest.raises(odb.InvalidTransitionError, match="completed"):
        wx.rerun(pending.id)
    with pytest.raises(odb.NotFoundError):
        wx.rerun(UUID(int=7))
    conn.commit()  # still usable
    assert wx.get(pending.id).status is S.COMPLETED  # type: ignore[union-attr]


# -- waking for a delayed run -------------------------------------------------------------


def test_wait_for_work_wakes_when_a_delayed_run_falls_due(
    repos: odb.Repositories, world: World, conn: Conn, db_dsn: str
) -> None:
    wx = repos.workflow_executions
    _quiet(repos, world)
    with api.connect(db_dsn, autocommit=True) as listener:
        worker = api.Repositories(listener).workflow_executions
        # an optiinfra_app login reads its customer's delayed runs
        mine = None if api.tenant is None else world.customer.id
        assert api.wait_for_work(listener, timeout=1)  # subscribes
        due = _server_now(conn) + timedelta(seconds=1.5)
        wx.create(_new(world, run_after=due))
        conn.commit()
        waits = 0
        claimed: list[odb.WorkflowExecution] = []
        deadline = time.monotonic() + 10
        while not claimed and time.monotonic() < deadline:
            waits += 1
            woken = api.wait_for_work(listener, timeout=8, customer_id=mine)
            assert woken, "timed out instead of waking"
            claimed = worker.claim("w")
        woke = _server_now(conn)
        assert claimed and claimed[0].run_after == due
        assert due <= woke < due + timedelta(seconds=1), woke - due
        assert waits <= 3  # the create's notice, then the due time: no polling


# -- bad input ------------------------------------------------------------------------------


def test_bad_scheduling_input_is_refused_before_any_sql(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    wx = repos.workflow_executions
    for bad in (
        {"run_after": datetime(2030, 1, 1)},  # naive
        {"priority": 2**15},
        {"priority": -(2**15) - 1},
        {"priority": "3"},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 256},
        {"idempotency_key": "a\nb"},
        {"idempotency_key": "a\x85b"},
    ):
        with pytest.raises(pydantic.ValidationError):
            _new(world, **bad)
    assert _new(world, idempotency_key="k" * 255, priority=2**15 - 1).priority == 2**15 - 1
    run = wx.create(_new(world, max_attempts=2))
    conn.commit()
    for kw in ({"delay": timedelta(seconds=-1)}, {"delay": timedelta(days=1, seconds=1)}):
        with pytest.raises(pydantic.ValidationError):
            wx.requeue(run.id, worker_id="w", **kw)
    for limit in (0, -1):
        with pytest.raises(pydantic.ValidationError):
            wx.claim("w", per_customer_limit=limit)
    with pytest.raises(pydantic.ValidationError):
        wx.rerun(run.id, max_attempts=0)
    assert wx.get(run.id) == run  # nothing changed
    extreme = wx.create(
        _new(world, priority=-(2**15), idempotency_key="ключ-✓ " + "k" * 240,
             run_after=datetime(9999, 12, 30, tzinfo=UTC))
    )  # fmt: skip
    conn.commit()
    assert wx.get(extreme.id) == extreme  # what validates reads back
