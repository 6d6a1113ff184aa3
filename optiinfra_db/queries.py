"""The named-query catalog: every ``sql/<file>.sql`` parsed once, strictly.

A file holds queries, each introduced by a header line::

    -- name: get_detail :one
    -- op: SELECT workflow_executions
    -- One execution with its steps and artifacts, in one round trip.
    SELECT ...;

``--`` lines right after the header are the query's description; the body runs
until the next header or the end of the file. One of them, ``op:``, declares
what the statement does and to which table (``-- op: UPDATE
workflow_executions``; the table left out where there is none, ``-- op:
LISTEN``): OpenTelemetry's ``db.operation.name`` and ``db.collection.name``,
reviewed with the statement rather than guessed from its text (a claim is an
UPDATE of executions, however many CTEs come first). Kinds (as in sqlc):

``:one``      at most one row          ``:many``     any number of rows
``:exec``     no rows wanted           ``:execrows`` the number of rows affected
``:copy``     a ``COPY ... FROM STDIN`` statement

A description line ``plan: custom`` marks a statement whose best plan depends
on its parameter values (optional filters written ``%(x)s IS NULL OR ...``):
the library never prepares it, so PostgreSQL plans each execution with the
values given (a generic plan of such a query can't know which filters are in
use and reads the owner's whole history). Every other statement is prepared
on a long-lived connection and must have a good generic plan; the slow plan
test checks both kinds.

Loading fails, naming ``file:line``, on a malformed header or ``op:`` line, a
missing or second ``op:`` line, a duplicate name,
an empty body, text before the first header, or a ``%`` that is neither a
``%(name)s`` placeholder nor an escaped ``%%`` (psycopg would misread it, even
in a comment). Each statement is stored with its origin prepended,
``/* optiinfra_db:<file>:<name> */``, so it can be told apart in
``pg_stat_activity`` and in the server's logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString, cast

from optiinfra_db._resources import sql_dir

__all__ = [
    "CATALOG",
    "KINDS",
    "PATHS",
    "Query",
    "QueryFileError",
    "QueryUseError",
    "load_catalog",
    "origin_of",
    "parse_file",
]

KINDS = frozenset({"one", "many", "exec", "execrows", "copy"})

#: The ways a statement can be run, and the kinds each takes: a ``:one``
#: statement goes through the one-row path only, a ``:many`` one through the
#: all-rows paths (a list, or a stream through a server-side cursor), and so
#: on. ``each`` runs one statement per row of a batch (``executemany``),
#: discarding what it returns.
PATHS: Mapping[str, frozenset[str]] = {
    "one": frozenset({"one"}),
    "many": frozenset({"many"}),
    "rows": frozenset({"exec", "execrows"}),
    "copy": frozenset({"copy"}),
    "each": frozenset({"one", "exec", "execrows"}),
}

#: The origin comment every statement starts with (see ``parse_file``).
_ORIGIN = re.compile(r"/\* optiinfra_db:([a-z0-9_]+):([a-z0-9_]+) \*/")


def origin_of(text: str) -> str | None:
    """The query name (``file.name``) whose origin comment ``text`` carries
    (a statement as sent, or as ``pg_stat_statements`` or a server log shows
    it), or None for a statement that is not the library's."""
    found = _ORIGIN.search(text)
    return None if found is None else f"{found[1]}.{found[2]}"


_HEADER = re.compile(r"^--\s*name\s*:")
_HEADER_FULL = re.compile(r"^--\s*name\s*:\s*([a-z][a-z0-9_]*)\s+:([a-z]+)\s*$")
# Allowed uses of '%': '%%' and '%(identifier)s'.
_PERCENT_OK = re.compile(r"%%|%\([a-z_][a-z0-9_]*\)s")
_PLACEHOLDER = re.compile(r"%\(([a-z_][a-z0-9_]*)\)s")
_OP = re.compile(r"^op\s*:")
_OP_FULL = re.compile(r"^op:\s+([A-Z]+)(?:\s+([a-z_][a-z0-9_]*))?\s*$")
# A statement that changes rows (a data-modifying CTE included); SELECT ...
# FOR UPDATE is not one.
_WRITES = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE\s+\w+(?:\s+AS\s+\w+)?\s+SET|DELETE\s+FROM|COPY\s+\w+)\b",
    re.IGNORECASE,
)


class QueryFileError(ValueError):
    """A ``sql/`` file is malformed; the message starts with ``file:line``."""


class QueryUseError(TypeError):
    """A named statement run the wrong way: through a path its kind does not
    allow, or binding other keys than its ``%(name)s`` placeholders. A bug in
    the library, raised before any SQL is sent."""


