"""The demo's fixed data: its customers and agents, each workflow type's
steps and failures, and the mix of statuses scale runs are drawn from."""

from __future__ import annotations

from collections.abc import Callable

from optiinfra_db.enums import (
    AgentType,
    CustomerPlan,
    WorkflowStatus,
    WorkflowType,
)

ProgressFn = Callable[[int, int], None]

DEMO_CUSTOMERS = (
    ("Acme Corp", "ops@acme-corp.example", CustomerPlan.ENTERPRISE, {"region": "us-east-1"}),
    ("StartupCo", "cto@startupco.example", CustomerPlan.STARTUP, {"region": "eu-west-1"}),
    ("Demo Customer", "demo@optiinfra.example", CustomerPlan.FREE, {"region": "us-west-2"}),
)
DEMO_AGENTS = (
    (AgentType.ORCHESTRATOR, "orchestrator-main", ["route", "schedule", "approve"]),
    (AgentType.COST, "cost-agent-1", ["spot_analysis", "reserved_instances", "right_sizing"]),
    (AgentType.PERFORMANCE, "performance-agent-1", ["kv_cache_tuning", "quantization"]),
    (AgentType.RESOURCE, "resource-agent-1", ["consolidation", "auto_scaling"]),
    (AgentType.APPLICATION, "application-agent-1", ["quality_monitoring"]),
)

# Which agent runs which workflow, and the steps each workflow goes through.
RUNNER = {
    WorkflowType.COST_ANALYSIS: AgentType.COST,
    WorkflowType.PERFORMANCE_TUNING: AgentType.PERFORMANCE,
    WorkflowType.RESOURCE_OPTIMIZATION: AgentType.RESOURCE,
    WorkflowType.QUALITY_CHECK: AgentType.APPLICATION,
    WorkflowType.SCALING_DECISION: AgentType.RESOURCE,
    WorkflowType.CONFIGURATION_UPDATE: AgentType.ORCHESTRATOR,
    WorkflowType.HEALTH_CHECK: AgentType.ORCHESTRATOR,
    WorkflowType.ANOMALY_DETECTION: AgentType.PERFORMANCE,
}
STEPS = {
    WorkflowType.COST_ANALYSIS: (
        "collect_billing_data",
        "analyze_spend",
        "find_savings",
        "write_report",
    ),
    WorkflowType.PERFORMANCE_TUNING: (
        "collect_latency_metrics",
        "profile_kv_cache",
        "apply_kv_cache_config",
        "validate_latency",
        "write_report",
    ),
    WorkflowType.RESOURCE_OPTIMIZATION: (
        "collect_utilization",
        "plan_consolidation",
        "drain_nodes",
        "resize_pools",
    ),
    WorkflowType.QUALITY_CHECK: ("sample_outputs", "score_quality", "compare_baseline"),
    WorkflowType.SCALING_DECISION: (
        "read_queue_depth",
        "forecast_load",
        "decide_replicas",
        "apply_scaling",
    ),
    WorkflowType.CONFIGURATION_UPDATE: ("render_config", "validate_config", "rollout_config"),
    WorkflowType.HEALTH_CHECK: ("ping_agents", "check_endpoints"),
    WorkflowType.ANOMALY_DETECTION: (
        "load_timeseries",
        "detect_anomalies",
        "classify_anomalies",
        "raise_alerts",
    ),
}
FAILURES = (
    {
        "error": "GpuOutOfMemory",
        "code": "GPU_OOM",
        "message": "CUDA out of memory. Tried to allocate 2.50 GiB (GPU 0; 79.35 GiB total)",
        "node": "gpu-node-7",
    },
    {
        "error": "UpstreamTimeout",
        "code": "TIMEOUT",
        "message": "billing API did not answer within 30 s",
        "endpoint": "https://billing.internal",
    },
    {
        "error": "ValidationFailed",
        "code": "CONFIG_INVALID",
        "message": "max_batch_tokens must be <= 32768, got 65536",
        "field": "max_batch_tokens",
    },
    {
        "error": "PermissionDenied",
        "code": "IAM_DENIED",
        "message": "role optiinfra-agent may not call ec2:ModifyInstanceAttribute",
    },
)
# Story mix for scale data (weights per status).
STATUS_WEIGHTS = (
    (WorkflowStatus.COMPLETED, 70),
    (WorkflowStatus.FAILED, 12),
    (WorkflowStatus.RUNNING, 4),
    (WorkflowStatus.PENDING, 6),
    (WorkflowStatus.CANCELLED, 4),
    (WorkflowStatus.TIMEOUT, 4),
)
