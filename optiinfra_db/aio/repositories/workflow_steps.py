"""``workflow_steps`` (migrations 0003, 0007): a run's ordered steps and their lifecycle.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/workflow_steps.py``; the sync
twin ``optiinfra_db/repositories/workflow_steps.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/workflow_steps.sql``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import StrictBool, TypeAdapter

from optiinfra_db.aio.repositories._base import UpdatableRepository, guarded
from optiinfra_db.enums import StepStatus, WorkflowStatus, WorkflowType
from optiinfra_db.errors import (
    InvalidTransitionError,
    NotFoundError,
)
from optiinfra_db.fieldtypes import (
    Name,
    check_id,
)
from optiinfra_db.records import (
    StepFailureSummary,
    WorkflowStep,
    WorkflowStepAttempt,
    WorkflowStepCreate,
    WorkflowStepUpdate,
)
from optiinfra_db.sansio.lifecycle import (
    ATTEMPTS,
    jsonb,
    lease_lost,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    json_text,
    page,
    to_params,
    window,
)

__all__ = ["WorkflowStepRepository"]


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
            "copy",
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
        return await self._many_of(
            StepFailureSummary,
            "failure_summary",
            {
                "customer_id": None if customer_id is None else check_id(customer_id),
                "workflow_type": check(WorkflowType | None, workflow_type),
                **window(since, until),
            },
        )

    async def attempts(self, step_id: UUID | str) -> builtins.list[WorkflowStepAttempt]:
        """Every run of the step, oldest first (from the transition log): when it
        started and ended, how, and that attempt's error (kept after a later
        success). Raises NotFoundError for a missing step."""
        ident = check_id(step_id)
        row = await self._fetchone("attempts", {"id": ident})
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
        actor: str | None,
        **params: Any,
    ) -> WorkflowStep:
        ident, worker, moved = await guarded(self, name, id, worker_id, reason, actor, params)
        if moved is not None:
            return moved
        state = await self._fetchone("state_of", {"id": ident})
        if state is None:
            raise NotFoundError(self.entity, ident)
        current, retry_count, max_retries, restartable, run_id, run_status, holder, live = state[:8]
        run = (run_id, run_status, holder, live, state[8])
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
        self,
        id: UUID | str,
        *,
        worker_id: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> WorkflowStep:
        """pending or retrying -> running, or failed -> running when it failed in
        an earlier attempt of its execution (a requeued run resumes there: a
        restart, counted in ``restart_count``; it spends no retry). Sets
        started_at; clears completed_at and error_details."""
        return await self._move(
            "start",
            id,
            StepStatus.RUNNING,
            (StepStatus.PENDING, StepStatus.RETRYING),
            worker_id,
            reason,
            actor,
        )

    async def complete(
        self,
        id: UUID | str,
        output_data: dict[str, Any] | None = None,
        *,
        worker_id: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> WorkflowStep:
        """running -> completed (sets completed_at; output_data if given)."""
        return await self._move(
            "complete",
            id,
            StepStatus.COMPLETED,
            (StepStatus.RUNNING,),
            worker_id,
            reason,
            actor,
            output_data=jsonb(output_data, required=False),
        )

    async def fail(
        self,
        id: UUID | str,
        error_details: dict[str, Any],
        *,
        retry: bool = False,
        worker_id: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> WorkflowStep:
        """running -> failed (sets completed_at and error_details). With
        ``retry=True``, running -> retrying in the same statement while the
        step has retries left (``retry_count`` + 1; the log keeps this
        attempt's error), else failed: the returned step's status says which."""
        return await self._move(
            "fail",
            id,
            StepStatus.FAILED,
            (StepStatus.RUNNING,),
            worker_id,
            reason,
            actor,
            error_details=jsonb(error_details, required=True),
            retry=check(StrictBool, retry),
        )

    async def skip(
        self,
        id: UUID | str,
        *,
        worker_id: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> WorkflowStep:
        """pending -> skipped (sets completed_at)."""
        return await self._move(
            "skip", id, StepStatus.SKIPPED, (StepStatus.PENDING,), worker_id, reason, actor
        )

    async def retry(
        self,
        id: UUID | str,
        *,
        worker_id: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> WorkflowStep:
        """failed or running -> retrying (retry_count + 1); refused past max_retries."""
        return await self._move(
            "retry",
            id,
            StepStatus.RETRYING,
            (StepStatus.FAILED, StepStatus.RUNNING),
            worker_id,
            reason,
            actor,
        )
