"""The sync harness's operations: each contender's calls for one measured
operation (the library, raw psycopg with ``benchmarks/raw.sql``, the
SQLAlchemy ORM), built per operation on one shared set of connections."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, selectinload

import optiinfra_db as odb
from benchmarks import orm_models as orm
from benchmarks.common import RAW, Data, Operation, _cycler
from benchmarks.otel import NOOP, SDK, otel_ops

#: Calls per sample of the get and complete operations.
N_GET = 50
N_COMPLETE = 20


@dataclass
class Bench:
    """The connections every operation's contenders share."""

    dsn: str
    data: Data
    few: int  # quick mode divides the repeats by this
    lib_conn: psycopg.Connection[Any]
    raw_conn: psycopg.Connection[Any]
    engine: Any
    session: Session
    repos: odb.Repositories
    admin: psycopg.Connection[Any]

    @classmethod
    def open(cls, dsn: str, data: Data, quick: bool) -> Bench:
        lib_conn = odb.connect(dsn)
        engine = create_engine(
            "postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), pool_size=1
        )
        return cls(
            dsn, data, 8 if quick else 1, lib_conn, psycopg.connect(dsn), engine,
            Session(engine), odb.Repositories(lib_conn), psycopg.connect(dsn, autocommit=True),
        )  # fmt: skip

    @staticmethod
    def three(
        lib: Callable[[], Any], raw: Callable[[], Any], orm_fn: Callable[[], Any]
    ) -> dict[str, Callable[[], Any]]:
        return {"optiinfra_db": lib, "raw psycopg": raw, "SQLAlchemy ORM": orm_fn}

    def reset(self, ids: list[UUID]) -> None:
        """Put the moved executions back to running (not timed)."""
        self.admin.execute(RAW["reset_running"], {"ids": ids})


