"""Side-by-side benchmarks: optiinfra_db vs raw psycopg 3 vs the SQLAlchemy 2 ORM.

    python -m benchmarks.run            # full mode (the tables of docs/performance.md)
    python -m benchmarks.run --quick    # CI smoke run (a few minutes)

Servers: the embedded PostgreSQL (pgserver, .optiinfra/bench-pgdata) and, when
$OPTIINFRA_BENCH_DSN is set, that server too (``make bench`` points it at the
machine's PostgreSQL 15); ``--servers`` picks. On each, a scratch database is
created and dropped; where that is not allowed (a managed server), or with
``--in-place``, the benchmark runs in the given database itself and deletes its
own rows afterwards.

Each operation runs the three contenders on the same data, interleaved (the
order rotates every repeat) so drift hits all alike; warm-up calls first, so
psycopg has prepared its statements and PostgreSQL has settled on its plans,
as in a long-lived service. It reports the median, the spread (interquartile
range), the ratio to raw psycopg (median of side-by-side ratios), the
statements (round trips) one call sends, and per call the client's CPU
(this process) and the server's CPU (the backend process behind each
contender's connection, from /proc, when the server runs on this machine).
Streaming and JSON-heavy reads also report peak memory, measured in a fresh
child process per contender. Targets from the issue are checked and a miss is
printed plainly; the exit code stays 0 unless --strict is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pydantic
import sqlalchemy
from psycopg.types.json import Jsonb

import optiinfra_db as odb
from benchmarks import aio as bench_aio
from benchmarks import replicas
from benchmarks.common import RAW, Data, Operation
from benchmarks.otel import otel_verdicts, report_otel
from benchmarks.pool import pool_verdicts, report_pool, worker_pool
from benchmarks.sync_ops import operations
from optiinfra_db import embedded

CONTENDERS = ("optiinfra_db", "raw psycopg", "SQLAlchemy ORM")


# --------------------------------------------------------------------------- round trips


class Counter:
    """Counts statements sent through psycopg (execute, executemany, copy, commit,
    rollback) by all three contenders: SQLAlchemy runs on psycopg too."""

    def __init__(self) -> None:
        self.count = 0
        self.active = False

    @contextmanager
    def counting(self) -> Iterator[None]:
        self.count, self.active = 0, True
        try:
            yield
        finally:
            self.active = False

    def install(self) -> None:
        counter = self
        for cls, names in (
            (psycopg.Cursor, ("execute", "executemany", "copy")),
            (psycopg.Connection, ("commit", "rollback")),
        ):
            for name in names:
                original = getattr(cls, name)

                def wrapped(self: Any, *a: Any, __original: Any = original, **k: Any) -> Any:
                    if counter.active:
                        counter.count += 1
                    return __original(self, *a, **k)

                setattr(cls, name, wrapped)


COUNTER = Counter()


# --------------------------------------------------------------------------- data


def payload(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        f"k{i}": rng.choice(
            [
                rng.random(),
                rng.randint(0, 10**6),
                f"v-{rng.random():.6f}",
                [1, 2, 3],
                {"nested": True, "x": rng.random()},
            ]
        )
        for i in range(n)
    }


def heavy_payload(rng: random.Random) -> dict[str, Any]:
    """About 7.5 KB of JSON: a metrics snapshot with nested series."""
    return {
        f"gpu{i}": {
            "util": [round(rng.random(), 4) for _ in range(12)],
            "mem_mb": rng.randint(0, 80_000),
            "model": "H100-SXM5-80GB",
            "labels": {"zone": "eu-west-1b", "pool": f"pool-{i % 4}", "tier": "gold"},
        }
        for i in range(24)
    }


def build_data(dsn: str, quick: bool) -> Data:
    rng = random.Random(7)
    n_list = 30_000 if quick else 100_000  # a customer with a long history
    n_heavy = 2_000 if quick else 10_000
    n_running = 1_000
    n_bulk = 20_000 if quick else 100_000
    with odb.connect(dsn) as conn:
        repos = odb.Repositories(conn)
        customer = repos.customers.create(
            odb.CustomerCreate(name="Bench", email="bench@example.test", api_key=odb.new_api_key())
        )
        other = repos.customers.create(
            odb.CustomerCreate(
                name="Bench list", email="list@example.test", api_key=odb.new_api_key()
            )
        )
        agent = repos.agents.create(odb.AgentCreate(type="cost", name="bench-agent"))
        now = datetime.now(UTC)

        def executions(customer_id: UUID, n: int, status: str, heavy: bool = False) -> list[UUID]:
            ids = [uuid4() for _ in range(n)]
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY workflow_executions (id, agent_id, customer_id, workflow_type, status,"
                    " started_at, input_data, output_data, error_details, metadata, created_at)"
                    " FROM STDIN"
                ) as copy,
            ):
                for i, ident in enumerate(ids):
                    copy.write_row(
                        (
                            ident,
                            agent.id,
                            customer_id,
                            rng.choice(list(odb.WorkflowType)).value,
                            status,
                            now - timedelta(seconds=i) if status != "pending" else None,
                            Jsonb(heavy_payload(rng) if heavy else payload(rng, 8)),
                            Jsonb(payload(rng, 12)),
                            Jsonb({"error": "x", "trace": ["a"] * 5}) if i % 10 == 0 else None,
                            Jsonb(payload(rng, 4)),
                            now - timedelta(seconds=i),
                        )
                    )
            return ids

        list_ids = executions(other.id, n_list, "completed")
        heavy = repos.customers.create(
            odb.CustomerCreate(
                name="Bench heavy", email="heavy@example.test", api_key=odb.new_api_key()
            )
        )
        executions(heavy.id, n_heavy, "completed", heavy=True)
        running = executions(customer.id, n_running, "running")
        empty = executions(customer.id, n_bulk // 5, "pending")
        conn.execute(RAW["spread_pending"], {})  # priorities and delays, as a scheduler has them
        detail = repos.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=agent.id,
                customer_id=customer.id,
                workflow_type="performance_tuning",
                input_data=payload(rng, 8),
            )
        )
        repos.workflow_steps.bulk_create(
            odb.WorkflowStepCreate(
                workflow_execution_id=detail.id,
                step_name=f"step-{i}",
                step_order=i,
                input_data=payload(rng, 6),
                output_data=payload(rng, 6),
            )
            for i in range(1, 21)
        )
        steps = repos.workflow_steps.list_for_execution(detail.id)
        for i in range(10):
            repos.workflow_artifacts.create(
                odb.WorkflowArtifactCreate(
                    workflow_execution_id=detail.id,
                    workflow_step_id=steps[i].id if i % 2 else None,
                    artifact_type="report",
                    artifact_name=f"a{i}.pdf",
                    artifact_path=f"s3://b/a{i}",
                    artifact_size_bytes=1000 * i,
                    metadata=payload(rng, 3),
                )
            )
        conn.commit()
        # Statistics of the loaded data (a service runs on analysed tables).
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) workflow_executions, workflow_steps, workflow_artifacts")
    return Data(
        customer.id,
        agent.id,
        other.id,
        list_ids[:2000],
        detail.id,
        running,
        empty,
        heavy.id,
        [customer.id, other.id, heavy.id],
        {"list": n_list, "bulk": n_bulk, "heavy": n_heavy},
    )


# --------------------------------------------------------------------------- operations


# --------------------------------------------------------------------------- running


@dataclass
class Result:
    op: Operation
    times: dict[str, list[float]]  # seconds per sample, per contender
    statements: dict[str, int]  # sent by one sample
    client_cpu: dict[str, float]  # seconds over all samples
    server_cpu: dict[str, float | None]  # seconds over all samples (None: not measurable)
    gc_time: dict[str, float]  # seconds in the cyclic garbage collector, all samples
    peak_mb: dict[str, float] = field(default_factory=dict)  # median peak RSS growth

    def calls(self, name: str) -> float:
        scale = self.op.orm_scale if name == "SQLAlchemy ORM" else 1.0
        return len(self.times[name]) * self.op.per_sample / scale

    def per_unit(self, name: str) -> float:
        """Median seconds per call (ORM bulk scaled to the same row count)."""
        scale = self.op.orm_scale if name == "SQLAlchemy ORM" else 1.0
        return statistics.median(self.times[name]) * scale / self.op.per_sample

    def ratio(self, name: str, to: str | None = None) -> float:
        """Median of the ratios of samples taken side by side (drift cancels)."""
        to = to or self.op.baseline
        scale = self.op.orm_scale if name == "SQLAlchemy ORM" else 1.0
        other = self.op.orm_scale if to == "SQLAlchemy ORM" else 1.0
        return statistics.median(
            a * scale / (b * other) for a, b in zip(self.times[name], self.times[to], strict=True)
        )

    def spread(self, name: str) -> float:
        """Interquartile range per call, in seconds."""
        values = self.times[name]
        scale = self.op.orm_scale if name == "SQLAlchemy ORM" else 1.0
        if len(values) < 4:
            return (max(values) - min(values)) * scale / self.op.per_sample
        q = statistics.quantiles(values, n=4)
        return (q[2] - q[0]) * scale / self.op.per_sample

    def client_per_call(self, name: str) -> float:
        return self.client_cpu[name] / self.calls(name)

    def server_per_call(self, name: str) -> float | None:
        total = self.server_cpu[name]
        return None if total is None else total / self.calls(name)

    def server_ratio(self, name: str) -> float | None:
        mine, raw = self.server_per_call(name), self.server_per_call(self.op.baseline)
        return None if mine is None or not raw else mine / raw


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def backend_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system) of a server process on this machine, or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


class GcTimer:
    """Time spent in the cyclic garbage collector (via gc.callbacks)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._began


