"""The reports' records (``sql/reports.sql``): what ``optiinfra-db runs list``
and ``runs show`` print, read by ``ReportRepository`` so a service can show
the same."""

from __future__ import annotations

from uuid import UUID

from pydantic import AwareDatetime

from optiinfra_db.enums import AgentType, WorkflowStatus, WorkflowType
from optiinfra_db.records._base import Record


class RunSummary(Record):
    """One execution as a list shows it: its customer's and agent's names,
    how long it ran, how many steps it has and how many of them failed."""

    id: UUID
    created_at: AwareDatetime
    workflow_type: WorkflowType
    status: WorkflowStatus
    customer: str
    agent: str
    #: The current (or last) attempt's start.
    started_at: AwareDatetime | None
    #: The first attempt's start, kept across requeues.
    first_started_at: AwareDatetime | None
    completed_at: AwareDatetime | None
    #: completed_at - first_started_at in seconds; None until both are set.
    duration_s: float | None
    steps: int
    failed_steps: int
    #: Higher is claimed first.
    priority: int
    #: Not claimable before it (None: from its creation).
    run_after: AwareDatetime | None
    idempotency_key: str | None
    attempt: int
    max_attempts: int


class RunParties(Record):
    """Who an execution ran for and on: its customer and its agent."""

    customer_name: str
    customer_email: str
    agent_name: str
    agent_type: AgentType


class NameMatch(Record):
    """A customer or agent whose id, name (or e-mail) matched a search."""

    id: UUID
    name: str
