"""Applying and rolling back the packaged migrations through yoyo's Python API.

The same ``migrations/`` folder works with the plain command line::

    yoyo apply --batch --database postgresql+psycopg://user@host/db migrations/

Every function here holds yoyo's lock (the ``yoyo_lock`` table) while it
works, so two deploys cannot migrate one database at the same time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

from optiinfra_db._resources import migrations_dir

__all__ = ["migrate", "pending_migrations", "rollback", "yoyo_url"]


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
    """Apply every pending migration; return the ids applied, in order."""
    with _locked_backend(dsn) as backend:
        todo = backend.to_apply(_migrations())
        backend.apply_migrations(todo)
        return [m.id for m in todo]


def rollback(dsn: str, steps: int | None = None) -> list[str]:
    """Roll back the newest ``steps`` applied migrations (``None``: all of them).

    Returns the ids rolled back, newest first.
    """
    if steps is not None and steps < 0:
        raise ValueError(f"steps must be >= 0 or None, not {steps}")
    with _locked_backend(dsn) as backend:
        todo = backend.to_rollback(_migrations())
        if steps is not None:
            todo = todo[:steps]
        backend.rollback_migrations(todo)
        return [m.id for m in todo]


def pending_migrations(dsn: str) -> list[str]:
    """The ids of the packaged migrations not yet applied to the database, in order."""
    with _locked_backend(dsn) as backend:
        return [m.id for m in backend.to_apply(_migrations())]
