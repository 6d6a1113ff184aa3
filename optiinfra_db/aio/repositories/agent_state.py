"""Repositories of the agent-state tables (migration 0002).

Written once, for asyncio, in ``optiinfra_db/aio/repositories/agent_state.py``;
``optiinfra_db/repositories/agent_state.py`` is generated from it (``tools/async_to_sync.py``).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from pydantic import TypeAdapter

from optiinfra_db.aio.repositories._base import Repository, UpdatableRepository
from optiinfra_db.enums import AgentStatusDetail, ConfigType
from optiinfra_db.fieldtypes import Name, Text, check_id
from optiinfra_db.records import (
    AgentCapability,
    AgentCapabilityCreate,
    AgentCapabilityUpdate,
    AgentConfig,
    AgentConfigCreate,
    AgentConfigUpdate,
    AgentMetric,
    AgentMetricCreate,
    AgentState,
    AgentStateCreate,
    AgentStateUpdate,
)
from optiinfra_db.repositories._values import (
    Cursor,
    check,
    json_text,
    page,
    to_params,
    window,
)

__all__ = [
    "AgentCapabilityRepository",
    "AgentConfigRepository",
    "AgentMetricRepository",
    "AgentStateRepository",
]


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
                self.q["copy_with_time"],
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
                self.q["copy_now"],
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
