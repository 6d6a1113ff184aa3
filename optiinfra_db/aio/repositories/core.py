"""Repositories of the core tables (migration 0001).

Written once, for asyncio, in ``optiinfra_db/aio/repositories/core.py``;
``optiinfra_db/repositories/core.py`` is generated from it (``tools/async_to_sync.py``).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from optiinfra_db.aio.repositories._base import Repository, UpdatableRepository
from optiinfra_db.enums import (
    AgentStatus,
    AgentType,
    ApprovalStatus,
    CustomerPlan,
    CustomerStatus,
    EventSeverity,
    EventType,
    OptimizationStatus,
    RecommendationPriority,
    RecommendationStatus,
    RecommendationType,
)
from optiinfra_db.errors import CustomerScopeError
from optiinfra_db.fieldtypes import Name, Str255, check_api_key, check_id
from optiinfra_db.records import (
    Agent,
    AgentCreate,
    AgentUpdate,
    Approval,
    ApprovalCreate,
    ApprovalUpdate,
    Customer,
    CustomerCreate,
    CustomerUpdate,
    Event,
    EventCreate,
    Optimization,
    OptimizationCreate,
    OptimizationUpdate,
    Recommendation,
    RecommendationCreate,
    RecommendationUpdate,
    hash_api_key,
)
from optiinfra_db.repositories._values import (
    Cursor,
    check,
    page,
    to_params,
    window,
)

__all__ = [
    "AgentRepository",
    "ApprovalRepository",
    "CustomerRepository",
    "EventRepository",
    "OptimizationRepository",
    "RecommendationRepository",
]


class CustomerRepository(UpdatableRepository[Customer, CustomerUpdate]):
    """``customers``. The API key is hashed here; only its HMAC is stored
    (see :func:`optiinfra_db.records.hash_api_key`)."""

    table = "customers"
    entity = "customer"
    record = Customer
    update_model = CustomerUpdate

    async def create(self, data: CustomerCreate) -> Customer:
        if not isinstance(data, CustomerCreate):
            raise TypeError(f"create() takes a CustomerCreate, not {type(data).__name__}")
        if self.scope is not None:
            raise CustomerScopeError(
                f"{type(self).__name__} acts for customer {self.scope.customer_id}: "
                "customers are created through the operator's view (no customer_id)"
            )
        params = to_params(data)
        # The key never reaches the database: only its HMAC is bound.
        params["api_key_hash"] = hash_api_key(params.pop("api_key").get_secret_value())
        row = await self._one("create", params)
        assert row is not None
        return row

    async def get_by_email(self, email: str) -> Customer | None:
        return await self._one("get_by_email", {"email": check(Str255, email)})

    async def get_by_api_key(self, api_key: str) -> Customer | None:
        """The customer whose API key this is (hashes, then looks up), or None.

        The key is validated like ``CustomerCreate.api_key`` (a key that could
        never have been stored raises ``ValidationError``, which never shows it).
        """
        key = check_api_key(api_key)
        return await self._one("get_by_api_key_hash", {"api_key_hash": hash_api_key(key)})

    async def update(
        self, id: UUID | str, data: CustomerUpdate, *, expected_updated_at: datetime | None = None
    ) -> Customer:
        """Write exactly the fields set in ``data`` (see ``UpdatableRepository.update``).

        A customer scope may not change ``email``: emails are unique across
        customers, so the answer would tell whether another customer uses one
        (CustomerScopeError, before any SQL; the operator's view changes it)."""
        if self.scope is not None and "email" in getattr(data, "model_fields_set", ()):
            raise CustomerScopeError(
                f"{type(self).__name__} acts for customer {self.scope.customer_id}: a "
                "customer's email is changed through the operator's view (emails are unique "
                "across customers; a scoped answer would tell whether another one uses it)"
            )
        return await super().update(id, data, expected_updated_at=expected_updated_at)

    async def rotate_api_key(self, id: UUID | str, new_api_key: str) -> Customer:
        """Replace the customer's API key (the old one stops working).

        Refused to a customer scope (CustomerScopeError, before any SQL, whatever
        the key): keys are unique across customers, so a scoped answer would
        tell whether another customer holds one. Rotate through the operator's
        view, or the service that issues keys."""
        if self.scope is not None:
            raise CustomerScopeError(
                f"{type(self).__name__} acts for customer {self.scope.customer_id}: API keys "
                "are rotated through the operator's view (keys are unique across customers; "
                "a scoped answer would tell whether another one holds a key)"
            )
        ident = check_id(id)
        params = {"id": ident, "api_key_hash": hash_api_key(check_api_key(new_api_key))}
        return await self._one_or_missing("set_api_key_hash", ident, params)

    async def list(
        self,
        *,
        status: CustomerStatus | None = None,
        plan: CustomerPlan | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> builtins.list[Customer]:
        """Customers newest first."""
        return await self._many(
            "list",
            {
                "status": check(CustomerStatus | None, status),
                "plan": check(CustomerPlan | None, plan),
                **page(limit, after, self.record),
            },
        )


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
