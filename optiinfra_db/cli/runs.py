"""``optiinfra-db runs``: list executions, show one's timeline, watch them live."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO
from uuid import UUID

import psycopg

from optiinfra_db.cli import args as types
from optiinfra_db.cli.render import (
    Style,
    duration,
    emit_json,
    emit_json_records,
    note,
    safe,
    size,
    stamp,
    stamp_ms,
    table,
)
from optiinfra_db.cli.target import (
    EXIT_OK,
    CliError,
    agent_of,
    open_conn,
    operator,
    resolve,
    scope_to,
)
from optiinfra_db.enums import FINISHED_STATUSES, StepStatus, WorkflowStatus, WorkflowType
from optiinfra_db.live import watch
from optiinfra_db.records import (
    RunParties,
    WorkflowExecutionDetail,
    WorkflowStepAttempt,
    WorkflowTransition,
)
from optiinfra_db.repositories import ReportRepository, Repositories

#: The columns of ``runs list``.
RUN_COLUMNS = [
    "id", "created", "type", "status", "customer", "agent", "duration", "steps",
    "attempts", "prio", "run after", "key",
]  # fmt: skip


def cmd_runs_list(args: argparse.Namespace) -> int:
    target = resolve(args)
    with open_conn(target, read_only=True) as conn:
        customer = scope_to(conn, args.customer)
        reports = ReportRepository(conn, customer_id=customer)
        filters: dict[str, Any] = {
            "customer_id": customer,
            "agent_id": agent_of(conn, args.agent),
            "workflow_type": args.type,
            "status": args.status,
            "since": args.since,
        }
        if args.all:  # through a server-side cursor; JSON is written as the rows come
            every = reports.iter_runs(**filters)
            if args.json:
                emit_json_records(every)
                return EXIT_OK
            found = list(every)
        else:
            found = reports.runs(**filters, limit=args.limit)
    if args.json:
        emit_json_records(found)
        return EXIT_OK
    style = Style(sys.stdout)
    table(
        [
            [
                str(r.id),
                stamp(r.created_at),
                r.workflow_type.value,
                style.status(r.status.value),
                safe(r.customer),
                safe(r.agent),
                duration(r.duration_s),
                f"{r.steps}"
                + (style(f" ({r.failed_steps} failed)", "31") if r.failed_steps else ""),
                f"{r.attempt}/{r.max_attempts}",
                str(r.priority),
                stamp(r.run_after) if r.run_after else "-",
                safe(r.idempotency_key) if r.idempotency_key else "-",
            ]
            for r in found
        ],
        RUN_COLUMNS,
        sys.stdout,
        right=(6, 8, 9),
    )
    note(f"{len(found)} execution(s), newest first")
    return EXIT_OK


def cmd_runs_show(args: argparse.Namespace) -> int:
    target = resolve(args)
    run_id: UUID = args.id
    with open_conn(target, read_only=True) as conn:
        found = load_run(conn, run_id, scope_to(conn, args.customer))
    if found is None:
        raise CliError(f"workflow execution {run_id} does not exist")
    if args.json:
        detail, parties, story = found
        emit_json(
            {
                **detail.model_dump(mode="json"),
                "customer": {"name": parties.customer_name, "email": parties.customer_email},
                "agent": {"name": parties.agent_name, "type": parties.agent_type.value},
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
) -> tuple[WorkflowExecutionDetail, RunParties, RunStory] | None:
    """The run with its steps and artifacts, its customer and agent, its
    transition log and each step's attempts (None: no such run, or not the
    customer's when ``customer`` is given)."""
    repos = Repositories(conn, customer_id=customer)
    detail = repos.workflow_executions.get_detail(run_id)
    if detail is None:
        return None
    parties = ReportRepository(conn, customer_id=customer).run_parties(run_id)
    assert parties is not None  # the run exists, so do its customer and agent
    story = RunStory(
        repos.workflow_executions.history(run_id),
        {step.id: repos.workflow_steps.attempts(step.id) for step in detail.steps},
    )
    return detail, parties, story


def show_run(
    detail: WorkflowExecutionDetail, parties: RunParties, story: RunStory, out: TextIO
) -> None:
    """A run for people: its header, steps, attempts, timeline and artifacts."""
    style = Style(out)
    ex = detail.execution
    span = (
        (ex.completed_at - ex.first_started_at).total_seconds()
        if ex.first_started_at and ex.completed_at
        else None
    )
    print(f"{style('workflow execution', '1')} {ex.id}", file=out)
    print(f"  type      {ex.workflow_type.value}", file=out)
    print(f"  status    {style.status(ex.status.value)}", file=out)
    print(f"  customer  {safe(parties.customer_name)} <{safe(parties.customer_email)}>", file=out)
    print(f"  agent     {safe(parties.agent_name)} ({parties.agent_type.value})", file=out)
    print(
        f"  created   {stamp(ex.created_at)}   started {stamp(ex.first_started_at)}   "
        f"ended {stamp(ex.completed_at)}   duration {duration(span)}",
        file=out,
    )
    if ex.started_at and ex.first_started_at and ex.started_at != ex.first_started_at:
        print(f"  this attempt started {stamp(ex.started_at)}", file=out)
    if ex.input_data:
        print(f"  input     {safe(json.dumps(ex.input_data, ensure_ascii=False))}", file=out)
    if ex.priority or ex.run_after or ex.idempotency_key:
        print(
            f"  priority  {ex.priority}   run after {stamp(ex.run_after) if ex.run_after else '-'}"
            f"   key {safe(ex.idempotency_key) if ex.idempotency_key else '-'}",
            file=out,
        )
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
                f"{step.retry_count}/{step.max_retries}",
                str(step.restart_count) + marker,
            ]
        )
        if step.error_details:
            failed_notes[step.step_order] = safe(json.dumps(step.error_details, ensure_ascii=False))
    table(
        step_rows,
        ["#", "step", "status", "started", "duration", "retries", "restarts"],
        out,
        right=(0, 4),
    )
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


