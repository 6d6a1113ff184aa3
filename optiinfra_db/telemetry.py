"""``odb.instrument()``: OpenTelemetry spans and metrics for every statement
the library runs, on both sides (docs/observability.md).

Needs the ``otel`` extra (``pip install optiinfra-db[otel]``: the
OpenTelemetry API; the SDK and an exporter are the application's). What a
span and a metric say is in ``optiinfra_db/sansio/telemetry.py``; this
module switches it on and off and owns the observable instruments, the
ones OpenTelemetry reads when it collects:

* ``db.client.connection.count`` (by pool and state, idle/used) of every
  pool ``create_pool`` made, read from the pool (no I/O);
* ``optiinfra.workflow.runs`` (pending and running, by workflow type): one
  cheap statement (``telemetry.runs``), at most every ``runs_every``
  seconds, through ``runs_pool`` or else the last pool ``create_pool`` made
  after ``instrument()``; between reads the last figures are repeated. An
  asyncio pool is read on its own event loop (from the collecting thread,
  waiting up to 5 s; when the loop itself collects, the read is scheduled
  and the last figures reported).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from psycopg_pool import AsyncConnectionPool, ConnectionPool

from optiinfra_db import db
from optiinfra_db.aio import db as aio_db
from optiinfra_db.sansio import telemetry as state

__all__ = ["instrument", "uninstrument"]

log = logging.getLogger("optiinfra_db.telemetry")

#: How long the collecting thread waits for an asyncio pool's read.
READ_WAIT_S = 5.0


def _version() -> str:
    try:
        return version("optiinfra-db")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "0"


def instrument(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    runs_pool: ConnectionPool[Any] | AsyncConnectionPool[Any] | None = None,
    runs_every: float = 30.0,
) -> None:
    """Trace and measure every statement the library runs, sync and asyncio
    alike, from now on (see the module's doc and docs/observability.md).

    ``tracer_provider`` / ``meter_provider``: OpenTelemetry's global ones
    when None. ``runs_pool``: where the runs gauge reads (else the last pool
    ``create_pool`` makes from now on; no pool, no runs figures);
    ``runs_every``: seconds between its reads (at least 1). Calling it again
    replaces the previous set-up. Raises ImportError, naming the extra, when
    OpenTelemetry is not installed."""
    try:
        from opentelemetry import metrics, trace
    except ImportError as exc:
        raise ImportError(
            "odb.instrument() needs OpenTelemetry: pip install 'optiinfra-db[otel]'"
        ) from exc
    if isinstance(runs_every, bool) or not isinstance(runs_every, int | float):
        raise TypeError(f"runs_every must be a number of seconds, not {runs_every!r}")
    if not runs_every >= 1:
        raise ValueError(f"runs_every must be at least 1 second, not {runs_every!r}")
    if runs_pool is not None and not isinstance(runs_pool, ConnectionPool | AsyncConnectionPool):
        raise TypeError(f"runs_pool must be a psycopg_pool pool, not {type(runs_pool).__name__}")
    if isinstance(runs_pool, AsyncConnectionPool) and state.loop_of(runs_pool) is None:
        try:  # a pool made elsewhere: it runs on the loop instrument() is called from
            state.LOOPS[runs_pool] = asyncio.get_running_loop()
        except RuntimeError:
            raise ValueError(
                "runs_pool is an asyncio pool not made by create_pool: call instrument() "
                "from its event loop"
            ) from None
    uninstrument()
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("optiinfra_db", _version())
    meter = (meter_provider or metrics.get_meter_provider()).get_meter("optiinfra_db", _version())
    telemetry = state.Telemetry(tracer, meter)
    runs = _Runs(runs_pool, float(runs_every))
    meter.create_observable_up_down_counter(
        "db.client.connection.count",
        callbacks=[_connection_counts],
        unit="{connection}",
        description="Connections of the create_pool pools, by state (idle, used).",
    )
    meter.create_observable_gauge(
        "optiinfra.workflow.runs",
        callbacks=[runs.observe],
        unit="{run}",
        description="Runs pending and running, by workflow type.",
    )
    state.ACTIVE = telemetry


def uninstrument() -> None:
    """Stop tracing and measuring (instruments already handed to a meter
    report nothing more)."""
    state.ACTIVE = None
    state.LATEST.clear()


def _connection_counts(options: Any) -> Iterator[Any]:
    from opentelemetry.metrics import Observation

    if state.ACTIVE is None:
        return
    for pool in list(state.POOLS):
        if pool.closed:
            continue
        stats = pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        name = {"db.client.connection.pool.name": pool.name}
        yield Observation(idle, {**name, "db.client.connection.state": "idle"})
        yield Observation(size - idle, {**name, "db.client.connection.state": "used"})


class _Runs:
    """The runs gauge: reads ``telemetry.runs`` at most every ``every``
    seconds and repeats its last figures in between."""

    def __init__(self, pool: Any, every: float) -> None:
        self.pool = pool
        self.every = every
        self.read_at = -every
        self.figures: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def _target(self) -> tuple[Any, Any]:
        """The pool to read and its event loop (None: a sync pool)."""
        if self.pool is not None:
            return self.pool, state.loop_of(self.pool)
        for ref, loop in state.LATEST:
            return ref(), loop
        return None, None

    def observe(self, options: Any) -> Iterable[Any]:
        from opentelemetry.metrics import Observation

        if state.ACTIVE is None:
            return []
        now = time.monotonic()
        if now - self.read_at >= self.every and self.lock.acquire(blocking=False):
            try:
                self._refresh(now)
            finally:
                self.lock.release()
        return [
            Observation(
                count, {"optiinfra.workflow.status": status, "optiinfra.workflow.type": kind}
            )
            for status, kind, count in self.figures
        ]

    def _refresh(self, now: float) -> None:
        pool, loop = self._target()
        if pool is None or pool.closed:
            return
        self.read_at = now
        try:
            if isinstance(pool, ConnectionPool):
                with pool.connection(timeout=READ_WAIT_S) as conn:
                    self._keep(db.fetch_all(conn, "telemetry.runs"))
                return
            if loop is None or loop.is_closed():
                return
            try:
                on_loop = asyncio.get_running_loop() is loop
            except RuntimeError:
                on_loop = False
            future = asyncio.run_coroutine_threadsafe(self._read_async(pool), loop)
            if not on_loop:
                future.result(READ_WAIT_S)
        except Exception:  # never break the exporter: log, keep the last figures
            log.warning("optiinfra.workflow.runs: reading the runs failed", exc_info=True)

    async def _read_async(self, pool: AsyncConnectionPool[Any]) -> None:
        async with pool.connection(timeout=READ_WAIT_S) as conn:
            self._keep(await aio_db.fetch_all(conn, "telemetry.runs"))

    def _keep(self, rows: list[tuple[Any, ...]]) -> None:
        self.figures = [(str(s), str(k), int(n)) for s, k, n in rows]
