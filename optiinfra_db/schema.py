"""What a migrated database must contain (the manifest ``verify`` checks).

A test checks that this manifest matches what the migrations create, so it
cannot drift from ``migrations/``.
"""

from __future__ import annotations

__all__ = [
    "CUSTOMER_TABLES",
    "EXPECTED_FOREIGN_KEYS",
    "EXPECTED_INDEXES",
    "EXPECTED_TABLES",
    "MIGRATION_IDS",
    "PLATFORM_TABLES",
]

MIGRATION_IDS = (
    "0001.core-schema",
    "0002.agent-state",
    "0003.workflow-history",
    "0004.index-review",
    "0005.live-safe-followups",
    "0006.plan-stability",
    "0007.workflow-runtime",
    "0008.runtime-indexes",
    "0009.operator-indexes",
    "0010.optimization-owner",
    "0011.customer-on-children",
    "0012.customer-on-children-backfill",
    "0013.tenant-isolation",
    "0014.tenant-indexes",
    "0015.platform-read-only",
    "0016.transition-writer",
    "0017.transition-writer-index",
    "0018.customer-authenticate",
    "0019.transition-actor",
    "0020.first-start-and-restarts",
    "0021.first-start-backfill",
    "0022.scheduling",
    "0023.scheduling-indexes",
    "0024.cancel-notify",
    "0025.transition-partition-prep",
    "0026.transition-partitions",
    "0027.history-until",
)

EXPECTED_TABLES = frozenset({
    "customers", "agents", "events", "recommendations", "approvals", "optimizations",
    "agent_configs", "agent_states", "agent_capabilities", "agent_metrics",
    "workflow_executions", "workflow_steps", "workflow_artifacts", "workflow_transitions",
})  # fmt: skip

#: The platform's tables: shared by every customer, read-only to a customer
#: scope (migration 0015 refuses a scoped write; the repositories refuse it
#: before any SQL). Every other table is customer-owned (row-level security).
PLATFORM_TABLES = frozenset({
    "agents", "agent_configs", "agent_states", "agent_capabilities", "agent_metrics",
})  # fmt: skip

#: The customer-owned tables: every table but the platform's. Each has row-level
#: security and a policy (migration 0013) and a ``customer_id`` on every row;
#: tests/integration/test_tenancy.py compares this with what PostgreSQL has.
CUSTOMER_TABLES = EXPECTED_TABLES - PLATFORM_TABLES

#: foreign key name -> (table, ON DELETE action as pg_constraint.confdeltype)
EXPECTED_FOREIGN_KEYS: dict[str, tuple[str, str]] = {
    "fk_events_customer": ("events", "c"),
    "fk_events_agent": ("events", "n"),
    "fk_recommendations_customer": ("recommendations", "c"),
    "fk_recommendations_agent": ("recommendations", "c"),
    "fk_approvals_recommendation": ("approvals", "c"),
    "fk_optimizations_recommendation": ("optimizations", "c"),
    "fk_optimizations_customer": ("optimizations", "c"),
    "fk_optimizations_agent": ("optimizations", "c"),
    "fk_optimizations_recommendation_customer": ("optimizations", "c"),
    "fk_agent_configs_agent": ("agent_configs", "c"),
    "fk_agent_states_agent": ("agent_states", "c"),
    "fk_agent_states_current_workflow": ("agent_states", "n"),
    "fk_agent_capabilities_agent": ("agent_capabilities", "c"),
    "fk_agent_metrics_agent": ("agent_metrics", "c"),
    "fk_workflow_executions_agent": ("workflow_executions", "c"),
    "fk_workflow_executions_customer": ("workflow_executions", "c"),
    "fk_workflow_steps_execution": ("workflow_steps", "c"),
    "fk_workflow_artifacts_execution": ("workflow_artifacts", "c"),
    "fk_workflow_artifacts_step": ("workflow_artifacts", "c"),
    "fk_approvals_recommendation_customer": ("approvals", "c"),
    "fk_workflow_steps_execution_customer": ("workflow_steps", "c"),
    "fk_workflow_artifacts_execution_customer": ("workflow_artifacts", "c"),
}

#: index name -> table (primary keys and unique constraints included)
EXPECTED_INDEXES: dict[str, str] = {
    **{f"pk_{t}": t for t in EXPECTED_TABLES},
    "uq_customers_email": "customers",
    "uq_customers_api_key_hash": "customers",
    "ix_customers_created": "customers",
    "uq_agents_type_name": "agents",
    "uq_recommendations_id_customer": "recommendations",
    "uq_workflow_executions_id_customer": "workflow_executions",
    "ix_workflow_steps_name_customer_created": "workflow_steps",
    "ix_agents_created": "agents",
    "ix_events_customer_created": "events",
    "ix_events_agent_created": "events",
    "ix_recommendations_customer_created": "recommendations",
    "ix_recommendations_agent_created": "recommendations",
    "ix_approvals_recommendation_created": "approvals",
    "ix_optimizations_recommendation": "optimizations",
    "ix_optimizations_customer_created": "optimizations",
    "ix_optimizations_agent": "optimizations",
    "uq_agent_configs_agent_key": "agent_configs",
    "uq_agent_states_agent": "agent_states",
    "ix_agent_states_current_workflow": "agent_states",
    "uq_agent_capabilities_agent_name_version": "agent_capabilities",
    "ix_agent_metrics_agent_name_recorded": "agent_metrics",
    "ix_workflow_executions_agent_status": "workflow_executions",
    "ix_workflow_executions_customer_type": "workflow_executions",
    "ix_workflow_executions_customer_created": "workflow_executions",
    "ix_workflow_executions_agent_created": "workflow_executions",
    "ix_workflow_executions_created": "workflow_executions",
    "ix_workflow_executions_agent_open": "workflow_executions",
    "ix_workflow_executions_pending": "workflow_executions",
    "ix_workflow_executions_running_lease": "workflow_executions",
    "ix_workflow_executions_queue": "workflow_executions",
    "ux_workflow_executions_idempotency": "workflow_executions",
    "ix_workflow_executions_delayed": "workflow_executions",
    "ix_workflow_executions_running_customer": "workflow_executions",
    "ix_workflow_transitions_execution": "workflow_transitions",
    "ix_workflow_executions_completed": "workflow_executions",
    "ix_workflow_executions_running_created": "workflow_executions",
    "ix_workflow_transitions_step_failures": "workflow_transitions",
    "ix_workflow_transitions_writer": "workflow_transitions",
    "uq_workflow_steps_id_execution": "workflow_steps",
    "ix_workflow_steps_execution_order": "workflow_steps",
    "ix_workflow_steps_execution_status": "workflow_steps",
    "ix_workflow_steps_name_status": "workflow_steps",
    "ix_workflow_artifacts_execution_type": "workflow_artifacts",
    "ix_workflow_artifacts_step_type": "workflow_artifacts",
}
