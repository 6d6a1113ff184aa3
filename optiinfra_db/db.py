"""Connections and pools with the project's session settings and adapters.

They are ordinary psycopg connections (tuple rows, READ COMMITTED, not
autocommit); every other keyword argument goes to psycopg unchanged. What is
added, and why:

* **TimeZone = UTC** on the session, so ``to_json`` renders every timestamp
  in a form the records read back (see ``sql/meta.sql``).
* **Timeouts**: ``statement_timeout`` (default 30 s) and ``lock_timeout``
  (default 5 s), sent as startup options, so no call waits forever behind a
  lock or a runaway query. ``None`` leaves the server's setting. Their
  errors become :class:`~optiinfra_db.QueryCanceledError` and
  :class:`~optiinfra_db.LockTimeoutError`.
* **Prepared statements only where safe** (``prepare=``): psycopg prepares a
  statement after 5 executions. Behind PgBouncer in transaction mode before
  1.21 a prepared statement's name is shared by every client of a server
  connection, so one client can run another's statement. ``prepare=None``
  (the default) detects a pooler at connect time (the backend's pid differs
  from the one the server announced) and turns preparation off there;
  ``prepare=False`` always turns it off; ``prepare=True`` keeps it on behind a
  pooler too (PgBouncer >= 1.21 with ``max_prepared_statements`` set).
  ``$OPTIINFRA_PREPARE`` (``auto``, ``on``, ``off``) sets the default.
* Schema enums load as their Python ``StrEnum`` (one catalog query per new
  connection); they are sent as plain text, so no type id is cached that a
  re-created schema would invalidate. ``dict`` parameters are sent as jsonb.
* Pools check a connection before lending it (``check=``), so a pool heals
  after a server restart instead of handing out dead connections.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any, LiteralString

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.types.enum import EnumInfo, register_enum
from psycopg.types.json import JsonbDumper
from psycopg.types.string import StrDumperUnknown
from psycopg_pool import ConnectionPool

from optiinfra_db.enums import PG_ENUMS
from optiinfra_db.queries import CATALOG

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_STATEMENT_TIMEOUT",
    "configure_connection",
    "connect",
    "create_pool",
    "execute",
    "fetch_all",
    "stream_all",
    "stream_batches",
]

Connection = psycopg.Connection[Any]
Params = Mapping[str, Any]
Timeout = timedelta | float | None

_ENUM_TYPES = CATALOG["meta.enum_types"].sql
_SESSION_SETUP = CATALOG["meta.session_setup"].sql
_ENUM_NAMES = sorted(PG_ENUMS)

#: Defaults of ``connect`` and ``create_pool``.
DEFAULT_STATEMENT_TIMEOUT = timedelta(seconds=30)
DEFAULT_LOCK_TIMEOUT = timedelta(seconds=5)

_PREPARE_ENV = {"auto": None, "on": True, "off": False, "1": True, "0": False}


def _prepare_default() -> bool | None:
    value = os.environ.get("OPTIINFRA_PREPARE", "auto").strip().lower()
    if value not in _PREPARE_ENV:
        raise ValueError(f"OPTIINFRA_PREPARE must be auto, on or off, not {value!r}")
    return _PREPARE_ENV[value]


def configure_connection(conn: Connection, *, prepare: bool | None = None) -> None:
    """Set the session up and register the adapters on ``conn`` (what the pool's
    ``configure`` runs). Leaves the connection's transaction state as it found it.

    ``prepare``: see the module's doc (None: off behind a pooler, else psycopg's default).
    """
    conn.adapters.register_dumper(dict, JsonbDumper)
    idle = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(_SESSION_SETUP)
        setup = cur.fetchone()
        cur.execute(_ENUM_TYPES, {"names": _ENUM_NAMES})
        found = cur.fetchall()
    if idle and conn.info.transaction_status != TransactionStatus.IDLE:
        conn.commit()  # keeps the session's TimeZone (a rollback would undo it)
    behind_pooler = setup is not None and setup[1] != conn.info.backend_pid
    if prepare is False or (prepare is None and behind_pooler):
        conn.prepare_threshold = None
    for name, oid, array_oid, labels in found:
        enum = PG_ENUMS[name]
        info = EnumInfo(name, oid, array_oid, labels)
        register_enum(info, conn, enum, mapping={member: member.value for member in enum})
        # Sent as untyped text (the SQL casts): no cached type id to go stale.
        conn.adapters.register_dumper(enum, StrDumperUnknown)


def fetch_all(
    conn: Connection, key: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run the named query ``key`` (``"file.name"``) and return its rows as tuples
    (a ``plan: custom`` query is never prepared)."""
    query = CATALOG[key]
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(query.sql, params, prepare=False if query.custom_plan else None)
        return cur.fetchall()


