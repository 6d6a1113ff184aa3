"""Retention (issue #9): purge removes finished history older than the cutoff,
in batches, with its steps, artifacts and transitions, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pydantic
import pytest

import optiinfra_db as odb
from tests.conftest import World
from tests.sides import api

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]
S = odb.WorkflowStatus
NOW = datetime.now(UTC)


def _count(conn: Conn, table: str, ids: list[UUID]) -> int:
    column = "id" if table == "workflow_executions" else "workflow_execution_id"
    row = conn.execute(
        f"SELECT count(*) FROM {table} WHERE {column} = ANY(%s)",  # type: ignore[arg-type]
        [ids],
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def aged(conn: Conn, world: World, repos: odb.Repositories) -> dict[str, list[UUID]]:
    """Finished runs 10 days old (with steps and artifacts), a finished run 1
    hour old, and old runs still pending and running."""
    wx = repos.workflow_executions
    wx.cancel(world.execution.id)
    made: dict[str, list[UUID]] = {"old": [], "new": [], "live": []}
    for i in range(7):
        detail = wx.create_with_steps(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.COST_ANALYSIS,
            ),
            [odb.NewWorkflowStep(step_name=f"s{n}", step_order=n) for n in (1, 2)],
        )
        run = detail.execution.id
        repos.workflow_artifacts.create(
            odb.WorkflowArtifactCreate(
                workflow_execution_id=run,
                artifact_type=odb.ArtifactType.REPORT,
                artifact_name="r",
                artifact_path=f"s3://bucket/run-{i}.pdf",
            )
        )
        conn.commit()
        if i < 5:
            wx.start(run)
            for step in detail.steps:
                repos.workflow_steps.start(step.id)
                repos.workflow_steps.complete(step.id)
            (wx.complete if i % 2 else wx.fail)(*((run,) if i % 2 else (run, {"e": i})))
            conn.execute(
                "UPDATE workflow_executions SET completed_at = %s, started_at = %s WHERE id = %s",
                [NOW - timedelta(days=10, minutes=i), NOW - timedelta(days=10, minutes=i + 1), run],
            )
            made["old"].append(run)
        else:  # old but unfinished: one pending, one running
            conn.execute(
                "UPDATE workflow_executions SET created_at = %s WHERE id = %s",
                [NOW - timedelta(days=20), run],
            )
            if i == 6:
                wx.start(run)
            made["live"].append(run)
    (recent,) = [
        wx.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.HEALTH_CHECK,
            )
        ).id
    ]
    wx.start(recent)
    wx.complete(recent)
    conn.execute(
        "UPDATE workflow_executions SET completed_at = now() - interval '1 hour',"
        " started_at = now() - interval '2 hours' WHERE id = %s",
        [recent],
    )
    made["new"].append(recent)
    # the cancelled world run is also old
    conn.execute(
        "UPDATE workflow_executions SET completed_at = %s WHERE id = %s",
        [NOW - timedelta(days=30), world.execution.id],
    )
    made["old"].append(world.execution.id)
    conn.commit()
    return made


def test_purge_removes_old_finished_history_in_batches(
    db_dsn: str, conn: Conn, aged: dict[str, list[UUID]]
) -> None:
    old = aged["old"]
    before = {
        t: _count(conn, t, old)
        for t in ("workflow_steps", "workflow_artifacts", "workflow_transitions")
    }
    conn.commit()
    assert before["workflow_steps"] == 10 and before["workflow_artifacts"] == 5
    batches: list[odb.PurgeBatch] = []
    dry = api.purge(db_dsn, finished_before=NOW - timedelta(days=1), batch_size=4, dry_run=True)
    assert (dry.dry_run, dry.executions, dry.batches) == (True, 6, 2)
    assert _count(conn, "workflow_executions", old) == 6  # a dry run deletes nothing
    conn.commit()
    done = api.purge(
        db_dsn, finished_before=NOW - timedelta(days=1), batch_size=4, on_batch=batches.append
    )
    assert (done.executions, done.steps, done.artifacts) == (6, 10, 5)
    assert done.transitions == before["workflow_transitions"]
    assert done.batches == 2 and [b.executions for b in batches] == [4, 2]
    assert sorted(done.artifact_paths) == [f"s3://bucket/run-{i}.pdf" for i in range(5)]
    assert done.slowest_batch_s == max(b.seconds for b in batches)
    for table in (
        "workflow_executions",
        "workflow_steps",
        "workflow_artifacts",
        "workflow_transitions",
    ):
        assert _count(conn, table, old) == 0, table
    # untouched: the recent run and the old pending / running ones
    kept = aged["new"] + aged["live"]
    assert _count(conn, "workflow_executions", kept) == 3
    assert _count(conn, "workflow_transitions", kept) > 0
    conn.commit()
    assert api.purge(db_dsn, finished_before=NOW - timedelta(days=1)).executions == 0


def test_purge_by_status_and_customer(
    db_dsn: str, conn: Conn, world: World, aged: dict[str, list[UUID]]
) -> None:
    failed = api.purge(db_dsn, finished_before=NOW - timedelta(days=1), statuses=[S.FAILED])
    assert failed.executions == 3  # i = 0, 2, 4
    other = api.purge(db_dsn, finished_before=NOW - timedelta(days=1), customer_id=UUID(int=1))
    assert other.executions == 0
    assert api.purge(db_dsn, finished_before=NOW, customer_id=world.customer.id).executions == 4


def test_purge_names_who_purges_in_its_session(
    db_dsn: str, conn: Conn, aged: dict[str, list[UUID]]
) -> None:
    """The deleted runs take their log with them: purge's session says who
    purges (application_name, in pg_stat_activity and server log lines)."""
    seen: list[Any] = []

    def look(batch: odb.PurgeBatch) -> None:
        with psycopg.connect(db_dsn, autocommit=True) as other:
            seen.extend(
                other.execute(
                    "SELECT application_name FROM pg_stat_activity"
                    " WHERE application_name LIKE 'optiinfra-db purge%%'"
                ).fetchall()
            )

    done = api.purge(
        db_dsn, finished_before=NOW - timedelta(days=1), actor="ops@console", on_batch=look
    )
    assert done.executions == 6
    assert seen and set(seen) == {("optiinfra-db purge by ops@console",)}


def test_purge_skips_a_run_another_session_holds(
    db_dsn: str, conn: Conn, aged: dict[str, list[UUID]]
) -> None:
    held = aged["old"][0]
    with psycopg.connect(db_dsn) as other:
        other.execute("SELECT 1 FROM workflow_executions WHERE id = %s FOR UPDATE", [held])
        done = api.purge(db_dsn, finished_before=NOW - timedelta(days=1))
        other.rollback()
    assert done.executions == 5
    assert _count(conn, "workflow_executions", [held]) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"finished_before": datetime.now(UTC) + timedelta(hours=1)},  # the future
        {"finished_before": datetime(2026, 1, 1)},  # naive
        {"finished_before": NOW, "statuses": [S.RUNNING]},
        {"finished_before": NOW, "statuses": ["pending", "failed"]},
        {"finished_before": NOW, "statuses": ["nope"]},
        {"finished_before": NOW, "statuses": []},
        {"finished_before": NOW, "batch_size": 0},
        {"finished_before": NOW, "batch_size": 10_001},
        {"finished_before": NOW, "customer_id": "x"},
        {"finished_before": NOW, "actor": ""},
        {"finished_before": NOW, "actor": "x" * 256},
    ],
)
def test_bad_purge_input_is_refused_before_any_sql(kwargs: dict[str, Any]) -> None:
    # an unreachable database: the refusal must come before any connection
    with pytest.raises(pydantic.ValidationError):
        api.purge("postgresql://nobody@127.0.0.1:1/none", **kwargs)
