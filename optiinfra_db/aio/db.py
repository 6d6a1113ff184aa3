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

Written once, for asyncio, in ``optiinfra_db/aio/db.py``; ``optiinfra_db/db.py``
is generated from it (``tools/async_to_sync.py``). The work without I/O is in
``optiinfra_db/sansio/session.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from time import perf_counter
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal
from psycopg_pool import AsyncConnectionPool

from optiinfra_db.errors import wrap_errors
from optiinfra_db.queries import CATALOG, Query
from optiinfra_db.sansio.scope import SET_SCOPE, Scope, customer_scope
from optiinfra_db.sansio.session import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_STATEMENT_TIMEOUT,
    ENUM_NAMES,
    ENUM_TYPES,
    SESSION_SETUP,
    Timeout,
    prepare_default,
    register_adapters,
    session_options,
    wrote_while_idle,
)
from optiinfra_db.sansio.telemetry import NO_CALL, observe, pool_lent, pool_returned, register_pool

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_STATEMENT_TIMEOUT",
    "AsyncConnection",
    "check_lent",
    "configure_connection",
    "connect",
    "create_pool",
    "execute",
    "fetch_all",
    "one_transaction",
    "stream_all",
    "stream_batches",
    "use_app_role",
]

AsyncConnection = psycopg.AsyncConnection[Any]
Params = Mapping[str, Any]


_SETUP, _ENUMS = CATALOG["meta.session_setup"], CATALOG["meta.enum_types"]


async def configure_connection(conn: AsyncConnection, *, prepare: bool | None = None) -> None:
    """Set the session up and register the adapters on ``conn`` (what the pool's
    ``configure`` runs). Leaves the connection's transaction state as it found it.

    ``prepare``: see the module's doc (None: off behind a pooler, else psycopg's default).
    """
    idle = conn.info.transaction_status == TransactionStatus.IDLE
    async with conn.cursor(row_factory=tuple_row) as cur:
        with observe(_SETUP, conn.pgconn) as call:
            await cur.execute(SESSION_SETUP)
            call.done(cur)
        setup = await cur.fetchone()
        with observe(_ENUMS, conn.pgconn) as call:
            await cur.execute(ENUM_TYPES, {"names": ENUM_NAMES})
            call.done(cur)
        found = await cur.fetchall()
    if idle and conn.info.transaction_status != TransactionStatus.IDLE:
        await conn.commit()  # keeps the session's TimeZone (a rollback would undo it)
    register_adapters(conn, found, setup, prepare)


#: The context of a statement that needs no customer set first.
_NO_SCOPE = contextlib.nullcontext()


def scoped(
    conn: AsyncConnection, cur: psycopg.AsyncCursor[Any], scope: Scope | None
) -> contextlib.AbstractAsyncContextManager[Any]:
    """Wrap the execute of one statement: when ``scope`` is a customer the
    current transaction does not act for yet, a pipeline that sends the
    customer first (one round trip for both; fetch the rows after it);
    otherwise nothing. The one place a customer is set (see ``sansio/scope.py``)."""
    if scope is None or not scope.needed(conn.pgconn):
        return _NO_SCOPE
    return _set_scope(conn, cur, scope)


@contextlib.asynccontextmanager
async def _set_scope(
    conn: AsyncConnection, cur: psycopg.AsyncCursor[Any], scope: Scope
) -> AsyncIterator[None]:
    sql, params = scope.statement(conn)
    async with conn.pipeline():
        await cur.execute(sql, params)
        yield


async def fetch_all(
    conn: AsyncConnection,
    key: str,
    params: dict[str, Any] | None = None,
    customer_id: UUID | str | None = None,
) -> list[tuple[Any, ...]]:
    """Run the named query ``key`` (``"file.name"``) and return its rows as tuples
    (a ``plan: custom`` query is never prepared). ``customer_id``: run it for
    that customer only, under row-level security, as a scoped Repositories
    does (refused on a session that bypasses it)."""
    query = CATALOG[key]
    sql = query.use("one" if query.kind == "one" else "many", params)
    scope = customer_scope(conn, customer_id)
    async with conn.cursor(row_factory=tuple_row) as cur:
        with observe(query, conn.pgconn, scope) as call:
            async with scoped(conn, cur, scope):
                await cur.execute(sql, params, prepare=False if query.custom_plan else None)
            call.done(cur)
        return await cur.fetchall()


