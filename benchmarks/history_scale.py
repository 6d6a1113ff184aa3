"""History at scale (issue: history that scales): ``make bench-history``.

Not in CI: at the default 10,000,000 executions (60 million transitions) it
takes about half an hour on 2 cores (29 min measured) and ~40 GB of disk.
On the server of ``OPTIINFRA_BENCH_DSN`` (default the machine's PostgreSQL
15):

1. two databases seeded alike with ``--runs`` executions spread over
   ``--weeks`` weeks and six transitions each (bulk load: see
   ``history_scale.sql``): one with the partitioned log (a partition a
   week), one rolled back to the plain log of migration 0024;
2. on the partitioned one: claim, complete and history through the library
   on one long-lived connection (prepared: generic plans), p50/p95;
3. purge of the oldest quarter in both: partition drop against batched
   DELETE (time, WAL bytes, the log's and the runs' size after);
4. the generic-plan cost of ``history`` and ``complete`` with 4, 26 and 52
   weekly partitions (small databases: the partitions' count is what
   varies).

Usage: ``python -m benchmarks.history_scale [--runs N] [--weeks W] [--keep]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.sql import SQL, Identifier

import optiinfra_db as odb
from optiinfra_db.queries import parse_file

Q = {q.name: q.sql for q in parse_file(Path(__file__).with_name("history_scale.sql"))}
DSN = os.environ.get("OPTIINFRA_BENCH_DSN") or "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 500_000


def _dsn(name: str) -> str:
    params = conninfo_to_dict(DSN)
    params["dbname"] = name
    return make_conninfo(**params)


@contextmanager
def _database(name: str, keep: bool) -> Iterator[str]:
    with psycopg.connect(DSN, autocommit=True) as admin:
        admin.execute(SQL("DROP DATABASE IF EXISTS {}").format(Identifier(name)))
        admin.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
    try:
        yield _dsn(name)
    finally:
        if not keep:
            with psycopg.connect(DSN, autocommit=True) as admin:
                admin.execute(
                    SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name))
                )


def _say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


def _weekly(conn: psycopg.Connection[Any], ahead: int, weeks_back: int) -> None:
    """Replace the (empty) log's partitions by weekly ones from ``weeks_back``
    weeks ago to ``ahead`` weeks after that (and the DEFAULT)."""
    for p in odb.list_partitions(conn):
        if not p.is_default:
            conn.execute(
                SQL("ALTER TABLE workflow_transitions DETACH PARTITION {}").format(
                    Identifier(p.name)
                )
            )
            conn.execute(SQL("DROP TABLE {}").format(Identifier(p.name)))
    conn.execute(
        "SELECT optiinfra_ensure_transition_partitions("
        "%s, '7 days', now() - %s * interval '1 week')",
        [ahead, weeks_back],
    )


def _seed(dsn: str, runs: int, weeks: int) -> float:
    """Bulk-load ``runs`` executions and their log; seconds taken."""
    began = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '1GB'")
        indexes = conn.execute(Q["secondary_indexes"]).fetchall()
        for name, _ in indexes:
            conn.execute(SQL("DROP INDEX {}").format(Identifier(name)))
        conn.execute(Q["seed_customers"], {"customers": 200})
        conn.execute(Q["seed_agent"])
        for lo in range(1, runs + 1, CHUNK):
            hi = min(lo + CHUNK - 1, runs)
            conn.execute(Q["seed_executions"], {"lo": lo, "hi": hi, "total": runs, "weeks": weeks})
        start = datetime.now(UTC) - timedelta(weeks=weeks, days=1)
        step = timedelta(days=3)
        while start < datetime.now(UTC):
            conn.execute(Q["seed_transitions"], {"lo": start, "hi": start + step})
            start += step
        conn.execute(
            "SELECT setval('workflow_transitions_id_seq',"
            " (SELECT max(id) FROM workflow_transitions))"
        )
        for _, ddl in indexes:
            # a partitioned table's index is shown as built ON ONLY the parent
            # (its partitions' indexes attached later): build them all at once
            conn.execute(ddl.replace(" ON ONLY ", " ON "))  # type: ignore[arg-type]
        conn.execute("RESET session_replication_role")
        conn.execute("VACUUM (ANALYZE) workflow_executions, workflow_transitions, customers")
        conn.execute("CHECKPOINT")
    return time.perf_counter() - began


def _pcts(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):.2f} ms, p95 {p95:.2f} ms (n={len(ordered)})"


def _timed(fn: Callable[[], Any], samples: list[float]) -> Any:
    began = time.perf_counter()
    out = fn()
    samples.append((time.perf_counter() - began) * 1000)
    return out


def _runtime(dsn: str, calls: int) -> dict[str, str]:
    """claim + complete (one run each) and history of runs across the history."""
    out: dict[str, list[float]] = {"claim": [], "complete": [], "history": []}
    with odb.connect(dsn, autocommit=True) as conn:
        repos = odb.Repositories(conn)
        customer = conn.execute("SELECT id FROM customers LIMIT 1").fetchone()
        agent = conn.execute("SELECT id FROM agents LIMIT 1").fetchone()
        assert customer and agent
        for _ in range(calls):
            repos.workflow_executions.create(
                odb.WorkflowExecutionCreate(
                    agent_id=agent[0],
                    customer_id=customer[0],
                    workflow_type=odb.WorkflowType.COST_ANALYSIS,
                )
            )
        olds = [r[0] for r in conn.execute(Q["some_runs"], {"n": calls}).fetchall()]
        for i in range(calls):
            got = _timed(
                lambda: repos.workflow_executions.claim("bench-1", lease=timedelta(minutes=5)),
                out["claim"],
            )
            run = got[0]
            _timed(
                lambda run=run: repos.workflow_executions.complete(
                    run.id, {"ok": True}, worker_id="bench-1"
                ),
                out["complete"],
            )
            _timed(
                lambda i=i: repos.workflow_executions.history(olds[i % len(olds)]), out["history"]
            )
    return {k: _pcts(v) for k, v in out.items()}


def _purge(dsn: str, cutoff: datetime, drop: bool) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        (a,) = conn.execute(Q["wal_lsn"]).fetchone() or ("",)
        began = time.perf_counter()
        result = odb.purge(dsn, finished_before=cutoff, drop_partitions=drop)
        seconds = time.perf_counter() - began
        (b,) = conn.execute(Q["wal_lsn"]).fetchone() or ("",)
        (wal,) = conn.execute(Q["wal_bytes"], {"a": a, "b": b}).fetchone() or (0,)
        log, runs = conn.execute(Q["sizes"]).fetchone() or (0, 0)
    return {
        "seconds": seconds,
        "executions": result.executions,
        "transitions": result.transitions,
        "partitions_dropped": result.partitions_dropped,
        "wal_mb": wal / 2**20,
        "log_mb": log / 2**20,
        "runs_mb": runs / 2**20,
    }


def _generic_cost(partitions: int, calls: int, keep: bool) -> dict[str, float]:
    """Mean ms per call of history and of claim + complete, generic plans,
    with ``partitions`` weekly partitions holding 20,000 runs."""
    with _database(f"bench_hist_parts_{partitions}", keep) as dsn:
        odb.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            _weekly(conn, partitions - 1, partitions - 2)
            (n,) = conn.execute(
                "SELECT count(*) FROM optiinfra_transition_partitions() WHERE NOT is_default"
            ).fetchone() or (0,)
        _seed(dsn, 20_000, max(1, partitions - 3))
        times: dict[str, list[float]] = {"history": [], "claim + complete": []}
        with odb.connect(dsn, autocommit=True) as conn:
            conn.execute("SET plan_cache_mode = force_generic_plan")
            repos = odb.Repositories(conn)
            wx = repos.workflow_executions
            customer = conn.execute("SELECT id FROM customers LIMIT 1").fetchone()
            agent = conn.execute("SELECT id FROM agents LIMIT 1").fetchone()
            assert customer and agent
            for _ in range(calls + 20):
                wx.create(
                    odb.WorkflowExecutionCreate(
                        agent_id=agent[0],
                        customer_id=customer[0],
                        workflow_type=odb.WorkflowType.COST_ANALYSIS,
                    )
                )
            olds = [r[0] for r in conn.execute(Q["some_runs"], {"n": 50}).fetchall()]
            for i in range(calls + 20):  # the first 20: warm-up (psycopg prepares at 5)
                began = time.perf_counter()
                wx.history(olds[i % len(olds)])
                ms = (time.perf_counter() - began) * 1000
                if i >= 20:
                    times["history"].append(ms)
                began = time.perf_counter()
                got = wx.claim("bench-1", lease=timedelta(minutes=5))
                wx.complete(got[0].id, {"ok": True}, worker_id="bench-1")
                ms = (time.perf_counter() - began) * 1000
                if i >= 20:
                    times["claim + complete"].append(ms)
        assert n == partitions, (n, partitions)
        return {k: statistics.mean(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    with psycopg.connect(DSN) as c:
        version = c.execute("SHOW server_version").fetchone()
    _say(f"server {version and version[0]}; {args.runs:,} runs over {args.weeks} weeks")
    cutoff = datetime.now(UTC) - timedelta(weeks=args.weeks * 3 // 4)
    report: dict[str, Any] = {}
    with (
        _database("bench_hist_part", args.keep) as part,
        _database("bench_hist_plain", args.keep) as plain,
    ):
        odb.migrate(part)
        with psycopg.connect(part, autocommit=True) as conn:
            # a log that has lived a year: a partition a week from the start
            _weekly(conn, args.weeks + 5, args.weeks + 1)
        odb.migrate(plain)
        odb.rollback(plain, 2)  # the plain log (0025's history_from stays)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("DROP INDEX ux_workflow_transitions_id_at")  # 0025's, for the move only
            conn.execute(Q["plain_history_until"])  # purge reads it (0027's, without its triggers)
        # both loads at once (a server backend each, on 2 cores); what is
        # measured after runs alone
        with ThreadPoolExecutor(2) as pool:
            loads = [pool.submit(_seed, dsn, args.runs, args.weeks) for dsn in (part, plain)]
            took = [f.result() for f in loads]
        _say(f"seeded both in {max(took) / 60:.1f} min (side by side)")
        report["runtime"] = _runtime(part, args.calls)
        _say(f"partitioned: runtime {report['runtime']}")
        report["drop"] = _purge(part, cutoff, drop=True)
        _say(f"partitioned: purge {report['drop']}")
        report["delete"] = _purge(plain, cutoff, drop=False)
        _say(f"plain: purge {report['delete']}")
    for n in (4, 26, 52):
        report[f"generic {n}"] = _generic_cost(n, args.calls // 4, args.keep)
        _say(f"{n} partitions: mean ms per call {report[f'generic {n}']}")
    d, p = report["drop"], report["delete"]
    print("\npurge of the oldest quarter:")
    print(f"  {'':<28}{'partition drop':>16}{'batched DELETE':>16}{'ratio':>9}")
    for key, label in (
        ("seconds", "time (s)"),
        ("wal_mb", "WAL (MB)"),
        ("log_mb", "log size after (MB)"),
        ("runs_mb", "runs size after (MB)"),
    ):
        ratio = d[key] / p[key] if p[key] else float("nan")
        print(f"  {label:<28}{d[key]:>16,.1f}{p[key]:>16,.1f}{ratio:>9.3f}")
    print(
        f"  runs removed {d['executions']:,} / {p['executions']:,}; transitions "
        f"{d['transitions']:,} / {p['transitions']:,}; partitions dropped {d['partitions_dropped']}"
    )


if __name__ == "__main__":
    main()
