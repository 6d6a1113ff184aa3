"""What every repository shares: running a named query, decoding JSON rows,
keyset cursors, turning input models into bound parameters.

Every query of the library returns its rows as JSON text (``to_json(r)::text``)
that pydantic-core parses in Rust, which costs less than psycopg decoding each
jsonb cell with ``json.loads`` (see the README and ``make bench``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, LiteralString, TypeVar
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from pydantic import AfterValidator, BaseModel, ConfigDict, TypeAdapter, ValidationError

from optiinfra_db.db import stream_batches
from optiinfra_db.errors import (
    ConflictError,
    NotFoundError,
    RepositoryError,
    RowDecodeError,
    wrap_errors,
)
from optiinfra_db.fieldtypes import (
    check_batch_size,
    check_id,
    check_json_object_required,
    check_limit,
    check_time,
)
from optiinfra_db.queries import CATALOG
from optiinfra_db.records import UpdateInput

__all__ = [
    "Cursor",
    "Repository",
    "UpdatableRepository",
    "bounds",
    "check",
    "json_text",
    "keyset",
    "limit_of",
    "page",
    "page_token",
    "to_params",
    "window",
]

R = TypeVar("R", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)
U = TypeVar("U", bound=UpdateInput)
Params = Mapping[str, Any]

#: Rows decoded per fetch when a page is read (their text is dropped after).
_CHUNK = 256

#: Keyset sentinels for "from the very top" and "no bound".
_MAX_UUID = UUID(int=(1 << 128) - 1)
_INFINITY = "infinity"
_MINUS_INFINITY = "-infinity"


#: What ``after=`` accepts: the last record of the previous page, or its ``page_token``.
Cursor = BaseModel | str


def page_token(record: BaseModel, field: str = "created_at") -> str:
    """An opaque, URL-safe token for "the page after this record".

    It names the record's type, so a token of one table is refused by another.
    """
    moment: datetime = getattr(record, field)
    raw = f"{type(record).__name__}|{moment.isoformat()}|{record.id}"  # type: ignore[attr-defined]
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str, record: type[BaseModel]) -> tuple[datetime, UUID]:
    try:
        padded = token + "=" * (-len(token) % 4)
        kind, moment, ident = base64.urlsafe_b64decode(padded).decode().split("|")
        parsed = datetime.fromisoformat(moment)
        parsed_id = UUID(ident)
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise ValueError("not a page token (pass page_token(record) of the last record)") from exc
    if kind != record.__name__:
        raise ValueError(f"a page token of {kind} records, not of {record.__name__} records")
    return parsed, parsed_id


def _cursor(after: Any, record: type[BaseModel], field: str) -> tuple[Any, Any]:
    """(moment, id) of an ``after=`` value; ValueError (so ValidationError) otherwise."""
    if isinstance(after, str):
        return _decode_token(after, record)
    if isinstance(after, record):
        return getattr(after, field), after.id  # type: ignore[attr-defined]
    raise ValueError(
        f"after= takes the last {record.__name__} of the previous page or its page_token(), "
        f"not {type(after).__name__}"
    )


@functools.cache
def _cursor_adapter(record: type[BaseModel], field: str) -> TypeAdapter[Any]:
    def validate(after: Any) -> tuple[Any, Any]:
        moment, ident = _cursor(after, record, field)
        return check_time(moment), check_id(ident)

    return TypeAdapter(
        Annotated[Any, AfterValidator(validate)],
        config=ConfigDict(hide_input_in_errors=True),
    )


def keyset(
    after: Cursor | None, record: type[BaseModel], field: str = "created_at"
) -> tuple[Any, UUID]:
    """(after_<field>, after_id) parameters for a newest-first keyset page.

    A record of another type, a malformed or foreign token, or any other value
    raises ``pydantic.ValidationError`` before any SQL is sent.
    """
    if after is None:
        return _INFINITY, _MAX_UUID
    moment, ident = _cursor_adapter(record, field).validate_python(after)
    return moment, ident


def bounds(since: datetime | None, until: datetime | None) -> tuple[Any, Any]:
    """[since, until) parameters; None means unbounded. Naive datetimes are refused."""
    return (
        _MINUS_INFINITY if since is None else check_time(since),
        _INFINITY if until is None else check_time(until),
    )


def page(
    limit: int, after: Cursor | None, record: type[BaseModel], field: str = "created_at"
) -> dict[str, Any]:
    """The keyset-page parameters every list query takes: limit, after_<field>, after_id."""
    after_at, after_id = keyset(after, record, field)
    return {"limit": limit_of(limit), f"after_{field}": after_at, "after_id": after_id}


def window(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """The [since, until) parameters of the lists that take a time window."""
    since_, until_ = bounds(since, until)
    return {"since": since_, "until": until_}


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_text(value: Any) -> str | None:
    """A JSON value as text for COPY into a jsonb column (None stays NULL).

    Empty objects and arrays, the common case, skip the encoder.
    """
    if value is None:
        return None
    if not value and isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return _ENCODE(value)


def to_params(model: BaseModel, **extra: Any) -> dict[str, Any]:
    """Bound parameters from an input model: JSON fields wrapped for jsonb."""
    params: dict[str, Any] = {}
    for name, value in model:
        params[name] = Jsonb(value) if isinstance(value, dict | list) else value
    params.update(extra)
    return params


class Repository(Generic[R]):
    """Base of the table repositories. Runs on the caller's connection and
    never commits: the caller's transaction decides."""

    #: The file stem in sql/ (also the table name).
    table: ClassVar[str]
    #: Name used in messages, e.g. "workflow execution".
    entity: ClassVar[str]
    #: The record a row decodes to.
    record: type[R]
    #: This table's statements, by query name (filled at class creation).
    q: ClassVar[dict[str, LiteralString]]
    #: The names of those marked ``plan: custom``: never prepared.
    custom: ClassVar[frozenset[str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "table" in cls.__dict__:
            prefix = cls.table + "."
            cls.q = {
                key.removeprefix(prefix): query.sql
                for key, query in CATALOG.items()
                if key.startswith(prefix)
            }
            cls.custom = frozenset(
                key.removeprefix(prefix)
                for key, query in CATALOG.items()
                if key.startswith(prefix) and query.custom_plan
            )

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    # -- running statements ---------------------------------------------------------

    def _ready(self) -> Any:
        """The error-mapping context for one statement, after making sure the
        session renders timestamps in UTC (``to_json`` writes them in the
        session's TimeZone; some zones give offsets with seconds or dates
        outside years 1..9999 that no decoder reads). Reading the reported
        TimeZone costs no round trip; only a session set elsewhere pays one SET."""
        conn = self.conn
        if conn.pgconn.parameter_status(b"TimeZone") not in _UTC_NAMES:
            pin_utc(conn)
        return wrap_errors(conn.autocommit)

    def _fetchone(
        self, sql: LiteralString, params: Params, prepare: bool | None = None
    ) -> tuple[Any, ...] | None:
        with self._ready(), self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql, params, prepare=prepare)
            return cur.fetchone()

    def _fetchall(
        self, sql: LiteralString, params: Params, prepare: bool | None = None
    ) -> list[tuple[Any, ...]]:
        with self._ready(), self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql, params, prepare=prepare)
            return cur.fetchall()

    def _prepare(self, name: str) -> bool | None:
        """psycopg's ``prepare=`` for a named query: False for ``plan: custom``
        (planned with its values at every call), else psycopg's default."""
        return False if name in self.custom else None

    def _rowcount(self, sql: LiteralString, params: Params) -> int:
        with self._ready(), self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def _copy(self, sql: LiteralString, rows: Sequence[Sequence[Any]]) -> int:
        with self._ready(), self.conn.cursor(row_factory=tuple_row) as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)

    # -- decoding -------------------------------------------------------------------

    def _decode(self, model: type[M], text: str) -> M:
        """One JSON row into its record; a row that can't be decoded raises
        RowDecodeError naming the table and id (never a bare ValidationError)."""
        try:
            return model.model_validate_json(text)
        except ValidationError as exc:
            raise decode_error(self.table, text, exc) from exc

    def _one(self, name: str, params: Params) -> R | None:
        row = self._fetchone(self.q[name], params, self._prepare(name))
        return None if row is None else self._decode(self.record, row[0])

    def _many(self, name: str, params: Params) -> list[R]:
        """All rows of a named query as records, decoded as they are fetched:
        each row's text is dropped once its record is built, so a page holds
        the server's result and the records, never a third copy."""
        with self._ready(), self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(self.q[name], params, prepare=self._prepare(name))
            records: list[R] = []
            while chunk := cur.fetchmany(_CHUNK):
                records += self._decode_rows(chunk)
            return records

    def _stream(self, name: str, params: Params, batch_size: int) -> Iterator[R]:
        """The rows of a named query as records through a server-side cursor
        (``DECLARE ... CURSOR``), ``batch_size`` rows per round trip: memory
        stays bounded by one batch however many rows match. Runs inside the
        caller's transaction, or in one of its own on an autocommit
        connection; the cursor is closed when the iterator ends or is closed.
        Arguments are checked now, before any SQL; rows come as it is read."""
        return self._rows(name, params, check_batch_size(batch_size))

    def _rows(self, name: str, params: Params, size: int) -> Iterator[R]:
        with self._ready():
            for batch in stream_batches(self.conn, self.q[name], params, size):
                yield from self._decode_rows(batch)

    def _decode_rows(self, rows: Sequence[tuple[Any, ...]]) -> list[R]:
        validate = self.record.model_validate_json
        try:
            return [validate(row[0]) for row in rows]
        except ValidationError:
            # Name the first row that fails (only on this, the failing path).
            for row in rows:
                self._decode(self.record, row[0])
            raise

    def _one_or_missing(self, name: str, id: UUID, params: Params) -> R:
        found = self._one(name, params)
        if found is None:
            raise NotFoundError(self.entity, id)
        return found

    # -- the operations every table has ---------------------------------------------

    def _create(self, data: BaseModel, expected: type[BaseModel], **extra: Any) -> R:
        row = self._insert("create", data, expected, **extra)
        assert row is not None  # INSERT ... RETURNING always returns the row
        return row

    def _insert(
        self, name: str, data: BaseModel, expected: type[BaseModel], **extra: Any
    ) -> R | None:
        """Run the insert ``name`` with an input model's fields (None: a guarded
        insert that inserted nothing)."""
        if not isinstance(data, expected):
            raise TypeError(f"create() takes a {expected.__name__}, not {type(data).__name__}")
        return self._one(name, to_params(data, **extra))

    def get(self, id: UUID | str) -> R | None:
        """The row with this id, or None."""
        return self._one("get", {"id": check_id(id)})

    def delete(self, id: UUID | str) -> bool:
        """Delete the row (and what cascades from it); False if there was none."""
        return self._rowcount(self.q["delete"], {"id": check_id(id)}) > 0


