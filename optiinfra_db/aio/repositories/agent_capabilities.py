"""``agent_capabilities`` (migration 0002): the platform's, read-only to a customer scope.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/agent_capabilities.py``; the sync
twin ``optiinfra_db/repositories/agent_capabilities.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/agent_capabilities.sql``.
"""

from __future__ import annotations

import builtins
from uuid import UUID

from optiinfra_db.aio.repositories._base import UpdatableRepository
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import (
    AgentCapability,
    AgentCapabilityCreate,
    AgentCapabilityUpdate,
)
from optiinfra_db.sansio.values import (
    check,
)

__all__ = ["AgentCapabilityRepository"]


class AgentCapabilityRepository(UpdatableRepository[AgentCapability, AgentCapabilityUpdate]):
    """``agent_capabilities``: several versions of one capability may coexist."""

    table = "agent_capabilities"
    entity = "agent capability"
    record = AgentCapability
    update_model = AgentCapabilityUpdate

    async def create(self, data: AgentCapabilityCreate) -> AgentCapability:
        return await self._create(data, AgentCapabilityCreate)

    async def list_for_agent(
        self, agent_id: UUID | str, *, enabled: bool | None = None
    ) -> builtins.list[AgentCapability]:
        """One agent's capabilities by name and version; ``enabled`` filters when given."""
        return await self._many(
            "list_for_agent",
            {"agent_id": check_id(agent_id), "enabled": check(bool | None, enabled)},
        )

    async def list(
        self, agent_id: UUID | str, *, enabled: bool | None = None
    ) -> builtins.list[AgentCapability]:
        """Same as :meth:`list_for_agent`."""
        return await self.list_for_agent(agent_id, enabled=enabled)
