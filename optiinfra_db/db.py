"""Connections and pools with the project's adapters registered.

They are ordinary psycopg connections: tuple rows, READ COMMITTED, not
autocommit, psycopg's default ``prepare_threshold``; every keyword argument
goes to psycopg unchanged (e.g. ``prepare_threshold=None`` behind PgBouncer in
transaction mode). What is added:

* every PostgreSQL enum of the schema <-> its Python ``StrEnum``, by value
  (one catalog query per new connection; an unmigrated database still
  connects, with nothing registered);
* ``dict`` parameters are sent as ``jsonb``.

The repositories don't depend on these adapters (they work on any psycopg
connection); they are for the caller's own queries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.types.enum import EnumInfo, register_enum
from psycopg.types.json import JsonbDumper
from psycopg_pool import ConnectionPool

from optiinfra_db.enums import PG_ENUMS
from optiinfra_db.queries import CATALOG

__all__ = ["configure_connection", "connect", "create_pool", "fetch_all"]

Connection = psycopg.Connection[Any]

_ENUM_TYPES = CATALOG["meta.enum_types"].sql
_ENUM_NAMES = sorted(PG_ENUMS)


def configure_connection(conn: Connection) -> None:
    """Register the project's adapters on ``conn`` (used as the pool's ``configure``).

    Leaves the connection's transaction state as it found it.
    """
    conn.adapters.register_dumper(dict, JsonbDumper)
    idle = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.cursor() as cur:
        cur.execute(_ENUM_TYPES, {"names": _ENUM_NAMES})
        found = cur.fetchall()
    if idle and conn.info.transaction_status != TransactionStatus.IDLE:
        conn.rollback()  # read-only catalog query: end the transaction it opened
    for name, oid, array_oid, labels in found:
        enum = PG_ENUMS[name]
        info = EnumInfo(name, oid, array_oid, labels)
        register_enum(info, conn, enum, mapping={member: member.value for member in enum})


def fetch_all(
    conn: Connection, key: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run the named query ``key`` (``"file.name"``) and return its rows as tuples."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(CATALOG[key].sql, params)
        return cur.fetchall()


def connect(dsn: str = "", **kwargs: Any) -> Connection:
    """A psycopg connection with the project's adapters registered."""
    conn = psycopg.connect(dsn, **kwargs)
    try:
        configure_connection(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def create_pool(dsn: str = "", **kwargs: Any) -> ConnectionPool[Any]:
    """A ``psycopg_pool.ConnectionPool`` whose connections have the adapters registered.

    Keyword arguments go to ``ConnectionPool`` (``min_size``, ``max_size``,
    ``kwargs=`` for the connections...). A ``configure`` callback of your own
    runs after ours. The pool is opened unless ``open=False``.
    """
    user_configure: Callable[[Connection], None] | None = kwargs.pop("configure", None)

    def configure(conn: Connection) -> None:
        configure_connection(conn)
        if user_configure is not None:
            user_configure(conn)

    kwargs.setdefault("open", True)
    return ConnectionPool(dsn, configure=configure, **kwargs)
