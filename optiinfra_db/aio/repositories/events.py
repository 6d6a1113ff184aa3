"""``events`` (migration 0001).

Written once, for asyncio, in ``optiinfra_db/aio/repositories/events.py``; the sync
twin ``optiinfra_db/repositories/events.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/events.sql``.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from optiinfra_db.aio.repositories._base import Repository
from optiinfra_db.enums import (
    EventSeverity,
    EventType,
)
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.records import (
    Event,
    EventCreate,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    page,
    window,
)

__all__ = ["EventRepository"]


class EventRepository(Repository[Event]):
    """``events``: append-only (no update)."""

    table = "events"
    entity = "event"
    record = Event

    async def create(self, data: EventCreate) -> Event:
        return await self._create(data, EventCreate)

    async def list(
        self,
        customer_id: UUID | str,
        *,
        event_type: EventType | None = None,
        severity: EventSeverity | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[Event]:
        """A customer's events newest first."""
        return await self._many(
            "list",
            self._filters(
                "customer_id", customer_id, event_type, severity, since, until, limit, after
            ),
        )

    async def list_for_agent(
        self,
        agent_id: UUID | str,
        *,
        event_type: EventType | None = None,
        severity: EventSeverity | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[Event]:
        """An agent's events newest first."""
        return await self._many(
            "list_for_agent",
            self._filters("agent_id", agent_id, event_type, severity, since, until, limit, after),
        )

    @staticmethod
    def _filters(
        key: str,
        owner: UUID | str,
        event_type: EventType | None,
        severity: EventSeverity | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        after: Cursor | None,
    ) -> dict[str, object]:
        return {
            key: check_id(owner),
            "event_type": check(EventType | None, event_type),
            "severity": check(EventSeverity | None, severity),
            **window(since, until),
            **page(limit, after, Event),
        }
