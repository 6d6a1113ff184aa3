"""What a watcher misses and how late it is, under writers that commit out
of order (the hostile test of issue 19, reproduced as a script).

    python -m benchmarks.watch --dsn postgresql://postgres@127.0.0.1:5432/postgres

On a scratch database (created, migrated, dropped):

1. **loss**: six writer processes, each committing runs after random waits
   inside their transactions (so commits come out of id order), 10 % rolled
   back, one transaction held 4 s; a watcher from before the first write,
   and another stopped halfway and resumed from the last position (or id)
   it saw. Counts the committed transitions never yielded, and repeats.
2. **latency**: four worker processes create, claim, step and complete runs
   for ``--seconds``; commit-to-yield time of each run's creation and finish,
   p50 / p95 / max.
3. **elsewhere**: a write transaction open in another database for 3 s;
   how late a run created meanwhile is yielded.

Only the library's public API (``watch``, ``log_position`` where the library
has it); works against an older checkout on ``PYTHONPATH`` too.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import statistics
import threading
import time
import uuid
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

import optiinfra_db as odb


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _world(dsn: str) -> tuple[Any, Any]:
    with odb.connect(dsn) as conn:
        repos = odb.Repositories(conn)
        tag = uuid.uuid4().hex[:8]
        customer = repos.customers.create(
            odb.CustomerCreate(name=tag, email=f"{tag}@bench.test", api_key=odb.new_api_key())
        )
        agent = repos.agents.create(odb.AgentCreate(type=odb.AgentType.COST, name=tag))
        conn.commit()
    return customer.id, agent.id


def _new(repos: Any, customer: Any, agent: Any, steps: int = 0) -> Any:
    data = odb.WorkflowExecutionCreate(
        agent_id=agent, customer_id=customer, workflow_type=odb.WorkflowType.HEALTH_CHECK
    )
    if not steps:
        return repos.workflow_executions.create(data).id
    return repos.workflow_executions.create_with_steps(
        data, [odb.NewWorkflowStep(step_name=f"s{i}", step_order=i) for i in range(1, steps + 1)]
    ).execution.id


def _writer(dsn: str, customer: Any, agent: Any, seed: int, n: int, hold: bool) -> None:
    rng = random.Random(seed)
    with odb.connect(dsn) as conn:
        repos = odb.Repositories(conn)
        for i in range(n):
            # A transaction that wrote elsewhere first (it has its id) and logs later.
            conn.execute("SELECT pg_current_xact_id()")
            time.sleep(rng.random() * 0.02)
            _new(repos, customer, agent)
            time.sleep(4.0 if hold and i == n // 2 else rng.random() * 0.02)
            if rng.random() < 0.1:
                conn.rollback()
            else:
                conn.commit()


class Watcher(threading.Thread):
    def __init__(self, dsn: str, stop_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(daemon=True)
        self.dsn, self.kwargs, self.stop_after = dsn, kwargs, stop_after
        self.got: list[tuple[Any, float]] = []

    def run(self) -> None:
        for t in odb.watch(self.dsn, **self.kwargs):
            self.got.append((t, time.monotonic()))
            if self.stop_after is not None and len(self.got) >= self.stop_after:
                return


def _start(dsn: str) -> dict[str, Any]:
    """Where a watcher starts: a position where the library has one, else the top id."""
    with psycopg.connect(dsn) as conn:
        (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM workflow_transitions").fetchone()  # type: ignore[misc]
    if hasattr(odb, "log_position"):
        with odb.connect(dsn) as conn:
            return {"after": odb.log_position(conn)}
    return {"after": int(top)}


def _resume(t: Any) -> dict[str, Any]:
    return {"after": getattr(t, "position", None) or t.id}


def loss(dsn: str, writers: int = 6, per_writer: int = 300) -> dict[str, Any]:
    customer, agent = _world(dsn)
    start = _start(dsn)
    whole = Watcher(dsn, timeout=6, **start)
    half = Watcher(dsn, stop_after=writers * per_writer // 3, timeout=6, **start)
    whole.start()
    half.start()
    time.sleep(0.3)
    procs = [
        mp.Process(target=_writer, args=(dsn, customer, agent, s, per_writer, s == 0))
        for s in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    half.join()
    rest = Watcher(dsn, timeout=6, **_resume(half.got[-1][0]))
    rest.start()
    whole.join()
    rest.join()
    with psycopg.connect(dsn) as conn:
        committed = {
            r[0]
            for r in conn.execute(
                "SELECT t.id FROM workflow_transitions t JOIN workflow_executions e"
                " ON e.id = t.workflow_execution_id WHERE e.customer_id = %s",
                (customer,),
            )
        }
    got = [t.id for t, _ in whole.got]
    resumed = [t.id for t, _ in half.got + rest.got]
    return {
        "committed": len(committed),
        "missed": len(committed - set(got)),
        "repeated": len(got) - len(set(got)),
        "missed_after_resume": len(committed - set(resumed)),
        "repeated_after_resume": len(resumed) - len(set(resumed)),
    }


def _worker(dsn: str, customer: Any, agent: Any, seconds: float, out: Any) -> None:
    name = f"w-{uuid.uuid4().hex[:6]}"
    deadline = time.monotonic() + seconds
    commits: list[tuple[str, str, float]] = []
    with odb.connect(dsn) as conn:
        repos = odb.Repositories(conn)
        wx, steps = repos.workflow_executions, repos.workflow_steps
        while time.monotonic() < deadline:
            run = _new(repos, customer, agent, steps=2)
            conn.commit()
            commits.append((str(run), "pending", time.monotonic()))
            claimed = wx.claim(name, customer_id=customer, limit=1)
            conn.commit()
            for c in claimed:
                for s in steps.list_for_execution(c.id):
                    steps.start(s.id, worker_id=name)
                    steps.complete(s.id, worker_id=name)
                    conn.commit()
                wx.complete(c.id, {"ok": True}, worker_id=name)
                conn.commit()
                commits.append((str(c.id), "completed", time.monotonic()))
    out.put(commits)


def latency(dsn: str, workers: int = 4, seconds: float = 10.0) -> dict[str, Any]:
    customer, agent = _world(dsn)
    watcher = Watcher(dsn, timeout=3, **_start(dsn))
    watcher.start()
    time.sleep(0.3)
    queue: Any = mp.Queue()
    procs = [
        mp.Process(target=_worker, args=(dsn, customer, agent, seconds, queue))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    commits = [c for _ in procs for c in queue.get()]
    for p in procs:
        p.join()
    watcher.join()
    seen = {
        (str(t.workflow_execution_id), t.to_status): at
        for t, at in watcher.got
        if t.workflow_step_id is None
    }
    lags = [seen[(run, status)] - at for run, status, at in commits if (run, status) in seen]
    return {
        "transitions": len(watcher.got),
        "measured": len(lags),
        "unseen": len(commits) - len(lags),
        "p50_ms": round(1000 * statistics.median(lags), 1) if lags else None,
        "p95_ms": round(1000 * _percentile(lags, 0.95), 1),
        "max_ms": round(1000 * max(lags), 1) if lags else None,
    }


def elsewhere(dsn: str, other_dsn: str) -> dict[str, Any]:
    customer, agent = _world(dsn)
    watcher = Watcher(dsn, stop_after=1, timeout=10, **_start(dsn))
    watcher.start()
    time.sleep(0.3)
    with psycopg.connect(other_dsn) as other:
        other.execute("SELECT pg_current_xact_id()")  # a write transaction, open 3 s
        ends = threading.Timer(3.0, other.rollback)
        ends.start()
        time.sleep(0.2)
        with odb.connect(dsn) as conn:
            _new(odb.Repositories(conn), customer, agent)
            conn.commit()
            committed = time.monotonic()
        watcher.join(10)
        ends.join()
    late = watcher.got[0][1] - committed if watcher.got else None
    return {"yield_after_commit_ms": None if late is None else round(1000 * late, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="a role that may create databases")
    parser.add_argument("--seconds", type=float, default=10.0, help="the latency phase")
    args = parser.parse_args()
    names = [f"optiinfra_watch_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    dsn, other = (make_conninfo(args.dsn, dbname=n) for n in names)
    try:
        odb.migrate(dsn)
        print("loss     ", loss(dsn), flush=True)
        print("latency  ", latency(dsn, seconds=args.seconds), flush=True)
        print("elsewhere", elsewhere(dsn, other), flush=True)
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