async def execute(conn: AsyncConnection, key: str, params: dict[str, Any] | None = None) -> None:
    """Run the named statement ``key`` that returns no rows (LISTEN, ...)."""
    query = CATALOG[key]
    sql = query.use("rows", params)
    async with conn.cursor(row_factory=tuple_row) as cur:
        with observe(query, conn.pgconn) as call:
            await cur.execute(sql, params)
            call.done(cur)


@contextlib.asynccontextmanager
async def one_transaction(conn: AsyncConnection) -> AsyncIterator[None]:
    """Run the block's statements in one transaction: the caller's (a
    connection out of autocommit begins one at its first statement and the
    caller commits it), or on an autocommit connection one begun here and
    committed when the block ends (rolled back if it raises)."""
    if not conn.autocommit:
        yield
        return
    with wrap_errors(True):
        async with conn.transaction():
            yield


async def use_app_role(conn: AsyncConnection) -> bool:
    """Act as ``optiinfra_app`` for the rest of the session (``SET ROLE``), so
    row-level security applies to it: what an operator's login (a superuser,
    which bypasses the policies) does before acting for one customer, as
    ``optiinfra-db --customer`` does. False, and nothing changed, when this
    login may not (not a member of the role, or an unmigrated database)."""
    if not (await fetch_all(conn, "meta.may_be_app"))[0][0]:
        return False
    await execute(conn, "meta.set_role_app")
    return True


#: Names of server-side cursors: unique within the process, so streams nest.
_CURSOR_IDS = itertools.count(1)


_DECLARE = SQL(CATALOG["meta.stream_declare"].sql)
_FETCH = SQL(CATALOG["meta.stream_fetch"].sql)
_CLOSE = SQL(CATALOG["meta.stream_close"].sql)


async def stream_results(
    conn: AsyncConnection,
    statement: Query | LiteralString,
    params: Params | None,
    batch_size: int,
    scope: Scope | None = None,
) -> AsyncIterator[psycopg.AsyncCursor[Any]]:
    """Run ``sql`` through a server-side cursor (``meta.stream_declare``)
    and fetch it ``batch_size`` rows per round trip (``meta.stream_fetch``):
    memory stays bounded by one batch. Yields the cursor after each fetch,
    while the batch is current: read ``cur.pgresult`` raw (the records' path:
    no loaders run) or ``fetchall()`` it into tuples. A short batch is the
    last (no round trip for an empty one). Runs in the caller's transaction
    (the cursor is closed when the iterator ends or is closed), or in one of
    its own on an autocommit connection. The one place the library streams
    (the repositories' iterators, ``stream_batches``, ``stream_all``).
    ``scope``: a customer scope, set in that transaction before the cursor is
    declared (unless the transaction already acts for the customer).
    ``statement``: a named query (the stream is one span of it when
    instrumented, declare to close, with the rows of every batch) or a
    caller's own text."""
    own = conn.autocommit
    sql = statement.sql if isinstance(statement, Query) else statement
    cursor = Identifier(f"optiinfra_stream_{next(_CURSOR_IDS)}")
    fetch = _FETCH.format(rows=Literal(batch_size), cursor=cursor)
    call = observe(statement, conn.pgconn, scope) if isinstance(statement, Query) else NO_CALL
    with call:
        async with one_transaction(conn), conn.cursor(row_factory=tuple_row) as cur:
            if scope is not None and scope.needed(conn.pgconn):
                await cur.execute(SET_SCOPE, scope.params)  # its own round trip, once per stream
            declare = _DECLARE.format(cursor=cursor, statement=SQL(sql))
            await cur.execute(declare, params, prepare=False)
            try:
                while True:
                    await cur.execute(fetch, prepare=False)
                    got = 0 if cur.pgresult is None else cur.pgresult.ntuples
                    call.add_rows(got)
                    if got:
                        yield cur
                    if got < batch_size:
                        break
            finally:
                if not own and conn.info.transaction_status == TransactionStatus.INTRANS:
                    await cur.execute(_CLOSE.format(cursor=cursor), prepare=False)


