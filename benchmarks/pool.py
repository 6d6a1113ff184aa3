"""The worker pool: runs per second through ``odb.run_worker`` against the
same work written by hand on the library, at 1, 2, 4 and 8 handlers.

Both contenders finish ``n`` executions of 3 steps: claim, list the steps,
start and complete each, complete the run, every write fenced by
``worker_id``. By hand: N threads, each on its own connection, claiming in
a loop until the queue is empty. run_worker: one call with
``concurrency=N`` on a pool (one claimer, N handler connections, its
heartbeat and cancel connections). Each sample has a queue of its own (an
agent, its runs at a priority above every other pending run of the bench, so
that a claim reads only its own queue's index entries), the tables are
vacuumed before each sample, and one watcher times both contenders the same
way (until its count of the queue's completed runs reaches ``n``, every
10 ms). Every write commits, so a sample's time is mostly the disk's flush:
the contenders alternate in ``ROUNDS`` short rounds (A B, then B A) and the
ratio is the median of the rounds' ratios, with their spread. Double claims
are read from the transition log.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import optiinfra_db as odb
from benchmarks.common import Data

HANDLERS = (1, 2, 4, 8)
BY_HAND, LOOP = "by hand", "run_worker"
#: run_worker's runs per second against the hand-written loop's.
TARGET = 0.95
SKIP = False
#: Rounds per handler count, each one sample of each contender.
ROUNDS = 6
#: Above the priority of every other pending run the bench makes.
PRIORITY = 100


@dataclass
class PoolRun:
    """What the threads of one hand-written pool run share."""

    barrier: threading.Barrier
    lock: threading.Lock = field(default_factory=threading.Lock)
    claimed: list[UUID] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def pool_worker(dsn: str, name: str, agent_id: UUID, shared: PoolRun) -> None:
    """One hand-written worker thread: claim, run the steps, complete, until
    the queue is empty."""
    try:
        with odb.connect(dsn, autocommit=True) as c:
            r = odb.Repositories(c)
            wx, steps = r.workflow_executions, r.workflow_steps
            mine: list[UUID] = []
            # Subscribed for wait_for_work, as a worker written by hand on the
            # library is (every listening session costs the server a signal
            # per notifying commit: run_worker keeps one).
            odb.wait_for_work(c, timeout=1)
            shared.barrier.wait()
            while got := wx.claim(name, agent_id=agent_id):
                run = got[0]
                mine.append(run.id)
                for step in steps.list_for_execution(run.id):
                    steps.start(step.id, worker_id=name)
                    steps.complete(step.id, {"ok": True}, worker_id=name)
                wx.complete(run.id, {"done": True}, worker_id=name, skip_remaining=SKIP)
            with shared.lock:
                shared.claimed.extend(mine)
    except BaseException as exc:  # reported by the caller
        shared.errors.append(exc)


def _queue(dsn: str, data: Data, n: int, label: str) -> tuple[UUID, list[UUID]]:
    """A queue of its own: an agent and ``n`` pending runs of 3 steps."""
    with odb.connect(dsn) as conn:
        repos = odb.Repositories(conn)
        agent = repos.agents.create(
            odb.AgentCreate(type="orchestrator", name=f"{label}-{uuid4().hex[:8]}")
        )
        made = [
            repos.workflow_executions.create_with_steps(
                odb.WorkflowExecutionCreate(
                    agent_id=agent.id,
                    customer_id=data.customer,
                    workflow_type="health_check",
                    priority=PRIORITY,
                ),
                [odb.NewWorkflowStep(step_name=f"s{i}", step_order=i) for i in (1, 2, 3)],
            ).execution.id
            for _ in range(n)
        ]
        conn.commit()
    return agent.id, made


def _settle_tables(dsn: str) -> None:
    """VACUUM the queue's tables before each measurement, so that neither
    contender pays for the dead rows the one before left (or for the
    autovacuum they would start in the middle of its run)."""
    with odb.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) workflow_executions, workflow_steps, workflow_transitions")


def _until_done(dsn: str, agent_id: UUID, n: int, began: float) -> float:
    """Seconds from ``began`` until the queue's ``n`` runs are completed."""
    with odb.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM workflow_executions WHERE agent_id = %s"
                " AND status = 'completed'",
                [agent_id],
            ).fetchone()
            if row is not None and row[0] >= n:
                return time.perf_counter() - began
            time.sleep(0.01)


def by_hand(dsn: str, agent_id: UUID, n: int, threads: int) -> tuple[float, list[UUID]]:
    shared = PoolRun(threading.Barrier(threads + 1))
    pool = [
        threading.Thread(target=pool_worker, args=(dsn, f"pool-{i}", agent_id, shared))
        for i in range(threads)
    ]
    for t in pool:
        t.start()
    shared.barrier.wait()
    seconds = _until_done(dsn, agent_id, n, time.perf_counter())
    for t in pool:
        t.join()
    if shared.errors:
        raise shared.errors[0]
    return seconds, shared.claimed


