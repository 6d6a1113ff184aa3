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
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

import psycopg
from pydantic import Field, TypeAdapter

from optiinfra_db.db import Connection, connect, execute, fetch_all
from optiinfra_db.enums import WorkflowStatus, WorkflowType
from optiinfra_db.errors import ConnectionLostError, wrap_errors
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import WorkflowTransition

__all__ = ["wait_for_work", "watch"]

#: Transitions read per round trip.
_BATCH = 1000
#: How often a watcher re-reads the log with no notification (a safety net).
_POLL_S = 1.0
#: Waits between checks of the transactions a read must outlast.
_SETTLE_S = (0.002, 0.005, 0.01, 0.02, 0.05)
_ENDED = frozenset(
    {
        WorkflowStatus.COMPLETED.value,
        WorkflowStatus.FAILED.value,
        WorkflowStatus.CANCELLED.value,
        WorkflowStatus.TIMEOUT.value,
    }
)
_AFTER = TypeAdapter(Annotated[int, Field(ge=0, strict=True)] | None)
_TIMEOUT = TypeAdapter(Annotated[float, Field(gt=0, le=86_400)] | None)
_TYPES = TypeAdapter(Annotated[list[WorkflowType], Field(min_length=1)] | None)
_ROWS = TypeAdapter(list[WorkflowTransition])


def _seconds(value: float | timedelta | None) -> float | None:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return _TIMEOUT.validate_python(value)


# --------------------------------------------------------------------------- watch


def watch(
    conninfo: str,
    *,
    execution_id: UUID | str | None = None,
    after: int | None = None,
    timeout: float | timedelta | None = None,
) -> Iterator[WorkflowTransition]:
    """Yield transitions as they are committed, of one execution or of all.

    ``after``: a transition id; what came after it is replayed from the log
    first, then it follows live. Without it, it starts from now. It owns its
    connection (a LISTEN session can't sit in a pool), reconnects after the
    connection drops and resumes where it was: no transition is skipped or
    repeated. It ends when ``timeout`` seconds pass with nothing new, or, with
    ``execution_id``, once that execution has finished. Arguments are checked
    now (ValidationError), before any connection."""
    run = None if execution_id is None else check_id(execution_id)
    start = _AFTER.validate_python(after)
    idle = _seconds(timeout)
    return _follow(conninfo, run, start, idle)


def _follow(
    conninfo: str, run: UUID | None, last: int | None, idle: float | None
) -> Iterator[WorkflowTransition]:
    conn: Connection | None = None
    quiet_since = time.monotonic()
    backoff = 0.05
    try:
        while True:
            try:
                if conn is None:
                    conn = _listening(conninfo, "listen_transitions", "optiinfra-watch")
                    if last is None:
                        last = _settled_top(conn)
                        if run is not None and _has_ended(conn, run):
                            return
                    backoff = 0.05
                assert last is not None
                rows, last, full = _read_final(conn, last, run)
                yield from rows
                if rows:
                    quiet_since = time.monotonic()
                if run is not None and any(
                    r.workflow_step_id is None and r.to_status in _ENDED for r in rows
                ):
                    return  # the run's last statement is in this batch, all of it
                if full:
                    continue  # more to read already
                wait = _POLL_S
                if idle is not None:
                    left = idle - (time.monotonic() - quiet_since)
                    if left <= 0:
                        return
                    wait = min(wait, left)
                for _ in conn.notifies(timeout=wait, stop_after=1):
                    pass
            except (psycopg.OperationalError, ConnectionLostError):
                # Dropped: reconnect and resume from the last id yielded.
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
    finally:
        if conn is not None:
            conn.close()


def _listening(conninfo: str, channel: str, name: str) -> Connection:
    """A connection of our own, autocommit, subscribed to ``channel``."""
    conn = connect(conninfo, autocommit=True, prepare=False, application_name=name)
    try:
        with wrap_errors(True):
            execute(conn, f"live.{channel}")
    except BaseException:
        conn.close()
        raise
    return conn


