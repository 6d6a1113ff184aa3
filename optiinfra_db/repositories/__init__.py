"""Typed repositories, one per table, and ``Repositories`` that bundles them."""

from __future__ import annotations

from typing import Any

import psycopg

from optiinfra_db.repositories._base import Cursor, page_token
from optiinfra_db.repositories.agent_state import (
    AgentCapabilityRepository,
    AgentConfigRepository,
    AgentMetricRepository,
    AgentStateRepository,
)
from optiinfra_db.repositories.core import (
    AgentRepository,
    ApprovalRepository,
    CustomerRepository,
    EventRepository,
    OptimizationRepository,
    RecommendationRepository,
)
from optiinfra_db.repositories.workflow import (
    WorkflowArtifactRepository,
    WorkflowExecutionRepository,
    WorkflowStepRepository,
)

__all__ = [
    "AgentCapabilityRepository",
    "AgentConfigRepository",
    "AgentMetricRepository",
    "AgentRepository",
    "AgentStateRepository",
    "ApprovalRepository",
    "Cursor",
    "CustomerRepository",
    "EventRepository",
    "OptimizationRepository",
    "RecommendationRepository",
    "Repositories",
    "WorkflowArtifactRepository",
    "WorkflowExecutionRepository",
    "WorkflowStepRepository",
    "page_token",
]


class Repositories:
    """Every repository on one connection, one attribute per table.

    The repositories never commit: wrap calls in ``with conn.transaction():``
    (or commit yourself) to make them one atomic unit.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
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
