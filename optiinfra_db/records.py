"""Pydantic v2 records: one per table (what comes back), plus their inputs.

* ``<Record>`` mirrors a row (field names are the column names). Frozen,
  ``extra="forbid"``. Kept lean (plain types) because one is validated per
  row read.
* ``<Record>Create`` is what a caller hands to ``create``: every constraint of
  the table that can be checked without the database is checked here, so bad
  input raises ``pydantic.ValidationError`` before any SQL is sent.
* ``<Record>Update`` has every field optional. Exactly the fields the caller
  set (``model_fields_set``) are written; an explicit ``None`` writes NULL, and
  is refused for a NOT NULL column.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from decimal import Decimal
from typing import Any, ClassVar, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from optiinfra_db.enums import (
    AgentStatus,
    AgentStatusDetail,
    AgentType,
    ApprovalStatus,
    ArtifactType,
    ConfigType,
    CustomerPlan,
    CustomerStatus,
    EventSeverity,
    EventType,
    MetricType,
    OptimizationStatus,
    RecommendationPriority,
    RecommendationStatus,
    RecommendationType,
    StepStatus,
    WorkflowStatus,
    WorkflowType,
)
from optiinfra_db.fieldtypes import (
    ApiKey,
    Float,
    Improvement,
    JsonArray,
    JsonObject,
    Money,
    Name,
    NonNegInt32,
    Str50,
    Str100,
    Str255,
    Text,
    Timestamp,
)

__all__ = [
    "Agent",
    "AgentCapability",
    "AgentCapabilityCreate",
    "AgentCapabilityUpdate",
    "AgentConfig",
    "AgentConfigCreate",
    "AgentConfigUpdate",
    "AgentCreate",
    "AgentMetric",
    "AgentMetricCreate",
    "AgentState",
    "AgentStateCreate",
    "AgentStateUpdate",
    "AgentUpdate",
    "Approval",
    "ApprovalCreate",
    "ApprovalUpdate",
    "Customer",
    "CustomerCreate",
    "CustomerUpdate",
    "Event",
    "EventCreate",
    "NewWorkflowStep",
    "Optimization",
    "OptimizationCreate",
    "OptimizationUpdate",
    "Recommendation",
    "RecommendationCreate",
    "RecommendationUpdate",
    "RunningExecution",
    "StepFailureSummary",
    "WorkflowArtifact",
    "WorkflowArtifactCreate",
    "WorkflowArtifactUpdate",
    "WorkflowExecution",
    "WorkflowExecutionCreate",
    "WorkflowExecutionDetail",
    "WorkflowExecutionUpdate",
    "WorkflowStep",
    "WorkflowStepAttempt",
    "WorkflowStepCreate",
    "WorkflowStepUpdate",
    "WorkflowTransition",
    "WorkflowTypeStats",
    "hash_api_key",
    "new_api_key",
]


def new_api_key() -> str:
    """A fresh API key: 256 random bits, URL-safe, prefixed ``oik_`` so it is recognisable."""
    return "oik_" + secrets.token_urlsafe(32)


#: The documented default of OPTIINFRA_API_KEY_SECRET: for the demo and tests
#: only. A deployment sets its own secret (and keeps it out of the database).
DEMO_API_KEY_SECRET = "optiinfra-demo-secret-not-for-production"


def api_key_secret() -> bytes:
    """The server-side secret the API-key HMAC is keyed with ($OPTIINFRA_API_KEY_SECRET)."""
    return os.environ.get("OPTIINFRA_API_KEY_SECRET", DEMO_API_KEY_SECRET).encode("utf-8")


def hash_api_key(api_key: str) -> str:
    """What the database stores instead of the key: HMAC-SHA256 keyed by a
    server-side secret, lower-case hex.

    An HMAC, not a slow password hash: a key is looked up by its hash on every
    request (a slow hash would cost ~100 ms a request, or need a key id
    beside it), and the keys ``new_api_key`` makes carry 256 random bits. The
    secret is what keeps a short, human-chosen key from being brute-forced out
    of a copy of the database: without the secret, the stored values say nothing.
    """
    return hmac.new(api_key_secret(), api_key.encode("utf-8"), hashlib.sha256).hexdigest()


class Record(BaseModel):
    """A row read back from the database."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Input(BaseModel):
    """Data a caller hands in; validated before any SQL runs."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class UpdateInput(Input):
    """All-optional input; only ``model_fields_set`` is written."""

    #: Fields whose column is NOT NULL: an explicit None is refused.
    not_null: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_not_null_columns(self) -> Self:
        for name in self.model_fields_set & self.not_null:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be set to None (the column is NOT NULL)")
        return self

    def set_flags(self) -> dict[str, Any]:
        """``set_<field>`` booleans for the static partial-update statements."""
        fields_set = self.model_fields_set
        return {f"set_{name}": name in fields_set for name in type(self).model_fields}


def _check_times(started: Any, completed: Any) -> None:
    if started is not None and completed is not None and completed < started:
        raise ValueError("completed_at may not be before started_at")


# --------------------------------------------------------------------------- customers

_EMAIL = r"^[^@\s\x00]+@[^@\s\x00]+$"


class Customer(Record):
    id: UUID
    name: str
    email: str
    plan: CustomerPlan
    status: CustomerStatus
    metadata: dict[str, Any]
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CustomerCreate(Input):
    # Validation errors never print the input: it may hold the API key.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: Name
    email: Str255 = Field(pattern=_EMAIL)
    #: The customer's secret API key (16 to 1,024 characters); only its HMAC is stored.
    api_key: ApiKey
    plan: CustomerPlan = CustomerPlan.FREE
    status: CustomerStatus = CustomerStatus.ACTIVE
    metadata: JsonObject = Field(default_factory=dict)


class CustomerUpdate(UpdateInput):
    not_null = frozenset({"name", "email", "plan", "status", "metadata"})
    name: Name | None = None
    email: Str255 | None = Field(default=None, pattern=_EMAIL)
    plan: CustomerPlan | None = None
    status: CustomerStatus | None = None
    metadata: JsonObject | None = None


# --------------------------------------------------------------------------- agents


class Agent(Record):
    id: UUID
    type: AgentType
    name: str
    version: str | None
    status: AgentStatus
    endpoint: str | None
    capabilities: list[Any]
    metadata: dict[str, Any]
    last_heartbeat: AwareDatetime | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AgentCreate(Input):
    type: AgentType
    name: Name
    version: Str50 | None = None
    status: AgentStatus = AgentStatus.STARTING
    endpoint: Str255 | None = None
    capabilities: JsonArray = Field(default_factory=list)
    metadata: JsonObject = Field(default_factory=dict)
    last_heartbeat: Timestamp | None = None


class AgentUpdate(UpdateInput):
    not_null = frozenset({"name", "status", "capabilities", "metadata"})
    name: Name | None = None
    version: Str50 | None = None
    status: AgentStatus | None = None
    endpoint: Str255 | None = None
    capabilities: JsonArray | None = None
    metadata: JsonObject | None = None
    last_heartbeat: Timestamp | None = None


# --------------------------------------------------------------------------- events


class Event(Record):
    id: UUID
    customer_id: UUID
    agent_id: UUID | None
    event_type: EventType
    severity: EventSeverity
    data: dict[str, Any]
    created_at: AwareDatetime


class EventCreate(Input):
    customer_id: UUID
    agent_id: UUID | None = None
    event_type: EventType
    severity: EventSeverity = EventSeverity.INFO
    data: JsonObject = Field(default_factory=dict)


# --------------------------------------------------------------------------- recommendations


class Recommendation(Record):
    id: UUID
    customer_id: UUID
    agent_id: UUID
    type: RecommendationType
    title: str
    description: str | None
    estimated_savings: Decimal | None
    estimated_improvement: Decimal | None
    confidence_score: float
    priority: RecommendationPriority
    status: RecommendationStatus
    data: dict[str, Any]
    created_at: AwareDatetime
    updated_at: AwareDatetime
    approved_at: AwareDatetime | None
    executed_at: AwareDatetime | None


class RecommendationCreate(Input):
    customer_id: UUID
    agent_id: UUID
    type: RecommendationType
    title: Name
    description: Text | None = None
    estimated_savings: Money | None = None
    estimated_improvement: Improvement | None = None
    confidence_score: Float = Field(ge=0, le=1)
    priority: RecommendationPriority = RecommendationPriority.MEDIUM
    status: RecommendationStatus = RecommendationStatus.PENDING
    data: JsonObject = Field(default_factory=dict)
    approved_at: Timestamp | None = None
    executed_at: Timestamp | None = None


class RecommendationUpdate(UpdateInput):
    not_null = frozenset({"title", "confidence_score", "priority", "status", "data"})
    title: Name | None = None
    description: Text | None = None
    estimated_savings: Money | None = None
    estimated_improvement: Improvement | None = None
    confidence_score: Float | None = Field(default=None, ge=0, le=1)
    priority: RecommendationPriority | None = None
    status: RecommendationStatus | None = None
    data: JsonObject | None = None
    approved_at: Timestamp | None = None
    executed_at: Timestamp | None = None


# --------------------------------------------------------------------------- approvals


class Approval(Record):
    id: UUID
    recommendation_id: UUID
    approved_by: str
    status: ApprovalStatus
    comment: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ApprovalCreate(Input):
    recommendation_id: UUID
    approved_by: Name
    status: ApprovalStatus = ApprovalStatus.PENDING
    comment: Text | None = None


class ApprovalUpdate(UpdateInput):
    not_null = frozenset({"approved_by", "status"})
    approved_by: Name | None = None
    status: ApprovalStatus | None = None
    comment: Text | None = None


# --------------------------------------------------------------------------- optimizations


class Optimization(Record):
    id: UUID
    recommendation_id: UUID
    customer_id: UUID
    agent_id: UUID
    status: OptimizationStatus
    progress: int
    result: dict[str, Any]
    error: str | None
    actual_savings: Decimal | None
    actual_improvement: Decimal | None
    started_at: AwareDatetime | None
    completed_at: AwareDatetime | None
    rolled_back_at: AwareDatetime | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class OptimizationCreate(Input):
    recommendation_id: UUID
    customer_id: UUID
    agent_id: UUID
    status: OptimizationStatus = OptimizationStatus.QUEUED
    progress: int = Field(default=0, ge=0, le=100, strict=True)
    result: JsonObject = Field(default_factory=dict)
    error: Text | None = None
    actual_savings: Money | None = None
    actual_improvement: Improvement | None = None
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    rolled_back_at: Timestamp | None = None

    @model_validator(mode="after")
    def _times(self) -> Self:
        _check_times(self.started_at, self.completed_at)
        return self


class OptimizationUpdate(UpdateInput):
    not_null = frozenset({"status", "progress", "result"})
    status: OptimizationStatus | None = None
    progress: int | None = Field(default=None, ge=0, le=100, strict=True)
    result: JsonObject | None = None
    error: Text | None = None
    actual_savings: Money | None = None
    actual_improvement: Improvement | None = None
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    rolled_back_at: Timestamp | None = None


# --------------------------------------------------------------------------- agent_configs


class AgentConfig(Record):
    id: UUID
    agent_id: UUID
    config_key: str
    config_value: str
    config_type: ConfigType
    description: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AgentConfigCreate(Input):
    agent_id: UUID
    config_key: Name
    config_value: Text
    config_type: ConfigType = ConfigType.STRING
    description: Text | None = None


class AgentConfigUpdate(UpdateInput):
    not_null = frozenset({"config_value", "config_type"})
    config_value: Text | None = None
    config_type: ConfigType | None = None
    description: Text | None = None


# --------------------------------------------------------------------------- agent_states


class AgentState(Record):
    id: UUID
    agent_id: UUID
    current_status: AgentStatusDetail
    active_workflows: list[Any]
    locks: dict[str, Any]
    last_activity: AwareDatetime
    resource_usage: dict[str, Any]
    metadata: dict[str, Any]
    current_workflow_id: UUID | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AgentStateCreate(Input):
    agent_id: UUID
    current_status: AgentStatusDetail = AgentStatusDetail.IDLE
    active_workflows: JsonArray = Field(default_factory=list)
    locks: JsonObject = Field(default_factory=dict)
    #: None: the database's now().
    last_activity: Timestamp | None = None
    resource_usage: JsonObject = Field(default_factory=dict)
    metadata: JsonObject = Field(default_factory=dict)
    current_workflow_id: UUID | None = None


class AgentStateUpdate(UpdateInput):
    not_null = frozenset(
        {
            "current_status",
            "active_workflows",
            "locks",
            "last_activity",
            "resource_usage",
            "metadata",
        }
    )
    current_status: AgentStatusDetail | None = None
    active_workflows: JsonArray | None = None
    locks: JsonObject | None = None
    last_activity: Timestamp | None = None
    resource_usage: JsonObject | None = None
    metadata: JsonObject | None = None
    current_workflow_id: UUID | None = None


# --------------------------------------------------------------------------- agent_capabilities


class AgentCapability(Record):
    id: UUID
    agent_id: UUID
    capability_name: str
    capability_version: str
    enabled: bool
    config: dict[str, Any]
    description: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AgentCapabilityCreate(Input):
    agent_id: UUID
    capability_name: Name
    capability_version: Str50 = Field(default="1.0.0", min_length=1)
    enabled: bool = True
    config: JsonObject = Field(default_factory=dict)
    description: Text | None = None


class AgentCapabilityUpdate(UpdateInput):
    not_null = frozenset({"capability_version", "enabled", "config"})
    capability_version: Str50 | None = Field(default=None, min_length=1)
    enabled: bool | None = None
    config: JsonObject | None = None
    description: Text | None = None


# --------------------------------------------------------------------------- agent_metrics


class AgentMetric(Record):
    id: UUID
    agent_id: UUID
    metric_name: str
    metric_value: float
    metric_type: MetricType
    tags: dict[str, Any]
    recorded_at: AwareDatetime


class AgentMetricCreate(Input):
    agent_id: UUID
    metric_name: Name
    metric_value: Float
    metric_type: MetricType = MetricType.GAUGE
    tags: JsonObject = Field(default_factory=dict)
    #: When the sample was taken; None: the database's now().
    recorded_at: Timestamp | None = None


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
    retry_count: int
    max_retries: int
    metadata: dict[str, Any]
    created_at: AwareDatetime
    updated_at: AwareDatetime


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
    worker_id: str | None
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
