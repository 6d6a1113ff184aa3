"""``agent_states`` (migration 0002): the platform's, read-only to a customer scope.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/agent_states.py``; the sync
twin ``optiinfra_db/repositories/agent_states.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/agent_states.sql``.
"""

from __future__ import annotations

import builtins
from uuid import UUID

from optiinfra_db.aio.repositories._base import UpdatableRepository
from optiinfra_db.enums import AgentStatusDetail
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import (
    AgentState,
    AgentStateCreate,
    AgentStateUpdate,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    page,
)

__all__ = ["AgentStateRepository"]


class AgentStateRepository(UpdatableRepository[AgentState, AgentStateUpdate]):
    """``agent_states``: at most one row per agent."""

    table = "agent_states"
    entity = "agent state"
    record = AgentState
    update_model = AgentStateUpdate

    async def create(self, data: AgentStateCreate) -> AgentState:
        return await self._create(data, AgentStateCreate)

    async def get_for_agent(self, agent_id: UUID | str) -> AgentState | None:
        """The state of one agent, or None."""
        return await self._one("get_for_agent", {"agent_id": check_id(agent_id)})

    async def set_current_workflow(
        self, agent_id: UUID | str, execution_id: UUID | str | None
    ) -> AgentState:
        """Point the agent at the execution it runs now (None: none); creates the
        state row if the agent has none."""
        row = await self._one(
            "set_current_workflow",
            {
                "agent_id": check_id(agent_id),
                "current_workflow_id": None if execution_id is None else check_id(execution_id),
            },
        )
        assert row is not None
        return row

    async def list(
        self,
        *,
        current_status: AgentStatusDetail | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[AgentState]:
        """Agent states newest first."""
        return await self._many(
            "list",
            {
                "current_status": check(AgentStatusDetail | None, current_status),
                **page(limit, after, self.record),
            },
        )
