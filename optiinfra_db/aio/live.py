"""Live progress: ``watch`` follows the transition log as it is committed;
``wait_for_work`` lets an idle worker sleep until an execution may be
claimable. Both rest on LISTEN/NOTIFY (sent by the log's triggers on commit,
never for a rolled-back transaction); the log itself is the source of truth.

How a watcher reads the log without missing or holding back anything: ids
come from a sequence at insert, not at commit, so "the rows after id N"
misses a row whose transaction took a lower id and committed later. Each
row therefore carries its writer's transaction id (migration 0016), and a
watcher keeps a snapshot instead of an id, as PgQ reads its queues: each
read returns the rows whose writer its last snapshot did not see and the
reading statement's snapshot does, and that snapshot becomes the next one
(``sql/live.sql``). Every committed row is in exactly one such read, in the
order the transactions became visible (by id within a read); a transaction
still open delays nothing but its own rows. The position after each row
(``WorkflowTransition.position``) resumes a watch exactly there.

Written once, for asyncio, in ``optiinfra_db/aio/live.py``;
``optiinfra_db/live.py`` is generated from it (``tools/async_to_sync.py``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing
from datetime import timedelta
from time import monotonic
from typing import Any
from uuid import UUID

import psycopg

from optiinfra_db.aio.db import AsyncConnection, connect, execute, fetch_all
from optiinfra_db.enums import FINISHED_STATUSES, WorkflowType
from optiinfra_db.errors import ConnectionLostError, wrap_errors
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import WorkflowTransition
from optiinfra_db.sansio.live import (
    BATCH,
    POLL_S,
    ROWS,
    LogPosition,
    ends_run,
    own_position,
    wait_args,
    watch_args,
)

__all__ = ["log_position", "wait_for_work", "watch"]


# --------------------------------------------------------------------------- watch


def watch(
    conninfo: str,
    *,
    execution_id: UUID | str | None = None,
    after: int | str | None = None,
    timeout: float | timedelta | None = None,
    customer_id: UUID | str | None = None,
) -> AsyncIterator[WorkflowTransition]:
    """Yield transitions as they are committed, of one execution or of all.

    ``after``: where to start. A position (a ``WorkflowTransition.position``
    yielded earlier, or ``log_position(conn)`` taken before the caller wrote
    anything) resumes exactly there: every transition committed since comes,
    none twice. A transition id replays the log after that id, then what is
    committed from then on (whatever its id). Without it, it starts from now.
    Transitions come in the order their transactions committed (by id
    within one commit); one transaction left open delays only its own.
    It owns its connection (a LISTEN session can't sit in a pool),
    reconnects after the connection drops and resumes where it was. It ends
    when ``timeout`` seconds pass with nothing new, or, with
    ``execution_id``, once that execution has finished. ``customer_id``: read
    the log for that customer only, under row-level security (``conninfo``
    then logs in as a member of optiinfra_app; on such a login a watch without
    it sees nothing). Arguments are checked now (ValidationError), before any
    connection."""
    run, start, idle = watch_args(execution_id, after, timeout)
    customer = None if customer_id is None else check_id(customer_id)
    return _follow(conninfo, run, start, idle, customer)


async def log_position(conn: AsyncConnection) -> str:
    """Where the transition log stands for ``conn`` now, as a position for
    ``watch(after=...)``: everything committed after this call, and what
    ``conn``'s own open transaction writes, comes to such a watch. Take it
    before writing what you will watch for."""
    with wrap_errors(conn.autocommit):
        snapshot, own = (await fetch_all(conn, "live.position"))[0]
    return own_position(snapshot, own).token()


async def _follow(
    conninfo: str,
    run: UUID | None,
    start: int | LogPosition | None,
    idle: float | None,
    customer: UUID | None,
) -> AsyncIterator[WorkflowTransition]:
    conn: AsyncConnection | None = None
    at = start if isinstance(start, LogPosition) else None
    quiet_since = monotonic()
    backoff = 0.05
    try:
        while True:
            try:
                if conn is None:
                    conn = await _listening(conninfo, "listen_transitions", "optiinfra-watch")
                    if at is None:
                        with wrap_errors(True):
                            snapshot, _ = (await fetch_all(conn, "live.position"))[0]
                        if isinstance(start, int):  # replay after that id, then follow
                            at = LogPosition(None, snapshot, start)
                        else:
                            at = LogPosition(snapshot)
                            if run is not None and await _has_ended(conn, run, customer):
                                return
                    backoff = 0.05
                assert at is not None
                rows, at, full = await _read(conn, at, run, customer)
                for row in rows:
                    yield row
                if rows:
                    quiet_since = monotonic()
                if run is not None and ends_run(rows):
                    return  # the run's last statement is in this read, all of it
                if full:
                    continue  # more to read already
                wait = POLL_S
                if idle is not None:
                    left = idle - (monotonic() - quiet_since)
                    if left <= 0:
                        return
                    wait = min(wait, left)
                async for _ in conn.notifies(timeout=wait, stop_after=1):
                    pass
            except (psycopg.OperationalError, ConnectionLostError):
                # Dropped: reconnect and resume from the position reached.
                if conn is not None:
                    await conn.close()
                conn = None
                wait = backoff
                if idle is not None:
                    left = idle - (monotonic() - quiet_since)
                    if left <= 0:
                        return
                    wait = min(wait, left)
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, 1.0)
    finally:
        if conn is not None:
            await conn.close()


async def _listening(conninfo: str, channel: str, name: str) -> AsyncConnection:
    """A connection of our own, autocommit, subscribed to ``channel``."""
    conn = await connect(
        conninfo, autocommit=True, prepare=False, application_name=name, connect_timeout=2
    )
    try:
        with wrap_errors(True):
            await execute(conn, f"live.{channel}")
    except BaseException:
        await conn.close()
        raise
    return conn


async def _has_ended(conn: AsyncConnection, run: UUID, customer: UUID | None) -> bool:
    with wrap_errors(True):
        found = await fetch_all(conn, "live.execution_status", {"id": run}, customer)
    return not found or found[0][0] in FINISHED_STATUSES


async def _read(
    conn: AsyncConnection, at: LogPosition, run: UUID | None, customer: UUID | None
) -> tuple[list[WorkflowTransition], LogPosition, bool]:
    """The next transitions past ``at``, each carrying the position after it:
    (rows, the position after them, whether the read was cut at the batch
    size and more is there already)."""
    params: dict[str, object] = {"limit": BATCH, "execution_id": run}
    with wrap_errors(True):
        if at.hi is None:  # a new read: what became visible since at.lo
            hi, rows, n = (
                await fetch_all(conn, "live.read_new", {**params, "lo": at.lo}, customer)
            )[0]
            at = LogPosition(at.lo, hi)
        elif at.lo is None:  # resumed from a transition id
            rows, n = (
                await fetch_all(
                    conn, "live.read_from_id", {**params, "hi": at.hi, "last": at.last}, customer
                )
            )[0]
        else:  # the rest of a read cut at the batch size
            rows, n = (
                await fetch_all(
                    conn,
                    "live.read_rest",
                    {**params, "lo": at.lo, "hi": at.hi, "last": at.last},
                    customer,
                )
            )[0]
    found = ROWS.validate_json(rows)
    full = n >= BATCH
    done = LogPosition(at.hi)  # where the watcher stands once this read is all yielded
    marked = [
        row.model_copy(
            update={"position": (at.after(row.id) if full or i < len(found) - 1 else done).token()}
        )
        for i, row in enumerate(found)
    ]
    return marked, at.after(found[-1].id) if full else done, full


# --------------------------------------------------------------------------- wait_for_work


#: Connections subscribed by wait_for_work (psycopg keeps what they hear while
#: not waiting, and hands it to the next wait first).
_LISTENING: weakref.WeakSet[Any] = weakref.WeakSet()


async def wait_for_work(
    conn: AsyncConnection,
    *,
    timeout: float | timedelta,
    workflow_types: Iterable[WorkflowType | str] | None = None,
    customer_id: UUID | str | None = None,
) -> bool:
    """Wait until a pending execution may be claimable (one was created or
    requeued, or a delayed one fell due, of ``workflow_types`` if given) or
    ``timeout`` passes; True when woken, False on timeout. A delayed run
    wakes it when due (the next due time is read before each wait: one
    index probe), without the caller polling. Call it on the connection you claim with, between
    transactions; the first call subscribes it and returns True at once (work
    may have arrived before it listened). A wake-up is a hint: claim, and
    wait again if the claim comes back empty. ``customer_id``: the customer
    whose delayed runs it reads the next due time of, under row-level
    security (needed on an optiinfra_app login, which reads none without
    it); the wake-ups on new work come for every customer."""
    return await wait_hearing(
        conn, timeout=timeout, workflow_types=workflow_types, customer_id=customer_id
    )


async def wait_hearing(
    conn: AsyncConnection,
    *,
    timeout: float | timedelta,
    workflow_types: Iterable[WorkflowType | str] | None = None,
    customer_id: UUID | str | None = None,
    heard: Callable[[psycopg.Notify], Any] | None = None,
) -> bool:
    """wait_for_work, handing every other notification the connection hears
    meanwhile to ``heard`` (run_worker's listener: cancels arrive on the
    same connection, its only listening session)."""
    limit, wanted = wait_args(timeout, workflow_types)
    customer = None if customer_id is None else check_id(customer_id)
    if conn not in _LISTENING:
        with wrap_errors(conn.autocommit):
            await execute(conn, "live.listen_work")
            if not conn.autocommit:
                await conn.commit()  # LISTEN takes effect at commit
        _LISTENING.add(conn)
        return True
    deadline = monotonic() + limit
    due = await _next_due(conn, wanted, customer)
    if due is not None and due <= 0:
        return True
    wake = deadline if due is None else min(deadline, monotonic() + due)
    with wrap_errors(conn.autocommit):
        while (left := wake - monotonic()) > 0:
            # Closed at once when left early: the generator holds the connection's lock.
            async with aclosing(conn.notifies(timeout=left, stop_after=1)) as notes:
                async for notify in notes:
                    if notify.channel != "optiinfra_work":
                        if heard is not None:
                            heard(notify)
                    elif wanted is None or notify.payload in wanted:
                        return True
    return wake < deadline  # a delayed run fell due before the timeout


async def unlisten(conn: AsyncConnection) -> None:
    """End every LISTEN of ``conn`` (wait_for_work's among them), so that it
    can go back to a pool hearing nothing; the next wait_for_work on it
    subscribes it again."""
    with wrap_errors(conn.autocommit):
        await execute(conn, "live.unlisten_all")
        if not conn.autocommit:
            await conn.commit()
    _LISTENING.discard(conn)


async def _next_due(
    conn: AsyncConnection, wanted: set[str] | None, customer: UUID | None
) -> float | None:
    """Seconds until the next delayed run (of the ``wanted`` types) is due,
    by the server's clock; None when none waits. Ends the transaction its
    read opened on a connection out of autocommit (one left open would hold
    the notifications back)."""
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with wrap_errors(conn.autocommit):
        rows = await fetch_all(
            conn,
            "workflow_executions.next_due",
            {"workflow_types": None if wanted is None else sorted(wanted)},
            customer,
        )
        if idle and not conn.autocommit:
            await conn.commit()
    seconds = rows[0][0]
    return None if seconds is None else float(seconds)
