"""Plans that must not depend on fresh statistics (issue #7).

A freshly deployed database, or one right after a bulk load, has statistics
taken when the tables were nearly empty. get_detail must stay on its indexes
then too: migration 0006 fixes the planner's estimate of rows per execution.
Without it the plan below is a sequential scan of workflow_steps (12 ms
against 0.4 ms over 100k rows, measured).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

import optiinfra_db as odb
from optiinfra_db.queries import CATALOG
from tests.sides import api


def _scans(conn: psycopg.Connection[Any], key: str, params: dict[str, Any]) -> list[str]:
    row = conn.execute(f"EXPLAIN (FORMAT JSON) {CATALOG[key].sql}", params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])

    def walk(node: dict[str, Any]) -> list[str]:
        name = node.get("Relation Name")
        here = [f"{node['Node Type']} on {name}"] if name else []
        return here + [s for child in node.get("Plans", []) for s in walk(child)]

    return walk(plan[0]["Plan"])


def test_get_detail_stays_on_its_index_when_statistics_are_stale(empty_db_dsn: str) -> None:
    odb.migrate(empty_db_dsn)
    with api.connect(empty_db_dsn) as conn:
        repos = api.Repositories(conn)
        customer = repos.customers.create(
            odb.CustomerCreate(name="Stale", email="stale@example.test", api_key=odb.new_api_key())
        )
        agent = repos.agents.create(odb.AgentCreate(type="cost", name="stale-agent"))
        execution = repos.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=agent.id, customer_id=customer.id, workflow_type="cost_analysis"
            )
        )
        repos.workflow_steps.bulk_create(
            odb.WorkflowStepCreate(
                workflow_execution_id=execution.id, step_name=f"s{i}", step_order=i
            )
            for i in range(1, 21)
        )
        conn.commit()
        conn.autocommit = True
        # Statistics taken now say: every step belongs to this one execution.
        conn.execute("ANALYZE workflow_steps")
        conn.execute("ALTER TABLE workflow_steps SET (autovacuum_enabled = false)")
        conn.autocommit = False
        # Then the table grows without a new ANALYZE.
        conn.execute(
            "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type) "
            "SELECT %s, %s, 'cost_analysis' FROM generate_series(1, 20000)",
            [agent.id, customer.id],
        )
        conn.execute(
            "INSERT INTO workflow_steps (workflow_execution_id, step_name, step_order) "
            "SELECT e.id, 's' || n, n FROM workflow_executions AS e, generate_series(1, 5) AS n "
            "WHERE e.id <> %s",
            [execution.id],
        )
        conn.commit()
        params = {"id": execution.id}
        custom = _scans(conn, "workflow_executions.get_detail", params)
        conn.execute("SET plan_cache_mode = force_generic_plan")
        generic = _scans(conn, "workflow_executions.get_detail", params)
        conn.rollback()
        for scans in (custom, generic):
            assert "Seq Scan on workflow_steps" not in scans, scans
            assert any(s.endswith("on workflow_steps") for s in scans), scans
        detail = repos.workflow_executions.get_detail(execution.id)
        assert detail is not None and [s.step_order for s in detail.steps] == list(range(1, 21))


def test_plan_custom_statements_are_never_prepared(
    conn: psycopg.Connection[Any], repos: Any, world: Any
) -> None:
    """A ``plan: custom`` list (optional filters) must never run on a generic
    plan: after many calls on one connection, the server holds no prepared
    statement of it, while an ordinary statement has been prepared."""
    assert conn.prepare_threshold is not None  # a direct connection prepares
    custom = {k for k, q in CATALOG.items() if q.custom_plan}
    assert "workflow_executions.list_for_customer" in custom and "agents.list" in custom
    for _ in range(12):
        repos.workflow_executions.list_for_customer(world.customer.id, status="pending")
        repos.workflow_executions.list_for_agent(world.agent.id)
        repos.agents.list(type="cost")
        repos.events.list(world.customer.id)
        repos.workflow_executions.get(world.execution.id)
    prepared = [
        row[0] for row in conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    ]
    origins = {text.split("*/")[0].split("optiinfra_db:")[-1].strip() for text in prepared}
    assert "workflow_executions:get" in origins  # the ordinary statement was prepared
    assert not {key.replace(".", ":") for key in custom} & origins, origins