def execute(conn: Connection, key: str, params: dict[str, Any] | None = None) -> None:
    """Run the named statement ``key`` that returns no rows (LISTEN, ...)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(CATALOG[key].sql, params)


#: Names of server-side cursors: unique within the process, so streams nest.
_CURSOR_IDS = itertools.count(1)


def stream_batches(
    conn: Connection, sql: LiteralString, params: Params | None, batch_size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Run ``sql`` through a server-side cursor (``DECLARE ... CURSOR``) and
    yield its rows as lists of at most ``batch_size`` tuples, one round trip
    each: memory stays bounded by one batch. Runs in the caller's
    transaction, or in one of its own on an autocommit connection; the
    cursor is closed when the iterator ends or is closed. The one place the
    library streams (the repositories' iterators and ``stream_all``)."""
    own = conn.transaction() if conn.autocommit else contextlib.nullcontext()
    name = f"optiinfra_stream_{next(_CURSOR_IDS)}"
    with own, conn.cursor(name, row_factory=tuple_row) as cur:
        cur.itersize = batch_size
        cur.execute(sql, params)
        while batch := cur.fetchmany(batch_size):
            yield batch


def stream_all(
    conn: Connection, key: str, params: Params | None = None, batch_size: int = 1000
) -> Iterator[tuple[Any, ...]]:
    """Run the named query ``key`` through a server-side cursor and yield its
    rows as tuples (see ``stream_batches``)."""
    for batch in stream_batches(conn, CATALOG[key].sql, params, batch_size):
        yield from batch


def _ms(value: Timeout) -> int:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value or 0)
    if seconds < 0:
        raise ValueError("a timeout can't be negative")
    return max(1, round(seconds * 1000)) if seconds else 0


def session_options(
    kwargs: dict[str, Any], statement_timeout: Timeout, lock_timeout: Timeout
) -> dict[str, Any]:
    """psycopg connect kwargs with the timeouts added to libpq's ``options``."""
    extra = []
    if statement_timeout is not None:
        extra.append(f"-c statement_timeout={_ms(statement_timeout)}")
    if lock_timeout is not None:
        extra.append(f"-c lock_timeout={_ms(lock_timeout)}")
    if extra:
        kwargs = dict(kwargs)
        kwargs["options"] = " ".join([*extra, str(kwargs.get("options") or "")]).strip()
    return kwargs


def connect(
    dsn: str = "",
    *,
    prepare: bool | None = None,
    statement_timeout: Timeout = DEFAULT_STATEMENT_TIMEOUT,
    lock_timeout: Timeout = DEFAULT_LOCK_TIMEOUT,
    **kwargs: Any,
) -> Connection:
    """A psycopg connection set up for the library (see the module's doc).

    Timeouts are a ``timedelta`` or seconds; ``None`` leaves the server's
    setting (needed behind PgBouncer, which refuses startup options unless
    told to ignore them: set the timeouts on the role there).
    """
    if prepare is None:
        prepare = _prepare_default()
    conn = psycopg.connect(dsn, **session_options(kwargs, statement_timeout, lock_timeout))
    try:
        configure_connection(conn, prepare=prepare)
    except BaseException:
        conn.close()
        raise
    return conn


def create_pool(
    dsn: str = "",
    *,
    prepare: bool | None = None,
    statement_timeout: Timeout = DEFAULT_STATEMENT_TIMEOUT,
    lock_timeout: Timeout = DEFAULT_LOCK_TIMEOUT,
    **kwargs: Any,
) -> ConnectionPool[Any]:
    """A ``psycopg_pool.ConnectionPool`` whose connections are set up like ``connect``'s.

    Keyword arguments go to ``ConnectionPool`` (``min_size``, ``max_size``,
    ``kwargs=`` for the connections...). A ``configure`` callback of your own
    runs after ours. Connections are checked before they are lent
    (``check=ConnectionPool.check_connection`` unless you pass ``check``). The
    pool is opened unless ``open=False``.
    """
    if prepare is None:
        prepare = _prepare_default()
    user_configure: Callable[[Connection], None] | None = kwargs.pop("configure", None)

    def configure(conn: Connection) -> None:
        configure_connection(conn, prepare=prepare)
        if user_configure is not None:
            user_configure(conn)

    kwargs.setdefault("open", True)
    kwargs.setdefault("check", ConnectionPool.check_connection)
    kwargs["kwargs"] = session_options(
        dict(kwargs.get("kwargs") or {}), statement_timeout, lock_timeout
    )
    return ConnectionPool(dsn, configure=configure, **kwargs)
