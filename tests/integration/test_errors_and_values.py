"""Bad input is refused before SQL runs; constraint violations become named
domain errors; values round-trip exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from pydantic import ValidationError

import optiinfra_db as odb
from tests.conftest import World
from tests.sides import api

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]


@pytest.fixture
def closed_repos(db_dsn: str) -> odb.Repositories:
    """Repositories on a closed connection: any SQL sent would raise OperationalError,
    so a ValidationError proves nothing was sent."""
    conn = api.connect(db_dsn)
    conn.close()
    return api.Repositories(conn)


@pytest.mark.sync_only  # records only: no I/O
@pytest.mark.parametrize(
    "make",
    [
        lambda: odb.CustomerCreate(name="x", email="not-an-email", api_key=odb.new_api_key()),
        lambda: odb.CustomerCreate(name="x", email="a@b.c", api_key="short"),
        lambda: odb.CustomerCreate(name="x" * 256, email="a@b.c", api_key=odb.new_api_key()),
        lambda: odb.CustomerCreate(name="nul\x00byte", email="a@b.c", api_key=odb.new_api_key()),
        lambda: odb.CustomerCreate(name="", email="a@b.c", api_key=odb.new_api_key()),
        lambda: odb.CustomerCreate(name="x", email="a@b.c", api_key=odb.new_api_key(), plan="gold"),
        lambda: odb.CustomerCreate(name="x", email="a@b.c", api_key=odb.new_api_key(), extra=1),
        lambda: odb.AgentCreate(type="cost", name="a", version="v" * 51),
        lambda: odb.AgentCreate(type="cost", name="a", metadata={"k": "nul\x00"}),
        lambda: odb.AgentCreate(type="cost", name="a", last_heartbeat=datetime(2026, 1, 1)),
        lambda: odb.AgentCreate(type="cost", name=123),
        lambda: odb.RecommendationCreate(
            customer_id=uuid4(),
            agent_id=uuid4(),
            type="right_sizing",
            title="t",
            confidence_score=1.5,
        ),
        lambda: odb.RecommendationCreate(
            customer_id=uuid4(),
            agent_id=uuid4(),
            type="right_sizing",
            title="t",
            confidence_score=0.5,
            estimated_savings=Decimal("12345678901.00"),
        ),
        lambda: odb.RecommendationCreate(
            customer_id=uuid4(),
            agent_id=uuid4(),
            type="right_sizing",
            title="t",
            confidence_score=0.5,
            estimated_savings=Decimal("1.234"),
        ),
        lambda: odb.OptimizationCreate(
            recommendation_id=uuid4(), customer_id=uuid4(), agent_id=uuid4(), progress=101
        ),
        lambda: odb.WorkflowStepCreate(workflow_execution_id=uuid4(), step_name="s", step_order=0),
        lambda: odb.WorkflowStepCreate(
            workflow_execution_id=uuid4(), step_name="s", step_order=1, retry_count=4, max_retries=3
        ),
        lambda: odb.WorkflowArtifactCreate(
            workflow_execution_id=uuid4(),
            artifact_type="report",
            artifact_name="a",
            artifact_path="/a",
            artifact_size_bytes=-1,
        ),
        lambda: odb.WorkflowArtifactCreate(
            workflow_execution_id=uuid4(),
            artifact_type="blob",
            artifact_name="a",
            artifact_path="/a",
        ),
        lambda: odb.WorkflowExecutionCreate(
            agent_id=uuid4(),
            customer_id=uuid4(),
            workflow_type="health_check",
            started_at=datetime(2026, 1, 2, tzinfo=UTC),
            completed_at=datetime(2026, 1, 1, tzinfo=UTC),
        ),
        lambda: odb.AgentMetricCreate(agent_id=uuid4(), metric_name="m", metric_value=float("nan")),
        lambda: odb.CustomerUpdate(name=None),
        lambda: odb.WorkflowStepUpdate(max_retries=None),
        lambda: odb.AgentStateUpdate(locks=None),
    ],
)
def test_invalid_input_raises_validation_error(make: Any) -> None:
    with pytest.raises(ValidationError):
        make()


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.customers.get("not-a-uuid"),
        lambda r: r.customers.get(42),
        lambda r: r.customers.list(limit=0),
        lambda r: r.customers.list(limit=10_001),
        lambda r: r.customers.list(limit="10"),
        lambda r: r.customers.list(status="gone"),
        lambda r: r.workflow_executions.list_for_customer(uuid4(), since=datetime(2026, 1, 1)),
        lambda r: r.workflow_executions.list_for_customer(uuid4(), after="garbage-token"),
        lambda r: r.workflow_executions.fail(uuid4(), "not a dict"),
        lambda r: r.workflow_executions.fail(uuid4(), None),
        lambda r: r.workflow_executions.complete(uuid4(), {"k": "nul\x00"}),
        lambda r: r.workflow_steps.bulk_create([{"step_name": "no execution"}]),
        lambda r: r.agent_configs.set(uuid4(), "k" * 256, "v"),
        lambda r: r.agent_metrics.series(uuid4(), "cpu", until=datetime(2026, 1, 1)),
        lambda r: r.agents.get_by_type_and_name("robot", "x"),
        lambda r: r.customers.rotate_api_key(uuid4(), "short"),
        lambda r: r.customers.get_by_api_key(12345),
    ],
)
def test_invalid_arguments_are_refused_before_any_sql(
    closed_repos: odb.Repositories, call: Any
) -> None:
    with pytest.raises((ValidationError, ValueError)):
        call(closed_repos)


def test_closed_connection_really_fails_when_sql_is_sent(closed_repos: odb.Repositories) -> None:
    with pytest.raises(psycopg.OperationalError):
        closed_repos.customers.get(uuid4())


def test_duplicate_email_is_conflict_and_aborts_transaction(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    with pytest.raises(odb.ConflictError) as info:
        repos.customers.create(
            odb.CustomerCreate(name="Other", email="ops@acme.test", api_key=odb.new_api_key())
        )
    err = info.value
    assert err.constraint == "uq_customers_email"
    assert "ops@acme.test" in str(err) and "already exists" in str(err)
    assert isinstance(err.__cause__, psycopg.errors.UniqueViolation)
    assert isinstance(err, odb.RepositoryError)
    # PostgreSQL aborted the transaction; the caller rolls back and goes on.
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    conn.rollback()
    assert repos.customers.get(world.customer.id) == world.customer


def test_duplicate_agent_type_name_is_conflict(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    with pytest.raises(odb.ConflictError, match="cost, cost-agent-1") as info:
        repos.agents.create(odb.AgentCreate(type="cost", name="cost-agent-1"))
    assert info.value.constraint == "uq_agents_type_name"
    conn.rollback()


def test_missing_reference_is_invalid_reference(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    ghost = uuid4()
    with pytest.raises(odb.InvalidReferenceError) as info:
        repos.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=ghost, customer_id=world.customer.id, workflow_type="health_check"
            )
        )
    assert str(info.value) == f"agent {ghost} does not exist"
    assert info.value.constraint == "fk_workflow_executions_agent"
    assert isinstance(info.value.__cause__, psycopg.errors.ForeignKeyViolation)
    conn.rollback()


def test_an_optimization_belongs_to_its_recommendations_customer(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    other = repos.customers.create(
        odb.CustomerCreate(name="Other", email="ops@other.test", api_key=odb.new_api_key())
    )
    rec = repos.recommendations.create(
        odb.RecommendationCreate(
            customer_id=world.customer.id,
            agent_id=world.agent.id,
            type="right_sizing",
            title="shrink the A100 pool",
            confidence_score=0.9,
        )
    )
    conn.commit()
    with pytest.raises(odb.InvalidReferenceError) as info:
        repos.optimizations.create(
            odb.OptimizationCreate(
                recommendation_id=rec.id, customer_id=other.id, agent_id=world.agent.id
            )
        )
    assert info.value.constraint == "fk_optimizations_recommendation_customer"
    assert str(info.value) == (
        f"recommendation {rec.id} does not exist for customer {other.id} "
        "(an optimization belongs to its recommendation's customer)"
    )
    conn.rollback()
    # nothing was written; the owner's optimization is accepted and listed by its owner only
    assert repos.optimizations.list(other.id) == []
    made = repos.optimizations.create(
        odb.OptimizationCreate(
            recommendation_id=rec.id, customer_id=world.customer.id, agent_id=world.agent.id
        )
    )
    conn.commit()
    assert repos.optimizations.list(world.customer.id) == [made]
    assert repos.optimizations.list(other.id) == []


def test_check_violation_from_the_database_is_constraint_violation(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    (step_count,) = (
        repos.workflow_steps.bulk_create(
            [
                odb.WorkflowStepCreate(
                    workflow_execution_id=world.execution.id,
                    step_name="s",
                    step_order=1,
                    retry_count=2,
                    max_retries=3,
                )
            ]
        ),
    )
    assert step_count == 1
    (step,) = repos.workflow_steps.list_for_execution(world.execution.id)
    # Lowering max_retries below the retries already used is caught by the database.
    with pytest.raises(odb.ConstraintViolationError) as info:
        repos.workflow_steps.update(step.id, odb.WorkflowStepUpdate(max_retries=1))
    assert info.value.constraint == "ck_workflow_steps_retry_count_range"
    assert isinstance(info.value.__cause__, psycopg.errors.CheckViolation)
    conn.rollback()


def test_refused_transition_does_not_abort_transaction(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    agent = repos.agents.create(odb.AgentCreate(type="application", name="application-agent-1"))
    with pytest.raises(odb.InvalidTransitionError):
        repos.workflow_executions.complete(world.execution.id)  # still pending
    conn.commit()  # the earlier write in the same transaction survives
    assert repos.agents.get(agent.id) == agent


def test_values_round_trip_exactly(repos: odb.Repositories, world: World, conn: Conn) -> None:
    tricky = "Robert'); DROP TABLE customers;-- %s %(x)s \\ \" 🚀 ünïcödé 中文"
    nested = {
        "a": [1, 2.5, {"b": None, "c": [True, False]}],
        "s": tricky,
        "big": 2**53,
        "deep": {"x": {"y": {"z": ["é"]}}},
        "neg": -0.001,
    }
    when = datetime(2026, 7, 4, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    rec = repos.recommendations.create(
        odb.RecommendationCreate(
            customer_id=world.customer.id,
            agent_id=world.agent.id,
            type="quantization",
            title=tricky[:255],
            description=tricky,
            estimated_savings=Decimal("9999999999.99"),
            estimated_improvement=Decimal("0.01"),
            confidence_score=0.1 + 0.2,
            data=nested,
            approved_at=when,
        )
    )
    conn.commit()
    again = repos.recommendations.get(rec.id)
    assert again == rec
    assert again is not None
    assert again.title == tricky and again.description == tricky
    assert again.estimated_savings == Decimal("9999999999.99")
    assert isinstance(again.estimated_savings, Decimal)
    assert again.confidence_score == 0.1 + 0.2
    assert again.data == nested
    assert again.approved_at == when and again.approved_at.utcoffset() is not None
    assert conn.execute("SELECT count(*) FROM customers").fetchone() == (1,)
    # The database holds the very same text.
    assert conn.execute(
        "SELECT description FROM recommendations WHERE id = %s", [rec.id]
    ).fetchone() == (tricky,)


@pytest.mark.sync_only  # records only: no I/O
def test_customer_record_is_frozen_and_strict() -> None:
    customer = odb.Customer(
        id=uuid4(),
        name="n",
        email="e@x.y",
        plan="free",
        status="active",
        metadata={},
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    with pytest.raises(ValidationError):
        customer.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        odb.Customer(**customer.model_dump(), api_key_hash="x")


@pytest.mark.sync_only  # records only: no I/O
def test_new_api_key_is_long_and_unique() -> None:
    keys = {odb.new_api_key() for _ in range(100)}
    assert len(keys) == 100 and all(len(k) >= 40 for k in keys)
