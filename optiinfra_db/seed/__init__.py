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

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

from optiinfra_db.enums import (
    AgentType,
    WorkflowStatus,
    WorkflowType,
)
from optiinfra_db.queries import CATALOG
from optiinfra_db.repositories import Repositories
from optiinfra_db.seed.data import DEMO_AGENTS, DEMO_CUSTOMERS, ProgressFn
from optiinfra_db.seed.scale import _Ids, _Plan, _scale_plans, _Writer
from optiinfra_db.seed.story import _story

__all__ = ["AlreadySeededError", "SeedResult", "is_seeded", "seed"]


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


def is_seeded(conn: psycopg.Connection[Any]) -> bool:
    """Whether the demo story is already in the database (``seed`` refuses to
    write it twice)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(CATALOG["seed.is_seeded"].use("one", None))
        row = cur.fetchone()
    return bool(row and row[0])


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
        seeded = is_seeded(conn)
        cur.execute(CATALOG["seed.counts"].use("one", None))
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
