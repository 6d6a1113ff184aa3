"""What ``odb.instrument()`` costs: get by id and a page of 1,000, with
instrumentation off, on with OpenTelemetry's no-op providers, and on with
the SDK recording every span and metric to memory, side by side with raw
psycopg (one library connection shared by the three modes, which take turns
sample by sample: the mode is switched between samples, not during one).

Uninstrumented, a statement pays for one global read, an empty ``with`` and
a method call: timed here on its own (``off_path_ns``) and set against a
get, since two runs of a 100 us call can't resolve 0.2 us.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from benchmarks.common import RAW, Operation, _cycler
from optiinfra_db.queries import CATALOG
from optiinfra_db.sansio import telemetry as state

OFF, NOOP, SDK = "optiinfra_db", "otel no-op", "otel SDK"
MODES = (OFF, NOOP, SDK)
N_GET = 50


def _telemetries() -> tuple[dict[str, state.Telemetry | None], InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    made: dict[str, state.Telemetry | None] = {
        OFF: None,
        NOOP: state.Telemetry(
            NoOpTracerProvider().get_tracer("optiinfra_db"),
            NoOpMeterProvider().get_meter("optiinfra_db"),
        ),
        SDK: state.Telemetry(
            tracer_provider.get_tracer("optiinfra_db"), meter_provider.get_meter("optiinfra_db")
        ),
    }
    return made, spans


def otel_ops(b: Any) -> list[Operation]:
    """get by id (50 calls a sample) and list 1,000, in the three modes and raw."""
    telemetries, spans = _telemetries()
    repos, raw_conn, data, few = b.repos, b.raw_conn, b.data, b.few

    def mode(name: str, calls: Callable[[], None]) -> Callable[[], None]:
        telemetry = telemetries[name]

        def run() -> None:
            state.ACTIVE = telemetry
            try:
                calls()
            finally:
                state.ACTIVE = None
                spans.clear()  # memory stays flat; the export itself was paid

        return run

    def gets() -> dict[str, Callable[[], None]]:
        ids = {n: _cycler(data.get_ids, N_GET) for n in (*MODES, "raw psycopg")}

        def lib(name: str) -> Callable[[], None]:
            def calls() -> None:
                get = repos.workflow_executions.get
                for ident in ids[name]():
                    get(ident)

            return mode(name, calls)

        def raw() -> None:
            with raw_conn.cursor() as cur:
                for ident in ids["raw psycopg"]():
                    cur.execute(RAW["get"], {"id": ident})
                    cur.fetchone()

        return {**{n: lib(n) for n in MODES}, "raw psycopg": raw}

    def lists() -> dict[str, Callable[[], None]]:
        def calls() -> None:
            assert len(repos.workflow_executions.list_for_customer(data.list_customer, limit=1000))

        def raw() -> None:
            with raw_conn.cursor() as cur:
                cur.execute(
                    RAW["list_for_customer"], {"customer_id": data.list_customer, "limit": 1000}
                )
                assert len(cur.fetchall()) == 1000

        return {**{n: mode(n, calls) for n in MODES}, "raw psycopg": raw}

    return [
        Operation(
            "otel: get one execution by id", N_GET, "call", gets(), max(200 // few, 30),
        ),
        Operation(
            "otel: list 1,000 of a customer", 1, "call", lists(), max(100 // few, 15),
            warmup_calls=20,
        ),
    ]  # fmt: skip


def off_path_ns() -> float:
    """Nanoseconds an uninstrumented statement spends in the hook (the
    median of 7 runs of 200,000)."""

    class Cursor:
        rowcount = 1

    query, cur = CATALOG["workflow_executions.get"], Cursor()
    pgconn: Any = None

    def hook() -> None:
        with state.observe(query, pgconn, None) as call:
            call.done(cur)

    assert state.ACTIVE is None
    runs = timeit.repeat(hook, number=200_000, repeat=7)
    return statistics.median(runs) / 200_000 * 1e9


def report_otel(results: list[Any]) -> dict[str, Any]:
    """The overhead per call of each mode over the uninstrumented library,
    in microseconds, and the off path against a get."""
    out: dict[str, Any] = {}
    for r in results:
        if not r.op.name.startswith("otel:"):
            continue
        off = r.per_unit(OFF)
        row = {"off_us": off * 1e6, "off_ratio_to_raw": r.ratio(OFF)}
        for name in (NOOP, SDK):
            row[f"{name}_extra_us"] = (r.per_unit(name) - off) * 1e6
            row[f"{name}_ratio_to_off"] = r.per_unit(name) / off
        out[r.op.name] = row
    if not out:
        return out
    ns = off_path_ns()
    print("\nOpenTelemetry: extra time per call over the uninstrumented library (median samples)")
    for name, row in out.items():
        print(
            f"  {name[6:]:<32} off {row['off_us']:8.1f} us ({row['off_ratio_to_raw']:.2f}x raw)"
            f"   no-op +{row[f'{NOOP}_extra_us']:6.1f} us ({row[f'{NOOP}_ratio_to_off']:.2f}x)"
            f"   SDK +{row[f'{SDK}_extra_us']:6.1f} us ({row[f'{SDK}_ratio_to_off']:.2f}x)"
        )
    get = out.get("otel: get one execution by id")
    share = ns / (get["off_us"] * 1000) if get else float("nan")
    print(f"  uninstrumented hook: {ns:.0f} ns per statement = {share:.2%} of a get")
    out["off_path_ns"] = ns
    out["off_path_share_of_get"] = share
    return out


def otel_verdicts(out: dict[str, Any]) -> int:
    """Uninstrumented, the hook costs at most 1 % of a get."""
    if "off_path_share_of_get" not in out:
        return 0
    share = out["off_path_share_of_get"]
    ok = share <= 0.01
    print(
        f"  {'met   ' if ok else 'MISSED'} instrumentation off costs <= 1 % of a get: "
        f"{out['off_path_ns']:.0f} ns = {share:.2%}"
    )
    return not ok
