"""Reproduce the read design measured from outside (issue: reads that cost
the primary no more than raw psycopg) before building it: list 1,000 of the
largest customer, three ways, interleaved in one loop on one server:

- raw psycopg: plain columns, tuple rows (benchmarks/raw.sql), prepared;
- client JSON (shipped): the library's list_for_customer, plain columns
  planned per call, each row's JSON assembled on the client from the raw
  text values (``optiinfra_db.sansio.rowjson``), one pydantic call per row;
- to_json (before): the same statement with each row built by the server
  (``to_json(r)``), ``model_validate_json`` per row: the design the library
  had before, kept as the figure to compare against.

Wall time as the median of per-sample ratios to raw (drift cancels), its
interquartile range, client CPU (process time) and the server backend's
CPU (``/proc/<pid>/stat``) per call. Run: ``python -m benchmarks.designs
[--dsn DSN] [--samples N]`` (default: the embedded PostgreSQL 16).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import make_conninfo

import optiinfra_db as odb
from benchmarks.common import RAW
from benchmarks.run import backend_cpu, build_data
from optiinfra_db import embedded
from optiinfra_db.migrate import migrate

N = 1000
MAX_UUID = UUID(int=2**128 - 1)


def _params(customer: UUID) -> dict[str, Any]:
    """The client design's parameters: the first page of 1,000, no filters."""
    return {
        "customer_id": customer,
        "workflow_type": None,
        "statuses": None,
        "since": "-infinity",
        "until": "infinity",
        "finished_since": None,
        "finished_until": None,
        "after_created_at": "infinity",
        "after_id": MAX_UUID,
        "limit": N,
    }


def contenders(
    dsn: str, customer: UUID
) -> tuple[dict[str, Callable[[], Any]], dict[str, int], list[psycopg.Connection[Any]]]:
    lib_conn, raw_conn, client_conn = odb.connect(dsn), psycopg.connect(dsn), odb.connect(dsn)
    repos = odb.Repositories(lib_conn)
    record = odb.WorkflowExecution
    params = _params(customer)

    def library() -> None:
        assert len(repos.workflow_executions.list_for_customer(customer, limit=N)) == N

    def raw() -> None:
        with raw_conn.cursor() as cur:
            cur.execute(RAW["list_for_customer"], {"customer_id": customer, "limit": N})
            assert len(cur.fetchall()) == N

    def before() -> None:
        with client_conn.cursor() as cur:
            cur.execute(RAW["list_for_customer_to_json"], params, prepare=False)
            validate = record.model_validate_json
            got = [validate(row[0]) for row in cur.fetchall()]
            assert len(got) == N

    conns = [lib_conn, raw_conn, client_conn]
    pids = {
        "raw psycopg": raw_conn.info.backend_pid,
        "client JSON (shipped)": lib_conn.info.backend_pid,
        "to_json (before)": client_conn.info.backend_pid,
    }
    calls = {"raw psycopg": raw, "client JSON (shipped)": library, "to_json (before)": before}
    return calls, pids, conns


def same_records(dsn: str, customer: UUID) -> int:
    """How many of the 1,000 records the two designs decode differently."""
    with odb.connect(dsn) as conn:
        shipped = odb.Repositories(conn).workflow_executions.list_for_customer(customer, limit=N)
        with conn.cursor() as cur:
            cur.execute(RAW["list_for_customer_to_json"], _params(customer))
            before = [odb.WorkflowExecution.model_validate_json(r[0]) for r in cur.fetchall()]
    return sum(a != b for a, b in zip(shipped, before, strict=True))


def measure(dsn: str, samples: int, calls_per_sample: int = 5) -> None:
    data = build_data(dsn, quick=True)
    customer = data.list_customer
    calls, pids, conns = contenders(dsn, customer)
    for fn in calls.values():  # warm: caches, prepared statements
        for _ in range(20):
            fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    client: dict[str, float] = dict.fromkeys(calls, 0.0)
    server: dict[str, float] = dict.fromkeys(calls, 0.0)
    for _ in range(samples):
        for name, fn in calls.items():
            s0, c0, w0 = backend_cpu(pids[name]), time.process_time(), time.perf_counter()
            for _ in range(calls_per_sample):
                fn()
            times[name].append(time.perf_counter() - w0)
            client[name] += time.process_time() - c0
            s1 = backend_cpu(pids[name])
            server[name] += (s1 or 0.0) - (s0 or 0.0)
    for conn in conns:
        conn.close()
    total = samples * calls_per_sample
    base = "raw psycopg"
    print(f"list {N:,} of a {data.sizes['list']:,}-run customer; {total} calls each")
    print(f"{'contender':<20} {'wall ms':>8} {'ratio':>6} {'IQR':>12} {'client ms':>9} "
          f"{'server ms':>9} {'server x':>8}")  # fmt: skip
    for name in calls:
        ratios = [a / b for a, b in zip(times[name], times[base], strict=True)]
        q = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [min(ratios), 0, max(ratios)]
        print(
            f"{name:<20} {statistics.median(times[name]) / calls_per_sample * 1e3:8.2f} "
            f"{statistics.median(ratios):6.2f} {q[0]:5.2f}-{q[2]:<5.2f} "
            f"{client[name] / total * 1e3:9.2f} {server[name] / total * 1e3:9.2f} "
            f"{server[name] / server[base] if server[base] else float('nan'):8.2f}"
        )
    print(f"records that differ from the shipped ones: {same_records(dsn, customer)} of {N:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="", help="a server to run on (default: embedded 16)")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    base = args.dsn or embedded.start(Path(".optiinfra") / "bench-pgdata")
    name = f"optiinfra_designs_{datetime.now():%H%M%S}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        dsn = make_conninfo(base, dbname=name)
        migrate(dsn)
        measure(dsn, args.samples)
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(pgsql.SQL("DROP DATABASE {} WITH (FORCE)").format(pgsql.Identifier(name)))


if __name__ == "__main__":
    main()
