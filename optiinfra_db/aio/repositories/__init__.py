"""Typed repositories, one per table, and the class that bundles them all.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/``; the sync
repositories (``optiinfra_db/repositories/``) are generated from these files
by ``tools/async_to_sync.py`` (``make generate``; a test fails while they are
stale): one source, two sides. What does no I/O is shared as it is, in
``optiinfra_db/sansio/values.py`` and ``sansio/lifecycle.py``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from optiinfra_db.aio.repositories._base import Repository
from optiinfra_db.aio.repositories.agent_capabilities import AgentCapabilityRepository
from optiinfra_db.aio.repositories.agent_configs import AgentConfigRepository
from optiinfra_db.aio.repositories.agent_metrics import AgentMetricRepository
from optiinfra_db.aio.repositories.agent_states import AgentStateRepository
from optiinfra_db.aio.repositories.agents import AgentRepository
from optiinfra_db.aio.repositories.approvals import ApprovalRepository
from optiinfra_db.aio.repositories.customers import CustomerRepository
from optiinfra_db.aio.repositories.events import EventRepository
from optiinfra_db.aio.repositories.optimizations import OptimizationRepository
from optiinfra_db.aio.repositories.recommendations import RecommendationRepository
from optiinfra_db.aio.repositories.reports import ReportRepository
from optiinfra_db.aio.repositories.workflow_artifacts import WorkflowArtifactRepository
from optiinfra_db.aio.repositories.workflow_executions import WorkflowExecutionRepository
from optiinfra_db.aio.repositories.workflow_steps import WorkflowStepRepository
from optiinfra_db.sansio.scope import customer_scope
from optiinfra_db.sansio.values import Cursor, page_token, require_connection

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
    "ReportRepository",
    "WorkflowArtifactRepository",
    "WorkflowExecutionRepository",
    "WorkflowStepRepository",
    "page_token",
]


class AsyncRepositories:
    """Every repository on one connection, one attribute per table.

    Without ``customer_id`` it is the operator's view, across all customers:
    it sees every row only on a session row-level security does not apply to
    (a superuser, the tables' owner ``optiinfra_owner``, a BYPASSRLS role); on
    an ``optiinfra_app`` session it sees no customer-owned row at all.
    With ``customer_id=...`` it acts for that customer only,
    enforced by PostgreSQL's row-level security: another customer's id
    behaves exactly like a missing one, and creating a row for another
    customer raises CustomerScopeError before any SQL. A connection that
    would bypass the policies (a superuser, a login as ``optiinfra_owner``)
    is refused here, with CustomerScopeError.

    The repositories never commit: wrap calls in a transaction block of the
    connection (or commit yourself) to make them one atomic unit. A scoped
    call sets the customer for the transaction it runs in, in the same round
    trip as its statement, once per transaction.
    """

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], customer_id: UUID | str | None = None
    ) -> None:
        require_connection(self, conn, psycopg.AsyncConnection)
        self.conn = conn
        scope = customer_scope(conn, customer_id)  # checked once, shared below
        #: The customer these repositories act for; None for the operator's view.
        self.customer_id = None if scope is None else scope.customer_id
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
        if scope is not None:  # every repository: the platform's read, and refuse writes
            for repo in vars(self).values():
                if isinstance(repo, Repository):
                    repo.scope = scope
