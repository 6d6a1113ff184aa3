"""OpenTelemetry for the library's statements: what a span and a metric say
about one named statement, without I/O.

``odb.instrument()`` (``optiinfra_db/telemetry.py``) sets :data:`ACTIVE`;
every place the library runs a statement (both sides) wraps the execute in
``with observe(query, conn, scope) as call:`` and reports the rows with
``call.done(cursor)``. Uninstrumented, ``observe`` returns one shared no-op
call: a global read and an empty ``with``, no OpenTelemetry import at all.

Instrumented, each statement is a CLIENT span named by its query name
(``workflow_executions.claim``) with the stable database conventions:
``db.system.name``, ``db.query.summary`` (the name), ``db.query.text`` (the
statement as written in ``sql/``, placeholders and all: never a value),
``db.operation.name`` and ``db.collection.name`` (the statement's ``op:``
line), ``db.namespace``, ``server.address``/``server.port``,
``db.response.returned_rows``; on failure ``error.type`` (the library's
error class, as raised to the caller), ``db.response.status_code`` (the
SQLSTATE) and an error status without a message (messages of constraint
errors quote values). A scoped call adds ``optiinfra.customer.id`` to the
span (not to the metrics: one series per customer would be unbounded).
The duration goes to ``db.client.operation.duration`` with the span's
low-cardinality attributes.

The runtime's own histograms are recorded here too, from the records the
claim and the moves return: ``optiinfra.workflow.queue.wait`` (from when a
run became claimable, ``run_after`` else ``created_at``, to its claim) and
``optiinfra.workflow.run.duration`` (from its claim to its end, by final
status).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import psycopg

from optiinfra_db.enums import FINISHED_STATUSES
from optiinfra_db.errors import translate

if TYPE_CHECKING:
    from psycopg.pq.abc import PGconn

    from optiinfra_db.queries import Query
    from optiinfra_db.records import WorkflowExecution
    from optiinfra_db.sansio.scope import Scope

__all__ = [
    "ACTIVE",
    "NO_CALL",
    "Call",
    "Telemetry",
    "claimed",
    "finished",
    "loop_of",
    "observe",
    "pool_lent",
    "pool_returned",
    "register_pool",
]

#: Bucket boundaries (seconds) of the duration histograms, as OpenTelemetry's
#: database conventions advise.
BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
#: Of the queue's wait and a run's duration: seconds to hours.
RUN_BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)


#: The histograms: (attribute of Telemetry, name, description, buckets).
HISTOGRAMS = (
    ("duration", "db.client.operation.duration",
     "Duration of the library's database statements.", BUCKETS),
    ("wait_time", "db.client.connection.wait_time",
     "Time to obtain a connection from a create_pool pool.", BUCKETS),
    ("use_time", "db.client.connection.use_time",
     "Time between lending a create_pool connection and its return.", BUCKETS),
    ("queue_wait", "optiinfra.workflow.queue.wait",
     "From when a run became claimable (run_after, else created_at) to its claim.", RUN_BUCKETS),
    ("run_duration", "optiinfra.workflow.run.duration",
     "From a run's claim (or start) to its end, by final status.", RUN_BUCKETS),
)  # fmt: skip


class Telemetry:
    """A tracer and the library's instruments (made by ``odb.instrument``)."""

    def __init__(self, tracer: Any, meter: Any) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self.tracer = tracer
        self.meter = meter
        self.client = SpanKind.CLIENT
        self.error_status = Status(StatusCode.ERROR)
        made = {
            attribute: meter.create_histogram(
                name, unit="s", description=text, explicit_bucket_boundaries_advisory=buckets
            )
            for attribute, name, text, buckets in HISTOGRAMS
        }
        self.duration = made["duration"]
        self.wait_time = made["wait_time"]
        self.use_time = made["use_time"]
        self.queue_wait = made["queue_wait"]
        self.run_duration = made["run_duration"]
        # (id(query), host, port, dbname) -> the metrics' attributes
        self._attributes: dict[
            tuple[int, bytes | None, bytes, bytes], tuple[dict[str, Any], dict[str, Any]]
        ] = {}
        # id(pool connection) -> when it was lent
        self._lent: dict[int, float] = {}

    def attributes(self, query: Query, pgconn: PGconn) -> tuple[dict[str, Any], dict[str, Any]]:
        """The metrics' (low-cardinality) and the span's attributes of
        ``query`` on this server and database, cached: the same few dicts
        for every call (OpenTelemetry copies what it keeps)."""
        host, port, db = pgconn.host, pgconn.port, pgconn.db
        key = (id(query), host, port, db)
        found = self._attributes.get(key)
        if found is None:
            metric: dict[str, Any] = {
                "db.system.name": "postgresql",
                "db.query.summary": query.key,
                "db.operation.name": query.operation,
                "db.namespace": db.decode(),
                "server.address": (host or b"").decode() or "localhost",
            }
            if query.collection is not None:
                metric["db.collection.name"] = query.collection
            if port:
                metric["server.port"] = int(port)
            found = (metric, {**metric, "db.query.text": query.sql})
            if len(self._attributes) > 4096:  # bounded, whatever the servers
                self._attributes.clear()
            self._attributes[key] = found
        return found

    def begin(self, query: Query, pgconn: PGconn, scope: Scope | None) -> Call:
        attributes, span_attributes = self.attributes(query, pgconn)
        if scope is not None:
            span_attributes = {**span_attributes, "optiinfra.customer.id": str(scope.customer_id)}
        span = self.tracer.start_span(query.key, kind=self.client, attributes=span_attributes)
        return Call(self, span, attributes)


