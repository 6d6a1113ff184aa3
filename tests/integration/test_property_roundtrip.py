"""Property-based: every Create and Update model, through the real database.

For each model, hypothesis starts from a valid input and replaces one to
three fields with hostile values of the same kind (text with NUL, lone
surrogates and control characters; JSON nested deep, with huge integers,
huge or negative-zero floats; datetimes in any time zone and at the ends of
the calendar; integers and decimals far out of range). The properties:

* an input is either refused by ``pydantic.ValidationError`` while being
  built (so before any SQL), or
* it is written, and reading it back (``get``) gives the same values; the
  only other outcome allowed is a named ``RepositoryError`` from a database
  constraint, which leaves nothing behind.

Each example runs in a transaction that is rolled back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, ValidationError

import optiinfra_db as odb
from tests.conftest import World

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]

#: Inputs tried in all (docs/operations.md, "Reliability"): EXAMPLES per model.
EXAMPLES = 60

_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\ud800", "\udfff", "\x1b", "\u202e", "\x7f", "'", "%", "\\"]),
    ),
    max_size=40,
) | st.text(max_size=300)
_floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [-0.0, 1e16, 1e308, 5e-324, 1e15 + 0.5, 9.999999999999998e15]
)
_ints = st.integers() | st.sampled_from([2**63 - 1, -(2**63), 2**63, 2**70, 2**31])
_leaf = st.none() | st.booleans() | _ints | _floats | _text


def _deep(depth: int) -> Any:
    value: Any = {"leaf": 1}
    for _ in range(depth):
        value = {"k": value}
    return value


_json = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
) | st.sampled_from([_deep(63), _deep(64), _deep(200), _deep(1100)])
_json_object = st.dictionaries(_text, _json, max_size=5) | st.sampled_from(
    [_deep(63), _deep(64), _deep(1100)]
)
_datetimes = (
    st.datetimes(timezones=st.timezones())
    | st.datetimes()
    | st.sampled_from(
        [
            datetime.fromisoformat("0001-01-01T00:00:00+05:00"),
            datetime.fromisoformat("9999-12-31T23:00:00-05:00"),
            datetime.fromisoformat("0001-01-02T00:00:00+00:00"),
            datetime.fromisoformat("9999-12-30T23:59:59.999999+00:00"),
            datetime.fromisoformat("1900-01-01T00:00:00+00:19"),
        ]
    )
)
_decimals = st.decimals(allow_nan=True, allow_infinity=True) | st.decimals(
    min_value=-(10**10), max_value=10**10, places=2
)


def _values_like(value: Any) -> st.SearchStrategy[Any]:
    """Hostile values of the same kind as a valid ``value``."""
    if isinstance(value, enum.Enum):
        return st.sampled_from(list(type(value))) | _text
    if isinstance(value, bool):
        return st.booleans() | _ints
    if isinstance(value, int):
        return _ints
    if isinstance(value, float):
        return _floats
    if isinstance(value, Decimal):
        return _decimals
    if isinstance(value, datetime):
        return _datetimes | st.none()
    if isinstance(value, dict):
        return _json_object
    if isinstance(value, list):
        return st.lists(_json, max_size=4) | st.just([_deep(70)])
    if isinstance(value, SecretStr | str):
        return _text
    return _leaf


def _case(
    baseline: dict[str, Any], skip: frozenset[str] = frozenset()
) -> st.SearchStrategy[dict[str, Any]]:
    names = sorted(set(baseline) - skip)

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        data = dict(baseline)
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
            data[name] = draw(_values_like(baseline[name]))
        return data

    return build()


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NOW = datetime.fromisoformat("2026-05-01T12:00:00+00:00")


def _baselines(w: World, recommendation_id: Any, step_id: Any) -> dict[str, dict[str, Any]]:
    c, a, e = w.customer.id, w.agent.id, w.execution.id
    return {
        "customers": {
            "name": "Acme",
            "email": "x@acme.test",
            "api_key": "k" * 20,
            "plan": odb.CustomerPlan.STARTUP,
            "metadata": {"a": 1},
        },
        "agents": {
            "type": odb.AgentType.COST,
            "name": "agent-x",
            "version": "1.0",
            "endpoint": "http://x",
            "capabilities": ["a"],
            "metadata": {"b": 1.5},
            "last_heartbeat": NOW,
        },
        "events": {
            "customer_id": c,
            "agent_id": a,
            "event_type": odb.EventType.AGENT_REGISTERED,
            "severity": odb.EventSeverity.WARNING,
            "data": {"x": "y"},
        },
        "recommendations": {
            "customer_id": c,
            "agent_id": a,
            "type": odb.RecommendationType.RIGHT_SIZING,
            "title": "t",
            "description": "d",
            "estimated_savings": Decimal("10.50"),
            "estimated_improvement": Decimal("1.25"),
            "confidence_score": 0.5,
            "data": {},
            "approved_at": NOW,
            "executed_at": NOW,
        },
        "approvals": {
            "recommendation_id": recommendation_id,
            "approved_by": "ops",
            "status": odb.ApprovalStatus.APPROVED,
            "comment": "ok",
        },
        "optimizations": {
            "recommendation_id": recommendation_id,
            "customer_id": c,
            "agent_id": a,
            "progress": 50,
            "result": {"r": [1, 2]},
            "error": "e",
            "actual_savings": Decimal("3.00"),
            "actual_improvement": Decimal("2.00"),
            "started_at": NOW,
            "completed_at": NOW,
        },
        "agent_configs": {
            "agent_id": a,
            "config_key": "k",
            "config_value": "v",
            "config_type": odb.ConfigType.STRING,
            "description": "d",
        },
        "agent_states": {
            "agent_id": a,
            "current_status": odb.AgentStatusDetail.IDLE,
            "active_workflows": [],
            "locks": {},
            "last_activity": NOW,
            "resource_usage": {"cpu": 0.5},
            "metadata": {},
        },
        "agent_capabilities": {
            "agent_id": a,
            "capability_name": "cap",
            "capability_version": "1.0.0",
            "enabled": True,
            "config": {"x": 1},
            "description": "d",
        },
        "agent_metrics": {
            "agent_id": a,
            "metric_name": "m",
            "metric_value": 1.5,
            "metric_type": odb.MetricType.GAUGE,
            "tags": {"t": "v"},
            "recorded_at": NOW,
        },
        "workflow_executions": {
            "agent_id": a,
            "customer_id": c,
            "workflow_type": odb.WorkflowType.HEALTH_CHECK,
            "input_data": {"i": 1},
            "metadata": {"m": 2},
        },
        "workflow_steps": {
            "workflow_execution_id": e,
            "step_name": "s",
            "step_order": 7,
            "input_data": {},
            "max_retries": 3,
            "metadata": {},
        },
        "workflow_artifacts": {
            "workflow_execution_id": e,
            "workflow_step_id": step_id,
            "artifact_type": odb.ArtifactType.REPORT,
            "artifact_name": "a",
            "artifact_path": "s3://b/a",
            "artifact_size_bytes": 10,
            "content_type": "text/plain",
            "metadata": {},
        },
    }


_CREATE: dict[str, type[BaseModel]] = {
    "customers": odb.CustomerCreate,
    "agents": odb.AgentCreate,
    "events": odb.EventCreate,
    "recommendations": odb.RecommendationCreate,
    "approvals": odb.ApprovalCreate,
    "optimizations": odb.OptimizationCreate,
    "agent_configs": odb.AgentConfigCreate,
    "agent_states": odb.AgentStateCreate,
    "agent_capabilities": odb.AgentCapabilityCreate,
    "agent_metrics": odb.AgentMetricCreate,
    "workflow_executions": odb.WorkflowExecutionCreate,
    "workflow_steps": odb.WorkflowStepCreate,
    "workflow_artifacts": odb.WorkflowArtifactCreate,
}
_UPDATE: dict[str, type[BaseModel]] = {
    "customers": odb.CustomerUpdate,
    "agents": odb.AgentUpdate,
    "recommendations": odb.RecommendationUpdate,
    "approvals": odb.ApprovalUpdate,
    "optimizations": odb.OptimizationUpdate,
    "agent_configs": odb.AgentConfigUpdate,
    "agent_states": odb.AgentStateUpdate,
    "agent_capabilities": odb.AgentCapabilityUpdate,
    "workflow_executions": odb.WorkflowExecutionUpdate,
    "workflow_steps": odb.WorkflowStepUpdate,
    "workflow_artifacts": odb.WorkflowArtifactUpdate,
}
#: Fields whose foreign keys hypothesis does not replace (random ids only test FKs).
_IDS = frozenset(
    {
        "customer_id",
        "agent_id",
        "recommendation_id",
        "workflow_execution_id",
        "workflow_step_id",
        "current_workflow_id",
    }
)


def _same(sent: Any, read: Any) -> bool:
    if isinstance(sent, SecretStr):
        return True
    if isinstance(sent, enum.Enum):
        return sent.value == getattr(read, "value", read)
    if isinstance(sent, float) and isinstance(read, float):
        return sent == read
    return bool(sent == read)


def _assert_reads_back(data: BaseModel, record: BaseModel) -> None:
    # A None in a Create means "the database's default"; in an Update, NULL.
    explicit = data.model_fields_set if type(data) in _UPDATE.values() else set()
    for name in explicit | {n for n in type(data).model_fields if getattr(data, n) is not None}:
        if name == "api_key" or not hasattr(record, name):
            continue
        sent, read = getattr(data, name), getattr(record, name)
        assert _same(sent, read), f"{name}: sent {sent!r}, read {read!r}"


@pytest.fixture
def parents(repos: odb.Repositories, world: World, conn: Conn) -> dict[str, dict[str, Any]]:
    rec = repos.recommendations.create(
        odb.RecommendationCreate(
            customer_id=world.customer.id,
            agent_id=world.agent.id,
            type=odb.RecommendationType.RIGHT_SIZING,
            title="r",
            confidence_score=0.5,
        )
    )
    step = repos.workflow_steps.create(
        odb.WorkflowStepCreate(
            workflow_execution_id=world.execution.id, step_name="s1", step_order=1
        )
    )
    conn.commit()
    return _baselines(world, rec.id, step.id)


def _run_example(
    conn: Conn, repos: odb.Repositories, table: str, build: Callable[[], BaseModel], base: Any
) -> None:
    try:
        data = build()
    except ValidationError:
        return  # refused while building the model: before any SQL
    repo = getattr(repos, table)
    with conn.transaction(force_rollback=True):
        try:
            with conn.transaction():
                if base is None:
                    written = repo.create(data)
                else:
                    created = repo.create(_CREATE[table](**base))
                    written = repo.update(created.id, data)
        except odb.RepositoryError as exc:
            assert not isinstance(exc, odb.RowDecodeError), exc
            return  # a named refusal by a constraint; the savepoint undid it
        _assert_reads_back(data, written)
        read = repo.get(written.id)
        assert read is not None
        _assert_reads_back(data, read)
        assert read == written


@pytest.mark.parametrize("table", sorted(_CREATE))
def test_create_refuses_or_reads_back(
    table: str, conn: Conn, repos: odb.Repositories, parents: dict[str, dict[str, Any]]
) -> None:
    baseline = parents[table]

    @_SETTINGS
    @given(_case(baseline, _IDS))
    def check(data: dict[str, Any]) -> None:
        _run_example(conn, repos, table, lambda: _CREATE[table](**data), None)

    check()


@pytest.mark.parametrize("table", sorted(_UPDATE))
def test_update_refuses_or_reads_back(
    table: str, conn: Conn, repos: odb.Repositories, parents: dict[str, dict[str, Any]]
) -> None:
    baseline = parents[table]
    model = _UPDATE[table]
    updatable = {k: v for k, v in baseline.items() if k in model.model_fields}

    @_SETTINGS
    @given(_case(updatable, _IDS))
    def check(data: dict[str, Any]) -> None:
        _run_example(conn, repos, table, lambda: model(**data), baseline)

    check()
