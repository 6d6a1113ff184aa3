"""Domain errors, and the one place psycopg errors are mapped to them.

Every error is a :class:`RepositoryError`. Those raised for a database error
are chained from it (``__cause__``) and carry the violated constraint's name.
A constraint violation aborts the caller's transaction (PostgreSQL's rule), so
the caller rolls back; a refused lifecycle transition or a missing id does
not: nothing failed inside the server.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import errors as pg

__all__ = [
    "ConflictError",
    "ConnectionLostError",
    "ConstraintViolationError",
    "DeadlockError",
    "InvalidReferenceError",
    "InvalidTransitionError",
    "LeaseLostError",
    "LockTimeoutError",
    "NotFoundError",
    "QueryCanceledError",
    "RepositoryError",
    "RowDecodeError",
    "SerializationError",
    "TransientError",
    "wrap_errors",
]


class RepositoryError(Exception):
    """Base class of every error the repositories raise."""

    def __init__(self, message: str, *, constraint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.constraint = constraint


class NotFoundError(RepositoryError):
    """The row asked for does not exist."""

    def __init__(self, entity: str, id: Any) -> None:
        super().__init__(f"{entity} {id} does not exist")
        self.entity = entity
        self.id = id


class ConflictError(RepositoryError):
    """The write conflicts with the row as it is: a unique constraint refused it
    (the row already exists), the row changed since the caller read it
    (``expected_updated_at``), or the row is finished and no longer changes."""


class RowDecodeError(RepositoryError):
    """A row in the database can't be decoded into its record (written by hand,
    outside the library's validation). Names the table and the row's id."""

    def __init__(self, table: str, id: Any, detail: str) -> None:
        super().__init__(f"{table} row {id} can't be read back: {detail}")
        self.table = table
        self.id = id


class TransientError(RepositoryError):
    """The server gave up on the statement for a reason of the moment (a
    timeout, a lock, a conflict with another transaction, a lost connection).

    ``retry_safe`` says whether running the whole transaction again is safe:
    True when the server rolled it back, so nothing of it was committed.
    """

    retry_safe: bool = True

    def __init__(self, message: str, *, retry_safe: bool | None = None) -> None:
        super().__init__(message)
        if retry_safe is not None:
            self.retry_safe = retry_safe


class QueryCanceledError(TransientError):
    """statement_timeout passed (or the statement was cancelled); the
    transaction is aborted and nothing of it is committed: roll back, then
    retry if it makes sense."""


class LockTimeoutError(TransientError):
    """lock_timeout passed while waiting for a row or table lock another
    transaction holds; the transaction is aborted: roll back and retry."""


class SerializationError(TransientError):
    """REPEATABLE READ / SERIALIZABLE: another transaction changed what this one
    read; the transaction is aborted: roll back and retry it whole."""


class DeadlockError(TransientError):
    """The server broke a deadlock by aborting this transaction: roll back and retry."""


class ConnectionLostError(TransientError):
    """The connection to the server is gone (server restart, terminated
    backend, network). Inside a transaction nothing was committed, so a retry
    on a new connection is safe; in autocommit mode the statement may or may
    not have been applied (``retry_safe`` is False)."""


class InvalidReferenceError(RepositoryError):
    """A foreign key refused the write (the referenced row does not exist)."""


class ConstraintViolationError(RepositoryError):
    """A CHECK or NOT NULL constraint (or a value the column can't hold) refused the write."""


class InvalidTransitionError(RepositoryError):
    """A lifecycle move is not allowed from the row's current status."""

    def __init__(
        self,
        entity: str,
        id: Any,
        current: str,
        wanted: str,
        *,
        allowed_from: tuple[str, ...] = (),
        reason: str | None = None,
    ) -> None:
        detail = reason or (
            f"allowed only from {' or '.join(allowed_from)}" if allowed_from else "not allowed"
        )
        super().__init__(f"{entity} {id} is {current}; cannot move it to {wanted} ({detail})")
        self.entity = entity
        self.id = id
        self.current = current
        self.wanted = wanted
        self.allowed_from = allowed_from


class LeaseLostError(InvalidTransitionError):
    """A worker's call refused because it no longer holds the execution: the
    run is not running, another worker holds it, or the lease has expired
    (the reaper may already have requeued it). The worker must stop writing
    to that run."""

    def __init__(
        self,
        entity: str,
        id: Any,
        current: str,
        wanted: str,
        *,
        worker_id: str,
        execution_id: Any,
        detail: str,
    ) -> None:
        super().__init__(
            entity,
            id,
            current,
            wanted,
            reason=f"worker {worker_id!r} lost its lease on execution {execution_id}: {detail}",
        )
        self.worker_id = worker_id
        self.execution_id = execution_id


# Entity names for messages, by referenced table.
_ENTITY = {
    "customers": "customer",
    "agents": "agent",
    "recommendations": "recommendation",
    "workflow_executions": "workflow execution",
    "workflow_steps": "workflow step",
}

# Messages for unique constraints a person will meet.
_UNIQUE_MESSAGES = {
    "uq_customers_email": "a customer with email {value} already exists",
    "uq_customers_api_key_hash": "that API key is already in use by another customer",
    "uq_agents_type_name": "an agent with (type, name) = ({value}) already exists",
    "uq_agent_configs_agent_key": "agent config (agent_id, config_key) = ({value}) already exists",
    "uq_agent_states_agent": "agent {value} already has a state row",
    "uq_agent_capabilities_agent_name_version": (
        "capability (agent_id, capability_name, capability_version) = ({value}) already exists"
    ),
    "ix_workflow_steps_execution_order": (
        "(workflow_execution_id, step_order) = ({value}) is taken: "
        "an execution has one step per position"
    ),
}

_KEY_DETAIL = re.compile(r"Key \((?P<cols>.+?)\)=\((?P<vals>.*)\)")
_FK_TABLE = re.compile(r'table "(?P<table>[^"]+)"')


def _key(detail: str | None) -> tuple[str, str]:
    match = _KEY_DETAIL.search(detail or "")
    return (match["cols"], match["vals"]) if match else ("", "")


def _transient(exc: psycopg.Error, autocommit: bool) -> RepositoryError | None:
    message = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
    if isinstance(exc, pg.QueryCanceled):
        return QueryCanceledError(f"statement cancelled: {message}")
    if isinstance(exc, pg.LockNotAvailable):
        return LockTimeoutError(f"lock not available: {message}")
    if isinstance(exc, pg.DeadlockDetected):
        return DeadlockError(f"deadlock: {message}")
    if isinstance(exc, pg.SerializationFailure):
        return SerializationError(f"serialization failure: {message}")
    sqlstate = exc.sqlstate or ""
    if isinstance(exc, psycopg.OperationalError) and (
        not sqlstate or sqlstate.startswith(("08", "57P")) or sqlstate == "25P03"
    ):
        return ConnectionLostError(f"connection lost: {message}", retry_safe=not autocommit)
    return None


def translate(exc: psycopg.Error, *, autocommit: bool = False) -> RepositoryError | None:
    """The domain error for a psycopg error, or None if it is not ours to map."""
    transient = _transient(exc, autocommit)
    if transient is not None:
        return transient
    diag = exc.diag
    constraint = diag.constraint_name
    if isinstance(exc, pg.UniqueViolation):
        cols, vals = _key(diag.message_detail)
        template = _UNIQUE_MESSAGES.get(constraint or "")
        message = (
            template.format(value=vals)
            if template
            else f"duplicate value ({cols}) = ({vals}) violates {constraint}"
        )
        return ConflictError(message, constraint=constraint)
    if isinstance(exc, pg.ForeignKeyViolation):
        cols, vals = _key(diag.message_detail)
        table_match = _FK_TABLE.search(diag.message_detail or "")
        table = table_match["table"] if table_match else ""
        if constraint == "fk_workflow_artifacts_step":
            step, _, execution = vals.partition(", ")
            message = f"workflow step {step} does not exist in workflow execution {execution}"
        elif constraint == "fk_optimizations_recommendation_customer":
            recommendation, _, customer = vals.partition(", ")
            message = (
                f"recommendation {recommendation} does not exist for customer {customer} "
                "(an optimization belongs to its recommendation's customer)"
            )
        elif table in _ENTITY and "," not in cols:
            message = f"{_ENTITY[table]} {vals} does not exist"
        else:
            message = diag.message_primary or str(exc)
            if diag.message_detail:
                message += f": {diag.message_detail}"
        return InvalidReferenceError(message, constraint=constraint)
    if isinstance(exc, pg.CheckViolation):
        return ConstraintViolationError(
            f"{diag.table_name or 'row'} violates check constraint {constraint}",
            constraint=constraint,
        )
    if isinstance(exc, pg.NotNullViolation):
        return ConstraintViolationError(
            f"{diag.table_name}.{diag.column_name} may not be null", constraint=constraint
        )
    if isinstance(exc, psycopg.IntegrityError | psycopg.DataError):
        return ConstraintViolationError(diag.message_primary or str(exc), constraint=constraint)
    return None


class _WrapErrors:
    """Context manager: mapped psycopg errors leave as domain errors (chained from
    the psycopg error); any other exception passes unchanged. Stateless, so one
    instance serves every call (a class, not a generator: it sits on every query)."""

    def __init__(self, autocommit: bool) -> None:
        self.autocommit = autocommit

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        # Returns None: never swallows an exception.
        if isinstance(exc, psycopg.Error):
            mapped = translate(exc, autocommit=self.autocommit)
            if mapped is not None:
                raise mapped from exc


_WRAP = _WrapErrors(autocommit=False)
_WRAP_AUTOCOMMIT = _WrapErrors(autocommit=True)


def wrap_errors(autocommit: bool = False) -> _WrapErrors:
    """The one place psycopg errors become domain errors: ``with wrap_errors(): ...``.

    ``autocommit``: whether the statement ran outside a transaction (a lost
    connection then leaves its outcome unknown).
    """
    return _WRAP_AUTOCOMMIT if autocommit else _WRAP
