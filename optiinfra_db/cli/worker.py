"""``optiinfra-db worker``: run_worker from the command line, on a handler
named as ``package.module:function`` (a coroutine function runs on the
asyncio loop, a plain one in threads). SIGTERM or Ctrl-C stops it gracefully
(no more claims, running handlers get ``--grace``, the rest go back without
spending an attempt)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import socket
import sys
from datetime import timedelta
from typing import Any

from optiinfra_db.cli import args as types
from optiinfra_db.cli.render import note, safe
from optiinfra_db.cli.target import EXIT_OK, CliError, agent_of, open_conn, resolve
from optiinfra_db.db import create_pool
from optiinfra_db.sansio.worker import WorkerReport
from optiinfra_db.worker import run_worker


def handler_of(spec: str) -> Any:
    """The function ``package.module:name`` names (the current folder is on
    the import path, as for ``python -m``)."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise CliError(f"--module: expected package.module:function, not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"--module: cannot import {module_name}: {exc}") from exc
    handler = getattr(module, name, None)
    if not callable(handler):
        raise CliError(f"--module: {module_name} has no function {name!r}")
    return handler


def cmd_worker(args: argparse.Namespace) -> int:
    handler = handler_of(args.module)
    target = resolve(args)
    agent = None
    if args.agent is not None:
        with open_conn(target, read_only=True) as conn:
            agent = agent_of(conn, args.agent)
    worker_id = args.worker_id or f"{socket.gethostname()}-{os.getpid()}"[:255]
    options: dict[str, Any] = {
        "worker_id": worker_id,
        "workflow_types": args.types,
        "concurrency": args.concurrency,
        "lease": timedelta(seconds=args.lease),
        "per_customer_limit": args.per_customer_limit,
        "shutdown_grace": timedelta(seconds=args.grace),
        "agent_id": agent,
    }
    pool_options: dict[str, Any] = {
        "min_size": 1,
        "max_size": args.concurrency + 3,
        "kwargs": {"autocommit": True},
        "prepare": False if target.no_prepare else None,
    }
    kind = "asyncio" if inspect.iscoroutinefunction(handler) else "threads"
    note(
        f"worker {safe(worker_id)}: {safe(args.module)} ({kind}), concurrency "
        f"{args.concurrency}, types {', '.join(t.value for t in args.types or []) or 'all'}"
        " - SIGTERM or Ctrl-C stops it"
    )
    if kind == "asyncio":
        report = asyncio.run(_run_async(target.dsn, handler, pool_options, options))
    else:
        with create_pool(target.dsn, **pool_options) as pool:
            report = run_worker(pool, handler, **options)
    note(
        f"worker {safe(worker_id)}: stopped; {report.completed} completed, "
        f"{report.requeued} requeued, {report.failed} failed, {report.dropped} dropped, "
        f"{report.given_back} given back, {report.reaped} reaped"
    )
    for error in report.errors:
        note(f"  {safe(error)}")
    return EXIT_OK


async def _run_async(
    dsn: str, handler: Any, pool_options: dict[str, Any], options: dict[str, Any]
) -> WorkerReport:
    from optiinfra_db.aio import create_pool as create_async_pool
    from optiinfra_db.aio import run_worker as run_async_worker

    async with await create_async_pool(dsn, **pool_options) as pool:
        return await run_async_worker(pool, handler, **options)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``worker`` to the command line."""
    p = sub.add_parser(
        "worker",
        parents=[common],
        help="run a handler on claimed runs until SIGTERM / Ctrl-C (run_worker)",
    )
    p.add_argument(
        "--module",
        required=True,
        metavar="PKG.MOD:FUNC",
        help="the handler: a function taking a Job (a coroutine function runs on asyncio)",
    )
    p.add_argument(
        "--concurrency",
        type=types.positive_up_to("--concurrency", 1000),
        default=1,
        help="handlers at once (default 1)",
    )
    p.add_argument(
        "--types",
        type=types.workflow_types,
        metavar="T,...",
        help="claim only these workflow types (default: all)",
    )
    p.add_argument("--agent", metavar="ID|NAME", help="claim only this agent's runs")
    p.add_argument("--worker-id", metavar="ID", help="default: host-pid")
    p.add_argument(
        "--lease",
        type=types.seconds("--lease"),
        default=60.0,
        metavar="60s",
        help="lease per claim, renewed at a third (default 60s)",
    )
    p.add_argument(
        "--grace",
        type=types.seconds("--grace"),
        default=30.0,
        metavar="30s",
        help="how long running handlers may finish after a stop (default 30s)",
    )
    p.add_argument(
        "--per-customer-limit",
        type=types.positive_up_to("--per-customer-limit", 2**31 - 1),
        metavar="N",
        help="never more than N of one customer's runs running at once",
    )
    p.set_defaults(func=cmd_worker)