class Call:
    """One statement being run: its span and its clock."""

    __slots__ = ("attributes", "began", "rows", "span", "telemetry")

    def __init__(self, telemetry: Telemetry, span: Any, attributes: dict[str, Any]) -> None:
        self.telemetry = telemetry
        self.span = span
        self.attributes = attributes
        self.rows = -1
        self.began = perf_counter()

    def __enter__(self) -> Call:
        return self

    def done(self, cursor: Any) -> None:
        """The statement ran: the rows it returned (or changed)."""
        self.rows = cursor.rowcount

    def add_rows(self, rows: int) -> None:
        """A stream's batch came: count its rows."""
        self.rows = max(self.rows, 0) + rows

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        elapsed = perf_counter() - self.began
        span, attributes = self.span, self.attributes
        if exc is not None and not isinstance(exc, GeneratorExit):  # a stream left early: no error
            mapped = translate(exc) if isinstance(exc, psycopg.Error) else None
            error = type(mapped if mapped is not None else exc).__name__
            attributes = {**attributes, "error.type": error}
            span.set_attribute("error.type", error)
            sqlstate = getattr(exc, "sqlstate", None)
            if sqlstate:
                span.set_attribute("db.response.status_code", sqlstate)
            span.set_status(self.telemetry.error_status)
        elif self.rows >= 0:
            span.set_attribute("db.response.returned_rows", self.rows)
        span.end()
        self.telemetry.duration.record(elapsed, attributes)


class _NoCall:
    """The call of an uninstrumented library: does nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoCall:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        return None

    def done(self, cursor: Any) -> None:
        return None

    def add_rows(self, rows: int) -> None:
        return None


NO_CALL = _NoCall()

#: What ``odb.instrument()`` set up; None when the library is not instrumented.
ACTIVE: Telemetry | None = None


def observe(query: Query, pgconn: PGconn, scope: Scope | None = None) -> Call | _NoCall:
    """The call to wrap one execute of ``query`` in (``with ... as call``)."""
    telemetry = ACTIVE
    if telemetry is None:
        return NO_CALL
    return telemetry.begin(query, pgconn, scope)


def claimed(runs: Iterable[WorkflowExecution]) -> None:
    """Claimed runs: each one's wait in the queue."""
    telemetry = ACTIVE
    if telemetry is None:
        return
    for run in runs:
        if run.started_at is None:
            continue
        became = run.run_after or run.created_at
        wait = max((run.started_at - became).total_seconds(), 0.0)
        telemetry.queue_wait.record(wait, {"optiinfra.workflow.type": run.workflow_type.value})


def finished(runs: Iterable[WorkflowExecution]) -> None:
    """Runs moved: of those that ended, how long each ran (from its last
    claim or start)."""
    telemetry = ACTIVE
    if telemetry is None:
        return
    for run in runs:
        if run.status not in FINISHED_STATUSES or run.started_at is None:
            continue  # still going, or cancelled before it ever ran
        if run.completed_at is None:
            continue
        seconds = max((run.completed_at - run.started_at).total_seconds(), 0.0)
        telemetry.run_duration.record(
            seconds,
            {
                "optiinfra.workflow.type": run.workflow_type.value,
                "optiinfra.workflow.status": run.status.value,
            },
        )


# -- pools --------------------------------------------------------------------------

#: Every pool ``create_pool`` made (weakly): the connection-count gauge reads them.
POOLS: weakref.WeakSet[Any] = weakref.WeakSet()
#: The last pool ``create_pool`` made while instrumented, and its event loop
#: (None on the sync side): where the runs gauge reads unless told otherwise.
LATEST: list[tuple[weakref.ref[Any], Any]] = []


#: The event loop of each asyncio pool ``create_pool`` made.
LOOPS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def register_pool(pool: Any, loop: Any = None) -> None:
    """A pool ``create_pool`` made (``loop``: the asyncio loop it runs on)."""
    POOLS.add(pool)
    if loop is not None:
        LOOPS[pool] = loop
    if ACTIVE is not None:
        LATEST[:] = [(weakref.ref(pool), loop)]


def loop_of(pool: Any) -> Any:
    """The event loop an asyncio pool runs on (None: unknown, or a sync pool)."""
    return LOOPS.get(pool)


def pool_lent(pool: Any, conn: Any, began: float) -> None:
    """A create_pool connection was lent, asked for at ``began``."""
    telemetry = ACTIVE
    if telemetry is None:
        return
    now = perf_counter()
    telemetry._lent[id(conn)] = now
    telemetry.wait_time.record(now - began, {"db.client.connection.pool.name": pool.name})


def pool_returned(pool: Any, conn: Any) -> None:
    """A create_pool connection came back."""
    telemetry = ACTIVE
    if telemetry is None:
        return
    lent = telemetry._lent.pop(id(conn), None)
    if lent is not None:
        telemetry.use_time.record(
            perf_counter() - lent, {"db.client.connection.pool.name": pool.name}
        )
