"""The sides a test runs on, visible where the test is written.

A test written once in blocking style calls the library's I/O through
``api`` (``from tests.sides import api``): ``api.connect(dsn)``,
``api.Repositories(conn)``, ``api.watch(...)``. What ``api`` is depends on the
``side`` the test runs on (``tests/conftest.py``):

* ``sync``: the names of ``optiinfra_db``, as they are;
* ``async``: their ``optiinfra_db.aio`` twins behind the blocking bridge
  (``tests/aio_bridge.py``);
* ``tenant`` / ``tenant-async``: either of those, logging in as an
  ``optiinfra_app`` user with customer-scoped repositories
  (``tests/tenant_harness.py``).

``IO_API`` is the one list of those names; ``tests/unit/test_exports.py``
checks it equals what both sides export, and that no integration test calls
one through ``optiinfra_db`` directly (it would run on the sync side only).
``api`` has nothing else: a name missing from the list is an AttributeError,
never a silent fallback to the sync side.

A statement a test writes itself (a raw ``UPDATE`` that ages a lease, a
``SELECT`` checking what the database holds) goes through ``own_sql(conn,
...)``: on a tenant side it runs for the test's customer, as a service's
own SQL would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optiinfra_db as odb

#: Every public name that does I/O: the sync side's name -> its asyncio twin.
IO_API: dict[str, str] = {
    "connect": "connect",
    "create_pool": "create_pool",
    "configure_connection": "configure_connection",
    "execute": "execute",
    "fetch_all": "fetch_all",
    "stream_all": "stream_all",
    "stream_batches": "stream_batches",
    "use_app_role": "use_app_role",
    "watch": "watch",
    "log_position": "log_position",
    "wait_for_work": "wait_for_work",
    "purge": "purge",
    "purge_count": "purge_count",
    "list_partitions": "list_partitions",
    "ensure_partitions": "ensure_partitions",
    "partition_gaps": "partition_gaps",
    "run_worker": "run_worker",
    "create_cluster": "create_cluster",
    "write_token": "write_token",
    "Repositories": "AsyncRepositories",
    "ReportRepository": "ReportRepository",
    "AgentCapabilityRepository": "AgentCapabilityRepository",
    "AgentConfigRepository": "AgentConfigRepository",
    "AgentMetricRepository": "AgentMetricRepository",
    "AgentRepository": "AgentRepository",
    "AgentStateRepository": "AgentStateRepository",
    "ApprovalRepository": "ApprovalRepository",
    "CustomerRepository": "CustomerRepository",
    "EventRepository": "EventRepository",
    "OptimizationRepository": "OptimizationRepository",
    "RecommendationRepository": "RecommendationRepository",
    "WorkflowArtifactRepository": "WorkflowArtifactRepository",
    "WorkflowExecutionRepository": "WorkflowExecutionRepository",
    "WorkflowStepRepository": "WorkflowStepRepository",
}


class Api:
    """One side's implementation of every name in IO_API (and nothing else)."""

    def __init__(self, side: str, impl: dict[str, Callable[..., Any]]) -> None:
        missing = set(IO_API) - set(impl)
        assert not missing, f"side {side} lacks {sorted(missing)}"
        self.side = side
        self._impl = impl
        #: The tenant side's customer bookkeeping (None on the other sides).
        self.tenant: Any = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_impl"][name]
        except KeyError:
            raise AttributeError(f"{name!r} is not in tests.sides.IO_API") from None

    def with_(self, side: str, **replaced: Callable[..., Any]) -> Api:
        """This API with some names replaced (the tenant side's logins)."""
        return Api(side, {**self._impl, **replaced})


def sync_api() -> Api:
    return Api("sync", {name: getattr(odb, name) for name in IO_API})


_active: Api = sync_api()


class _Current:
    """``api``: the API of the side the running test is on."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_active, name)

    def __repr__(self) -> str:
        return f"<api: side {_active.side}>"


api: Any = _Current()


def activate(side_api: Api | None) -> None:
    """Make ``side_api`` the one ``api`` means (None: back to sync)."""
    global _active
    _active = side_api if side_api is not None else sync_api()


def current() -> Api:
    return _active


_SET_LOCAL = "SELECT set_config('optiinfra.customer_id', %s, true)"


def own_sql(conn: Any, query: Any, params: Any = None) -> Any:
    """Run a test's own statement on a library connection and return the
    cursor (as ``conn.execute`` does). On a tenant side, once the test has a
    customer, the statement runs for that customer: the transaction's
    ``optiinfra.customer_id`` is set first, as a service's own SQL would set it
    (an operator's superuser connection needs, and gets, nothing)."""
    tenant = _active.tenant
    if tenant is not None and tenant.customer_id is not None and tenant.is_app(conn):
        conn.execute(_SET_LOCAL, (str(tenant.customer_id),))
    return conn.execute(query, params)


def make_due(conn: Any) -> None:
    """Make every backed-off pending run claimable now, in its place by
    creation time, in the caller's transaction (a requeued run waits out its
    backoff, about 2 s after a first attempt: a test need not)."""
    own_sql(
        conn,
        "UPDATE workflow_executions SET run_after = NULL"
        " WHERE status = 'pending' AND run_after > now()",
    )
