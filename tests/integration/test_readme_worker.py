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
WORKERS_PAGE = README.parent / "docs" / "workers.md"


def _code(page: Path, heading: str) -> str:
    section = page.read_text(encoding="utf-8").split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under {heading!r} in {page.name}"
    return match.group(1)


def _runs_and_steps(repos: Any, world: World, page: Path, heading: str) -> tuple[list[Any], Any]:
    """Three runs of two steps (the first completes; the second's step 2
    always fails; the third's step 1 fails once, then succeeds on its
    retry), and the page's code run with ``do_the_step`` failing so."""
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
    repos.conn.commit()
    flaky: list[Any] = []

    def do_the_step(step: odb.WorkflowStep) -> dict[str, Any]:
        if step.step_name == "step2" and step.workflow_execution_id == made[1]:
            raise RuntimeError("quota exceeded")
        if step.step_name == "step1" and step.workflow_execution_id == made[2] and not flaky:
            flaky.append(step.id)
            raise TimeoutError("upstream slow")  # fails once, then succeeds on its retry
        return {"path": f"s3://bucket/{step.id}.json", "rows": 3}

    namespace: dict[str, Any] = {"do_the_step": do_the_step, "made": made, "flaky": flaky}
    exec(compile(_code(page, heading), str(page), "exec"), namespace)
    return made, namespace


def _as_the_story_says(repos: Any, made: list[Any], flaky: list[Any]) -> None:
    got = {r: repos.workflow_executions.get(r) for r in made}
    repos.conn.commit()
    assert got[made[0]].status is odb.WorkflowStatus.COMPLETED
    assert got[made[1]].status is odb.WorkflowStatus.FAILED
    assert got[made[2]].status is odb.WorkflowStatus.COMPLETED
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
    repos.conn.commit()


def test_the_readme_worker_runs_as_written(
    db_dsn: str, world: World, conn: psycopg.Connection[Any]
) -> None:
    repos = api.Repositories(conn)
    made, namespace = _runs_and_steps(repos, world, README, "## Writing a worker")
    (stuck,) = _stuck_run(repos, world)  # a run whose worker stopped heartbeating
    time.sleep(0.1)
    stop = threading.Event()
    report: list[Any] = []
    with api.create_pool(db_dsn, kwargs={"autocommit": True}, max_size=4 + 3) as pool:
        worker = threading.Thread(
            target=lambda: report.append(
                api.run_worker(
                    pool, namespace["handle"], worker_id="cost-worker-7", concurrency=4,
                    workflow_types=[odb.WorkflowType.COST_ANALYSIS], stop=stop,
                )
            )
        )  # fmt: skip
        worker.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = [repos.workflow_executions.get(r) for r in made]
            conn.commit()
            if all(g is not None and g.completed_at is not None for g in got):
                break
            time.sleep(0.05)
        stop.set()
        worker.join(15)
    _as_the_story_says(repos, made, namespace["flaky"])
    assert got[1].error_details == {"failed_step": "step2"}  # type: ignore[union-attr]
    # The loop reaped the stuck run itself (no reaper process).
    assert "lease_expired" in [t.reason for t in repos.workflow_executions.history(stuck)]
    # world.execution (no steps) and two of the three: completed; one failed
    assert report and report[0].completed == 3 and report[0].failed == 1 and report[0].reaped >= 1
    conn.commit()


def test_the_hand_written_loop_of_the_workers_page_runs_as_written(
    db_dsn: str, world: World, conn: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    repos = api.Repositories(conn)
    made, namespace = _runs_and_steps(
        repos, world, WORKERS_PAGE, "## The same loop, written by hand"
    )
    with api.create_pool(db_dsn, kwargs={"autocommit": True}, max_size=4) as pool:
        for _ in range(5):  # world.execution (no steps) and the three runs
            namespace["work"](pool)
        _as_the_story_says(repos, made, namespace["flaky"])
        # the reaper: a run whose worker stopped heartbeating
        (stuck,) = _stuck_run(repos, world)
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
    repos.conn.commit()
    assert [r.id for r in claimed] == [run.id]
    return [run.id]
