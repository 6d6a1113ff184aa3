"""``optiinfra-db``: migrate, verify, seed and inspect workflow history.

Where the database comes from: ``--database-url``, else ``OPTIINFRA_DATABASE_URL``,
else ``DATABASE_URL``, else an embedded PostgreSQL (pgserver) keeping its data
in ``.optiinfra/pgdata`` under the working directory (``--data-dir`` or
``OPTIINFRA_DATA_DIR`` to move it). Every command says on stderr which
database it uses, password masked.

Output is for people (aligned tables; colour only on a terminal) or, with
``--json`` on the listing commands, exactly one JSON document on stdout.
Progress, notices and errors go to stderr. A failure is one line on stderr
and a non-zero exit; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import unquote
from uuid import UUID

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import ValidationError
from yoyo.exceptions import LockTimeout

from optiinfra_db import embedded, health
from optiinfra_db.db import connect, execute, fetch_all, stream_all
from optiinfra_db.enums import AgentType, StepStatus, WorkflowStatus, WorkflowType
from optiinfra_db.errors import (
    ConnectionLostError,
    DeadlockError,
    LockTimeoutError,
    QueryCanceledError,
    RepositoryError,
    SerializationError,
    translate,
)
from optiinfra_db.live import watch
from optiinfra_db.migrate import RollbackRefusedError, migrate, rollback
from optiinfra_db.records import (
    AgentCreate,
    NewWorkflowStep,
    WorkflowExecutionCreate,
    WorkflowExecutionDetail,
    WorkflowStepAttempt,
    WorkflowTransition,
    WorkflowTypeStats,
)
from optiinfra_db.repositories import Repositories
from optiinfra_db.retention import PurgeBatch, purge, purge_count
from optiinfra_db.seed import AlreadySeededError, seed

__all__ = ["main"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
#: Executions the demo adds to the story so the statistics look like real traffic.
DEMO_SCALE = 2_000


class CliError(Exception):
    """A failure to report as one line."""


# --------------------------------------------------------------------------- output helpers


class Style:
    def __init__(self, stream: TextIO) -> None:
        self.on = stream.isatty() and "NO_COLOR" not in os.environ

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text

    def status(self, status: str) -> str:
        code = {
            "completed": "32",
            "failed": "1;31",
            "timeout": "31",
            "running": "36",
            "retrying": "33",
            "cancelled": "33",
            "skipped": "2",
            "pending": "2",
        }.get(status)
        shown = status.upper() if status in ("failed", "timeout") else status
        return self(shown, code) if code else shown


def note(message: str) -> None:
    """A line (or lines) for people on stderr: passwords scrubbed, controls escaped."""
    print("\n".join(safe(line) for line in scrub(message).split("\n")), file=sys.stderr, flush=True)


#: Characters that would act on a terminal instead of showing: C0/C1 controls,
#: DEL, and the invisible or direction-changing format characters.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(text: Any) -> str:
    """Text from the database made safe for a terminal: controls shown escaped."""
    return _UNSAFE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), str(text))


#: Passwords seen in database URLs this run: never printed (see scrub).
_SECRETS: set[str] = set()
_PASSWORD_PATTERNS = (
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^@/?#]*?:([^@/?#]*)@"),  # scheme://user:PASS@
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*:(.*)@"),  # a password holding / or ?
    re.compile(r"[?&]password=([^&#]*)", re.I),
    re.compile(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.I),
)


def remember_secrets(dsn: str) -> None:
    """Note the passwords a database URL may carry, parsable or not."""
    for pattern in _PASSWORD_PATTERNS:
        for found in pattern.findall(dsn):
            for candidate in (found, found.strip("'"), unquote(found)):
                if candidate:
                    _SECRETS.add(candidate)


def scrub(text: str) -> str:
    """``text`` with every remembered password replaced by ***."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def table(
    rows: Sequence[Sequence[str]], header: Sequence[str], out: TextIO, right: Sequence[int] = ()
) -> None:
    """Aligned columns; widths ignore colour codes."""
    strip = re.compile(r"\033\[[0-9;]*m")
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(strip.sub("", cell)))

    def fmt(row: Sequence[str]) -> str:
        cells = []
        for i, cell in enumerate(row):
            pad = widths[i] - len(strip.sub("", cell))
            cells.append(" " * pad + cell if i in right else cell + " " * pad)
        return "  ".join(cells).rstrip()

    print(fmt(header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(fmt(row), file=out)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m {sec:04.1f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h {int(minutes):02d}m"


def stamp(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def stamp_ms(moment: datetime | None) -> str:
    """A time of day to the millisecond (the timeline's moves are close together)."""
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(document: Any) -> None:
    json.dump(document, sys.stdout, default=to_json, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


# --------------------------------------------------------------------------- the database


@dataclass
class Target:
    dsn: str
    label: str
    no_prepare: bool = False


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
    return target


def open_conn(
    target: Target, *, read_only: bool = False, long_running: bool = False
) -> psycopg.Connection[Any]:
    """A library connection (prepared statements per --no-prepare / $OPTIINFRA_PREPARE;
    ``long_running`` lifts the statement timeout, for seeding)."""
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


def one_line(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    return text or type(exc).__name__


def parse_since(text: str | None, option: str = "--since") -> datetime | None:
    """'7d', '24h', '30m' before now, or an ISO date/time (UTC when no offset
    is given); ``option`` names the flag in the error."""
    if text is None:
        return None
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if match:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match[2]]
        try:
            return datetime.now(UTC) - timedelta(**{unit: int(match[1])})
        except (OverflowError, ValueError) as exc:
            raise CliError(f"{option}: {text!r} reaches before year 1") from exc
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(
            f"{option}: expected 7d, 24h, 30m or an ISO date/time, not {text!r}"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- commands


def cmd_migrate(args: argparse.Namespace) -> int:
    target = resolve(args)
    applied = _guard_lock(lambda: migrate(target.dsn), target)
    note(f"applied: {', '.join(applied)}" if applied else "nothing to apply: up to date")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    target = resolve(args)
    steps = None if args.all else args.steps
    try:
        undone = _guard_lock(lambda: rollback(target.dsn, steps, drop_data=args.yes), target)
    except RollbackRefusedError as exc:
        raise CliError(
            f"refusing to roll back: it would drop tables holding rows ({', '.join(exc.tables)}); "
            "add --yes to drop them"
        ) from exc
    note(f"rolled back: {', '.join(undone)}" if undone else "nothing to roll back")
    return EXIT_OK


def _guard_lock(action: Any, target: Target) -> list[str]:
    try:
        result: list[str] = action()
        return result
    except LockTimeout as exc:
        raise CliError(
            "yoyo's lock is held (another migration running, or a stale lock left by a "
            "killed one): if none is running, clear it with "
            f"'yoyo break-lock --database {_yoyo_masked(target.dsn)}'"
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


def _yoyo_masked(dsn: str) -> str:
    return mask(dsn).replace("postgresql://", "postgresql+psycopg://", 1)


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
            f"running, clear it with 'yoyo break-lock --database {_yoyo_masked(target.dsn)}'"
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


def cmd_seed(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, long_running=True) as conn:
        pending = health.migration_status(conn).pending
        conn.rollback()
        if pending:
            raise CliError("the database has pending migrations: run 'optiinfra-db migrate' first")
        return _seed(conn, args.scale, args.seed, args.force)


def progress_bar(label: str, unit: str) -> Any:
    """A progress callback ``(done, total)`` drawing a bar on stderr: redrawn
    in place on a terminal (at most 5 times a second), a line every 10 s
    otherwise; the last call (done == total) always draws."""
    tty = sys.stderr.isatty()
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done != total and now - last[0] < (0.2 if tty else 10):
            return
        last[0] = now
        width = 30
        filled = int(width * done / total) if total else width
        elapsed = now - started
        rate = done / elapsed if elapsed else 0
        eta = (total - done) / rate if rate else 0
        bar = "#" * filled + "." * (width - filled)
        line = (
            f"{label} [{bar}] {done:,}/{total:,} {unit} "
            f"{100 * done / total if total else 100:5.1f}%  {rate:,.0f}/s  eta {duration(eta)}"
        )
        if tty:
            sys.stderr.write("\r" + line + ("\n" if done == total else ""))
            sys.stderr.flush()
        else:
            note(line)

    return progress


def _seed(conn: psycopg.Connection[Any], scale: int, seed_value: int, force: bool) -> int:
    progress = progress_bar("seeding", "executions")
    try:
        result = seed(conn, scale=scale, seed=seed_value, force=force, progress=progress)
    except AlreadySeededError as exc:
        raise CliError(str(exc)) from exc
    if result.api_keys:
        # Printed once, here; only their HMACs are in the database.
        note("demo API keys (shown once; store them now if you need them):")
        for name, key in result.api_keys.items():
            note(f"  {name}: {key}")
    what = "demo story and " if result.story else ""
    note(
        f"seeded {what}{result.executions:,} executions, {result.steps:,} steps, "
        f"{result.artifacts:,} artifacts in {duration(result.seconds)}"
    )
    return EXIT_OK


def _resolve_one(
    conn: psycopg.Connection[Any], key: str, value: str | None, what: str
) -> UUID | None:
    if value is None:
        return None
    found = fetch_all(conn, key, {"key": value})
    if not found:
        raise CliError(f"no {what} matches {value!r}")
    if len(found) > 1:
        raise CliError(f"{value!r} matches several {what}s; give the id")
    ident: UUID = found[0][0]
    return ident


def scope_to(conn: psycopg.Connection[Any], value: str | None) -> UUID | None:
    """``--customer``: the customer the command then acts for, enforced by
    row-level security (scoped repositories, scoped report queries). Given
    as an id, e-mail or name, resolved through the operator's view; a login
    that bypasses row-level security (a superuser) becomes optiinfra_app for
    the rest of the session first, so PostgreSQL enforces the scope. A login
    of optiinfra_app sees no customer before it is scoped: give the id."""
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
    ident = _resolve_one(conn, "reports.find_customer", value, "customer")
    if not fetch_all(conn, "meta.may_be_app")[0][0]:
        raise CliError(
            "--customer: this login bypasses row-level security and may not become "
            "optiinfra_app (apply the migrations, or log in as a member of optiinfra_app)"
        )
    execute(conn, "meta.set_role_app")
    conn.commit()
    return ident


_RUN_KEYS = (
    "id",
    "created_at",
    "workflow_type",
    "status",
    "customer",
    "agent",
    "started_at",
    "completed_at",
    "duration_s",
    "steps",
    "failed_steps",
)


def emit_json_rows(keys: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> None:
    """One JSON array on stdout, written row by row as the rows stream in
    (memory stays bounded however many rows there are)."""
    out = sys.stdout
    out.write("[")
    wrote = False
    for row in rows:
        out.write(",\n  " if wrote else "\n  ")
        json.dump(dict(zip(keys, row, strict=True)), out, default=to_json, ensure_ascii=False)
        wrote = True
    out.write("\n]\n" if wrote else "]\n")


def cmd_runs_list(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        customer = scope_to(conn, args.customer)
        params = {
            "customer_id": customer,
            "agent_id": _resolve_one(conn, "reports.find_agent", args.agent, "agent"),
            "workflow_type": args.type,
            "status": args.status,
            "since": parse_since(args.since) or "-infinity",
            "limit": None if args.all else args.limit,
        }
        if args.json:  # streamed through a server-side cursor, written as it comes
            rows = stream_all(conn, "reports.runs", params, customer_id=customer)
            emit_json_rows(_RUN_KEYS, rows)
            return EXIT_OK
        found = fetch_all(conn, "reports.runs", params, customer_id=customer)
    style = Style(sys.stdout)
    table(
        [
            [
                str(r[0]),
                stamp(r[1]),
                r[2],
                style.status(r[3]),
                safe(r[4]),
                safe(r[5]),
                duration(r[8]),
                f"{r[9]}" + (style(f" ({r[10]} failed)", "31") if r[10] else ""),
            ]
            for r in found
        ],
        ["id", "created", "type", "status", "customer", "agent", "duration", "steps"],
        sys.stdout,
        right=(6,),
    )
    note(f"{len(found)} execution(s), newest first")
    return EXIT_OK


def cmd_runs_show(args: argparse.Namespace) -> int:
    target = resolve(args)
    try:
        run_id = UUID(args.id)
    except ValueError as exc:
        raise CliError(f"not an execution id: {args.id!r}") from exc
    with open_conn(target, read_only=True) as conn:
        found = load_run(conn, run_id, scope_to(conn, args.customer))
    if found is None:
        raise CliError(f"workflow execution {run_id} does not exist")
    if args.json:
        detail, names, story = found
        emit_json(
            {
                **detail.model_dump(mode="json"),
                "customer": {"name": names[0], "email": names[1]},
                "agent": {"name": names[2], "type": names[3]},
                "attempts": {
                    str(step_id): [a.model_dump(mode="json") for a in tries]
                    for step_id, tries in story.attempts.items()
                },
                "history": [t.model_dump(mode="json") for t in story.history],
            }
        )
        return EXIT_OK
    show_run(*found, sys.stdout)
    return EXIT_OK


@dataclass
class RunStory:
    """What happened to a run: its transitions and each step's attempts."""

    history: list[WorkflowTransition]
    attempts: dict[UUID, list[WorkflowStepAttempt]]


def load_run(
    conn: psycopg.Connection[Any], run_id: UUID, customer: UUID | None = None
) -> tuple[WorkflowExecutionDetail, tuple[Any, ...], RunStory] | None:
    """The run with its steps and artifacts, the names of its customer and
    agent, its transition log and each step's attempts (None: no such run,
    or not the customer's when ``customer`` is given)."""
    repos = Repositories(conn, customer_id=customer)
    detail = repos.workflow_executions.get_detail(run_id)
    if detail is None:
        return None
    names = fetch_all(conn, "reports.run_names", {"id": run_id}, customer_id=customer)[0]
    story = RunStory(
        repos.workflow_executions.history(run_id),
        {step.id: repos.workflow_steps.attempts(step.id) for step in detail.steps},
    )
    return detail, names, story


def show_run(
    detail: WorkflowExecutionDetail, names: tuple[Any, ...], story: RunStory, out: TextIO
) -> None:
    style = Style(out)
    ex = detail.execution
    span = (
        (ex.completed_at - ex.started_at).total_seconds()
        if ex.started_at and ex.completed_at
        else None
    )
    print(f"{style('workflow execution', '1')} {ex.id}", file=out)
    print(f"  type      {ex.workflow_type.value}", file=out)
    print(f"  status    {style.status(ex.status.value)}", file=out)
    print(f"  customer  {safe(names[0])} <{safe(names[1])}>", file=out)
    print(f"  agent     {safe(names[2])} ({safe(names[3])})", file=out)
    print(
        f"  created   {stamp(ex.created_at)}   started {stamp(ex.started_at)}   "
        f"ended {stamp(ex.completed_at)}   duration {duration(span)}",
        file=out,
    )
    if ex.input_data:
        print(f"  input     {safe(json.dumps(ex.input_data, ensure_ascii=False))}", file=out)
    if ex.attempt or ex.worker_id:
        lease = f"   lease until {stamp(ex.lease_expires_at)}" if ex.lease_expires_at else ""
        print(
            f"  attempt   {ex.attempt} of {ex.max_attempts}   worker {safe(ex.worker_id or '-')}"
            f"{lease}",
            file=out,
        )
    if ex.error_details:
        print(
            f"  error     {style(safe(json.dumps(ex.error_details, ensure_ascii=False)), '31')}",
            file=out,
        )
    print(file=out)
    print(style(f"steps ({len(detail.steps)})", "1"), file=out)
    step_rows = []
    failed_notes: dict[int, str] = {}
    for step in detail.steps:
        took = (
            (step.completed_at - step.started_at).total_seconds()
            if step.started_at and step.completed_at
            else None
        )
        marker = style("  <-- failed here", "1;31") if step.status is StepStatus.FAILED else ""
        step_rows.append(
            [
                str(step.step_order),
                safe(step.step_name),
                style.status(step.status.value),
                stamp(step.started_at),
                duration(took),
                f"{step.retry_count}/{step.max_retries}" + marker,
            ]
        )
        if step.error_details:
            failed_notes[step.step_order] = safe(json.dumps(step.error_details, ensure_ascii=False))
    table(step_rows, ["#", "step", "status", "started", "duration", "retries"], out, right=(0, 4))
    for order, error in failed_notes.items():
        print(style(f"  step {order} error: {error}", "31"), file=out)
    show_attempts(detail, story, out)
    print(file=out)
    print(style(f"artifacts ({len(detail.artifacts)})", "1"), file=out)
    by_id = {s.id: s for s in detail.steps}
    if detail.artifacts:
        table(
            [
                [
                    a.artifact_type.value,
                    safe(a.artifact_name),
                    size(a.artifact_size_bytes),
                    safe(a.content_type or "-"),
                    _step_label(by_id.get(a.workflow_step_id) if a.workflow_step_id else None),
                    safe(a.artifact_path),
                ]
                for a in detail.artifacts
            ],
            ["type", "name", "size", "content type", "step", "path"],
            out,
            right=(2,),
        )


def show_attempts(detail: WorkflowExecutionDetail, story: RunStory, out: TextIO) -> None:
    """Each step's runs (who, when, how it ended, that attempt's error), then
    the run's transition timeline."""
    style = Style(out)
    rows = []
    for step in detail.steps:
        for a in story.attempts.get(step.id, []):
            took = (a.ended_at - a.started_at).total_seconds() if a.ended_at else None
            error = safe(json.dumps(a.error_details, ensure_ascii=False)) if a.error_details else ""
            rows.append(
                [
                    f"{step.step_order} {safe(step.step_name)}",
                    f"#{a.attempt}",
                    str(a.execution_attempt if a.execution_attempt is not None else "-"),
                    safe(a.worker_id or "-"),
                    stamp_ms(a.started_at),
                    duration(took),
                    style.status(a.outcome.value) if a.outcome else "(running)",
                    style(error, "31") if error else "",
                ]
            )
    if rows:
        print(file=out)
        print(style("step attempts", "1"), file=out)
        table(rows, ["step", "try", "run", "worker", "started", "took", "ended", "error"], out)
    by_id = {s.id: s for s in detail.steps}
    print(file=out)
    print(style(f"timeline ({len(story.history)} transitions)", "1"), file=out)
    table(
        [
            [
                stamp_ms(t.at),
                "run" if t.workflow_step_id is None else _step_label(by_id.get(t.workflow_step_id)),
                f"{t.from_status or '(new)'} -> {style.status(t.to_status)}",
                safe(t.worker_id or "-"),
                str(t.attempt if t.attempt is not None else "-"),
                safe(t.reason or ""),
            ]
            for t in story.history
        ],
        ["at", "what", "move", "worker", "run", "reason"],
        out,
    )


def _after(text: str) -> int | str:
    """``--after``: a transition id (digits) or a log position, as ``watch`` takes it."""
    return int(text) if text.isdigit() else text


def cmd_runs_watch(args: argparse.Namespace) -> int:
    target = resolve(args)
    run_id = None
    if args.id is not None:
        try:
            run_id = UUID(args.id)
        except ValueError as exc:
            raise CliError(f"not an execution id: {args.id!r}") from exc
    names: dict[UUID, str] = {}  # step id -> "order name"
    started: dict[UUID, datetime] = {}  # step or run id -> when it last started
    style = Style(sys.stdout)
    with open_conn(target, read_only=True) as conn:
        steps = Repositories(conn).workflow_steps
        if run_id is not None:
            conn.rollback()
            if Repositories(conn).workflow_executions.get(run_id) is None:
                raise CliError(f"workflow execution {run_id} does not exist")
        note(
            "watching "
            + (f"execution {run_id}" if run_id else "all executions")
            + " (Ctrl-C stops)"
        )
        try:
            for t in watch(target.dsn, execution_id=run_id, after=args.after):
                subject = t.workflow_step_id or t.workflow_execution_id
                took = None
                if t.to_status in ("running",):
                    started[subject] = t.at
                elif subject in started:
                    took = (t.at - started.pop(subject)).total_seconds()
                if args.json:
                    print(json.dumps(t.model_dump(mode="json")), flush=True)
                    continue
                if t.workflow_step_id is not None and t.workflow_step_id not in names:
                    for step in steps.list_for_execution(t.workflow_execution_id):
                        names[step.id] = f"step {step.step_order} {safe(step.step_name)}"
                    conn.rollback()
                what = (
                    f"run {t.workflow_execution_id}"
                    if t.workflow_step_id is None
                    else f"  {names.get(t.workflow_step_id, str(t.workflow_step_id))}"
                )
                extra = [f"after {duration(took)}"] if took is not None else []
                if t.worker_id:
                    extra.append(f"worker {safe(t.worker_id)}")
                if t.reason:
                    extra.append(safe(t.reason))
                if t.error_details:
                    extra.append(style(safe(json.dumps(t.error_details, ensure_ascii=False)), "31"))
                print(
                    f"{stamp_ms(t.at)} #{t.id} {what}: {t.from_status or '(new)'} -> "
                    f"{style.status(t.to_status)}" + (f"  ({'; '.join(extra)})" if extra else ""),
                    flush=True,
                )
        except KeyboardInterrupt:
            note("watch: stopped")
    return EXIT_OK


def _step_label(step: Any) -> str:
    return "(execution)" if step is None else f"{step.step_order} {safe(step.step_name)}"


def cmd_stats(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        customer = scope_to(conn, args.customer)
        found = Repositories(conn, customer_id=customer).workflow_executions.stats(
            since=parse_since(args.since)
        )
    if args.json:
        emit_json([row.model_dump(mode="json") for row in found])
        return EXIT_OK
    print_stats(found, sys.stdout)
    return EXIT_OK


def print_stats(found: list[WorkflowTypeStats], out: TextIO) -> None:
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


def cmd_demo(args: argparse.Namespace) -> int:
    target = resolve(args)
    applied = _guard_lock(lambda: migrate(target.dsn), target)
    note(f"migrate: applied {', '.join(applied)}" if applied else "migrate: up to date")
    with open_conn(target, long_running=True) as conn:
        rows = fetch_all(conn, "seed.is_seeded")
        conn.rollback()
        if rows[0][0]:
            note("seed: already seeded")
        else:
            _seed(conn, DEMO_SCALE, 42, False)
        print(Style(sys.stdout)("workflow statistics (all time)", "1"))
        print_stats(Repositories(conn).workflow_executions.stats(), sys.stdout)
        print()
        failed = fetch_all(conn, "reports.latest_failed")
        if failed:
            found = load_run(conn, failed[0][0])
            assert found is not None
            print(Style(sys.stdout)("the most recent failed run", "1"))
            show_run(*found, sys.stdout)
        conn.rollback()
        print()
        recovered = demo_recovery(conn)
        found = load_run(conn, recovered)
        assert found is not None
        print(Style(sys.stdout)("a run whose worker died: requeued, then finished elsewhere", "1"))
        show_run(*found, sys.stdout)
        conn.rollback()
    note("next: optiinfra-db runs list | runs show <id> | stats --since 24h | reap | verify")
    return EXIT_OK


#: The demo's doomed worker holds its claim this long without a heartbeat.
DEMO_LEASE = timedelta(milliseconds=300)


def demo_recovery(conn: psycopg.Connection[Any]) -> UUID:
    """Worker A claims a 3-step run, finishes step 1, starts step 2 and dies
    (stops heartbeating). Once its lease runs out the reaper requeues the run;
    worker B claims it and resumes at step 2. Returns the run's id."""
    repos = Repositories(conn)
    wx, steps = repos.workflow_executions, repos.workflow_steps
    # A queue of its own: an agent only the demo uses, so claims take no seeded run.
    agent = repos.agents.get_by_type_and_name(AgentType.ORCHESTRATOR, "demo-recovery")
    if agent is None:
        agent = repos.agents.create(AgentCreate(type=AgentType.ORCHESTRATOR, name="demo-recovery"))
    customer = repos.customers.list(limit=1)[0].id
    run = wx.create_with_steps(
        WorkflowExecutionCreate(
            agent_id=agent.id,
            customer_id=customer,
            workflow_type=WorkflowType.COST_ANALYSIS,
            input_data={"window": "7d", "demo": "worker recovery"},
            max_attempts=3,
        ),
        [
            NewWorkflowStep(step_name=name, step_order=i)
            for i, name in enumerate(("collect_metrics", "analyze_costs", "publish_report"), 1)
        ],
    ).execution
    conn.commit()
    (claimed,) = wx.claim("worker-a", lease=DEMO_LEASE, agent_id=agent.id)
    assert claimed.id == run.id
    first, second, _ = steps.list_for_execution(run.id)
    steps.start(first.id, worker_id="worker-a")
    steps.complete(first.id, {"samples": 10_080}, worker_id="worker-a")
    steps.start(second.id, worker_id="worker-a")
    conn.commit()  # ... and worker-a dies here: no more heartbeats
    time.sleep(DEMO_LEASE.total_seconds() + 0.1)
    reaped = [r for r in wx.reap_expired(limit=1000) if r.id == run.id]
    conn.commit()
    assert reaped and reaped[0].status is WorkflowStatus.PENDING
    (again,) = wx.claim("worker-b", agent_id=agent.id)
    for step in steps.list_for_execution(again.id):
        if step.status in (StepStatus.COMPLETED, StepStatus.SKIPPED):
            continue  # resume at the first unfinished step
        steps.start(step.id, worker_id="worker-b")
        steps.complete(step.id, {"ok": True}, worker_id="worker-b")
    wx.complete(run.id, {"savings_usd": 1840}, worker_id="worker-b", reason="all steps done")
    conn.commit()
    return run.id


def parse_every(text: str) -> float:
    """'10s', '500ms', '2m' as seconds (> 0)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text.strip())
    if not match or float(match[1]) <= 0:
        raise CliError(f"--every: expected e.g. 10s, 500ms or 2m, not {text!r}")
    return float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match[2]]


def cmd_purge(args: argparse.Namespace) -> int:
    target = resolve(args)
    cutoff = parse_since(args.older_than, "--older-than")
    assert cutoff is not None  # the flag is required
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
        )
    finally:
        if out is not None:
            out.close()
    if total and done[0] < total:
        progress(total, total)
    what = "would remove" if result.dry_run else "removed"
    note(
        f"purge: {what} {result.executions:,} executions, {result.steps:,} steps, "
        f"{result.artifacts:,} artifacts, {result.transitions:,} transitions in "
        f"{result.batches:,} batch(es), {duration(result.seconds)} "
        f"(slowest batch {duration(result.slowest_batch_s)})"
        + (f"; artifact paths in {args.artifacts_out}" if args.artifacts_out else "")
    )
    return EXIT_OK


def cmd_reap(args: argparse.Namespace) -> int:
    target = resolve(args)
    every = None if args.every is None else parse_every(args.every)
    total = 0
    with open_conn(target) as conn:
        customer = scope_to(conn, args.customer)
        conn.autocommit = True  # each pass commits on its own
        wx = Repositories(conn, customer_id=customer).workflow_executions
        try:
            while True:
                moved = wx.reap_expired(limit=args.limit)
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


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
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
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    common.add_argument(
        "--no-prepare",
        action="store_true",
        default=argparse.SUPPRESS,
        help="never use prepared statements (behind PgBouncer < 1.21 in transaction mode; "
        "also OPTIINFRA_PREPARE=off). By default they are off when a pooler is detected",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="one JSON document on stdout")

    parser = argparse.ArgumentParser(
        prog="optiinfra-db",
        parents=[common],
        description="OptiInfra database: migrations, health check, demo data, workflow history.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    p = sub.add_parser("seed", parents=[common], help="deterministic demo data (+ --scale N runs)")
    p.add_argument(
        "--scale",
        type=int,
        default=0,
        metavar="N",
        help="also add N workflow executions with steps and artifacts (COPY)",
    )
    p.add_argument("--seed", type=int, default=42, metavar="S", help="random seed (default 42)")
    p.add_argument("--force", action="store_true", help="add data even if already seeded")
    p.set_defaults(func=cmd_seed)

    runs = sub.add_parser("runs", help="workflow executions").add_subparsers(
        dest="runs_command", required=True, metavar="SUBCOMMAND"
    )
    scoped = argparse.ArgumentParser(add_help=False)
    scoped.add_argument(
        "--customer",
        metavar="ID|EMAIL|NAME",
        help="act for this customer only: row-level security shows no other's rows "
        "(a superuser login becomes optiinfra_app for it)",
    )
    p = runs.add_parser("list", parents=[common, as_json, scoped], help="executions, newest first")
    p.add_argument("--agent", metavar="ID|NAME")
    p.add_argument("--type", choices=[t.value for t in WorkflowType])
    p.add_argument("--status", choices=[s.value for s in WorkflowStatus])
    p.add_argument("--since", metavar="7d|24h|ISO", help="created at or after")
    p.add_argument("--limit", type=int, default=20, help="at most N rows (1..10000, default 20)")
    p.add_argument(
        "--all", action="store_true", help="every matching run (with --json: streamed, no limit)"
    )
    p.set_defaults(func=cmd_runs_list)
    p = runs.add_parser("show", parents=[common, as_json, scoped], help="timeline of one execution")
    p.add_argument("id", help="execution id")
    p.set_defaults(func=cmd_runs_show)
    p = runs.add_parser(
        "watch",
        parents=[common],
        help="live: each run and step as it starts, retries, fails and finishes",
    )
    p.add_argument("id", nargs="?", help="one execution (exits when it finishes)")
    p.add_argument(
        "--after",
        type=_after,
        metavar="ID|POSITION",
        help="resume after a position (--json prints one per line) or a transition id",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_runs_watch)

    p = sub.add_parser(
        "stats",
        parents=[common, as_json, scoped],
        help="per workflow type: counts, success rate, p50/p95 duration",
    )
    p.add_argument("--since", metavar="7d|24h|ISO", help="runs started at or after")
    p.set_defaults(func=cmd_stats)
    p = sub.add_parser(
        "purge",
        parents=[common],
        help="delete finished runs (and their steps, artifacts, log) older than a cutoff",
    )
    p.add_argument(
        "--older-than", required=True, metavar="90d|12h|ISO", help="finished before this"
    )
    p.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    p.add_argument(
        "--batch-size", type=int, default=1000, help="executions per transaction (default 1000)"
    )
    p.add_argument(
        "--artifacts-out", metavar="FILE", help="write the removed artifacts' paths here"
    )
    p.set_defaults(func=cmd_purge)
    p = sub.add_parser(
        "reap",
        parents=[common, scoped],
        help="requeue (or time out) running executions whose lease has expired",
    )
    p.add_argument(
        "--every", metavar="10s|500ms|2m", help="keep reaping at this interval until Ctrl-C"
    )
    p.add_argument(
        "--limit", type=int, default=100, help="executions per pass (1..1000, default 100)"
    )
    p.set_defaults(func=cmd_reap)
    sub.add_parser(
        "demo",
        parents=[common],
        help="migrate + seed (if empty) + stats + the latest failed run + a recovered run",
    ).set_defaults(func=cmd_demo)
    return parser


def fail(message: str, code: int = EXIT_FAIL) -> NoReturn:
    note(f"optiinfra-db: error: {safe(message)}")
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (
        ("database_url", None),
        ("data_dir", None),
        ("debug", False),
        ("no_prepare", False),
        ("json", False),
    ):
        if not hasattr(args, name):
            setattr(args, name, default)
    if getattr(args, "limit", 1) < 1 or getattr(args, "limit", 1) > 10_000:
        parser.error("--limit must be from 1 to 10000")
    if getattr(args, "scale", 0) < 0:
        parser.error("--scale must be >= 0")
    if args.database_url is not None:
        remember_secrets(args.database_url)
        if not args.database_url.strip():
            parser.error("--database-url is empty (leave it out for the embedded server)")
    for name in ("OPTIINFRA_DATABASE_URL", "DATABASE_URL"):
        remember_secrets(os.environ.get(name, ""))
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
