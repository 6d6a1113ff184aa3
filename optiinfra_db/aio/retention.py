"""Retention: ``purge`` removes finished history older than a cutoff, in short
batches (``sql/retention.sql``).

Written once, for asyncio, in ``optiinfra_db/aio/retention.py``;
``optiinfra_db/retention.py`` is generated from it (``tools/async_to_sync.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.sql import SQL, Identifier

from optiinfra_db.aio.db import connect, execute, fetch_all
from optiinfra_db.aio.partitions import list_partitions
from optiinfra_db.enums import WorkflowStatus
from optiinfra_db.errors import (
    LockTimeoutError,
    PartitionDetachError,
    PartitionKeptError,
    wrap_errors,
)
from optiinfra_db.queries import CATALOG
from optiinfra_db.sansio.retention import (
    MIN_UUID,
    PurgeBatch,
    PurgeResult,
    add_batch,
    purge_args,
    purge_params,
    purge_session_name,
)

__all__ = ["PurgeBatch", "PurgeResult", "purge", "purge_count"]


async def purge_count(
    conninfo: str,
    *,
    finished_before: datetime,
    statuses: Iterable[WorkflowStatus | str] | None = None,
    customer_id: UUID | str | None = None,
) -> int:
    """How many executions ``purge`` with these arguments would remove."""
    params = purge_args(finished_before, statuses, customer_id)
    async with await connect(conninfo, autocommit=True) as conn:
        with wrap_errors(True):
            return int((await fetch_all(conn, "retention.purge_count", params))[0][0])


async def purge(
    conninfo: str,
    *,
    finished_before: datetime,
    statuses: Iterable[WorkflowStatus | str] | None = None,
    customer_id: UUID | str | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    on_batch: Callable[[PurgeBatch], Any] | None = None,
    actor: str | None = None,
    drop_partitions: bool = True,
) -> PurgeResult:
    """Delete finished executions that completed before ``finished_before``
    (default statuses: the terminal ones; never a pending or running run),
    with their steps, artifacts and transitions, ``batch_size`` executions
    per batch, each batch its own short transaction on a connection of its
    own that skips rows another session holds. ``dry_run`` counts the same
    batches without deleting. ``on_batch`` gets each PurgeBatch as it
    finishes (e.g. to delete the artifacts' blobs as you go). Arguments are
    validated before any SQL (a cutoff in the future is refused). ``actor``
    names who purges in the session's application_name (the deleted runs
    take their log with them).

    First, with ``drop_partitions`` (the default), the transition log's
    partitions wholly older than the cutoff go whole, oldest first, each
    only when every row in it belongs to a run this purge removes: detached
    (CONCURRENTLY when the log has no DEFAULT partition; else a plain
    DETACH, a moment's lock waited for at most 2 s), checked again, dropped;
    a detach an earlier purge left pending is finished first. A partition
    holding a row of a run this purge keeps stays. The batches then delete
    the rest row-wise (such partitions, the one straddling the cutoff, the
    newer ones).
    A dry run counts what would go the same way."""
    params, result = purge_params(finished_before, statuses, customer_id, batch_size, dry_run)
    name = purge_session_name(actor)
    statement = "retention.purge_preview" if result.dry_run else "retention.purge_batch"
    began = time.perf_counter()
    after: tuple[Any, UUID] = ("-infinity", MIN_UUID)
    async with await connect(conninfo, autocommit=True, application_name=name) as conn:
        dropped = await _drop_old_partitions(conn, params, result) if drop_partitions else []
        extra = {"dropped": dropped} if result.dry_run else {}
        while True:
            started = time.perf_counter()
            with wrap_errors(True):
                async with conn.transaction():
                    await execute(conn, "retention.batch_by_index")
                    row = (
                        await fetch_all(
                            conn,
                            statement,
                            {
                                **params,
                                **extra,
                                "after_completed_at": after[0],
                                "after_id": after[1],
                            },
                        )
                    )[0]
            batch = add_batch(result, row, time.perf_counter() - started)
            if batch is None:
                break
            if on_batch is not None:
                on_batch(batch)
            after = (row[5], row[6])
    result.seconds = time.perf_counter() - began
    return result


#: How often a plain DETACH is tried when the log's lock is not had in 2 s.
DETACH_TRIES = 5


async def _on_partition(
    conn: AsyncConnection, key: str, partition: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run the named statement ``key`` of an identifier template on one
    partition ({partition}: a name read from the catalog, quoted as an
    identifier); its rows (none for a statement that returns none)."""
    query = CATALOG[key]
    text = SQL(query.use(query.kind if query.kind in ("one", "many") else "rows", params))
    with wrap_errors(True):
        cur = await conn.execute(text.format(partition=Identifier(partition)), params)
        return await cur.fetchall() if cur.description else []


async def _detach(conn: AsyncConnection, partition: str, concurrently: bool) -> None:
    if concurrently:
        ((pid,),) = await fetch_all(conn, "retention.backend_pid")
        if pid != conn.info.backend_pid:
            raise PartitionDetachError(
                f"purge can't detach {partition} through a connection pooler: DETACH "
                "PARTITION ... CONCURRENTLY needs a session of its own (server pid "
                f"{pid}, announced {conn.info.backend_pid}); connect purge straight to "
                "the server, or pass drop_partitions=False"
            )
        try:
            await _on_partition(conn, "retention.detach_partition_concurrently", partition)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == "25001":
                raise PartitionDetachError(
                    f"purge can't detach {partition} inside a transaction block: "
                    "DETACH PARTITION ... CONCURRENTLY needs a session of its own "
                    "(no transaction pooler)"
                ) from exc
            raise
        return
    for attempt in range(DETACH_TRIES):
        try:
            async with conn.transaction():
                await execute(conn, "retention.detach_lock_timeout")
                await _on_partition(conn, "retention.detach_partition", partition)
            return
        except LockTimeoutError:
            if attempt == DETACH_TRIES - 1:
                raise


async def _drop_old_partitions(
    conn: AsyncConnection, params: dict[str, Any], result: PurgeResult
) -> list[str]:
    """Drop (or, in a dry run, count) the log's partitions wholly older than
    the cutoff whose every row belongs to a run this purge removes, oldest
    first. Returns the names counted as dropped by a dry run (its batches
    skip their rows)."""
    check = {k: params[k] for k in ("finished_before", "statuses", "customer_id")}
    parts = await list_partitions(conn)
    has_default = any(p.is_default for p in parts)
    old = [
        p
        for p in parts
        if not p.is_default and p.range_to is not None and p.range_to <= check["finished_before"]
    ]
    counted: list[str] = []
    if not result.dry_run:
        # An interrupted DETACH CONCURRENTLY first: while one is pending,
        # PostgreSQL refuses to start another. Each is then checked as below.
        for part in old:
            if part.detach_pending:
                await _on_partition(conn, "retention.finish_detach", part.name)
    for part in old:
        if not part.detach_pending or result.dry_run:
            ((rows, kept),) = await _on_partition(
                conn, "retention.partition_rows", part.name, check
            )
            if kept:
                continue  # stays: its rows go row-wise with their runs, if at all
            if result.dry_run:
                counted.append(part.name)
                result.transitions += rows
                result.partitions_dropped += 1
                continue
            await _detach(conn, part.name, concurrently=not has_default)
        # Detached: no row can arrive any more. Checked again (a run may have
        # left its finished status meanwhile), then dropped in the same
        # transaction as that check.
        async with conn.transaction():
            ((rows, kept),) = await _on_partition(
                conn, "retention.partition_rows", part.name, check
            )
            if kept:
                raise PartitionKeptError(
                    f"purge detached {part.name} but it holds {kept} transition(s) of runs "
                    "it keeps (moved out of a finished status meanwhile): left as a table "
                    "of its own; attach it again with ALTER TABLE workflow_transitions "
                    f"ATTACH PARTITION {part.name} FOR VALUES FROM (...) TO (...)",
                    partition=part.name,
                )
            await _on_partition(conn, "retention.drop_detached", part.name)
        result.transitions += rows
        result.partitions_dropped += 1
    return counted
