"""``run_worker``: the worker loop every service on the runtime needs, in
the library. It claims (as ``claim`` does: priority, due time, types, the
per-customer limit), sleeps in ``wait_for_work`` when idle, heartbeats its
runs in the background, reaps expired leases now and then, calls the
handler with a ``Job`` and moves the run by what the handler did
(``sansio.worker.after_handler``). An operator's cancel reaches the handler
through the database (``optiinfra_cancel``, migration 0024).

Connections, all from the caller's pool: one per lane (a lane runs one
handler at a time and claims its next run itself, as a loop written by hand
does), one listening (wait_for_work's wake-ups and cancels, subscribed
only while a lane is idle or a handler runs long: every listening session
costs each notifying commit a signal), one for the heartbeats, and one to
give runs back at shutdown: the pool needs ``concurrency + 3``. The helpers' connections are
put in autocommit while held, unsubscribed, and given back as they came.

Written once, for asyncio (handlers are coroutine functions, run as tasks);
``optiinfra_db/worker.py`` is generated from it (threads, plain functions):
what runs side by side comes from each side's ``_concurrency`` module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from time import monotonic
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from optiinfra_db.aio._concurrency import (
    Cancelled,
    Event,
    Handle,
    HandlerResult,
    current,
    on_stop_signals,
    recover,
    spawn,
    wait_event,
)
from optiinfra_db.aio.db import AsyncConnection, execute
from optiinfra_db.aio.live import unlisten, wait_hearing
from optiinfra_db.aio.repositories import AsyncRepositories
from optiinfra_db.enums import WorkflowStatus, WorkflowType
from optiinfra_db.errors import InvalidTransitionError, LeaseLostError, NotFoundError
from optiinfra_db.records import WorkflowExecution, WorkflowStep
from optiinfra_db.sansio.worker import (
    DEFAULT_GRACE,
    DEFAULT_LEASE,
    POLL_S,
    WorkerArgs,
    WorkerReport,
    after_handler,
    worker_args,
)

__all__ = ["Job", "run_worker"]

log = logging.getLogger("optiinfra_db.worker")

#: A run the loop can no longer move: lost, cancelled, taken.
GONE = (LeaseLostError, InvalidTransitionError, NotFoundError)

#: How long an idle lane waits for the waker before it claims anyway.
IDLE_S = 5.0
#: How often the listening connection looks up (a long handler gets the
#: listener within it, a stop is seen within it).
WAKE_S = 0.25
#: A handler running this long has the listener on for its cancel.
LISTEN_AFTER = 0.25


@dataclass
class Job:
    """What a handler gets: the claimed ``execution`` (running, held by
    ``worker_id``), ``repos`` on a connection of its own for the handler's
    writes (pass ``worker_id=job.worker_id`` to them: fenced), the run's
    ``steps`` as they were at the claim, and ``cancelled``: set when the run
    is cancelled, its lease lost or the worker gives it back at shutdown
    (on the asyncio side the handler's task is cancelled as well)."""

    execution: WorkflowExecution
    worker_id: str
    repos: AsyncRepositories
    steps: list[WorkflowStep]
    cancelled: Event = field(default_factory=Event)

    @property
    def id(self) -> UUID:
        """The run's id."""
        return self.execution.id


@dataclass
class _Slot:
    """One claimed run while the loop holds it."""

    run: WorkflowExecution
    cancelled: Event
    handle: Handle | None = None
    #: When its handler began (monotonic): a long one gets the listener.
    began: float = field(default_factory=monotonic)
    #: The handler is done and the run is being moved: a cancel now
    #: interrupts nothing (the move is fenced anyway).
    settling: bool = False
    #: Why the run is no longer the loop's to move ("taken": cancelled or
    #: the lease lost; "given back" at shutdown): whatever its handler does,
    #: nothing more is written. None while it is.
    gone: str | None = None

    def take(self, why: str = "taken") -> None:
        """The run was taken from the loop: its handler is told and stopped."""
        self.gone = self.gone or why
        self.cancelled.set()
        if self.handle is not None and not self.settling:
            self.handle.stop()


async def run_worker(
    pool: AsyncConnectionPool[Any],
    handler: Callable[[Job], HandlerResult],
    *,
    worker_id: str,
    workflow_types: Iterable[WorkflowType | str] | None = None,
    concurrency: int = 1,
    lease: timedelta = DEFAULT_LEASE,
    per_customer_limit: int | None = None,
    stop: Event | None = None,
    shutdown_grace: timedelta = DEFAULT_GRACE,
    agent_id: UUID | str | None = None,
    customer_id: UUID | str | None = None,
) -> WorkerReport:
    """Run ``handler`` on claimed runs until ``stop`` is set (or SIGTERM /
    SIGINT arrives while the loop owns the main thread), ``concurrency`` at
    a time; returns what it did. ``agent_id`` / ``customer_id`` narrow the
    claims as they narrow ``claim``'s.

    After the handler: a dict (or None) completes the run with it as
    ``output_data``; ``Retry`` or any other exception requeues it with
    backoff (the exception in ``error_details``), failing once its attempts
    are spent; ``Fail`` fails it at once; ``LeaseLostError`` anywhere, or a
    run cancelled meanwhile: nothing more is written to it. What the handler
    leaves uncommitted on its connection is committed when it returns and
    rolled back when it raises. On stop: no more claims; running handlers
    get ``shutdown_grace`` to finish, then their runs are given back without
    spending an attempt (``requeue(penalty=False)``, logged as shutdown).
    Arguments are checked before anything connects (ValidationError); a
    pool smaller than ``concurrency + 3`` is a ValueError."""
    args = worker_args(
        worker_id,
        workflow_types,
        concurrency,
        lease,
        per_customer_limit,
        shutdown_grace,
        agent_id,
        customer_id,
    )
    need = args.concurrency + 3
    if pool.max_size < need:
        raise ValueError(
            f"run_worker needs a pool of at least concurrency + 3 = {need} connections "
            f"(one per handler, one listening, one heartbeating, one to give runs back at "
            f"shutdown); this one has {pool.max_size}"
        )
    stopping = Event() if stop is None else stop
    undo = on_stop_signals(stopping)
    try:
        return await _Worker(pool, handler, args).run(stopping)
    finally:
        undo()


class _Worker:
    """One run_worker call's state: its lanes, its runs, its report.

    A lane is one handler at a time on a pooled connection of its own: it
    claims one run, runs the handler, moves the run, and claims again at
    once (the loop a service writes by hand, which is why run_worker keeps
    its pace); a lane that finds nothing waits for the waker, which sleeps
    in wait_for_work on its own connection (new work, a delayed run falling
    due) and reaps expired leases now and then."""

    def __init__(self, pool: Any, handler: Any, args: WorkerArgs) -> None:
        self.pool = pool
        self.handler = handler
        self.args = args
        self.report = WorkerReport()
        self.active: dict[str, _Slot] = {}
        self.work = Event()  # set by the waker: something may be claimable
        self.nudge = Event()  # set by a lane going idle: the waker looks up
        self.idle: set[int] = set()  # the lanes waiting for work
        self.quit = Event()  # the helpers end

    async def run(self, stop: Event) -> WorkerReport:
        name = self.args.worker_id
        helpers = [
            spawn(self._helper, self._wake, stop, self.quit, name=f"{name}-waker"),
            spawn(self._helper, self._beat, stop, self.quit, name=f"{name}-heartbeats"),
        ]
        lanes: list[Handle] = []
        try:
            lanes = [
                spawn(self._lane, stop, n, name=f"{name}-lane-{n}")
                for n in range(self.args.concurrency)
            ]
            while not await wait_event(stop, POLL_S):
                pass
            self.work.set()  # idle lanes look up and see the stop
            await self._shut_down(lanes)
        finally:
            self.quit.set()
            for helper in helpers:
                await helper.join(2 * POLL_S)
        return self.report

    # -- the loops the worker keeps, each on a connection of its own -------------------

    async def _helper(
        self, body: Callable[[AsyncConnection, Event], Any], stop: Event, until: Event
    ) -> None:
        """Run ``body`` on a pooled connection (in autocommit while held) and
        again on a fresh one when the connection fails, until ``until`` is set."""
        while not until.is_set():
            try:
                async with self.pool.connection() as conn:
                    was = conn.autocommit
                    await conn.set_autocommit(True)
                    try:
                        await body(conn, stop)
                    finally:
                        await unlisten(conn)
                        await conn.set_autocommit(was)
                return
            except Exception as exc:  # the server went away: log, wait, reconnect
                self._error("connection", exc)
                await wait_event(until, 1.0)

    async def _wake(self, conn: AsyncConnection, stop: Event) -> None:
        """The worker's one listening connection, subscribed only while it
        is needed: while a lane is idle (wait_for_work's wake-ups: new work,
        a delayed run falling due) or a handler has run for LISTEN_AFTER
        (cancels, within a second). A busy worker of short handlers listens
        to nothing: every listening session costs each notifying commit on
        the server a signal and a wake-up (measured: one listener always on
        took 2 lanes to 0.79x the runs per second of the hand-written loop).
        Reaps expired leases every half lease; runs until the worker ends."""
        a = self.args
        runs = AsyncRepositories(conn).workflow_executions
        subscribed = False
        reap_at = monotonic()
        while not self.quit.is_set():
            if monotonic() >= reap_at and not stop.is_set():
                reaped = await runs.reap_expired(limit=100)
                if reaped:  # claimable again (after their backoff)
                    self.report.reaped += len(reaped)
                    self.work.set()
                reap_at = monotonic() + a.reap_s
            if not self._needs_listening():
                if subscribed:
                    await unlisten(conn)
                    subscribed = False
                self.nudge.clear()
                await wait_event(self.nudge, WAKE_S)
                continue
            if not subscribed:
                await execute(conn, "live.listen_cancel")
                subscribed = True
                await self._check_taken(runs)  # taken before this session listened
            woken = await wait_hearing(
                conn, timeout=WAKE_S, workflow_types=a.workflow_types, heard=self._heard
            )
            if woken:
                self.work.set()

    def _needs_listening(self) -> bool:
        """Is a lane idle, or has a handler run for LISTEN_AFTER?"""
        if self.idle:
            return True
        now = monotonic()
        return any(now - s.began >= LISTEN_AFTER for s in list(self.active.values()))

    async def _check_taken(self, runs: Any) -> None:
        """Take from their handlers the runs no longer this worker's (a
        cancel committed before the listener subscribed)."""
        for slot in list(self.active.values()):
            if slot.gone:
                continue
            now = await runs.get(slot.run.id)
            if (
                now is None
                or now.status is not WorkflowStatus.RUNNING
                or now.worker_id != self.args.worker_id
            ):
                slot.take()

    def _heard(self, notify: Any) -> None:
        """A notification on the listening connection: a run taken from this
        worker (optiinfra_cancel) has its handler told and stopped at once."""
        if notify.channel == "optiinfra_cancel":
            slot = self.active.get(notify.payload)
            if slot is not None and not slot.gone:
                slot.take()

    async def _beat(self, conn: AsyncConnection, stop: Event) -> None:
        """Renew every held run's lease at a third of its length; a run the
        heartbeat is refused for is taken from its handler."""
        a = self.args
        runs = AsyncRepositories(conn).workflow_executions
        while not await wait_event(self.quit, a.beat_s):
            for slot in list(self.active.values()):
                if slot.gone:
                    continue
                try:
                    await runs.heartbeat(slot.run.id, a.worker_id, lease=a.lease)
                except GONE:
                    slot.take()

    # -- the lanes -------------------------------------------------------------------

    async def _lane(self, stop: Event, n: int) -> None:
        """Claim one run, handle it, claim again, on a connection of the
        lane's own, until ``stop``; wait for the waker when nothing is due."""
        a = self.args
        while not stop.is_set():
            try:
                async with self.pool.connection() as conn:
                    repos = AsyncRepositories(conn)
                    while not stop.is_set():
                        self.work.clear()
                        got = await repos.workflow_executions.claim(
                            a.worker_id,
                            lease=a.lease,
                            workflow_types=a.workflow_types,
                            per_customer_limit=a.per_customer_limit,
                            agent_id=a.agent_id,
                            customer_id=a.customer_id,
                        )
                        if not conn.autocommit:
                            await conn.commit()
                        if got:
                            await self._handle(conn, repos, got[0])
                            continue
                        self.idle.add(n)
                        self.nudge.set()
                        await wait_event(self.work, IDLE_S)
                        self.idle.discard(n)
                return
            except Exception as exc:  # the server went away: log, wait, reconnect
                self._error(f"lane {n}", exc)
                await wait_event(stop, 1.0)

    async def _handle(self, conn: AsyncConnection, repos: AsyncRepositories, run: Any) -> None:
        """Call the handler on the run, then move the run by its outcome."""
        slot = _Slot(run, Event())
        self.active[str(run.id)] = slot
        try:
            steps = await repos.workflow_steps.list_for_execution(run.id)
            job = Job(run, self.args.worker_id, repos, steps, slot.cancelled)
            returned: Any = None
            raised: BaseException | None = None
            if not slot.gone:  # (taken while its steps were read: no handler)
                # Only the handler may be interrupted (a lane lives on).
                slot.handle = current()
                try:
                    returned = await self.handler(job)
                except Cancelled:  # the task was cancelled (asyncio): the run was taken
                    recover()
                    slot.gone = slot.gone or "taken"
                except Exception as exc:
                    raised = exc
            slot.settling = True  # from here on a cancel interrupts nothing
            if not conn.autocommit:  # what the handler left open
                await (conn.rollback() if raised or slot.gone else conn.commit())
            if slot.gone or isinstance(raised, LeaseLostError):
                if slot.gone != "given back":  # counted by the shutdown
                    self.report.count("dropped")
                return
            await self._settle(repos, run, returned, raised)
            if not conn.autocommit:
                await conn.commit()
        finally:
            self.active.pop(str(run.id), None)

    async def _settle(
        self, repos: AsyncRepositories, run: WorkflowExecution, returned: Any, raised: Any
    ) -> None:
        """Complete, requeue or fail the run, fenced by the worker's id."""
        move, doc, delay = after_handler(returned, raised)
        runs, worker = repos.workflow_executions, self.args.worker_id
        try:
            if move == "complete":
                try:
                    await runs.complete(run.id, doc, worker_id=worker)
                except InvalidTransitionError:  # steps left pending: skipped with it
                    await runs.complete(run.id, doc, worker_id=worker, skip_remaining=True)
                self.report.count("completed")
            elif move == "requeue":
                moved = await runs.requeue(run.id, worker_id=worker, delay=delay, error_details=doc)
                self.report.count("failed" if moved.status is WorkflowStatus.FAILED else "requeued")
            else:
                await runs.fail(run.id, doc or {}, worker_id=worker, reason="handler failed")
                self.report.count("failed")
        except GONE:
            self.report.count("dropped")

    # -- shutting down ---------------------------------------------------------------

    async def _shut_down(self, lanes: list[Handle]) -> None:
        """Let running handlers finish within the grace, then give the runs
        still held back without spending an attempt."""
        deadline = monotonic() + self.args.grace
        for lane in lanes:
            await lane.join(deadline - monotonic())
        left = [s for s in self.active.values() if not s.gone and not s.settling]
        if left:
            async with self.pool.connection() as conn:
                runs = AsyncRepositories(conn).workflow_executions
                for slot in left:
                    slot.take("given back")
                    try:
                        await runs.requeue(
                            slot.run.id,
                            worker_id=self.args.worker_id,
                            penalty=False,
                            reason="shutdown",
                            error_details={"reason": "shutdown", "worker_id": self.args.worker_id},
                        )
                        self.report.count("given_back")
                    except GONE:
                        self.report.count("dropped")
                    if not conn.autocommit:
                        await conn.commit()
        for lane in lanes:
            await lane.join(POLL_S)

    def _error(self, where: str, exc: BaseException) -> None:
        text = f"{where}: {type(exc).__name__}: {exc}"
        log.warning("worker %s: %s", self.args.worker_id, text)
        if len(self.report.errors) < 100:
            self.report.errors.append(text)
