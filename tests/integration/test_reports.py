"""The command line's reports as library records (ReportRepository), and the
helpers every service may call (fetch_all, stream_all, stream_batches,
execute, use_app_role, configure_connection, purge_count), on both sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

import optiinfra_db as odb
from optiinfra_db.queries import CATALOG, QueryUseError
from tests.conftest import World
from tests.sides import api, own_sql
from tests.tenant_harness import app_dsn

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]


def _two_runs(repos: Any, world: World, conn: Conn) -> Any:
    """World's pending run, plus one that failed at its second step."""
    wx = repos.workflow_executions
    detail = wx.create_with_steps(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=odb.WorkflowType.PERFORMANCE_TUNING,
        ),
        [odb.NewWorkflowStep(step_name=n, step_order=i) for i, n in enumerate(("a", "b"), 1)],
    )
    run, (one, two) = detail.execution, detail.steps
    wx.start(run.id)
    repos.workflow_steps.start(one.id)
    repos.workflow_steps.complete(one.id, {})
    repos.workflow_steps.start(two.id)
    repos.workflow_steps.fail(two.id, {"code": "GPU_OOM"})
    wx.fail(run.id, {"code": "GPU_OOM"})
    conn.commit()
    return run


def test_runs_report_names_durations_and_step_counts(repos: Any, world: World, conn: Conn) -> None:
    failed = _two_runs(repos, world, conn)
    reports = api.ReportRepository(conn)
    found = reports.runs()
    assert [r.id for r in found] == [failed.id, world.execution.id]  # newest first
    top = found[0]
    assert isinstance(top, odb.RunSummary)
    assert (top.customer, top.agent, top.status) == ("Acme Corp", "cost-agent-1", "failed")
    assert (top.steps, top.failed_steps) == (2, 1)
    assert top.duration_s is not None and top.duration_s >= 0
    assert found[1].duration_s is None and found[1].steps == 0
    assert reports.runs(status=odb.WorkflowStatus.FAILED) == [top]
    assert reports.runs(agent_id=world.agent.id, limit=1) == [top]
    assert reports.runs(since=datetime.now(UTC) + timedelta(days=1)) == []
    assert list(reports.iter_runs(batch_size=1)) == found
    assert reports.latest_failed() == failed.id
    parties = reports.run_parties(failed.id)
    assert parties == odb.RunParties(
        customer_name="Acme Corp",
        customer_email="ops@acme.test",
        agent_name="cost-agent-1",
        agent_type=odb.AgentType.COST,
    )
    assert reports.run_parties(world.customer.id) is None  # not an execution's id


def test_find_customers_and_agents_by_id_name_or_email(world: World, conn: Conn) -> None:
    reports = api.ReportRepository(conn)
    match = [odb.NameMatch(id=world.customer.id, name="Acme Corp")]
    for key in ("Acme Corp", "ops@acme.test", str(world.customer.id)):
        assert reports.find_customers(key) == match
    assert reports.find_customers("nobody") == []
    assert reports.find_agents("cost-agent-1") == [
        odb.NameMatch(id=world.agent.id, name="cost-agent-1")
    ]


def test_a_scoped_report_sees_only_its_customer(
    repos: Any, world: World, conn: Conn, db_dsn: str
) -> None:
    other = repos.customers.create(
        odb.CustomerCreate(name="Other", email="o@other.test", api_key=odb.new_api_key())
    )
    conn.commit()
    with api.connect(app_dsn(db_dsn)) as scoped_conn:
        reports = api.ReportRepository(scoped_conn, customer_id=other.id)
        assert reports.runs() == [] and reports.latest_failed() is None
        assert reports.run_parties(world.execution.id) is None
        mine = api.ReportRepository(scoped_conn, customer_id=world.customer.id)
        assert [r.id for r in mine.runs()] == [world.execution.id]


def test_named_statement_helpers(world: World, conn: Conn) -> None:
    rows = api.fetch_all(conn, "reports.find_agents", {"key": "cost-agent-1"})
    assert len(rows) == 1 and str(world.agent.id) in rows[0][0]
    streamed = list(api.stream_all(conn, "reports.find_agents", {"key": "cost-agent-1"}))
    assert streamed == rows
    batches = list(api.stream_batches(conn, CATALOG["reports.runs"].sql, _all_runs(), 1))
    assert len(batches) == 1 and len(batches[0]) == 1
    api.execute(conn, "meta.set_time_zone_utc")
    # Misuse is refused before any SQL; the transaction stays usable.
    with pytest.raises(QueryUseError, match="binds"):
        api.fetch_all(conn, "reports.find_agents")
    with pytest.raises(QueryUseError, match="can't run through"):
        api.execute(conn, "reports.find_agents", {"key": "x"})
    assert own_sql(conn, "SELECT 1").fetchone() == (1,)


def _all_runs() -> dict[str, Any]:
    return dict.fromkeys(("customer_id", "agent_id", "workflow_type", "statuses", "limit")) | {
        "since": "-infinity",
        "until": "infinity",
    }


def test_use_app_role_makes_row_level_security_apply(world: World, conn: Conn) -> None:
    assert api.use_app_role(conn) is True
    assert own_sql(conn, "SELECT current_user").fetchone() == ("optiinfra_app",)
    assert api.Repositories(conn).workflow_executions.list() == []  # no customer chosen
    conn.rollback()


def test_configure_connection_sets_a_plain_connection_up(raw_conn: Any) -> None:
    api.configure_connection(raw_conn)
    assert raw_conn.execute("SHOW TimeZone").fetchone() == ("UTC",)


def test_purge_count_counts_what_purge_would_remove(
    repos: Any, world: World, conn: Conn, db_dsn: str
) -> None:
    run = _two_runs(repos, world, conn)
    own_sql(
        conn,
        "UPDATE workflow_executions SET started_at = now() - interval '2 days',"
        " completed_at = now() - interval '1 day' WHERE id = %s",
        [run.id],
    )
    conn.commit()
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert api.purge_count(db_dsn, finished_before=hour_ago) == 1
    assert api.purge_count(db_dsn, finished_before=hour_ago - timedelta(days=2)) == 0
    assert api.purge(db_dsn, finished_before=hour_ago).executions == 1
