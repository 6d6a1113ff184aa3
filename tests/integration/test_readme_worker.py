"""The README's "Writing a worker" code (run_worker and a handler), and the
loop written by hand on docs/workers.md, each run as written against the
real database: what a service copies must work."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import optiinfra_db as odb
from tests.conftest import World
from tests.sides import api

README = Path(__file__).resolve().parents[2] / "README.md"


def _worker_code() -> str:
    section = README.read_text(encoding="utf-8").split("## Writing a worker", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the README's worker section"
    return match.group(1)


def test_the_readme_worker_runs_as_written(
    db_dsn: str, world: World, conn: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    repos = api.Repositories(conn)
    made = [
        repos.workflow_executions.create_with_steps(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.COST_ANALYSIS,
                max_attempts=2,
            ),
            [odb.NewWorkflowStep(step_name=f"step{i}", step_order=i) for i in (1, 2)],
        ).execution.id
        for _ in range(3)
    ]
    conn.commit()

    flaky: list[Any] = []

    def do_the_step(step: odb.WorkflowStep) -> dict[str, Any]:
        if step.step_name == "step2" and step.workflow_execution_id == made[1]:
            raise RuntimeError("quota exceeded")
        if step.step_name == "step1" and step.workflow_execution_id == made[2] and not flaky:
            flaky.append(step.id)
            raise TimeoutError("upstream slow")  # fails once, then succeeds on its retry
        return {"path": f"s3://bucket/{step.id}.json", "rows": 3}

    namespace: dict[str, Any] = {"do_the_step": do_the_step}
    exec(compile(_worker_code(), str(README), "exec"), namespace)
    (stuck,) = _stuck_run(repos, world)  # a run whose worker stopped heartbeating
    conn.commit()
    time.sleep(0.1)
    stop = threading.Event()
    with api.create_pool(db_dsn, kwargs={"autocommit": True}, max_size=4 + 3) as pool:
        worker = threading.Thread(
            target=lambda: report.append(
                api.run_worker(
                    pool, namespace["handle"], worker_id="cost-worker-7", concurrency=4,
                    workflow_types=[odb.WorkflowType.COST_ANALYSIS], stop=stop,
                )
            )
        )  # fmt: skip
        report: list[Any] = []
        worker.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = {r: repos.workflow_executions.get(r) for r in made}
            conn.commit()
            if all(g is not None and g.completed_at is not None for g in got.values()):
                break
            time.sleep(0.05)
        stop.set()
        worker.join(15)
    assert got[made[0]].status is odb.WorkflowStatus.COMPLETED  # type: ignore[union-attr]
    assert got[made[1]].status is odb.WorkflowStatus.FAILED  # type: ignore[union-attr]
    assert got[made[1]].error_details == {"failed_step": "step2"}  # type: ignore[union-attr]
    assert got[made[2]].status is odb.WorkflowStatus.COMPLETED  # type: ignore[union-attr]
    assert len(repos.workflow_artifacts.list_for_execution(made[0])) == 2
    (failed,) = [s for s in repos.workflow_steps.list_for_execution(made[1]) if s.error_details]
    assert failed.error_details == {"error": "RuntimeError", "message": "quota exceeded"}
    assert (failed.status, failed.retry_count) == (odb.StepStatus.FAILED, 3)  # 3 retries
    assert len(repos.workflow_steps.attempts(failed.id)) == 4
    retried = repos.workflow_steps.get(flaky[0])
    assert retried is not None and retried.status is odb.StepStatus.COMPLETED
    assert retried.retry_count == 1
    assert [(a.kind, a.outcome) for a in repos.workflow_steps.attempts(retried.id)] == [
        ("first", odb.StepStatus.RETRYING),
        ("retry", odb.StepStatus.COMPLETED),
    ]
    # The loop reaped the stuck run itself (no reaper process).
    reasons = [t.reason for t in repos.workflow_executions.history(stuck)]
    assert "lease_expired" in reasons
    # world.execution (no steps) and two of the three: completed; one failed
    assert report and report[0].completed == 3 and report[0].failed == 1 and report[0].reaped >= 1
    conn.commit()


WORKERS_PAGE = README.parent / "docs" / "workers.md"


def _hand_written_code() -> str:
    section = WORKERS_PAGE.read_text(encoding="utf-8").split(
        "## The same loop, written by hand", 1
    )[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the workers page's hand-written section"
    return match.group(1)


def test_the_hand_written_loop_of_the_workers_page_runs_as_written(
    db_dsn: str, world: World, conn: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    repos = api.Repositories(conn)
    made = [
        repos.workflow_executions.create_with_steps(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.COST_ANALYSIS,
                max_attempts=2,
            ),
            [odb.NewWorkflowStep(step_name=f"step{i}", step_order=i) for i in (1, 2)],
        ).execution.id
        for _ in range(3)
    ]
    conn.commit()

    flaky: list[Any] = []

    def do_the_step(step: odb.WorkflowStep) -> dict[str, Any]:
        if step.step_name == "step2" and step.workflow_execution_id == made[1]:
            raise RuntimeError("quota exceeded")
        if step.step_name == "step1" and step.workflow_execution_id == made[2] and not flaky:
            flaky.append(step.id)
            raise TimeoutError("upstream slow")  # fails once, then succeeds on its retry
        return {"path": f"s3://bucket/{step.id}.json", "rows": 3}

    namespace: dict[str, Any] = {"do_the_step": do_the_step}
    exec(compile(_hand_written_code(), str(WORKERS_PAGE), "exec"), namespace)
    with api.create_pool(db_dsn, kwargs={"autocommit": True}, max_size=4) as pool:
        for _ in range(5):  # world.execution (no steps) and the three runs
            namespace["work"](pool)
        got = {r: repos.workflow_executions.get(r) for r in made}
        conn.commit()
        assert got[made[0]].status is odb.WorkflowStatus.COMPLETED  # type: ignore[union-attr]
        assert got[made[1]].status is odb.WorkflowStatus.FAILED  # type: ignore[union-attr]
        assert got[made[2]].status is odb.WorkflowStatus.COMPLETED  # type: ignore[union-attr]
        assert len(repos.workflow_artifacts.list_for_execution(made[0])) == 2
        (failed,) = [s for s in repos.workflow_steps.list_for_execution(made[1]) if s.error_details]
        assert failed.error_details == {"error": "RuntimeError", "message": "quota exceeded"}
        assert (failed.status, failed.retry_count) == (odb.StepStatus.FAILED, 3)  # 3 retries
        assert len(repos.workflow_steps.attempts(failed.id)) == 4
        retried = repos.workflow_steps.get(flaky[0])
        assert retried is not None and retried.status is odb.StepStatus.COMPLETED
        assert retried.retry_count == 1
        assert [(a.kind, a.outcome) for a in repos.workflow_steps.attempts(retried.id)] == [
            ("first", odb.StepStatus.RETRYING),
            ("retry", odb.StepStatus.COMPLETED),
        ]

        # the reaper: a run whose worker stopped heartbeating
        (stuck,) = _stuck_run(repos, world)
        conn.commit()
        time.sleep(0.1)
        namespace["reap"](pool)
        assert f"requeued {stuck}" in capsys.readouterr().out


def _stuck_run(repos: odb.Repositories, world: World) -> list[Any]:
    run = repos.workflow_executions.create(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=odb.WorkflowType.HEALTH_CHECK,
            max_attempts=2,
        )
    )
    repos.conn.commit()
    claimed = repos.workflow_executions.claim(
        "gone", lease=timedelta(milliseconds=20), workflow_types=[odb.WorkflowType.HEALTH_CHECK]
    )
    assert [r.id for r in claimed] == [run.id]
    return [run.id]
