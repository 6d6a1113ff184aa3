"""Repositories of the workflow-history tables (migration 0003): executions,
their ordered steps and their artifacts, with guarded lifecycle moves.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/workflow.py``;
``optiinfra_db/repositories/workflow.py`` is generated from it (``tools/async_to_sync.py``).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import TypeAdapter

from optiinfra_db.aio.repositories._base import Repository, UpdatableRepository
from optiinfra_db.enums import ArtifactType, StepStatus, WorkflowStatus, WorkflowType
from optiinfra_db.errors import (
    ConflictError,
    InvalidTransitionError,
    LeaseLostError,
    NotFoundError,
    RepositoryError,
)
from optiinfra_db.fieldtypes import (
    ClaimLimit,
    Lease,
    Name,
    WorkerId,
    check_id,
    check_time,
)
from optiinfra_db.records import (
    NewWorkflowStep,
    RunningExecution,
    StepFailureSummary,
    WorkflowArtifact,
    WorkflowArtifactCreate,
    WorkflowArtifactUpdate,
    WorkflowExecution,
    WorkflowExecutionCreate,
    WorkflowExecutionDetail,
    WorkflowExecutionUpdate,
    WorkflowStep,
    WorkflowStepAttempt,
    WorkflowStepCreate,
    WorkflowStepUpdate,
    WorkflowTransition,
    WorkflowTypeStats,
)
from optiinfra_db.repositories._lifecycle import (
    ATTEMPTS,
    DEFAULT_LEASE,
    FINISHED,
    IDS,
    NEW_STEPS,
    REASON,
    RESULT_FIELDS,
    TYPES,
    WORKER,
    StatusFilter,
    jsonb,
    lease_lost,
    statuses_of,
)
from optiinfra_db.repositories._values import (
    Cursor,
    check,
    json_text,
    limit_of,
    page,
    to_params,
    window,
)

__all__ = [
    "DEFAULT_LEASE",
    "StatusFilter",
    "WorkflowArtifactRepository",
    "WorkflowExecutionRepository",
    "WorkflowStepRepository",
]

R = TypeVar("R", WorkflowExecution, WorkflowStep)


class WorkflowExecutionRepository(UpdatableRepository[WorkflowExecution, WorkflowExecutionUpdate]):
    """``workflow_executions`` and their lifecycle::

        pending --start--> running --complete--> completed
                              |------fail-----> failed
                              |----time_out---> timeout
        pending|running --cancel--> cancelled

    Each move is one guarded UPDATE; a refusal raises InvalidTransitionError
    (or NotFoundError) and leaves the caller's transaction usable.
    """

    table = "workflow_executions"
    entity = "workflow execution"
    record = WorkflowExecution
    update_model = WorkflowExecutionUpdate

    async def create(self, data: WorkflowExecutionCreate) -> WorkflowExecution:
        return await self._create(data, WorkflowExecutionCreate)

    def _update_refused(
        self,
        current: WorkflowExecution,
        data: WorkflowExecutionUpdate,
        expected_updated_at: datetime | None,
    ) -> RepositoryError:
        if current.status in FINISHED and data.model_fields_set & RESULT_FIELDS:
            return ConflictError(
                f"workflow execution {current.id} is {current.status.value}: its output_data "
                "and error_details are history and can't be rewritten"
            )
        return super()._update_refused(current, data, expected_updated_at)

    async def create_with_steps(
        self, data: WorkflowExecutionCreate, steps: Iterable[NewWorkflowStep]
    ) -> WorkflowExecutionDetail:
        """Create an execution and its ordered steps in one statement (one round trip).

        Returns them as a WorkflowExecutionDetail (steps in step order, no
        artifacts yet). All or nothing: a violation writes neither.
        """
        if not isinstance(data, WorkflowExecutionCreate):
            raise TypeError(
                f"create_with_steps() takes a WorkflowExecutionCreate, not {type(data).__name__}"
            )
        specs = NEW_STEPS.validate_python(list(steps))
        params = to_params(data, steps=Jsonb([s.model_dump(mode="json") for s in specs]))
        row = await self._fetchone(self.q["create_with_steps"], params)
        assert row is not None
        return self._decode(WorkflowExecutionDetail, row[0])

    async def get_detail(self, id: UUID | str) -> WorkflowExecutionDetail | None:
        """The execution with its steps (in step order) and artifacts, in one round trip."""
        row = await self._fetchone(self.q["get_detail"], {"id": check_id(id)})
        return None if row is None else self._decode(WorkflowExecutionDetail, row[0])

    async def get_details(
        self, ids: Iterable[UUID | str]
    ) -> builtins.list[WorkflowExecutionDetail]:
        """Up to 1,000 executions with their steps and artifacts in one round trip,
        in the order asked (an id with no execution is left out)."""
        asked = check(IDS, list(ids))
        rows = await self._fetchall(self.q["get_details"], {"ids": asked})
        return [self._decode(WorkflowExecutionDetail, row[0]) for row in rows]

    # -- operator queries ---------------------------------------------------------------

    async def count_by_status(
        self,
        *,
        customer_id: UUID | str | None = None,
        agent_id: UUID | str | None = None,
        since: datetime | None = None,
    ) -> dict[WorkflowStatus, int]:
        """How many executions are in each status (every status, 0 included),
        optionally of one customer or agent, created at or after ``since``."""
        rows = await self._fetchall(
            self.q["count_by_status"],
            {
                "customer_id": None if customer_id is None else check_id(customer_id),
                "agent_id": None if agent_id is None else check_id(agent_id),
                "since": window(since, None)["since"],
            },
            self._prepare("count_by_status"),
        )
        counts = dict.fromkeys(WorkflowStatus, 0)
        counts.update({WorkflowStatus(name): n for name, n in rows})
        return counts

    async def list_running(
        self,
        *,
        customer_id: UUID | str | None = None,
        agent_id: UUID | str | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[RunningExecution]:
        """Running executions newest first, each with its current step, worker,
        heartbeat and lease expiry (``after``: the last of the previous page)."""
        params = {
            "customer_id": None if customer_id is None else check_id(customer_id),
            "agent_id": None if agent_id is None else check_id(agent_id),
            **page(limit, after, RunningExecution),
        }
        rows = await self._fetchall(self.q["list_running"], params, self._prepare("list_running"))
        return [self._decode(RunningExecution, row[0]) for row in rows]

    async def stats(
        self, *, since: datetime | None = None, customer_id: UUID | str | None = None
    ) -> builtins.list[WorkflowTypeStats]:
        """Per workflow type: counts by status, success rate, p50/p95 duration of
        the runs started at or after ``since``, optionally of one customer."""
        rows = await self._fetchall(
            self.q["stats"],
            {
                "since": window(since, None)["since"],
                "customer_id": None if customer_id is None else check_id(customer_id),
            },
            self._prepare("stats"),
        )
        return [self._decode(WorkflowTypeStats, row[0]) for row in rows]

    # -- lists ------------------------------------------------------------------------

    def _params(
        self,
        owner: dict[str, Any],
        workflow_type: WorkflowType | None,
        status: StatusFilter,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
        after: Cursor | None,
        finished: tuple[datetime | None, datetime | None] = (None, None),
    ) -> dict[str, Any]:
        """Parameters of the execution lists (``plan: custom``: each call is
        planned with its own filters): one page, or with ``limit`` None every
        row (the iterators stream them)."""
        params = {
            **owner,
            "workflow_type": check(WorkflowType | None, workflow_type),
            "statuses": statuses_of(status),
            **window(since, until),
            "finished_since": check_time(finished[0]),
            "finished_until": check_time(finished[1]),
            **page(1 if limit is None else limit, after, self.record),
        }
        if limit is None:
            params["limit"] = None  # LIMIT NULL: no limit
        return params

    async def list_for_customer(
        self,
        customer_id: UUID | str,
        *,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """A customer's executions newest first; created_at in [since, until)."""
        return await self._many(
            "list_for_customer",
            self._params(
                {"customer_id": check_id(customer_id)},
                workflow_type,
                status,
                since,
                until,
                limit,
                after,
                (finished_since, finished_until),
            ),
        )

    def iter_for_customer(
        self,
        customer_id: UUID | str,
        *,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        after: Cursor | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[WorkflowExecution]:
        """Every execution :meth:`list_for_customer` would page through, streamed
        newest first through a server-side cursor, ``batch_size`` rows per round
        trip (bounded memory for an export of any size)."""
        return self._stream(
            "list_for_customer",
            self._params(
                {"customer_id": check_id(customer_id)},
                workflow_type,
                status,
                since,
                until,
                None,
                after,
                (finished_since, finished_until),
            ),
            batch_size,
        )

    async def list_for_agent(
        self,
        agent_id: UUID | str,
        *,
        status: StatusFilter = None,
        workflow_type: WorkflowType | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """An agent's executions newest first."""
        return await self._many(
            "list_for_agent",
            self._params(
                {"agent_id": check_id(agent_id)},
                workflow_type,
                status,
                since,
                until,
                limit,
                after,
                (finished_since, finished_until),
            ),
        )

    def iter_for_agent(
        self,
        agent_id: UUID | str,
        *,
        status: StatusFilter = None,
        workflow_type: WorkflowType | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        after: Cursor | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[WorkflowExecution]:
        """Every execution of the agent, streamed newest first (see iter_for_customer)."""
        return self._stream(
            "list_for_agent",
            self._params(
                {"agent_id": check_id(agent_id)},
                workflow_type,
                status,
                since,
                until,
                None,
                after,
                (finished_since, finished_until),
            ),
            batch_size,
        )

    async def list(
        self,
        *,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """All executions newest first (an operator's view)."""
        return await self._many(
            "list",
            self._params(
                {},
                workflow_type,
                status,
                since,
                until,
                limit,
                after,
                (finished_since, finished_until),
            ),
        )

    def iter(
        self,
        *,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        after: Cursor | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[WorkflowExecution]:
        """Every execution, streamed newest first (see iter_for_customer)."""
        return self._stream(
            "list",
            self._params(
                {},
                workflow_type,
                status,
                since,
                until,
                None,
                after,
                (finished_since, finished_until),
            ),
            batch_size,
        )

    async def list_active_for_agent(
        self, agent_id: UUID | str, *, limit: int = 100
    ) -> builtins.list[WorkflowExecution]:
        """The agent's pending and running executions, oldest first."""
        return await self._many(
            "list_active_for_agent", {"agent_id": check_id(agent_id), "limit": limit_of(limit)}
        )

    async def count_active_for_agent(self, agent_id: UUID | str) -> int:
        """How many pending and running executions the agent has."""
        row = await self._fetchone(
            self.q["count_active_for_agent"], {"agent_id": check_id(agent_id)}
        )
        assert row is not None
        return int(row[0])

    async def count_by_type(self, customer_id: UUID | str) -> dict[WorkflowType, int]:
        """How many executions the customer has of each workflow type (types with none omitted)."""
        rows = await self._fetchall(self.q["count_by_type"], {"customer_id": check_id(customer_id)})
        return {WorkflowType(name): count for name, count in rows}

    # -- the runtime: claims, leases, recovery ----------------------------------------

    async def claim(
        self,
        worker_id: str,
        *,
        limit: int = 1,
        lease: timedelta = DEFAULT_LEASE,
        workflow_types: Iterable[WorkflowType] | None = None,
        agent_id: UUID | str | None = None,
        customer_id: UUID | str | None = None,
        reason: str | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """Claim up to ``limit`` (1..1000) pending executions for ``worker_id``,
        oldest first, in one statement (``FOR UPDATE SKIP LOCKED``: concurrent
        claimers never get the same run). Each is returned running, held by
        the worker until ``lease`` from now (extend it with :meth:`heartbeat`),
        its ``attempt`` one higher. An empty list when nothing is pending.
        Filters: only these workflow types, this agent's, this customer's."""
        types = None if workflow_types is None else check(TYPES, list(workflow_types))
        return await self._many(
            "claim",
            {
                "worker_id": check(WorkerId, worker_id),
                "limit": check(ClaimLimit, limit),
                "lease": check(Lease, lease),
                "workflow_types": None if types is None else [t.value for t in types],
                "agent_id": None if agent_id is None else check_id(agent_id),
                "customer_id": None if customer_id is None else check_id(customer_id),
                "reason": check(REASON, reason),
            },
        )

    async def heartbeat(
        self, id: UUID | str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE
    ) -> WorkflowExecution:
        """Extend ``worker_id``'s lease on a running execution to ``lease`` from now.

        Raises LeaseLostError when the execution is not running, another
        worker holds it, or the lease has already expired (the reaper may have
        requeued it): the worker must stop working on it."""
        ident = check_id(id)
        worker = check(WorkerId, worker_id)
        moved = await self._one(
            "heartbeat", {"id": ident, "worker_id": worker, "lease": check(Lease, lease)}
        )
        if moved is not None:
            return moved
        raise await self._refused(ident, WorkflowStatus.RUNNING, (WorkflowStatus.RUNNING,), worker)

    async def reap_expired(self, *, limit: int = 100) -> builtins.list[WorkflowExecution]:
        """Recover up to ``limit`` (1..1000) running executions whose lease has
        expired, in one statement (``SKIP LOCKED``: reapers never collide).
        Each goes back to pending while ``attempt < max_attempts``, else to
        timeout; ``error_details`` says ``lease_expired``, the worker and the
        attempt. Their running and retrying steps are failed with that error,
        and on time-out the pending steps are skipped. Returns what it moved."""
        return await self._many("reap_expired", {"limit": check(ClaimLimit, limit)})

    async def history(self, id: UUID | str) -> builtins.list[WorkflowTransition]:
        """The execution's and its steps' status changes, oldest first."""
        rows = await self._fetchall(self.q["history"], {"id": check_id(id)})
        return [self._decode(WorkflowTransition, row[0]) for row in rows]

    # -- lifecycle --------------------------------------------------------------------

    async def _move(
        self,
        name: str,
        id: UUID | str,
        wanted: WorkflowStatus,
        allowed_from: tuple[WorkflowStatus, ...],
        worker_id: str | None = None,
        reason: str | None = None,
        **params: Any,
    ) -> WorkflowExecution:
        ident, worker, moved = await guarded(self, name, id, worker_id, reason, params)
        if moved is not None:
            return moved
        raise await self._refused(ident, wanted, allowed_from, worker)

    async def _refused(
        self,
        ident: UUID,
        wanted: WorkflowStatus,
        allowed_from: tuple[WorkflowStatus, ...],
        worker_id: str | None,
    ) -> RepositoryError:
        """Why a guarded move matched no row (READ COMMITTED sees the winner's
        committed state after a race): missing, the lease lost, the wrong
        status, or steps still open."""
        state = await self._fetchone(self.q["state_of"], {"id": ident})
        if state is None:
            return NotFoundError(self.entity, ident)
        status, holder, live, expires, pending, open_ = state
        run = (ident, status, holder, live, expires)
        lost = lease_lost(self.entity, ident, status, wanted.value, run, worker_id)
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
            self.entity, ident, status, wanted.value, allowed_from=allowed, reason=why
        )

    async def start(self, id: UUID | str, *, reason: str | None = None) -> WorkflowExecution:
        """pending -> running without a claim (sets started_at; no worker, no
        lease, so the reaper never recovers it). Workers use :meth:`claim`."""
        return await self._move(
            "start", id, WorkflowStatus.RUNNING, (WorkflowStatus.PENDING,), reason=reason
        )

    async def complete(
        self,
        id: UUID | str,
        output_data: dict[str, Any] | None = None,
        *,
        worker_id: str | None = None,
        reason: str | None = None,
        skip_remaining: bool = False,
    ) -> WorkflowExecution:
        """running -> completed (sets completed_at; output_data if given).

        Refused while a step is running or retrying, or pending unless
        ``skip_remaining`` (then the pending steps are skipped in the same
        statement). With ``worker_id``: LeaseLostError unless that worker
        holds the run on a live lease."""
        return await self._move(
            "complete_skipping" if check(bool, skip_remaining) else "complete",
            id,
            WorkflowStatus.COMPLETED,
            (WorkflowStatus.RUNNING,),
            worker_id,
            reason,
            output_data=jsonb(output_data, required=False),
        )

    async def _finish(
        self,
        id: UUID | str,
        to: WorkflowStatus,
        allowed_from: tuple[WorkflowStatus, ...],
        error_details: Jsonb | None,
        worker_id: str | None,
        reason: str | None,
    ) -> WorkflowExecution:
        """One statement ends the run and closes its unfinished steps
        (running/retrying -> failed with the reason, pending -> skipped)."""
        return await self._move(
            "finish",
            id,
            to,
            allowed_from,
            worker_id,
            reason,
            to_status=to.value,
            from_statuses=[s.value for s in allowed_from],
            error_details=error_details,
        )

    async def fail(
        self,
        id: UUID | str,
        error_details: dict[str, Any],
        *,
        worker_id: str | None = None,
        reason: str | None = None,
    ) -> WorkflowExecution:
        """running -> failed (sets completed_at and error_details); its open
        steps are closed in the same statement."""
        return await self._finish(
            id,
            WorkflowStatus.FAILED,
            (WorkflowStatus.RUNNING,),
            jsonb(error_details, required=True),
            worker_id,
            reason,
        )

    async def cancel(
        self, id: UUID | str, *, reason: str | None = None, worker_id: str | None = None
    ) -> WorkflowExecution:
        """pending or running -> cancelled (sets completed_at); its open steps
        are closed in the same statement."""
        return await self._finish(
            id,
            WorkflowStatus.CANCELLED,
            (WorkflowStatus.PENDING, WorkflowStatus.RUNNING),
            None,
            worker_id,
            reason,
        )

    async def time_out(
        self,
        id: UUID | str,
        *,
        error_details: dict[str, Any] | None = None,
        reason: str | None = None,
        worker_id: str | None = None,
    ) -> WorkflowExecution:
        """running -> timeout (sets completed_at; error_details, by default
        ``{"reason": reason or "timeout"}``); its open steps are closed in the
        same statement."""
        checked_reason = check(REASON, reason)
        details = jsonb(error_details, required=False) or Jsonb(
            {"reason": checked_reason or "timeout"}
        )
        return await self._finish(
            id,
            WorkflowStatus.TIMEOUT,
            (WorkflowStatus.RUNNING,),
            details,
            worker_id,
            checked_reason,
        )


async def guarded(
    repo: Repository[R],
    name: str,
    id: UUID | str,
    worker_id: str | None,
    reason: str | None,
    params: dict[str, Any],
) -> tuple[UUID, str | None, R | None]:
    """Run the guarded lifecycle statement ``name`` (both repositories' moves
    start here): (the id, the worker, the moved record or None if refused)."""
    ident = check_id(id)
    # None (the common case) needs no validator call
    worker = None if worker_id is None else check(WORKER, worker_id)
    why = None if reason is None else check(REASON, reason)
    moved = await repo._one(name, {"id": ident, "worker_id": worker, "reason": why, **params})
    return ident, worker, moved


_STEPS = TypeAdapter(list[WorkflowStepCreate])


class WorkflowStepRepository(UpdatableRepository[WorkflowStep, WorkflowStepUpdate]):
    """``workflow_steps`` and their lifecycle::

    pending|retrying --start--> running --complete--> completed
                                   |------fail-----> failed
    pending --skip--> skipped
    failed|running --retry--> retrying   (retry_count + 1, up to max_retries)
    """

    table = "workflow_steps"
    entity = "workflow step"
    record = WorkflowStep
    update_model = WorkflowStepUpdate

    async def create(self, data: WorkflowStepCreate) -> WorkflowStep:
        return await self._create(data, WorkflowStepCreate)

    async def bulk_create(self, steps: Iterable[WorkflowStepCreate | Mapping[str, Any]]) -> int:
        """Insert many steps through COPY; returns how many.

        Takes WorkflowStepCreate records or plain rows (mappings with the same
        fields, validated exactly as WorkflowStepCreate is: a bad row raises
        ValidationError naming its index, before any SQL). On a violation
        the database refuses, nothing is written (and the transaction is
        aborted)."""
        given = list(steps)
        if all(type(s) is WorkflowStepCreate for s in given):
            items: builtins.list[WorkflowStepCreate] = given  # type: ignore[assignment]
        else:
            items = _STEPS.validate_python(given)
        if self.scope is not None:  # COPY FROM refuses a table under row-level security
            return await self._insert_each("create", [to_params(s) for s in items])
        return await self._copy(
            self.q["copy"],
            [
                (
                    s.workflow_execution_id,
                    s.step_name,
                    s.step_order,
                    s.status.value,
                    s.started_at,
                    s.completed_at,
                    json_text(s.input_data),
                    json_text(s.output_data),
                    json_text(s.error_details),
                    s.retry_count,
                    s.max_retries,
                    json_text(s.metadata),
                )
                for s in items
            ],
        )

    async def list_for_execution(self, execution_id: UUID | str) -> builtins.list[WorkflowStep]:
        """All steps of one execution, in step order."""
        return await self._many(
            "list_for_execution", {"workflow_execution_id": check_id(execution_id)}
        )

    async def list(self, execution_id: UUID | str) -> builtins.list[WorkflowStep]:
        """Same as :meth:`list_for_execution`."""
        return await self.list_for_execution(execution_id)

    async def list_by_name(
        self,
        step_name: str,
        status: StepStatus = StepStatus.FAILED,
        *,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowStep]:
        """Steps of one name in one status across executions, newest first (by default
        every failure of that step)."""
        return await self._many(
            "list_by_name",
            {
                "step_name": check(Name, step_name),
                "status": check(StepStatus, status),
                **page(limit, after, self.record),
            },
        )

    # -- lifecycle --------------------------------------------------------------------

    async def failure_summary(
        self,
        *,
        customer_id: UUID | str | None = None,
        workflow_type: WorkflowType | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[StepFailureSummary]:
        """Per step name and workflow type: failed attempts in [since, until), the
        runs they ended, the latest error and when; most failures first."""
        rows = await self._fetchall(
            self.q["failure_summary"],
            {
                "customer_id": None if customer_id is None else check_id(customer_id),
                "workflow_type": check(WorkflowType | None, workflow_type),
                **window(since, until),
            },
            self._prepare("failure_summary"),
        )
        return [self._decode(StepFailureSummary, row[0]) for row in rows]

    async def attempts(self, step_id: UUID | str) -> builtins.list[WorkflowStepAttempt]:
        """Every run of the step, oldest first (from the transition log): when it
        started and ended, how, and that attempt's error (kept after a later
        success). Raises NotFoundError for a missing step."""
        ident = check_id(step_id)
        row = await self._fetchone(self.q["attempts"], {"id": ident})
        if row is None:
            raise NotFoundError(self.entity, ident)
        return ATTEMPTS.validate_json(row[0])

    async def _move(
        self,
        name: str,
        id: UUID | str,
        wanted: StepStatus,
        allowed_from: tuple[StepStatus, ...],
        worker_id: str | None,
        reason: str | None,
        **params: Any,
    ) -> WorkflowStep:
        ident, worker, moved = await guarded(self, name, id, worker_id, reason, params)
        if moved is not None:
            return moved
        state = await self._fetchone(self.q["state_of"], {"id": ident})
        if state is None:
            raise NotFoundError(self.entity, ident)
        current, retry_count, max_retries, restartable, run_id, run_status, holder, live = state
        run = (run_id, run_status, holder, live, None)
        lost = lease_lost(self.entity, ident, current, wanted.value, run, worker)
        if lost is not None:
            raise lost
        allowed = tuple(s.value for s in allowed_from)
        why = None
        if run_status != WorkflowStatus.RUNNING.value:
            why = f"its execution {run_id} is {run_status}; steps move only while it is running"
        elif wanted is StepStatus.RETRYING and current in allowed:
            why = f"retries exhausted: {retry_count} of {max_retries} used"
        elif current in allowed or restartable:
            why = "it changed concurrently; read it again"
        raise InvalidTransitionError(
            self.entity, ident, current, wanted.value, allowed_from=allowed, reason=why
        )

    async def start(
        self, id: UUID | str, *, worker_id: str | None = None, reason: str | None = None
    ) -> WorkflowStep:
        """pending or retrying -> running, or failed -> running when it failed in
        an earlier attempt of its execution (a requeued run resumes there).
        Sets started_at; clears completed_at and error_details."""
        return await self._move(
            "start",
            id,
            StepStatus.RUNNING,
            (StepStatus.PENDING, StepStatus.RETRYING),
            worker_id,
            reason,
        )

    async def complete(
        self,
        id: UUID | str,
        output_data: dict[str, Any] | None = None,
        *,
        worker_id: str | None = None,
        reason: str | None = None,
    ) -> WorkflowStep:
        """running -> completed (sets completed_at; output_data if given)."""
        return await self._move(
            "complete",
            id,
            StepStatus.COMPLETED,
            (StepStatus.RUNNING,),
            worker_id,
            reason,
            output_data=jsonb(output_data, required=False),
        )

    async def fail(
        self,
        id: UUID | str,
        error_details: dict[str, Any],
        *,
        worker_id: str | None = None,
        reason: str | None = None,
    ) -> WorkflowStep:
        """running -> failed (sets completed_at and error_details)."""
        return await self._move(
            "fail",
            id,
            StepStatus.FAILED,
            (StepStatus.RUNNING,),
            worker_id,
            reason,
            error_details=jsonb(error_details, required=True),
        )

    async def skip(
        self, id: UUID | str, *, worker_id: str | None = None, reason: str | None = None
    ) -> WorkflowStep:
        """pending -> skipped (sets completed_at)."""
        return await self._move(
            "skip", id, StepStatus.SKIPPED, (StepStatus.PENDING,), worker_id, reason
        )

    async def retry(
        self, id: UUID | str, *, worker_id: str | None = None, reason: str | None = None
    ) -> WorkflowStep:
        """failed or running -> retrying (retry_count + 1); refused past max_retries."""
        return await self._move(
            "retry",
            id,
            StepStatus.RETRYING,
            (StepStatus.FAILED, StepStatus.RUNNING),
            worker_id,
            reason,
        )


class WorkflowArtifactRepository(UpdatableRepository[WorkflowArtifact, WorkflowArtifactUpdate]):
    """``workflow_artifacts``: outputs of an execution or of one of its steps."""

    table = "workflow_artifacts"
    entity = "workflow artifact"
    record = WorkflowArtifact
    update_model = WorkflowArtifactUpdate

    async def create(
        self, data: WorkflowArtifactCreate, *, worker_id: str | None = None
    ) -> WorkflowArtifact:
        """Insert one artifact. With ``worker_id``: only while its execution is
        running, held by that worker on a live lease (LeaseLostError otherwise),
        checked in the same statement."""
        if worker_id is None:
            return await self._create(data, WorkflowArtifactCreate)
        worker = check(WorkerId, worker_id)
        made = await self._insert("create_fenced", data, WorkflowArtifactCreate, worker_id=worker)
        if made is not None:
            return made
        run_id = data.workflow_execution_id
        state = await self._fetchone(WorkflowExecutionRepository.q["state_of"], {"id": run_id})
        if state is None:
            raise NotFoundError("workflow execution", run_id)
        status, holder, live, expires = state[:4]
        lost = lease_lost(
            self.entity, "(new)", status, "created", (run_id, status, holder, live, expires), worker
        )
        raise lost or LeaseLostError(
            self.entity,
            "(new)",
            status,
            "created",
            worker_id=worker,
            execution_id=run_id,
            detail="it changed concurrently",
        )

    async def list_for_execution(
        self, execution_id: UUID | str, *, artifact_type: ArtifactType | None = None
    ) -> builtins.list[WorkflowArtifact]:
        """One execution's artifacts, oldest first; ``artifact_type`` filters when given."""
        return await self._many(
            "list_for_execution",
            {
                "workflow_execution_id": check_id(execution_id),
                "artifact_type": check(ArtifactType | None, artifact_type),
            },
        )

    async def list_for_step(self, step_id: UUID | str) -> builtins.list[WorkflowArtifact]:
        """One step's artifacts, oldest first."""
        return await self._many("list_for_step", {"workflow_step_id": check_id(step_id)})

    async def list(
        self, execution_id: UUID | str, *, artifact_type: ArtifactType | None = None
    ) -> builtins.list[WorkflowArtifact]:
        """Same as :meth:`list_for_execution`."""
        return await self.list_for_execution(execution_id, artifact_type=artifact_type)
