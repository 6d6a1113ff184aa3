"""Retention: ``purge`` removes finished history older than a cutoff, in short
batches (``sql/retention.sql``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, Field, TypeAdapter

from optiinfra_db.db import connect, fetch_all
from optiinfra_db.enums import WorkflowStatus
from optiinfra_db.errors import wrap_errors
from optiinfra_db.fieldtypes import Timestamp, check_id

__all__ = ["TERMINAL", "PurgeBatch", "PurgeResult", "purge", "purge_count"]

#: The statuses a run ends in: what purge removes by default.
TERMINAL = frozenset(
    {
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
        WorkflowStatus.CANCELLED,
        WorkflowStatus.TIMEOUT,
    }
)
_MIN_UUID = UUID(int=0)


def _not_future(value: datetime) -> datetime:
    if value > datetime.now(UTC):
        raise ValueError("finished_before is in the future: only finished history is purged")
    return value


def _terminal(values: list[WorkflowStatus]) -> list[WorkflowStatus]:
    live = sorted(s.value for s in set(values) - TERMINAL)
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
    slowest_batch_s: float = 0.0
    seconds: float = 0.0
    artifact_paths: list[str] = field(default_factory=list)


def _params(
    finished_before: datetime,
    statuses: Iterable[WorkflowStatus | str] | None,
    customer_id: UUID | str | None,
) -> dict[str, Any]:
    """The validated arguments every purge statement takes (ValidationError before any SQL)."""
    return {
        "finished_before": _CUTOFF.validate_python(finished_before),
        "statuses": [
            s.value
            for s in _STATUSES.validate_python(
                sorted(TERMINAL) if statuses is None else list(statuses)
            )
        ],
        "customer_id": None if customer_id is None else check_id(customer_id),
    }


def purge_count(
    conninfo: str,
    *,
    finished_before: datetime,
    statuses: Iterable[WorkflowStatus | str] | None = None,
    customer_id: UUID | str | None = None,
) -> int:
    """How many executions ``purge`` with these arguments would remove."""
    params = _params(finished_before, statuses, customer_id)
    with connect(conninfo, autocommit=True) as conn, wrap_errors(True):
        return int(fetch_all(conn, "retention.purge_count", params)[0][0])


def purge(
    conninfo: str,
    *,
    finished_before: datetime,
    statuses: Iterable[WorkflowStatus | str] | None = None,
    customer_id: UUID | str | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    on_batch: Callable[[PurgeBatch], Any] | None = None,
) -> PurgeResult:
    """Delete finished executions that completed before ``finished_before``
    (default statuses: the terminal ones; never a pending or running run),
    with their steps, artifacts and transitions, ``batch_size`` executions
    per batch, each batch its own short transaction on a connection of its
    own that skips rows another session holds. ``dry_run`` counts the same
    batches without deleting. ``on_batch`` gets each PurgeBatch as it
    finishes (e.g. to delete the artifacts' blobs as you go). Arguments are
    validated before any SQL (a cutoff in the future is refused)."""
    params = {
        **_params(finished_before, statuses, customer_id),
        "batch_size": _BATCH.validate_python(batch_size),
    }
    result = PurgeResult(dry_run=TypeAdapter(bool).validate_python(dry_run))
    began = time.perf_counter()
    after: tuple[Any, UUID] = ("-infinity", _MIN_UUID)
    with connect(conninfo, autocommit=True) as conn:
        while True:
            started = time.perf_counter()
            with wrap_errors(True):
                row = fetch_all(
                    conn,
                    "retention.purge_preview" if result.dry_run else "retention.purge_batch",
                    {**params, "after_completed_at": after[0], "after_id": after[1]},
                )[0]
            took = time.perf_counter() - started
            executions, steps, artifacts, transitions, paths, last_at, last_id = row
            if not executions:
                break
            batch = PurgeBatch(executions, steps, artifacts, transitions, json.loads(paths), took)
            result.executions += executions
            result.steps += steps
            result.artifacts += artifacts
            result.transitions += transitions
            result.batches += 1
            result.slowest_batch_s = max(result.slowest_batch_s, took)
            result.artifact_paths += batch.artifact_paths
            if on_batch is not None:
                on_batch(batch)
            after = (last_at, last_id)
    result.seconds = time.perf_counter() - began
    return result