def through_run_worker(dsn: str, agent_id: UUID, n: int, threads: int) -> tuple[float, list[UUID]]:
    claimed: list[UUID] = []

    def handle(job: odb.Job) -> dict[str, Any]:
        claimed.append(job.id)
        steps = job.repos.workflow_steps
        for step in job.steps:
            steps.start(step.id, worker_id=job.worker_id)
            steps.complete(step.id, {"ok": True}, worker_id=job.worker_id)
        return {"done": True}

    size = threads + 3
    stop = threading.Event()
    failed: list[BaseException] = []
    with odb.create_pool(dsn, min_size=size, max_size=size, kwargs={"autocommit": True}) as pool:
        pool.wait()

        def run() -> None:
            try:
                odb.run_worker(
                    pool,
                    handle,
                    worker_id="loop",
                    concurrency=threads,
                    agent_id=agent_id,
                    stop=stop,
                )
            except BaseException as exc:  # reported below
                failed.append(exc)

        worker = threading.Thread(target=run)
        began = time.perf_counter()
        worker.start()
        seconds = _until_done(dsn, agent_id, n, began)
        stop.set()
        worker.join()
    if failed:
        raise failed[0]
    return seconds, claimed


def _tally(dsn: str, made: list[UUID], claimed: list[UUID]) -> tuple[int, int, int]:
    """(double claims, runs claimed once, runs completed) from the database."""
    with odb.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE n > 1), count(*) FROM ("
            " SELECT workflow_execution_id, count(*) AS n FROM workflow_transitions"
            " WHERE workflow_execution_id = ANY(%s) AND workflow_step_id IS NULL"
            " AND to_status = 'running' GROUP BY workflow_execution_id) AS t",
            [made],
        ).fetchone()
        done = conn.execute(
            "SELECT count(*) FROM workflow_executions WHERE id = ANY(%s) AND status = 'completed'",
            [made],
        ).fetchone()
    assert row is not None and done is not None
    return row[0] + (len(claimed) - len(set(claimed))), row[1], done[0]


def worker_pool(dsn: str, data: Data, n_runs: int) -> list[dict[str, Any]]:
    """Both contenders at 1, 2, 4 and 8 handlers, ``n_runs`` runs each, in
    ``ROUNDS`` rounds of one sample each (A B, then B A: drift and whoever
    goes first hit both alike); a contender's rate is its runs over its
    seconds, the ratio the median of the rounds' ratios."""
    out = []
    each = n_runs // ROUNDS
    for threads in HANDLERS:
        totals = {BY_HAND: [0.0, 0, 0, 0], LOOP: [0.0, 0, 0, 0]}
        ratios = []
        for round_ in range(ROUNDS):
            order = (BY_HAND, LOOP) if round_ % 2 == 0 else (LOOP, BY_HAND)
            took = {}
            for contender in order:
                agent_id, made = _queue(dsn, data, each, f"pool-{threads}")
                _settle_tables(dsn)
                measure = by_hand if contender == BY_HAND else through_run_worker
                seconds, claimed = measure(dsn, agent_id, each, threads)
                doubled, _, completed = _tally(dsn, made, claimed)
                took[contender] = seconds
                t = totals[contender]
                t[0] += seconds
                t[1] += each
                t[2] += doubled
                t[3] += completed
            ratios.append(took[BY_HAND] / took[LOOP])
        ratios.sort()
        for contender, (seconds, runs, doubled, completed) in totals.items():
            out.append(
                {
                    "threads": threads,
                    "contender": contender,
                    "executions": runs,
                    "seconds": seconds,
                    "per_second": runs / seconds,
                    "double_claims": doubled,
                    "completed": completed,
                    "ratio": statistics.median(ratios),
                    "ratios": ratios,
                }
            )
        print(f"  measured: worker pool, {threads} handler(s)", file=sys.stderr, flush=True)
    return out


def _ratios(pool: list[dict[str, Any]]) -> dict[int, float]:
    """run_worker's runs per second over the hand-written loop's, per handler
    count: the median of the rounds' ratios."""
    return {r["threads"]: r["ratio"] for r in pool if r["contender"] == LOOP}


def report_pool(pool: list[dict[str, Any]]) -> None:
    if not pool:
        return
    n = pool[0]["executions"]
    print(f"\nworker pool: {n:,} executions of 3 steps, by hand (N threads) and run_worker(N)")
    heads = (("handlers", 8), ("contender", 11), ("seconds", 8), ("executions/s", 13))
    print(
        "  "
        + " ".join(f"{h:>{w}}" for h, w in heads)
        + " double claims  completed  ratio (rounds' min-max)"
    )
    ratios = _ratios(pool)
    for row in pool:
        spread = f"{row['ratios'][0]:.2f}-{row['ratios'][-1]:.2f}"
        ratio = f"{ratios[row['threads']]:.2f}x ({spread})" if row["contender"] == LOOP else ""
        print(
            f"  {row['threads']:>8} {row['contender']:>11} {row['seconds']:>8.2f}"
            f" {row['per_second']:>13.0f} {row['double_claims']:>13} {row['completed']:>10,}"
            f" {ratio}"
        )


def pool_verdicts(pool: list[dict[str, Any]]) -> int:
    misses = 0
    for row in pool:
        ok = row["double_claims"] == 0 and row["completed"] == row["executions"]
        misses += not ok
        print(
            f"  {'met   ' if ok else 'MISSED'} worker pool, {row['contender']}, "
            f"{row['threads']} handler(s): {row['double_claims']} double claims, "
            f"{row['completed']:,} of {row['executions']:,} completed"
        )
    for threads, ratio in _ratios(pool).items():
        ok = ratio >= TARGET
        misses += not ok
        print(
            f"  {'met   ' if ok else 'MISSED'} run_worker >= {TARGET}x the hand-written loop, "
            f"{threads} handler(s): {ratio:.2f}x"
        )
    return misses
