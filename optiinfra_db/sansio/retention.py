"""What ``purge`` of either side shares, none of it doing I/O: the records
it returns, the statuses it may remove, and its checked arguments (see
``optiinfra_db/aio/retention.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, Field, TypeAdapter

from optiinfra_db.enums import FINISHED_STATUSES, WorkflowStatus
from optiinfra_db.fieldtypes import Timestamp, WorkerId, check_id

__all__ = [
    "MIN_UUID",
    "PurgeBatch",
    "PurgeResult",
    "add_batch",
    "purge_args",
    "purge_params",
]

MIN_UUID = UUID(int=0)


def _not_future(value: datetime) -> datetime:
    if value > datetime.now(UTC):
        raise ValueError("finished_before is in the future: only finished history is purged")
    return value


def _terminal(values: list[WorkflowStatus]) -> list[WorkflowStatus]:
    live = sorted(s.value for s in set(values) - FINISHED_STATUSES)
    if live:
        raise ValueError(f"purge never removes {' or '.join(live)} executions")
    return values


_CUTOFF = TypeAdapter(Annotated[Timestamp, AfterValidator(_not_future)])
_STATUSES = TypeAdapter(
    Annotated[list[WorkflowStatus], Field(min_length=1), AfterValidator(_terminal)]
)
_BATCH = TypeAdapter(Annotated[int, Field(ge=1, le=10_000, strict=True)])


@dataclass(frozen=True)
class PurgeBatch:
    """One batch: what it removed (or, in a dry run, would remove) and how long it took."""

    executions: int
    steps: int
    artifacts: int
    transitions: int
    artifact_paths: list[str]
    seconds: float


@dataclass
class PurgeResult:
    """A whole purge: counts per table, batches, the slowest batch, the paths
    of the artifacts removed (delete their blobs), and whether it was a dry run."""

    dry_run: bool
    executions: int = 0
    steps: int = 0
    artifacts: int = 0
    transitions: int = 0
    batches: int = 0
    #: whole partitions of the transition log dropped (their rows are
    #: counted in ``transitions``)
    partitions_dropped: int = 0
    slowest_batch_s: float = 0.0
    seconds: float = 0.0
    artifact_paths: list[str] = field(default_factory=list)


def purge_args(
    finished_before: datetime,
    statuses: Iterable[WorkflowStatus | str] | None,
    customer_id: UUID | str | None,
) -> dict[str, Any]:
    """The validated arguments every purge statement takes, ``purge_count``'s
    too (ValidationError before any SQL)."""
    return {
        "finished_before": _CUTOFF.validate_python(finished_before),
        "statuses": [
            s.value
            for s in _STATUSES.validate_python(
                sorted(FINISHED_STATUSES) if statuses is None else list(statuses)
            )
        ],
        "customer_id": None if customer_id is None else check_id(customer_id),
    }


def purge_params(
    finished_before: datetime,
    statuses: Iterable[WorkflowStatus | str] | None,
    customer_id: UUID | str | None,
    batch_size: int,
    dry_run: bool,
) -> tuple[dict[str, Any], PurgeResult]:
    """``purge``'s checked arguments as bound parameters, and its empty result."""
    params = {
        **purge_args(finished_before, statuses, customer_id),
        "batch_size": _BATCH.validate_python(batch_size),
    }
    return params, PurgeResult(dry_run=TypeAdapter(bool).validate_python(dry_run))


def purge_session_name(actor: str | None) -> str:
    """The application_name of purge's own session, naming who purges: the
    deleted runs take their log with them, so the session is where a DBA
    sees it (pg_stat_activity, and server log lines with ``%a``). The
    server keeps 63 bytes of it."""
    who = TypeAdapter(WorkerId | None).validate_python(actor)
    name = "optiinfra-db purge" if who is None else f"optiinfra-db purge by {who}"
    return name.encode()[:63].decode(errors="ignore")


def add_batch(result: PurgeResult, row: tuple[Any, ...], took: float) -> PurgeBatch | None:
    """Count one batch's row (None when the batch removed nothing: the end)."""
    executions, steps, artifacts, transitions, paths = row[:5]
    if not executions:
        return None
    batch = PurgeBatch(executions, steps, artifacts, transitions, json.loads(paths), took)
    result.executions += executions
    result.steps += steps
    result.artifacts += artifacts
    result.transitions += transitions
    result.batches += 1
    result.slowest_batch_s = max(result.slowest_batch_s, took)
    result.artifact_paths += batch.artifact_paths
    return batch
