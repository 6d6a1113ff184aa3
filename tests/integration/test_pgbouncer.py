"""Behind PgBouncer in transaction mode (run by .ci/run with
OPTIINFRA_TEST_PGBOUNCER set; without a PgBouncer these tests are deselected).

Before 1.21, PgBouncer lets every client of a server connection see the
prepared statements another client made there: with psycopg's default
preparation one client's ``get`` could run another's ``DELETE``. The library
detects the pooler at connect time and does not prepare."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import optiinfra_db as odb
from tests.conftest import PGBOUNCER, World
from tests.sides import api

pytestmark = pytest.mark.skipif(not PGBOUNCER, reason="needs OPTIINFRA_TEST_PGBOUNCER")


def test_library_detects_the_pooler_and_does_not_prepare(db_dsn: str) -> None:
    with api.connect(db_dsn, statement_timeout=None, lock_timeout=None) as conn:
        assert conn.prepare_threshold is None
    with (
        api.create_pool(
            db_dsn, min_size=1, max_size=1, statement_timeout=None, lock_timeout=None
        ) as pool,
        pool.connection() as conn,
    ):
        assert conn.prepare_threshold is None


def test_many_clients_over_few_server_connections_lose_nothing(db_dsn: str, world: World) -> None:
    """8 clients, each with its own rows, through a pool of 3 server connections;
    every client reads, merges and deletes repeatedly (what broke with prepared
    statements shared by name)."""
    failures: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with api.connect(db_dsn, statement_timeout=None, lock_timeout=None) as conn:
                repos = api.Repositories(conn)
                for i in range(40):
                    with conn.transaction():
                        run = repos.workflow_executions.create(
                            odb.WorkflowExecutionCreate(
                                agent_id=world.agent.id,
                                customer_id=world.customer.id,
                                workflow_type=odb.WorkflowType.HEALTH_CHECK,
                                metadata={"client": n, "i": i},
                            )
                        )
                    with conn.transaction():
                        got = repos.workflow_executions.get(run.id)
                        assert got is not None and got.metadata == {"client": n, "i": i}
                        repos.workflow_executions.merge_metadata(run.id, {"seen": True})
                    if i % 2:
                        with conn.transaction():
                            assert repos.workflow_executions.delete(run.id)
        except BaseException as exc:  # collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with api.connect(db_dsn, statement_timeout=None, lock_timeout=None) as conn:
        rows: list[Any] = api.Repositories(conn).workflow_executions.list(limit=1000)
    kept = [r for r in rows if "client" in r.metadata]
    assert len(kept) == 8 * 20 and all(r.metadata.get("seen") for r in kept)
