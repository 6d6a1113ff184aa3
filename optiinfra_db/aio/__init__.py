"""The library for asyncio services: ``import optiinfra_db.aio as odb_aio``.

Everything here is the twin of the sync API of the same name, as a
coroutine (``await``), on a ``psycopg.AsyncConnection``: same SQL catalog,
same records, same errors raised from the same mapping point, same
arguments and defaults.

* ``await connect(conninfo, **kw)`` / ``await create_pool(conninfo, **kw)``
  (a ``psycopg_pool.AsyncConnectionPool``, opened unless ``open=False``) /
  ``configure_connection`` (for ``AsyncConnectionPool(configure=...)`` of
  your own).
* ``AsyncRepositories(aconn)``: one attribute per table; every repository
  method is a coroutine; the ``iter*`` streams are async iterators.
* ``ReportRepository(aconn)``: the command line's reports as records.
* ``watch(...)``: an async iterator; ``wait_for_work(...)``, ``purge(...)``
  and ``purge_count(...)``: coroutines.
* ``run_worker(pool, handler, ...)``: the worker loop, handlers as coroutine
  functions given a ``Job`` (``odb.Retry`` / ``odb.Fail`` are the sync
  package's).

Records, enums and errors are the sync package's (``optiinfra_db``).
Migrations stay on yoyo, which is sync: run them at start-up in a thread
(``await asyncio.to_thread(optiinfra_db.migrate, dsn)``).

How one source serves both sides: the code in this package is the only
hand-written copy; the sync modules are generated from it by
``tools/async_to_sync.py`` (see there).
"""

from __future__ import annotations

from optiinfra_db.aio.cluster import Cluster, create_cluster, write_token
from optiinfra_db.aio.db import (
    configure_connection,
    connect,
    create_pool,
    execute,
    fetch_all,
    stream_all,
    stream_batches,
    use_app_role,
)
from optiinfra_db.aio.live import log_position, wait_for_work, watch
from optiinfra_db.aio.partitions import (
    TransitionPartition,
    ensure_partitions,
    list_partitions,
    partition_gaps,
)
from optiinfra_db.aio.repositories import (
    AgentCapabilityRepository,
    AgentConfigRepository,
    AgentMetricRepository,
    AgentRepository,
    AgentStateRepository,
    ApprovalRepository,
    AsyncRepositories,
    CustomerRepository,
    EventRepository,
    OptimizationRepository,
    RecommendationRepository,
    ReportRepository,
    WorkflowArtifactRepository,
    WorkflowExecutionRepository,
    WorkflowStepRepository,
)
from optiinfra_db.aio.retention import PurgeBatch, PurgeResult, purge, purge_count
from optiinfra_db.aio.worker import Job, run_worker

__all__ = [
    "AgentCapabilityRepository",
    "AgentConfigRepository",
    "AgentMetricRepository",
    "AgentRepository",
    "AgentStateRepository",
    "ApprovalRepository",
    "AsyncRepositories",
    "Cluster",
    "CustomerRepository",
    "EventRepository",
    "Job",
    "OptimizationRepository",
    "PurgeBatch",
    "PurgeResult",
    "RecommendationRepository",
    "ReportRepository",
    "TransitionPartition",
    "WorkflowArtifactRepository",
    "WorkflowExecutionRepository",
    "WorkflowStepRepository",
    "configure_connection",
    "connect",
    "create_cluster",
    "create_pool",
    "ensure_partitions",
    "execute",
    "fetch_all",
    "list_partitions",
    "log_position",
    "partition_gaps",
    "purge",
    "purge_count",
    "run_worker",
    "stream_all",
    "stream_batches",
    "use_app_role",
    "wait_for_work",
    "watch",
    "write_token",
]