def show_run_attempts(story: RunStory, out: TextIO) -> None:
    """Each attempt of the run itself (from the log: a move into running
    starts one, the run's next move ends it), when the run was tried more
    than once: who held it, how long it took and how it ended."""
    runs = [t for t in story.history if t.workflow_step_id is None]
    rows = []
    for i, t in enumerate(runs):
        if t.to_status != "running":
            continue
        end = runs[i + 1] if i + 1 < len(runs) else None
        took = (end.at - t.at).total_seconds() if end else None
        rows.append(
            [
                str(t.attempt if t.attempt is not None else "-"),
                safe(t.worker_id or "-"),
                stamp_ms(t.at),
                duration(took),
                f"{end.to_status} ({safe(end.reason or '-')})" if end else "(running)",
            ]
        )
    if len(rows) > 1:
        style = Style(out)
        print(file=out)
        print(style("run attempts", "1"), file=out)
        table(rows, ["attempt", "worker", "started", "took", "ended"], out, right=(0, 3))


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
                    a.kind,
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
        table(
            rows,
            ["step", "try", "how", "run", "worker", "started", "took", "ended", "error"],
            out,
        )
    show_run_attempts(story, out)
    by_id = {s.id: s for s in detail.steps}
    print(file=out)
    print(style(f"timeline ({len(story.history)} transitions)", "1"), file=out)
    table(
        [
            [
                stamp_ms(t.at),
                "run" if t.workflow_step_id is None else _step_label(by_id.get(t.workflow_step_id)),
                f"{t.from_status or '(new)'} -> {style.status(t.to_status)}",
                safe(t.actor or "-"),
                safe(t.worker_id or "-"),
                str(t.attempt if t.attempt is not None else "-"),
                safe(t.reason or ""),
            ]
            for t in story.history
        ],
        ["at", "what", "move", "by", "holder", "run", "reason"],
        out,
    )


def cmd_runs_watch(args: argparse.Namespace) -> int:
    target = resolve(args)
    run_id: UUID | None = args.id
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
        if run_id is not None:  # the watch ended with the run: say how
            conn.rollback()
            run = Repositories(conn).workflow_executions.get(run_id)
            if run is not None and run.status in FINISHED_STATUSES:
                note(
                    f"execution {run_id} finished: {run.status.value} at {stamp(run.completed_at)}"
                )
    return EXIT_OK


def cmd_runs_rerun(args: argparse.Namespace) -> int:
    """Send a failed, timed-out or cancelled run round again."""
    target = resolve(args)
    with open_conn(target) as conn:
        customer = scope_to(conn, args.customer)
        run = Repositories(conn, customer_id=customer).workflow_executions.rerun(
            args.id, reason=args.reason, actor=operator()
        )
    if args.json:
        emit_json(run.model_dump(mode="json"))
        return EXIT_OK
    print(
        f"workflow execution {run.id}: {run.status.value} again, attempt {run.attempt} of "
        f"{run.max_attempts} so far"
    )
    return EXIT_OK


def _step_label(step: Any) -> str:
    """A step as the tables name it."""
    return "(execution)" if step is None else f"{step.step_order} {safe(step.step_name)}"


def register(
    sub: Any,
    common: argparse.ArgumentParser,
    as_json: argparse.ArgumentParser,
    scoped: argparse.ArgumentParser,
) -> Any:
    """Add ``runs list | show | rerun | watch`` to the command line; returns the
    ``runs`` group, for the operator views."""
    runs = sub.add_parser("runs", help="workflow executions").add_subparsers(
        dest="runs_command", required=True, metavar="SUBCOMMAND"
    )
    p = runs.add_parser("list", parents=[common, as_json, scoped], help="executions, newest first")
    p.add_argument("--agent", metavar="ID|NAME")
    p.add_argument("--type", type=WorkflowType, choices=list(WorkflowType))
    p.add_argument(
        "--status",
        type=types.statuses,
        metavar="S[,S...]",
        help=f"one status or several, comma-separated ({', '.join(WorkflowStatus)})",
    )
    p.add_argument(
        "--since", type=types.moment("--since"), metavar="7d|24h|ISO", help="created at or after"
    )
    p.add_argument(
        "--limit",
        type=types.positive_up_to("--limit"),
        default=20,
        help="at most N rows (1..10000, default 20)",
    )
    p.add_argument(
        "--all", action="store_true", help="every matching run (with --json: streamed, no limit)"
    )
    p.set_defaults(func=cmd_runs_list)
    p = runs.add_parser("show", parents=[common, as_json, scoped], help="timeline of one execution")
    p.add_argument("id", type=types.execution_id, help="execution id")
    p.set_defaults(func=cmd_runs_show)
    p = runs.add_parser(
        "rerun",
        parents=[common, as_json, scoped],
        help="send a failed, timed-out or cancelled run round again (a fresh round of attempts)",
    )
    p.add_argument("id", type=types.execution_id, help="execution id")
    p.add_argument("--reason", help="why (kept in the run's history)")
    p.set_defaults(func=cmd_runs_rerun)
    p = runs.add_parser(
        "watch",
        parents=[common],
        help="live: each run and step as it starts, retries, fails and finishes",
    )
    p.add_argument(
        "id", nargs="?", type=types.execution_id, help="one execution (exits when it finishes)"
    )
    p.add_argument(
        "--after",
        type=types.after,
        metavar="ID|POSITION",
        help="resume after a position (--json prints one per line) or a transition id",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_runs_watch)
    return runs
