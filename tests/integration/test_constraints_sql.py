"""The schema's constraints, cascades and trigger, exercised with hand-written SQL
(as a DBA or another client would), independent of the repositories."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import errors

Conn = psycopg.Connection[tuple[Any, ...]]

SHA = "0" * 63


def _one(conn: Conn, query: str, params: dict[str, Any] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


@pytest.fixture
def world(raw_conn: Conn) -> dict[str, UUID]:
    """A customer, an agent, an execution with two steps, committed."""
    c = _one(
        raw_conn,
        "INSERT INTO customers (name, email, api_key_hash) "
        "VALUES ('Acme', 'ops@acme.test', repeat('a', 64)) RETURNING id",
    )
    a = _one(raw_conn, "INSERT INTO agents (type, name) VALUES ('cost', 'cost-1') RETURNING id")
    e = _one(
        raw_conn,
        "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type) "
        "VALUES (%(a)s, %(c)s, 'cost_analysis') RETURNING id",
        {"a": a, "c": c},
    )
    e2 = _one(
        raw_conn,
        "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type) "
        "VALUES (%(a)s, %(c)s, 'health_check') RETURNING id",
        {"a": a, "c": c},
    )
    s1 = _one(
        raw_conn,
        "INSERT INTO workflow_steps (workflow_execution_id, step_name, step_order) "
        "VALUES (%(e)s, 'collect', 1) RETURNING id",
        {"e": e},
    )
    s2 = _one(
        raw_conn,
        "INSERT INTO workflow_steps (workflow_execution_id, step_name, step_order) "
        "VALUES (%(e)s, 'analyse', 2) RETURNING id",
        {"e": e},
    )
    raw_conn.commit()
    return {"customer": c, "agent": a, "execution": e, "execution2": e2, "step1": s1, "step2": s2}


def _violates(
    conn: Conn, exc: type[Exception], constraint: str, query: str, params: dict[str, Any]
) -> None:
    with pytest.raises(exc) as info:
        conn.execute(query, params)  # type: ignore[arg-type]
    conn.rollback()
    assert isinstance(info.value, psycopg.Error)
    assert info.value.diag.constraint_name == constraint


def test_duplicate_email_rejected(raw_conn: Conn, world: dict[str, UUID]) -> None:
    _violates(
        raw_conn,
        errors.UniqueViolation,
        "uq_customers_email",
        "INSERT INTO customers (name, email, api_key_hash) VALUES "
        "('Other', 'ops@acme.test', repeat('b', 64))",
        {},
    )


def test_api_key_hash_must_be_sha256_hex(raw_conn: Conn) -> None:
    _violates(
        raw_conn,
        errors.CheckViolation,
        "ck_customers_api_key_hash_hex",
        "INSERT INTO customers (name, email, api_key_hash) VALUES "
        "('X', 'x@x.test', repeat('Z', 64))",
        {},
    )


def test_step_order_zero_rejected(raw_conn: Conn, world: dict[str, UUID]) -> None:
    _violates(
        raw_conn,
        errors.CheckViolation,
        "ck_workflow_steps_step_order_positive",
        "INSERT INTO workflow_steps (workflow_execution_id, step_name, step_order) "
        "VALUES (%(e)s, 'zero', 0)",
        {"e": world["execution"]},
    )


def test_duplicate_step_order_rejected(raw_conn: Conn, world: dict[str, UUID]) -> None:
    _violates(
        raw_conn,
        errors.UniqueViolation,
        "ix_workflow_steps_execution_order",
        "INSERT INTO workflow_steps (workflow_execution_id, step_name, step_order) "
        "VALUES (%(e)s, 'again', 1)",
        {"e": world["execution"]},
    )


def test_retry_count_above_max_retries_rejected(raw_conn: Conn, world: dict[str, UUID]) -> None:
    _violates(
        raw_conn,
        errors.CheckViolation,
        "ck_workflow_steps_retry_count_range",
        "UPDATE workflow_steps SET retry_count = 4 WHERE id = %(s)s",
        {"s": world["step1"]},
    )
    _violates(
        raw_conn,
        errors.CheckViolation,
        "ck_workflow_steps_max_retries_nonnegative",
        "UPDATE workflow_steps SET max_retries = -1, retry_count = 0 WHERE id = %(s)s",
        {"s": world["step1"]},
    )


def test_artifact_pointing_at_another_executions_step_rejected(
    raw_conn: Conn, world: dict[str, UUID]
) -> None:
    _violates(
        raw_conn,
        errors.ForeignKeyViolation,
        "fk_workflow_artifacts_step",
        "INSERT INTO workflow_artifacts (workflow_execution_id, workflow_step_id, "
        "artifact_type, artifact_name, artifact_path) "
        "VALUES (%(e2)s, %(s)s, 'report', 'r', 's3://b/r')",
        {"e2": world["execution2"], "s": world["step1"]},
    )
    # The same step with its own execution is accepted.
    raw_conn.execute(
        "INSERT INTO workflow_artifacts (workflow_execution_id, workflow_step_id, artifact_type, "
        "artifact_name, artifact_path) VALUES (%(e)s, %(s)s, 'report', 'r', 's3://b/r')",
        {"e": world["execution"], "s": world["step1"]},
    )


def test_negative_artifact_size_rejected(raw_conn: Conn, world: dict[str, UUID]) -> None:
    _violates(
        raw_conn,
        errors.CheckViolation,
        "ck_workflow_artifacts_size_nonnegative",
        "INSERT INTO workflow_artifacts (workflow_execution_id, artifact_type, "
        "artifact_name, artifact_path, artifact_size_bytes) "
        "VALUES (%(e)s, 'log', 'l', '/tmp/l', -1)",
        {"e": world["execution"]},
    )


def test_completed_before_started_rejected(raw_conn: Conn, world: dict[str, UUID]) -> None:
    _violates(
        raw_conn,
        errors.CheckViolation,
        "ck_workflow_executions_completed_after_started",
        "UPDATE workflow_executions SET started_at = now(), "
        "completed_at = now() - interval '1 second' WHERE id = %(e)s",
        {"e": world["execution"]},
    )
    _violates(
        raw_conn,
        errors.CheckViolation,
        "ck_workflow_steps_completed_after_started",
        "UPDATE workflow_steps SET started_at = now(), "
        "completed_at = now() - interval '1 second' WHERE id = %(s)s",
        {"s": world["step1"]},
    )


def test_confidence_and_progress_ranges(raw_conn: Conn, world: dict[str, UUID]) -> None:
    _violates(
        raw_conn,
        errors.CheckViolation,
        "ck_recommendations_confidence_range",
        "INSERT INTO recommendations (customer_id, agent_id, type, title, confidence_score) "
        "VALUES (%(c)s, %(a)s, 'right_sizing', 't', 1.5)",
        {"c": world["customer"], "a": world["agent"]},
    )


def test_deleting_customer_removes_executions_steps_artifacts(
    raw_conn: Conn, world: dict[str, UUID]
) -> None:
    raw_conn.execute(
        "INSERT INTO workflow_artifacts (workflow_execution_id, workflow_step_id, artifact_type, "
        "artifact_name, artifact_path) VALUES (%(e)s, %(s)s, 'chart', 'c', '/c.png')",
        {"e": world["execution"], "s": world["step2"]},
    )
    raw_conn.execute("DELETE FROM customers WHERE id = %(c)s", {"c": world["customer"]})
    counts = raw_conn.execute(
        "SELECT (SELECT count(*) FROM workflow_executions), (SELECT count(*) FROM workflow_steps),"
        " (SELECT count(*) FROM workflow_artifacts), (SELECT count(*) FROM agents)"
    ).fetchone()
    assert counts == (0, 0, 0, 1)


def test_deleting_step_removes_its_artifacts_only(raw_conn: Conn, world: dict[str, UUID]) -> None:
    for step in (world["step1"], None):
        raw_conn.execute(
            "INSERT INTO workflow_artifacts (workflow_execution_id, workflow_step_id, "
            "artifact_type, artifact_name, artifact_path) VALUES (%(e)s, %(s)s, 'log', 'l', '/l')",
            {"e": world["execution"], "s": step},
        )
    raw_conn.execute("DELETE FROM workflow_steps WHERE id = %(s)s", {"s": world["step1"]})
    left = raw_conn.execute("SELECT workflow_step_id FROM workflow_artifacts").fetchall()
    assert left == [(None,)]


def test_deleting_execution_clears_current_workflow(raw_conn: Conn, world: dict[str, UUID]) -> None:
    raw_conn.execute(
        "INSERT INTO agent_states (agent_id, current_workflow_id) VALUES (%(a)s, %(e)s)",
        {"a": world["agent"], "e": world["execution"]},
    )
    raw_conn.execute("DELETE FROM workflow_executions WHERE id = %(e)s", {"e": world["execution"]})
    assert (
        _one(raw_conn, "SELECT count(*) FROM agent_states WHERE current_workflow_id IS NULL") == 1
    )


def test_deleting_agent_keeps_events_with_null_agent(
    raw_conn: Conn, world: dict[str, UUID]
) -> None:
    raw_conn.execute(
        "INSERT INTO events (customer_id, agent_id, event_type) "
        "VALUES (%(c)s, %(a)s, 'agent_registered')",
        {"c": world["customer"], "a": world["agent"]},
    )
    raw_conn.execute("DELETE FROM agents WHERE id = %(a)s", {"a": world["agent"]})
    assert raw_conn.execute("SELECT agent_id, event_type::text FROM events").fetchall() == [
        (None, "agent_registered")
    ]


def test_updated_at_moves_on_hand_written_update(raw_conn: Conn, world: dict[str, UUID]) -> None:
    before = raw_conn.execute(
        "SELECT created_at, updated_at FROM workflow_steps WHERE id = %(s)s", {"s": world["step1"]}
    ).fetchone()
    assert before is not None
    raw_conn.execute(
        "UPDATE workflow_steps SET step_name = 'collect-v2' WHERE id = %(s)s", {"s": world["step1"]}
    )
    after = _one(
        raw_conn, "SELECT updated_at FROM workflow_steps WHERE id = %(s)s", {"s": world["step1"]}
    )
    assert after > before[1]
    assert before[0] == before[1]


def test_hand_written_insert_needs_only_required_columns(raw_conn: Conn) -> None:
    row = raw_conn.execute(
        "INSERT INTO agents (type, name) VALUES ('resource', 'r') "
        "RETURNING status::text, capabilities, metadata, created_at IS NOT NULL"
    ).fetchone()
    assert row == ("starting", [], {}, True)
