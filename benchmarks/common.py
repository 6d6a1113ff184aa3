"""What the sync and asyncio benchmark harnesses share (``run.py`` and
``aio.py`` both import it; neither imports the other's internals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from optiinfra_db.queries import parse_file

#: The hand-written SQL raw psycopg runs (and asyncpg, with $n placeholders).
RAW = {q.name: q.sql for q in parse_file(Path(__file__).with_name("raw.sql"))}


@dataclass
class Operation:
    """One operation, three contenders. Each run is one sample of ``per_sample``
    calls (or rows); samples alternate between the contenders."""

    name: str
    per_sample: int
    unit: str
    runs: dict[str, Callable[[], Any]]
    repeats: int
    target: tuple[float, str] | None = None  # (max ratio to raw psycopg, wording)
    orm_scale: float = 1.0  # the ORM ran on fewer rows: multiply its time by this
    read: bool = False  # a read: its wall and server-CPU targets apply
    warmup_calls: int = 0  # at least this many warm-up runs (psycopg prepares after 5)
    #: Peak memory measured in a fresh interpreter: (probe op, customer, rows).
    memory: tuple[str, UUID, int] | None = None
    memory_target: tuple[float, str] | None = None
    after: Callable[[], Any] | None = None  # untimed clean-up once measured
    #: The contender the ratios are taken against.
    baseline: str = "raw psycopg"
    #: Pin this process and the contenders' backends to different CPUs while
    #: measuring: on a small machine, a backend that happens to share the
    #: client's CPU answers about twice as fast (no cross-CPU wake-up; seen:
    #: 57 vs 126 us for the same get), which decides a ratio of two
    #: connections more than the work they do.
    pin: bool = False


def _cycler(ids: list[UUID], n: int) -> Callable[[], list[UUID]]:
    """Each call gives the next n ids (wrapping), so no contender re-reads a hot row."""
    state = {"at": 0}

    def take() -> list[UUID]:
        at = state["at"]
        state["at"] = (at + n) % len(ids)
        return [ids[(at + i) % len(ids)] for i in range(n)]

    return take


@dataclass
class Data:
    customer: UUID
    agent: UUID
    list_customer: UUID
    get_ids: list[UUID]
    detail_id: UUID
    running_ids: list[UUID]
    empty_executions: list[UUID]
    heavy_customer: UUID
    customers: list[UUID]
    sizes: dict[str, int] = field(default_factory=dict)