def _in_progress(snapshot: str) -> list[str]:
    """The in-progress transaction ids of a pg_snapshot's text form (xmin:xmax:xip,...)."""
    xip = snapshot.split(":")[2]
    return [x for x in xip.split(",") if x]


def _outlast(conn: Connection, xids: list[str]) -> None:
    """Return once none of these transactions is in progress."""
    n = 0
    while True:
        with wrap_errors(True):
            (running,) = fetch_all(conn, "live.still_running", {"xids": xids})[0]
        if not running:
            return
        time.sleep(_SETTLE_S[min(n, len(_SETTLE_S) - 1)])
        n += 1


def _settled_top(conn: Connection) -> int:
    """Where a watcher without after= starts: the highest id once the
    transactions in flight now have ended (their rows count as before it)."""
    with wrap_errors(True):
        snapshot, _, _, _ = fetch_all(
            conn, "live.read_log", {"after": 0, "limit": 1, "execution_id": None}
        )[0]
    _outlast(conn, _in_progress(snapshot))
    with wrap_errors(True):
        return int(fetch_all(conn, "live.last_id")[0][0])


def _has_ended(conn: Connection, run: UUID) -> bool:
    with wrap_errors(True):
        found = fetch_all(conn, "live.execution_status", {"id": run})
    return not found or found[0][0] in _ENDED


def _read_final(
    conn: Connection, last: int, run: UUID | None
) -> tuple[list[WorkflowTransition], int, bool]:
    """The transitions after ``last`` that can no longer change: (rows in id
    order, the new position, whether the read was cut at the batch size)."""
    params = {"after": last, "limit": _BATCH, "execution_id": run}
    with wrap_errors(True):
        snapshot, top, rows, n = fetch_all(conn, "live.read_log", params)[0]
    if top is None:
        return [], last, False
    pending = _in_progress(snapshot)
    if pending:
        # Rows with ids up to `top` may still commit from these transactions:
        # wait for them, then read exactly that range again.
        _outlast(conn, pending)
        with wrap_errors(True):
            rows = fetch_all(
                conn, "live.read_range", {"after": last, "upto": top, "execution_id": run}
            )[0][0]
    return _ROWS.validate_json(rows), int(top), n >= _BATCH


# --------------------------------------------------------------------------- wait_for_work


#: Connections subscribed by wait_for_work (psycopg keeps what they hear while
#: not waiting, and hands it to the next wait first).
_LISTENING: weakref.WeakSet[Any] = weakref.WeakSet()


def wait_for_work(
    conn: Connection,
    *,
    timeout: float | timedelta,
    workflow_types: Iterable[WorkflowType | str] | None = None,
) -> bool:
    """Block until a pending execution may be claimable (one was created or
    requeued, of ``workflow_types`` if given) or ``timeout`` passes; True when
    woken, False on timeout. Call it on the connection you claim with, between
    transactions; the first call subscribes it and returns True at once (work
    may have arrived before it listened). A wake-up is a hint: claim, and
    wait again if the claim comes back empty."""
    limit = _seconds(timeout)
    if limit is None:
        raise TypeError("wait_for_work needs a timeout")
    kinds = _TYPES.validate_python(None if workflow_types is None else list(workflow_types))
    wanted = None if kinds is None else {k.value for k in kinds}
    if conn not in _LISTENING:
        with wrap_errors(conn.autocommit):
            execute(conn, "live.listen_work")
            if not conn.autocommit:
                conn.commit()  # LISTEN takes effect at commit
        _LISTENING.add(conn)
        return True
    deadline = time.monotonic() + limit
    with wrap_errors(conn.autocommit):
        while (left := deadline - time.monotonic()) > 0:
            for notify in conn.notifies(timeout=left, stop_after=1):
                if notify.channel == "optiinfra_work" and (
                    wanted is None or notify.payload in wanted
                ):
                    return True
    return False
