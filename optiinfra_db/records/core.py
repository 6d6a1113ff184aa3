"""The core tables' records: customers, agents, events, recommendations,
approvals, optimizations (migration 0001).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    model_validator,
)

from optiinfra_db.enums import (
    AgentStatus,
    AgentType,
    ApprovalStatus,
    CustomerPlan,
    CustomerStatus,
    EventSeverity,
    EventType,
    OptimizationStatus,
    RecommendationPriority,
    RecommendationStatus,
    RecommendationType,
)
from optiinfra_db.fieldtypes import (
    ApiKey,
    Float,
    Improvement,
    JsonArray,
    JsonObject,
    Money,
    Name,
    Str50,
    Str255,
    Text,
    Timestamp,
)
from optiinfra_db.records._base import Input, Record, UpdateInput, _check_times

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
