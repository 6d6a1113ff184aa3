"""run_worker under fire (``pytest -m slow``): 4 worker processes
(``optiinfra-db worker``, half on the asyncio loop, half on threads) share
2,000 runs of 3 steps while one of them, at random, is SIGKILLed about
every second and started again. At the end: every run completed (0 lost),
every step completed exactly once with no step left open, and no run ever
held by two workers at once (0 double claims, read from the transition
log).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from typing import Any

import pytest

import optiinfra_db as odb
from tests.sides import api
from tests.worker_handlers import start_worker_process

pytestmark = pytest.mark.slow

RUNS = 2_000
STEPS = 3
WORKERS = 4


def test_four_worker_processes_with_random_kills_lose_and_double_nothing(
    pg_server: Any, template_db: str
) -> None:
    name = f"optiinfra_kills_{os.getpid()}"
    rng = random.Random(7)
    with pg_server.janitor(name, template_dbname=template_db):
        dsn = pg_server.dsn(name)
        with api.connect(dsn) as conn:
            repos = api.Repositories(conn)
            customer = repos.customers.create(
                odb.CustomerCreate(name="Kills", email="k@example.test", api_key=odb.new_api_key())
            )
            agent = repos.agents.create(odb.AgentCreate(type=odb.AgentType.COST, name="k"))
            for _ in range(RUNS):
                repos.workflow_executions.create_with_steps(
                    odb.WorkflowExecutionCreate(
                        agent_id=agent.id,
                        customer_id=customer.id,
                        workflow_type=odb.WorkflowType.HEALTH_CHECK,
                        input_data={"pause": 0.002},
                        max_attempts=100,
                    ),
                    [odb.NewWorkflowStep(step_name=f"s{i}", step_order=i + 1) for i in range(3)],
                )
            conn.commit()
            began = time.monotonic()
            started = 0

            def launch() -> subprocess.Popen[bytes]:
                nonlocal started
                started += 1
                # Half of the processes run the asyncio loop, half the threads.
                return start_worker_process(
                    dsn,
                    f"k-{started}",
                    "--lease",
                    "2s",
                    "--concurrency",
                    "2",
                    "--grace",
                    "2s",
                    handler="with_steps_async" if started % 2 else "with_steps",
                )

            workers = [launch() for _ in range(WORKERS)]
            kills = 0
            try:
                while time.monotonic() - began < 600:
                    time.sleep(rng.uniform(0.5, 1.5))
                    done = conn.execute(
                        "SELECT count(*) FROM workflow_executions WHERE status = 'completed'"
                    ).fetchone()[0]
                    conn.commit()
                    if done == RUNS:
                        break
                    if kills < 40:
                        victim = rng.randrange(WORKERS)
                        workers[victim].kill()
                        workers[victim].wait(10)
                        workers[victim] = launch()
                        kills += 1
            finally:
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    worker.wait(30)
            took = time.monotonic() - began
            counts = dict(
                conn.execute(
                    "SELECT status::text, count(*) FROM workflow_executions GROUP BY 1"
                ).fetchall()
            )
            open_steps = conn.execute(
                "SELECT count(*) FROM workflow_steps WHERE status <> 'completed'"
            ).fetchone()[0]
            # A step completed twice: two workers ran it to the end.
            twice = conn.execute(
                "SELECT count(*) FROM (SELECT workflow_step_id FROM workflow_transitions"
                " WHERE workflow_step_id IS NOT NULL AND to_status = 'completed'"
                " GROUP BY 1 HAVING count(*) > 1) AS t"
            ).fetchone()[0]
            # A run claimed while it was already running: two holders at once.
            doubled = conn.execute(
                "SELECT count(*) FROM (SELECT from_status, to_status, lag(to_status) OVER"
                " (PARTITION BY workflow_execution_id ORDER BY id) AS before"
                " FROM workflow_transitions WHERE workflow_step_id IS NULL) AS t"
                " WHERE to_status = 'running' AND before = 'running'"
            ).fetchone()[0]
            reaped = conn.execute(
                "SELECT count(*) FROM workflow_transitions WHERE reason = 'lease_expired'"
                " AND workflow_step_id IS NULL"
            ).fetchone()[0]
            conn.commit()
    print(
        f"\n{RUNS:,} runs x {STEPS} steps, {WORKERS} worker processes, {kills} kills "
        f"({started} processes started): {took:.0f} s; {counts}; {reaped} runs reaped; "
        f"{open_steps} steps open, {twice} steps completed twice, {doubled} double claims"
    )
    assert counts == {"completed": RUNS}
    assert open_steps == 0 and twice == 0 and doubled == 0
    assert kills > 0
