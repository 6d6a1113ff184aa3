"""``reports``: read-only reports across tables, what the command line prints.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/reports.py``; the
sync twin ``optiinfra_db/repositories/reports.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/reports.sql``.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from optiinfra_db.aio.repositories._base import Reader
from optiinfra_db.enums import WorkflowType
from optiinfra_db.fieldtypes import Text, check_id
from optiinfra_db.records import NameMatch, RunParties, RunSummary
from optiinfra_db.sansio.lifecycle import StatusFilter, statuses_of
from optiinfra_db.sansio.values import check, limit_of, window

__all__ = ["ReportRepository"]


class ReportRepository(Reader[RunSummary]):
    """What ``optiinfra-db runs list`` / ``runs show`` print, as records, so a
    service can show the same. Built like a repository:
    ``ReportRepository(conn)`` for the operator's view,
    ``ReportRepository(conn, customer_id=...)`` for one customer (row-level
    security decides what it sees). Not part of ``Repositories``, which
    holds one repository per table."""

    table = "reports"
    entity = "report"
    record = RunSummary

    @staticmethod
    def _runs_params(
        customer_id: UUID | str | None,
        agent_id: UUID | str | None,
        workflow_type: WorkflowType | None,
        status: StatusFilter,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
    ) -> dict[str, Any]:
        return {
            "customer_id": None if customer_id is None else check_id(customer_id),
            "agent_id": None if agent_id is None else check_id(agent_id),
            "workflow_type": check(WorkflowType | None, workflow_type),
            "statuses": statuses_of(status),
            **window(since, until),
            "limit": None if limit is None else limit_of(limit),
        }

    async def runs(
        self,
        *,
        customer_id: UUID | str | None = None,
        agent_id: UUID | str | None = None,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
    ) -> builtins.list[RunSummary]:
        """Executions newest first (created in [``since``, ``until``); ``status``:
        one status or several), at most
        ``limit`` (1..10,000), each with its customer's and agent's names,
        its duration and its step counts."""
        params = self._runs_params(
            customer_id, agent_id, workflow_type, status, since, until, limit
        )
        return await self._many("runs", params)

    def iter_runs(
        self,
        *,
        customer_id: UUID | str | None = None,
        agent_id: UUID | str | None = None,
        workflow_type: WorkflowType | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[RunSummary]:
        """Every matching execution as ``runs`` reports it, streamed through a
        server-side cursor (``batch_size`` rows per round trip)."""
        params = self._runs_params(customer_id, agent_id, workflow_type, status, since, until, None)
        return self._stream("runs", params, batch_size)

    async def run_parties(self, id: UUID | str) -> RunParties | None:
        """The customer and agent of one execution (None: no such execution)."""
        return await self._one_of(RunParties, "run_parties", {"id": check_id(id)})

    async def latest_failed(self) -> UUID | None:
        """The id of the most recently created failed execution, if any."""
        row = await self._fetchone("latest_failed", {})
        return None if row is None else check_id(row[0])

    async def find_customers(self, key: str) -> builtins.list[NameMatch]:
        """Customers whose id, e-mail or name is ``key``: at most two (two
        means the text names several; ask for the id)."""
        return await self._matches("find_customers", key)

    async def find_agents(self, key: str) -> builtins.list[NameMatch]:
        """Agents whose id or name is ``key``: at most two."""
        return await self._matches("find_agents", key)

    async def _matches(self, name: str, key: str) -> builtins.list[NameMatch]:
        return await self._many_of(NameMatch, name, {"key": check(Text, key)})
