"""The base of the table repositories: running a named statement on the
caller's connection and decoding what it returns.

Written once, for asyncio; ``optiinfra_db/repositories/_base.py`` is generated
from it by ``tools/async_to_sync.py`` (``make generate``). Everything that does
no I/O (parameters, cursors, decoding) is in ``optiinfra_db/sansio/values.py``
and serves both sides as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from optiinfra_db.aio.cluster import recover
from optiinfra_db.aio.db import scoped, stream_results
from optiinfra_db.errors import (
    ConflictError,
    InvalidReferenceError,
    NotFoundError,
    RepositoryError,
    platform_refusal,
    with_key,
    wrap_errors,
)
from optiinfra_db.fieldtypes import (
    check_batch_size,
    check_id,
    check_json_object_required,
    check_time,
)
from optiinfra_db.queries import CATALOG, Query
from optiinfra_db.sansio.lifecycle import ACTOR, REASON, WORKER
from optiinfra_db.sansio.rowjson import first_text, texts
from optiinfra_db.sansio.scope import Scope, customer_scope
from optiinfra_db.sansio.telemetry import observe
from optiinfra_db.sansio.values import (
    CHUNK,
    M,
    Params,
    R,
    TableCore,
    U,
    check,
    keep_cursor,
    renders_utc_iso,
    require_connection,
    spare_cursor,
    to_params,
)

__all__ = ["Reader", "Repository", "UpdatableRepository", "guarded", "pin_utc"]


class Reader(TableCore[R]):
    """Runs one ``sql/`` file's statements on the caller's connection and
    decodes what they return; never commits: the caller's transaction decides.
    The base of the table repositories and of the cross-table reports.

    ``customer_id``: act for that customer only (row-level security, see
    ``optiinfra_db/sansio/scope.py``); None, the operator's view of every customer
    (on a session row-level security applies to, that view holds no
    customer-owned row at all)."""

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], customer_id: UUID | str | None = None
    ) -> None:
        require_connection(self, conn, psycopg.AsyncConnection)
        self.conn = conn
        self.scope: Scope | None = customer_scope(conn, customer_id)

    @property
    def customer_id(self) -> UUID | None:
        """The customer this repository acts for; None for the operator's view."""
        return None if self.scope is None else self.scope.customer_id

    # -- running statements ---------------------------------------------------------

    async def _ready(self, query: Query) -> contextlib.AbstractContextManager[None]:
        """The error-mapping context for ``query``, after refusing a write to a
        platform table from a customer scope (CustomerScopeError, before any
        SQL: migration 0015 refuses it in the server too) and making sure the
        session renders timestamps in UTC and ISO 8601 (rows are read as the
        server writes them, in the session's TimeZone and DateStyle; some
        zones give offsets with seconds or dates outside years 1..9999 that no
        decoder reads). Reading the reported TimeZone and DateStyle costs no
        round trip; only a session set elsewhere pays one SET."""
        if self.platform and self.scope is not None and query.writes:
            raise platform_refusal(type(self).__name__, self.table, self.scope.customer_id)
        conn = self.conn
        if not renders_utc_iso(conn.pgconn):
            await pin_utc(conn)
        return wrap_errors(conn.autocommit)

    def _scoped(self, cur: psycopg.AsyncCursor[Any]) -> contextlib.AbstractAsyncContextManager[Any]:
        """Wrap the execute of one statement so it runs for this repository's
        customer (see ``db.scoped``); a platform table's reads need none."""
        return scoped(self.conn, cur, None if self.platform else self.scope)

    def _query(self, name: str | Query) -> Query:
        """One of this table's statements by name (or another file's, given as
        its catalog entry)."""
        return name if isinstance(name, Query) else self.queries[name]

    async def _execute(
        self, cur: psycopg.AsyncCursor[Any], query: Query, path: str, params: Params
    ) -> None:
        """Execute ``query`` on ``cur`` through ``path`` (see ``Query.use``: its
        kind and parameters are checked first), for this repository's
        customer. A ``plan: custom`` statement is never prepared."""
        sql = query.use(path, params)
        prepare = False if query.custom_plan else None
        scope = None if self.platform else self.scope
        with observe(query, self.conn.pgconn, scope) as call:
            if scope is None:  # nothing to set first (the common case)
                await cur.execute(sql, params, prepare=prepare)
            else:
                try:
                    async with self._scoped(cur):
                        await cur.execute(sql, params, prepare=prepare)
                except psycopg.Error as exc:  # raised by the pipeline: a cluster's replica?
                    if not await recover(cur, exc, sql, params, prepare, scope):
                        raise
            call.done(cur)

    async def _fetchone(self, name: str | Query, params: Params) -> tuple[Any, ...] | None:
        """The one row of a ``:one`` statement, or None."""
        query = self._query(name)
        with await self._ready(query):
            async with self.conn.cursor(row_factory=tuple_row) as cur:
                await self._execute(cur, query, "one", params)
                return await cur.fetchone()

    async def _fetchall(self, name: str | Query, params: Params) -> list[tuple[Any, ...]]:
        """The rows of a ``:many`` statement."""
        query = self._query(name)
        with await self._ready(query):
            async with self.conn.cursor(row_factory=tuple_row) as cur:
                await self._execute(cur, query, "many", params)
                return await cur.fetchall()

    async def _rowcount(self, name: str | Query, params: Params) -> int:
        """The rows an ``:execrows`` statement changed."""
        query = self._query(name)
        with await self._ready(query):
            async with self.conn.cursor(row_factory=tuple_row) as cur:
                await self._execute(cur, query, "rows", params)
                return cur.rowcount

    async def _copy(self, name: str, rows: Sequence[Sequence[Any]]) -> int:
        """COPY rows in (the platform's tables, or the operator's view: COPY
        FROM refuses a table under row-level security; a scoped repository
        inserts with ``_insert_each``)."""
        query = self.queries[name]
        sql = query.use("copy", None)
        with await self._ready(query), observe(query, self.conn.pgconn) as call:
            async with self.conn.cursor(row_factory=tuple_row) as cur:
                async with cur.copy(sql) as copy:
                    for row in rows:
                        await copy.write_row(row)
                call.done(cur)
        return len(rows)

    async def _insert_each(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run the insert ``name`` once per row, pipelined (one round trip for
        all, in the transaction that sets the customer): what a scoped
        repository does where the operator's view COPYs."""
        query = self.queries[name]
        for row in rows:
            query.use("each", row)
        with await self._ready(query), observe(query, self.conn.pgconn, self.scope) as call:
            async with self.conn.cursor(row_factory=tuple_row) as cur, self._scoped(cur):
                await cur.executemany(query.sql, rows)
            call.add_rows(len(rows))
        return len(rows)

    # -- decoding -------------------------------------------------------------------

    async def _one(self, name: str | Query, params: Params) -> R | None:
        """The record of a ``:one`` statement, or None."""
        return await self._one_of(self.record, name, params)

    async def _one_of(self, model: type[M], name: str | Query, params: Params) -> M | None:
        """The ``model`` record of a ``:one`` statement, or None. Its row's
        JSON is read from the raw result (no loaders run): the statement's
        one JSON column, or its columns assembled on the client
        (``sansio.rowjson``)."""
        query = self._query(name)
        conn = self.conn
        with await self._ready(query):
            cur = spare_cursor(conn) or conn.cursor(row_factory=tuple_row)
            await self._execute(cur, query, "one", params)
            text = first_text(cur.pgresult, query.sql)
            keep_cursor(conn, cur)
        return None if text is None else self._decode(model, text)

    async def _many(self, name: str | Query, params: Params) -> list[R]:
        """All rows of a ``:many`` statement as records."""
        return await self._many_of(self.record, name, params)

    async def _many_of(self, model: type[M], name: str | Query, params: Params) -> list[M]:
        """All rows of a ``:many`` statement as ``model`` records, decoded
        from the raw result as they are read (no loaders run, no tuples
        built): a page holds the server's result and the records, never a
        third copy. On the async side the event loop gets a turn between
        chunks, so a long page does not stall the other tasks for its whole
        decode."""
        query = self._query(name)
        conn = self.conn
        with await self._ready(query):
            cur = spare_cursor(conn) or conn.cursor(row_factory=tuple_row)
            await self._execute(cur, query, "many", params)
            result = cur.pgresult
            rows = 0 if result is None else result.ntuples
            records: list[M] = []
            for start in range(0, rows, CHUNK):
                if start:  # async-only: let other tasks run between chunks
                    await asyncio.sleep(0)
                chunk = texts(result, start, start + CHUNK, query.sql)
                records += self._decode_texts(model, chunk)
            if rows <= 1:  # a claim's one run: the cursor serves the next call
                keep_cursor(conn, cur)
            else:
                await cur.close()  # the result goes now, not when collected
            return records

    def _stream(self, name: str, params: Params, batch_size: int) -> AsyncIterator[R]:
        """The rows of a named query as records through a server-side cursor
        (``DECLARE ... CURSOR``), ``batch_size`` rows per round trip: memory
        stays bounded by one batch however many rows match. Runs inside the
        caller's transaction, or in one of its own on an autocommit
        connection; the cursor is closed when the iterator ends or is closed.
        Arguments are checked now, before any SQL; rows come as it is read."""
        query = self.queries[name]
        query.use("many", params)
        return self._rows(query, params, check_batch_size(batch_size))

    async def _rows(self, query: Query, params: Params, size: int) -> AsyncIterator[R]:
        with await self._ready(query):
            scope = None if self.platform else self.scope
            async for cur in stream_results(self.conn, query, params, size, scope):
                for record in self._decode_texts(
                    self.record, texts(cur.pgresult, statement=query.sql)
                ):
                    yield record


class Repository(Reader[R]):
    """Base of the table repositories: a Reader of ``sql/<table>.sql`` with the
    operations every table has (get, delete, create)."""

    async def _one_or_missing(self, name: str, id: UUID, params: Params) -> R:
        found = await self._one(name, params)
        if found is None:
            raise NotFoundError(self.entity, id)
        return found

    # -- the operations every table has ---------------------------------------------

    async def _create(self, data: BaseModel, expected: type[BaseModel], **extra: Any) -> R:
        row = await self._insert("create", data, expected, **extra)
        assert row is not None  # INSERT ... RETURNING always returns the row
        return row

    async def _insert(
        self, name: str, data: BaseModel, expected: type[BaseModel], **extra: Any
    ) -> R | None:
        """Run the insert ``name`` with an input model's fields (None: a guarded
        insert that inserted nothing)."""
        if not isinstance(data, expected):
            raise TypeError(f"create() takes a {expected.__name__}, not {type(data).__name__}")
        if self.scope is not None:
            self.scope.refuse(type(self).__name__, data)
        params = to_params(data, **extra)
        try:
            return await self._one(name, params)
        except InvalidReferenceError as exc:
            raise with_key(exc, params) from exc.__cause__

    async def get(self, id: UUID | str) -> R | None:
        """The row with this id, or None."""
        return await self._one("get", {"id": check_id(id)})

    async def delete(self, id: UUID | str) -> bool:
        """Delete the row (and what cascades from it); False if there was none."""
        return await self._rowcount("delete", {"id": check_id(id)}) > 0


class UpdatableRepository(Repository[R], Generic[R, U]):
    """A repository whose rows change: ``update(id, data)``."""

    update_model: type[U]

    async def update(
        self, id: UUID | str, data: U, *, expected_updated_at: datetime | None = None
    ) -> R:
        """Write exactly the fields set in ``data`` (an explicit None writes NULL).

        ``expected_updated_at``: the ``updated_at`` of the record the change was
        based on (optimistic concurrency): if the row changed since,
        ConflictError and nothing is written. Raises NotFoundError for a
        missing id.
        """
        ident = check_id(id)
        if not isinstance(data, self.update_model):
            raise TypeError(
                f"update() takes a {self.update_model.__name__}, not {type(data).__name__}"
            )
        params = to_params(
            data,
            id=ident,
            expected_updated_at=check_time(expected_updated_at),
            **data.set_flags(),
        )
        updated = await self._one("update", params)
        if updated is not None:
            return updated
        current = await self.get(ident)
        if current is None:
            raise NotFoundError(self.entity, ident)
        raise self._update_refused(current, data, expected_updated_at)

    def _update_refused(
        self, current: R, data: U, expected_updated_at: datetime | None
    ) -> RepositoryError:
        """Why ``update`` matched an existing row but changed nothing."""
        return ConflictError(
            f"{self.entity} {current.id} changed since it was read "  # type: ignore[attr-defined]
            f"(updated_at {current.updated_at.isoformat()}, "  # type: ignore[attr-defined]
            f"expected {expected_updated_at.isoformat() if expected_updated_at else None}); "
            "read it again and retry"
        )

    async def merge_metadata(self, id: UUID | str, patch: dict[str, Any]) -> R:
        """Merge ``patch`` into the row's ``metadata`` in one statement (top-level
        keys replace, the rest stay), so concurrent merges lose nothing.
        Raises NotFoundError for a missing id."""
        if "merge_metadata" not in self.queries:
            raise TypeError(f"{self.table} has no metadata column")
        ident = check_id(id)
        params = {"id": ident, "patch": Jsonb(check_json_object_required(patch))}
        return await self._one_or_missing("merge_metadata", ident, params)


async def guarded(
    repo: Repository[R],
    name: str,
    id: UUID | str,
    worker_id: str | None,
    reason: str | None,
    actor: str | None,
    params: dict[str, Any],
) -> tuple[UUID, str | None, R | None]:
    """Run the guarded lifecycle statement ``name`` (the moves of executions
    and of steps start here): (the id, the worker, the moved record or None
    if refused). ``actor``: who makes the move, for the log (None: the
    worker, for its own call)."""
    ident = check_id(id)
    # None (the common case) needs no validator call
    worker = None if worker_id is None else check(WORKER, worker_id)
    why = None if reason is None else check(REASON, reason)
    who = None if actor is None else check(ACTOR, actor)
    bound = {"id": ident, "reason": why, "actor": who, **params}
    if "worker_id" in repo.queries[name].params:  # a move without a worker fence has none
        bound["worker_id"] = worker
    moved = await repo._one(name, bound)
    return ident, worker, moved


_SET_UTC_QUERY = CATALOG["meta.set_time_zone_utc"]
_SET_UTC = _SET_UTC_QUERY.use("rows", None)


async def pin_utc(conn: psycopg.AsyncConnection[Any]) -> None:
    """Set the session's TimeZone to UTC and its DateStyle to ISO (for as long
    as the session, or until the transaction it runs in rolls back: then the
    next call sets them again)."""
    with wrap_errors(conn.autocommit), observe(_SET_UTC_QUERY, conn.pgconn) as call:
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(_SET_UTC)
            call.done(cur)
