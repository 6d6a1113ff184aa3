"""Python mirrors of the PostgreSQL enums (``StrEnum``: values are the labels).

``PG_ENUMS`` maps each PostgreSQL type name to its Python enum; a test checks
that every one matches the migrated database label for label, in order.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "FINISHED_STATUSES",
    "PG_ENUMS",
    "AgentStatus",
    "AgentStatusDetail",
    "AgentType",
    "ApprovalStatus",
    "ArtifactType",
    "ConfigType",
    "CustomerPlan",
    "CustomerStatus",
    "EventSeverity",
    "EventType",
    "MetricType",
    "OptimizationStatus",
    "RecommendationPriority",
    "RecommendationStatus",
    "RecommendationType",
    "StepStatus",
    "WorkflowStatus",
    "WorkflowType",
]


class CustomerPlan(StrEnum):
    FREE = "free"
    STARTUP = "startup"
    ENTERPRISE = "enterprise"


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CHURNED = "churned"


class AgentType(StrEnum):
    ORCHESTRATOR = "orchestrator"
    COST = "cost"
    PERFORMANCE = "performance"
    RESOURCE = "resource"
    APPLICATION = "application"


class AgentStatus(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILED = "failed"
    STOPPED = "stopped"


class EventType(StrEnum):
    AGENT_REGISTERED = "agent_registered"
    AGENT_STATUS_CHANGED = "agent_status_changed"
    AGENT_HEARTBEAT_MISSED = "agent_heartbeat_missed"
    RECOMMENDATION_CREATED = "recommendation_created"
    RECOMMENDATION_APPROVED = "recommendation_approved"
    RECOMMENDATION_REJECTED = "recommendation_rejected"
    OPTIMIZATION_STARTED = "optimization_started"
    OPTIMIZATION_COMPLETED = "optimization_completed"
    OPTIMIZATION_FAILED = "optimization_failed"
    OPTIMIZATION_ROLLED_BACK = "optimization_rolled_back"
    PERFORMANCE_DEGRADATION = "performance_degradation"
    COST_ANOMALY = "cost_anomaly"
    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_FAILED = "workflow_failed"


class EventSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class RecommendationType(StrEnum):
    SPOT_MIGRATION = "spot_migration"
    RIGHT_SIZING = "right_sizing"
    RESERVED_INSTANCES = "reserved_instances"
    KV_CACHE_TUNING = "kv_cache_tuning"
    QUANTIZATION = "quantization"
    BATCH_OPTIMIZATION = "batch_optimization"
    GPU_OPTIMIZATION = "gpu_optimization"
    AUTO_SCALING = "auto_scaling"
    RESOURCE_CONSOLIDATION = "resource_consolidation"
    QUALITY_MONITORING = "quality_monitoring"


class RecommendationPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class RecommendationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTING = "executing"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class OptimizationStatus(StrEnum):
    QUEUED = "queued"
    EXECUTING = "executing"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class ConfigType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    JSON = "json"


class AgentStatusDetail(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    PROCESSING = "processing"
    WAITING = "waiting"
    ERROR = "error"


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class WorkflowType(StrEnum):
    COST_ANALYSIS = "cost_analysis"
    PERFORMANCE_TUNING = "performance_tuning"
    RESOURCE_OPTIMIZATION = "resource_optimization"
    QUALITY_CHECK = "quality_check"
    SCALING_DECISION = "scaling_decision"
    CONFIGURATION_UPDATE = "configuration_update"
    HEALTH_CHECK = "health_check"
    ANOMALY_DETECTION = "anomaly_detection"


class WorkflowStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


#: The statuses a run ends in: "the run has finished". The one place this is
#: written in Python (the lifecycle, watch and purge read it here); the SQL
#: that lists them is checked against it by tests/unit/test_sql_sources.py.
FINISHED_STATUSES: frozenset[WorkflowStatus] = frozenset(
    {
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
        WorkflowStatus.CANCELLED,
        WorkflowStatus.TIMEOUT,
    }
)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    RETRYING = "retrying"


class ArtifactType(StrEnum):
    REPORT = "report"
    CONFIG = "config"
    LOG = "log"
    RECOMMENDATION = "recommendation"
    CHART = "chart"
    METRICS = "metrics"
    ALERT = "alert"
    DIAGNOSTIC = "diagnostic"


#: PostgreSQL enum type name -> Python enum.
PG_ENUMS: dict[str, type[StrEnum]] = {
    "customer_plan": CustomerPlan,
    "customer_status": CustomerStatus,
    "agent_type": AgentType,
    "agent_status": AgentStatus,
    "event_type": EventType,
    "event_severity": EventSeverity,
    "recommendation_type": RecommendationType,
    "recommendation_priority": RecommendationPriority,
    "recommendation_status": RecommendationStatus,
    "approval_status": ApprovalStatus,
    "optimization_status": OptimizationStatus,
    "config_type": ConfigType,
    "agent_status_detail": AgentStatusDetail,
    "metric_type": MetricType,
    "workflow_type": WorkflowType,
    "workflow_status": WorkflowStatus,
    "step_status": StepStatus,
    "artifact_type": ArtifactType,
}
