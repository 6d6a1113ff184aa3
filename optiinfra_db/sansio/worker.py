"""What ``run_worker`` decides, on either side, none of it doing I/O: the
handler's outcomes (``Retry``, ``Fail``), what a run becomes after its
handler, the worker's arguments and its report (see
``optiinfra_db/aio/worker.py``, the loop itself)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field

from optiinfra_db.enums import WorkflowType
from optiinfra_db.fieldtypes import (
    ClaimLimit,
    CustomerLimit,
    Delay,
    JsonObject,
    Lease,
    WorkerId,
    check_id,
)
from optiinfra_db.sansio.lifecycle import DEFAULT_LEASE, TYPES
from optiinfra_db.sansio.values import check

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_LEASE",
    "POLL_S",
    "Fail",
    "Retry",
    "WorkerArgs",
    "WorkerReport",
    "after_handler",
    "error_of",
    "worker_args",
]

#: How long running handlers get to finish once the worker is told to stop.
DEFAULT_GRACE = timedelta(seconds=30)

#: How often the loop looks up from an idle wait (a stop is seen within it).
POLL_S = 0.5

#: The shutdown grace: 0 (give the runs back at once) up to an hour.
Grace = Annotated[timedelta, Field(ge=timedelta(0), le=timedelta(hours=1))]

#: Handlers at once in one worker.
Concurrency = ClaimLimit


class Retry(Exception):
    """Raised by a handler: give the run back to be tried again, after
    ``delay`` (0 up to a day) or the default backoff when None; it fails
    instead once its attempts are exhausted. ``error_details`` (a JSON
    object) is kept in that attempt's history."""

    def __init__(
        self, delay: timedelta | None = None, error_details: dict[str, Any] | None = None
    ) -> None:
        self.delay = None if delay is None else check(Delay, delay)
        self.error_details = None if error_details is None else check(JsonObject, error_details)
        super().__init__(f"retry (delay {self.delay})")


class Fail(Exception):
    """Raised by a handler: the run fails at once, with ``error_details``
    (a JSON object), whatever attempts it has left."""

    def __init__(self, error_details: dict[str, Any]) -> None:
        self.error_details = check(JsonObject, error_details)
        super().__init__(f"fail: {self.error_details}")


def error_of(exc: BaseException) -> dict[str, Any]:
    """An exception as a run's ``error_details``: its type and message."""
    return {"error": type(exc).__name__, "message": str(exc)[:2000]}


#: What the loop does with a run once its handler is done.
Move = Literal["complete", "requeue", "fail"]


def after_handler(
    returned: Any, raised: BaseException | None
) -> tuple[Move, dict[str, Any] | None, timedelta | None]:
    """The move a run makes after its handler returned ``returned`` or raised
    ``raised``, with its JSON (output or error) and the requeue's delay:
    a dict (or None) completes it; ``Retry`` or any other exception requeues
    it (backoff, failing once the attempts are spent); ``Fail`` fails it at
    once; any other return value fails it (a handler returns a dict)."""
    if raised is None:
        if returned is None or isinstance(returned, dict):
            return "complete", returned, None
        return "fail", {"error": "TypeError", "message": _not_a_dict(returned)}, None
    if isinstance(raised, Fail):
        return "fail", raised.error_details, None
    if isinstance(raised, Retry):
        return "requeue", raised.error_details or error_of(raised), raised.delay
    return "requeue", error_of(raised), None


def _not_a_dict(returned: Any) -> str:
    return f"the handler returned {type(returned).__name__}, not a dict (output_data)"


@dataclass(frozen=True)
class WorkerArgs:
    """run_worker's arguments, checked before it connects (ValidationError)."""

    worker_id: str
    workflow_types: list[WorkflowType] | None
    concurrency: int
    lease: timedelta
    per_customer_limit: int | None
    grace: float
    agent_id: UUID | None = None
    customer_id: UUID | None = None

    @property
    def beat_s(self) -> float:
        """Heartbeat interval: a third of the lease."""
        return self.lease.total_seconds() / 3

    @property
    def reap_s(self) -> float:
        """How often the worker reaps expired leases itself: every half
        lease (1 s to a minute), jittered so workers started together spread."""
        base = min(60.0, max(1.0, self.lease.total_seconds() / 2))
        return base * random.uniform(0.8, 1.2)


def worker_args(
    worker_id: str,
    workflow_types: Any,
    concurrency: int,
    lease: timedelta,
    per_customer_limit: int | None,
    shutdown_grace: timedelta,
    agent_id: UUID | str | None = None,
    customer_id: UUID | str | None = None,
) -> WorkerArgs:
    """run_worker's arguments checked (pydantic.ValidationError before any I/O)."""
    types = None if workflow_types is None else check(TYPES, list(workflow_types))
    return WorkerArgs(
        worker_id=check(WorkerId, worker_id),
        workflow_types=types,
        concurrency=check(Concurrency, concurrency),
        lease=check(Lease, lease),
        per_customer_limit=(
            None if per_customer_limit is None else check(CustomerLimit, per_customer_limit)
        ),
        grace=check(Grace, shutdown_grace).total_seconds(),
        agent_id=None if agent_id is None else check_id(agent_id),
        customer_id=None if customer_id is None else check_id(customer_id),
    )


@dataclass
class WorkerReport:
    """What a run_worker call did, counted when it returns: runs completed,
    requeued (by the handler's Retry or exception), failed, dropped (the
    lease lost, or the run cancelled or taken while its handler ran), given
    back at shutdown, and expired leases it reaped."""

    completed: int = 0
    requeued: int = 0
    failed: int = 0
    dropped: int = 0
    given_back: int = 0
    reaped: int = 0
    errors: list[str] = field(default_factory=list)

    def count(self, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
