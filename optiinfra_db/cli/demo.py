"""``seed`` (deterministic demo data) and ``demo`` (the tour ``make demo`` runs)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg

from optiinfra_db import health
from optiinfra_db.cli import args as types
from optiinfra_db.cli.history import print_stats
from optiinfra_db.cli.render import Style, duration, note, progress_bar
from optiinfra_db.cli.runs import load_run, show_run
from optiinfra_db.cli.target import EXIT_OK, CliError, guard_lock, open_conn, resolve
from optiinfra_db.enums import AgentType, StepStatus, WorkflowStatus, WorkflowType
from optiinfra_db.migrate import migrate
from optiinfra_db.records import AgentCreate, NewWorkflowStep, WorkflowExecutionCreate
from optiinfra_db.repositories import ReportRepository, Repositories
from optiinfra_db.seed import AlreadySeededError, is_seeded, seed
from optiinfra_db.worker import Job

#: Executions the demo adds to the story so the statistics look like real traffic.
DEMO_SCALE = 2_000


def cmd_seed(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, long_running=True) as conn:
        pending = health.migration_status(conn).pending
        conn.rollback()
        if pending:
            raise CliError("the database has pending migrations: run 'optiinfra-db migrate' first")
        return _seed(conn, args.scale, args.seed, args.force)


def _seed(conn: psycopg.Connection[Any], scale: int, seed_value: int, force: bool) -> int:
    """Seed with a progress bar; the demo API keys are printed once, here."""
    progress = progress_bar("seeding", "executions")
    try:
        result = seed(conn, scale=scale, seed=seed_value, force=force, progress=progress)
    except AlreadySeededError as exc:
        raise CliError(str(exc)) from exc
    if result.api_keys:
        # Printed once, here; only their HMACs are in the database.
        note("demo API keys (shown once; store them now if you need them):")
        for name, key in result.api_keys.items():
            note(f"  {name}: {key}")
    what = "demo story and " if result.story else ""
    note(
        f"seeded {what}{result.executions:,} executions, {result.steps:,} steps, "
        f"{result.artifacts:,} artifacts in {duration(result.seconds)}"
    )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    target = resolve(args)
    applied = guard_lock(lambda: migrate(target.dsn), target)
    note(f"migrate: applied {', '.join(applied)}" if applied else "migrate: up to date")
    with open_conn(target, long_running=True) as conn:
        seeded = is_seeded(conn)
        conn.rollback()
        if seeded:
            note("seed: already seeded")
        else:
            _seed(conn, DEMO_SCALE, 42, False)
        print(Style(sys.stdout)("workflow statistics (all time)", "1"))
        print_stats(Repositories(conn).workflow_executions.stats(), sys.stdout)
        print()
        failed = ReportRepository(conn).latest_failed()
        if failed is not None:
            found = load_run(conn, failed)
            assert found is not None
            print(Style(sys.stdout)("the most recent failed run", "1"))
            show_run(*found, sys.stdout)
        conn.rollback()
        print()
        recovered = demo_recovery(conn, target.dsn)
        found = load_run(conn, recovered)
        assert found is not None
        print(Style(sys.stdout)("a run whose worker died: requeued, then finished elsewhere", "1"))
        show_run(*found, sys.stdout)
        conn.rollback()
    note("next: optiinfra-db runs list | runs show <id> | stats --since 24h | reap | verify")
    return EXIT_OK


#: The demo's doomed worker holds its claim this long without a heartbeat.
DEMO_LEASE = timedelta(milliseconds=300)


def finish_run(job: Job) -> dict[str, Any]:
    """worker-b's handler (``optiinfra-db worker --module
    optiinfra_db.cli.demo:finish_run``): the run's unfinished steps, in
    order, then the run's output."""
    steps = job.repos.workflow_steps
    for step in job.steps:
        if step.status in (StepStatus.COMPLETED, StepStatus.SKIPPED):
            continue  # resume at the first unfinished step
        steps.start(step.id, worker_id=job.worker_id)
        steps.complete(step.id, {"ok": True}, worker_id=job.worker_id)
    return {"savings_usd": 1840}


