"""``workflow_executions`` (migrations 0003, 0007): runs, their claims, leases and lifecycle.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/workflow_executions.py``; the sync
twin ``optiinfra_db/repositories/workflow_executions.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/workflow_executions.sql``.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from optiinfra_db.aio.repositories._base import UpdatableRepository, guarded
from optiinfra_db.enums import FINISHED_STATUSES, WorkflowStatus, WorkflowType
from optiinfra_db.errors import (
    ConflictError,
    NotFoundError,
    RepositoryError,
)
from optiinfra_db.fieldtypes import (
    ClaimLimit,
    Lease,
    WorkerId,
    check_id,
)
from optiinfra_db.records import (
    NewWorkflowStep,
    RunningExecution,
    WorkflowExecution,
    WorkflowExecutionCreate,
    WorkflowExecutionDetail,
    WorkflowExecutionUpdate,
    WorkflowTransition,
    WorkflowTypeStats,
)
from optiinfra_db.sansio.lifecycle import (
    ACTOR,
    DEFAULT_LEASE,
    IDS,
    NEW_STEPS,
    REASON,
    RESULT_FIELDS,
    TYPES,
    StatusFilter,
    jsonb,
    list_params,
    page_statement,
    run_refusal,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    limit_of,
    page,
    to_params,
    window,
)

__all__ = ["WorkflowExecutionRepository"]


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
        if current.status in FINISHED_STATUSES and data.model_fields_set & RESULT_FIELDS:
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
        row = await self._fetchone("create_with_steps", params)
        assert row is not None
        return self._decode(WorkflowExecutionDetail, row[0])

    async def get_detail(self, id: UUID | str) -> WorkflowExecutionDetail | None:
        """The execution with its steps (in step order) and artifacts, in one round trip."""
        return await self._one_of(WorkflowExecutionDetail, "get_detail", {"id": check_id(id)})

    async def get_details(
        self, ids: Iterable[UUID | str]
    ) -> builtins.list[WorkflowExecutionDetail]:
        """Up to 1,000 executions with their steps and artifacts in one round trip,
        in the order asked (an id with no execution is left out)."""
        asked = check(IDS, list(ids))
        return await self._many_of(WorkflowExecutionDetail, "get_details", {"ids": asked})

    # -- operator queries ---------------------------------------------------------------

    async def count_by_status(
        self,
        *,
        customer_id: UUID | str | None = None,
        agent_id: UUID | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[WorkflowStatus, int]:
        """How many executions are in each status (every status, 0 included),
        optionally of one customer or agent, of the runs created in
        [``since``, ``until``): the window every count of runs uses."""
        rows = await self._fetchall(
            "count_by_status",
            {
                "customer_id": None if customer_id is None else check_id(customer_id),
                "agent_id": None if agent_id is None else check_id(agent_id),
                **window(since, until),
            },
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
        return await self._many_of(RunningExecution, "list_running", params)

    async def stats(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        customer_id: UUID | str | None = None,
    ) -> builtins.list[WorkflowTypeStats]:
        """Per workflow type: counts in every status (pending included), success
        rate, p50/p95 duration, of the runs created in [``since``, ``until``)
        (as ``count_by_status`` counts them), optionally of one customer."""
        return await self._many_of(
            WorkflowTypeStats,
            "stats",
            {
                **window(since, until),
                "customer_id": None if customer_id is None else check_id(customer_id),
            },
        )

    # -- lists ------------------------------------------------------------------------

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
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        params = list_params({"customer_id": check_id(customer_id)}, limit, after, filters)
        return await self._many(page_statement("list_for_customer", filters, params), params)

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
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        return self._stream(
            "list_for_customer",
            list_params({"customer_id": check_id(customer_id)}, None, after, filters),
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
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        params = list_params({"agent_id": check_id(agent_id)}, limit, after, filters)
        return await self._many(page_statement("list_for_agent", filters, params), params)

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
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        return self._stream(
            "list_for_agent",
            list_params({"agent_id": check_id(agent_id)}, None, after, filters),
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
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        return await self._many(
            "list",
            list_params({}, limit, after, filters),
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
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        return self._stream(
            "list",
            list_params({}, None, after, filters),
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
        row = await self._fetchone("count_active_for_agent", {"agent_id": check_id(agent_id)})
        assert row is not None
        return int(row[0])

    async def count_by_type(self, customer_id: UUID | str) -> dict[WorkflowType, int]:
        """How many executions the customer has of each workflow type (types with none omitted)."""
        rows = await self._fetchall("count_by_type", {"customer_id": check_id(customer_id)})
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
        actor: str | None = None,
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
                "actor": check(ACTOR, actor),
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

    async def reap_expired(
        self, *, limit: int = 100, actor: str | None = None
    ) -> builtins.list[WorkflowExecution]:
        """Recover up to ``limit`` (1..1000) running executions whose lease has
        expired, in one statement (``SKIP LOCKED``: reapers never collide).
        Each goes back to pending while ``attempt < max_attempts``, else to
        timeout; ``error_details`` says ``lease_expired``, the worker and the
        attempt. Their running and retrying steps are failed with that error,
        and on time-out the pending steps are skipped. Returns what it moved."""
        return await self._many(
            "reap_expired", {"limit": check(ClaimLimit, limit), "actor": check(ACTOR, actor)}
        )

    async def history(self, id: UUID | str) -> builtins.list[WorkflowTransition]:
        """The execution's and its steps' status changes, oldest first."""
        return await self._many_of(WorkflowTransition, "history", {"id": check_id(id)})

    # -- lifecycle --------------------------------------------------------------------

    async def _move(
        self,
        name: str,
        id: UUID | str,
        wanted: WorkflowStatus,
        allowed_from: tuple[WorkflowStatus, ...],
        worker_id: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
        **params: Any,
    ) -> WorkflowExecution:
        ident, worker, moved = await guarded(self, name, id, worker_id, reason, actor, params)
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
        state = await self._fetchone("state_of", {"id": ident})
        if state is None:
            return NotFoundError(self.entity, ident)
        return run_refusal(self.entity, ident, state, wanted, allowed_from, worker_id)

    async def start(
        self, id: UUID | str, *, reason: str | None = None, actor: str | None = None
    ) -> WorkflowExecution:
        """pending -> running without a claim (sets started_at; no worker, no
        lease, so the reaper never recovers it). Workers use :meth:`claim`."""
        return await self._move(
            "start",
            id,
            WorkflowStatus.RUNNING,
            (WorkflowStatus.PENDING,),
            reason=reason,
            actor=actor,
        )

    async def complete(
        self,
        id: UUID | str,
        output_data: dict[str, Any] | None = None,
        *,
        worker_id: str | None = None,
        reason: str | None = None,
        skip_remaining: bool = False,
        actor: str | None = None,
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
            actor,
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
        actor: str | None,
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
            actor,
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
        actor: str | None = None,
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
            actor,
        )

    async def cancel(
        self,
        id: UUID | str,
        *,
        reason: str | None = None,
        worker_id: str | None = None,
        actor: str | None = None,
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
            actor,
        )

    async def time_out(
        self,
        id: UUID | str,
        *,
        error_details: dict[str, Any] | None = None,
        reason: str | None = None,
        worker_id: str | None = None,
        actor: str | None = None,
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
            actor,
        )
