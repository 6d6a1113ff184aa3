"""Domain errors, and the one place psycopg errors are mapped to them.

Every error is a :class:`RepositoryError`. Those raised for a database error
are chained from it (``__cause__``) and carry the violated constraint's name.
A constraint violation aborts the caller's transaction (PostgreSQL's rule), so
the caller rolls back; a refused lifecycle transition or a missing id does
not: nothing failed inside the server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import errors as pg

from optiinfra_db.queries import origin_of

__all__ = [
    "ConflictError",
    "ConnectionLostError",
    "ConstraintViolationError",
    "CustomerScopeError",
    "DeadlockError",
    "IdempotencyConflictError",
    "InvalidReferenceError",
    "InvalidTransitionError",
    "LeaseLostError",
    "LockTimeoutError",
    "NotFoundError",
    "PartitionDetachError",
    "PartitionKeptError",
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


class IdempotencyConflictError(ConflictError):
    """A create with an idempotency key the customer already used for a run
    with another ``workflow_type`` or ``input_data``: the same key names
    another request. Nothing was written."""


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


class ReadOnlyError(RepositoryError):
    """A write through a connection lent for reading (``Cluster.read``): a
    replica refuses every write, and the primary lent in a replica's place
    is read-only too. Names the statement."""


class StaleReadError(RepositoryError):
    """``Cluster.read(after=token, on_stale="raise")``: no replica had
    replayed past the token within ``max_wait``."""


class CustomerScopeError(RepositoryError):
    """A customer-scoped ``Repositories`` refused something outside its
    customer: a row for another customer (before any SQL), a connection that
    PostgreSQL would not apply row-level security to (at construction), or a
    row the policies refused because no customer or another one is set for
    the transaction."""


def platform_refusal(owner: str, table: str, customer_id: Any) -> CustomerScopeError:
    """A write to a platform table asked of a customer scope."""
    return CustomerScopeError(
        f"{owner} acts for customer {customer_id}: {table} is the platform's, shared by "
        "every customer, and read-only to a customer scope (write it from a session "
        "with no customer set)"
    )


class PartitionDetachError(RepositoryError):
    """``purge`` could not detach an old partition of the transition log: a
    DETACH ... CONCURRENTLY needs a session of its own, outside a transaction
    block and outside a transaction pooler (PgBouncer's transaction mode);
    connect purge straight to the server. Nothing was dropped."""


class PartitionKeptError(RepositoryError):
    """``purge`` detached an old partition of the transition log, and the
    check made again after the detach found a row of a run it keeps (the run
    was moved out of its finished status meanwhile): the partition is not
    dropped but left as a table of its own, named in the message, for a DBA
    to attach again (``ALTER TABLE workflow_transitions ATTACH PARTITION``)."""

    def __init__(self, message: str, *, partition: str) -> None:
        super().__init__(message)
        self.partition = partition


class InvalidReferenceError(RepositoryError):
    """A foreign key refused the write (the referenced row does not exist)."""

    #: The referenced table when PostgreSQL did not show the key (row-level
    #: security on it); the repository then fills the key from its input.
    key_hidden: str | None = None


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
    """A worker's call refused because it no longer holds the execution. The
    worker must stop writing to that run. What happened is ``cause``:

    ``"cancelled"``      the run was cancelled (an operator, a service)
    ``"requeued"``       the run is pending again (the reaper requeued it)
    ``"finished"``       the run already ended (completed, failed, timed out)
    ``"held_by_other"``  another worker holds it now (``holder``)
    ``"lease_expired"``  this worker's lease ran out (``lease_expires_at``)

    ``run_status``, ``holder`` and ``lease_expires_at`` are the run as it
    stands; the message names the call that was refused."""

    CAUSES = ("cancelled", "requeued", "finished", "held_by_other", "lease_expired")

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
        cause: str | None = None,
        run_status: str | None = None,
        holder: str | None = None,
        lease_expires_at: Any = None,
        action: str | None = None,
    ) -> None:
        super().__init__(entity, id, current, wanted, reason=detail)
        what = action or f"move {entity} {id} to {wanted}"
        self.args = (
            f"worker {worker_id!r} can't {what}: {detail}; it no longer holds execution "
            f"{execution_id} and must stop working on it",
        )
        self.worker_id = worker_id
        self.execution_id = execution_id
        self.cause = cause
        self.run_status = run_status
        self.holder = holder
        self.lease_expires_at = lease_expires_at


# Entity names for messages, by referenced table.
_ENTITY = {
    "customers": "customer",
    "agents": "agent",
    "recommendations": "recommendation",
    "workflow_executions": "workflow execution",
    "workflow_steps": "workflow step",
}

_RLS_TABLE = re.compile(r'row-level security policy for table "(?P<table>[^"]+)"')
_PLATFORM_TABLE = re.compile(r'platform table "(?P<table>[^"]+)" is read-only')

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

#: Unique keys whose violation detail shows a secret (a key's hash).
_SECRET_KEYS = frozenset({"uq_customers_api_key_hash"})
_KEY_DETAIL = re.compile(r"Key \((?P<cols>.+?)\)=\((?P<vals>.*)\)")
_FK_TABLE = re.compile(r'table "(?P<table>[^"]+)"')


def _key(detail: str | None) -> tuple[str, str]:
    match = _KEY_DETAIL.search(detail or "")
    return (match["cols"], match["vals"]) if match else ("", "")


def message_of(exc: psycopg.Error) -> str:
    """The first line of a server error's message."""
    return (exc.diag.message_primary or str(exc)).strip().splitlines()[0]


def _transient(exc: psycopg.Error, autocommit: bool) -> RepositoryError | None:
    message = message_of(exc)
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


def _reference_message(constraint: str | None, table: str, cols: str, vals: str) -> str | None:
    """What a violated foreign key means, for the key ``cols`` = ``vals``."""
    if constraint == "fk_workflow_artifacts_step":
        step, _, execution = vals.partition(", ")
        return f"workflow step {step} does not exist in workflow execution {execution}"
    if constraint in _BY_CUSTOMER:
        parent, _, customer = vals.partition(", ")
        return (
            f"{_ENTITY[table]} {parent} does not exist for customer {customer} "
            f"({_BY_CUSTOMER[constraint]})"
        )
    if table in _ENTITY and cols and "," not in cols:
        return f"{_ENTITY[table]} {vals} does not exist"
    return None


#: Composite foreign keys (parent id, customer_id): the rule each one keeps.
_BY_CUSTOMER = {
    "fk_optimizations_recommendation_customer": (
        "an optimization belongs to its recommendation's customer"
    ),
    "fk_approvals_recommendation_customer": "an approval belongs to its recommendation's customer",
    "fk_workflow_steps_execution_customer": "a step belongs to its execution's customer",
    "fk_workflow_artifacts_execution_customer": "an artifact belongs to its execution's customer",
    "fk_workflow_transitions_execution_customer": "the log belongs to its execution's customer",
}

#: The referencing columns of the foreign keys whose key PostgreSQL may hide.
_FK_COLUMNS = {
    "fk_workflow_artifacts_step": ("workflow_step_id", "workflow_execution_id"),
    "fk_optimizations_recommendation_customer": ("recommendation_id", "customer_id"),
    "fk_approvals_recommendation_customer": ("recommendation_id", "customer_id"),
    "fk_workflow_steps_execution_customer": ("workflow_execution_id", "customer_id"),
    "fk_workflow_artifacts_execution_customer": ("workflow_execution_id", "customer_id"),
    "fk_workflow_transitions_execution_customer": ("workflow_execution_id", "customer_id"),
    "fk_events_customer": ("customer_id",),
    "fk_recommendations_customer": ("customer_id",),
    "fk_approvals_recommendation": ("recommendation_id",),
    "fk_optimizations_recommendation": ("recommendation_id",),
    "fk_optimizations_customer": ("customer_id",),
    "fk_workflow_executions_customer": ("customer_id",),
    "fk_workflow_steps_execution": ("workflow_execution_id",),
    "fk_workflow_artifacts_execution": ("workflow_execution_id",),
}


def with_key(error: InvalidReferenceError, params: Mapping[str, Any]) -> InvalidReferenceError:
    """``error`` with the key PostgreSQL hid (see ``translate``) taken from the
    statement's parameters, so a scoped session reads the same message as the
    operator's view; ``error`` itself when nothing was hidden."""
    table = error.key_hidden
    columns = _FK_COLUMNS.get(error.constraint or "")
    if table is None or columns is None or not all(c in params for c in columns):
        return error
    message = _reference_message(
        error.constraint, table, ", ".join(columns), ", ".join(str(params[c]) for c in columns)
    )
    if message is None:
        return error
    filled = InvalidReferenceError(message, constraint=error.constraint)
    filled.__cause__ = error.__cause__
    return filled


def statement_name(sql: Any) -> str:
    """A statement as an error names it: its query name when it is the
    library's (the origin comment), else its first 60 characters."""
    if isinstance(sql, bytes):
        sql = sql.decode(errors="replace")
    text = sql.as_string() if hasattr(sql, "as_string") else str(sql or "")
    return origin_of(text) or " ".join(text.split())[:60] or "(statement unknown)"


def read_only_error(sql: Any) -> ReadOnlyError:
    """The error of a write through a connection lent for reading."""
    return ReadOnlyError(
        f"{statement_name(sql)} writes, and this connection was lent for reading "
        "(Cluster.read): write through Cluster.primary()"
    )


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
        explained = _reference_message(constraint, table, cols, vals)
        if explained is None:
            explained = diag.message_primary or str(exc)
            if diag.message_detail:
                explained += f": {diag.message_detail}"
        error = InvalidReferenceError(explained, constraint=constraint)
        # A session row-level security applies to is not shown the key of a
        # referenced table under it: the repository fills it from its input.
        error.key_hidden = table if not cols else None
        return error
    if isinstance(exc, pg.InsufficientPrivilege):
        platform = _PLATFORM_TABLE.search(diag.message_primary or "")
        if platform is not None:  # migration 0015's trigger: a scoped write, or its cascade
            return CustomerScopeError(
                f"{platform['table']} is the platform's, read-only to a customer scope: "
                "this transaction acts for a customer (a cascade from one of its deletes "
                "counts: an agent's state still points at the run)"
            )
        rls = _RLS_TABLE.search(diag.message_primary or "")
        if rls is None:
            return None  # a missing privilege: the role's grants, not ours to map
        # (A child row under a parent the customer can't see never gets here:
        # 0011's fill trigger raises the parent's foreign-key violation first.)
        return CustomerScopeError(
            f"row-level security refused a row of {rls['table']}: it is not for the customer "
            "this transaction acts for (optiinfra.customer_id unset or another customer)"
        )
    if isinstance(exc, pg.ReadOnlySqlTransaction):
        return ReadOnlyError(f"a write on a read-only connection: {message_of(exc)}")
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
                if mapped.constraint in _SECRET_KEYS:
                    # Its detail shows the stored key hash: not chained, so no
                    # log or traceback carries it (the constraint is named).
                    raise mapped from None
                raise mapped from exc


_WRAP = _WrapErrors(autocommit=False)
_WRAP_AUTOCOMMIT = _WrapErrors(autocommit=True)


def wrap_errors(autocommit: bool = False) -> _WrapErrors:
    """The one place psycopg errors become domain errors: ``with wrap_errors(): ...``.

    ``autocommit``: whether the statement ran outside a transaction (a lost
    connection then leaves its outcome unknown).
    """
    return _WRAP_AUTOCOMMIT if autocommit else _WRAP
