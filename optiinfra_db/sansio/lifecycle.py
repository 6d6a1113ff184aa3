"""What the workflow repositories of either side share, none of it doing
I/O: the ``status=`` filter, argument types, JSON arguments, and why a
worker's refused call lost its lease (see
``optiinfra_db/aio/repositories/workflow_executions.py`` and ``workflow_steps.py``)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import Field, TypeAdapter

from optiinfra_db.enums import WorkflowStatus, WorkflowType
from optiinfra_db.errors import InvalidTransitionError, LeaseLostError, RepositoryError
from optiinfra_db.fieldtypes import JsonObject, Text, WorkerId, check_time
from optiinfra_db.records import NewWorkflowStep, WorkflowExecution, WorkflowStepAttempt
from optiinfra_db.sansio.values import Cursor, check, page, window

__all__ = [
    "DEFAULT_LEASE",
    "StatusFilter",
    "lease_lost",
    "list_params",
    "page_statement",
    "run_refusal",
    "statuses_of",
]

RESULT_FIELDS = frozenset({"output_data", "error_details"})
JSON_OR_NONE = TypeAdapter(JsonObject | None)
JSON = TypeAdapter(JsonObject)
NEW_STEPS = TypeAdapter(list[NewWorkflowStep])
ATTEMPTS = TypeAdapter(list[WorkflowStepAttempt])
TYPES = Annotated[list[WorkflowType], Field(min_length=1)]
IDS = Annotated[list[UUID], Field(max_length=1000)]
STATUSES = TypeAdapter(Annotated[list[WorkflowStatus], Field(min_length=1)])

#: What the lists' ``status=`` takes: one status, or a collection (any of them).
StatusFilter = WorkflowStatus | str | Iterable[WorkflowStatus | str] | None


def statuses_of(status: StatusFilter) -> builtins.list[str] | None:
    """The ``status=`` filter as the array the SQL takes (None: any status).
    An unknown status or an empty collection raises ValidationError."""
    if status is None:
        return None
    items = [status] if isinstance(status, str) or not isinstance(status, Iterable) else status
    return sorted({s.value for s in STATUSES.validate_python(list(items))})


WORKER = WorkerId | None
REASON = Text | None
#: Who made a move, for the log: 1..255 characters, like a worker id.
ACTOR = WorkerId | None

#: How long a claim holds without a heartbeat, unless the caller says.
DEFAULT_LEASE = timedelta(seconds=60)


def jsonb(value: Any, *, required: bool) -> Jsonb | None:
    checked = (JSON if required else JSON_OR_NONE).validate_python(value)
    return None if checked is None else Jsonb(checked)


#: What a refused call was doing, by (entity, wanted status): for the message.
_VERBS = {
    "workflow execution": {
        "running": "renew its lease on",  # a heartbeat: the only fenced move to running
        "pending": "requeue or re-run",
        "completed": "complete",
        "failed": "fail",
        "cancelled": "cancel",
        "timeout": "time out",
    },
    "workflow step": {
        "running": "start",
        "completed": "complete",
        "failed": "fail",
        "skipped": "skip",
        "retrying": "retry",
    },
}


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON values are equal as jsonb compares them: numbers by
    value (1 == 1.0), but a boolean is never a number (Python's True == 1
    is not JSON's), objects by keys, arrays in order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same_json(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_json, a, b))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def same_request(run: Any, data: Any) -> bool:
    """Whether a create asked for the run its idempotency key already names:
    the same workflow_type and input_data (the contract of
    ``WorkflowExecutionCreate.idempotency_key``)."""
    return bool(run.workflow_type == data.workflow_type) and same_json(
        run.input_data, data.input_data
    )


def _action(entity: str, ident: Any, wanted: str, run_id: Any) -> str:
    if entity == "workflow artifact":
        return f"add an artifact to execution {run_id}"
    verb = _VERBS.get(entity, {}).get(wanted, f"move it to {wanted}:")
    if entity == "workflow execution":
        return f"{verb} execution {run_id}"
    return f"{verb} step {ident} of execution {run_id}"


def lease_lost(
    entity: str,
    ident: Any,
    current: str,
    wanted: str,
    run: tuple[Any, str, str | None, bool, datetime | None],
    worker_id: str | None,
) -> LeaseLostError | None:
    """The LeaseLostError for a worker's refused call, or None (the call was
    made without a worker, or the worker still holds the run). ``run`` is the
    execution as it stands: (id, status, holder, lease live, lease end)."""
    if worker_id is None:
        return None
    run_id, status, holder, live, expires = run
    if status == WorkflowStatus.CANCELLED.value:
        cause, detail = "cancelled", "the execution is cancelled"
    elif status == WorkflowStatus.PENDING.value:
        cause, detail = "requeued", "the execution is pending again: it was requeued"
    elif status != WorkflowStatus.RUNNING.value:
        cause, detail = "finished", f"the execution is {status}: it already finished"
    elif holder != worker_id:
        cause = "held_by_other"
        detail = f"it is held by {holder!r} now" if holder else "it is running without a claim"
    elif not live:
        when = expires.isoformat() if expires is not None else "?"
        cause, detail = "lease_expired", f"its lease expired at {when}"
    else:
        return None
    return LeaseLostError(
        entity,
        ident,
        current,
        wanted,
        worker_id=worker_id,
        execution_id=run_id,
        detail=detail,
        cause=cause,
        run_status=status,
        holder=holder,
        lease_expires_at=expires,
        action=_action(entity, ident, wanted, run_id),
    )


def page_statement(list_name: str, filters: tuple[Any, ...], params: dict[str, Any]) -> str:
    """The statement for one page of an execution list: with no filter in use
    (the common first and next pages), ``list_for_<owner>``'s twin
    ``page_for_<owner>``, which takes only the owner and the keyset, so it is
    prepared and its generic plan is the owner's index read backwards from
    the keyset (no planning per call: measured, list 100 cost the server
    1.20x raw psycopg planned per call); otherwise the list statement itself
    (``plan: custom``). Drops from ``params`` the filters the page statement
    does not take."""
    if any(f is not None for f in filters):
        return list_name
    for key in ("workflow_type", "statuses", "since", "until", "finished_since", "finished_until"):
        del params[key]
    return "page_" + list_name.removeprefix("list_")


def list_params(
    owner: dict[str, Any],
    limit: int | None,
    after: Cursor | None,
    filters: tuple[
        WorkflowType | None,
        StatusFilter,
        datetime | None,
        datetime | None,
        datetime | None,
        datetime | None,
    ],
) -> dict[str, Any]:
    """Parameters of the execution lists (``plan: custom``: each call is
    planned with its own filters): one page, or with ``limit`` None every
    row (the iterators stream them). ``filters``: (workflow_type, status,
    since, until, finished_since, finished_until)."""
    workflow_type, status, since, until, finished_since, finished_until = filters
    params = {
        **owner,
        "workflow_type": check(WorkflowType | None, workflow_type),
        "statuses": statuses_of(status),
        **window(since, until),
        "finished_since": check_time(finished_since),
        "finished_until": check_time(finished_until),
        **page(1 if limit is None else limit, after, WorkflowExecution),
    }
    if limit is None:
        params["limit"] = None  # LIMIT NULL: no limit
    return params


def run_refusal(
    entity: str,
    ident: UUID,
    state: tuple[Any, ...],
    wanted: WorkflowStatus,
    allowed_from: tuple[WorkflowStatus, ...],
    worker_id: str | None,
) -> RepositoryError:
    """Why a guarded move of an execution matched no row, from its state as
    ``workflow_executions.state_of`` reads it (READ COMMITTED sees the
    winner's committed state after a race): the lease lost, the wrong
    status, or steps still open."""
    status, holder, live, expires, pending, open_ = state
    lost = lease_lost(
        entity, ident, status, wanted.value, (ident, status, holder, live, expires), worker_id
    )
    if lost is not None:
        return lost
    allowed = tuple(s.value for s in allowed_from)
    why = None
    if status in allowed and (pending or open_):
        why = (
            f"{open_} step(s) running or retrying and {pending} pending: finish them "
            "first (complete(..., skip_remaining=True) skips the pending ones)"
        )
    elif status in allowed:
        why = "it changed concurrently; read it again"
    return InvalidTransitionError(
        entity, ident, status, wanted.value, allowed_from=allowed, reason=why
    )
