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

from optiinfra_db.records._base import hash_api_key, new_api_key
from optiinfra_db.records.agent_state import (
    AgentCapability,
    AgentCapabilityCreate,
    AgentCapabilityUpdate,
    AgentConfig,
    AgentConfigCreate,
    AgentConfigUpdate,
    AgentMetric,
    AgentMetricCreate,
    AgentState,
    AgentStateCreate,
    AgentStateUpdate,
)
from optiinfra_db.records.core import (
    Agent,
    AgentCreate,
    AgentUpdate,
    Approval,
    ApprovalCreate,
    ApprovalUpdate,
    Customer,
    CustomerCreate,
    CustomerUpdate,
    Event,
    EventCreate,
    Optimization,
    OptimizationCreate,
    OptimizationUpdate,
    Recommendation,
    RecommendationCreate,
    RecommendationUpdate,
)
from optiinfra_db.records.reports import NameMatch, RunParties, RunSummary
from optiinfra_db.records.workflow import (
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
    "NameMatch",
    "NewWorkflowStep",
    "Optimization",
    "OptimizationCreate",
    "OptimizationUpdate",
    "Recommendation",
    "RecommendationCreate",
    "RecommendationUpdate",
    "RunParties",
    "RunSummary",
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
