"""The asyncio code of docs/asyncio.md (the handler and the worker), run as
written against the real database; the README's asyncio example is that
handler, word for word."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import psycopg

import optiinfra_db as odb
from tests.conftest import World
from tests.sides import api
from tests.tenant_harness import app_dsn

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "docs" / "asyncio.md"


def _blocks() -> list[str]:
    found = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(found) == 2, "docs/asyncio.md has a handler and a worker"
    return found


def test_the_readme_asyncio_example_is_the_tested_handler() -> None:
    front = (ROOT / "README.md").read_text(encoding="utf-8").split("## From asyncio", 1)[1]
    (example,) = re.findall(r"```python\n(.*?)```", front.split("\n## ", 1)[0], re.S)
    assert example == _blocks()[0]


def test_the_readme_handler_and_worker_run_as_written(
    db_dsn: str, world: World, conn: psycopg.Connection[Any]
) -> None:
    repos = api.Repositories(conn)
    made = [
        repos.workflow_executions.create_with_steps(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.COST_ANALYSIS,
            ),
            [odb.NewWorkflowStep(step_name=f"step{i}", step_order=i) for i in (1, 2)],
        ).execution.id
        for _ in range(6)
    ]
    conn.commit()
    handler_code, worker_code = _blocks()
    handler: dict[str, Any] = {}
    exec(compile(handler_code, str(README), "exec"), handler)

    async def do_the_step(step: odb.WorkflowStep) -> dict[str, Any]:
        await asyncio.sleep(0.001)
        if step.step_name == "step2" and step.workflow_execution_id == made[1]:
            raise RuntimeError("quota exceeded")
        return {"rows": step.step_order}

    worker: dict[str, Any] = {"do_the_step": do_the_step}
    exec(compile(worker_code, str(README), "exec"), worker)

    key = odb.new_api_key()  # the caller's key (only its HMAC is stored)
    api.Repositories(conn).customers.rotate_api_key(world.customer.id, key)
    conn.commit()

    async def scenario() -> tuple[Any, ...]:
        # The worker is the platform's (the operator's login, every customer);
        # the handler is a service's, on an optiinfra_app login.
        pool = await handler["startup"](db_dsn)
        service = await handler["startup"](app_dsn(db_dsn))
        async with pool, service:
            stop = asyncio.Event()
            task = asyncio.create_task(worker["work"](pool, db_dsn, stop))
            async with pool.connection() as c:
                runs = odb.aio.AsyncRepositories(c).workflow_executions
                for _ in range(500):  # until the queue is drained (at most ~5 s)
                    counts = await runs.count_by_status(customer_id=world.customer.id)
                    if (
                        not counts[odb.WorkflowStatus.PENDING]
                        and not counts[odb.WorkflowStatus.RUNNING]
                    ):
                        break
                    await asyncio.sleep(0.01)
            # new work arrives while the worker sleeps in wait_for_work
            async with pool.connection() as c:
                late = await odb.aio.AsyncRepositories(c).workflow_executions.create(
                    odb.WorkflowExecutionCreate(
                        agent_id=world.agent.id,
                        customer_id=world.customer.id,
                        workflow_type=odb.WorkflowType.COST_ANALYSIS,
                    )
                )
            async with pool.connection() as c:
                runs = odb.aio.AsyncRepositories(c).workflow_executions
                for _ in range(300):
                    got = await runs.get(late.id)
                    if got is not None and got.status is odb.WorkflowStatus.COMPLETED:
                        break
                    await asyncio.sleep(0.01)
            stop.set()
            await asyncio.wait_for(task, 5)
            first = await handler["list_runs"](service, key)
            bad = await handler["list_runs"](service, key, after="not-a-token")
            wrong = await handler["list_runs"](service, odb.new_api_key())
            malformed = await handler["list_runs"](service, "x")
            return first, bad, late.id, wrong, malformed

    (status, body), (bad_status, bad_body), late_id, wrong, malformed = asyncio.run(scenario())
    assert wrong == malformed == (401, {"error": "unknown API key"})
    by_id = {r.id: r for r in repos.workflow_executions.list_for_customer(world.customer.id)}
    conn.commit()
    assert by_id[made[1]].status is odb.WorkflowStatus.FAILED
    assert all(by_id[r].status is odb.WorkflowStatus.COMPLETED for r in made if r != made[1])
    assert by_id[world.execution.id].status is odb.WorkflowStatus.COMPLETED  # no steps
    assert by_id[late_id].status is odb.WorkflowStatus.COMPLETED  # woken by wait_for_work
    assert status == 200 and len(body["runs"]) == len(by_id) and body["next"] is None
    assert {r["id"] for r in body["runs"]} == {str(i) for i in by_id}
    assert bad_status == 422 and "not-a-token" not in str(bad_body)
