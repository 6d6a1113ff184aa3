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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pydantic
import sqlalchemy
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, selectinload

import optiinfra_db as odb
from benchmarks import aio as bench_aio
from benchmarks import orm_models as orm
from benchmarks.common import Operation, _cycler
from optiinfra_db import embedded
from optiinfra_db.queries import parse_file

RAW = {q.name: q.sql for q in parse_file(Path(__file__).with_name("raw.sql"))}
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


@dataclass
class Data:
    customer: UUID
    agent: UUID
    list_customer: UUID
    get_ids: list[UUID]
    detail_id: UUID
    running_ids: list[UUID]
    empty_executions: list[UUID]
    heavy_customer: UUID
    customers: list[UUID]
    sizes: dict[str, int] = field(default_factory=dict)


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


def operations(dsn: str, data: Data, quick: bool) -> tuple[list[Operation], Any]:
    lib_conn = odb.connect(dsn)
    raw_conn = psycopg.connect(dsn)
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), pool_size=1
    )
    session = Session(engine)
    repos = odb.Repositories(lib_conn)
    admin = psycopg.connect(dsn, autocommit=True)
    few = 8 if quick else 1  # quick mode divides the repeats

    def three(
        lib: Callable[[], Any], raw: Callable[[], Any], orm_fn: Callable[[], Any]
    ) -> dict[str, Callable[[], Any]]:
        return {"optiinfra_db": lib, "raw psycopg": raw, "SQLAlchemy ORM": orm_fn}

    # -- get by id: 50 calls per sample, each contender on its own id sequence
    n_get = 50
    lib_ids, raw_ids, orm_ids = (_cycler(data.get_ids, n_get) for _ in range(3))

    def lib_get() -> None:
        get = repos.workflow_executions.get
        for ident in lib_ids():
            get(ident)

    def raw_get() -> None:
        with raw_conn.cursor() as cur:
            for ident in raw_ids():
                cur.execute(RAW["get"], {"id": ident})
                cur.fetchone()

    def orm_get() -> None:
        for ident in orm_ids():
            session.get(orm.WorkflowExecution, ident)
        session.expunge_all()  # no identity-map hits: every get goes to the server

    # -- lists: one page of n executions of a customer, newest first
    def lists(customer: UUID, n: int) -> dict[str, Callable[[], Any]]:
        def lib() -> None:
            assert len(repos.workflow_executions.list_for_customer(customer, limit=n)) == n

        def raw() -> None:
            with raw_conn.cursor() as cur:
                cur.execute(RAW["list_for_customer"], {"customer_id": customer, "limit": n})
                assert len(cur.fetchall()) == n

        def orm_fn() -> None:
            rows = session.scalars(
                select(orm.WorkflowExecution)
                .where(orm.WorkflowExecution.customer_id == customer)
                .order_by(orm.WorkflowExecution.created_at.desc(), orm.WorkflowExecution.id.desc())
                .limit(n)
            ).all()
            assert len(rows) == n
            session.expunge_all()

        return three(lib, raw, orm_fn)

    # -- create one execution with 5 steps in one transaction (rolled back: repeatable)
    inputs = {"window": "7d", "targets": list(range(10)), "thresholds": {"cpu": 0.8}}

    # Writes commit, as a service would: psycopg drops its prepared statements on
    # every rollback, which would leave the statements of all three unprepared.
    def lib_create() -> None:
        lib_conn.commit()  # end the read transaction the earlier reads left open (no-op if idle)
        with lib_conn.transaction():
            # The execution and its steps in one statement: one round trip.
            repos.workflow_executions.create_with_steps(
                odb.WorkflowExecutionCreate(
                    agent_id=data.agent,
                    customer_id=data.customer,
                    workflow_type="cost_analysis",
                    input_data=inputs,
                ),
                (
                    odb.NewWorkflowStep(step_name=f"s{i}", step_order=i, input_data=inputs)
                    for i in range(1, 6)
                ),
            )

    def raw_create() -> None:
        raw_conn.commit()
        with raw_conn.transaction(), raw_conn.cursor() as cur:
            cur.execute(
                RAW["insert_execution"],
                {
                    "agent_id": data.agent,
                    "customer_id": data.customer,
                    "workflow_type": "cost_analysis",
                    "input_data": Jsonb(inputs),
                    "metadata": Jsonb({}),
                },
            )
            row = cur.fetchone()
            assert row is not None
            cur.executemany(
                RAW["insert_step"],
                [
                    {
                        "workflow_execution_id": row[0],
                        "step_name": f"s{i}",
                        "step_order": i,
                        "input_data": Jsonb(inputs),
                    }
                    for i in range(1, 6)
                ],
            )

    def orm_create() -> None:
        run = orm.WorkflowExecution(
            agent_id=data.agent,
            customer_id=data.customer,
            workflow_type=odb.WorkflowType.COST_ANALYSIS,
            input_data=inputs,
        )
        run.steps = [
            orm.WorkflowStep(step_name=f"s{i}", step_order=i, input_data=inputs)
            for i in range(1, 6)
        ]
        session.add(run)
        session.flush()
        session.commit()
        session.expunge_all()

    # -- bulk insert of steps (rolled back each time)
    n_bulk = data.sizes["bulk"]
    step_rows = [
        odb.WorkflowStepCreate(
            workflow_execution_id=ex,
            step_name=f"step-{i}",
            step_order=i,
            input_data={"i": i, "batch": "bench"},
        )
        for ex in data.empty_executions
        for i in range(1, 6)
    ][:n_bulk]

    def copy_row(execution: UUID, name: str, order: int, input_data: Any) -> tuple[Any, ...]:
        """One step as raw COPY writes it (the library's defaults spelled out)."""
        return (
            execution, name, order, "pending", None, None, Jsonb(input_data),
            Jsonb({}), None, 0, 3, Jsonb({}),
        )  # fmt: skip

    def raw_copy(rows: Any) -> None:
        with (
            raw_conn.transaction(force_rollback=True),
            raw_conn.cursor() as cur,
            cur.copy(RAW["copy_steps"]) as copy,
        ):
            for row in rows:
                copy.write_row(row)

    copy_rows = [
        copy_row(s.workflow_execution_id, s.step_name, s.step_order, s.input_data)
        for s in step_rows
    ]
    n_orm_bulk = min(n_bulk, 10_000)

    def lib_bulk() -> None:
        with lib_conn.transaction(force_rollback=True):
            assert repos.workflow_steps.bulk_create(step_rows) == n_bulk

    def raw_bulk() -> None:
        raw_copy(copy_rows)

    def orm_bulk() -> None:
        session.add_all(
            [
                orm.WorkflowStep(
                    workflow_execution_id=s.workflow_execution_id,
                    step_name=s.step_name,
                    step_order=s.step_order,
                    input_data=s.input_data,
                )
                for s in step_rows[:n_orm_bulk]
            ]
        )
        session.flush()
        session.rollback()

    # -- get_detail: one execution with 20 steps and 10 artifacts
    n_detail = 10

    def lib_detail() -> None:
        for _ in range(n_detail):
            detail = repos.workflow_executions.get_detail(data.detail_id)
            assert detail is not None and len(detail.steps) == 20

    def raw_detail() -> None:
        with raw_conn.cursor() as cur:
            for _ in range(n_detail):
                cur.execute(RAW["detail_execution"], {"id": data.detail_id})
                cur.fetchone()
                cur.execute(RAW["detail_steps"], {"id": data.detail_id})
                assert len(cur.fetchall()) == 20
                cur.execute(RAW["detail_artifacts"], {"id": data.detail_id})
                cur.fetchall()

    def orm_detail() -> None:
        for _ in range(n_detail):
            run = session.scalars(
                select(orm.WorkflowExecution)
                .where(orm.WorkflowExecution.id == data.detail_id)
                .options(
                    selectinload(orm.WorkflowExecution.steps),
                    selectinload(orm.WorkflowExecution.artifacts),
                )
            ).one()
            assert len(run.steps) == 20
            session.expunge_all()

    # -- the guarded status transition, 20 per sample (rolled back: repeatable)
    n_complete = 20
    lib_run, raw_run, orm_run = (_cycler(data.running_ids, n_complete) for _ in range(3))

    def reset(ids: list[UUID]) -> None:
        """Put the moved executions back to running (not timed)."""
        admin.execute(RAW["reset_running"], {"ids": ids})

    def completes(
        conn: psycopg.Connection[Any],
        on: odb.Repositories,
        ids_of: Callable[[], list[UUID]],
        worker: str | None = None,
    ) -> Callable[[], float]:
        """The library's complete on the next ids, in one transaction (fenced
        by ``worker`` when given); the reset back to running is not timed."""

        def run() -> float:
            conn.commit()
            ids = ids_of()
            started = time.perf_counter()
            with conn.transaction():
                for ident in ids:
                    on.workflow_executions.complete(ident, worker_id=worker)
            elapsed = time.perf_counter() - started
            reset(ids)
            return elapsed

        return run

    lib_complete = completes(lib_conn, repos, lib_run)

    def raw_complete() -> float:
        raw_conn.commit()
        ids = raw_run()
        started = time.perf_counter()
        with raw_conn.transaction(), raw_conn.cursor() as cur:
            for ident in ids:
                cur.execute(RAW["complete"], {"id": ident})
                if cur.fetchone() is None:
                    raise RuntimeError("refused")
        elapsed = time.perf_counter() - started
        reset(ids)
        return elapsed

    def orm_complete() -> float:
        session.commit()
        ids = orm_run()
        started = time.perf_counter()
        for ident in ids:
            run = session.get(orm.WorkflowExecution, ident, with_for_update=True)
            assert run is not None
            if run.status is not odb.WorkflowStatus.RUNNING:
                raise RuntimeError("refused")
            run.status = odb.WorkflowStatus.COMPLETED
            run.completed_at = datetime.now(UTC)
            session.flush()
        session.commit()
        elapsed = time.perf_counter() - started
        session.expunge_all()
        reset(ids)
        return elapsed

    # -- streaming export of a whole history
    n_export = data.sizes["list"]

    def lib_stream_on(conn: psycopg.Connection[Any]) -> Callable[[], None]:
        stream_repos = odb.Repositories(conn)

        def run() -> None:
            n = 0
            for _ in stream_repos.workflow_executions.iter_for_customer(
                data.list_customer, batch_size=1000
            ):
                n += 1
            conn.commit()
            assert n == n_export

        return run

    def raw_stream_on(conn: psycopg.Connection[Any]) -> Callable[[], None]:
        def run() -> None:
            n = 0
            with conn.cursor(name="bench_export") as cur:
                cur.itersize = 1000
                cur.execute(RAW["export_for_customer"], {"customer_id": data.list_customer})
                for _ in cur:
                    n += 1
            conn.commit()
            assert n == n_export

        return run

    def orm_stream_on(sess: Session) -> Callable[[], None]:
        def run() -> None:
            n = 0
            for _ in sess.scalars(
                select(orm.WorkflowExecution)
                .where(orm.WorkflowExecution.customer_id == data.list_customer)
                .order_by(orm.WorkflowExecution.created_at.desc(), orm.WorkflowExecution.id.desc())
                .execution_options(yield_per=1000)
            ):
                n += 1
            sess.commit()
            sess.expunge_all()
            assert n == n_export

        return run

    n_heavy = data.sizes["heavy"]

    # -- bulk insert from plain rows: what a caller has before any record is built
    plain_rows = [
        {
            "workflow_execution_id": s.workflow_execution_id,
            "step_name": s.step_name,
            "step_order": s.step_order,
            "input_data": s.input_data,
        }
        for s in step_rows
    ]

    def lib_bulk_plain() -> None:
        with lib_conn.transaction(force_rollback=True):
            assert repos.workflow_steps.bulk_create(plain_rows) == n_bulk

    def raw_bulk_plain() -> None:  # the tuples are built inside the timed call
        raw_copy(
            copy_row(r["workflow_execution_id"], r["step_name"], r["step_order"], r["input_data"])
            for r in plain_rows
        )

    def orm_bulk_plain() -> None:
        session.add_all([orm.WorkflowStep(**r) for r in plain_rows[:n_orm_bulk]])
        session.flush()
        session.rollback()

    # -- claim: one pending run per call, each in its own transaction (a worker's loop)
    n_claim = 20
    lease = timedelta(seconds=60)

    def lib_claim() -> None:
        lib_conn.commit()
        claim = repos.workflow_executions.claim
        for _ in range(n_claim):
            with lib_conn.transaction():
                assert len(claim("bench-worker", lease=lease)) == 1

    def raw_claim() -> None:
        raw_conn.commit()
        params = {"limit": 1, "worker_id": "bench-worker", "lease": lease}
        with raw_conn.cursor() as cur:
            for _ in range(n_claim):
                with raw_conn.transaction():
                    cur.execute(RAW["claim"], params)
                    assert len(cur.fetchall()) == 1

    def orm_claim() -> None:
        session.commit()
        wx = orm.WorkflowExecution
        for _ in range(n_claim):
            run = session.scalars(
                select(wx)
                .where(wx.status == odb.WorkflowStatus.PENDING)
                .order_by(wx.created_at, wx.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).one()
            now = datetime.now(UTC)
            run.status = odb.WorkflowStatus.RUNNING
            run.started_at = run.heartbeat_at = now
            run.worker_id = "bench-worker"
            run.lease_expires_at = now + lease
            run.attempt = run.attempt + 1
            run.error_details = None
            session.commit()
        session.expunge_all()

    # -- the transition log's cost: a fenced complete, with the log's trigger and
    # with every trigger off (session_replication_role = replica; this also turns
    # off the updated_at trigger and the foreign-key checks, so the ratio is an
    # upper bound on what the log costs)
    replica_conn = odb.connect(dsn)
    try:
        replica_conn.execute("SET session_replication_role = replica")
        replica_conn.commit()
        replica_repos: odb.Repositories | None = odb.Repositories(replica_conn)
    except psycopg.errors.InsufficientPrivilege:
        replica_conn.rollback()
        replica_repos = None
    admin.execute(RAW["reset_running"], {"ids": data.running_ids})  # held by bench-worker
    log_on, log_off = (_cycler(data.running_ids, n_complete) for _ in range(2))

    def vacuum_steps() -> None:
        """Rolled-back loads leave dead rows behind: clear them, as autovacuum would."""
        admin.execute("VACUUM (ANALYZE) workflow_steps")

    ops = [
        Operation(
            "get one execution by id",
            n_get,
            "call",
            three(lib_get, raw_get, orm_get),
            max(200 // few, 30),
            (1.00, "get <= 1.00x raw psycopg"),
            read=True,
        ),
        Operation(
            f"list 1,000 of a {data.sizes['list']:,}-run customer",
            1,
            "call",
            lists(data.list_customer, 1000),
            max(100 // few, 15),
            (1.00, "list 1,000 (prepared, long history) <= 1.00x raw psycopg"),
            read=True,
            warmup_calls=20,
        ),
        Operation(
            "list 10,000 executions of a customer",
            1,
            "call",
            lists(data.list_customer, 10_000),
            max(21 // few, 3),
            (1.00, "list 10,000 <= 1.00x raw psycopg"),
            read=True,
            warmup_calls=6,
        ),
        Operation(
            f"stream {n_export:,} executions (export)",
            1,
            "call",
            three(lib_stream_on(lib_conn), raw_stream_on(raw_conn), orm_stream_on(session)),
            max(7 // few, 3),
            (1.00, "streaming <= 1.00x a raw server-side cursor"),
            read=True,
            memory=("stream", data.list_customer, n_export),
        ),
        Operation(
            f"JSON-heavy list: {n_heavy:,} rows of ~7.5 KB",
            1,
            "call",
            lists(data.heavy_customer, n_heavy),
            max(9 // few, 3),
            (1.00, "JSON-heavy list <= 1.00x raw psycopg"),
            read=True,
            memory=("list", data.heavy_customer, n_heavy),
            memory_target=(1.10, "JSON-heavy list peak memory <= 1.10x raw psycopg"),
        ),
        Operation(
            "create 1 execution + 5 steps (1 tx)",
            1,
            "transaction",
            three(lib_create, raw_create, orm_create),
            max(200 // few, 30),
        ),
        Operation(
            f"bulk insert {n_bulk:,} steps",
            1,
            "call",
            three(lib_bulk, raw_bulk, orm_bulk),
            max(9 // few, 3),
            (1.20, "bulk_create <= 1.20x raw COPY"),
            orm_scale=n_bulk / n_orm_bulk,
            after=vacuum_steps,
        ),
        Operation(
            f"bulk insert {n_bulk:,} steps from plain rows",
            1,
            "call",
            three(lib_bulk_plain, raw_bulk_plain, orm_bulk_plain),
            max(9 // few, 3),
            (1.20, "bulk_create from plain rows <= 1.20x raw COPY"),
            orm_scale=n_bulk / n_orm_bulk,
            after=vacuum_steps,
        ),
        Operation(
            "get_detail: 20 steps + 10 artifacts",
            n_detail,
            "call",
            three(lib_detail, raw_detail, orm_detail),
            max(100 // few, 15),
            (1.00, "get_detail <= 1.00x raw psycopg"),
            read=True,
        ),
        Operation(
            "complete (guarded transition)",
            n_complete,
            "call",
            three(lib_complete, raw_complete, orm_complete),
            max(100 // few, 15),
        ),
        Operation(
            "claim 1 pending run (SKIP LOCKED, 1 tx)",
            n_claim,
            "call",
            three(lib_claim, raw_claim, orm_claim),
            max(100 // few, 15),
            (1.15, "claim <= 1.15x a raw psycopg SKIP LOCKED claim"),
        ),
    ]
    if replica_repos is not None:
        ops.append(
            Operation(
                "complete(worker_id=) with the log",
                n_complete,
                "call",
                {
                    "optiinfra_db": completes(lib_conn, repos, log_on, "bench-worker"),
                    "triggers off": completes(replica_conn, replica_repos, log_off, "bench-worker"),
                },
                max(100 // few, 15),
                (1.25, "guarded complete with the transition log <= 1.25x without it"),
                baseline="triggers off",
            )
        )
    # -- tenant isolation: the same calls through Repositories(conn, customer_id=)
    # on an optiinfra_app login (row-level security applies: the policies run,
    # and the customer is set once per transaction, in the pipeline of its
    # first statement) against the unscoped calls of the operator's view.
    tenant_conns: list[psycopg.Connection[Any]] = []
    try:
        admin.execute(RAW["make_app_login"])
        app_dsn = make_conninfo(dsn, user="optiinfra_bench_app", password=None)
        scoped_conn = odb.connect(app_dsn)
        scoped_auto = odb.connect(app_dsn, autocommit=True)
        plain_auto = odb.connect(dsn, autocommit=True)
        tenant_conns = [scoped_conn, scoped_auto, plain_auto]
    except psycopg.Error as exc:  # not a superuser: no login can be made here
        print(f"(tenant isolation not measured: {exc})", file=sys.stderr)
    if tenant_conns:
        listed = odb.Repositories(scoped_conn, customer_id=data.list_customer)
        running = odb.Repositories(scoped_conn, customer_id=data.customer)
        listed_auto = odb.Repositories(scoped_auto, customer_id=data.list_customer)
        plain_auto_repos = odb.Repositories(plain_auto)

        def gets(
            conn: psycopg.Connection[Any], on: odb.Repositories, ids_of: Callable[[], list[UUID]]
        ) -> Callable[[], None]:
            def run() -> None:
                get = on.workflow_executions.get
                for ident in ids_of():
                    assert get(ident) is not None
                if not conn.autocommit:
                    conn.commit()

            return run

        def list_page(conn: psycopg.Connection[Any], on: odb.Repositories) -> Callable[[], None]:
            def run() -> None:  # one page, one transaction
                page = on.workflow_executions.list_for_customer(data.list_customer, limit=1000)
                assert len(page) == 1000
                conn.commit()

            return run

        def completes_each(
            conn: psycopg.Connection[Any], on: odb.Repositories, ids_of: Callable[[], list[UUID]]
        ) -> Callable[[], float]:
            def run() -> float:  # a worker's finish: one transaction per run
                conn.commit()
                ids = ids_of()
                started = time.perf_counter()
                for ident in ids:
                    on.workflow_executions.complete(ident, worker_id="bench-worker")
                    conn.commit()
                elapsed = time.perf_counter() - started
                reset(ids)
                return elapsed

            return run

        ops += [
            Operation(
                "tenant: get, 50 in one transaction",
                n_get,
                "call",
                {
                    "unscoped": gets(lib_conn, repos, _cycler(data.get_ids, n_get)),
                    "scoped": gets(scoped_conn, listed, _cycler(data.get_ids, n_get)),
                },
                max(200 // few, 30),
                (1.10, "scoped get <= 1.10x unscoped"),
                read=True,
                baseline="unscoped",
                pin=True,
            ),
            Operation(
                "tenant: get, autocommit (each its own transaction)",
                n_get,
                "call",
                {
                    "unscoped autocommit": gets(
                        plain_auto, plain_auto_repos, _cycler(data.get_ids, n_get)
                    ),
                    "scoped autocommit": gets(
                        scoped_auto, listed_auto, _cycler(data.get_ids, n_get)
                    ),
                },
                max(200 // few, 30),
                read=True,
                baseline="unscoped autocommit",
                pin=True,
            ),
            Operation(
                "tenant: list 1,000 (one transaction)",
                1,
                "call",
                {
                    "unscoped": list_page(lib_conn, repos),
                    "scoped": list_page(scoped_conn, listed),
                },
                max(100 // few, 15),
                (1.10, "scoped list 1,000 <= 1.10x unscoped"),
                read=True,
                warmup_calls=20,
                baseline="unscoped",
                pin=True,
            ),
            Operation(
                "tenant: complete (one transaction each)",
                n_complete,
                "call",
                {
                    "unscoped": completes_each(
                        lib_conn, repos, _cycler(data.running_ids, n_complete)
                    ),
                    "scoped": completes_each(
                        scoped_conn, running, _cycler(data.running_ids, n_complete)
                    ),
                },
                max(100 // few, 15),
                (1.10, "scoped complete <= 1.10x unscoped"),
                baseline="unscoped",
                pin=True,
            ),
        ]
    statements = {  # one call of each, for counting round trips
        "get by id": three(
            lambda: repos.workflow_executions.get(data.get_ids[0]),
            lambda: raw_conn.execute(RAW["get"], {"id": data.get_ids[0]}),
            lambda: (session.get(orm.WorkflowExecution, data.get_ids[1]), session.expunge_all()),
        ),
        "get_detail": three(
            lambda: repos.workflow_executions.get_detail(data.detail_id),
            lambda: [
                raw_conn.execute(RAW[q], {"id": data.detail_id})
                for q in ("detail_execution", "detail_steps", "detail_artifacts")
            ],
            lambda: (
                session.scalars(
                    select(orm.WorkflowExecution)
                    .where(orm.WorkflowExecution.id == data.detail_id)
                    .options(
                        selectinload(orm.WorkflowExecution.steps),
                        selectinload(orm.WorkflowExecution.artifacts),
                    )
                ).one(),
                session.expunge_all(),
            ),
        ),
    }
    orm_conn = session.connection().connection.driver_connection
    assert orm_conn is not None
    session.commit()
    pids = {
        "optiinfra_db": lib_conn.info.backend_pid,
        "raw psycopg": raw_conn.info.backend_pid,
        "SQLAlchemy ORM": orm_conn.info.backend_pid,
        "triggers off": replica_conn.info.backend_pid,
    }
    if tenant_conns:
        pids |= {
            "unscoped": lib_conn.info.backend_pid,
            "scoped": tenant_conns[0].info.backend_pid,
            "scoped autocommit": tenant_conns[1].info.backend_pid,
            "unscoped autocommit": tenant_conns[2].info.backend_pid,
        }
    resources = (
        lib_conn, raw_conn, session, engine, n_orm_bulk, admin, pids, replica_conn, tenant_conns
    )  # fmt: skip
    return ops, (statements, resources)


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
                say(server <= 1.2, f"server CPU of {result.op.name} <= 1.2x {base}: {server:.2f}x")
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
        bench_aio.report_lag(lag)
        report_pool(pool)
        report_live(live)
        misses = verdicts(results, single) + pool_verdicts(pool) + live_verdicts(live)
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


# --------------------------------------------------------------------------- worker pool


@dataclass
class PoolRun:
    """What the threads of one pool run share."""

    barrier: threading.Barrier
    lock: threading.Lock = field(default_factory=threading.Lock)
    claimed: list[UUID] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def pool_worker(dsn: str, name: str, agent_id: UUID, shared: PoolRun) -> None:
    """One worker thread: claim, run the steps, complete, until the queue is empty."""
    try:
        with odb.connect(dsn, autocommit=True) as c:
            r = odb.Repositories(c)
            wx, steps = r.workflow_executions, r.workflow_steps
            mine: list[UUID] = []
            shared.barrier.wait()
            while got := wx.claim(name, agent_id=agent_id):
                run = got[0]
                mine.append(run.id)
                for step in steps.list_for_execution(run.id):
                    steps.start(step.id, worker_id=name)
                    steps.complete(step.id, {"ok": True}, worker_id=name)
                wx.complete(run.id, {"done": True}, worker_id=name)
            with shared.lock:
                shared.claimed.extend(mine)
    except BaseException as exc:  # reported by the caller
        shared.errors.append(exc)


def worker_pool(dsn: str, data: Data, n_runs: int) -> list[dict[str, Any]]:
    """1, 2, 4 and 8 worker threads, each on its own connection, claim and
    finish ``n_runs`` executions of 3 steps (claim, list the steps, start and
    complete each, complete the run: every write fenced by worker_id).
    Executions per second, and how many runs were claimed twice (from the
    transition log: moves into running per run)."""
    out = []
    for threads in (1, 2, 4, 8):
        with odb.connect(dsn) as conn:
            repos = odb.Repositories(conn)
            agent = repos.agents.create(
                odb.AgentCreate(type="orchestrator", name=f"pool-{threads}-{uuid4().hex[:8]}")
            )
            made = [
                repos.workflow_executions.create_with_steps(
                    odb.WorkflowExecutionCreate(
                        agent_id=agent.id,
                        customer_id=data.customer,
                        workflow_type="health_check",
                    ),
                    [odb.NewWorkflowStep(step_name=f"s{i}", step_order=i) for i in (1, 2, 3)],
                ).execution.id
                for _ in range(n_runs)
            ]
            conn.commit()
        shared = PoolRun(threading.Barrier(threads))
        pool = [
            threading.Thread(target=pool_worker, args=(dsn, f"pool-{i}", agent.id, shared))
            for i in range(threads)
        ]
        started = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - started
        if shared.errors:
            raise shared.errors[0]
        claimed = shared.claimed
        with odb.connect(dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE n > 1), count(*) FROM ("
                " SELECT workflow_execution_id, count(*) AS n FROM workflow_transitions"
                " WHERE workflow_execution_id = ANY(%s) AND workflow_step_id IS NULL"
                " AND to_status = 'running' GROUP BY workflow_execution_id) AS t",
                [made],
            ).fetchone()
            done = conn.execute(
                "SELECT count(*) FROM workflow_executions"
                " WHERE id = ANY(%s) AND status = 'completed'",
                [made],
            ).fetchone()
        assert row is not None and done is not None
        out.append(
            {
                "threads": threads,
                "executions": n_runs,
                "seconds": elapsed,
                "per_second": n_runs / elapsed,
                "double_claims": row[0] + (len(claimed) - len(set(claimed))),
                "claimed_once": row[1],
                "completed": done[0],
            }
        )
        print(f"  measured: worker pool, {threads} thread(s)", file=sys.stderr, flush=True)
    return out


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


def report_pool(pool: list[dict[str, Any]]) -> None:
    if not pool:
        return
    n = pool[0]["executions"]
    print(f"\nworker pool: threads claiming and finishing {n:,} executions of 3 steps each")
    heads = (("threads", 7), ("seconds", 8), ("executions/s", 13), ("double claims", 14))
    print("  " + " ".join(f"{h:>{w}}" for h, w in heads) + f" {'completed':>10}")
    for row in pool:
        print(
            f"  {row['threads']:>7} {row['seconds']:>8.2f} {row['per_second']:>13.0f} "
            f"{row['double_claims']:>14} {row['completed']:>10,}"
        )


def pool_verdicts(pool: list[dict[str, Any]]) -> int:
    misses = 0
    for row in pool:
        ok = row["double_claims"] == 0 and row["completed"] == row["executions"]
        misses += not ok
        print(
            f"  {'met   ' if ok else 'MISSED'} worker pool, {row['threads']} thread(s): "
            f"{row['double_claims']} double claims, {row['completed']:,} of "
            f"{row['executions']:,} completed"
        )
    return misses


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
    if args.json:
        Path(args.json).write_text(json.dumps(summaries, indent=2))
    print(f"\n(total {time.perf_counter() - began:.0f} s)")
    return 1 if (args.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
