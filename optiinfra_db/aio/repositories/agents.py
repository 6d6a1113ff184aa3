"""``agents`` (migration 0001): the platform's, read-only to a customer scope.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/agents.py``; the sync
twin ``optiinfra_db/repositories/agents.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/agents.sql``.
"""

from __future__ import annotations

import builtins
from uuid import UUID

from optiinfra_db.aio.repositories._base import UpdatableRepository
from optiinfra_db.enums import (
    AgentStatus,
    AgentType,
)
from optiinfra_db.fieldtypes import Name, check_id
from optiinfra_db.records import (
    Agent,
    AgentCreate,
    AgentUpdate,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    page,
)

__all__ = ["AgentRepository"]


class AgentRepository(UpdatableRepository[Agent, AgentUpdate]):
    """``agents``: unique by (type, name)."""

    table = "agents"
    entity = "agent"
    record = Agent
    update_model = AgentUpdate

    async def create(self, data: AgentCreate) -> Agent:
        return await self._create(data, AgentCreate)

    async def get_by_type_and_name(self, type: AgentType, name: str) -> Agent | None:
        return await self._one(
            "get_by_type_and_name", {"type": check(AgentType, type), "name": check(Name, name)}
        )

    async def heartbeat(self, id: UUID | str, status: AgentStatus | None = None) -> Agent:
        """Record a heartbeat now (and the status, if given)."""
        ident = check_id(id)
        return await self._one_or_missing(
            "heartbeat", ident, {"id": ident, "status": check(AgentStatus | None, status)}
        )

    async def list(
        self,
        *,
        type: AgentType | None = None,
        status: AgentStatus | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[Agent]:
        """Agents newest first."""
        return await self._many(
            "list",
            {
                "type": check(AgentType | None, type),
                "status": check(AgentStatus | None, status),
                **page(limit, after, self.record),
            },
        )
