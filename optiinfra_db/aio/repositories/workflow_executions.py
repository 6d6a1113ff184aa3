"""``workflow_executions`` (migrations 0003, 0007): runs, their claims, leases and lifecycle.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/workflow_executions.py``; the sync
twin ``optiinfra_db/repositories/workflow_executions.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/workflow_executions.sql``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from optiinfra_db.aio.db import one_transaction
from optiinfra_db.aio.repositories._base import UpdatableRepository, guarded
from optiinfra_db.aio.repositories._execution_lists import ExecutionLists
from optiinfra_db.enums import FINISHED_STATUSES, WorkflowStatus, WorkflowType
from optiinfra_db.errors import (
    ConflictError,
    IdempotencyConflictError,
    NotFoundError,
    RepositoryError,
)
from optiinfra_db.fieldtypes import (
    Attempts,
    ClaimLimit,
    CustomerLimit,
    Delay,
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
    jsonb,
    run_refusal,
    same_request,
)
from optiinfra_db.sansio.telemetry import claimed, finished
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    page,
    to_params,
    window,
)

__all__ = ["WorkflowExecutionRepository"]

#: How many times a create with a used idempotency key tries again when the
#: key's run is deleted between its insert and its read.
_KEY_TRIES = 3


class WorkflowExecutionRepository(
    ExecutionLists, UpdatableRepository[WorkflowExecution, WorkflowExecutionUpdate]
):
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
        """Insert a run (one round trip). With an ``idempotency_key`` the
        customer already used: that run, unchanged, when it has the same
        ``workflow_type`` and ``input_data``; IdempotencyConflictError when
        not. Race-safe: of concurrent creates with one key, one inserts and
        the others return its run once it commits."""
        for _ in range(_KEY_TRIES):
            created = await self._insert("create", data, WorkflowExecutionCreate)
            if created is not None:
                return created
            existing = await self._used_key(data)
            if existing is not None:
                return existing
        raise self._key_vanished(data)

    async def _used_key(self, data: WorkflowExecutionCreate) -> WorkflowExecution | None:
        """The run ``data``'s idempotency key names (None: gone since the
        insert met it, a purge or a delete: try again), if it is the same
        request; else IdempotencyConflictError."""
        existing = await self._one(
            "by_idempotency_key",
            {"customer_id": data.customer_id, "idempotency_key": data.idempotency_key},
        )
        if existing is not None and not same_request(existing, data):
            raise IdempotencyConflictError(
                f"idempotency key {data.idempotency_key!r} of customer {data.customer_id} "
                f"names run {existing.id} ({existing.workflow_type.value}), created with "
                "another workflow_type or input_data: nothing was written"
            )
        return existing

    def _key_vanished(self, data: WorkflowExecutionCreate) -> ConflictError:
        return ConflictError(
            f"idempotency key {data.idempotency_key!r} of customer {data.customer_id}: its run "
            f"was deleted under each of {_KEY_TRIES} tries to create or read it; try again"
        )

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
        for _ in range(_KEY_TRIES):
            row = await self._fetchone("create_with_steps", params)
            assert row is not None
            if row[1]:
                return self._decode(WorkflowExecutionDetail, row[0])
            existing = await self._used_key(data)  # its key was used: that run
            if existing is not None:
                detail = await self.get_detail(existing.id)
                if detail is not None:
                    return detail
        raise self._key_vanished(data)

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
        per_customer_limit: int | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """Claim up to ``limit`` (1..1000) due pending executions for
        ``worker_id`` in one statement (``FOR UPDATE SKIP LOCKED``:
        concurrent claimers never get the same run): higher ``priority``
        first, then by when each became claimable (``run_after``, else
        ``created_at``), oldest first; a run whose ``run_after`` is ahead is
        never returned. Each is returned running, held by the worker until
        ``lease`` from now (extend it with :meth:`heartbeat`), its ``attempt``
        one higher. An empty list when nothing is due. Filters: only these
        workflow types, this agent's, this customer's.

        ``per_customer_limit``: never make more than that many of one
        customer's runs running at once (counting every worker's). Claims
        with a limit take turns (a transaction-level advisory lock, then the
        claim: two statements, one transaction, opened here on an
        autocommit connection), so each counts what the others committed;
        claim in a short transaction."""
        types = None if workflow_types is None else check(TYPES, list(workflow_types))
        per_customer = (
            None if per_customer_limit is None else check(CustomerLimit, per_customer_limit)
        )
        params = {
            "worker_id": check(WorkerId, worker_id),
            "limit": check(ClaimLimit, limit),
            "lease": check(Lease, lease),
            "workflow_types": None if types is None else [t.value for t in types],
            "agent_id": None if agent_id is None else check_id(agent_id),
            "customer_id": None if customer_id is None else check_id(customer_id),
            "reason": check(REASON, reason),
            "actor": check(ACTOR, actor),
        }
        if per_customer is not None:
            async with one_transaction(self.conn):
                await self._rowcount("claim_lock", {})
                runs = await self._many(
                    "claim_limited", {**params, "per_customer_limit": per_customer}
                )
        elif params["limit"] == 1 and types is None and agent_id is None and customer_id is None:
            # The worker loop's claim, as a statement PostgreSQL keeps a
            # generic plan for (see claim_one in the SQL).
            one = {k: params[k] for k in ("worker_id", "lease", "reason", "actor")}
            runs = await self._many("claim_one", one)
        else:
            runs = await self._many("claim", params)
        claimed(runs)
        return runs

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
        reaped = await self._many(
            "reap_expired", {"limit": check(ClaimLimit, limit), "actor": check(ACTOR, actor)}
        )
        finished(reaped)  # those timed out
        return reaped

    async def requeue(
        self,
        id: UUID | str,
        *,
        worker_id: str,
        delay: timedelta | None = None,
        error_details: dict[str, Any] | None = None,
        reason: str | None = None,
        actor: str | None = None,
        penalty: bool = True,
    ) -> WorkflowExecution:
        """The holder gives a running run back: pending again, claimable at
        now + ``delay`` (0 up to a day), or after the default backoff when
        None: ``min(1 h, 2 s x 2^(attempt - 1))`` with +/-20 % jitter
        (docs/scheduling.md). Its running steps fail with ``error_details``
        (kept in that attempt's history). When ``attempt`` has reached
        ``max_attempts`` it fails instead, ``error_details`` saying the
        attempts were exhausted. ``penalty=False`` (a worker shutting down)
        spends no attempt: no backoff, ``attempt`` one lower (the next claim
        counts the same one again), never failed for the budget. Fenced:
        LeaseLostError unless ``worker_id`` holds the run on a live lease."""
        wait = None if delay is None else check(Delay, delay)
        return await self._move(
            "requeue",
            id,
            WorkflowStatus.PENDING,
            (WorkflowStatus.RUNNING,),
            check(WorkerId, worker_id),
            reason,
            actor,
            delay=wait,
            error_details=jsonb(error_details, required=False),
            penalty=check(bool, penalty),
        )

    async def rerun(
        self,
        id: UUID | str,
        *,
        reason: str | None = None,
        max_attempts: int | None = None,
        actor: str | None = None,
    ) -> WorkflowExecution:
        """Send a failed, timed-out or cancelled run round again: pending,
        claimable now, with a fresh round of attempts (``max_attempts``
        more; by default as many as the run was given; ``attempt`` keeps
        counting). Its failed, skipped and unfinished steps go back to
        pending; its history stays, and the move is logged. Any other
        status: InvalidTransitionError."""
        budget = None if max_attempts is None else check(Attempts, max_attempts)
        return await self._move(
            "rerun",
            id,
            WorkflowStatus.PENDING,
            (WorkflowStatus.FAILED, WorkflowStatus.TIMEOUT, WorkflowStatus.CANCELLED),
            None,
            reason,
            actor,
            max_attempts=budget,
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
            finished((moved,))
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