GC_TIMER = GcTimer()


def peak_memory(contender: str, probe: tuple[str, UUID, int], dsn: str) -> float:
    """Peak resident memory growth (MB) of one read in a fresh interpreter
    (benchmarks/memprobe.py): no heap left over from the other measurements."""
    op, customer, rows = probe
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.memprobe", contender, op, dsn, str(customer), str(rows)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe of {contender} failed:\n{done.stderr}")
    return int(done.stdout.strip().splitlines()[-1]) / 1024


@contextmanager
def pinned(pids: list[int]) -> Iterator[None]:
    """This process on the last CPU, ``pids`` (backends) on the first, for the
    block (nothing when affinity can't be set: one CPU, another host)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        yield
        return
    before = {pid: os.sched_getaffinity(pid) for pid in [0, *pids]}
    try:
        os.sched_setaffinity(0, {cpus[-1]})
        for pid in pids:
            os.sched_setaffinity(pid, {cpus[0]})
    except OSError:  # a backend of another host, or not ours to move
        for pid, mask in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, mask)
        yield
        return
    try:
        yield
    finally:
        for pid, mask in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, mask)


def measure(op: Operation, warmup: int, pids: dict[str, int], dsn: str) -> Result:
    if op.pin:
        with pinned([pids[n] for n in op.runs if n in pids]):
            return _measure(op, warmup, pids, dsn)
    return _measure(op, warmup, pids, dsn)


def _measure(op: Operation, warmup: int, pids: dict[str, int], dsn: str) -> Result:
    names = list(op.runs)
    for _ in range(max(warmup, op.warmup_calls)):
        for name in names:
            op.runs[name]()
    statements = {}
    for name in names:
        with COUNTER.counting():
            op.runs[name]()
        statements[name] = COUNTER.count
    times: dict[str, list[float]] = {n: [] for n in names}
    client = dict.fromkeys(names, 0.0)
    server: dict[str, float | None] = dict.fromkeys(names, 0.0)
    gc_time = dict.fromkeys(names, 0.0)
    for r in range(op.repeats):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate: drift hits all alike
        for name in order:
            s0 = backend_cpu(pids.get(name))
            g0 = GC_TIMER.total
            c0 = time.process_time()
            started = time.perf_counter()
            own = op.runs[name]()  # a run that must do untimed work returns its own time
            elapsed = time.perf_counter() - started
            client[name] += time.process_time() - c0
            gc_time[name] += GC_TIMER.total - g0
            s1 = backend_cpu(pids.get(name))
            prev = server[name]
            server[name] = None if s0 is None or s1 is None or prev is None else prev + s1 - s0
            times[name].append(own if isinstance(own, float) else elapsed)
    if op.after:
        op.after()
    result = Result(op, times, statements, client, server, gc_time)
    if op.memory:
        for name in names:
            result.peak_mb[name] = statistics.median(
                peak_memory(name, op.memory, dsn) for _ in range(3)
            )
    return result


def machine(dsn: str) -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    server = row[0] if row else "?"
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"psycopg {psycopg.__version__}; pydantic {pydantic.VERSION}; "
        f"SQLAlchemy {sqlalchemy.__version__}; PostgreSQL {server.split()[0]} (same machine)"
    )


@contextmanager
def bench_database(base: str, in_place: bool) -> Iterator[tuple[str, bool]]:
    """(dsn, scratch): a scratch database created on the server of ``base`` and
    dropped afterwards; or, with ``in_place`` or where creating one is not
    allowed, ``base`` itself (the caller deletes its rows afterwards)."""
    if not in_place:
        name = f"optiinfra_bench_{os.getpid()}"
        params = psycopg.conninfo.conninfo_to_dict(base)
        try:
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')  # type: ignore[arg-type]
                admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        except psycopg.errors.InsufficientPrivilege:
            print("(not allowed to create a database: running in the given one)", flush=True)
        else:
            params["dbname"] = name
            try:
                yield psycopg.conninfo.make_conninfo(**params), True
            finally:
                with psycopg.connect(base, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
            return
    yield base, False


def servers(chosen: str) -> list[tuple[str, str]]:
    """(label, DSN) of each server to run on."""
    out: list[tuple[str, str]] = []
    for which in chosen.split(","):
        if which == "embedded":
            out.append(("embedded", embedded.start(Path(".optiinfra") / "bench-pgdata")))
        elif which == "env":
            dsn = os.environ.get("OPTIINFRA_BENCH_DSN", "")
            if not dsn:
                print("OPTIINFRA_BENCH_DSN is not set: no run on a second server", flush=True)
                continue
            try:
                psycopg.connect(dsn, connect_timeout=5).close()
            except psycopg.OperationalError as exc:
                print(f"OPTIINFRA_BENCH_DSN unreachable, skipped: {exc}".strip(), flush=True)
                continue
            out.append(("OPTIINFRA_BENCH_DSN", dsn))
        else:
            raise SystemExit(f"--servers: unknown server {which!r} (embedded, env)")
    return out


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def _cpu(value: float | None) -> str:
    return "-" if value is None else fmt_time(value)


def report(results: list[Result], single: dict[str, dict[str, int]]) -> None:
    header = (
        f"{'operation':<40} {'contender':<17} {'median/call':>12} {'IQR':>10} "
        f"{'vs base':>7} {'stmts':>6} {'client CPU':>11} {'server CPU':>11} {'srv vs base':>11}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for i, name in enumerate(result.times):
            ratio = result.server_ratio(name)
            print(
                f"{result.op.name if i == 0 else '':<40} {name:<17} "
                f"{fmt_time(result.per_unit(name)):>12} {fmt_time(result.spread(name)):>10} "
                f"{result.ratio(name):>7.2f} "
                f"{result.statements[name] / result.op.per_sample:>6.4g} "
                f"{_cpu(result.client_per_call(name)):>11} "
                f"{_cpu(result.server_per_call(name)):>11} "
                f"{'-' if ratio is None else f'{ratio:.2f}':>11}"
            )
    print(
        "\nbase = raw psycopg, except where the operation names its own baseline. "
        "stmts = execute/executemany/copy calls per call (round trips; a COPY is one). "
        "CPU per call: client = this process; server = the backend serving the contender "
        "(/proc, same machine), totalled over all samples."
    )
    print(
        "per single call: "
        + "; ".join(
            f"{label}: " + ", ".join(f"{n} {c}" for n, c in counts.items())
            for label, counts in single.items()
        )
    )
    memory = [r for r in results if r.peak_mb]
    if memory:
        print("\npeak memory of one call (RSS growth in a fresh interpreter, median of 3):")
        for r in memory:
            raw = r.peak_mb["raw psycopg"]
            print(
                f"  {r.op.name}: "
                + ", ".join(
                    f"{n} {mb:.0f} MB ({mb / raw:.2f}x)" if raw else f"{n} {mb:.0f} MB"
                    for n, mb in r.peak_mb.items()
                )
            )
    print("\ncyclic GC share of the client CPU on reads:")
    for r in results:
        if r.op.read:
            print(
                f"  {r.op.name}: "
                + ", ".join(
                    f"{n} {100 * r.gc_time[n] / r.client_cpu[n]:.0f}%"
                    for n in r.times
                    if r.client_cpu[n]
                )
            )


def verdicts(results: list[Result], single: dict[str, dict[str, int]]) -> int:
    misses = 0

    def say(ok: bool, text: str) -> None:
        nonlocal misses
        misses += not ok
        print(f"  {'met   ' if ok else 'MISSED'} {text}")

    print("\ntargets (ratios are medians of side-by-side samples; CPU from totals):")
    for result in results:
        base = result.op.baseline
        # the library's contender: "optiinfra_db", or the one set against a baseline of its own
        mine = (
            "optiinfra_db"
            if "optiinfra_db" in result.times
            else next(n for n in result.times if n != base)
        )
        if result.op.target:
            limit, text = result.op.target
            ratio = result.ratio(mine)
            say(ratio <= limit, f"{text}: {ratio:.2f}x")
        if result.op.read:
            server = result.server_ratio(mine)
            if server is not None:
                text = f"server CPU of {result.op.name} <= 1.15x {base}: {server:.2f}x"
                say(server <= 1.15, text)
            client = result.client_per_call(mine) / result.client_per_call(base)
            limit = 1.0 if base == "raw psycopg" else 1.1
            say(
                client <= limit,
                f"client CPU of {result.op.name} <= {limit:.1f}x {base}: {client:.2f}x",
            )
        if result.op.memory_target and result.peak_mb:
            limit, text = result.op.memory_target
            ratio = result.peak_mb["optiinfra_db"] / result.peak_mb["raw psycopg"]
            say(ratio <= limit, f"{text}: {ratio:.2f}x")
    for result in results:
        if "SQLAlchemy ORM" not in result.times:
            continue
        faster = 1 / result.ratio("optiinfra_db", "SQLAlchemy ORM")
        say(faster > 1, f"ahead of the ORM on {result.op.name}: {faster:.2f}x faster")
    got = single["get_detail"]["optiinfra_db"]
    say(got == 1, f"get_detail in one round trip: {got} statement(s)")
    return misses


def run_on(label: str, base: str, args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """The whole benchmark on one server; (misses, JSON summary)."""
    warmup = 1 if args.quick else 2
    with bench_database(base, args.in_place) as (dsn, scratch):
        odb.migrate(dsn)
        data = build_data(dsn, args.quick)
        ops, (per_call, resources) = operations(dsn, data, args.quick)
        (
            lib_conn, raw_conn, session, engine, n_orm_bulk, admin, pids, replica_conn, tenant_conns
        ) = resources  # fmt: skip
        local = all(backend_cpu(pid) is not None for pid in pids.values())
        print(f"\n=== {label}: {machine(dsn)}", flush=True)
        print(
            f"mode: {'quick' if args.quick else 'full'}; warm-up runs first (at least "
            "6 calls: statements prepared, plans settled), then samples alternating "
            "between the contenders (order rotated each round); ORM bulk insert on "
            f"{n_orm_bulk:,} rows, scaled to the same count; server CPU "
            f"{'from /proc' if local else 'not measurable (server not on this machine)'}\n",
            flush=True,
        )
        if args.only:
            wanted = [w.strip() for w in args.only.split(",") if w.strip()]
            ops = [op for op in ops if any(w in op.name for w in wanted)]
        gc.callbacks.append(GC_TIMER)
        try:
            results = []
            for op in ops:
                results.append(measure(op, warmup, pids, dsn))
                print(f"  measured: {op.name}", file=sys.stderr, flush=True)
            async_results, lag = run_async(dsn, data, admin, args, warmup)
        finally:
            gc.callbacks.remove(GC_TIMER)
        single: dict[str, dict[str, int]] = {}
        for key, runs in per_call.items():
            single[key] = {}
            for name, fn in runs.items():
                with COUNTER.counting():
                    fn()
                single[key][name] = COUNTER.count
        session.rollback()
        lib_conn.rollback()
        raw_conn.rollback()
        replica_conn.close()
        for tenant_conn in tenant_conns:
            tenant_conn.close()
        pool = (
            worker_pool(dsn, data, 1_000 if args.quick else 5_000)
            if not args.only or "pool" in args.only
            else []
        )
        live = (
            live_latency(dsn, data, 50 if args.quick else 200)
            if not args.only or "live" in args.only
            else {}
        )
        report(results + async_results, single)
        otel = report_otel(results)
        bench_aio.report_lag(lag)
        report_pool(pool)
        report_live(live)
        misses = verdicts(results, single) + pool_verdicts(pool) + live_verdicts(live)
        misses += otel_verdicts(otel)
        misses += bench_aio.verdicts(async_results, lag)
        session.close()
        engine.dispose()
        lib_conn.close()
        raw_conn.close()
        if not scratch:  # in place: take our rows away again
            with odb.connect(dsn) as conn:
                repos = odb.Repositories(conn)
                for customer in data.customers:
                    repos.customers.delete(customer)
                repos.agents.delete(data.agent)
        admin.close()
    summary = {
        r.op.name: {
            n: {
                "median_per_call_s": r.per_unit(n),
                "ratio_to_raw": r.ratio(n),
                "client_cpu_per_call_s": r.client_per_call(n),
                "server_cpu_per_call_s": r.server_per_call(n),
                "peak_mb": r.peak_mb.get(n),
                "samples": len(r.times[n]),
            }
            for n in r.times
        }
        for r in results + async_results
    }
    summary["event-loop lag"] = lag
    summary["worker pool"] = pool
    summary["otel"] = otel
    summary["live progress"] = live
    return misses, summary


# --------------------------------------------------------------------------- async


def run_async(
    dsn: str, data: Data, admin: Any, args: argparse.Namespace, warmup: int
) -> tuple[list[Result], dict[str, Any]]:
    """The async section (benchmarks/aio.py), in one event loop."""
    wanted = [w.strip() for w in (args.only or "async").split(",") if w.strip()]
    if args.only and not any("async" in w or "lag" in w for w in wanted):
        return [], {}
    few = 8 if args.quick else 1
    loop = asyncio.new_event_loop()
    try:
        setup = loop.run_until_complete(bench_aio.connect_all(dsn))
        bench_aio.add_pending(admin, data, 3 * 20 * (max(100 // few, 15) + warmup + 2))
        ops = bench_aio.operations(loop, setup, data, RAW, admin, few)
        if args.only:
            ops = [op for op in ops if any(w in op.name for w in wanted)]
        results = []
        for op in ops:
            results.append(measure(op, warmup, setup.pids, dsn))
            print(f"  measured: {op.name}", file=sys.stderr, flush=True)
        lag: dict[str, Any] = {}
        if not args.only or any("lag" in w or w == "async" for w in wanted):
            with odb.create_pool(dsn, min_size=10, max_size=10) as sync_pool:
                lag = loop.run_until_complete(
                    bench_aio.event_loop_lag(dsn, data, RAW, 3 if args.quick else 9, sync_pool)
                )
            print("  measured: event-loop lag", file=sys.stderr, flush=True)
        loop.run_until_complete(setup.lib.close())
        loop.run_until_complete(setup.raw.close())
        loop.run_until_complete(setup.apg.close())
        return results, lag
    finally:
        loop.close()


def live_latency(dsn: str, data: Data, n: int) -> dict[str, Any]:
    """Commit -> yielded by odb.watch, and commit -> woken in odb.wait_for_work:
    ``n`` one-transition commits each, spaced so each is measured alone."""
    with odb.connect(dsn) as conn:
        repos = odb.Repositories(conn)
        agent = repos.agents.create(
            odb.AgentCreate(type="orchestrator", name=f"live-{uuid4().hex[:8]}")
        )
        runs = [
            repos.workflow_executions.create(
                odb.WorkflowExecutionCreate(
                    agent_id=agent.id, customer_id=data.customer, workflow_type="health_check"
                )
            ).id
            for _ in range(n)
        ]
        conn.commit()
        top = conn.execute("SELECT max(id) FROM workflow_transitions").fetchone()
        conn.commit()
        assert top is not None
        seen: dict[UUID, float] = {}

        def follow() -> None:
            for t in odb.watch(dsn, after=top[0], timeout=10):
                if t.to_status == "cancelled":
                    seen[t.workflow_execution_id] = time.perf_counter()
                    if len(seen) == n:
                        return

        watcher = threading.Thread(target=follow, daemon=True)
        watcher.start()
        time.sleep(0.3)
        committed: dict[UUID, float] = {}
        for run in runs:
            repos.workflow_executions.cancel(run)
            committed[run] = time.perf_counter()  # from just before the commit
            conn.commit()
            time.sleep(0.01)
        watcher.join(30)
        watch_ms = sorted((seen[r] - committed[r]) * 1000 for r in runs if r in seen)

        woke: list[float] = []
        ready = threading.Event()

        def idle_worker() -> None:
            with odb.connect(dsn, autocommit=True) as worker:
                odb.wait_for_work(worker, timeout=1, workflow_types=["scaling_decision"])
                ready.set()
                for _ in range(n):
                    if odb.wait_for_work(worker, timeout=5, workflow_types=["scaling_decision"]):
                        woke.append(time.perf_counter())

        worker = threading.Thread(target=idle_worker, daemon=True)
        worker.start()
        ready.wait(10)
        made: list[float] = []
        for _ in range(n):
            time.sleep(0.03)
            repos.workflow_executions.create(
                odb.WorkflowExecutionCreate(
                    agent_id=agent.id, customer_id=data.customer, workflow_type="scaling_decision"
                )
            )
            made.append(time.perf_counter())  # from just before the commit
            conn.commit()
        worker.join(30)
        wake_ms = sorted((w - m) * 1000 for w, m in zip(woke, made, strict=False))
    return {
        "watch_ms": {"n": len(watch_ms), "p50": _pct(watch_ms, 0.5), "p95": _pct(watch_ms, 0.95)},
        "wake_ms": {"n": len(wake_ms), "p50": _pct(wake_ms, 0.5), "p95": _pct(wake_ms, 0.95)},
        "expected": n,
    }


def _pct(values: list[float], q: float) -> float:
    return values[max(0, round(q * len(values)) - 1)] if values else float("nan")


def report_live(live: dict[str, Any]) -> None:
    if not live:
        return
    w, k = live["watch_ms"], live["wake_ms"]
    print(
        f"\nlive progress ({live['expected']} commits each): watch, commit -> yielded: "
        f"p50 {w['p50']:.1f} ms, p95 {w['p95']:.1f} ms (n={w['n']}); wait_for_work, "
        f"commit -> woken: p50 {k['p50']:.1f} ms, p95 {k['p95']:.1f} ms (n={k['n']})"
    )


def live_verdicts(live: dict[str, Any]) -> int:
    if not live:
        return 0
    k, w = live["wake_ms"], live["watch_ms"]
    ok_wake = k["n"] == live["expected"] and k["p95"] <= 50
    ok_watch = w["n"] == live["expected"]
    print(
        f"  {'met   ' if ok_wake else 'MISSED'} wait_for_work wakes within 50 ms (p95): "
        f"{k['p95']:.1f} ms, {k['n']} of {live['expected']} woken"
    )
    print(
        f"  {'met   ' if ok_watch else 'MISSED'} watch yields every commit: "
        f"{w['n']} of {live['expected']}"
    )
    return (not ok_wake) + (not ok_watch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke mode (a few minutes)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--servers",
        default="embedded,env",
        help="embedded and/or env ($OPTIINFRA_BENCH_DSN), comma-separated (default: both)",
    )
    parser.add_argument(
        "--only",
        metavar="TEXT,...",
        help="run only the operations whose name contains one of these "
        "('pool': the worker pool, 'live': watch and wait_for_work latency, "
        "'replicas': the read mix with and without two replicas, "
        "'async': the async section, 'lag': its event-loop lag only)",
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="run in the given database instead of a scratch one (rows deleted afterwards)",
    )
    args = parser.parse_args(argv)
    COUNTER.install()
    began = time.perf_counter()
    misses = 0
    summaries: dict[str, Any] = {}
    for label, base in servers(args.servers):
        missed, summaries[label] = run_on(label, base, args)
        misses += missed
        where = replicas.binaries("embedded" if label == "embedded" else "env")
        if (not args.only or "replicas" in args.only) and where is not None:
            found = replicas.replica_bench(where, args.quick)
            misses += replicas.report_replicas(found, label)
            summaries[label]["replicas"] = found
    if args.json:
        Path(args.json).write_text(json.dumps(summaries, indent=2))
    print(f"\n(total {time.perf_counter() - began:.0f} s)")
    return 1 if (args.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
