"""The entry point: the parser (each command group adds its own commands)
and how a command's failure reaches the terminal."""

from __future__ import annotations

import argparse
import os
import traceback
from collections.abc import Sequence
from typing import NoReturn

import psycopg
from pydantic import ValidationError

from optiinfra_db.cli import demo, history, runs, schema, top, views, worker
from optiinfra_db.cli.args import Parser, database_url, defaults
from optiinfra_db.cli.render import note, remember_secrets, safe
from optiinfra_db.cli.target import EXIT_FAIL, EXIT_OK, CliError, describe_db_error
from optiinfra_db.errors import RepositoryError


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the options every command takes, then each group's."""
    common = Parser(add_help=False)
    common.add_argument(
        "--database-url",
        type=database_url,
        default=argparse.SUPPRESS,
        metavar="URL",
        help="PostgreSQL URL (else $OPTIINFRA_DATABASE_URL, $DATABASE_URL, "
        "or an embedded PostgreSQL)",
    )
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="data folder of the embedded PostgreSQL (default .optiinfra/pgdata)",
    )
    common.add_argument(
        "--replica",
        action="append",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="a streaming replica the read commands may read from, once it has replayed "
        "what the primary had written (repeatable; else $OPTIINFRA_REPLICA_URLS, "
        "comma-separated)",
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    common.add_argument(
        "--no-prepare",
        action="store_true",
        default=argparse.SUPPRESS,
        help="never use prepared statements (behind PgBouncer < 1.21 in transaction mode; "
        "also OPTIINFRA_PREPARE=off). By default they are off when a pooler is detected",
    )
    as_json = Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="one JSON document on stdout")
    scoped = Parser(add_help=False)
    scoped.add_argument(
        "--customer",
        metavar="ID|EMAIL|NAME",
        help="act for this customer only: row-level security shows no other's rows "
        "(a superuser login becomes optiinfra_app for it)",
    )
    parser = Parser(
        prog="optiinfra-db",
        parents=[common],
        description="OptiInfra database: migrations, health check, demo data, workflow history.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    schema.register(sub, common, as_json)
    demo.register(sub, common)
    views.register(runs.register(sub, common, as_json, scoped), common, as_json, scoped)
    history.register(sub, common, as_json, scoped)
    worker.register(sub, common)
    top.register(sub, common, as_json)
    return parser


def fail(message: str, code: int = EXIT_FAIL) -> NoReturn:
    note(f"optiinfra-db: error: {safe(message)}")
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    for name in ("OPTIINFRA_DATABASE_URL", "DATABASE_URL"):
        remember_secrets(os.environ.get(name, ""))
    args = build_parser().parse_args(argv)
    defaults(
        args,
        database_url=None,
        data_dir=None,
        debug=False,
        no_prepare=False,
        json=False,
        replica=None,
    )
    if args.debug:
        try:
            return int(args.func(args))
        except Exception:  # the traceback, with every password scrubbed
            note(traceback.format_exc().rstrip())
            return EXIT_FAIL
    try:
        return int(args.func(args))
    except CliError as exc:
        fail(str(exc))
    except (RepositoryError, ValidationError, ValueError) as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except psycopg.Error as exc:
        fail(describe_db_error(exc))
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # a file or folder given on the command line
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        fail(f"{exc.strerror or type(exc).__name__}{where}")
    except KeyboardInterrupt:
        fail("interrupted", 130)
