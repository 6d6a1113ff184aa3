"""A customer scope: what a ``Repositories(conn, customer_id=...)`` sends so
that PostgreSQL's row-level security (migration 0013) shows and lets it
change only that customer's rows. No I/O here; both sides use it as it is.

The policies read the transaction-local setting ``optiinfra.customer_id``.
A scoped statement is sent in one pipeline behind ``meta.set_customer_scope``
(one round trip) unless the current transaction already acts for the
customer, which the client knows without asking: that statement also sets
``application_name`` to a mark for the transaction, and the server reports
every change of ``application_name`` (ParameterStatus), including its return
to the session's value when the transaction or the savepoint ends. So inside
a transaction only the first scoped statement pays anything, and a
transaction the caller ended and began again (with any statement of theirs)
is noticed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from uuid import UUID

from psycopg import pq

from optiinfra_db.errors import CustomerScopeError
from optiinfra_db.fieldtypes import check_id
from optiinfra_db.queries import CATALOG

__all__ = ["SET_ONCE", "SET_SCOPE", "Scope", "customer_scope"]

SET_SCOPE = CATALOG["meta.set_customer_scope"].sql
SET_ONCE = CATALOG["meta.set_customer_once"].sql

_INTRANS = pq.TransactionStatus.INTRANS
_IDLE = pq.TransactionStatus.IDLE

#: The key of the transaction marks, new in every process.
_MARK_KEY = secrets.token_bytes(32)

#: Logins whose sessions bypass row-level security by owning the tables.
_OWNER = b"optiinfra_owner"


class Scope:
    """The customer a scoped repository acts for, and its transaction mark."""

    __slots__ = ("customer_id", "mark", "params")

    def __init__(self, customer_id: UUID) -> None:
        self.customer_id = customer_id
        # Every session may read application_name (pg_stat_activity): the
        # mark names no customer, only a keyed digest of it that this process
        # alone can compute (one customer, one mark, within the process).
        digest = hmac.new(_MARK_KEY, customer_id.bytes, hashlib.sha256).hexdigest()[:20]
        mark = f"optiinfra scope {digest}"
        self.mark = mark.encode()
        self.params: dict[str, Any] = {"customer_id": str(customer_id), "mark": mark}

    def needed(self, pgconn: pq.abc.PGconn) -> bool:
        """Whether the next statement must set the customer first: unless the
        current transaction (or savepoint) already did, for this customer."""
        return not (
            pgconn.transaction_status == _INTRANS
            and pgconn.parameter_status(b"application_name") == self.mark
        )

    def statement(self, conn: Any) -> tuple[Any, dict[str, Any]]:
        """What sets the customer before the next statement: with the mark,
        unless that statement is a transaction of its own (autocommit, no
        transaction block open), which needs none."""
        if conn.autocommit and conn.pgconn.transaction_status == _IDLE:
            return SET_ONCE, self.params
        return SET_SCOPE, self.params

    def refuse(self, owner: str, data: Any) -> None:
        """Raise CustomerScopeError (before any SQL) if ``data`` is a row for
        another customer."""
        theirs = getattr(data, "customer_id", self.customer_id)
        if theirs != self.customer_id:
            raise CustomerScopeError(
                f"{owner} acts for customer {self.customer_id}: it cannot create a row "
                f"for customer {theirs}"
            )


def customer_scope(conn: Any, customer_id: UUID | str | None) -> Scope | None:
    """The scope for ``customer_id`` on ``conn`` (None: the operator's view).

    Refuses, at construction and without a round trip, a session PostgreSQL
    would not apply the policies to: a superuser (the server reports
    ``is_superuser``, also after SET ROLE) or a login as the tables' owner
    ``optiinfra_owner`` (reported ``session_authorization``). A role with
    BYPASSRLS, or SET ROLE to the owner, is not detected: do not scope such
    sessions.
    """
    if customer_id is None:
        return None
    ident = check_id(customer_id)
    status = conn.pgconn.parameter_status
    if status(b"is_superuser") == b"on":
        raise CustomerScopeError(
            "a customer scope needs a session that row-level security applies to; "
            f"this one is a superuser ({(status(b'session_authorization') or b'?').decode()}), "
            "which bypasses it: connect as a member of optiinfra_app"
        )
    if status(b"session_authorization") == _OWNER:
        raise CustomerScopeError(
            "a customer scope needs a session that row-level security applies to; "
            "optiinfra_owner owns the tables and bypasses it: connect as a member of optiinfra_app"
        )
    return Scope(ident)
