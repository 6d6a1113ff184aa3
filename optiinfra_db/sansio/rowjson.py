"""Each row's JSON assembled on the client from plain text columns (issue:
reads that cost the primary no more than raw psycopg).

``to_json(r)`` in the server costs it about as much again as the query; the
columns' text output is already nearly JSON. This module turns one result's
raw text values (``PGresult.get_value``, no loaders run) into one JSON
document per row, for ``model_validate_json`` to decode in one call:

- jsonb / json: the server's text, as is;
- integers and numerics: as is, except ``NaN`` / ``Infinity`` / ``-Infinity``,
  which JSON has no number for: quoted, as ``to_json`` writes them;
- boolean ``t`` / ``f``: ``true`` / ``false``;
- uuid: quoted;
- timestamptz under the session's UTC (the library pins it): ``YYYY-MM-DD
  HH:MM:SS[.ffffff]+00`` becomes ISO 8601 ``...T...+00:00``; ``infinity``
  and ``-infinity`` quoted as they are (the records refuse them, naming the
  row, as they refuse ``to_json``'s);
- anything else (text, varchar, enum labels, dates): a JSON string, escaped
  only when it holds a quote, a backslash or a control character.

I/O-free: the caller hands over the result; both sides use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol, cast

#: A column's text value into its JSON text.
Encoder = Callable[[bytes], bytes]


class Result(Protocol):
    """What is read of a psycopg ``PGresult``."""

    @property
    def ntuples(self) -> int: ...

    @property
    def nfields(self) -> int: ...

    def fname(self, column_number: int) -> bytes | None: ...

    def ftype(self, column_number: int) -> int: ...

    def get_value(self, row_number: int, column_number: int) -> bytes | None: ...


_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\]').search
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
_NON_FINITE = {b"NaN": b'"NaN"', b"Infinity": b'"Infinity"', b"-Infinity": b'"-Infinity"'}


def _string(value: bytes) -> bytes:
    if _NEEDS_ESCAPE(value) is None:
        return b'"' + value + b'"'
    return _ENCODE(value.decode()).encode()


def _raw(value: bytes) -> bytes:
    return value


def _number(value: bytes) -> bytes:
    return _NON_FINITE.get(value, value)


def _bool(value: bytes) -> bytes:
    return b"true" if value == b"t" else b"false"


def _quoted(value: bytes) -> bytes:
    return b'"' + value + b'"'


def _timestamptz(value: bytes) -> bytes:
    if value.endswith(b"+00") and value[10:11] == b" ":
        return b'"' + value[:10] + b"T" + value[11:] + b':00"'
    return _string(value)  # infinity, or a session not on UTC: left for the record to refuse


def _timestamp(value: bytes) -> bytes:
    if value[10:11] == b" ":
        return b'"' + value[:10] + b"T" + value[11:] + b'"'
    return _string(value)


#: Encoders by type OID (PostgreSQL's fixed OIDs; enum types get dynamic
#: OIDs and take the default, a JSON string).
_BY_OID: dict[int, Encoder] = {
    16: _bool,  # bool
    20: _number,  # int8
    21: _number,  # int2
    23: _number,  # int4
    26: _number,  # oid
    700: _number,  # float4
    701: _number,  # float8
    1700: _number,  # numeric
    114: _raw,  # json
    3802: _raw,  # jsonb
    2950: _quoted,  # uuid
    1184: _timestamptz,
    1114: _timestamp,
}


def _encoders(result: Result) -> list[tuple[bytes, Encoder]]:
    """For each column of ``result``: its JSON key prefix and its encoder."""
    columns = []
    for j in range(result.nfields):
        name = result.fname(j) or b""
        columns.append((_string(name) + b":", _BY_OID.get(result.ftype(j), _string)))
    return columns


#: How each kind of column is written inline in a generated assembler
#: (``v`` is the cell's text; a NULL is dealt with before). Other encoders
#: are called.
_INLINE: dict[Encoder, str] = {
    _raw: "{v}",
    _quoted: "b'\"' + {v} + b'\"'",
    _number: "NON_FINITE({v}, {v})",
    _bool: "(b'true' if {v} == b't' else b'false')",
    _timestamptz: (
        "(b'\"' + {v}[:10] + b'T' + {v}[11:] + b':00\"'"
        " if {v}[-3:] == b'+00' and {v}[10:11] == b' ' else STRING({v}))"
    ),
    _string: "(b'\"' + {v} + b'\"' if ESCAPE({v}) is None else STRING({v}))",
}

#: One row of a result into its JSON text: ``assemble(result.get_value, i)``.
Assembler = Callable[[Callable[[int, int], "bytes | None"], int], bytes]


def _assembler(result: Result) -> Assembler:
    """The assembler of ``result``'s shape: a function generated for its
    columns (names and types), which reads each cell once and writes it
    inline (no call per cell), into one bytes template. The generated text
    holds only column numbers and the fixed expressions above; the column
    names are in the template, passed as a value."""
    columns = _encoders(result)
    template = b"{" + b",".join(k.replace(b"%", b"%%") + b"%s" for k, _ in columns) + b"}"
    names: dict[str, Any] = {
        "TEMPLATE": template,
        "NON_FINITE": _NON_FINITE.get,
        "STRING": _string,
        "ESCAPE": _NEEDS_ESCAPE,
    }
    lines = ["def assemble(get, i):"]
    cells = []
    for j, (_, encode) in enumerate(columns):
        lines.append(f"    v{j} = get(i, {j})")
        if encode in _INLINE:
            expr = _INLINE[encode].format(v=f"v{j}")
        else:
            names[f"ENCODE{j}"] = encode
            expr = f"ENCODE{j}(v{j})"
        cells.append(f"(b'null' if v{j} is None else {expr})")
    lines.append(f"    return TEMPLATE % ({', '.join(cells)},)" if cells else "    return b'{}'")
    exec("\n".join(lines), names)  # generated from the fixed text above
    return cast(Assembler, names["assemble"])


#: Assemblers by result shape (column names and type OIDs), worked out once
#: per shape; and by statement (its text: a statement's shape is fixed, so
#: the shape need not be read again; the column count is checked).
_SHAPES: dict[tuple[Any, ...], Assembler] = {}
_BY_STATEMENT: dict[str, tuple[int, Assembler]] = {}


def _shape(result: Result, statement: str | None) -> Assembler:
    n = result.nfields
    if statement is not None:
        known = _BY_STATEMENT.get(statement)
        if known is not None and known[0] == n:
            return known[1]
    key = tuple(result.fname(j) for j in range(n)) + tuple(result.ftype(j) for j in range(n))
    found = _SHAPES.get(key)
    if found is None:
        found = _SHAPES[key] = _assembler(result)
        if len(_SHAPES) > 4096:  # statements are few; bound it against odd callers
            _SHAPES.clear()
            _BY_STATEMENT.clear()
    if statement is not None:
        _BY_STATEMENT[statement] = (n, found)
    return found


def documents(
    result: Result, start: int = 0, stop: int | None = None, statement: str | None = None
) -> list[bytes]:
    """One JSON object per row of ``result`` (rows ``start`` to ``stop``), its
    keys the column names in order; a NULL is ``null``. ``statement``: the
    text of the statement that made it, to find its assembler by (else by
    the result's column names and types)."""
    assemble = _shape(result, statement)
    get = result.get_value
    end = result.ntuples if stop is None else min(stop, result.ntuples)
    return [assemble(get, i) for i in range(start, end)]


def texts(
    result: Result | None, start: int = 0, stop: int | None = None, statement: str | None = None
) -> list[bytes]:
    """The JSON text of each row of ``result`` (rows ``start`` to ``stop``):
    a statement that returns one column returns a JSON document per row
    (``to_json``, an aggregate: the text as is); one that returns several
    columns gets each row's JSON assembled here (``documents``)."""
    if result is None:
        return []
    if result.nfields != 1:
        return documents(result, start, stop, statement)
    get = result.get_value
    end = result.ntuples if stop is None else min(stop, result.ntuples)
    return [get(i, 0) or b"null" for i in range(start, end)]


def first_text(result: Result | None, statement: str | None = None) -> bytes | None:
    """The JSON text of the first row of ``result`` (None: no row): what
    ``texts`` gives for it, without the list (single-row calls are counted
    in microseconds)."""
    if result is None or result.ntuples == 0:
        return None
    if result.nfields == 1:
        return result.get_value(0, 0) or b"null"
    return _shape(result, statement)(result.get_value, 0)
