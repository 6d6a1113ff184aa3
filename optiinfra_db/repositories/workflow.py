"""Repositories of the workflow-history tables (migration 0003): executions,
their ordered steps and their artifacts, with guarded lifecycle moves."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import TypeAdapter

from optiinfra_db.enums import ArtifactType, StepStatus, WorkflowStatus, WorkflowType
from optiinfra_db.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    RepositoryError,
)
from optiinfra_db.fieldtypes import JsonObject, Name, check_id
from optiinfra_db.records import (
    NewWorkflowStep,
    WorkflowArtifact,
    WorkflowArtifactCreate,
    WorkflowArtifactUpdate,
    WorkflowExecution,
    WorkflowExecutionCreate,
    WorkflowExecutionDetail,
    WorkflowExecutionUpdate,
    WorkflowStep,
    WorkflowStepCreate,
    WorkflowStepUpdate,
)
from optiinfra_db.repositories._base import (
    Cursor,
    UpdatableRepository,
    check,
    json_text,
    limit_of,
    page,
    to_params,
    window,
)

__all__ = [
    "WorkflowArtifactRepository",
    "WorkflowExecutionRepository",
    "WorkflowStepRepository",
]

_FINISHED = frozenset(
    {
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
        WorkflowStatus.CANCELLED,
        WorkflowStatus.TIMEOUT,
    }
)
_RESULT_FIELDS = frozenset({"output_data", "error_details"})
_JSON_OR_NONE = TypeAdapter(JsonObject | None)
_JSON = TypeAdapter(JsonObject)
_NEW_STEPS = TypeAdapter(list[NewWorkflowStep])


def _jsonb(value: Any, *, required: bool) -> Jsonb | None:
    checked = (_JSON if required else _JSON_OR_NONE).validate_python(value)
    return None if checked is None else Jsonb(checked)


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

    def create(self, data: WorkflowExecutionCreate) -> WorkflowExecution:
        return self._create(data, WorkflowExecutionCreate)

    def _update_refused(
        self,
        current: WorkflowExecution,
        data: WorkflowExecutionUpdate,
        expected_updated_at: datetime | None,
    ) -> RepositoryError:
        if current.status in _FINISHED and data.model_fields_set & _RESULT_FIELDS:
            return ConflictError(
                f"workflow execution {current.id} is {current.status.value}: its output_data "
                "and error_details are history and can't be rewritten"
            )
        return super()._update_refused(current, data, expected_updated_at)

    def create_with_steps(
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
        specs = _NEW_STEPS.validate_python(list(steps))
        params = to_params(data, steps=Jsonb([s.model_dump(mode="json") for s in specs]))
        row = self._fetchone(self.q["create_with_steps"], params)
        assert row is not None
        return self._decode(WorkflowExecutionDetail, row[0])

    def get_detail(self, id: UUID | str) -> WorkflowExecutionDetail | None:
        """The execution with its steps (in step order) and artifacts, in one round trip."""
        row = self._fetchone(self.q["get_detail"], {"id": check_id(id)})
        return None if row is None else self._decode(WorkflowExecutionDetail, row[0])

    # -- lists ------------------------------------------------------------------------

    def _params(
        self,
        owner: dict[str, Any],
        workflow_type: WorkflowType | None,
        status: WorkflowStatus | None,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
        after: Cursor | None,
    ) -> dict[str, Any]:
        """Parameters of the execution lists (``plan: custom``: each call is
        planned with its own filters): one page, or with ``limit`` None every
        row (the iterators stream them)."""
        params = {
            **owner,
            "workflow_type": check(WorkflowType | None, workflow_type),
            "status": check(WorkflowStatus | None, status),
            **window(since, until),
            **page(1 if limit is None else limit, after, self.record),
        }
        if limit is None:
            params["limit"] = None  # LIMIT NULL: no limit
        return params

    def list_for_customer(
        self,
        customer_id: UUID | str,
        *,
        workflow_type: WorkflowType | None = None,
        status: WorkflowStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """A customer's executions newest first; created_at in [since, until)."""
        return self._many(
            "list_for_customer",
            self._params(
                {"customer_id": check_id(customer_id)},
                workflow_type,
                status,
                since,
                until,
                limit,
                after,
            ),
        )

    def iter_for_customer(
        self,
        customer_id: UUID | str,
        *,
        workflow_type: WorkflowType | None = None,
        status: WorkflowStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: Cursor | None = None,
        batch_size: int = 1000,
    ) -> Iterator[WorkflowExecution]:
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
            ),
            batch_size,
        )

    def list_for_agent(
        self,
        agent_id: UUID | str,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: WorkflowType | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """An agent's executions newest first."""
        return self._many(
            "list_for_agent",
            self._params(
                {"agent_id": check_id(agent_id)},
                workflow_type,
                status,
                since,
                until,
                limit,
                after,
            ),
        )

    def iter_for_agent(
        self,
        agent_id: UUID | str,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: WorkflowType | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: Cursor | None = None,
        batch_size: int = 1000,
    ) -> Iterator[WorkflowExecution]:
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
            ),
            batch_size,
        )

    def list(
        self,
        *,
        workflow_type: WorkflowType | None = None,
        status: WorkflowStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """All executions newest first (an operator's view)."""
        return self._many(
            "list", self._params({}, workflow_type, status, since, until, limit, after)
        )

    def iter(
        self,
        *,
        workflow_type: WorkflowType | None = None,
        status: WorkflowStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: Cursor | None = None,
        batch_size: int = 1000,
    ) -> Iterator[WorkflowExecution]:
        """Every execution, streamed newest first (see iter_for_customer)."""
        return self._stream(
            "list",
            self._params({}, workflow_type, status, since, until, None, after),
            batch_size,
        )

    def list_active_for_agent(
        self, agent_id: UUID | str, *, limit: int = 100
    ) -> builtins.list[WorkflowExecution]:
        """The agent's pending and running executions, oldest first."""
        return self._many(
            "list_active_for_agent", {"agent_id": check_id(agent_id), "limit": limit_of(limit)}
        )

    def count_active_for_agent(self, agent_id: UUID | str) -> int:
        """How many pending and running executions the agent has."""
        row = self._fetchone(self.q["count_active_for_agent"], {"agent_id": check_id(agent_id)})
        assert row is not None
        return int(row[0])

    def count_by_type(self, customer_id: UUID | str) -> dict[WorkflowType, int]:
        """How many executions the customer has of each workflow type (types with none omitted)."""
        rows = self._fetchall(self.q["count_by_type"], {"customer_id": check_id(customer_id)})
        return {WorkflowType(name): count for name, count in rows}

    # -- lifecycle --------------------------------------------------------------------

    def _move(
        self,
        name: str,
        id: UUID | str,
        wanted: WorkflowStatus,
        allowed_from: tuple[WorkflowStatus, ...],
        **params: Any,
    ) -> WorkflowExecution:
        ident = check_id(id)
        moved = self._one(name, {"id": ident, **params})
        if moved is not None:
            return moved
        # No row matched: tell a missing id from a wrong status (READ COMMITTED
        # sees the winner's committed status after a race).
        state = self._fetchone(self.q["status_of"], {"id": ident})
        if state is None:
            raise NotFoundError(self.entity, ident)
        raise InvalidTransitionError(
            self.entity,
            ident,
            state[0],
            wanted.value,
            allowed_from=tuple(s.value for s in allowed_from),
        )

    def start(self, id: UUID | str) -> WorkflowExecution:
        """pending -> running (sets started_at)."""
        return self._move("start", id, WorkflowStatus.RUNNING, (WorkflowStatus.PENDING,))

    def complete(
        self, id: UUID | str, output_data: dict[str, Any] | None = None
    ) -> WorkflowExecution:
        """running -> completed (sets completed_at; output_data if given)."""
        return self._move(
            "complete",
            id,
            WorkflowStatus.COMPLETED,
            (WorkflowStatus.RUNNING,),
            output_data=_jsonb(output_data, required=False),
        )

    def fail(self, id: UUID | str, error_details: dict[str, Any]) -> WorkflowExecution:
        """running -> failed (sets completed_at and error_details)."""
        return self._move(
            "fail",
            id,
            WorkflowStatus.FAILED,
            (WorkflowStatus.RUNNING,),
            error_details=_jsonb(error_details, required=True),
        )

    def cancel(self, id: UUID | str) -> WorkflowExecution:
        """pending or running -> cancelled (sets completed_at)."""
        return self._move(
            "cancel", id, WorkflowStatus.CANCELLED, (WorkflowStatus.PENDING, WorkflowStatus.RUNNING)
        )

    def time_out(self, id: UUID | str) -> WorkflowExecution:
        """running -> timeout (sets completed_at)."""
        return self._move("time_out", id, WorkflowStatus.TIMEOUT, (WorkflowStatus.RUNNING,))


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

    def create(self, data: WorkflowStepCreate) -> WorkflowStep:
        return self._create(data, WorkflowStepCreate)

    def bulk_create(self, steps: Iterable[WorkflowStepCreate | Mapping[str, Any]]) -> int:
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
        return self._copy(
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

    def list_for_execution(self, execution_id: UUID | str) -> builtins.list[WorkflowStep]:
        """All steps of one execution, in step order."""
        return self._many("list_for_execution", {"workflow_execution_id": check_id(execution_id)})

    def list(self, execution_id: UUID | str) -> builtins.list[WorkflowStep]:
        """Same as :meth:`list_for_execution`."""
        return self.list_for_execution(execution_id)

    def list_by_name(
        self,
        step_name: str,
        status: StepStatus = StepStatus.FAILED,
        *,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowStep]:
        """Steps of one name in one status across executions, newest first (by default
        every failure of that step)."""
        return self._many(
            "list_by_name",
            {
                "step_name": check(Name, step_name),
                "status": check(StepStatus, status),
                **page(limit, after, self.record),
            },
        )

    # -- lifecycle --------------------------------------------------------------------

    def _move(
        self,
        name: str,
        id: UUID | str,
        wanted: StepStatus,
        allowed_from: tuple[StepStatus, ...],
        **params: Any,
    ) -> WorkflowStep:
        ident = check_id(id)
        moved = self._one(name, {"id": ident, **params})
        if moved is not None:
            return moved
        state = self._fetchone(self.q["state_of"], {"id": ident})
        if state is None:
            raise NotFoundError(self.entity, ident)
        current, retry_count, max_retries = state
        allowed = tuple(s.value for s in allowed_from)
        reason = None
        if wanted is StepStatus.RETRYING and current in allowed:
            reason = f"retries exhausted: {retry_count} of {max_retries} used"
        raise InvalidTransitionError(
            self.entity, ident, current, wanted.value, allowed_from=allowed, reason=reason
        )

    def start(self, id: UUID | str) -> WorkflowStep:
        """pending or retrying -> running (sets started_at; clears completed_at, error_details)."""
        return self._move(
            "start", id, StepStatus.RUNNING, (StepStatus.PENDING, StepStatus.RETRYING)
        )

    def complete(self, id: UUID | str, output_data: dict[str, Any] | None = None) -> WorkflowStep:
        """running -> completed (sets completed_at; output_data if given)."""
        return self._move(
            "complete",
            id,
            StepStatus.COMPLETED,
            (StepStatus.RUNNING,),
            output_data=_jsonb(output_data, required=False),
        )

    def fail(self, id: UUID | str, error_details: dict[str, Any]) -> WorkflowStep:
        """running -> failed (sets completed_at and error_details)."""
        return self._move(
            "fail",
            id,
            StepStatus.FAILED,
            (StepStatus.RUNNING,),
            error_details=_jsonb(error_details, required=True),
        )

    def skip(self, id: UUID | str) -> WorkflowStep:
        """pending -> skipped (sets completed_at)."""
        return self._move("skip", id, StepStatus.SKIPPED, (StepStatus.PENDING,))

    def retry(self, id: UUID | str) -> WorkflowStep:
        """failed or running -> retrying (retry_count + 1); refused past max_retries."""
        return self._move("retry", id, StepStatus.RETRYING, (StepStatus.FAILED, StepStatus.RUNNING))


class WorkflowArtifactRepository(UpdatableRepository[WorkflowArtifact, WorkflowArtifactUpdate]):
    """``workflow_artifacts``: outputs of an execution or of one of its steps."""

    table = "workflow_artifacts"
    entity = "workflow artifact"
    record = WorkflowArtifact
    update_model = WorkflowArtifactUpdate

    def create(self, data: WorkflowArtifactCreate) -> WorkflowArtifact:
        return self._create(data, WorkflowArtifactCreate)

    def list_for_execution(
        self, execution_id: UUID | str, *, artifact_type: ArtifactType | None = None
    ) -> builtins.list[WorkflowArtifact]:
        """One execution's artifacts, oldest first; ``artifact_type`` filters when given."""
        return self._many(
            "list_for_execution",
            {
                "workflow_execution_id": check_id(execution_id),
                "artifact_type": check(ArtifactType | None, artifact_type),
            },
        )

    def list_for_step(self, step_id: UUID | str) -> builtins.list[WorkflowArtifact]:
        """One step's artifacts, oldest first."""
        return self._many("list_for_step", {"workflow_step_id": check_id(step_id)})

    def list(
        self, execution_id: UUID | str, *, artifact_type: ArtifactType | None = None
    ) -> builtins.list[WorkflowArtifact]:
        """Same as :meth:`list_for_execution`."""
        return self.list_for_execution(execution_id, artifact_type=artifact_type)
