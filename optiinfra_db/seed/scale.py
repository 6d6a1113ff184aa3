"""Scale runs: executions with their steps and artifacts, made up in a
realistic mix and written with COPY in batches (bounded memory)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from optiinfra_db.enums import (
    AgentType,
    ArtifactType,
    StepStatus,
    WorkflowStatus,
    WorkflowType,
)
from optiinfra_db.queries import CATALOG
from optiinfra_db.sansio.values import json_text
from optiinfra_db.seed.data import FAILURES, RUNNER, STATUS_WEIGHTS, STEPS


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        text = value
    elif isinstance(value, datetime):
        return value.isoformat()
    elif isinstance(value, dict | list):
        text = json_text(value) or ""
    else:
        return str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _line(values: tuple[Any, ...]) -> str:
    return "\t".join(_copy_text(v) for v in values) + "\n"


class _Ids:
    """Deterministic, roughly time-ordered v4-format UUIDs (good index locality)."""

    def __init__(self, rng: random.Random, start: int) -> None:
        self.rng = rng
        self.seq = start

    def next(self, kind: int) -> UUID:
        self.seq += 1
        rand = self.rng.getrandbits(74)
        value = (kind & 0xF) << 124 | (self.seq & ((1 << 44) - 1)) << 80
        value |= 4 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
        return UUID(int=value)


@dataclass
class _Plan:
    workflow_type: WorkflowType
    status: WorkflowStatus
    customer: UUID
    created_at: datetime


class _Writer:
    """Builds COPY text for executions, their steps and artifacts."""

    def __init__(self, rng: random.Random, ids: _Ids, agents: dict[AgentType, UUID]) -> None:
        self.rng = rng
        self.ids = ids
        self.agents = agents
        self.executions: list[str] = []
        self.steps: list[str] = []
        self.artifacts: list[str] = []
        self.counts = [0, 0, 0]

    def add(self, plan: _Plan) -> UUID:
        rng = self.rng
        ex_id = self.ids.next(1)
        names = STEPS[plan.workflow_type]
        n = len(names)
        status = plan.status
        created = plan.created_at
        started = (
            None
            if status is WorkflowStatus.PENDING
            else created + timedelta(seconds=rng.uniform(0.2, 5))
        )
        # Where the run stopped: the failing / running / cancelled step (1-based).
        stop = (
            rng.randint(1, n)
            if status not in (WorkflowStatus.COMPLETED, WorkflowStatus.PENDING)
            else n + 1
        )
        failure = dict(rng.choice(FAILURES))
        clock = started
        last_end: datetime | None = None
        step_ids: list[UUID] = []
        for order, name in enumerate(names, start=1):
            step_id = self.ids.next(2)
            step_ids.append(step_id)
            retries, max_retries = 0, 3
            s_start: datetime | None = None
            s_end: datetime | None = None
            error: dict[str, Any] | None = None
            output: dict[str, Any] = {}
            if clock is None or order > stop:
                s_status = (
                    StepStatus.SKIPPED
                    if status
                    in (WorkflowStatus.FAILED, WorkflowStatus.CANCELLED, WorkflowStatus.TIMEOUT)
                    else StepStatus.PENDING
                )
            elif order < stop:
                s_status = StepStatus.COMPLETED
                retries = 1 if rng.random() < 0.1 else 0
                s_start = clock
                s_end = clock + timedelta(seconds=rng.uniform(0.5, 90))
                output = {"rows": rng.randint(10, 50_000), "ok": True}
            else:  # the step where the run stopped
                s_start = clock
                if status is WorkflowStatus.FAILED:
                    s_status, retries = StepStatus.FAILED, max_retries
                    s_end = clock + timedelta(seconds=rng.uniform(1, 120))
                    error = {**failure, "step": name, "attempts": max_retries + 1}
                elif status is WorkflowStatus.TIMEOUT:
                    s_status = StepStatus.FAILED
                    s_end = clock + timedelta(seconds=900)
                    error = {
                        "error": "StepTimeout",
                        "code": "TIMEOUT",
                        "message": f"{name} exceeded its 900 s budget",
                        "step": name,
                    }
                elif status is WorkflowStatus.CANCELLED:
                    s_status = StepStatus.SKIPPED
                    s_end = clock + timedelta(seconds=rng.uniform(0.5, 10))
                else:  # running
                    s_status, retries = StepStatus.RUNNING, rng.choice((0, 0, 1))
            if s_end is not None:
                clock = s_end
                last_end = s_end
            self.steps.append(
                _line(
                    (
                        step_id,
                        ex_id,
                        name,
                        order,
                        s_status.value,
                        s_start,
                        s_end,
                        {"attempt": retries + 1},
                        output,
                        error,
                        retries,
                        max_retries,
                        {},
                        created,
                        s_end or s_start or created,
                    )
                )
            )
            self.counts[1] += 1
            if error is not None:
                self._artifact(
                    ex_id, step_id, ArtifactType.LOG, f"{name}.log", "text/plain", created
                )
                self._artifact(
                    ex_id,
                    step_id,
                    ArtifactType.DIAGNOSTIC,
                    f"{name}-diagnostic.json",
                    "application/json",
                    created,
                )
            elif s_status is StepStatus.COMPLETED and rng.random() < 0.3:
                kind = rng.choice((ArtifactType.CHART, ArtifactType.METRICS, ArtifactType.CONFIG))
                ext = {
                    ArtifactType.CHART: ("png", "image/png"),
                    ArtifactType.METRICS: ("json", "application/json"),
                    ArtifactType.CONFIG: ("yaml", "application/yaml"),
                }[kind]
                self._artifact(ex_id, step_id, kind, f"{name}.{ext[0]}", ext[1], created)
        completed = None
        error_details = None
        output_data: dict[str, Any] = {}
        if status is WorkflowStatus.COMPLETED:
            completed = last_end
            output_data = {
                "summary": f"{plan.workflow_type.value} finished",
                "savings_usd": round(rng.uniform(0, 25_000), 2),
            }
            self._artifact(
                ex_id, None, ArtifactType.REPORT, "report.pdf", "application/pdf", created
            )
            if plan.workflow_type is WorkflowType.COST_ANALYSIS:
                self._artifact(
                    ex_id,
                    None,
                    ArtifactType.RECOMMENDATION,
                    "recommendations.json",
                    "application/json",
                    created,
                )
        elif status in (WorkflowStatus.FAILED, WorkflowStatus.TIMEOUT):
            completed = last_end
            error_details = {
                "failed_step": names[stop - 1],
                "step_order": stop,
                **({"error": "StepTimeout"} if status is WorkflowStatus.TIMEOUT else failure),
            }
            if status is WorkflowStatus.FAILED:
                self._artifact(
                    ex_id, None, ArtifactType.ALERT, "alert.json", "application/json", created
                )
        elif status is WorkflowStatus.CANCELLED:
            completed = last_end or (started or created) + timedelta(seconds=1)
            if started is None:
                completed = None
        self.executions.append(
            _line(
                (
                    ex_id,
                    self.agents[RUNNER[plan.workflow_type]],
                    plan.customer,
                    plan.workflow_type.value,
                    status.value,
                    started,
                    completed,
                    {"window": rng.choice(("1h", "24h", "7d")), "dry_run": rng.random() < 0.2},
                    output_data,
                    error_details,
                    {"seeded": True},
                    created,
                    completed or started or created,
                )
            )
        )
        self.counts[0] += 1
        return ex_id

    def _artifact(
        self,
        ex_id: UUID,
        step_id: UUID | None,
        kind: ArtifactType,
        name: str,
        content_type: str,
        created: datetime,
    ) -> None:
        art_id = self.ids.next(3)
        self.artifacts.append(
            _line(
                (
                    art_id,
                    ex_id,
                    step_id,
                    kind.value,
                    name,
                    f"s3://optiinfra-artifacts/{ex_id}/{name}",
                    self.rng.randint(200, 5_000_000),
                    content_type,
                    {},
                    created,
                    created,
                )
            )
        )
        self.counts[2] += 1

    def flush(self, cur: psycopg.Cursor[Any]) -> None:
        for key, buffer in (
            ("seed.copy_executions", self.executions),
            ("seed.copy_steps", self.steps),
            ("seed.copy_artifacts", self.artifacts),
        ):
            if buffer:
                with cur.copy(CATALOG[key].sql) as copy:
                    copy.write("".join(buffer))
                buffer.clear()


def _scale_plans(
    rng: random.Random, n: int, customers: list[UUID], now: datetime
) -> Iterator[_Plan]:
    """N executions spread over the last 30 days in time order, a realistic mix."""
    types = list(WorkflowType)
    statuses = [s for s, _ in STATUS_WEIGHTS]
    weights = [w for _, w in STATUS_WEIGHTS]
    span = timedelta(days=30).total_seconds()
    start = now - timedelta(days=30, hours=1)
    for i in range(n):
        status = rng.choices(statuses, weights)[0]
        yield _Plan(
            rng.choice(types),
            status,
            rng.choice(customers),
            start + timedelta(seconds=span * i / max(n, 1) + rng.uniform(0, 1)),
        )