async def stream_batches(
    conn: AsyncConnection,
    sql: Query | LiteralString,
    params: Params | None,
    batch_size: int,
    scope: Scope | None = None,
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Run ``sql`` through a server-side cursor and yield its rows as
    lists of at most ``batch_size`` tuples, one round trip each (see
    ``stream_results``)."""
    async for cur in stream_results(conn, sql, params, batch_size, scope):
        yield await cur.fetchall()


async def stream_all(
    conn: AsyncConnection,
    key: str,
    params: Params | None = None,
    batch_size: int = 1000,
    customer_id: UUID | str | None = None,
) -> AsyncIterator[tuple[Any, ...]]:
    """Run the named query ``key`` through a server-side cursor and yield its
    rows as tuples (see ``stream_batches``); ``customer_id`` as in ``fetch_all``."""
    scope = customer_scope(conn, customer_id)
    query = CATALOG[key]
    query.use("many", params)
    async for batch in stream_batches(conn, query, params, batch_size, scope):
        for row in batch:
            yield row


async def connect(
    dsn: str = "",
    *,
    prepare: bool | None = None,
    statement_timeout: Timeout = DEFAULT_STATEMENT_TIMEOUT,
    lock_timeout: Timeout = DEFAULT_LOCK_TIMEOUT,
    **kwargs: Any,
) -> AsyncConnection:
    """A psycopg connection set up for the library (see the module's doc).

    Timeouts are a ``timedelta`` or seconds; ``None`` leaves the server's
    setting (needed behind PgBouncer, which refuses startup options unless
    told to ignore them: set the timeouts on the role there).
    """
    prepare = prepare_default(prepare)
    conn = await psycopg.AsyncConnection.connect(
        dsn, **session_options(kwargs, statement_timeout, lock_timeout)
    )
    try:
        await configure_connection(conn, prepare=prepare)
    except BaseException:
        await conn.close()
        raise
    return conn


def _running_loop() -> Any:
    """The event loop a pool made now runs on (None on the sync side)."""
    loop = None
    loop = asyncio.get_running_loop()  # async-only
    return loop


async def check_lent(conn: AsyncConnection) -> None:
    """The library pools' check before lending ``conn``: raise if it is
    broken, so the pool drops it and lends another. An idle connection
    receives nothing unless the server ended it (a restart, a terminated
    backend, ``idle_session_timeout``, a restarted PgBouncer: their goodbye
    or the closed socket makes it readable) or a notification came; only
    then is psycopg's ``check_connection`` round trip paid. Measured on
    PG15, a lend + ``customers.get`` + return: 79-80 us without a check,
    412-440 us with a round trip each lend (see docs/performance.md). Not
    caught, as with any check: a connection that breaks after it is lent,
    or a peer that vanished without closing (its first statement raises
    ConnectionLostError, a TransientError)."""
    if conn.closed or wrote_while_idle(conn.pgconn.socket):
        await AsyncConnectionPool.check_connection(conn)


async def create_pool(
    dsn: str = "",
    *,
    prepare: bool | None = None,
    statement_timeout: Timeout = DEFAULT_STATEMENT_TIMEOUT,
    lock_timeout: Timeout = DEFAULT_LOCK_TIMEOUT,
    **kwargs: Any,
) -> AsyncConnectionPool[Any]:
    """A ``psycopg_pool`` pool whose connections are set up like ``connect``'s.

    Keyword arguments go to the pool (``min_size``, ``max_size``, ``kwargs=``
    for the connections...). A ``configure`` callback of your own runs after
    ours. Connections are checked before they are lent (``check=``
    ``check_lent`` unless you pass ``check``: a round trip only for a
    connection the server wrote to while it sat idle). The pool is opened
    unless ``open=False``.
    """
    prepare = prepare_default(prepare)
    user_configure: Callable[[AsyncConnection], Any] | None = kwargs.pop("configure", None)

    async def configure(conn: AsyncConnection) -> None:
        await configure_connection(conn, prepare=prepare)
        if user_configure is not None:
            await user_configure(conn)

    opened = kwargs.pop("open", True)
    kwargs.setdefault("check", check_lent)
    kwargs["kwargs"] = session_options(
        dict(kwargs.get("kwargs") or {}), statement_timeout, lock_timeout
    )
    pool = _Pool(dsn, configure=configure, open=False, **kwargs)
    register_pool(pool, _running_loop())
    if opened:
        await pool.open()
    return pool


class _Pool(AsyncConnectionPool[Any]):
    """``create_pool``'s pool: psycopg_pool's, which, while the library is
    instrumented (``odb.instrument``), also times each wait for a connection
    and each use of one (``db.client.connection.wait_time`` / ``use_time``).
    Uninstrumented it adds one global read per lend and per return."""

    async def getconn(self, timeout: float | None = None) -> AsyncConnection:
        began = perf_counter()
        conn: AsyncConnection = await super().getconn(timeout)
        pool_lent(self, conn, began)
        return conn

    async def putconn(self, conn: AsyncConnection) -> None:
        pool_returned(self, conn)
        await super().putconn(conn)
