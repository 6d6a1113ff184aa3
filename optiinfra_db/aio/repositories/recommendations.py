"""``recommendations`` (migration 0001).

Written once, for asyncio, in ``optiinfra_db/aio/repositories/recommendations.py``; the sync
twin ``optiinfra_db/repositories/recommendations.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/recommendations.sql``.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from optiinfra_db.aio.repositories._base import UpdatableRepository
from optiinfra_db.enums import (
    RecommendationPriority,
    RecommendationStatus,
    RecommendationType,
)
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import (
    Recommendation,
    RecommendationCreate,
    RecommendationUpdate,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    page,
    window,
)

__all__ = ["RecommendationRepository"]


class RecommendationRepository(UpdatableRepository[Recommendation, RecommendationUpdate]):
    """``recommendations``."""

    table = "recommendations"
    entity = "recommendation"
    record = Recommendation
    update_model = RecommendationUpdate

    async def create(self, data: RecommendationCreate) -> Recommendation:
        return await self._create(data, RecommendationCreate)

    async def list(
        self,
        customer_id: UUID | str,
        *,
        status: RecommendationStatus | None = None,
        type: RecommendationType | None = None,
        priority: RecommendationPriority | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[Recommendation]:
        """A customer's recommendations newest first."""
        return await self._many(
            "list",
            {
                "customer_id": check_id(customer_id),
                "status": check(RecommendationStatus | None, status),
                "type": check(RecommendationType | None, type),
                "priority": check(RecommendationPriority | None, priority),
                **window(since, until),
                **page(limit, after, self.record),
            },
        )

    async def list_for_agent(
        self,
        agent_id: UUID | str,
        *,
        status: RecommendationStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[Recommendation]:
        """An agent's recommendations newest first."""
        return await self._many(
            "list_for_agent",
            {
                "agent_id": check_id(agent_id),
                "status": check(RecommendationStatus | None, status),
                **window(since, until),
                **page(limit, after, self.record),
            },
        )
