"""The lists of ``workflow_executions``: a customer's, an agent's, every
run (keyset pages, and streams of any length), what an agent has on its
plate, and counts. A part of ``WorkflowExecutionRepository``
(``workflow_executions.py``), kept apart to keep each module readable.

Written once, for asyncio; the sync twin is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/workflow_executions.sql``.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from uuid import UUID

from optiinfra_db.aio.repositories._base import Reader
from optiinfra_db.enums import WorkflowType
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import WorkflowExecution
from optiinfra_db.sansio.lifecycle import StatusFilter, list_params, page_statement
from optiinfra_db.sansio.values import Cursor, limit_of

__all__ = ["ExecutionLists"]


class ExecutionLists(Reader[WorkflowExecution]):
    """The lists and counts of workflow executions (see WorkflowExecutionRepository)."""

    table = "workflow_executions"

    # -- lists ------------------------------------------------------------------------

    async def list_for_customer(
        self,
        customer_id: UUID | str,
        *,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """A customer's executions newest first; created_at in [since, until)."""
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        params = list_params({"customer_id": check_id(customer_id)}, limit, after, filters)
        return await self._many(page_statement("list_for_customer", filters, params), params)

    def iter_for_customer(
        self,
        customer_id: UUID | str,
        *,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        after: Cursor | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[WorkflowExecution]:
        """Every execution :meth:`list_for_customer` would page through, streamed
        newest first through a server-side cursor, ``batch_size`` rows per round
        trip (bounded memory for an export of any size)."""
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        return self._stream(
            "list_for_customer",
            list_params({"customer_id": check_id(customer_id)}, None, after, filters),
            batch_size,
        )

    async def list_for_agent(
        self,
        agent_id: UUID | str,
        *,
        status: StatusFilter = None,
        workflow_type: WorkflowType | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """An agent's executions newest first."""
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        params = list_params({"agent_id": check_id(agent_id)}, limit, after, filters)
        return await self._many(page_statement("list_for_agent", filters, params), params)

    def iter_for_agent(
        self,
        agent_id: UUID | str,
        *,
        status: StatusFilter = None,
        workflow_type: WorkflowType | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        after: Cursor | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[WorkflowExecution]:
        """Every execution of the agent, streamed newest first (see iter_for_customer)."""
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        return self._stream(
            "list_for_agent",
            list_params({"agent_id": check_id(agent_id)}, None, after, filters),
            batch_size,
        )

    async def list(
        self,
        *,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """All executions newest first (an operator's view)."""
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        return await self._many(
            "list",
            list_params({}, limit, after, filters),
        )

    def iter(
        self,
        *,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        finished_since: datetime | None = None,
        finished_until: datetime | None = None,
        after: Cursor | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[WorkflowExecution]:
        """Every execution, streamed newest first (see iter_for_customer)."""
        filters = (workflow_type, status, since, until, finished_since, finished_until)
        return self._stream(
            "list",
            list_params({}, None, after, filters),
            batch_size,
        )

    async def list_active_for_agent(
        self, agent_id: UUID | str, *, limit: int = 100
    ) -> builtins.list[WorkflowExecution]:
        """The agent's pending and running executions, oldest first."""
        return await self._many(
            "list_active_for_agent", {"agent_id": check_id(agent_id), "limit": limit_of(limit)}
        )

    async def count_active_for_agent(self, agent_id: UUID | str) -> int:
        """How many pending and running executions the agent has."""
        row = await self._fetchone("count_active_for_agent", {"agent_id": check_id(agent_id)})
        assert row is not None
        return int(row[0])

    async def count_by_type(self, customer_id: UUID | str) -> dict[WorkflowType, int]:
        """How many executions the customer has of each workflow type (types with none omitted)."""
        rows = await self._fetchall("count_by_type", {"customer_id": check_id(customer_id)})
        return {WorkflowType(name): count for name, count in rows}
