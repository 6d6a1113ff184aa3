"""``run_worker``: the worker loop every service on the runtime needs, in
the library. It claims (as ``claim`` does: priority, due time, types, the
per-customer limit), sleeps in ``wait_for_work`` when idle, heartbeats its
runs in the background, reaps expired leases now and then, calls the
handler with a ``Job`` and moves the run by what the handler did
(``sansio.worker.after_handler``). An operator's cancel reaches the handler
through the database (``optiinfra_cancel``, migration 0024).

Connections, all from the caller's pool: one for claiming (and reaping), one
for the heartbeats, one listening for cancels, and one per running handler
(the job's): the pool needs ``concurrency + 3``. The three the loop keeps are
put in autocommit while it holds them and given back as they came.

Written once, for asyncio (handlers are coroutine functions, run as tasks);
``optiinfra_db/worker.py`` is generated from it (threads, plain functions):
what runs side by side comes from each side's ``_concurrency`` module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import aclosing
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
    on_stop_signals,
    spawn,
    wait_event,
)
from optiinfra_db.aio.db import AsyncConnection, execute
from optiinfra_db.aio.live import unlisten, wait_for_work
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
    #: Why the run is no longer the loop's to move ("taken": cancelled or
    #: the lease lost; "given back" at shutdown): whatever its handler does,
    #: nothing more is written. None while it is.
    gone: str | None = None

    def take(self, why: str = "taken") -> None:
        """The run was taken from the loop: its handler is told and stopped."""
        self.gone = self.gone or why
        self.cancelled.set()
        if self.handle is not None:
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
            f"(claims, heartbeats, cancels, one per handler); this one has {pool.max_size}"
        )
    stopping = Event() if stop is None else stop
    undo = on_stop_signals(stopping)
    try:
        return await _Worker(pool, handler, args).run(stopping)
    finally:
        undo()


class _Worker:
    """One run_worker call's state: its runs, its report."""

    def __init__(self, pool: Any, handler: Any, args: WorkerArgs) -> None:
        self.pool = pool
        self.handler = handler
        self.args = args
        self.report = WorkerReport()
        self.active: dict[str, _Slot] = {}
        self.freed = Event()  # a handler ended: a slot is free
        self.quit = Event()  # the helpers end
        self.listening = Event()  # the cancel listener has subscribed

    async def run(self, stop: Event) -> WorkerReport:
        helpers = [
            spawn(self._helper, self._listen, name=f"{self.args.worker_id}-cancels"),
            spawn(self._helper, self._beat, name=f"{self.args.worker_id}-heartbeats"),
        ]
        try:
            await wait_event(self.listening, 5.0)  # cancels are heard before the first claim
            await self._helper(lambda conn: self._claim_until(conn, stop))
            await self._shut_down()
        finally:
            self.quit.set()
            for helper in helpers:
                await helper.join(2 * POLL_S)
        return self.report

    # -- the loops the worker keeps, each on a connection of its own -------------------

    async def _helper(self, body: Callable[[AsyncConnection], Any]) -> None:
        """Run ``body`` on a pooled connection (in autocommit while held) and
        again on a fresh one when the connection fails, until the worker ends."""
        while not self.quit.is_set():
            try:
                async with self.pool.connection() as conn:
                    was = conn.autocommit
                    await conn.set_autocommit(True)
                    try:
                        await body(conn)
                    finally:
                        await unlisten(conn)
                        await conn.set_autocommit(was)
                return
            except Exception as exc:  # the server went away: log, wait, reconnect
                self._error("connection", exc)
                await wait_event(self.quit, 1.0)

    async def _claim_until(self, conn: AsyncConnection, stop: Event) -> None:
        """Claim while slots are free, sleep in wait_for_work when there is
        nothing to do, reap now and then; until ``stop``."""
        a = self.args
        runs = AsyncRepositories(conn).workflow_executions
        reap_at = monotonic()
        while not stop.is_set():
            if monotonic() >= reap_at:
                self.report.reaped += len(await runs.reap_expired(limit=100))
                reap_at = monotonic() + a.reap_s
            self.freed.clear()
            free = a.concurrency - len(self.active)
            if free <= 0:
                await wait_event(self.freed, POLL_S)
                continue
            claimed = await runs.claim(
                a.worker_id,
                limit=free,
                lease=a.lease,
                workflow_types=a.workflow_types,
                per_customer_limit=a.per_customer_limit,
                agent_id=a.agent_id,
                customer_id=a.customer_id,
            )
            for run in claimed:
                slot = _Slot(run, Event())
                self.active[str(run.id)] = slot
                slot.handle = spawn(self._handle, slot, name=f"{a.worker_id}-{run.id}")
            if not claimed:
                await wait_for_work(conn, timeout=POLL_S, workflow_types=a.workflow_types)

    async def _listen(self, conn: AsyncConnection) -> None:
        """Stop the handler of a run cancelled (or otherwise taken from this
        worker) as soon as the database announces it."""
        await execute(conn, "live.listen_cancel")
        self.listening.set()
        while not self.quit.is_set():
            async with aclosing(conn.notifies(timeout=POLL_S)) as heard:
                async for notify in heard:
                    slot = self.active.get(notify.payload)
                    if slot is not None and not slot.gone:
                        slot.take()

    async def _beat(self, conn: AsyncConnection) -> None:
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

    # -- one run ---------------------------------------------------------------------

    async def _handle(self, slot: _Slot) -> None:
        """Call the handler on the run, then move the run by its outcome."""
        run = slot.run
        try:
            async with self.pool.connection() as conn:
                repos = AsyncRepositories(conn)
                steps = await repos.workflow_steps.list_for_execution(run.id)
                job = Job(run, self.args.worker_id, repos, steps, slot.cancelled)
                returned: Any = None
                raised: BaseException | None = None
                try:
                    returned = await self.handler(job)
                except Cancelled:  # async-only: the task was cancelled: the run was taken
                    slot.gone = slot.gone or "taken"
                except Exception as exc:
                    raised = exc
                if not conn.autocommit:  # what the handler left open
                    await (conn.rollback() if raised or slot.gone else conn.commit())
                if slot.gone or isinstance(raised, LeaseLostError):
                    if slot.gone != "given back":  # counted by the shutdown
                        self.report.count("dropped")
                    return
                await self._settle(repos, run, returned, raised)
                if not conn.autocommit:
                    await conn.commit()
        except Exception as exc:
            self._error(f"run {run.id}", exc)
        finally:
            self.active.pop(str(run.id), None)
            self.freed.set()

    async def _settle(
        self, repos: AsyncRepositories, run: WorkflowExecution, returned: Any, raised: Any
    ) -> None:
        """Complete, requeue or fail the run, fenced by the worker's id."""
        move, doc, delay = after_handler(returned, raised)
        runs, worker = repos.workflow_executions, self.args.worker_id
        try:
            if move == "complete":
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

    async def _shut_down(self) -> None:
        """Let running handlers finish within the grace, then give the runs
        still held back without spending an attempt."""
        deadline = monotonic() + self.args.grace
        for slot in list(self.active.values()):
            if slot.handle is not None:
                await slot.handle.join(deadline - monotonic())
        left = [s for s in self.active.values() if not s.gone]
        if not left:
            return
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
        for slot in left:
            if slot.handle is not None:
                await slot.handle.join(POLL_S)

    def _error(self, where: str, exc: BaseException) -> None:
        text = f"{where}: {type(exc).__name__}: {exc}"
        log.warning("worker %s: %s", self.args.worker_id, text)
        if len(self.report.errors) < 100:
            self.report.errors.append(text)
