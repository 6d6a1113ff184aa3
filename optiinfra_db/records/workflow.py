"""The workflow history's records: executions, steps, artifacts, transitions,
and the summaries read from them (migration 0003 onward).
"""

from __future__ import annotations

from typing import Any, Literal, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    Field,
    model_validator,
)

from optiinfra_db.enums import (
    ArtifactType,
    StepStatus,
    WorkflowStatus,
    WorkflowType,
)
from optiinfra_db.fieldtypes import (
    IdempotencyKey,
    JsonObject,
    Name,
    NonNegInt32,
    Priority,
    Str100,
    Text,
    Timestamp,
)
from optiinfra_db.records._base import Input, Record, UpdateInput, _check_times

# --------------------------------------------------------------------------- workflow_executions


class WorkflowExecution(Record):
    id: UUID
    agent_id: UUID
    customer_id: UUID
    workflow_type: WorkflowType
    status: WorkflowStatus
    started_at: AwareDatetime | None
    completed_at: AwareDatetime | None
    input_data: dict[str, Any]
    output_data: dict[str, Any]
    error_details: dict[str, Any] | None
    metadata: dict[str, Any]
    created_at: AwareDatetime
    updated_at: AwareDatetime
    #: The worker that claimed it (kept once it ends); None if never claimed or requeued.
    worker_id: str | None
    #: While running under a claim: the claim holds until then.
    lease_expires_at: AwareDatetime | None
    heartbeat_at: AwareDatetime | None
    #: How many times it was claimed (or started).
    attempt: int
    #: Claims allowed before an expired lease times it out instead of requeuing it.
    max_attempts: int
    #: When it first started, kept across requeues (``started_at`` is the
    #: current attempt's start); durations run from it.
    first_started_at: AwareDatetime | None
    #: Not claimable before it (None: from its creation); see docs/scheduling.md.
    run_after: AwareDatetime | None
    #: Higher is claimed first.
    priority: int
    #: The caller's key for this enqueue (unique per customer while the run exists).
    idempotency_key: str | None


class WorkflowExecutionCreate(Input):
    agent_id: UUID
    customer_id: UUID
    workflow_type: WorkflowType
    #: Normally PENDING; another status imports a row as it stands (no lifecycle check).
    status: WorkflowStatus = WorkflowStatus.PENDING
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    input_data: JsonObject = Field(default_factory=dict)
    output_data: JsonObject = Field(default_factory=dict)
    error_details: JsonObject | None = None
    metadata: JsonObject = Field(default_factory=dict)
    #: Claims allowed (>= 1): after that many expired leases the reaper times it out.
    max_attempts: int = Field(default=1, ge=1, le=2**31 - 1, strict=True)
    #: Not claimable before it (aware; None: now).
    run_after: Timestamp | None = None
    #: Higher is claimed first (a smallint).
    priority: Priority = 0
    #: At most one run per customer and key while the run is in the database:
    #: a create with a key the customer used returns that run (same
    #: workflow_type and input_data) or raises IdempotencyConflictError.
    idempotency_key: IdempotencyKey | None = None

    @model_validator(mode="after")
    def _times(self) -> Self:
        _check_times(self.started_at, self.completed_at)
        return self


class WorkflowExecutionUpdate(UpdateInput):
    """Data fields only: status and its timestamps move through the lifecycle methods."""

    not_null = frozenset({"input_data", "output_data", "metadata"})
    input_data: JsonObject | None = None
    output_data: JsonObject | None = None
    error_details: JsonObject | None = None
    metadata: JsonObject | None = None


# --------------------------------------------------------------------------- workflow_steps


class WorkflowStep(Record):
    id: UUID
    workflow_execution_id: UUID
    step_name: str
    step_order: int
    status: StepStatus
    started_at: AwareDatetime | None
    completed_at: AwareDatetime | None
    input_data: dict[str, Any]
    output_data: dict[str, Any]
    error_details: dict[str, Any] | None
    #: Retries the step's own code asked for (``retry``, ``fail(retry=True)``).
    retry_count: int
    max_retries: int
    metadata: dict[str, Any]
    created_at: AwareDatetime
    updated_at: AwareDatetime
    #: Starts again after its run was requeued (the reaper failed it); a
    #: restart does not spend a retry.
    restart_count: int


class WorkflowStepCreate(Input):
    workflow_execution_id: UUID
    step_name: Name
    step_order: int = Field(ge=1, le=2**31 - 1, strict=True)
    status: StepStatus = StepStatus.PENDING
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    input_data: JsonObject = Field(default_factory=dict)
    output_data: JsonObject = Field(default_factory=dict)
    error_details: JsonObject | None = None
    retry_count: NonNegInt32 = 0
    max_retries: NonNegInt32 = 3
    metadata: JsonObject = Field(default_factory=dict)

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.retry_count > self.max_retries:
            raise ValueError("retry_count may not exceed max_retries")
        _check_times(self.started_at, self.completed_at)
        return self


class NewWorkflowStep(Input):
    """A step created together with its execution (``create_with_steps``)."""

    step_name: Name
    step_order: int = Field(ge=1, le=2**31 - 1, strict=True)
    status: StepStatus = StepStatus.PENDING
    input_data: JsonObject = Field(default_factory=dict)
    max_retries: NonNegInt32 = 3
    metadata: JsonObject = Field(default_factory=dict)


