"""The agents' own tables: configs, states, capabilities, metrics (migration 0002)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import (
    AwareDatetime,
    Field,
)

from optiinfra_db.enums import (
    AgentStatusDetail,
    ConfigType,
    MetricType,
)
from optiinfra_db.fieldtypes import (
    Float,
    JsonArray,
    JsonObject,
    Name,
    Str50,
    Text,
    Timestamp,
)
from optiinfra_db.records._base import Input, Record, UpdateInput

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
