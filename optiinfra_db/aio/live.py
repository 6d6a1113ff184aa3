"""Live progress: ``watch`` follows the transition log as it is committed;
``wait_for_work`` lets an idle worker sleep until an execution may be
claimable. Both rest on LISTEN/NOTIFY (sent by the log's triggers on commit,
never for a rolled-back transaction); the log itself is the source of truth.

Why a watcher may hold a transition back: ids come from a sequence at insert,
not at commit, so a transaction that took id 10 can commit after id 11 is
visible. Each read takes the snapshot it ran under; the transactions that
snapshot lists as in progress are the only ones that can still commit rows
with ids up to the highest id read (a later transaction takes a higher id:
the identity's sequence caches one value at a time). So the watcher waits for
exactly those transactions to end, reads the range again, and only then
yields it: in id order, with no holes, each id once. A long write
transaction elsewhere delays the watcher for as long as it stays open.

Written once, for asyncio, in ``optiinfra_db/aio/live.py``;
``optiinfra_db/live.py`` is generated from it (``tools/async_to_sync.py``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from datetime import timedelta
from time import monotonic
from typing import Any
from uuid import UUID

import psycopg

from optiinfra_db._live import (
    BATCH,
    ENDED,
    POLL_S,
    ROWS,
    SETTLE_S,
    ends_run,
    in_progress,
    wait_args,
    watch_args,
)
from optiinfra_db.aio.db import AsyncConnection, connect, execute, fetch_all
from optiinfra_db.enums import WorkflowType
from optiinfra_db.errors import ConnectionLostError, wrap_errors
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import WorkflowTransition

__all__ = ["wait_for_work", "watch"]


# --------------------------------------------------------------------------- watch


def watch(
    conninfo: str,
    *,
    execution_id: UUID | str | None = None,
    after: int | None = None,
    timeout: float | timedelta | None = None,
    customer_id: UUID | str | None = None,
) -> AsyncIterator[WorkflowTransition]:
    """Yield transitions as they are committed, of one execution or of all.

    ``after``: a transition id; what came after it is replayed from the log
    first, then it follows live. Without it, it starts from now. It owns its
    connection (a LISTEN session can't sit in a pool), reconnects after the
    connection drops and resumes where it was: no transition is skipped or
    repeated. It ends when ``timeout`` seconds pass with nothing new, or, with
    ``execution_id``, once that execution has finished. ``customer_id``: read
    the log for that customer only, under row-level security (``conninfo``
    then logs in as a member of optiinfra_app; on such a login a watch without
    it sees nothing). Arguments are checked now (ValidationError), before any
    connection."""
    run, start, idle = watch_args(execution_id, after, timeout)
    customer = None if customer_id is None else check_id(customer_id)
    return _follow(conninfo, run, start, idle, customer)


async def _follow(
    conninfo: str, run: UUID | None, last: int | None, idle: float | None, customer: UUID | None
) -> AsyncIterator[WorkflowTransition]:
    conn: AsyncConnection | None = None
    quiet_since = monotonic()
    backoff = 0.05
    try:
        while True:
            try:
                if conn is None:
                    conn = await _listening(conninfo, "listen_transitions", "optiinfra-watch")
                    if last is None:
                        last = await _settled_top(conn, customer)
                        if run is not None and await _has_ended(conn, run, customer):
                            return
                    backoff = 0.05
                assert last is not None
                rows, last, full = await _read_final(conn, last, run, customer)
                for row in rows:
                    yield row
                if rows:
                    quiet_since = monotonic()
                if run is not None and ends_run(rows):
                    return  # the run's last statement is in this batch, all of it
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
                # Dropped: reconnect and resume from the last id yielded.
                if conn is not None:
                    await conn.close()
                conn = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
    finally:
        if conn is not None:
            await conn.close()


async def _listening(conninfo: str, channel: str, name: str) -> AsyncConnection:
    """A connection of our own, autocommit, subscribed to ``channel``."""
    conn = await connect(conninfo, autocommit=True, prepare=False, application_name=name)
    try:
        with wrap_errors(True):
            await execute(conn, f"live.{channel}")
    except BaseException:
        await conn.close()
        raise
    return conn


async def _outlast(conn: AsyncConnection, xids: list[str]) -> None:
    """Return once none of these transactions is in progress."""
    n = 0
    while True:
        with wrap_errors(True):
            (running,) = (await fetch_all(conn, "live.still_running", {"xids": xids}))[0]
        if not running:
            return
        await asyncio.sleep(SETTLE_S[min(n, len(SETTLE_S) - 1)])
        n += 1


async def _settled_top(conn: AsyncConnection, customer: UUID | None) -> int:
    """Where a watcher without after= starts: the highest id once the
    transactions in flight now have ended (their rows count as before it)."""
    with wrap_errors(True):
        snapshot, _, _, _ = (
            await fetch_all(
                conn, "live.read_log", {"after": 0, "limit": 1, "execution_id": None}, customer
            )
        )[0]
    await _outlast(conn, in_progress(snapshot))
    with wrap_errors(True):
        return int((await fetch_all(conn, "live.last_id", None, customer))[0][0])


async def _has_ended(conn: AsyncConnection, run: UUID, customer: UUID | None) -> bool:
    with wrap_errors(True):
        found = await fetch_all(conn, "live.execution_status", {"id": run}, customer)
    return not found or found[0][0] in ENDED


async def _read_final(
    conn: AsyncConnection, last: int, run: UUID | None, customer: UUID | None
) -> tuple[list[WorkflowTransition], int, bool]:
    """The transitions after ``last`` that can no longer change: (rows in id
    order, the new position, whether the read was cut at the batch size)."""
    params = {"after": last, "limit": BATCH, "execution_id": run}
    with wrap_errors(True):
        snapshot, top, rows, n = (await fetch_all(conn, "live.read_log", params, customer))[0]
    if top is None:
        return [], last, False
    pending = in_progress(snapshot)
    if pending:
        # Rows with ids up to `top` may still commit from these transactions:
        # wait for them, then read exactly that range again.
        await _outlast(conn, pending)
        with wrap_errors(True):
            rows = (
                await fetch_all(
                    conn,
                    "live.read_range",
                    {"after": last, "upto": top, "execution_id": run},
                    customer,
                )
            )[0][0]
    return ROWS.validate_json(rows), int(top), n >= BATCH


# --------------------------------------------------------------------------- wait_for_work


#: Connections subscribed by wait_for_work (psycopg keeps what they hear while
#: not waiting, and hands it to the next wait first).
_LISTENING: weakref.WeakSet[Any] = weakref.WeakSet()


async def wait_for_work(
    conn: AsyncConnection,
    *,
    timeout: float | timedelta,
    workflow_types: Iterable[WorkflowType | str] | None = None,
) -> bool:
    """Wait until a pending execution may be claimable (one was created or
    requeued, of ``workflow_types`` if given) or ``timeout`` passes; True when
    woken, False on timeout. Call it on the connection you claim with, between
    transactions; the first call subscribes it and returns True at once (work
    may have arrived before it listened). A wake-up is a hint: claim, and
    wait again if the claim comes back empty."""
    limit, wanted = wait_args(timeout, workflow_types)
    if conn not in _LISTENING:
        with wrap_errors(conn.autocommit):
            await execute(conn, "live.listen_work")
            if not conn.autocommit:
                await conn.commit()  # LISTEN takes effect at commit
        _LISTENING.add(conn)
        return True
    deadline = monotonic() + limit
    with wrap_errors(conn.autocommit):
        while (left := deadline - monotonic()) > 0:
            # Closed at once when left early: the generator holds the connection's lock.
            async with aclosing(conn.notifies(timeout=left, stop_after=1)) as heard:
                async for notify in heard:
                    if notify.channel == "optiinfra_work" and (
                        wanted is None or notify.payload in wanted
                    ):
                        return True
    return False