def completes(
    reset: Callable[[list[UUID]], None],
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


def vacuum_steps(admin: psycopg.Connection[Any]) -> Callable[[], None]:
    """Rolled-back loads leave dead rows behind: clear them, as autovacuum would."""
    return lambda: admin.execute("VACUUM (ANALYZE) workflow_steps")


def get_ops(b: Bench) -> list[Operation]:
    """Get by id, 50 calls per sample."""
    raw_conn, session, repos, data, few, three = (
        b.raw_conn,
        b.session,
        b.repos,
        b.data,
        b.few,
        b.three,
    )
    # -- get by id: 50 calls per sample, each contender on its own id sequence
    n_get = N_GET
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

    return [
        Operation(
            "get one execution by id",
            n_get,
            "call",
            three(lib_get, raw_get, orm_get),
            max(200 // few, 30),
            (1.05, "get <= 1.05x raw psycopg"),
            read=True,
        ),
    ]


def list_ops(b: Bench) -> list[Operation]:
    """One page of 1,000 and of 10,000 executions, and the JSON-heavy list."""
    raw_conn, session, repos, data, few, three = (
        b.raw_conn,
        b.session,
        b.repos,
        b.data,
        b.few,
        b.three,
    )

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

    n_heavy = data.sizes["heavy"]
    return [
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
            "list 100 of a customer",
            1,
            "call",
            lists(data.list_customer, 100),
            max(300 // few, 30),
            (1.00, "list 100 (prepared, long history) <= 1.00x raw psycopg"),
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
    ]


def create_ops(b: Bench) -> list[Operation]:
    """One execution and its five steps in one transaction."""
    lib_conn, raw_conn, session, repos, data, few, three = (
        b.lib_conn,
        b.raw_conn,
        b.session,
        b.repos,
        b.data,
        b.few,
        b.three,
    )
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

    return [
        Operation(
            "create 1 execution + 5 steps (1 tx)",
            1,
            "transaction",
            three(lib_create, raw_create, orm_create),
            max(200 // few, 30),
        ),
    ]


def bulk_ops(b: Bench) -> tuple[int, list[Operation]]:
    """Bulk inserts of steps, from records and from plain rows; also the
    ORM's row count."""
    lib_conn, raw_conn, session, repos, admin, data, few, three = (
        b.lib_conn,
        b.raw_conn,
        b.session,
        b.repos,
        b.admin,
        b.data,
        b.few,
        b.three,
    )
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

    return n_orm_bulk, [
        Operation(
            f"bulk insert {n_bulk:,} steps",
            1,
            "call",
            three(lib_bulk, raw_bulk, orm_bulk),
            max(9 // few, 3),
            (1.20, "bulk_create <= 1.20x raw COPY"),
            orm_scale=n_bulk / n_orm_bulk,
            after=vacuum_steps(admin),
        ),
        Operation(
            f"bulk insert {n_bulk:,} steps from plain rows",
            1,
            "call",
            three(lib_bulk_plain, raw_bulk_plain, orm_bulk_plain),
            max(9 // few, 3),
            (1.20, "bulk_create from plain rows <= 1.20x raw COPY"),
            orm_scale=n_bulk / n_orm_bulk,
            after=vacuum_steps(admin),
        ),
    ]


def detail_ops(b: Bench) -> list[Operation]:
    """get_detail: one execution with 20 steps and 10 artifacts."""
    raw_conn, session, repos, data, few, three = (
        b.raw_conn,
        b.session,
        b.repos,
        b.data,
        b.few,
        b.three,
    )
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

    return [
        Operation(
            "get_detail: 20 steps + 10 artifacts",
            n_detail,
            "call",
            three(lib_detail, raw_detail, orm_detail),
            max(100 // few, 15),
            (1.00, "get_detail <= 1.00x raw psycopg"),
            read=True,
        ),
    ]


def complete_ops(b: Bench) -> list[Operation]:
    """The guarded complete, 20 per sample."""
    lib_conn, raw_conn, session, repos, data, few, three = (
        b.lib_conn,
        b.raw_conn,
        b.session,
        b.repos,
        b.data,
        b.few,
        b.three,
    )
    # -- the guarded status transition, 20 per sample (rolled back: repeatable)
    n_complete = N_COMPLETE
    lib_run, raw_run, orm_run = (_cycler(data.running_ids, n_complete) for _ in range(3))

    reset = b.reset

    lib_complete = completes(reset, lib_conn, repos, lib_run)

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

    return [
        Operation(
            "complete (guarded transition)",
            n_complete,
            "call",
            three(lib_complete, raw_complete, orm_complete),
            max(100 // few, 15),
        ),
    ]


def stream_ops(b: Bench) -> list[Operation]:
    """Streaming export of a whole history."""
    lib_conn, raw_conn, session, data, few, three = (
        b.lib_conn,
        b.raw_conn,
        b.session,
        b.data,
        b.few,
        b.three,
    )
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

    return [
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
    ]


def claim_ops(b: Bench) -> list[Operation]:
    """Claims, one pending run per transaction (a worker's loop)."""
    lib_conn, raw_conn, session, repos, few, three = (
        b.lib_conn,
        b.raw_conn,
        b.session,
        b.repos,
        b.few,
        b.three,
    )
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
        params = {"worker_id": "bench-worker", "lease": lease}
        with raw_conn.cursor() as cur:
            for _ in range(n_claim):
                with raw_conn.transaction():
                    cur.execute(RAW["claim"], params)
                    assert len(cur.fetchall()) == 1

    def orm_claim() -> None:
        session.commit()
        wx = orm.WorkflowExecution
        for _ in range(n_claim):
            due = func.coalesce(wx.run_after, wx.created_at)
            run = session.scalars(
                select(wx)
                .where(wx.status == odb.WorkflowStatus.PENDING, due <= func.statement_timestamp())
                .order_by(wx.priority.desc(), due, wx.id)
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

    # -- what per_customer_limit costs: claim + complete of one customer's runs,
    # with the limit (an advisory lock, then the claim counting the customer's
    # running runs) and without
    row = b.admin.execute(RAW["limit_customer"]).fetchone()
    assert row is not None
    limited = row[0]
    b.admin.execute(
        RAW["add_pending_for"],
        {"agent": b.data.agent, "customer": limited, "n": 40 * (100 // few + 10)},
    )

    def claim_finish(limit: int | None) -> Callable[[], None]:
        def run() -> None:
            lib_conn.commit()
            wx = repos.workflow_executions
            for _ in range(n_claim):
                with lib_conn.transaction():
                    (got,) = wx.claim("bench-worker", customer_id=limited, per_customer_limit=limit)
                with lib_conn.transaction():
                    wx.complete(got.id, worker_id="bench-worker")

        return run

    return [
        Operation(
            "claim 1 pending run (SKIP LOCKED, 1 tx)",
            n_claim,
            "call",
            three(lib_claim, raw_claim, orm_claim),
            max(100 // few, 15),
            (1.15, "claim <= 1.15x a raw psycopg SKIP LOCKED claim"),
        ),
        Operation(
            "claim + complete, per_customer_limit=2",
            n_claim,
            "call",
            {"per_customer_limit=2": claim_finish(2), "no limit": claim_finish(None)},
            max(100 // few, 15),
            baseline="no limit",
        ),
    ]


def log_ops(b: Bench) -> tuple[psycopg.Connection[Any], list[Operation]]:
    """The transition log's cost: a fenced complete with its trigger and with
    every trigger off; also the replica connection (for its pid)."""
    lib_conn, repos, admin, data, few = b.lib_conn, b.repos, b.admin, b.data, b.few
    # -- the transition log's cost: a fenced complete, with the log's trigger and
    # with every trigger off (session_replication_role = replica; this also turns
    # off the updated_at trigger and the foreign-key checks, so the ratio is an
    # upper bound on what the log costs)
    replica_conn = odb.connect(b.dsn)
    try:
        replica_conn.execute("SET session_replication_role = replica")
        replica_conn.commit()
        replica_repos: odb.Repositories | None = odb.Repositories(replica_conn)
    except psycopg.errors.InsufficientPrivilege:
        replica_conn.rollback()
        replica_repos = None
    admin.execute(RAW["reset_running"], {"ids": data.running_ids})  # held by bench-worker
    log_on, log_off = (_cycler(data.running_ids, N_COMPLETE) for _ in range(2))
    if replica_repos is None:
        return replica_conn, []
    return replica_conn, [
        Operation(
            "complete(worker_id=) with the log",
            N_COMPLETE,
            "call",
            {
                "optiinfra_db": completes(b.reset, lib_conn, repos, log_on, "bench-worker"),
                "triggers off": completes(
                    b.reset, replica_conn, replica_repos, log_off, "bench-worker"
                ),
            },
            max(100 // few, 15),
            (1.25, "guarded complete with the transition log <= 1.25x without it"),
            baseline="triggers off",
        )
    ]


def tenant_ops(b: Bench) -> tuple[list[psycopg.Connection[Any]], list[Operation]]:
    """Tenant isolation: the same calls scoped and unscoped; also the
    connections opened."""
    lib_conn, repos, admin, data, few = b.lib_conn, b.repos, b.admin, b.data, b.few
    n_get, n_complete, reset = N_GET, N_COMPLETE, b.reset
    # -- tenant isolation: the same calls through Repositories(conn, customer_id=)
    # on an optiinfra_app login (row-level security applies: the policies run,
    # and the customer is set once per transaction, in the pipeline of its
    # first statement) against the unscoped calls of the operator's view.
    tenant_conns: list[psycopg.Connection[Any]] = []
    try:
        admin.execute(RAW["make_app_login"])
        app_dsn = make_conninfo(b.dsn, user="optiinfra_bench_app", password=None)
        scoped_conn = odb.connect(app_dsn)
        scoped_auto = odb.connect(app_dsn, autocommit=True)
        plain_auto = odb.connect(b.dsn, autocommit=True)
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

        return tenant_conns, [
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
    return tenant_conns, []


def round_trips(b: Bench) -> dict[str, dict[str, Callable[[], Any]]]:
    """One call of each, for counting round trips."""
    raw_conn, session, repos, data, three = b.raw_conn, b.session, b.repos, b.data, b.three
    return {  # one call of each, for counting round trips
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


def operations(dsn: str, data: Data, quick: bool) -> tuple[list[Operation], Any]:
    """Every operation, and (round-trip probes, the resources to close)."""
    b = Bench.open(dsn, data, quick)
    n_orm_bulk, bulk = bulk_ops(b)
    replica_conn, log = log_ops(b)
    tenant_conns, tenant = tenant_ops(b)
    ops = [
        *get_ops(b), *list_ops(b), *stream_ops(b), *create_ops(b), *bulk, *detail_ops(b),
        *complete_ops(b), *claim_ops(b), *log, *tenant, *otel_ops(b),
    ]  # fmt: skip
    statements = round_trips(b)
    lib_conn, raw_conn, session = b.lib_conn, b.raw_conn, b.session
    orm_conn = session.connection().connection.driver_connection
    assert orm_conn is not None
    session.commit()
    pids = {
        "optiinfra_db": lib_conn.info.backend_pid,
        "raw psycopg": raw_conn.info.backend_pid,
        "SQLAlchemy ORM": orm_conn.info.backend_pid,
        "triggers off": replica_conn.info.backend_pid,
        # the instrumented modes take turns on the library's connection
        **dict.fromkeys((NOOP, SDK), lib_conn.info.backend_pid),
    }
    if tenant_conns:
        pids |= {
            "unscoped": lib_conn.info.backend_pid,
            "scoped": tenant_conns[0].info.backend_pid,
            "scoped autocommit": tenant_conns[1].info.backend_pid,
            "unscoped autocommit": tenant_conns[2].info.backend_pid,
        }
    resources = (
        lib_conn, raw_conn, session, b.engine, n_orm_bulk, b.admin, pids, replica_conn, tenant_conns
    )  # fmt: skip
    return ops, (statements, resources)
