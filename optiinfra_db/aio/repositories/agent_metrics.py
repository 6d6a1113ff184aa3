"""``agent_metrics`` (migration 0002): the platform's, read-only to a customer scope.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/agent_metrics.py``; the sync
twin ``optiinfra_db/repositories/agent_metrics.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/agent_metrics.sql``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from pydantic import TypeAdapter

from optiinfra_db.aio.repositories._base import Repository
from optiinfra_db.fieldtypes import Name, Text, check_id
from optiinfra_db.records import (
    AgentMetric,
    AgentMetricCreate,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    json_text,
    page,
    window,
)

__all__ = ["AgentMetricRepository"]


_METRICS = TypeAdapter(list[AgentMetricCreate])


class AgentMetricRepository(Repository[AgentMetric]):
    """``agent_metrics``: an append-only time series (no update)."""

    table = "agent_metrics"
    entity = "agent metric"
    record = AgentMetric

    async def create(self, data: AgentMetricCreate) -> AgentMetric:
        return await self._create(data, AgentMetricCreate)

    async def record_many(self, metrics: Iterable[AgentMetricCreate]) -> int:
        """Bulk insert through COPY; returns the number of samples written.

        Samples without ``recorded_at`` get the database's now(). All are
        validated before anything is sent; on error nothing is written (the
        caller's transaction is aborted, as with any failed statement).
        """
        items = _METRICS.validate_python(list(metrics))
        timed = [m for m in items if m.recorded_at is not None]
        untimed = [m for m in items if m.recorded_at is None]
        written = 0
        if timed:
            written += await self._copy(
                "copy_with_time",
                [
                    (
                        m.agent_id,
                        m.metric_name,
                        m.metric_value,
                        m.metric_type.value,
                        json_text(m.tags),
                        m.recorded_at,
                    )
                    for m in timed
                ],
            )
        if untimed:
            written += await self._copy(
                "copy_now",
                [
                    (
                        m.agent_id,
                        m.metric_name,
                        m.metric_value,
                        m.metric_type.value,
                        json_text(m.tags),
                    )
                    for m in untimed
                ],
            )
        return written

    async def series(
        self,
        agent_id: UUID | str,
        metric_name: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[AgentMetric]:
        """One agent's samples of one metric in [since, until), oldest first."""
        return await self._many(
            "series",
            {
                "agent_id": check_id(agent_id),
                "metric_name": check(Name, metric_name),
                **window(since, until),
            },
        )

    async def list(
        self,
        agent_id: UUID | str,
        *,
        metric_name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[AgentMetric]:
        """One agent's samples newest first (by recorded_at)."""
        return await self._many(
            "list",
            {
                "agent_id": check_id(agent_id),
                "metric_name": check(Text | None, metric_name),
                **window(since, until),
                **page(limit, after, self.record, "recorded_at"),
            },
        )
