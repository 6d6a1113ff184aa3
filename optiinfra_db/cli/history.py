"""The history's summary and upkeep: ``stats``, ``purge``, ``reap``."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from optiinfra_db.cli import args as types
from optiinfra_db.cli.render import (
    Style,
    duration,
    emit_json,
    note,
    progress_bar,
    safe,
    stamp,
    table,
)
from optiinfra_db.cli.target import EXIT_OK, open_conn, operator, resolve, scope_to
from optiinfra_db.enums import WorkflowStatus
from optiinfra_db.records import WorkflowTypeStats
from optiinfra_db.repositories import Repositories
from optiinfra_db.retention import PurgeBatch, purge, purge_count


def cmd_stats(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        customer = scope_to(conn, args.customer)
        found = Repositories(conn, customer_id=customer).workflow_executions.stats(since=args.since)
    if args.json:
        emit_json([row.model_dump(mode="json") for row in found])
        return EXIT_OK
    print_stats(found, sys.stdout)
    return EXIT_OK


def print_stats(found: list[WorkflowTypeStats], out: TextIO) -> None:
    """The per-type statistics as a table."""
    style = Style(out)

    def rate(value: float | None) -> str:
        if value is None:
            return "-"
        code = "32" if value >= 90 else ("33" if value >= 70 else "31")
        return style(f"{value:.1f}%", code)

    table(
        [
            [
                r.workflow_type.value,
                f"{r.total:,}",
                f"{r.completed:,}",
                f"{r.failed:,}",
                f"{r.timeout:,}",
                f"{r.cancelled:,}",
                f"{r.running:,}",
                f"{r.pending:,}",
                rate(r.success_rate_pct),
                duration(r.p50_s),
                duration(r.p95_s),
            ]
            for r in found
        ],
        [
            "workflow type",
            "total",
            "completed",
            "failed",
            "timeout",
            "cancelled",
            "running",
            "pending",
            "success",
            "p50",
            "p95",
        ],
        out,
        right=tuple(range(1, 11)),
    )


def cmd_purge(args: argparse.Namespace) -> int:
    target = resolve(args)
    cutoff = args.older_than
    total = purge_count(target.dsn, finished_before=cutoff)
    verb = "would remove" if args.dry_run else "removing"
    note(f"purge: {verb} {total:,} execution(s) finished before {stamp(cutoff)}")
    progress = progress_bar("purging" if not args.dry_run else "counting", "executions")
    done = [0]
    out = open(args.artifacts_out, "w", encoding="utf-8") if args.artifacts_out else None  # noqa: SIM115
    try:

        def on_batch(batch: PurgeBatch) -> None:
            done[0] += batch.executions
            if out is not None:
                out.writelines(path + "\n" for path in batch.artifact_paths)
                out.flush()
            if total:
                progress(min(done[0], total), total)

        result = purge(
            target.dsn,
            finished_before=cutoff,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
            on_batch=on_batch,
            actor=operator(),
            drop_partitions=not args.no_drop_partitions,
        )
    finally:
        if out is not None:
            out.close()
    if total and done[0] < total:
        progress(total, total)
    what = "would remove" if result.dry_run else "removed"
    note(
        f"purge: {what} {result.executions:,} executions, {result.steps:,} steps, "
        f"{result.artifacts:,} artifacts, {result.transitions:,} transitions "
        f"({result.partitions_dropped:,} old partition(s) of the log dropped whole) in "
        f"{result.batches:,} batch(es), {duration(result.seconds)} "
        f"(slowest batch {duration(result.slowest_batch_s)})"
        + (f"; artifact paths in {args.artifacts_out}" if args.artifacts_out else "")
    )
    return EXIT_OK


def cmd_reap(args: argparse.Namespace) -> int:
    target = resolve(args)
    every = args.every
    total = 0
    with open_conn(target) as conn:
        customer = scope_to(conn, args.customer)
        conn.autocommit = True  # each pass commits on its own
        wx = Repositories(conn, customer_id=customer).workflow_executions
        who = operator()
        try:
            while True:
                moved = wx.reap_expired(limit=args.limit, actor=f"reaper {who}"[:255])
                for run in moved:
                    error = run.error_details or {}
                    what = "requeued" if run.status is WorkflowStatus.PENDING else "timed out"
                    print(
                        f"{stamp(datetime.now(UTC))} {what} {run.id} {run.workflow_type.value}"
                        f" (worker {safe(error.get('worker_id') or '-')},"
                        f" attempt {error.get('attempt', run.attempt)} of {run.max_attempts})",
                        flush=True,
                    )
                total += len(moved)
                if every is None:
                    break
                if len(moved) < args.limit:
                    time.sleep(every)
        except KeyboardInterrupt:
            note("reap: stopped")
    note(f"reap: moved {total} execution(s) whose lease had expired")
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def register(
    sub: Any,
    common: argparse.ArgumentParser,
    as_json: argparse.ArgumentParser,
    scoped: argparse.ArgumentParser,
) -> None:
    """Add ``stats``, ``purge`` and ``reap`` to the command line."""
    p = sub.add_parser(
        "stats",
        parents=[common, as_json, scoped],
        help="per workflow type: counts, success rate, p50/p95 duration",
    )
    p.add_argument(
        "--since",
        type=types.moment("--since"),
        metavar="7d|24h|ISO",
        help="runs started at or after",
    )
    p.set_defaults(func=cmd_stats)
    p = sub.add_parser(
        "purge",
        parents=[common],
        help="delete finished runs (and their steps, artifacts, log) older than a cutoff",
    )
    p.add_argument(
        "--older-than",
        required=True,
        type=types.moment("--older-than"),
        metavar="90d|12h|ISO",
        help="finished before this",
    )
    p.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    p.add_argument(
        "--batch-size",
        type=types.positive_up_to("--batch-size"),
        default=1000,
        help="executions per transaction (default 1000)",
    )
    p.add_argument(
        "--artifacts-out", metavar="FILE", help="write the removed artifacts' paths here"
    )
    p.add_argument(
        "--no-drop-partitions",
        action="store_true",
        help="delete the log row by row only, never dropping its old partitions whole "
        "(e.g. through a transaction pooler on a log without a DEFAULT partition)",
    )
    p.set_defaults(func=cmd_purge)
    p = sub.add_parser(
        "reap",
        parents=[common, scoped],
        help="requeue (or time out) running executions whose lease has expired",
    )
    p.add_argument(
        "--every",
        type=types.interval,
        metavar="10s|500ms|2m",
        help="keep reaping at this interval until Ctrl-C",
    )
    p.add_argument(
        "--limit",
        type=types.positive_up_to("--limit", 1000),
        default=100,
        help="executions per pass (1..1000, default 100)",
    )
    p.set_defaults(func=cmd_reap)