class UpdatableRepository(Repository[R], Generic[R, U]):
    """A repository whose rows change: ``update(id, data)``."""

    update_model: type[U]

    def update(self, id: UUID | str, data: U, *, expected_updated_at: datetime | None = None) -> R:
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
        updated = self._one("update", params)
        if updated is not None:
            return updated
        current = self.get(ident)
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

    def merge_metadata(self, id: UUID | str, patch: dict[str, Any]) -> R:
        """Merge ``patch`` into the row's ``metadata`` in one statement (top-level
        keys replace, the rest stay), so concurrent merges lose nothing.
        Raises NotFoundError for a missing id."""
        if "merge_metadata" not in self.q:
            raise TypeError(f"{self.table} has no metadata column")
        ident = check_id(id)
        params = {"id": ident, "patch": Jsonb(check_json_object_required(patch))}
        return self._one_or_missing("merge_metadata", ident, params)


_UTC_NAMES = frozenset({b"UTC", b"Etc/UTC", b"Etc/UCT", b"UCT", b"Etc/Universal", b"Zulu"})
_SET_UTC = CATALOG["meta.set_time_zone_utc"].sql


def pin_utc(conn: psycopg.Connection[Any]) -> None:
    """Set the session's TimeZone to UTC (for as long as the session, or until
    the transaction it runs in rolls back: then the next call sets it again)."""
    with wrap_errors(conn.autocommit), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(_SET_UTC)


def decode_error(table: str, text: str, exc: ValidationError) -> RowDecodeError:
    """A RowDecodeError for a row of ``table`` (JSON ``text``) that failed validation."""
    try:
        doc = json.loads(text)
        ident = doc.get("id", doc.get("execution", {}).get("id", "?"))
    except (ValueError, AttributeError, RecursionError):
        ident = "?"
    first = exc.errors(include_input=False, include_url=False)[:1]
    detail = (
        f"{'.'.join(str(p) for p in first[0]['loc'])}: {first[0]['msg']}" if first else str(exc)
    )
    return RowDecodeError(table, ident, detail)


@functools.cache
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def check(tp: Any, value: Any) -> Any:
    """Validate a plain argument like a record field (ValidationError before any SQL)."""
    return _adapter(tp).validate_python(value)


def limit_of(limit: int) -> int:
    """A page size from 1 to 10,000 (ValidationError otherwise)."""
    return check_limit(limit)
