"""OpenTelemetry (issue: observability): ``odb.instrument()`` with the real
SDK and its in-memory exporters, on both sides. Spans and metrics are read
back from the exporters; what the database did (prepared statements, rows)
from the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import optiinfra_db as odb
from optiinfra_db.queries import CATALOG
from tests.conftest import World
from tests.sides import api, own_sql

pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]


class Otel:
    """The SDK wired to memory: finished spans and collected metrics."""

    def __init__(self) -> None:
        self.spans_out = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_out))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer_provider = tracer_provider

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        got = list(self.spans_out.get_finished_spans())
        return [s for s in got if name is None or s.name == name]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found += list(m.data.data_points)
        return found


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    odb.instrument(tracer_provider=o.tracer_provider, meter_provider=o.meter_provider)
    try:
        yield o
    finally:
        odb.uninstrument()


def _server(conn: Conn) -> tuple[str, int]:
    info = conn.info
    return (info.host or "localhost"), int(info.port)


def test_a_get_is_a_client_span_named_by_its_query(
    otel: Otel, repos: odb.Repositories, conn: Conn, world: World
) -> None:
    otel.spans_out.clear()
    got = repos.workflow_executions.get(world.execution.id)
    assert got is not None and got.id == world.execution.id
    (span,) = otel.spans("workflow_executions.get")
    query = CATALOG["workflow_executions.get"]
    host, port = _server(conn)
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "db.system.name": "postgresql",
        "db.query.summary": "workflow_executions.get",
        "db.query.text": query.sql,
        "db.operation.name": "SELECT",
        "db.collection.name": "workflow_executions",
        "db.namespace": conn.info.dbname,
        "server.address": host,
        "server.port": port,
        "db.response.returned_rows": 1,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert repos.workflow_executions.get(uuid4()) is None
    assert otel.spans("workflow_executions.get")[-1].attributes["db.response.returned_rows"] == 0


def test_a_list_counts_its_rows(
    otel: Otel, repos: odb.Repositories, conn: Conn, world: World
) -> None:
    for i in range(3):
        repos.events.create(
            odb.EventCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                event_type=odb.EventType.AGENT_REGISTERED,
                data={"i": i},
            )
        )
    otel.spans_out.clear()
    listed = repos.events.list(customer_id=world.customer.id)
    (span,) = otel.spans("events.list")
    assert span.attributes["db.response.returned_rows"] == len(listed) == 3
    assert span.attributes["db.operation.name"] == "SELECT"
    assert span.attributes["db.collection.name"] == "events"


def test_a_claim_and_its_end_record_the_runtime_histograms(
    otel: Otel, repos: odb.Repositories, conn: Conn, world: World
) -> None:
    (run,) = repos.workflow_executions.claim("w-1")
    assert run.id == world.execution.id
    (span,) = otel.spans("workflow_executions.claim_one")
    assert span.attributes["db.operation.name"] == "UPDATE"
    assert span.attributes["db.response.returned_rows"] == 1
    done = repos.workflow_executions.complete(run.id, {"ok": True}, worker_id="w-1")
    conn.commit()
    (wait,) = otel.points("optiinfra.workflow.queue.wait")
    assert wait.count == 1 and wait.attributes == {"optiinfra.workflow.type": run.workflow_type}
    assert wait.sum == pytest.approx((run.started_at - run.created_at).total_seconds(), abs=1e-3)
    (took,) = otel.points("optiinfra.workflow.run.duration")
    assert took.count == 1
    assert took.attributes == {
        "optiinfra.workflow.type": run.workflow_type,
        "optiinfra.workflow.status": "completed",
    }
    assert done.completed_at is not None and done.started_at is not None
    assert took.sum == pytest.approx((done.completed_at - done.started_at).total_seconds())
    durations = {
        p.attributes["db.query.summary"]: p for p in otel.points("db.client.operation.duration")
    }
    assert durations["workflow_executions.claim_one"].count == 1
    assert "optiinfra.customer.id" not in durations["workflow_executions.claim_one"].attributes


def test_a_failed_insert_sets_the_library_error_type(
    otel: Otel, repos: odb.Repositories, conn: Conn, world: World
) -> None:
    otel.spans_out.clear()
    with pytest.raises(odb.ConflictError):
        repos.customers.create(
            odb.CustomerCreate(name="Other", email="ops@acme.test", api_key=odb.new_api_key())
        )
    conn.rollback()
    (span,) = otel.spans("customers.create")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is None  # a constraint's message quotes values
    assert span.attributes["error.type"] == "ConflictError"
    assert span.attributes["db.response.status_code"] == "23505"
    failed = [
        p
        for p in otel.points("db.client.operation.duration")
        if p.attributes["db.query.summary"] == "customers.create"
    ]
    # the world's customer was created before: one point without an error, one with
    assert sorted(str(p.attributes.get("error.type")) for p in failed) == ["ConflictError", "None"]
    # the transaction is usable, and the row is not there
    assert repos.customers.get_by_email("ops@acme.test") is not None


def test_a_scoped_call_names_the_customer_on_the_span_only(
    otel: Otel, db_dsn: str, world: World
) -> None:
    from tests.tenant_harness import app_dsn, ensure_app_login

    ensure_app_login(db_dsn)
    with api.connect(app_dsn(db_dsn)) as conn:
        scoped = api.Repositories(conn, customer_id=world.customer.id)
        otel.spans_out.clear()
        got = scoped.workflow_executions.get(world.execution.id)
        assert got is not None
    (span,) = otel.spans("workflow_executions.get")
    assert span.attributes["optiinfra.customer.id"] == str(world.customer.id)
    for point in otel.points("db.client.operation.duration"):
        assert "optiinfra.customer.id" not in point.attributes


def test_no_parameter_value_reaches_an_attribute(
    otel: Otel, repos: odb.Repositories, conn: Conn, world: World
) -> None:
    secret = "s3cr3t-value-xyz"
    customer = repos.customers.create(
        odb.CustomerCreate(name=secret, email=f"{secret}@x.test", api_key=odb.new_api_key())
    )
    repos.customers.get_by_email(f"{secret}@x.test")
    repos.customers.get(customer.id)
    with pytest.raises(odb.ConflictError):
        repos.customers.create(
            odb.CustomerCreate(name=secret, email=f"{secret}@x.test", api_key=odb.new_api_key())
        )
    conn.rollback()
    values: list[str] = []
    for span in otel.spans():
        values += [str(v) for v in (span.attributes or {}).values()]
        values.append(str(span.status.description))
        values += [str(e.attributes) for e in span.events]
    for metric in ("db.client.operation.duration",):
        for point in otel.points(metric):
            values += [str(v) for v in point.attributes.values()]
    assert values
    for value in values:
        assert secret not in value
        assert str(customer.id) not in value


def test_prepared_statements_still_serve_with_tracing_on(
    otel: Otel, repos: odb.Repositories, conn: Conn, world: World
) -> None:
    for _ in range(8):
        assert repos.workflow_executions.get(world.execution.id) is not None
    prepared = own_sql(conn, "SELECT statement FROM pg_prepared_statements")
    texts = [row[0] for row in prepared]
    assert any(t.startswith("/* optiinfra_db:workflow_executions:get */") for t in texts), texts
    assert len(otel.spans("workflow_executions.get")) == 8


def test_a_stream_is_one_span_with_all_its_rows(
    otel: Otel, repos: odb.Repositories, conn: Conn, world: World
) -> None:
    for i in range(5):
        repos.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.HEALTH_CHECK,
                input_data={"i": i},
            )
        )
    conn.commit()
    otel.spans_out.clear()
    rows = list(api.stream_all(conn, "reports.runs", _all_runs(), batch_size=2))
    (span,) = otel.spans("reports.runs")
    assert span.attributes["db.response.returned_rows"] == len(rows) == 6


def _all_runs() -> dict[str, Any]:
    from tests.integration.test_reports import _all_runs as everything

    return everything()


def test_pools_report_connections_waits_and_uses(otel: Otel, db_dsn: str, world: World) -> None:
    pool = api.create_pool(db_dsn, min_size=2, max_size=2, name="telemetry-pool")
    try:
        pool.wait()
        with pool.connection() as conn:
            used = {
                p.attributes["db.client.connection.state"]: p.value
                for p in otel.points("db.client.connection.count")
                if p.attributes["db.client.connection.pool.name"] == "telemetry-pool"
            }
            assert used == {"idle": 1, "used": 1}
            assert api.fetch_all(conn, "meta.server_version")
        (wait,) = [
            p
            for p in otel.points("db.client.connection.wait_time")
            if p.attributes == {"db.client.connection.pool.name": "telemetry-pool"}
        ]
        (use,) = [
            p
            for p in otel.points("db.client.connection.use_time")
            if p.attributes == {"db.client.connection.pool.name": "telemetry-pool"}
        ]
        # ours, and the runs gauge's read through the last pool made (this one)
        assert wait.count == use.count == 2 and use.sum > 0
    finally:
        pool.close()


def test_the_runs_gauge_reads_the_queue_through_the_last_pool(
    otel: Otel, db_dsn: str, repos: odb.Repositories, conn: Conn, world: World
) -> None:
    for _ in range(2):
        repos.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.SCALING_DECISION,
            )
        )
    conn.commit()
    assert otel.points("optiinfra.workflow.runs") == []  # no pool made yet: no figures
    pool = api.create_pool(db_dsn, min_size=1, max_size=1)
    try:
        figures = {
            (p.attributes["optiinfra.workflow.status"], p.attributes["optiinfra.workflow.type"]): (
                p.value
            )
            for p in otel.points("optiinfra.workflow.runs")
        }
        assert figures == {
            ("pending", world.execution.workflow_type): 1,
            ("pending", "scaling_decision"): 2,
        }
    finally:
        pool.close()


def test_uninstrument_stops_the_spans(otel: Otel, repos: odb.Repositories, world: World) -> None:
    odb.uninstrument()
    otel.spans_out.clear()
    repos.workflow_executions.get(world.execution.id)
    assert otel.spans() == []


@pytest.mark.sync_only
def test_instrument_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        odb.instrument(runs_every=0)
    with pytest.raises(TypeError, match="runs_pool"):
        odb.instrument(runs_pool="postgresql://")  # type: ignore[arg-type]
