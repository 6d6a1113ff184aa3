"""What the transition log's partition functions of either side share, none
of it doing I/O: the record a partition is read into and the checked
arguments of ``ensure_partitions`` and ``partition_gaps`` (see
``optiinfra_db/aio/partitions.py`` and migration 0026)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from optiinfra_db.records._base import Record

__all__ = ["TransitionPartition", "ensure_params", "gaps_params"]


class TransitionPartition(Record):
    """One partition of ``workflow_transitions``, as the catalog has it:
    its range ``[range_from, range_to)`` (None: unbounded; both None for the
    DEFAULT partition), the planner's row estimate (None: never analyzed),
    its size with indexes in bytes, and whether a ``DETACH ... CONCURRENTLY``
    of it was interrupted (purge finishes it)."""

    name: str
    range_from: datetime | None
    range_to: datetime | None
    is_default: bool
    rows_estimate: int | None
    total_bytes: int
    detach_pending: bool

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> TransitionPartition:
        name, lo, hi, is_default, rows, size, pending = row
        return cls(
            name=name,
            range_from=lo,
            range_to=hi,
            is_default=is_default,
            rows_estimate=rows,
            total_bytes=size,
            detach_pending=pending,
        )


_AHEAD = TypeAdapter(Annotated[int, Field(ge=0, le=520, strict=True)])
_WIDTH = TypeAdapter(Annotated[timedelta, Field(ge=timedelta(hours=1), le=timedelta(days=366))])
_HORIZON = TypeAdapter(Annotated[timedelta, Field(gt=timedelta(0), le=timedelta(days=3660))])


def ensure_params(ahead: int, width: timedelta) -> dict[str, Any]:
    """``ensure_partitions``' arguments, checked (ValidationError before any
    SQL): 0-520 slots ahead, a slot 1 hour to 366 days wide."""
    return {"ahead": _AHEAD.validate_python(ahead), "width": _WIDTH.validate_python(width)}


def gaps_params(horizon: timedelta) -> dict[str, Any]:
    """``partition_gaps``' horizon, checked (more than 0, at most ten years)."""
    return {"horizon": _HORIZON.validate_python(horizon)}