def demo_recovery(conn: psycopg.Connection[Any], dsn: str) -> UUID:
    """Worker A claims a 3-step run, finishes step 1, starts step 2 and dies
    (stops heartbeating). Once its lease runs out the reaper requeues the run;
    worker B claims it and resumes at step 2. Returns the run's id."""
    repos = Repositories(conn)
    wx, steps = repos.workflow_executions, repos.workflow_steps
    # A queue of its own: an agent only the demo uses, so claims take no seeded run.
    agent = repos.agents.get_by_type_and_name(AgentType.ORCHESTRATOR, "demo-recovery")
    if agent is None:
        agent = repos.agents.create(AgentCreate(type=AgentType.ORCHESTRATOR, name="demo-recovery"))
    customer = repos.customers.list(limit=1)[0].id
    run = wx.create_with_steps(
        WorkflowExecutionCreate(
            agent_id=agent.id,
            customer_id=customer,
            workflow_type=WorkflowType.COST_ANALYSIS,
            input_data={"window": "7d", "demo": "worker recovery"},
            max_attempts=3,
        ),
        [
            NewWorkflowStep(step_name=name, step_order=i)
            for i, name in enumerate(("collect_metrics", "analyze_costs", "publish_report"), 1)
        ],
    ).execution
    conn.commit()
    (claimed,) = wx.claim("worker-a", lease=DEMO_LEASE, agent_id=agent.id)
    assert claimed.id == run.id
    first, second, _ = steps.list_for_execution(run.id)
    steps.start(first.id, worker_id="worker-a")
    steps.complete(first.id, {"samples": 10_080}, worker_id="worker-a")
    steps.start(second.id, worker_id="worker-a")
    conn.commit()  # ... and worker-a dies here: no more heartbeats
    time.sleep(DEMO_LEASE.total_seconds() + 0.1)
    reaped = [r for r in wx.reap_expired(limit=1000) if r.id == run.id]
    conn.commit()
    assert reaped and reaped[0].status is WorkflowStatus.PENDING
    # The reaper requeued it with a backoff (about 2 s). worker-b is a worker
    # process, `optiinfra-db worker` on finish_run below: it sleeps in
    # wait_for_work until the run falls due, claims it and resumes at step 2.
    worker_b = subprocess.Popen(
        [sys.executable, "-m", "optiinfra_db.cli", "--database-url", dsn, "worker",
         "--module", "optiinfra_db.cli.demo:finish_run", "--agent", str(agent.id),
         "--worker-id", "worker-b"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (done := wx.get(run.id)) is not None and done.status is not WorkflowStatus.COMPLETED:
            conn.rollback()
            if time.monotonic() > deadline or worker_b.poll() is not None:
                raise CliError("demo: worker-b did not finish the run")
            time.sleep(0.1)
        conn.rollback()
    finally:
        worker_b.send_signal(signal.SIGTERM)  # it stops gracefully
        worker_b.wait(30)
    return run.id


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``seed`` and ``demo`` to the command line."""
    p = sub.add_parser("seed", parents=[common], help="deterministic demo data (+ --scale N runs)")
    p.add_argument(
        "--scale",
        type=types.scale,
        default=0,
        metavar="N",
        help="also add N workflow executions with steps and artifacts (COPY)",
    )
    p.add_argument("--seed", type=int, default=42, metavar="S", help="random seed (default 42)")
    p.add_argument("--force", action="store_true", help="add data even if already seeded")
    p.set_defaults(func=cmd_seed)
    sub.add_parser(
        "demo",
        parents=[common],
        help="migrate + seed (if empty) + stats + the latest failed run + a recovered run",
    ).set_defaults(func=cmd_demo)
