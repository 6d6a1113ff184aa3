"""``optiinfra-db top``: where the database's time goes, per named statement,
from ``pg_stat_statements``.

Every statement the library sends starts with its origin comment
(``/* optiinfra_db:<file>:<name> */``, static: the same text every call, so
prepared statements keep working), and pg_stat_statements keeps the text it
first saw: the comment attributes each entry to its query name. Entries of
the same name (another role, another plan) are added up. What has no
origin comment is listed as it is, marked as not the library's.

By default ``top`` shows what happens now: it reads the counters twice,
``--interval`` apart, and shows the difference. ``--since-reset`` shows the
totals since pg_stat_statements was last reset instead.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from optiinfra_db.cli import args as types
from optiinfra_db.cli.render import emit_json, note, safe, table
from optiinfra_db.cli.target import EXIT_OK, CliError, open_conn, resolve
from optiinfra_db.db import fetch_all
from optiinfra_db.queries import origin_of

#: How much of a statement that is not the library's is shown.
TEXT_WIDTH = 70

MISSING_EXTENSION = (
    "pg_stat_statements is not installed in this database. To enable it: add "
    "pg_stat_statements to shared_preload_libraries in postgresql.conf, restart "
    "the server, then run CREATE EXTENSION pg_stat_statements; in this database "
    "(as a superuser)."
)
NOT_LOADED = (
    "pg_stat_statements is installed but not loaded: add it to "
    "shared_preload_libraries in postgresql.conf and restart the server."
)


@dataclass
class Line:
    """One row of the report: a named statement, or one that is not the library's."""

    statement: str
    library: bool
    calls: int = 0
    total_ms: float = 0.0
    rows: int = 0
    shared_blks_hit: int = 0
    shared_blks_read: int = 0

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


Counters = dict[tuple[int, int], tuple[str, int, float, int, int, int]]


def _read(conn: psycopg.Connection[Any]) -> Counters:
    """pg_stat_statements of this database, by (queryid, userid)."""
    return {
        (int(qid or 0), int(uid)): (text or "", calls, total, rows, hit, read)
        for qid, uid, text, calls, total, rows, hit, read in fetch_all(conn, "telemetry.statements")
    }


def attribute(now: Counters, before: Counters | None = None) -> list[Line]:
    """The report's lines: the counters (less ``before``'s, for an
    interval) added up by query name; lines that did nothing are left out;
    the busiest first."""
    lines: dict[str, Line] = {}
    for key, (text, calls, total, rows, hit, read) in now.items():
        if before is not None and key in before:
            _, c0, t0, r0, h0, d0 = before[key]
            calls, total, rows, hit, read = calls - c0, total - t0, rows - r0, hit - h0, read - d0
        if calls <= 0:
            continue
        origin = origin_of(text)
        name = origin or " ".join(text.split())[:TEXT_WIDTH]
        library = origin is not None
        line = lines.setdefault(name, Line(name, library))
        line.calls += calls
        line.total_ms += total
        line.rows += rows
        line.shared_blks_hit += hit
        line.shared_blks_read += read
    return sorted(lines.values(), key=lambda x: (-x.total_ms, x.statement))


def _check_ready(conn: psycopg.Connection[Any]) -> None:
    ((installed, loaded),) = fetch_all(conn, "telemetry.statements_ready")
    if not installed:
        raise CliError(MISSING_EXTENSION)
    if not loaded:
        raise CliError(NOT_LOADED)


def cmd_top(args: argparse.Namespace) -> int:
    target = resolve(args)
    # the primary's statements (a replica counts its own): never --replica's
    with open_conn(target) as conn:
        conn.read_only = True
        conn.autocommit = True  # each read sees the counters as they are now
        _check_ready(conn)
        if args.since_reset:
            before = None
            ((since,),) = fetch_all(conn, "telemetry.statements_reset_at")
            window = f"since the last reset ({since:%Y-%m-%d %H:%M:%S %Z})"
        else:
            before = _read(conn)
            time.sleep(args.interval)
            window = f"over the last {args.interval:g} s"
            since = None
        lines = attribute(_read(conn), before)
    shown = lines[: args.limit]
    if args.json:
        emit_json(
            {
                "since_reset": None if since is None else since.isoformat(),
                "interval_s": None if args.since_reset else args.interval,
                "statements": [
                    {**asdict(line), "mean_ms": round(line.mean_ms, 4)} for line in shown
                ],
            }
        )
        return EXIT_OK
    rows = [
        [
            safe(line.statement) if line.library else f"({safe(line.statement)})",
            f"{line.calls:,}",
            f"{line.total_ms:,.1f}",
            f"{line.mean_ms:.3f}",
            f"{line.rows:,}",
            f"{line.shared_blks_hit:,}",
            f"{line.shared_blks_read:,}",
        ]
        for line in shown
    ]
    header = ["statement", "calls", "total ms", "mean ms", "rows", "blks hit", "blks read"]
    table(rows, header, sys.stdout, right=range(1, 7))
    ours = sum(line.total_ms for line in lines if line.library)
    every = sum(line.total_ms for line in lines) or 1.0
    note(
        f"{len(shown)} of {len(lines)} statement(s) {window}; the library's named statements "
        f"took {ours / every:.0%} of the time (in parentheses: not the library's)"
    )
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "top",
        parents=[common, as_json],
        help="time per named statement, from pg_stat_statements",
        description="Calls, total and mean time, rows and shared blocks per named statement "
        "(attributed by its origin comment), and the statements that are not the library's.",
    )
    p.add_argument(
        "--since-reset",
        action="store_true",
        help="totals since pg_stat_statements was last reset (default: what happens "
        "over --interval)",
    )
    p.add_argument(
        "--interval",
        type=types.seconds("--interval"),
        default=5.0,
        metavar="5s",
        help="how long to watch without --since-reset (default 5s)",
    )
    p.add_argument(
        "--limit",
        type=types.positive_up_to("--limit"),
        default=20,
        help="at most N statements (default 20)",
    )
    p.set_defaults(func=cmd_top)
