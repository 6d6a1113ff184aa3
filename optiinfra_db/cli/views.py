"""The operator's views of the queue: ``runs running`` (each running run with
its current step and lease), ``runs failures`` (which steps fail, and how
often) and ``runs counts`` (how many runs are in each status)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from optiinfra_db.cli import args as types
from optiinfra_db.cli.render import Style, duration, emit_json, note, safe, stamp, table
from optiinfra_db.cli.target import EXIT_OK, agent_of, open_conn, resolve, scope_to
from optiinfra_db.enums import WorkflowType
from optiinfra_db.repositories import Repositories


def cmd_running(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        customer = scope_to(conn, args.customer)
        found = Repositories(conn, customer_id=customer).workflow_executions.list_running(
            customer_id=customer, agent_id=agent_of(conn, args.agent), limit=args.limit
        )
    if args.json:
        emit_json([r.model_dump(mode="json") for r in found])
        return EXIT_OK
    now = datetime.now(UTC)
    style = Style(sys.stdout)
    rows = []
    for r in found:
        left = (r.lease_expires_at - now).total_seconds() if r.lease_expires_at else None
        lease = "-" if left is None else (style("expired", "31") if left <= 0 else duration(left))
        step = (
            f"{r.current_step_order} {safe(r.current_step_name)} ({r.current_step_status})"
            if r.current_step_id
            else "-"
        )
        rows.append(
            [
                str(r.id),
                r.workflow_type.value,
                safe(r.worker_id or "-"),
                f"{r.attempt}/{r.max_attempts}",
                step,
                stamp(r.heartbeat_at),
                lease,
            ]
        )
    table(rows, ["id", "type", "worker", "attempt", "step", "heartbeat", "lease left"], sys.stdout)
    note(f"{len(found)} running execution(s), newest first")
    return EXIT_OK


def cmd_failures(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        customer = scope_to(conn, args.customer)
        found = Repositories(conn, customer_id=customer).workflow_steps.failure_summary(
            customer_id=customer, workflow_type=args.type, since=args.since
        )
    if args.json:
        emit_json([r.model_dump(mode="json") for r in found])
        return EXIT_OK
    table(
        [
            [
                r.workflow_type.value,
                safe(r.step_name),
                f"{r.failed_attempts:,}",
                f"{r.runs_ended:,}",
                stamp(r.latest_at),
                safe(r.latest_error or "-"),
            ]
            for r in found
        ],
        ["type", "step", "failed attempts", "runs ended", "latest", "latest error"],
        sys.stdout,
        right=(2, 3),
    )
    note(f"{len(found)} failing step(s), most failed attempts first")
    return EXIT_OK


def cmd_counts(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        customer = scope_to(conn, args.customer)
        counts = Repositories(conn, customer_id=customer).workflow_executions.count_by_status(
            customer_id=customer, agent_id=agent_of(conn, args.agent), since=args.since
        )
    if args.json:
        emit_json({status.value: n for status, n in counts.items()})
        return EXIT_OK
    style = Style(sys.stdout)
    rows = [[style.status(s.value), f"{n:,}"] for s, n in counts.items()]
    rows.append(["total", f"{sum(counts.values()):,}"])
    table(rows, ["status", "runs"], sys.stdout, right=(1,))
    return EXIT_OK


def register(
    runs: Any,
    common: argparse.ArgumentParser,
    as_json: argparse.ArgumentParser,
    scoped: argparse.ArgumentParser,
) -> None:
    """Add ``runs running | failures | counts`` to the ``runs`` group."""
    p = runs.add_parser(
        "running",
        parents=[common, as_json, scoped],
        help="running executions: current step, worker, heartbeat, lease left",
    )
    p.add_argument("--agent", metavar="ID|NAME")
    p.add_argument(
        "--limit", type=types.positive_up_to("--limit"), default=100, help="at most N (default 100)"
    )
    p.set_defaults(func=cmd_running)
    p = runs.add_parser(
        "failures",
        parents=[common, as_json, scoped],
        help="which steps fail: failed attempts, runs they ended, the latest error",
    )
    p.add_argument("--type", type=WorkflowType, choices=list(WorkflowType))
    p.add_argument(
        "--since", type=types.moment("--since"), metavar="7d|24h|ISO", help="failed at or after"
    )
    p.set_defaults(func=cmd_failures)
    p = runs.add_parser(
        "counts", parents=[common, as_json, scoped], help="how many executions in each status"
    )
    p.add_argument("--agent", metavar="ID|NAME")
    p.add_argument(
        "--since", type=types.moment("--since"), metavar="7d|24h|ISO", help="created at or after"
    )
    p.set_defaults(func=cmd_counts)
