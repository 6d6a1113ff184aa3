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

from optiinfra_db.aio.db import connect, fetch_all
from optiinfra_db.enums import WorkflowStatus
from optiinfra_db.errors import wrap_errors
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
    take their log with them)."""
    params, result = purge_params(finished_before, statuses, customer_id, batch_size, dry_run)
    name = purge_session_name(actor)
    statement = "retention.purge_preview" if result.dry_run else "retention.purge_batch"
    began = time.perf_counter()
    after: tuple[Any, UUID] = ("-infinity", MIN_UUID)
    async with await connect(conninfo, autocommit=True, application_name=name) as conn:
        while True:
            started = time.perf_counter()
            with wrap_errors(True):
                row = (
                    await fetch_all(
                        conn,
                        statement,
                        {**params, "after_completed_at": after[0], "after_id": after[1]},
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
