"""What every repository shares: running a named query, decoding JSON rows,
keyset cursors, turning input models into bound parameters.

Every query of the library returns its rows as JSON text (``to_json(r)::text``)
that pydantic-core parses in Rust, which costs less than psycopg decoding each
jsonb cell with ``json.loads`` (see ARCHITECTURE.md and ``make bench``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, LiteralString, TypeVar
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, TypeAdapter

from optiinfra_db.errors import NotFoundError, wrap_errors
from optiinfra_db.fieldtypes import check_id, check_limit, check_time
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
U = TypeVar("U", bound=UpdateInput)
Params = Mapping[str, Any]

#: Keyset sentinels for "from the very top" and "no bound".
_MAX_UUID = UUID(int=(1 << 128) - 1)
_INFINITY = "infinity"
_MINUS_INFINITY = "-infinity"


#: What ``after=`` accepts: the last record of the previous page, or its ``page_token``.
Cursor = BaseModel | str


def page_token(record: BaseModel, field: str = "created_at") -> str:
    """An opaque, URL-safe token for "the page after this record"."""
    moment: datetime = getattr(record, field)
    raw = f"{moment.isoformat()}|{record.id}"  # type: ignore[attr-defined]
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[datetime, UUID]:
    try:
        padded = token + "=" * (-len(token) % 4)
        moment, _, ident = base64.urlsafe_b64decode(padded).decode().partition("|")
        parsed = datetime.fromisoformat(moment)
        return parsed, UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"not a page token: {token!r}") from exc


def keyset(after: Cursor | None, field: str = "created_at") -> tuple[Any, UUID]:
    """(after_<field>, after_id) parameters for a newest-first keyset page."""
    if after is None:
        return _INFINITY, _MAX_UUID
    if isinstance(after, str):
        moment, ident = _decode_token(after)
    else:
        moment, ident = getattr(after, field), after.id  # type: ignore[attr-defined]
    checked = check_time(moment)
    return checked, check_id(ident)


def bounds(since: datetime | None, until: datetime | None) -> tuple[Any, Any]:
    """[since, until) parameters; None means unbounded. Naive datetimes are refused."""
    return (
        _MINUS_INFINITY if since is None else check_time(since),
        _INFINITY if until is None else check_time(until),
    )


def page(limit: int, after: Cursor | None, field: str = "created_at") -> dict[str, Any]:
    """The keyset-page parameters every list query takes: limit, after_<field>, after_id."""
    after_at, after_id = keyset(after, field)
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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "table" in cls.__dict__:
            prefix = cls.table + "."
            cls.q = {
                key.removeprefix(prefix): query.sql
                for key, query in CATALOG.items()
                if key.startswith(prefix)
            }

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    # -- running statements ---------------------------------------------------------

    def _fetchone(self, sql: LiteralString, params: Params) -> tuple[Any, ...] | None:
        with wrap_errors(), self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def _fetchall(self, sql: LiteralString, params: Params) -> list[tuple[Any, ...]]:
        with wrap_errors(), self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def _rowcount(self, sql: LiteralString, params: Params) -> int:
        with wrap_errors(), self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def _copy(self, sql: LiteralString, rows: Sequence[Sequence[Any]]) -> int:
        with wrap_errors(), self.conn.cursor(row_factory=tuple_row) as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)

    # -- decoding -------------------------------------------------------------------

    def _one(self, name: str, params: Params) -> R | None:
        row = self._fetchone(self.q[name], params)
        return None if row is None else self.record.model_validate_json(row[0])

    def _many(self, name: str, params: Params) -> list[R]:
        validate = self.record.model_validate_json
        return [validate(row[0]) for row in self._fetchall(self.q[name], params)]

    def _one_or_missing(self, name: str, id: UUID, params: Params) -> R:
        found = self._one(name, params)
        if found is None:
            raise NotFoundError(self.entity, id)
        return found

    # -- the operations every table has ---------------------------------------------

    def _create(self, data: BaseModel, expected: type[BaseModel], **extra: Any) -> R:
        if not isinstance(data, expected):
            raise TypeError(f"create() takes a {expected.__name__}, not {type(data).__name__}")
        row = self._one("create", to_params(data, **extra))
        assert row is not None  # INSERT ... RETURNING always returns the row
        return row

    def get(self, id: UUID | str) -> R | None:
        """The row with this id, or None."""
        return self._one("get", {"id": check_id(id)})

    def delete(self, id: UUID | str) -> bool:
        """Delete the row (and what cascades from it); False if there was none."""
        return self._rowcount(self.q["delete"], {"id": check_id(id)}) > 0


class UpdatableRepository(Repository[R], Generic[R, U]):
    """A repository whose rows change: ``update(id, data)``."""

    update_model: type[U]

    def update(self, id: UUID | str, data: U) -> R:
        """Write exactly the fields set in ``data`` (an explicit None writes NULL).

        Raises NotFoundError for a missing id.
        """
        ident = check_id(id)
        if not isinstance(data, self.update_model):
            raise TypeError(
                f"update() takes a {self.update_model.__name__}, not {type(data).__name__}"
            )
        params = to_params(data, id=ident, **data.set_flags())
        return self._one_or_missing("update", ident, params)


@functools.cache
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def check(tp: Any, value: Any) -> Any:
    """Validate a plain argument like a record field (ValidationError before any SQL)."""
    return _adapter(tp).validate_python(value)


def limit_of(limit: int) -> int:
    """A page size from 1 to 10,000 (ValidationError otherwise)."""
    return check_limit(limit)
