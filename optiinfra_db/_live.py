"""What ``watch`` and ``wait_for_work`` of either side share, none of it
doing I/O: argument checks, the settle waits and reading a snapshot's
in-progress transactions (see ``optiinfra_db/aio/live.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated
from uuid import UUID

from pydantic import Field, TypeAdapter

from optiinfra_db.enums import WorkflowStatus, WorkflowType
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import WorkflowTransition

#: Transitions read per round trip.
BATCH = 1000
#: How often a watcher re-reads the log with no notification (a safety net).
POLL_S = 1.0
#: Waits between checks of the transactions a read must outlast.
SETTLE_S = (0.002, 0.005, 0.01, 0.02, 0.05)
ENDED = frozenset(
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
ROWS = TypeAdapter(list[WorkflowTransition])


def seconds(value: float | timedelta | None) -> float | None:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return _TIMEOUT.validate_python(value)


def watch_args(
    execution_id: UUID | str | None, after: int | None, timeout: float | timedelta | None
) -> tuple[UUID | None, int | None, float | None]:
    """``watch``'s arguments checked (ValidationError before any connection)."""
    run = None if execution_id is None else check_id(execution_id)
    return run, _AFTER.validate_python(after), seconds(timeout)


def wait_args(
    timeout: float | timedelta, workflow_types: Iterable[WorkflowType | str] | None
) -> tuple[float, set[str] | None]:
    """``wait_for_work``'s arguments checked: (seconds, the channel payloads wanted)."""
    limit = seconds(timeout)
    if limit is None:
        raise TypeError("wait_for_work needs a timeout")
    kinds = _TYPES.validate_python(None if workflow_types is None else list(workflow_types))
    return limit, None if kinds is None else {k.value for k in kinds}


def in_progress(snapshot: str) -> list[str]:
    """The in-progress transaction ids of a pg_snapshot's text form (xmin:xmax:xip,...)."""
    xip = snapshot.split(":")[2]
    return [x for x in xip.split(",") if x]


def ends_run(rows: list[WorkflowTransition]) -> bool:
    """Whether these transitions include their execution's finish."""
    return any(r.workflow_step_id is None and r.to_status in ENDED for r in rows)
