"""``optimizations`` (migration 0001).

Written once, for asyncio, in ``optiinfra_db/aio/repositories/optimizations.py``; the sync
twin ``optiinfra_db/repositories/optimizations.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/optimizations.sql``.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from optiinfra_db.aio.repositories._base import UpdatableRepository
from optiinfra_db.enums import (
    OptimizationStatus,
)
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import (
    Optimization,
    OptimizationCreate,
    OptimizationUpdate,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    page,
    window,
)

__all__ = ["OptimizationRepository"]


class OptimizationRepository(UpdatableRepository[Optimization, OptimizationUpdate]):
    """``optimizations``."""

    table = "optimizations"
    entity = "optimization"
    record = Optimization
    update_model = OptimizationUpdate

    async def create(self, data: OptimizationCreate) -> Optimization:
        return await self._create(data, OptimizationCreate)

    async def list(
        self,
        customer_id: UUID | str,
        *,
        status: OptimizationStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[Optimization]:
        """A customer's optimizations newest first."""
        return await self._many(
            "list",
            {
                "customer_id": check_id(customer_id),
                "status": check(OptimizationStatus | None, status),
                **window(since, until),
                **page(limit, after, self.record),
            },
        )

    async def list_for_recommendation(
        self,
        recommendation_id: UUID | str,
        *,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[Optimization]:
        """The optimizations carrying out one recommendation, newest first."""
        return await self._many(
            "list_for_recommendation",
            {
                "recommendation_id": check_id(recommendation_id),
                **page(limit, after, self.record),
            },
        )
