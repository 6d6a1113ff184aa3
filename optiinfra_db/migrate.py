"""Applying and rolling back the packaged migrations through yoyo's Python API.

The same ``migrations/`` folder works with the plain command line::

    yoyo apply --batch --database postgresql+psycopg://user@host/db migrations/

Every function here holds yoyo's lock (the ``yoyo_lock`` table) while it
works, so two deploys cannot migrate one database at the same time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

from optiinfra_db._resources import migrations_dir
from optiinfra_db.db import fetch_all
from optiinfra_db.partitions import ensure_partitions
from optiinfra_db.queries import CATALOG

__all__ = [
    "RollbackRefusedError",
    "dropped_tables",
    "migrate",
    "pending_migrations",
    "rollback",
    "tables_with_rows",
    "yoyo_url",
]


def yoyo_url(dsn: str) -> str:
    """Turn a libpq DSN (URI or ``key=value``) into the URL yoyo expects.

    yoyo needs the ``postgresql+psycopg://`` scheme for psycopg 3; plain
    ``postgresql://`` would make it load psycopg2. Every libpq parameter but the
    database name travels as a query argument, which yoyo hands to
    ``psycopg.connect`` unchanged (this keeps Unix-socket hosts working).
    """
    params: dict[str, Any] = conninfo_to_dict(dsn)
    dbname = str(params.pop("dbname", "") or "")
    query = urlencode({k: str(v) for k, v in params.items() if v is not None})
    return f"postgresql+psycopg:///{quote(dbname, safe='')}" + (f"?{query}" if query else "")


@contextmanager
def _locked_backend(dsn: str) -> Iterator[Any]:
    backend = get_backend(yoyo_url(dsn))
    try:
        with backend.lock():
            yield backend
    finally:
        backend.connection.close()


def _migrations() -> Any:
    return read_migrations(str(migrations_dir()))


def migrate(dsn: str) -> list[str]:
    """Apply every pending migration; return the ids applied, in order.

    Then, on a partitioned transition log (migration 0026), make its weeks
    ahead (``ensure_partitions`` with its defaults), so a deploy that runs
    ``migrate`` keeps them made; ``yoyo apply`` alone does not (run
    ``optiinfra-db partitions ensure`` from a schedule, docs/partitions.md)."""
    with _locked_backend(dsn) as backend:
        todo = backend.to_apply(_migrations())
        backend.apply_migrations(todo)
        with psycopg.connect(dsn, autocommit=True) as conn:
            if fetch_all(conn, "partitions.installed")[0][0]:
                ensure_partitions(conn)
        return [m.id for m in todo]


class RollbackRefusedError(Exception):
    """A rollback would drop tables that hold rows (pass ``drop_data=True``)."""

    def __init__(self, tables: list[str]) -> None:
        super().__init__(
            "refusing to roll back: it would drop tables holding rows: "
            + ", ".join(tables)
            + " (pass drop_data=True, or --yes on the command line, to drop them)"
        )
        self.tables = tables


_DROP_TABLE = re.compile(r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([a-z_][a-z0-9_]*)", re.I | re.M)
# "-- keeps rows: t1, t2": the rollback drops these tables only after moving
# their rows elsewhere (0026's partitioned log), so they lose nothing.
_KEEPS_ROWS = re.compile(r"^--\s*keeps rows:\s*([a-z0-9_, ]+)$", re.M)


def dropped_tables(migration_ids: list[str]) -> list[str]:
    """The tables the rollbacks of these migrations drop with their rows (read
    from their files; a table named on a ``-- keeps rows:`` line keeps them)."""
    tables: list[str] = []
    for ident in migration_ids:
        path = migrations_dir() / f"{ident}.rollback.sql"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            kept = {t.strip() for line in _KEEPS_ROWS.findall(text) for t in line.split(",")}
            tables.extend(t for t in _DROP_TABLE.findall(text) if t not in kept)
    return tables


def tables_with_rows(dsn: str, tables: list[str]) -> list[str]:
    """Which of ``tables`` exist and hold at least one row."""
    found = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        existing = {row[0] for row in fetch_all(conn, "meta.tables")}
        for table in sorted(set(tables) & existing):
            probe = sql.SQL(CATALOG["meta.table_has_rows"].sql).format(table=sql.Identifier(table))
            row = conn.execute(probe).fetchone()
            if row and row[0]:
                found.append(table)
    return found


def rollback(dsn: str, steps: int | None = 1, *, drop_data: bool = False) -> list[str]:
    """Roll back the newest ``steps`` applied migrations (default one, like the
    CLI; ``None``: all of them).

    Refuses (RollbackRefusedError, nothing rolled back) when a table the
    rollback would drop holds rows, unless ``drop_data=True``. Returns the ids
    rolled back, newest first.
    """
    if steps is not None and steps < 0:
        raise ValueError(f"steps must be >= 0 or None, not {steps}")
    with _locked_backend(dsn) as backend:
        todo = backend.to_rollback(_migrations())
        if steps is not None:
            todo = todo[:steps]
        if not drop_data:
            full = tables_with_rows(dsn, dropped_tables([m.id for m in todo]))
            if full:
                raise RollbackRefusedError(full)
        backend.rollback_migrations(todo)
        return [m.id for m in todo]


def pending_migrations(dsn: str) -> list[str]:
    """The ids of the packaged migrations not yet applied to the database, in order."""
    with _locked_backend(dsn) as backend:
        return [m.id for m in backend.to_apply(_migrations())]
