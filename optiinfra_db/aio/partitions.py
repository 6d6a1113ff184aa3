"""The transition log's partitions (migration 0026, ``sql/partitions.sql``):
list them from the catalog, make the weeks ahead, find the gaps ahead.

Written once, for asyncio, in ``optiinfra_db/aio/partitions.py``;
``optiinfra_db/partitions.py`` is generated from it (``tools/async_to_sync.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg import AsyncConnection

from optiinfra_db.aio.db import fetch_all
from optiinfra_db.errors import wrap_errors
from optiinfra_db.sansio.partitions import TransitionPartition, ensure_params, gaps_params

__all__ = ["TransitionPartition", "ensure_partitions", "list_partitions", "partition_gaps"]


async def list_partitions(conn: AsyncConnection) -> list[TransitionPartition]:
    """Every partition of ``workflow_transitions`` in range order, the
    DEFAULT partition last: made by the library or attached by hand alike."""
    with wrap_errors(True):
        rows = await fetch_all(conn, "partitions.list")
    return [TransitionPartition.from_row(row) for row in rows]


async def ensure_partitions(
    conn: AsyncConnection, *, ahead: int = 4, width: timedelta = timedelta(days=7)
) -> list[str]:
    """Make the DEFAULT partition if it is missing and the partitions of the
    current ``width``-wide slot (slots start on a Monday 00:00 UTC) and of the
    ``ahead`` slots after it, around any partition already there; move into
    each new partition the rows the DEFAULT held for its range. Returns the
    names made (none: all there). DDL waits at most 2 s for a lock
    (LockTimeoutError: call again). ``migrate`` runs it with the defaults."""
    params = ensure_params(ahead, width)
    with wrap_errors(True):
        rows = await fetch_all(conn, "partitions.ensure", params)
    return [row[0] for row in rows]


async def partition_gaps(
    conn: AsyncConnection, *, horizon: timedelta = timedelta(days=28)
) -> list[tuple[datetime, datetime]]:
    """The stretches of ``[now, now + horizon)`` no partition but the DEFAULT
    holds (writes there still succeed, into the DEFAULT partition; run
    ``ensure_partitions``). Empty: the weeks ahead are made."""
    params = gaps_params(horizon)
    with wrap_errors(True):
        rows = await fetch_all(conn, "partitions.gaps", params)
    return [(row[0], row[1]) for row in rows]
