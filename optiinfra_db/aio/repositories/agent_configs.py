"""``agent_configs`` (migration 0002): the platform's, read-only to a customer scope.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/agent_configs.py``; the sync
twin ``optiinfra_db/repositories/agent_configs.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/agent_configs.sql``.
"""

from __future__ import annotations

import builtins
from uuid import UUID

from optiinfra_db.aio.repositories._base import UpdatableRepository
from optiinfra_db.enums import ConfigType
from optiinfra_db.fieldtypes import Name, check_id
from optiinfra_db.records import (
    AgentConfig,
    AgentConfigCreate,
    AgentConfigUpdate,
)
from optiinfra_db.sansio.values import (
    check,
    to_params,
)

__all__ = ["AgentConfigRepository"]


class AgentConfigRepository(UpdatableRepository[AgentConfig, AgentConfigUpdate]):
    """``agent_configs``: one row per (agent, key)."""

    table = "agent_configs"
    entity = "agent config"
    record = AgentConfig
    update_model = AgentConfigUpdate

    async def create(self, data: AgentConfigCreate) -> AgentConfig:
        return await self._create(data, AgentConfigCreate)

    async def set(
        self,
        agent_id: UUID | str,
        key: str,
        value: str,
        config_type: ConfigType = ConfigType.STRING,
        description: str | None = None,
    ) -> AgentConfig:
        """Insert or overwrite one setting (an upsert, one statement)."""
        data = AgentConfigCreate(
            agent_id=check_id(agent_id),
            config_key=key,
            config_value=value,
            config_type=config_type,
            description=description,
        )
        row = await self._one("upsert", to_params(data))
        assert row is not None
        return row

    async def get_for_agent(self, agent_id: UUID | str, key: str) -> AgentConfig | None:
        """One setting of one agent, or None."""
        return await self._one(
            "get_for_agent", {"agent_id": check_id(agent_id), "config_key": check(Name, key)}
        )

    async def list_for_agent(self, agent_id: UUID | str) -> builtins.list[AgentConfig]:
        """All settings of one agent, by key."""
        return await self._many("list_for_agent", {"agent_id": check_id(agent_id)})

    async def list(self, agent_id: UUID | str) -> builtins.list[AgentConfig]:
        """Same as :meth:`list_for_agent` (an agent has a bounded set of keys)."""
        return await self.list_for_agent(agent_id)
