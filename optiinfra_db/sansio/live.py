"""What ``watch`` and ``wait_for_work`` of either side share, none of it
doing I/O: argument checks, and the log position a watcher keeps and hands
out with each transition (see ``optiinfra_db/aio/live.py`` and
``sql/live.sql``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, cast
from uuid import UUID

from pydantic import AfterValidator, Field, TypeAdapter

from optiinfra_db.enums import FINISHED_STATUSES, WorkflowType
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import WorkflowTransition

#: Transitions read per round trip.
BATCH = 1000
#: How often a watcher re-reads the log with no notification (a safety net).
POLL_S = 1.0
_TIMEOUT = TypeAdapter(Annotated[float, Field(gt=0, le=86_400)] | None)
_TYPES = TypeAdapter(Annotated[list[WorkflowType], Field(min_length=1)] | None)
ROWS = TypeAdapter(list[WorkflowTransition])


def seconds(value: float | timedelta | None) -> float | None:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return _TIMEOUT.validate_python(value)


def watch_args(
    execution_id: UUID | str | None,
    after: int | str | None,
    timeout: float | timedelta | None,
) -> tuple[UUID | None, int | LogPosition | None, float | None]:
    """``watch``'s arguments checked (ValidationError before any connection)."""
    run = None if execution_id is None else check_id(execution_id)
    start = cast("int | LogPosition | None", _AFTER.validate_python(after))
    return run, start, seconds(timeout)


def wait_args(
    timeout: float | timedelta, workflow_types: Iterable[WorkflowType | str] | None
) -> tuple[float, set[str] | None]:
    """``wait_for_work``'s arguments checked: (seconds, the channel payloads wanted)."""
    limit = seconds(timeout)
    if limit is None:
        raise TypeError("wait_for_work needs a timeout")
    kinds = _TYPES.validate_python(None if workflow_types is None else list(workflow_types))
    return limit, None if kinds is None else {k.value for k in kinds}


_SNAPSHOT = r"\d{1,20}:\d{1,20}:(?:\d{1,20}(?:,\d{1,20})*)?"
_POSITION = re.compile(rf"({_SNAPSHOT})?/({_SNAPSHOT})?/(\d{{1,19}})?")


def _check_snapshot(text: str) -> str:
    """A pg_snapshot's text form (xmin:xmax:xip,...) as PostgreSQL accepts it."""
    xmin, xmax, xip = text.split(":")
    ids = [int(x) for x in xip.split(",") if x]
    if (
        not (0 < int(xmin) <= int(xmax))
        or any(not int(xmin) <= x < int(xmax) for x in ids)
        or ids != sorted(ids)
    ):
        raise ValueError(f"not a snapshot: {text!r}")
    return text


@dataclass(frozen=True, slots=True)
class LogPosition:
    """Where a watcher stands in the transition log: every transition whose
    writer ``lo`` sees is behind it, and, while a read cut at the batch size
    is being finished, those ``hi`` sees with ids up to ``last`` too. Without
    ``lo`` (a watch resumed from a transition id) only the latter. Its text
    form, :meth:`token`, is ``WorkflowTransition.position`` and what
    ``log_position`` returns: pass it to ``watch(after=...)``."""

    lo: str | None
    hi: str | None = None
    last: int | None = None

    def token(self) -> str:
        return f"{self.lo or ''}/{self.hi or ''}/{'' if self.last is None else self.last}"

    @classmethod
    def parse(cls, text: str) -> LogPosition:
        """The position of a token (ValueError for anything else)."""
        match = _POSITION.fullmatch(text)
        if match is None:
            raise ValueError(
                "not a log position (a WorkflowTransition.position or odb.log_position())"
            )
        lo, hi, last = match.groups()
        if (hi is None) != (last is None) or (lo is None and hi is None):
            raise ValueError("not a log position: incomplete")
        return cls(
            None if lo is None else _check_snapshot(lo),
            None if hi is None else _check_snapshot(hi),
            None if last is None else int(last),
        )

    def after(self, last: int) -> LogPosition:
        """This position once the transition ``last`` of the current read is yielded."""
        return LogPosition(self.lo, self.hi, last)


def own_position(snapshot: str, own_xid: str | None) -> LogPosition:
    """The position of a session's snapshot, with its own transaction (when it
    has written, so has an id) counted as not yet seen: its rows come after
    it commits. A snapshot never lists its own transaction as in progress."""
    if own_xid is None:
        return LogPosition(snapshot)
    xmin, xmax, xip = snapshot.split(":")
    own = int(own_xid)
    ids = sorted({*(int(x) for x in xip.split(",") if x), own})
    return LogPosition(f"{min(int(xmin), own)}:{xmax}:{','.join(map(str, ids))}")


_AFTER = TypeAdapter(
    Annotated[int, Field(ge=0, strict=True)]
    | Annotated[str, AfterValidator(LogPosition.parse)]
    | None
)


def ends_run(rows: list[WorkflowTransition]) -> bool:
    """Whether these transitions include their execution's finish."""
    return any(r.workflow_step_id is None and r.to_status in FINISHED_STATUSES for r in rows)
