"""Typed repositories, one per table, and the class that bundles them all.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/``; the sync
repositories (``optiinfra_db/repositories/``) are generated from these files
by ``tools/async_to_sync.py`` (``make generate``; a test fails while they are
stale): one source, two sides. What does no I/O is shared as it is, in
``optiinfra_db/repositories/_values.py`` and ``_lifecycle.py``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from optiinfra_db.aio.repositories.agent_state import (
    AgentCapabilityRepository,
    AgentConfigRepository,
    AgentMetricRepository,
    AgentStateRepository,
)
from optiinfra_db.aio.repositories.core import (
    AgentRepository,
    ApprovalRepository,
    CustomerRepository,
    EventRepository,
    OptimizationRepository,
    RecommendationRepository,
)
from optiinfra_db.aio.repositories.workflow import (
    WorkflowArtifactRepository,
    WorkflowExecutionRepository,
    WorkflowStepRepository,
)
from optiinfra_db.repositories._values import Cursor, page_token, require_connection

__all__ = [
    "AgentCapabilityRepository",
    "AgentConfigRepository",
    "AgentMetricRepository",
    "AgentRepository",
    "AgentStateRepository",
    "ApprovalRepository",
    "AsyncRepositories",
    "Cursor",
    "CustomerRepository",
    "EventRepository",
    "OptimizationRepository",
    "RecommendationRepository",
    "WorkflowArtifactRepository",
    "WorkflowExecutionRepository",
    "WorkflowStepRepository",
    "page_token",
]


class AsyncRepositories:
    """Every repository on one connection, one attribute per table.

    The repositories never commit: wrap calls in a transaction block of the
    connection (or commit yourself) to make them one atomic unit.
    """

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        require_connection(self, conn, psycopg.AsyncConnection)
        self.conn = conn
        self.customers = CustomerRepository(conn)
        self.agents = AgentRepository(conn)
        self.events = EventRepository(conn)
        self.recommendations = RecommendationRepository(conn)
        self.approvals = ApprovalRepository(conn)
        self.optimizations = OptimizationRepository(conn)
        self.agent_configs = AgentConfigRepository(conn)
        self.agent_states = AgentStateRepository(conn)
        self.agent_capabilities = AgentCapabilityRepository(conn)
        self.agent_metrics = AgentMetricRepository(conn)
        self.workflow_executions = WorkflowExecutionRepository(conn)
        self.workflow_steps = WorkflowStepRepository(conn)
        self.workflow_artifacts = WorkflowArtifactRepository(conn)
