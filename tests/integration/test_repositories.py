"""CRUD and lookups for every repository, read back from PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import psycopg
import pytest

import optiinfra_db as odb
from tests.conftest import World
from tests.sides import api, own_sql

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = [pytest.mark.usefixtures("side"), pytest.mark.tenant]

Conn = psycopg.Connection[Any]


def test_customers_crud_and_lookups(repos: odb.Repositories, conn: Conn) -> None:
    key = odb.new_api_key()
    created = repos.customers.create(
        odb.CustomerCreate(
            name="StartupCo",
            email="cto@startup.test",
            api_key=key,
            plan=odb.CustomerPlan.STARTUP,
            metadata={"region": "eu-west-1"},
        )
    )
    assert created.plan is odb.CustomerPlan.STARTUP
    assert created.created_at.tzinfo is not None
    assert repos.customers.get(created.id) == created
    assert repos.customers.get(str(created.id)) == created
    assert repos.customers.get_by_email("cto@startup.test") == created
    assert repos.customers.get_by_api_key(key) == created
    assert repos.customers.get_by_api_key(key + "x") is None
    # Only the hash is stored; the record carries neither.
    stored = own_sql(
        conn, "SELECT api_key_hash FROM customers WHERE id = %s", [created.id]
    ).fetchone()
    assert stored == (odb.records.hash_api_key(key),) and key not in str(stored)
    assert "api_key" not in odb.Customer.model_fields and "api_key_hash" not in created.model_dump()

    updated = repos.customers.update(
        created.id, odb.CustomerUpdate(status=odb.CustomerStatus.SUSPENDED)
    )
    assert updated.status is odb.CustomerStatus.SUSPENDED
    assert (updated.name, updated.email, updated.metadata) == (
        created.name,
        created.email,
        created.metadata,
    )
    assert updated.updated_at > created.updated_at

    new_key = odb.new_api_key()
    repos.customers.rotate_api_key(created.id, new_key)
    assert repos.customers.get_by_api_key(key) is None
    assert repos.customers.get_by_api_key(new_key) == repos.customers.get(created.id)

    assert repos.customers.delete(created.id) is True
    assert repos.customers.delete(created.id) is False
    assert repos.customers.get(created.id) is None


def test_update_missing_id_raises_not_found(repos: odb.Repositories) -> None:
    missing = uuid4()
    with pytest.raises(odb.NotFoundError, match=f"customer {missing} does not exist"):
        repos.customers.update(missing, odb.CustomerUpdate(name="x"))


def test_update_writes_exactly_the_fields_set_and_none_writes_null(
    repos: odb.Repositories, world: World
) -> None:
    agent = repos.agents.update(
        world.agent.id, odb.AgentUpdate(version="2.1.0", endpoint="http://cost:8080")
    )
    assert (agent.version, agent.endpoint, agent.name) == (
        "2.1.0",
        "http://cost:8080",
        "cost-agent-1",
    )
    agent = repos.agents.update(world.agent.id, odb.AgentUpdate(endpoint=None))
    assert (agent.version, agent.endpoint) == ("2.1.0", None)
    same = repos.agents.update(world.agent.id, odb.AgentUpdate())
    assert same == agent  # nothing set: nothing written, updated_at unchanged


def test_agents_lookups_heartbeat_and_list(repos: odb.Repositories, world: World) -> None:
    assert repos.agents.get_by_type_and_name(odb.AgentType.COST, "cost-agent-1") == world.agent
    assert repos.agents.get_by_type_and_name(odb.AgentType.RESOURCE, "cost-agent-1") is None
    beat = repos.agents.heartbeat(world.agent.id, odb.AgentStatus.HEALTHY)
    assert beat.status is odb.AgentStatus.HEALTHY and beat.last_heartbeat is not None
    other = repos.agents.create(
        odb.AgentCreate(
            type="performance", name="performance-agent-1", capabilities=["kv_cache_tuning"]
        )
    )
    assert [a.id for a in repos.agents.list()] == [other.id, world.agent.id]
    assert [a.id for a in repos.agents.list(type=odb.AgentType.PERFORMANCE)] == [other.id]
    assert repos.agents.list(status=odb.AgentStatus.HEALTHY) == [repos.agents.get(world.agent.id)]
    assert other.capabilities == ["kv_cache_tuning"]


# Deleting an agent is the platform's (read-only to a scope), and done from
# another session its cascade would wait on this transaction's own locks.
@pytest.mark.operator_only
def test_events_list_filters_and_agent_delete(repos: odb.Repositories, world: World) -> None:
    first = repos.events.create(
        odb.EventCreate(
            customer_id=world.customer.id,
            agent_id=world.agent.id,
            event_type=odb.EventType.COST_ANOMALY,
            severity=odb.EventSeverity.WARNING,
            data={"delta": 12.5},
        )
    )
    second = repos.events.create(
        odb.EventCreate(customer_id=world.customer.id, event_type=odb.EventType.WORKFLOW_STARTED)
    )
    # One transaction, one now(): newest first, ties broken by id (descending).
    expected = sorted([first, second], key=lambda e: (e.created_at, e.id), reverse=True)
    assert repos.events.list(world.customer.id) == expected
    assert repos.events.list(world.customer.id, severity=odb.EventSeverity.WARNING) == [first]
    assert repos.events.list_for_agent(world.agent.id) == [first]
    assert repos.events.get(first.id) == first
    repos.agents.delete(world.agent.id)
    kept = repos.events.get(first.id)
    assert kept is not None and kept.agent_id is None


def test_recommendation_approval_optimization_flow(repos: odb.Repositories, world: World) -> None:
    rec = repos.recommendations.create(
        odb.RecommendationCreate(
            customer_id=world.customer.id,
            agent_id=world.agent.id,
            type=odb.RecommendationType.SPOT_MIGRATION,
            title="Move batch jobs to spot",
            estimated_savings=Decimal("12345.67"),
            estimated_improvement=Decimal("-3.50"),
            confidence_score=0.87,
            priority=odb.RecommendationPriority.HIGH,
            data={"instances": ["i-1", "i-2"]},
        )
    )
    assert rec.estimated_savings == Decimal("12345.67")
    assert str(rec.estimated_improvement) == "-3.50"
    assert repos.recommendations.list(
        world.customer.id, priority=odb.RecommendationPriority.HIGH
    ) == [rec]
    assert (
        repos.recommendations.list(world.customer.id, status=odb.RecommendationStatus.APPROVED)
        == []
    )
    assert repos.recommendations.list_for_agent(world.agent.id) == [rec]

    approval = repos.approvals.create(
        odb.ApprovalCreate(recommendation_id=rec.id, approved_by="cfo@acme.test")
    )
    approval = repos.approvals.update(
        approval.id, odb.ApprovalUpdate(status=odb.ApprovalStatus.APPROVED, comment="go")
    )
    assert (approval.status, approval.comment) == (odb.ApprovalStatus.APPROVED, "go")
    assert repos.approvals.list(rec.id) == [approval]
    now = datetime.now(UTC)
    rec = repos.recommendations.update(
        rec.id,
        odb.RecommendationUpdate(
            status=odb.RecommendationStatus.APPROVED, approved_at=now, estimated_savings=None
        ),
    )
    assert rec.approved_at == now and rec.estimated_savings is None

    opt = repos.optimizations.create(
        odb.OptimizationCreate(
            recommendation_id=rec.id, customer_id=world.customer.id, agent_id=world.agent.id
        )
    )
    assert (opt.status, opt.progress, opt.result) == (odb.OptimizationStatus.QUEUED, 0, {})
    opt = repos.optimizations.update(
        opt.id,
        odb.OptimizationUpdate(
            status=odb.OptimizationStatus.COMPLETED, progress=100, actual_savings=Decimal("999.99")
        ),
    )
    assert opt.actual_savings == Decimal("999.99") and opt.progress == 100
    assert repos.optimizations.list(world.customer.id) == [opt]
    assert repos.optimizations.list_for_recommendation(rec.id) == [opt]

    assert repos.recommendations.delete(rec.id)
    assert repos.approvals.get(approval.id) is None and repos.optimizations.get(opt.id) is None


def test_agent_configs_upsert_and_lists(repos: odb.Repositories, world: World) -> None:
    first = repos.agent_configs.set(world.agent.id, "poll_interval", "30", odb.ConfigType.INTEGER)
    again = repos.agent_configs.set(
        world.agent.id, "poll_interval", "60", odb.ConfigType.INTEGER, description="seconds"
    )
    assert again.id == first.id and again.config_value == "60" and again.description == "seconds"
    repos.agent_configs.create(
        odb.AgentConfigCreate(
            agent_id=world.agent.id, config_key="a_mode", config_value="{}", config_type="json"
        )
    )
    assert [c.config_key for c in repos.agent_configs.list_for_agent(world.agent.id)] == [
        "a_mode",
        "poll_interval",
    ]
    assert repos.agent_configs.get_for_agent(world.agent.id, "poll_interval") == again
    with pytest.raises(odb.ConflictError) as info:
        repos.agent_configs.create(
            odb.AgentConfigCreate(agent_id=world.agent.id, config_key="a_mode", config_value="x")
        )
    assert info.value.constraint == "uq_agent_configs_agent_key"


def test_agent_states_upsert_current_workflow(repos: odb.Repositories, world: World) -> None:
    assert repos.agent_states.get_for_agent(world.agent.id) is None
    state = repos.agent_states.set_current_workflow(world.agent.id, world.execution.id)
    assert state.current_workflow_id == world.execution.id
    assert state.current_status is odb.AgentStatusDetail.IDLE
    cleared = repos.agent_states.set_current_workflow(world.agent.id, None)
    assert cleared.id == state.id and cleared.current_workflow_id is None
    busy = repos.agent_states.update(
        state.id,
        odb.AgentStateUpdate(current_status=odb.AgentStatusDetail.BUSY, locks={"gpu-0": "held"}),
    )
    assert busy.locks == {"gpu-0": "held"}
    assert repos.agent_states.list(current_status=odb.AgentStatusDetail.BUSY) == [busy]
    assert repos.agent_states.get_for_agent(str(world.agent.id)) == busy


def test_agent_capabilities_versions_and_enabled_filter(
    repos: odb.Repositories, world: World
) -> None:
    v1 = repos.agent_capabilities.create(
        odb.AgentCapabilityCreate(agent_id=world.agent.id, capability_name="spot_analysis")
    )
    v2 = repos.agent_capabilities.create(
        odb.AgentCapabilityCreate(
            agent_id=world.agent.id,
            capability_name="spot_analysis",
            capability_version="2.0.0",
            enabled=False,
            config={"max_nodes": 10},
        )
    )
    assert v1.capability_version == "1.0.0"
    assert repos.agent_capabilities.list_for_agent(world.agent.id) == [v1, v2]
    assert repos.agent_capabilities.list_for_agent(world.agent.id, enabled=True) == [v1]
    assert repos.agent_capabilities.list_for_agent(world.agent.id, enabled=False) == [v2]
    v2 = repos.agent_capabilities.update(v2.id, odb.AgentCapabilityUpdate(enabled=True))
    assert repos.agent_capabilities.list_for_agent(world.agent.id, enabled=True) == [v1, v2]


def test_agent_metrics_record_many_and_series(repos: odb.Repositories, world: World) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    written = repos.agent_metrics.record_many(
        [
            odb.AgentMetricCreate(
                agent_id=world.agent.id,
                metric_name="gpu_util",
                metric_value=i / 10,
                recorded_at=base + timedelta(minutes=i),
                tags={"gpu": i % 2},
            )
            for i in range(10)
        ]
        + [odb.AgentMetricCreate(agent_id=world.agent.id, metric_name="gpu_util", metric_value=1.0)]
    )
    assert written == 11
    window = repos.agent_metrics.series(
        world.agent.id, "gpu_util", base + timedelta(minutes=2), base + timedelta(minutes=5)
    )
    assert [m.metric_value for m in window] == [0.2, 0.3, 0.4]
    assert [m.recorded_at for m in window] == [base + timedelta(minutes=i) for i in (2, 3, 4)]
    assert len(repos.agent_metrics.series(world.agent.id, "gpu_util")) == 11
    newest = repos.agent_metrics.list(world.agent.id, limit=2)
    assert newest[0].metric_value == 1.0 and newest[1].metric_value == 0.9
    single = repos.agent_metrics.create(
        odb.AgentMetricCreate(
            agent_id=world.agent.id, metric_name="qps", metric_value=3.5, metric_type="counter"
        )
    )
    assert repos.agent_metrics.get(single.id) == single


def test_record_many_with_a_bad_agent_writes_nothing(
    repos: odb.Repositories, conn: Conn, world: World
) -> None:
    with pytest.raises(odb.InvalidReferenceError, match="does not exist"):
        repos.agent_metrics.record_many(
            [
                odb.AgentMetricCreate(agent_id=world.agent.id, metric_name="x", metric_value=1),
                odb.AgentMetricCreate(agent_id=uuid4(), metric_name="x", metric_value=2),
            ]
        )
    conn.rollback()
    assert repos.agent_metrics.series(world.agent.id, "x") == []


def test_keyset_pagination_walks_every_row_once(repos: odb.Repositories, world: World) -> None:
    for i in range(25):
        repos.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.HEALTH_CHECK,
                metadata={"i": i},
            )
        )
    seen: list[Any] = []
    page = repos.workflow_executions.list_for_customer(world.customer.id, limit=10)
    while page:
        seen.extend(page)
        page = repos.workflow_executions.list_for_customer(
            world.customer.id, limit=10, after=page[-1]
        )
    assert len(seen) == 26 and len({e.id for e in seen}) == 26
    assert seen == sorted(seen, key=lambda e: (e.created_at, e.id), reverse=True)
    # An opaque token works the same as the record.
    token = odb.page_token(seen[9])
    assert (
        repos.workflow_executions.list_for_customer(world.customer.id, limit=10, after=token)
        == seen[10:20]
    )
    assert (
        len(
            repos.workflow_executions.list_for_customer(
                world.customer.id, workflow_type=odb.WorkflowType.HEALTH_CHECK, limit=10_000
            )
        )
        == 25
    )


def test_since_until_is_half_open(repos: odb.Repositories, world: World, conn: Conn) -> None:
    own_sql(conn, "UPDATE workflow_executions SET created_at = '2026-03-01T00:00:00Z'")
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    listed = repos.workflow_executions.list_for_customer
    assert len(listed(world.customer.id, since=moment)) == 1
    assert listed(world.customer.id, until=moment) == []
    assert len(listed(world.customer.id, since=moment, until=moment + timedelta(seconds=1))) == 1
    assert len(repos.workflow_executions.list(since=moment)) == 1
    assert (
        len(
            repos.workflow_executions.list_for_agent(
                world.agent.id, until=moment + timedelta(days=1)
            )
        )
        == 1
    )


def test_repositories_never_commit(repos: odb.Repositories, db_dsn: str, conn: Conn) -> None:
    repos.agents.create(odb.AgentCreate(type="resource", name="resource-agent-1"))
    with psycopg.connect(db_dsn) as other:
        assert other.execute("SELECT count(*) FROM agents").fetchone() == (0,)
    conn.rollback()
    assert repos.agents.list() == []


def test_repositories_work_in_callers_transaction_block(
    repos: odb.Repositories, conn: Conn
) -> None:
    with pytest.raises(RuntimeError), conn.transaction():
        repos.agents.create(odb.AgentCreate(type="resource", name="resource-agent-1"))
        raise RuntimeError("abort the unit")
    assert repos.agents.list() == []
    with conn.transaction():
        repos.agents.create(odb.AgentCreate(type="resource", name="resource-agent-1"))
    assert len(repos.agents.list()) == 1


def test_repositories_work_on_a_plain_psycopg_connection(raw_conn: Conn, world: World) -> None:
    repos = api.Repositories(raw_conn)
    assert repos.workflow_executions.get(world.execution.id) == world.execution
    assert repos.customers.list(status=odb.CustomerStatus.ACTIVE) == [world.customer]


def test_repositories_bundle_has_one_attribute_per_table(conn: Conn) -> None:
    repos = api.Repositories(conn)
    from tests.catalog import TABLES

    # The transition log has no repository of its own: triggers write it, and
    # workflow_executions.history / workflow_steps.attempts read it.
    assert {name for name in vars(repos) if name not in ("conn", "customer_id")} == TABLES - {
        "workflow_transitions"
    }
    import optiinfra_db.aio

    twins = (odb.WorkflowExecutionRepository, optiinfra_db.aio.WorkflowExecutionRepository)
    assert isinstance(
        getattr(repos.workflow_executions, "_target", repos.workflow_executions), twins
    )
