"""What the sync and the async repositories share, none of it doing I/O:
turning arguments into bound parameters (keyset cursors, windows, input
models, JSON for COPY), checking plain arguments, decoding JSON rows into
records, and the per-table facts (statements by name, which of them are
planned per call). The repositories that run the statements are in
``optiinfra_db/aio/repositories/_base.py`` (written once, for asyncio) and
``optiinfra_db/repositories/_base.py`` (generated from it): see
``tools/async_to_sync.py`` for why.

Every query of the library returns its rows as JSON text (``to_json(r)::text``)
that pydantic-core parses in Rust, which costs less than psycopg decoding each
jsonb cell with ``json.loads`` (see the README and ``make bench``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from pydantic import AfterValidator, BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic_core import from_json

from optiinfra_db.errors import RowDecodeError
from optiinfra_db.fieldtypes import check_id, check_limit, check_time
from optiinfra_db.queries import CATALOG, Query
from optiinfra_db.records._base import UpdateInput
from optiinfra_db.schema import PLATFORM_TABLES

__all__ = [
    "UTC_NAMES",
    "Cursor",
    "TableCore",
    "bounds",
    "check",
    "decode_error",
    "json_text",
    "keep_cursor",
    "keyset",
    "limit_of",
    "page",
    "page_token",
    "renders_utc_iso",
    "require_connection",
    "spare_cursor",
    "to_params",
    "window",
]

R = TypeVar("R", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)
U = TypeVar("U", bound=UpdateInput)
Params = Mapping[str, Any]

#: Rows decoded per fetch when a page is read (their text is dropped after).
CHUNK = 256
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


class TableCore(Generic[R]):
    """The per-table facts a repository of either side has: its statements by
    name, which are never prepared, its record, and decoding rows into it."""

    #: The file stem in sql/ (also the table name).
    table: ClassVar[str]
    #: Name used in messages, e.g. "workflow execution".
    entity: ClassVar[str]
    #: The record a row decodes to.
    record: type[R]
    #: This table's statements, by query name (filled at class creation from
    #: ``sql/<table>.sql``); each is run through ``Query.use``, which holds it to
    #: its kind and its parameters.
    queries: ClassVar[dict[str, Query]]
    #: A platform table (schema.PLATFORM_TABLES): read-only to a customer scope.
    platform: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "table" in cls.__dict__:
            prefix = cls.table + "."
            cls.queries = {
                key.removeprefix(prefix): query
                for key, query in CATALOG.items()
                if key.startswith(prefix)
            }
            cls.platform = cls.table in PLATFORM_TABLES

    def _decode(self, model: type[M], text: str | bytes) -> M:
        """One JSON row into its record; a row that can't be decoded raises
        RowDecodeError naming the table and id (never a bare ValidationError)."""
        try:
            return model.model_validate_json(text)
        except ValidationError as exc:
            raise decode_error(self.table, text, exc) from exc

    def _decode_texts(self, model: type[M], texts: Sequence[str | bytes]) -> list[M]:
        """Rows' JSON texts into ``model`` records (the first failing row
        named). Rows whose JSON averages ``LARGE_ROW`` bytes or more are
        parsed by ``pydantic_core.from_json`` first, whose string cache
        shares repeated keys and values across rows, then validated; smaller
        ones in one ``model_validate_json`` each (faster for them). Both give
        the same records (tests/integration/test_decode_paths.py)."""
        try:
            if texts and sum(map(len, texts)) >= LARGE_ROW * len(texts):
                validate = model.model_validate
                return [validate(from_json(text)) for text in texts]
            validate_json = model.model_validate_json
            return [validate_json(text) for text in texts]
        except ValueError:  # a ValidationError, or JSON from_json can't read
            # Name the first row that fails (only on this, the failing path).
            for text in texts:
                self._decode(model, text)
            raise


#: The average JSON size of a chunk of rows from which ``_decode_texts``
#: parses before validating. Measured (one WorkflowExecution with a growing
#: jsonb input, per row): 0.9 KB 4.9 vs 6.5 us, 1.5 KB 8.8 vs 9.6 us, 2.5 KB
#: 14.3 vs 13.9 us, 6 KB 35.6 vs 31.9 us; 10,000 rows of 7.5 KB keep 424 MB
#: of records through model_validate_json and 263 MB through from_json.
LARGE_ROW = 2048


#: The attribute of a connection that holds its spare cursors.
_SPARES = "_optiinfra_spare_cursors"


def spare_cursor(conn: Any) -> Any:
    """A cursor of ``conn`` kept by ``keep_cursor`` after an earlier
    single-row call, or None. A cursor made afresh costs its adapters and
    loader lookups again on every call (measured: get by id 147 us with a
    cursor per call, 132 us on one reused cursor, PG15). A cursor in use is
    never in the list (``list.pop`` and ``append`` are atomic), so threads
    and tasks sharing a connection never share a cursor."""
    spares = getattr(conn, _SPARES, None)
    if spares:
        try:
            return spares.pop()
        except IndexError:  # another thread took the last one
            return None
    return None


def keep_cursor(conn: Any, cur: Any) -> None:
    """Keep ``cur`` (whose result is one row at most: nothing large is held)
    for ``conn``'s next single-row call; at most four per connection."""
    spares = getattr(conn, _SPARES, None)
    if spares is None:
        spares = []
        try:
            setattr(conn, _SPARES, spares)
        except AttributeError:  # a connection that takes no attributes: no spares
            return
    if len(spares) < 4:
        spares.append(cur)


