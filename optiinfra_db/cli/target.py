"""Which database a command talks to, and how its failures read: the
target (URL, environment or embedded server), connections, the customer
scope of ``--customer``, and one-line descriptions of database errors."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.conninfo import conninfo_to_dict
from yoyo.exceptions import LockTimeout

from optiinfra_db import embedded
from optiinfra_db.cli.render import note, remember_secrets
from optiinfra_db.cluster import create_cluster, write_token
from optiinfra_db.db import connect, use_app_role
from optiinfra_db.errors import (
    ConnectionLostError,
    DeadlockError,
    LockTimeoutError,
    QueryCanceledError,
    SerializationError,
    translate,
)
from optiinfra_db.records import NameMatch
from optiinfra_db.repositories import ReportRepository

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A failure to report as one line."""


@dataclass
class Target:
    """The database a command uses: its URL and how to name it to people."""

    dsn: str
    label: str
    no_prepare: bool = False
    #: Replicas the read commands read from (--replica, $OPTIINFRA_REPLICA_URLS).
    replicas: list[str] = field(default_factory=list)


def mask(dsn: str) -> str:
    """The DSN as a URI for people, password replaced by ***."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    user = params.get("user") or ""
    auth = f"{user}:***@" if params.get("password") else (f"{user}@" if user else "")
    host = str(params.get("host") or "")
    port = params.get("port")
    dbname = params.get("dbname") or ""
    if host.startswith("/"):
        return f"postgresql://{auth}/{dbname}?host={host}"
    return f"postgresql://{auth}{host}{':' + str(port) if port else ''}/{dbname}"


def resolve(args: argparse.Namespace) -> Target:
    """The database: --database-url, $OPTIINFRA_DATABASE_URL, $DATABASE_URL, else
    an embedded PostgreSQL; said on stderr, password masked."""
    for value, source in (
        (args.database_url, "--database-url"),
        (os.environ.get("OPTIINFRA_DATABASE_URL"), "OPTIINFRA_DATABASE_URL"),
        (os.environ.get("DATABASE_URL"), "DATABASE_URL"),
    ):
        if value:
            remember_secrets(value)
            try:
                conninfo_to_dict(value)
            except psycopg.ProgrammingError as exc:
                raise CliError(f"{source} is not a valid PostgreSQL URL: {exc}") from exc
            target = Target(value, f"{mask(value)} (from {source})")
            break
    else:
        data_dir = Path(
            args.data_dir or os.environ.get("OPTIINFRA_DATA_DIR") or embedded.DEFAULT_DATA_DIR
        )
        try:
            dsn = embedded.start(data_dir)
        except embedded.EmbeddedUnavailableError as exc:
            raise CliError(str(exc)) from exc
        target = Target(dsn, f"embedded PostgreSQL in {data_dir} ({mask(dsn)})")
    target.no_prepare = bool(getattr(args, "no_prepare", False))
    note(f"database: {target.label}")
    replicas = getattr(args, "replica", None) or [
        u.strip() for u in os.environ.get("OPTIINFRA_REPLICA_URLS", "").split(",") if u.strip()
    ]
    for url in replicas:
        remember_secrets(url)
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise CliError(f"--replica is not a valid PostgreSQL URL: {exc}") from exc
    target.replicas = replicas
    return target


def open_conn(
    target: Target, *, read_only: bool = False, long_running: bool = False
) -> AbstractContextManager[psycopg.Connection[Any]]:
    """A library connection (prepared statements per --no-prepare / $OPTIINFRA_PREPARE;
    ``long_running`` lifts the statement timeout, for seeding). ``read_only``
    with replicas given: a connection on one that has replayed everything
    the primary had written when the command began, else on the primary."""
    if read_only and target.replicas:
        return _replica_conn(target)
    timeouts: dict[str, Any] = {"statement_timeout": None} if long_running else {}
    try:
        conn = connect(
            target.dsn, connect_timeout=10, prepare=False if target.no_prepare else None, **timeouts
        )
    except psycopg.OperationalError as exc:
        raise CliError(f"cannot connect to {mask(target.dsn)}: {one_line(exc)}") from exc
    if read_only:
        conn.read_only = True
    return conn


@contextmanager
def _replica_conn(target: Target) -> Iterator[psycopg.Connection[Any]]:
    """Read through a cluster: the primary's position now, then a replica
    past it (odb.create_cluster: read-your-writes, as a service would)."""
    options: dict[str, Any] = {"connect_timeout": 5}
    try:
        cluster = create_cluster(
            target.dsn,
            target.replicas,
            min_size=1,
            max_size=1,
            timeout=10,
            prepare=False if target.no_prepare else None,
            kwargs=options,
        )
    except psycopg.OperationalError as exc:
        raise CliError(f"cannot connect to {mask(target.dsn)}: {one_line(exc)}") from exc
    with cluster:
        with cluster.primary() as conn:
            token = write_token(conn)
        with cluster.read(after=token) as conn:
            where = f"{conn.info.host}:{conn.info.port}"
            served = "a replica" if cluster.stats()["fallbacks"] == 0 else "the primary"
            note(f"reading from {served}, {where}")
            yield conn


def one_line(exc: BaseException) -> str:
    """An error's message on one line."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    return text or type(exc).__name__


