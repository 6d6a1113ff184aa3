"""Deterministic demo data that tells a story, and scale data for load and plan tests.

* The story (through the repositories): the customers Acme Corp, StartupCo and
  Demo Customer; the five agents with configs, states, capabilities and
  metrics; events; recommendations with approvals and optimizations; and one
  workflow execution of every type in every status, with ordered steps,
  retries, failures with error details, and artifacts.
* ``scale``: N more executions (each with its steps and artifacts, a
  realistic mix of types and statuses) written with COPY in batches, so a
  million executions fit in a few minutes and a bounded amount of memory.

The same ``seed`` number gives the same data (ids included) on the same
starting database; timestamps are placed relative to the time of seeding.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

from optiinfra_db.enums import (
    AgentStatus,
    AgentStatusDetail,
    AgentType,
    ApprovalStatus,
    ArtifactType,
    ConfigType,
    CustomerPlan,
    EventSeverity,
    EventType,
    MetricType,
    OptimizationStatus,
    RecommendationPriority,
    RecommendationStatus,
    RecommendationType,
    StepStatus,
    WorkflowStatus,
    WorkflowType,
)
from optiinfra_db.queries import CATALOG
from optiinfra_db.records import (
    AgentCapabilityCreate,
    AgentCreate,
    AgentMetricCreate,
    AgentStateUpdate,
    ApprovalCreate,
    CustomerCreate,
    EventCreate,
    OptimizationCreate,
    RecommendationCreate,
    new_api_key,
)
from optiinfra_db.repositories import Repositories
from optiinfra_db.sansio.values import json_text

__all__ = ["AlreadySeededError", "SeedResult", "seed"]

ProgressFn = Callable[[int, int], None]

DEMO_CUSTOMERS = (
    ("Acme Corp", "ops@acme-corp.example", CustomerPlan.ENTERPRISE, {"region": "us-east-1"}),
    ("StartupCo", "cto@startupco.example", CustomerPlan.STARTUP, {"region": "eu-west-1"}),
    ("Demo Customer", "demo@optiinfra.example", CustomerPlan.FREE, {"region": "us-west-2"}),
)
DEMO_AGENTS = (
    (AgentType.ORCHESTRATOR, "orchestrator-main", ["route", "schedule", "approve"]),
    (AgentType.COST, "cost-agent-1", ["spot_analysis", "reserved_instances", "right_sizing"]),
    (AgentType.PERFORMANCE, "performance-agent-1", ["kv_cache_tuning", "quantization"]),
    (AgentType.RESOURCE, "resource-agent-1", ["consolidation", "auto_scaling"]),
    (AgentType.APPLICATION, "application-agent-1", ["quality_monitoring"]),
)

# Which agent runs which workflow, and the steps each workflow goes through.
RUNNER = {
    WorkflowType.COST_ANALYSIS: AgentType.COST,
    WorkflowType.PERFORMANCE_TUNING: AgentType.PERFORMANCE,
    WorkflowType.RESOURCE_OPTIMIZATION: AgentType.RESOURCE,
    WorkflowType.QUALITY_CHECK: AgentType.APPLICATION,
    WorkflowType.SCALING_DECISION: AgentType.RESOURCE,
    WorkflowType.CONFIGURATION_UPDATE: AgentType.ORCHESTRATOR,
    WorkflowType.HEALTH_CHECK: AgentType.ORCHESTRATOR,
    WorkflowType.ANOMALY_DETECTION: AgentType.PERFORMANCE,
}
STEPS = {
    WorkflowType.COST_ANALYSIS: (
        "collect_billing_data",
        "analyze_spend",
        "find_savings",
        "write_report",
    ),
    WorkflowType.PERFORMANCE_TUNING: (
        "collect_latency_metrics",
        "profile_kv_cache",
        "apply_kv_cache_config",
        "validate_latency",
        "write_report",
    ),
    WorkflowType.RESOURCE_OPTIMIZATION: (
        "collect_utilization",
        "plan_consolidation",
        "drain_nodes",
        "resize_pools",
    ),
    WorkflowType.QUALITY_CHECK: ("sample_outputs", "score_quality", "compare_baseline"),
    WorkflowType.SCALING_DECISION: (
        "read_queue_depth",
        "forecast_load",
        "decide_replicas",
        "apply_scaling",
    ),
    WorkflowType.CONFIGURATION_UPDATE: ("render_config", "validate_config", "rollout_config"),
    WorkflowType.HEALTH_CHECK: ("ping_agents", "check_endpoints"),
    WorkflowType.ANOMALY_DETECTION: (
        "load_timeseries",
        "detect_anomalies",
        "classify_anomalies",
        "raise_alerts",
    ),
}
FAILURES = (
    {
        "error": "GpuOutOfMemory",
        "code": "GPU_OOM",
        "message": "CUDA out of memory. Tried to allocate 2.50 GiB (GPU 0; 79.35 GiB total)",
        "node": "gpu-node-7",
    },
    {
        "error": "UpstreamTimeout",
        "code": "TIMEOUT",
        "message": "billing API did not answer within 30 s",
        "endpoint": "https://billing.internal",
    },
    {
        "error": "ValidationFailed",
        "code": "CONFIG_INVALID",
        "message": "max_batch_tokens must be <= 32768, got 65536",
        "field": "max_batch_tokens",
    },
    {
        "error": "PermissionDenied",
        "code": "IAM_DENIED",
        "message": "role optiinfra-agent may not call ec2:ModifyInstanceAttribute",
    },
)
# Story mix for scale data (weights per status).
STATUS_WEIGHTS = (
    (WorkflowStatus.COMPLETED, 70),
    (WorkflowStatus.FAILED, 12),
    (WorkflowStatus.RUNNING, 4),
    (WorkflowStatus.PENDING, 6),
    (WorkflowStatus.CANCELLED, 4),
    (WorkflowStatus.TIMEOUT, 4),
)


class AlreadySeededError(RuntimeError):
    """The demo data is already there."""


@dataclass
class SeedResult:
    customers: int = 0
    agents: int = 0
    executions: int = 0
    steps: int = 0
    artifacts: int = 0
    seconds: float = 0.0
    story: bool = False
    ids: dict[str, list[UUID]] = field(default_factory=dict)
    #: The demo customers' API keys (random; only their HMACs are stored):
    #: shown once by the CLI, never again.
    api_keys: dict[str, str] = field(default_factory=dict)


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


def _story(
    repos: Repositories, rng: random.Random, now: datetime, keys: dict[str, str]
) -> tuple[dict[str, UUID], dict[AgentType, UUID]]:
    customers: dict[str, UUID] = {}
    for name, email, plan, meta in DEMO_CUSTOMERS:
        # Random, not from the seeded rng: a demo database must not accept a
        # key anyone can recompute. (The rng still advances as it did when it
        # made the keys, so the rest of the story stays the same for a seed.)
        for _ in range(32):
            rng.choice("abcdefghijkmnpqrstuvwxyz23456789")
        key = keys[name] = new_api_key()
        customers[name] = repos.customers.create(
            CustomerCreate(name=name, email=email, api_key=key, plan=plan, metadata=meta)
        ).id
    agents: dict[AgentType, UUID] = {}
    for agent_type, name, caps in DEMO_AGENTS:
        agent = repos.agents.create(
            AgentCreate(
                type=agent_type,
                name=name,
                version="1.4.2",
                status=AgentStatus.HEALTHY,
                endpoint=f"http://{name}:8080",
                capabilities=list(caps),
                metadata={"zone": rng.choice(("a", "b", "c"))},
                last_heartbeat=now,
            )
        )
        agents[agent_type] = agent.id
        repos.agent_configs.set(
            agent.id,
            "poll_interval_s",
            "30",
            ConfigType.INTEGER,
            "How often the agent polls its sources",
        )
        repos.agent_configs.set(agent.id, "max_concurrent_workflows", "4", ConfigType.INTEGER)
        repos.agent_configs.set(agent.id, "dry_run", "false", ConfigType.BOOLEAN)
        repos.agent_configs.set(
            agent.id, "thresholds", json.dumps({"cpu": 0.8, "gpu": 0.9}), ConfigType.JSON
        )
        for cap in caps:
            repos.agent_capabilities.create(
                AgentCapabilityCreate(
                    agent_id=agent.id, capability_name=cap, config={"enabled_by": "seed"}
                )
            )
        repos.agent_capabilities.create(
            AgentCapabilityCreate(
                agent_id=agent.id,
                capability_name=caps[0],
                capability_version="2.0.0-beta",
                enabled=False,
                description="next version, not rolled out yet",
            )
        )
        state = repos.agent_states.set_current_workflow(agent.id, None)
        repos.agent_states.update(
            state.id,
            AgentStateUpdate(
                current_status=rng.choice(list(AgentStatusDetail)),
                resource_usage={
                    "cpu": round(rng.uniform(0.05, 0.9), 2),
                    "memory_mb": rng.randint(200, 4000),
                },
            ),
        )
        repos.agent_metrics.record_many(
            AgentMetricCreate(
                agent_id=agent.id,
                metric_name=metric,
                metric_type=mtype,
                metric_value=round(rng.uniform(0, 100), 3),
                recorded_at=now - timedelta(hours=h),
                tags={"source": "seed"},
            )
            for h in range(24)
            for metric, mtype in (
                ("cpu_percent", MetricType.GAUGE),
                ("workflows_total", MetricType.COUNTER),
            )
        )
        for customer_id in customers.values():
            repos.events.create(
                EventCreate(
                    customer_id=customer_id,
                    agent_id=agent.id,
                    event_type=EventType.AGENT_REGISTERED,
                    data={"agent": name},
                )
            )
    recs = (
        (
            "Acme Corp",
            AgentType.COST,
            RecommendationType.SPOT_MIGRATION,
            "Move batch inference to spot instances",
            "18450.00",
            RecommendationStatus.COMPLETED,
        ),
        (
            "Acme Corp",
            AgentType.PERFORMANCE,
            RecommendationType.KV_CACHE_TUNING,
            "Raise KV-cache block size to 32",
            None,
            RecommendationStatus.FAILED,
        ),
        (
            "StartupCo",
            AgentType.COST,
            RecommendationType.RIGHT_SIZING,
            "Downsize idle A100 pool to 2 nodes",
            "6200.50",
            RecommendationStatus.APPROVED,
        ),
        (
            "StartupCo",
            AgentType.PERFORMANCE,
            RecommendationType.QUANTIZATION,
            "Serve the 70B model in INT8",
            "2100.00",
            RecommendationStatus.PENDING,
        ),
        (
            "Demo Customer",
            AgentType.RESOURCE,
            RecommendationType.AUTO_SCALING,
            "Scale to zero outside business hours",
            "950.00",
            RecommendationStatus.REJECTED,
        ),
    )
    for customer, agent_type, rtype, title, savings, status in recs:
        rec = repos.recommendations.create(
            RecommendationCreate(
                customer_id=customers[customer],
                agent_id=agents[agent_type],
                type=rtype,
                title=title,
                estimated_savings=Decimal(savings) if savings else None,
                confidence_score=round(rng.uniform(0.6, 0.98), 2),
                priority=rng.choice(list(RecommendationPriority)),
                status=status,
                data={"evidence": "seeded"},
            )
        )
        repos.events.create(
            EventCreate(
                customer_id=customers[customer],
                agent_id=agents[agent_type],
                event_type=EventType.RECOMMENDATION_CREATED,
                data={"recommendation": str(rec.id)},
            )
        )
        if status is RecommendationStatus.PENDING:
            continue
        decision = (
            ApprovalStatus.REJECTED
            if status is RecommendationStatus.REJECTED
            else ApprovalStatus.APPROVED
        )
        repos.approvals.create(
            ApprovalCreate(
                recommendation_id=rec.id,
                approved_by="finops@" + customer.lower().replace(" ", "") + ".example",
                status=decision,
                comment="reviewed in weekly FinOps meeting",
            )
        )
        if status in (RecommendationStatus.COMPLETED, RecommendationStatus.FAILED):
            done = status is RecommendationStatus.COMPLETED
            repos.optimizations.create(
                OptimizationCreate(
                    recommendation_id=rec.id,
                    customer_id=customers[customer],
                    agent_id=agents[agent_type],
                    status=OptimizationStatus.COMPLETED if done else OptimizationStatus.FAILED,
                    progress=100 if done else 60,
                    actual_savings=Decimal("17980.25") if done else None,
                    error=None if done else "rollout aborted: p95 latency rose 40%",
                    started_at=now - timedelta(days=2),
                    completed_at=now - timedelta(days=1),
                )
            )
            repos.events.create(
                EventCreate(
                    customer_id=customers[customer],
                    agent_id=agents[agent_type],
                    event_type=EventType.OPTIMIZATION_COMPLETED
                    if done
                    else EventType.OPTIMIZATION_FAILED,
                    severity=EventSeverity.INFO if done else EventSeverity.ERROR,
                    data={"recommendation": str(rec.id)},
                )
            )
    return customers, agents


def _existing(conn: psycopg.Connection[Any]) -> tuple[dict[str, UUID], dict[AgentType, UUID]]:
    repos = Repositories(conn)
    customers = {}
    for name, email, *_ in DEMO_CUSTOMERS:
        found = repos.customers.get_by_email(email)
        if found is not None:
            customers[name] = found.id
    agents = {}
    for agent_type, name, _ in DEMO_AGENTS:
        agent = repos.agents.get_by_type_and_name(agent_type, name)
        if agent is not None:
            agents[agent_type] = agent.id
    if len(customers) != len(DEMO_CUSTOMERS) or len(agents) != len(DEMO_AGENTS):
        raise AlreadySeededError("the demo data is only partly there; seed a fresh database")
    return customers, agents


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


#: Executions the demo story writes: one of every type in every status.
STORY_EXECUTIONS = len(WorkflowType) * len(WorkflowStatus)


def seed(
    conn: psycopg.Connection[Any],
    *,
    scale: int = 0,
    seed: int = 42,
    force: bool = False,
    batch: int = 5_000,
    progress: ProgressFn | None = None,
) -> SeedResult:
    """Write the demo story (unless present), then ``scale`` more executions.

    Commits as it goes (the story in one transaction, scale data per batch).
    On a seeded database it tops up: it adds what is missing of ``scale``
    (so an interrupted run resumes where it stopped) and raises
    AlreadySeededError when nothing is; ``force`` adds ``scale`` more anyway.
    The story's own runs are written once, never again.
    """
    if scale < 0:
        raise ValueError("scale must be >= 0")
    began = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    result = SeedResult()
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(CATALOG["seed.is_seeded"].sql)
        row = cur.fetchone()
        seeded = bool(row and row[0])
        cur.execute(CATALOG["seed.counts"].sql)
        counts = cur.fetchone()
        assert counts is not None
        conn.commit()
        if seeded and not force:
            present = max(0, counts[0] - STORY_EXECUTIONS)
            if present >= scale:
                raise AlreadySeededError(
                    f"this database is already seeded (Acme Corp exists, {present:,} scale "
                    "executions); pass --force to add more executions anyway"
                )
            scale -= present  # resume an interrupted run: add only what is missing
        ids = _Ids(rng, start=sum(counts) + 1)
        with conn.transaction():
            if seeded:
                customers, agents = _existing(conn)
            else:
                customers, agents = _story(Repositories(conn), rng, now, result.api_keys)
                result.story = True
                result.customers, result.agents = len(customers), len(agents)
            writer = _Writer(rng, ids, agents)
            # One execution of every type in every status over the last week;
            # the Acme performance-tuning failure is the newest run.
            story_ids = []
            combos = [(t, s) for t in WorkflowType for s in WorkflowStatus]
            combos.sort(
                key=lambda c: (
                    c == (WorkflowType.PERFORMANCE_TUNING, WorkflowStatus.FAILED),
                    rng.random(),
                )
            )
            names = list(customers)
            for i, (wtype, wstatus) in enumerate(combos if not seeded else []):
                created = now - timedelta(days=7) + timedelta(minutes=200 * i)
                if i == len(combos) - 1:  # the headline failure: the newest run of all
                    created = now - timedelta(minutes=10)
                owner = "Acme Corp" if wtype is WorkflowType.PERFORMANCE_TUNING else names[i % 3]
                story_ids.append(writer.add(_Plan(wtype, wstatus, customers[owner], created)))
            writer.flush(cur)
            result.ids["story_executions"] = story_ids
        customer_ids = list(customers.values())
        for done, plan in enumerate(_scale_plans(rng, scale, customer_ids, now), start=1):
            writer.add(plan)
            if done % batch == 0 or done == scale:
                with conn.transaction():
                    writer.flush(cur)
                if progress is not None:
                    progress(done, scale)
    if scale:
        # VACUUM can't run inside a transaction block: switch to autocommit for it.
        saved = conn.autocommit
        conn.autocommit = True
        try:
            conn.execute(CATALOG["seed.vacuum_analyze"].sql)
        finally:
            conn.autocommit = saved
    result.executions, result.steps, result.artifacts = writer.counts
    result.seconds = time.perf_counter() - began
    return result
