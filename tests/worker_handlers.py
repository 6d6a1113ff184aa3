"""Handlers the worker tests run in processes of their own
(``optiinfra-db worker --module tests.worker_handlers:NAME``)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optiinfra_db as odb


def with_steps(job: odb.Job) -> dict[str, Any]:
    """Run the job's unfinished steps in order (a requeued run resumes at its
    first unfinished step), each taking a moment; then complete the run."""
    steps = job.repos.workflow_steps
    pause = float((job.execution.input_data or {}).get("pause", 0.01))
    for step in job.steps:
        if step.status in (odb.StepStatus.COMPLETED, odb.StepStatus.SKIPPED):
            continue
        steps.start(step.id, worker_id=job.worker_id)
        time.sleep(pause * random.uniform(0.5, 1.5))
        steps.complete(step.id, {"by": job.worker_id}, worker_id=job.worker_id)
    return {"done": True, "by": job.worker_id}


async def with_steps_async(job: Any) -> dict[str, Any]:
    """with_steps on the asyncio side (``optiinfra_db.aio.run_worker``)."""
    steps = job.repos.workflow_steps
    pause = float((job.execution.input_data or {}).get("pause", 0.01))
    for step in job.steps:
        if step.status in (odb.StepStatus.COMPLETED, odb.StepStatus.SKIPPED):
            continue
        await steps.start(step.id, worker_id=job.worker_id)
        await asyncio.sleep(pause * random.uniform(0.5, 1.5))
        await steps.complete(step.id, {"by": job.worker_id}, worker_id=job.worker_id)
    return {"done": True, "by": job.worker_id}


ROOT = Path(__file__).resolve().parents[1]


def start_worker_process(
    dsn: str, worker_id: str, *extra: str, handler: str = "with_steps"
) -> subprocess.Popen[bytes]:
    """``optiinfra-db worker`` in a process of its own, on a handler of
    tests.worker_handlers (``with_steps``: threads; ``with_steps_async``:
    the asyncio loop)."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "optiinfra-db"),
            "--database-url",
            dsn,
            "worker",
            "--module",
            f"tests.worker_handlers:{handler}",
            "--worker-id",
            worker_id,
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        # Its log to a file when asked (a pipe nobody reads would block it).
        stderr=open(os.environ["OPTIINFRA_WORKER_LOG"], "ab")
        if os.environ.get("OPTIINFRA_WORKER_LOG")
        else subprocess.DEVNULL,
    )
