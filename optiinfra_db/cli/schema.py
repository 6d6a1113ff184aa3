"""The schema's commands: ``migrate``, ``rollback``, ``status``, ``verify``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from optiinfra_db import health
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