#: The TimeZone names that render timestamps as UTC (no SET needed).
UTC_NAMES = frozenset({b"UTC", b"Etc/UTC", b"Etc/UCT", b"UCT", b"Etc/Universal", b"Zulu"})


def renders_utc_iso(pgconn: Any) -> bool:
    """Whether the session writes timestamps as the records read them: in
    UTC, in ISO 8601 (from the TimeZone and DateStyle the server reports on
    every change: no round trip)."""
    status = pgconn.parameter_status
    zone, style = status(b"TimeZone"), status(b"DateStyle")
    return zone in UTC_NAMES and style is not None and style.startswith(b"ISO")


def decode_error(table: str, text: str | bytes, exc: ValidationError) -> RowDecodeError:
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


#: check's adapters by the identity of the type (kept here, so the id stays
#: that type's): hashing an ``Annotated`` type for the cache above walks its
#: metadata, about 1 us a call, where a worker's claim checks five arguments.
_BY_ID: dict[int, tuple[Any, TypeAdapter[Any]]] = {}


def check(tp: Any, value: Any) -> Any:
    """Validate a plain argument like a record field (ValidationError before any SQL)."""
    known = _BY_ID.get(id(tp))
    if known is None:
        # Equal types share one adapter (by value); at most 512 identities
        # kept, so types made afresh per call (list[X]) can't grow it.
        adapter = _adapter(tp)
        if len(_BY_ID) < 512:
            _BY_ID[id(tp)] = (tp, adapter)
        return adapter.validate_python(value)
    return known[1].validate_python(value)


def limit_of(limit: int) -> int:
    """A page size from 1 to 10,000 (ValidationError otherwise)."""
    return check_limit(limit)


def require_connection(owner: object, conn: object, expected: type) -> None:
    """Refuse, at construction, a connection of the other side: a sync
    repository given a ``psycopg.AsyncConnection`` (or the reverse) raises a
    TypeError naming the class to use instead."""
    if isinstance(conn, expected):
        return
    name = type(owner).__name__
    sync_name = name.removeprefix("Async")
    if isinstance(conn, psycopg.AsyncConnection):
        raise TypeError(
            f"optiinfra_db.{name} runs on a psycopg.Connection, not a psycopg.AsyncConnection: "
            f"use optiinfra_db.aio.{'Async' + name if name == 'Repositories' else name}"
        )
    if isinstance(conn, psycopg.Connection):
        raise TypeError(
            f"optiinfra_db.aio.{name} runs on a psycopg.AsyncConnection, not a "
            f"psycopg.Connection: use optiinfra_db.{sync_name}"
        )
    raise TypeError(f"{name} takes a psycopg.{expected.__name__}, not {type(conn).__name__}")
