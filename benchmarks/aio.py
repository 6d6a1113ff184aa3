"""The async section of ``make bench``: ``optiinfra_db.aio`` against raw
psycopg async (the same hand-written SQL as the sync raw contender, tuple
rows) and asyncpg (its own driver, the same SQL with ``$n`` placeholders, jsonb
decoded with ``json.loads`` as psycopg does), side by side in one event loop.
Each contender has one connection of its own, autocommit (as asyncpg's
are); statements are prepared as a long-lived service has them (psycopg after
5 executions, asyncpg always), warm-up first. Then the event-loop lag: 40
concurrent list requests of 2,000 rows through a pool, watched by a 1 ms ticker.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import psycopg
from psycopg_pool import AsyncConnectionPool

import optiinfra_db as odb
import optiinfra_db.aio as aio
from benchmarks.common import RAW, Operation, _cycler

LIB, RAW_ASYNC, APG = "optiinfra_db.aio", "raw psycopg async", "asyncpg"


def positional(sql: str) -> tuple[str, list[str]]:
    """``%(name)s`` placeholders as asyncpg's ``$n`` (and the names in order)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql), names


class Apg:
    """The asyncpg contender: the raw statements, positional."""

    def __init__(self, conn: asyncpg.Connection, raw: dict[str, str]) -> None:
        self.conn = conn
        self.q = {name: positional(sql) for name, sql in raw.items()}

    def args(self, name: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
        sql, names = self.q[name]
        return sql, [params[n] for n in names]

    async def fetchrow(self, name: str, **params: Any) -> Any:
        sql, args = self.args(name, params)
        return await self.conn.fetchrow(sql, *args)

    async def fetch(self, name: str, **params: Any) -> list[Any]:
        sql, args = self.args(name, params)
        return await self.conn.fetch(sql, *args)


def apg_params(dsn: str) -> dict[str, Any]:
    """asyncpg's connect arguments from a libpq DSN (it reads URLs only)."""
    p = psycopg.conninfo.conninfo_to_dict(dsn)
    return {
        "host": p.get("host"),
        "port": int(p.get("port") or 5432),
        "user": p.get("user"),
        "password": p.get("password"),
        "database": p.get("dbname"),
    }


async def apg_connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(**apg_params(dsn))
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn


def timed(fn: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[float]]:
    """The sample's own time, taken inside the loop (not the loop's start-up)."""

    async def run() -> float:
        started = time.perf_counter()
        await fn()
        return time.perf_counter() - started

    return run


@dataclass
class Setup:
    lib: Any
    raw: psycopg.AsyncConnection[Any]
    apg: asyncpg.Connection
    pids: dict[str, int]


async def connect_all(dsn: str) -> Setup:
    # autocommit, as asyncpg is: a read is its own transaction, a block is BEGIN..COMMIT
    lib = await aio.connect(dsn, autocommit=True)
    raw = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    apg = await apg_connect(dsn)
    pids = {LIB: lib.info.backend_pid, RAW_ASYNC: raw.info.backend_pid, APG: apg.get_server_pid()}
    return Setup(lib, raw, apg, pids)


def _three(loop: asyncio.AbstractEventLoop, lib: Any, raw_fn: Any, apg_fn: Any) -> dict[str, Any]:
    return {
        name: (lambda fn=fn: loop.run_until_complete(timed(fn)()))
        for name, fn in ((LIB, lib), (RAW_ASYNC, raw_fn), (APG, apg_fn))
    }


def op(name: str, per: int, runs_: dict[str, Any], repeats: int, **kw: Any) -> Any:
    return Operation(f"async: {name}", per, "call", runs_, repeats, baseline=RAW_ASYNC, **kw)


def operations(
    loop: asyncio.AbstractEventLoop, s: Setup, data: Any, raw: dict[str, str], admin: Any, few: int
) -> list[Any]:
    """The async operations as the sync harness's Operation (runs return their own time)."""
    return [*_reads(loop, s, data, raw, few), *_writes(loop, s, data, raw, admin, few)]


def _reads(
    loop: asyncio.AbstractEventLoop, s: Setup, data: Any, raw: dict[str, str], few: int
) -> list[Any]:
    """Get by id, a page of 1,000, get_detail."""
    repos = aio.AsyncRepositories(s.lib)
    apg = Apg(s.apg, raw)

    def three(lib: Any, raw_fn: Any, apg_fn: Any) -> dict[str, Any]:
        return _three(loop, lib, raw_fn, apg_fn)

    # -- get by id, 50 per sample
    n_get = 50
    ids = [_cycler(data.get_ids, n_get) for _ in range(3)]

    async def lib_get() -> None:
        get = repos.workflow_executions.get
        for ident in ids[0]():
            await get(ident)

    async def raw_get() -> None:
        async with s.raw.cursor() as cur:
            for ident in ids[1]():
                await cur.execute(raw["get"], {"id": ident})
                await cur.fetchone()

    async def apg_get() -> None:
        for ident in ids[2]():
            await apg.fetchrow("get", id=ident)

    # -- one page of n executions of a customer
    def lists(n: int) -> dict[str, Any]:
        async def lib_list() -> None:
            rows = await repos.workflow_executions.list_for_customer(data.list_customer, limit=n)
            assert len(rows) == n

        async def raw_list() -> None:
            async with s.raw.cursor() as cur:
                await cur.execute(
                    raw["list_for_customer"], {"customer_id": data.list_customer, "limit": n}
                )
                assert len(await cur.fetchall()) == n

        async def apg_list() -> None:
            rows = await apg.fetch("list_for_customer", customer_id=data.list_customer, limit=n)
            assert len(rows) == n

        return three(lib_list, raw_list, apg_list)

    # -- get_detail, 10 per sample (the raw contenders: three statements)
    n_detail = 10

    async def lib_detail() -> None:
        for _ in range(n_detail):
            detail = await repos.workflow_executions.get_detail(data.detail_id)
            assert detail is not None and len(detail.steps) == 20

    async def raw_detail() -> None:
        async with s.raw.cursor() as cur:
            for _ in range(n_detail):
                await cur.execute(raw["detail_execution"], {"id": data.detail_id})
                await cur.fetchone()
                await cur.execute(raw["detail_steps"], {"id": data.detail_id})
                assert len(await cur.fetchall()) == 20
                await cur.execute(raw["detail_artifacts"], {"id": data.detail_id})
                await cur.fetchall()

    async def apg_detail() -> None:
        for _ in range(n_detail):
            await apg.fetchrow("detail_execution", id=data.detail_id)
            assert len(await apg.fetch("detail_steps", id=data.detail_id)) == 20
            await apg.fetch("detail_artifacts", id=data.detail_id)

    return [
        op(
            "get one execution by id",
            n_get,
            three(lib_get, raw_get, apg_get),
            max(200 // few, 30),
            target=(1.05, "aio get <= 1.05x raw psycopg async"),
            read=True,
        ),
        op(
            "list 1,000 of a customer",
            1,
            lists(1000),
            max(100 // few, 15),
            target=(1.00, "aio list 1,000 <= 1.00x raw psycopg async"),
            read=True,
            warmup_calls=20,
        ),
        op(
            "list 100 of a customer",
            1,
            lists(100),
            max(300 // few, 30),
            target=(1.00, "aio list 100 <= 1.00x raw psycopg async"),
            read=True,
            warmup_calls=20,
        ),
        op(
            "get_detail: 20 steps + 10 artifacts",
            n_detail,
            three(lib_detail, raw_detail, apg_detail),
            max(100 // few, 15),
            target=(1.00, "aio get_detail <= 1.00x raw psycopg async"),
            read=True,
        ),
    ]


def _writes(
    loop: asyncio.AbstractEventLoop, s: Setup, data: Any, raw: dict[str, str], admin: Any, few: int
) -> list[Any]:
    """The guarded complete and the claim."""
    repos = aio.AsyncRepositories(s.lib)
    apg = Apg(s.apg, raw)

    def three(lib: Any, raw_fn: Any, apg_fn: Any) -> dict[str, Any]:
        return _three(loop, lib, raw_fn, apg_fn)

    # -- complete, 20 per sample in one transaction; the reset is not timed
    n_complete = 20
    runs = [_cycler(data.running_ids, n_complete) for _ in range(3)]

    def completes(body: Callable[[list[UUID]], Awaitable[None]], take: Any) -> Callable[[], Any]:
        def run() -> float:
            ids = take()
            started = time.perf_counter()
            loop.run_until_complete(body(ids))
            elapsed = time.perf_counter() - started
            admin.execute(raw["reset_running"], {"ids": ids})
            return elapsed

        return run

    async def lib_complete(ids: list[UUID]) -> None:
        async with s.lib.transaction():
            for ident in ids:
                await repos.workflow_executions.complete(ident)

    async def raw_complete(ids: list[UUID]) -> None:
        async with s.raw.transaction(), s.raw.cursor() as cur:
            for ident in ids:
                await cur.execute(raw["complete"], {"id": ident})
                if await cur.fetchone() is None:
                    raise RuntimeError("refused")

    async def apg_complete(ids: list[UUID]) -> None:
        async with s.apg.transaction():
            for ident in ids:
                if await apg.fetchrow("complete", id=ident) is None:
                    raise RuntimeError("refused")

    # -- claim one pending run per transaction, 20 per sample
    n_claim = 20
    lease = timedelta(seconds=60)

    async def lib_claim() -> None:
        claim = repos.workflow_executions.claim
        for _ in range(n_claim):
            async with s.lib.transaction():
                assert len(await claim("bench-worker", lease=lease)) == 1

    async def raw_claim() -> None:
        params = {"worker_id": "bench-worker", "lease": lease}
        async with s.raw.cursor() as cur:
            for _ in range(n_claim):
                async with s.raw.transaction():
                    await cur.execute(raw["claim"], params)
                    assert len(await cur.fetchall()) == 1

    async def apg_claim() -> None:
        for _ in range(n_claim):
            async with s.apg.transaction():
                rows = await apg.fetch("claim", worker_id="bench-worker", lease=lease)
                assert len(rows) == 1

    return [
        op(
            "complete (guarded transition)",
            n_complete,
            {
                LIB: completes(lib_complete, runs[0]),
                RAW_ASYNC: completes(raw_complete, runs[1]),
                APG: completes(apg_complete, runs[2]),
            },
            max(100 // few, 15),
            target=(1.10, "aio complete <= 1.10x raw psycopg async"),
        ),
        op(
            "claim 1 pending run (SKIP LOCKED, 1 tx)",
            n_claim,
            three(lib_claim, raw_claim, apg_claim),
            max(100 // few, 15),
            target=(1.10, "aio claim <= 1.10x raw psycopg async"),
        ),
    ]


def add_pending(admin: Any, data: Any, n: int) -> None:
    """Pending runs for the claims (bench bookkeeping, not timed)."""
    admin.execute(
        "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type) "
        "SELECT %(agent)s, %(customer)s, 'cost_analysis' FROM generate_series(1, %(n)s)",
        {"agent": data.agent, "customer": data.customer, "n": n},
    )
    admin.execute(RAW["spread_pending"], {})
    admin.execute("VACUUM (ANALYZE) workflow_executions")


# --------------------------------------------------------------------------- event-loop lag


async def _ticked(load: Callable[[], Awaitable[Any]]) -> float:
    """The worst gap (seconds) between ticks of a 1 ms ticker while ``load`` runs."""
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await load()
    done = True
    await tick
    return worst


async def event_loop_lag(
    dsn: str, data: Any, raw: dict[str, str], rounds: int, sync_pool: Any
) -> dict[str, dict[str, float]]:
    """40 concurrent list requests of 2,000 rows, ``rounds`` times per contender
    (contenders alternate): the worst tick gap of each round, in ms."""
    n, rows, size = 40, 2000, 10
    customer = data.list_customer
    lib_pool = await aio.create_pool(dsn, min_size=size, max_size=size)
    raw_pool = AsyncConnectionPool(dsn, min_size=size, max_size=size, open=False)
    await raw_pool.open(wait=True)
    await lib_pool.wait()
    apg_pool = await asyncpg.create_pool(
        **apg_params(dsn), min_size=size, max_size=size, init=_apg_init, statement_cache_size=100
    )
    apg_sql, apg_names = positional(raw["list_for_customer"])

    async def lib_one() -> None:
        async with lib_pool.connection() as conn:
            got = await aio.AsyncRepositories(conn).workflow_executions.list_for_customer(
                customer, limit=rows
            )
        assert len(got) == rows

    async def raw_one() -> None:
        async with raw_pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(raw["list_for_customer"], {"customer_id": customer, "limit": rows})
            assert len(await cur.fetchall()) == rows

    async def apg_one() -> None:
        async with apg_pool.acquire() as conn:
            params = {"customer_id": customer, "limit": rows}
            got = await conn.fetch(apg_sql, *[params[k] for k in apg_names])
        assert len(got) == rows

    async def sync_one() -> None:  # what the issue measured: sync calls inside async def
        with sync_pool.connection() as conn:
            got = odb.Repositories(conn).workflow_executions.list_for_customer(customer, limit=rows)
        assert len(got) == rows

    loads = {LIB: lib_one, RAW_ASYNC: raw_one, APG: apg_one, "sync lib in async def": sync_one}
    # The same loads with CPython's cyclic GC paused: how much of the worst gap
    # is a collection passing over the records the 40 requests hold.
    paused = {f"{LIB}, GC paused": lib_one, f"{RAW_ASYNC}, GC paused": raw_one}
    loads.update(paused)
    gaps: dict[str, list[float]] = {name: [] for name in loads}
    try:
        for one in loads.values():  # warm-up: prepared statements, plans
            for _ in range(6):
                await asyncio.gather(*(one() for _ in range(size)))
        for r in range(rounds):
            names = list(loads)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                one = loads[name]

                async def load(one: Callable[[], Awaitable[None]] = one) -> None:
                    await asyncio.gather(*(one() for _ in range(n)))

                if name in paused:
                    gc.collect()
                    gc.disable()
                try:
                    gaps[name].append(await _ticked(load) * 1000)
                finally:
                    gc.enable()
    finally:
        await lib_pool.close()
        await raw_pool.close()
        await apg_pool.close()
    return {
        name: {"median_ms": statistics.median(v), "max_ms": max(v), "rounds": len(v)}
        for name, v in gaps.items()
    }


async def _apg_init(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def report_lag(lag: dict[str, dict[str, float]]) -> None:
    if not lag:
        return
    print(
        "\nevent-loop lag: 40 concurrent list requests of 2,000 rows through a pool of 10, "
        "worst gap seen by a 1 ms ticker (median / max of the rounds):"
    )
    for name, row in lag.items():
        print(f"  {name:<32} {row['median_ms']:>8.1f} ms {row['max_ms']:>8.1f} ms")


def verdicts(results: list[Any], lag: dict[str, dict[str, float]]) -> int:
    misses = 0
    for result in results:
        if result.op.target:
            limit, text = result.op.target
            ratio = result.ratio(LIB)
            ok = ratio <= limit
            misses += not ok
            print(f"  {'met   ' if ok else 'MISSED'} {text}: {ratio:.2f}x")
        print(
            f"  (report) asyncpg on {result.op.name.removeprefix('async: ')}: "
            f"{result.ratio(APG):.2f}x raw psycopg async; aio {result.ratio(LIB, APG):.2f}x asyncpg"
        )
    if lag:
        ratio = lag[LIB]["median_ms"] / lag[RAW_ASYNC]["median_ms"]
        print(f"  (report) event-loop lag, aio vs raw psycopg async: {ratio:.2f}x (median)")
    return misses
