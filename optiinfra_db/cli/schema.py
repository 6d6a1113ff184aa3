"""The schema's commands: ``migrate``, ``rollback``, ``status``, ``verify``,
``partitions list|ensure``."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from optiinfra_db import health
from optiinfra_db.cli import args as types
from optiinfra_db.cli.render import Style, emit_json, note, table
from optiinfra_db.cli.target import (
    EXIT_FAIL,
    EXIT_OK,
    CliError,
    guard_lock,
    open_conn,
    resolve,
    yoyo_masked,
)
from optiinfra_db.migrate import RollbackRefusedError, migrate, rollback
from optiinfra_db.partitions import ensure_partitions, list_partitions


def cmd_migrate(args: argparse.Namespace) -> int:
    target = resolve(args)
    applied = guard_lock(lambda: migrate(target.dsn), target)
    note(f"applied: {', '.join(applied)}" if applied else "nothing to apply: up to date")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    target = resolve(args)
    steps = None if args.all else args.steps
    try:
        undone = guard_lock(lambda: rollback(target.dsn, steps, drop_data=args.yes), target)
    except RollbackRefusedError as exc:
        raise CliError(
            f"refusing to roll back: it would drop tables holding rows ({', '.join(exc.tables)}); "
            "add --yes to drop them"
        ) from exc
    note(f"rolled back: {', '.join(undone)}" if undone else "nothing to roll back")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        status = health.migration_status(conn)
    if args.json:
        emit_json(status.as_json())
        return EXIT_OK
    style = Style(sys.stdout)
    rows = [[m, style("applied", "32")] for m in status.applied]
    rows += [[m, style("pending", "33")] for m in status.pending]
    rows += [[m, style("unknown (not shipped with this library)", "31")] for m in status.unknown]
    table(rows, ["migration", "state"], sys.stdout)
    for pid, ctime in status.locks:
        note(
            f"warning: stale yoyo lock held by pid {pid} since {ctime}; if no migration is "
            f"running, clear it with 'yoyo break-lock --database {yoyo_masked(target.dsn)}'"
        )
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        result = health.verify(conn)
    if args.json:
        emit_json(
            {
                "passed": result.passed,
                "server": result.server,
                "ok": result.ok,
                "problems": result.problems,
            }
        )
    else:
        style = Style(sys.stdout)
        for line in result.ok:
            print(f"{style('ok', '32')}       {line}")
        for line in result.problems:
            print(f"{style('problem', '1;31')}  {line}")
        print(
            style("verify: passed", "32")
            if result.passed
            else style(f"verify: {len(result.problems)} problem(s)", "1;31")
        )
    return EXIT_OK if result.passed else EXIT_FAIL


def cmd_partitions_list(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        parts = list_partitions(conn)
    if args.json:
        emit_json({"partitions": [p.model_dump(mode="json") for p in parts]})
        return EXIT_OK

    def bound(value: Any, unbounded: str) -> str:
        return unbounded if value is None else value.isoformat()

    rows = [
        [
            p.name,
            "DEFAULT" if p.is_default else bound(p.range_from, "MINVALUE"),
            "" if p.is_default else bound(p.range_to, "MAXVALUE"),
            "?" if p.rows_estimate is None else f"{p.rows_estimate:,}",
            f"{p.total_bytes / 1048576:,.1f} MiB",
            "detach pending" if p.detach_pending else "",
        ]
        for p in parts
    ]
    table(rows, ["partition", "from", "to", "rows (est.)", "size", ""], sys.stdout)
    return EXIT_OK


def cmd_partitions_ensure(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target) as conn:
        conn.autocommit = True
        made = ensure_partitions(conn, ahead=args.ahead, width=timedelta(days=args.width_days))
    note(f"partitions: made {', '.join(made)}" if made else "partitions: all there")
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add ``migrate``, ``rollback``, ``status`` and ``verify`` to the command line."""
    sub.add_parser("migrate", parents=[common], help="apply pending migrations").set_defaults(
        func=cmd_migrate
    )
    p = sub.add_parser("rollback", parents=[common], help="roll back migrations (newest first)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--steps", type=int, default=1, help="how many (default 1)")
    group.add_argument("--all", action="store_true", help="all of them")
    p.add_argument(
        "--yes", action="store_true", help="drop tables even if they hold rows (refused otherwise)"
    )
    p.set_defaults(func=cmd_rollback)
    sub.add_parser(
        "status", parents=[common, as_json], help="applied and pending migrations (read-only)"
    ).set_defaults(func=cmd_status)
    sub.add_parser(
        "verify",
        parents=[common, as_json],
        help="check the database matches this library (read-only); exit 1 on problems",
    ).set_defaults(func=cmd_verify)
    p = sub.add_parser("partitions", help="the transition log's partitions: list, ensure")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser(
        "list",
        parents=[common, as_json],
        help="each partition with its range, rows (estimate) and size (read-only)",
    ).set_defaults(func=cmd_partitions_list)
    p = verbs.add_parser(
        "ensure",
        parents=[common],
        help="make the DEFAULT partition and this week's and the weeks ahead",
    )
    p.add_argument(
        "--ahead",
        type=types.positive_up_to("--ahead", 520),
        default=4,
        help="slots after the current one (default 4)",
    )
    p.add_argument(
        "--width-days",
        type=types.positive_up_to("--width-days", 366),
        default=7,
        help="days per partition (default 7: a week, starting on Monday 00:00 UTC)",
    )
    p.set_defaults(func=cmd_partitions_ensure)
