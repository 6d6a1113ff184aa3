"""optiinfra_db.aio on its own event loop (the rest of the suite runs every
repository test on both sides through tests/aio_bridge.py): construction
checks, pools, concurrency on one loop, cancellation."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

import optiinfra_db as odb
import optiinfra_db.aio as aio
from tests.conftest import World
from tests.sides import api


def test_a_connection_of_the_other_side_is_refused_at_construction(db_dsn: str) -> None:
    with psycopg.connect(db_dsn) as conn:
        with pytest.raises(TypeError, match=r"use optiinfra_db\.Repositories$"):
            aio.AsyncRepositories(conn)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"use optiinfra_db\.WorkflowStepRepository$"):
            aio.WorkflowStepRepository(conn)  # type: ignore[arg-type]

    async def check() -> None:
        async with await psycopg.AsyncConnection.connect(db_dsn) as aconn:
            with pytest.raises(TypeError, match=r"use optiinfra_db\.aio\.AsyncRepositories$"):
                api.Repositories(aconn)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"use optiinfra_db\.aio\.CustomerRepository$"):
                api.CustomerRepository(aconn)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"takes a psycopg\.AsyncConnection, not str"):
            aio.AsyncRepositories("postgresql://")  # type: ignore[arg-type]

    asyncio.run(check())


def test_a_pool_of_your_own_with_configure_connection(db_dsn: str, world: World) -> None:
    async def check() -> Any:
        async with (
            AsyncConnectionPool(
                db_dsn, configure=aio.configure_connection, open=False, min_size=1, max_size=2
            ) as pool,
            pool.connection() as conn,
        ):
            repos = aio.AsyncRepositories(conn)
            return await repos.workflow_executions.get(world.execution.id)

    assert asyncio.run(check()) == world.execution


def test_create_pool_has_the_sync_pools_defaults(db_dsn: str, world: World) -> None:
    async def check() -> None:
        pool = await aio.create_pool(db_dsn, min_size=1, max_size=4)
        async with pool:
            assert not pool.closed  # opened, like the sync pool
            assert pool._check is aio.db.check_lent  # checked before lent
            async with pool.connection() as conn:
                options = (await (await conn.execute("SHOW statement_timeout")).fetchone())[0]
                assert options == "30s"
                assert conn.pgconn.parameter_status(b"TimeZone") == b"UTC"

    asyncio.run(check())


def test_concurrent_calls_on_one_loop_read_what_the_sync_side_reads(
    db_dsn: str, world: World, repos: odb.Repositories, conn: psycopg.Connection[Any]
) -> None:
    for i in range(30):
        repos.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.COST_ANALYSIS,
                input_data={"i": i},
            )
        )
    conn.commit()
    expected = repos.workflow_executions.list_for_customer(world.customer.id, limit=1000)

    async def one(pool: AsyncConnectionPool[Any]) -> list[odb.WorkflowExecution]:
        async with pool.connection() as c:
            return await aio.AsyncRepositories(c).workflow_executions.list_for_customer(
                world.customer.id, limit=1000
            )

    async def many() -> list[list[odb.WorkflowExecution]]:
        async with await aio.create_pool(db_dsn, max_size=4) as pool:
            return await asyncio.gather(*(one(pool) for _ in range(20)))

    assert all(got == expected for got in asyncio.run(many()))


def test_a_cancelled_call_leaves_the_pool_usable(db_dsn: str, world: World) -> None:
    async def check() -> Any:
        async with await aio.create_pool(db_dsn, min_size=1, max_size=1) as pool:
            with pytest.raises(TimeoutError):
                async with pool.connection() as c:
                    await asyncio.wait_for(c.execute("SELECT pg_sleep(5)"), 0.05)
            async with pool.connection() as c:  # the same single connection, healthy
                return await aio.AsyncRepositories(c).workflow_executions.get(world.execution.id)

    assert asyncio.run(check()) == world.execution


def test_errors_come_from_the_same_mapping_point(db_dsn: str, world: World) -> None:
    async def check() -> None:
        async with await aio.connect(db_dsn) as c:
            repos = aio.AsyncRepositories(c)
            with pytest.raises(odb.ConflictError) as caught:
                await repos.agents.create(odb.AgentCreate(type="cost", name="cost-agent-1"))
            assert caught.value.constraint == "uq_agents_type_name"
            await c.rollback()
            with pytest.raises(odb.NotFoundError):
                await repos.workflow_executions.start(uuid4())
            # the transaction is still usable after a refused move
            assert await repos.workflow_executions.get(world.execution.id) == world.execution

    asyncio.run(check())


def test_scoped_requests_of_two_customers_interleave_on_one_loop(db_dsn: str, world: World) -> None:
    """Concurrent requests of two customers through one async pool on an
    optiinfra_app login: each sees its own runs only, whichever connection
    (and whichever transaction mark) it gets."""
    from tests.tenant_harness import app_dsn

    with api.connect(db_dsn) as operator:
        other = api.Repositories(operator).customers.create(
            odb.CustomerCreate(name="Other", email="other@x.test", api_key=odb.new_api_key())
        )
        theirs = api.Repositories(operator).workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=other.id,
                workflow_type=odb.WorkflowType.HEALTH_CHECK,
            )
        )
        operator.commit()
    mine = world.execution.id

    async def request(pool: Any, customer: Any, run: Any, foreign: Any) -> bool:
        async with pool.connection() as aconn:
            repos = aio.AsyncRepositories(aconn, customer_id=customer)
            found = await repos.workflow_executions.get(run)
            await asyncio.sleep(0)  # let the other customer's request run in between
            hidden = await repos.workflow_executions.get(foreign)
            return found is not None and found.id == run and hidden is None

    async def check() -> list[bool]:
        async with await aio.create_pool(app_dsn(db_dsn), min_size=2, max_size=2) as pool:
            return await asyncio.gather(
                *(
                    request(pool, c, r, f)
                    for _ in range(10)
                    for c, r, f in (
                        (world.customer.id, mine, theirs.id),
                        (other.id, theirs.id, mine),
                    )
                )
            )

    assert all(asyncio.run(check()))
