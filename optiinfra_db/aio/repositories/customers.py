"""``customers`` (migration 0001): the API key is hashed here.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/customers.py``; the sync
twin ``optiinfra_db/repositories/customers.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/customers.sql``.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from pydantic import ValidationError

from optiinfra_db.aio.repositories._base import UpdatableRepository
from optiinfra_db.enums import (
    CustomerPlan,
    CustomerStatus,
)
from optiinfra_db.errors import CustomerScopeError
from optiinfra_db.fieldtypes import Str255, check_api_key, check_id
from optiinfra_db.records import (
    Customer,
    CustomerCreate,
    CustomerUpdate,
    hash_api_key,
)
from optiinfra_db.sansio.values import (
    Cursor,
    check,
    page,
    to_params,
)

__all__ = ["CustomerRepository"]


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

    async def authenticate(self, api_key: str) -> Customer | None:
        """The customer whose API key this is, or None: what a service calls to
        log a caller in. Works on an ``optiinfra_app`` login with no customer
        set (and on any other), scoped or not: it answers only for the key's
        own customer, so it can't list or probe others; a malformed key reads
        like a wrong one (None, no ValidationError, nothing sent)."""
        try:
            key = check_api_key(api_key)
        except ValidationError:
            return None
        return await self._one("authenticate", {"api_key_hash": hash_api_key(key)})

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
