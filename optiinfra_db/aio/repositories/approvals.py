"""``approvals`` (migration 0001).

Written once, for asyncio, in ``optiinfra_db/aio/repositories/approvals.py``; the sync
twin ``optiinfra_db/repositories/approvals.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/approvals.sql``.
"""

from __future__ import annotations

import builtins
from uuid import UUID

from optiinfra_db.aio.repositories._base import UpdatableRepository
from optiinfra_db.enums import (
    ApprovalStatus,
)
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import (
    Approval,
    ApprovalCreate,
    ApprovalUpdate,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    page,
)

__all__ = ["ApprovalRepository"]


class ApprovalRepository(UpdatableRepository[Approval, ApprovalUpdate]):
    """``approvals``."""

    table = "approvals"
    entity = "approval"
    record = Approval
    update_model = ApprovalUpdate

    async def create(self, data: ApprovalCreate) -> Approval:
        return await self._create(data, ApprovalCreate)

    async def list(
        self,
        recommendation_id: UUID | str,
        *,
        status: ApprovalStatus | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[Approval]:
        """A recommendation's approvals newest first."""
        return await self._many(
            "list",
            {
                "recommendation_id": check_id(recommendation_id),
                "status": check(ApprovalStatus | None, status),
                **page(limit, after, self.record),
            },
        )