class WorkflowStepUpdate(UpdateInput):
    """Data fields only: status, timestamps and retries move through the lifecycle methods."""

    not_null = frozenset({"step_name", "input_data", "output_data", "metadata", "max_retries"})
    step_name: Name | None = None
    input_data: JsonObject | None = None
    output_data: JsonObject | None = None
    error_details: JsonObject | None = None
    metadata: JsonObject | None = None
    max_retries: NonNegInt32 | None = None


# --------------------------------------------------------------------------- workflow_artifacts


class WorkflowArtifact(Record):
    id: UUID
    workflow_execution_id: UUID
    workflow_step_id: UUID | None
    artifact_type: ArtifactType
    artifact_name: str
    artifact_path: str
    artifact_size_bytes: int | None
    content_type: str | None
    metadata: dict[str, Any]
    created_at: AwareDatetime
    updated_at: AwareDatetime


class WorkflowArtifactCreate(Input):
    workflow_execution_id: UUID
    #: None: an execution-level artifact. Otherwise a step of the same execution.
    workflow_step_id: UUID | None = None
    artifact_type: ArtifactType
    artifact_name: Name
    artifact_path: Text = Field(min_length=1)
    artifact_size_bytes: int | None = Field(default=None, ge=0, le=2**63 - 1, strict=True)
    content_type: Str100 | None = None
    metadata: JsonObject = Field(default_factory=dict)


class WorkflowArtifactUpdate(UpdateInput):
    not_null = frozenset({"artifact_name", "artifact_path", "metadata"})
    artifact_name: Name | None = None
    artifact_path: Text | None = Field(default=None, min_length=1)
    artifact_size_bytes: int | None = Field(default=None, ge=0, le=2**63 - 1, strict=True)
    content_type: Str100 | None = None
    metadata: JsonObject | None = None


# --------------------------------------------------------------------------- workflow_transitions


class WorkflowTransition(Record):
    """One status change of an execution (``workflow_step_id`` None) or of one
    of its steps, as the database logged it."""

    id: int
    workflow_execution_id: UUID
    workflow_step_id: UUID | None
    #: None for the status a row was inserted with.
    from_status: str | None
    to_status: str
    at: AwareDatetime
    #: The run's holder at the move (the worker whose run it was).
    worker_id: str | None
    #: Who made the move: the worker for its own calls, "reaper" for
    #: reap_expired, the caller's actor= for an operator's call; None for a move
    #: made outside the library (raw SQL, COPY).
    actor: str | None = None
    #: The execution's attempt at the move (None when unknown).
    attempt: int | None
    reason: str | None
    error_details: dict[str, Any] | None
    #: From ``watch``: the log position right after this transition; pass it
    #: to ``watch(after=...)`` to resume there (None where the log was read
    #: otherwise, as by ``history``). Where it was read is not what it is:
    #: two records of one transition compare equal whatever their positions.
    position: str | None = None

    def _logged(self) -> tuple[Any, ...]:
        return tuple(v for k, v in self.__dict__.items() if k != "position")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, WorkflowTransition):
            return self._logged() == other._logged()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._logged()[:2])  # id and execution: enough, and always hashable


class WorkflowStepAttempt(Record):
    """One run of a step: from its move into running to its next move."""

    step_id: UUID
    #: 1 for the step's first run.
    attempt: int
    #: The execution's attempt (claim) the run belonged to.
    execution_attempt: int | None
    worker_id: str | None
    started_at: AwareDatetime
    #: How it started: ``first``, ``retry`` (the step asked for it) or
    #: ``restart`` (its run was requeued and resumed here).
    kind: Literal["first", "retry", "restart"]
    #: None while it is still running.
    ended_at: AwareDatetime | None
    #: The status it moved to (completed, failed, retrying, ...); None while running.
    outcome: StepStatus | None
    #: The error of this attempt (kept after a later success).
    error_details: dict[str, Any] | None
    reason: str | None


class RunningExecution(Record):
    """A running execution with its current step, worker, heartbeat and lease."""

    id: UUID
    agent_id: UUID
    customer_id: UUID
    workflow_type: WorkflowType
    status: WorkflowStatus
    started_at: AwareDatetime | None
    created_at: AwareDatetime
    worker_id: str | None
    heartbeat_at: AwareDatetime | None
    lease_expires_at: AwareDatetime | None
    attempt: int
    max_attempts: int
    #: When it first started, kept across requeues.
    first_started_at: AwareDatetime | None
    #: The running or retrying step, else the first pending one; None if no step is open.
    current_step_id: UUID | None
    current_step_name: str | None
    current_step_order: int | None
    current_step_status: StepStatus | None
    current_step_started_at: AwareDatetime | None


class StepFailureSummary(Record):
    """Failures of one step name in one workflow type over a window."""

    step_name: str
    workflow_type: WorkflowType
    #: Attempts of the step that failed in the window.
    failed_attempts: int
    #: Runs those failures ended (the run failed or timed out with this step failed).
    runs_ended: int
    latest_error: dict[str, Any] | None
    latest_at: AwareDatetime


class WorkflowTypeStats(Record):
    """Per workflow type: counts by status, success rate and durations."""

    workflow_type: WorkflowType
    total: int
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    timeout: int
    #: Completed among the finished runs, in percent; None when none finished.
    success_rate_pct: float | None
    #: Median and 95th percentile of the finished runs' durations, in seconds.
    p50_s: float | None
    p95_s: float | None


class WorkflowExecutionDetail(Record):
    """One execution with its steps (in step order) and its artifacts (oldest first)."""

    execution: WorkflowExecution
    steps: list[WorkflowStep]
    artifacts: list[WorkflowArtifact]