def guard_lock(action: Callable[[], list[str]], target: Target) -> list[str]:
    """Run a yoyo action, its lock and connection failures said in one line."""
    try:
        return action()
    except LockTimeout as exc:
        raise CliError(
            "yoyo's lock is held (another migration running, or a stale lock left by a "
            "killed one): if none is running, clear it with "
            f"'yoyo break-lock --database {yoyo_masked(target.dsn)}'"
        ) from exc
    except psycopg.OperationalError as exc:
        raise CliError(describe_db_error(exc, target)) from exc


def describe_db_error(exc: psycopg.Error, target: Target | None = None) -> str:
    """Say what happened: a lock timeout is not a connection failure."""
    mapped = translate(exc)
    if isinstance(mapped, LockTimeoutError):
        return (
            f"gave up waiting for a lock another session holds ({one_line(exc)}); "
            "try again when it is released"
        )
    if isinstance(mapped, QueryCanceledError):
        return f"statement timed out or was cancelled: {one_line(exc)}"
    if isinstance(mapped, DeadlockError):
        return f"deadlock with another session, nothing was changed: {one_line(exc)}"
    if isinstance(mapped, SerializationError):
        return f"conflict with a concurrent transaction, nothing was changed: {one_line(exc)}"
    if isinstance(mapped, ConnectionLostError) and exc.sqlstate:
        return f"the connection was lost: {one_line(exc)}"
    where = f" to {mask(target.dsn)}" if target else ""
    if isinstance(exc, psycopg.OperationalError) and not exc.sqlstate:
        return f"cannot connect{where}: {one_line(exc)}"
    return f"database error: {one_line(exc)}"


def operator() -> str:
    """Who runs this command, for the transition log's actor: user@host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:255]


def yoyo_masked(dsn: str) -> str:
    """The URL as yoyo's own commands take it, password masked."""
    return mask(dsn).replace("postgresql://", "postgresql+psycopg://", 1)


def one_match(found: list[NameMatch], value: str, what: str) -> UUID:
    """The id of the one customer or agent ``value`` names (CliError: none, several)."""
    if not found:
        raise CliError(f"no {what} matches {value!r}")
    if len(found) > 1:
        raise CliError(f"{value!r} matches several {what}s; give the id")
    return found[0].id


def agent_of(conn: psycopg.Connection[Any], value: str | None) -> UUID | None:
    """``--agent``: the agent an id or name denotes."""
    if value is None:
        return None
    return one_match(ReportRepository(conn).find_agents(value), value, "agent")


def scope_to(conn: psycopg.Connection[Any], value: str | None) -> UUID | None:
    """``--customer``: the customer the command then acts for, enforced by
    row-level security (scoped repositories, scoped reports). Given as an
    id, e-mail or name, resolved through the operator's view; a login that
    bypasses row-level security (a superuser) becomes optiinfra_app for the
    rest of the session first (``use_app_role``), so PostgreSQL enforces the
    scope. A login of optiinfra_app sees no customer before it is scoped:
    give the id."""
    if value is None:
        return None
    if conn.pgconn.parameter_status(b"is_superuser") != b"on":
        try:
            return UUID(value)
        except ValueError as exc:
            raise CliError(
                f"--customer {value!r}: this login sees no customer before it is scoped; "
                "give the customer's id"
            ) from exc
    ident = one_match(ReportRepository(conn).find_customers(value), value, "customer")
    if not use_app_role(conn):
        raise CliError(
            "--customer: this login bypasses row-level security and may not become "
            "optiinfra_app (apply the migrations, or log in as a member of optiinfra_app)"
        )
    conn.commit()
    return ident