@dataclass(frozen=True, slots=True)
class Query:
    """One named statement."""

    file: str  # file stem, e.g. "workflow_executions"
    name: str  # e.g. "get_detail"
    kind: str  # one of KINDS
    doc: str  # the description lines, joined
    sql: LiteralString  # the statement, origin comment first
    line: int  # line of the header in the file
    params: frozenset[str]  # the %(name)s placeholders it uses
    custom_plan: bool = False  # "plan: custom" in its description: never prepared
    writes: bool = False  # it inserts, updates or deletes rows
    operation: str = ""  # its "op:" line's operation, e.g. "UPDATE"
    collection: str | None = None  # its "op:" line's table, if any

    @property
    def key(self) -> str:
        return f"{self.file}.{self.name}"

    def use(self, path: str, params: Mapping[str, Any] | None) -> LiteralString:
        """This statement's text, to run through ``path`` (one of PATHS) with
        ``params``: refused (QueryUseError) unless its kind allows the path and
        the keys bound are exactly its placeholders. Every statement the
        library runs passes here, so the catalog's kinds and parameters are
        what the code does, not a comment."""
        if self.kind not in PATHS[path]:
            raise QueryUseError(
                f"{self.key} is :{self.kind}; it can't run through the {path!r} path "
                f"(which takes {', '.join(':' + k for k in sorted(PATHS[path]))})"
            )
        bound = _NO_KEYS if params is None else params.keys()
        if bound != self.params:
            raise QueryUseError(
                f"{self.key} binds {sorted(bound)}, but its placeholders are {sorted(self.params)}"
            )
        return self.sql


_NO_KEYS: frozenset[str] = frozenset()


def parse_file(path: Path) -> list[Query]:
    """Parse one ``.sql`` file into its queries (strictly, see module doc)."""
    stem = path.stem
    lines = path.read_text(encoding="utf-8").splitlines()
    queries: list[Query] = []
    seen: dict[str, int] = {}

    header: tuple[str, str, int] | None = None
    op: tuple[str, str | None] | None = None
    doc: list[str] = []
    body: list[str] = []
    in_doc = False

    def where(lineno: int) -> str:
        return f"{path}:{lineno}"

    def finish() -> None:
        if header is None:
            return
        name, kind, lineno = header
        if op is None:
            raise QueryFileError(
                f"{where(lineno)}: query {name!r} has no '-- op: <OPERATION> [table]' line"
            )
        text = "\n".join(body).strip()
        if not text or all(
            not ln.strip() or ln.strip().startswith("--") for ln in text.splitlines()
        ):
            raise QueryFileError(f"{where(lineno)}: query {name!r} has an empty body")
        statement = f"/* optiinfra_db:{stem}:{name} */\n{text}"
        queries.append(
            Query(
                file=stem,
                name=name,
                kind=kind,
                doc=" ".join(doc).strip(),
                # Read from the packaged sql/ folder, never built from values:
                # this is the one place a file's text becomes a LiteralString.
                sql=cast(LiteralString, statement),  # type: ignore[redundant-cast]
                line=lineno,
                params=frozenset(_PLACEHOLDER.findall(text)),
                custom_plan=any(line.startswith("plan: custom") for line in doc),
                operation=op[0],
                collection=op[1],
                writes=_WRITES.search(
                    "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("--"))
                )
                is not None,
            )
        )

    for lineno, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if _HEADER.match(stripped):
            finish()
            match = _HEADER_FULL.match(stripped)
            if not match:
                raise QueryFileError(
                    f"{where(lineno)}: malformed header {stripped!r}; "
                    "expected '-- name: <lower_snake_name> :<kind>'"
                )
            name, kind = match.groups()
            if kind not in KINDS:
                raise QueryFileError(
                    f"{where(lineno)}: unknown kind ':{kind}' "
                    f"(expected one of {', '.join(':' + k for k in sorted(KINDS))})"
                )
            if name in seen:
                raise QueryFileError(
                    f"{where(lineno)}: duplicate query name {name!r} "
                    f"(first defined at line {seen[name]})"
                )
            seen[name] = lineno
            header = (name, kind, lineno)
            doc, body, in_doc, op = [], [], True, None
            continue
        if "%" in raw:
            leftover = _PERCENT_OK.sub("", raw)
            if "%" in leftover:
                raise QueryFileError(
                    f"{where(lineno)}: stray '%' (psycopg reads '%' as a placeholder, "
                    "even in comments); write '%%' or '%(name)s'"
                )
        if header is None:
            if stripped and not stripped.startswith("--"):
                raise QueryFileError(f"{where(lineno)}: SQL before the first '-- name:' header")
            continue
        if in_doc and stripped.startswith("--"):
            line = stripped[2:].strip()
            if _OP.match(line):
                declared = _OP_FULL.match(line)
                if declared is None:
                    raise QueryFileError(
                        f"{where(lineno)}: malformed {line!r}; expected "
                        "'-- op: <OPERATION> [table]' (e.g. '-- op: SELECT agents')"
                    )
                if op is not None:
                    raise QueryFileError(f"{where(lineno)}: a second 'op:' line")
                op = (declared.group(1), declared.group(2))
                continue
            doc.append(line)
            continue
        in_doc = False
        body.append(raw)
    finish()
    return queries


def load_catalog(folder: Path) -> dict[str, Query]:
    """Every query of every ``*.sql`` file in ``folder``, keyed ``"<file>.<name>"``."""
    catalog: dict[str, Query] = {}
    for path in sorted(folder.glob("*.sql")):
        for query in parse_file(path):
            catalog[query.key] = query
    return catalog


class _Catalog(Mapping[str, Query]):
    """Read-only view of the loaded catalog with a helpful KeyError."""

    def __init__(self, queries: dict[str, Query]) -> None:
        self._queries = queries

    def __getitem__(self, key: str) -> Query:
        try:
            return self._queries[key]
        except KeyError:
            raise KeyError(f"no query named {key!r} in {sql_dir()}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)


#: All named queries, loaded once at import.
CATALOG: Mapping[str, Query] = _Catalog(load_catalog(sql_dir()))
