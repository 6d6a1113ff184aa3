"""Query plans at scale (``pytest -m slow``; run once by .ci/run, not by make test).

Seeds about a million executions with their steps and artifacts through COPY
(``OPTIINFRA_PLAN_SCALE`` overrides the count), runs ANALYZE, then runs
``EXPLAIN (ANALYZE, FORMAT JSON)`` on every named query in sql/ with realistic
parameters, writes inside a transaction that is rolled back. It fails when a
plan scans a ``workflow_*`` table sequentially (unless the query is on the
allow-list below, with its reason), when a query exceeds its time budget, or
when an index of a ``workflow_*`` table is used by no query's plan, and when a
plan reads more than ROWS_FACTOR rows per row it returns (index-backed or not).
Each query runs with its parameter values (the custom plan) and, unless it is
``plan: custom`` (never prepared by the library), as the generic plan a
prepared statement settles on after psycopg's prepare_threshold; both are
held to the same rules.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

import optiinfra_db as odb
from optiinfra_db.enums import PG_ENUMS
from optiinfra_db.queries import CATALOG
from optiinfra_db.schema import EXPECTED_INDEXES
from optiinfra_db.seed import seed
from tests.sides import api

pytestmark = pytest.mark.slow

SCALE = int(os.environ.get("OPTIINFRA_PLAN_SCALE", "1000000"))

#: Queries allowed to scan a workflow_* table sequentially, with the reason.
SEQ_SCAN_ALLOWED = {
    "workflow_executions.stats": "whole-table report: aggregates every execution in the window",
    "workflow_executions.count_by_status": "unfiltered: counts every execution",
    "retention.purge_count": "counts what a purge would remove: up to the whole history",
    # "key #n": that variant only (#0 is the base parameters); the windowed
    # variant of failure_summary must use the indexes
    "workflow_steps.failure_summary #0": "the whole history's failures, joined to their runs",
    "seed.counts": "whole-table counts, used by seed only",
    # odb.instrument()'s runs gauge: every pending and running run (here
    # 300,000 of the 1M are due), by type; read at most every runs_every s
    "telemetry.runs": "counts the live runs (the queue), by type",
}
#: A plan may read at most this many rows per row it returns (or ROWS_FLOOR
#: rows, whichever is more): a plan that reads an owner's whole history to
#: return one page fails, even when every scan is index-backed.
ROWS_FACTOR = 20
ROWS_FLOOR = 2_000
#: Queries that read more than they return by design, with the reason.
ROWS_ALLOWED = {
    # The seeded log's newest rows (the runtime state written after the seed)
    # are new to a watcher's snapshot here: a watcher that far behind reads
    # that backlog once, then follows (benchmarks/watch.py: p95 3.5 ms).
    "live.read_rest": "the rest of a backlog read, filtered by the cut snapshot",
    "workflow_executions.stats": "aggregates every execution in the window",
    "workflow_executions.count_by_status": "counts the executions of its scope",
    "workflow_steps.failure_summary": "aggregates the failures of the window",
    "retention.purge_batch": "deletes a batch of 1,000 runs with their children",
    "retention.purge_preview": "counts a batch of 1,000 runs' children",
    "retention.purge_count": "counts the runs a purge would remove",
    "workflow_executions.list #5": "a completed_at window in created_at order reads the window",
    "workflow_executions.list_for_customer #8": "a day's finishes in created_at order: the window",
    "seed.counts": "whole-table counts, used by seed only",
    "telemetry.runs": "counts the live runs (the queue), by type",
    "workflow_executions.count_by_type": "counts a customer's executions",
    "workflow_executions.count_active_for_agent": "counts an agent's open executions",
    "workflow_steps.list_by_name": "failures of one step name: filtered on status, see budget",
    # A rare status over a long history: the scan reads past the rows of other
    # statuses until it has a page (or the history ends); the budget bounds it.
    "reports.runs #1": "status = failed over all history",
    "reports.runs #2": "status = failed over one customer's history",
    "workflow_executions.list #1": "status = failed over all history",
    "workflow_executions.list_for_customer #1": "status = failed over one customer's history",
    "workflow_executions.list_for_customer #2": "type and status over one customer's history",
    "workflow_executions.list_for_agent #1": "status = running over one agent's history",
    # Every customer of this seed runs ~27,000 runs at once, so at any limit
    # all are at it: the claim passes over the whole due queue (300,000
    # index rows) and returns nothing. The worst case, documented in
    # docs/scheduling.md; the p95 test below times it where customers have room.
    "workflow_executions.claim_limited": "every customer at its limit: the whole queue",
}
#: Time budget per query in ms (EXPLAIN ANALYZE execution time); default below.
DEFAULT_BUDGET_MS = 50.0
BUDGET_MS = {
    "live.read_new": 500.0,  # see ROWS_ALLOWED: a backlog read once, not the steady state
    "telemetry.runs": 500.0,  # the whole queue, every runs_every seconds (docs/observability.md)
    "workflow_executions.stats": 15_000.0,
    "workflow_executions.count_by_status": 2_000.0,  # unfiltered: every execution
    "workflow_steps.failure_summary": 5_000.0,  # all failures of all history
    "workflow_executions.reap_expired": 200.0,  # 50 expired runs and their steps, one statement
    "workflow_executions.claim_limited": 1_500.0,  # see ROWS_ALLOWED: the worst case
    "retention.purge_batch": 1_000.0,  # 1,000 runs and their children (target 250 ms)
    "retention.purge_preview": 1_000.0,
    "retention.purge_count": 2_000.0,
    "seed.counts": 15_000.0,
    "workflow_executions.count_by_type": 300.0,  # a third of all rows in this seed
    "workflow_executions.list_for_customer": 100.0,
    "workflow_executions.list_for_agent": 100.0,
    "workflow_executions.list": 100.0,
    "workflow_executions.delete": 200.0,
    "workflow_steps.list_by_name": 200.0,
    "reports.runs": 100.0,
    "customers.delete": 60_000.0,  # cascades; measured separately below
    "agents.delete": 60_000.0,
}
#: Statements EXPLAIN can't run (COPY) or that are not worth running at scale.
SKIP = {k for k, q in CATALOG.items() if q.kind == "copy"} | {
    "seed.vacuum_analyze",  # a utility statement: EXPLAIN does not apply
    "live.listen_transitions",  # LISTEN: a utility statement
    "live.listen_work",
    "live.listen_cancel",
    "live.unlisten_all",  # UNLISTEN: a utility statement
    "meta.table_has_rows",  # an identifier template ({table}), one row at most
    # DDL on the log's partitions (partitions.ensure would make them; the
    # rest are templates of a partition's name): tests/integration/test_partitions.py
    "partitions.ensure",
    "retention.partition_rows",
    "retention.detach_lock_timeout",
    "retention.detach_partition_concurrently",
    "retention.detach_partition",
    "retention.finish_detach",
    "retention.drop_detached",
    # a stream's cursor (DECLARE / FETCH / CLOSE: templates of an identifier);
    # the statement a stream declares is explained under its own name
    "meta.stream_declare",
    "meta.stream_fetch",
    "meta.stream_close",
    # a session's customer and role (set_config, SET ROLE): no table
    "meta.set_customer_scope",
    "meta.set_customer_once",
    "meta.set_role_app",
    "meta.may_be_app",
    # pg_stat_statements (optiinfra-db top): an extension the test server
    # need not have, and no table of the library's; tests/integration/test_top.py
    "telemetry.statements",
    "telemetry.statements_reset_at",
    # A whole customer's or agent's history: see the cascade test below.
    "customers.delete",
    "agents.delete",
}


@pytest.fixture(scope="module")
def scale_db(pg_server: Any, template_db: str) -> Iterator[dict[str, Any]]:
    name = f"optiinfra_plans_{os.getpid()}"
    with pg_server.janitor(name, template_dbname=template_db):
        dsn = pg_server.dsn(name)
        with psycopg.connect(dsn, autocommit=True) as dba:
            # The partitioned log as months in production leave it: weekly
            # partitions from six weeks back (the seed spreads its history
            # over the last 30 days) instead of the first partition that the
            # migration made of the old table (empty here).
            dba.execute(
                "ALTER TABLE workflow_transitions DETACH PARTITION workflow_transitions_first"
            )
            dba.execute("DROP TABLE workflow_transitions_first")
            dba.execute(
                "SELECT optiinfra_ensure_transition_partitions("
                "10, '7 days', now() - interval '6 weeks')"
            )
        with api.connect(dsn, statement_timeout=None) as conn:
            began = time.perf_counter()
            result = seed(conn, scale=SCALE, seed=1)
            seeded_s = time.perf_counter() - began
            queued = _runtime_state(conn)
            ids = _ids(conn)
            conn.commit()
            # where a watcher stands once all that is committed (live.*)
            ids["snapshot"] = _one(conn, "SELECT pg_current_snapshot()::text")
            conn.commit()
        print(
            f"\nseeded {result.executions:,} executions, {result.steps:,} steps, "
            f"{result.artifacts:,} artifacts in {seeded_s:.0f} s; "
            f"{queued['pending']:,} pending, {queued['running']:,} running "
            f"({queued['expired']:,} with an expired lease)"
        )
        yield {"dsn": dsn, "ids": ids}


#: The claim queue at scale: a tenth of the executions pending (100,000 at a million).
PENDING = SCALE // 10
#: And as many delayed a day ahead (claim passes over them inside its index).
DELAYED = SCALE // 10
#: Running executions whose worker stopped heartbeating (the reaper's work).
EXPIRED = 50


def _runtime_state(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """A live runtime on the seeded history: PENDING executions queued (the
    newest completed ones put back, as a DBA's UPDATE would: the trigger logs
    each move), every running one held by a worker on a live lease, EXPIRED
    of them with a lease that ran out."""
    conn.execute(
        "UPDATE workflow_executions SET status = 'pending', started_at = NULL,"
        " completed_at = NULL WHERE id IN (SELECT id FROM workflow_executions"
        " WHERE status = 'completed' ORDER BY created_at DESC LIMIT %s)",
        [
            max(
                0,
                PENDING
                - _one(
                    conn,
                    "SELECT count(*) FROM workflow_executions"
                    " WHERE status = 'pending' AND run_after IS NULL",
                ),
            )
        ],
    )
    # and as many again delayed a day (requeued or scheduled), every pending
    # run at a priority from -2 to 2
    conn.execute(
        "UPDATE workflow_executions SET status = 'pending', started_at = NULL,"
        " completed_at = NULL, run_after = now() + interval '1 day'"
        " WHERE id IN (SELECT id FROM workflow_executions"
        " WHERE status = 'completed' ORDER BY created_at DESC LIMIT %s)",
        [
            max(
                0,
                DELAYED
                - _one(
                    conn,
                    "SELECT count(*) FROM workflow_executions"
                    " WHERE status = 'pending' AND run_after IS NOT NULL",
                ),
            )
        ],
    )
    conn.execute(
        "UPDATE workflow_executions SET priority = (abs(hashtext(id::text)) % 5) - 2"
        " WHERE status = 'pending' AND priority = 0"
    )
    conn.execute(
        "UPDATE workflow_executions SET worker_id = 'worker-' || (abs(hashtext(id::text)) % 64),"
        " attempt = 1, heartbeat_at = now(), lease_expires_at = now() + interval '10 minutes'"
        " WHERE status = 'running'"
    )
    conn.execute(
        "UPDATE workflow_executions SET lease_expires_at = now() - interval '1 minute'"
        " WHERE id IN (SELECT id FROM workflow_executions WHERE status = 'running'"
        " ORDER BY created_at LIMIT %s)",
        [EXPIRED],
    )
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM (ANALYZE) workflow_executions, workflow_transitions")
    conn.autocommit = False
    counts = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'pending'),"
        " count(*) FILTER (WHERE status = 'running'),"
        " count(*) FILTER (WHERE status = 'running' AND lease_expires_at < now())"
        " FROM workflow_executions"
    ).fetchone()
    assert counts is not None
    return dict(zip(("pending", "running", "expired"), counts, strict=True))


def _one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None, query
    return row[0]


def _small_customer(conn: psycopg.Connection[Any]) -> Any:
    ident = _one(
        conn,
        "INSERT INTO customers (name, email, api_key_hash) "
        "VALUES ('Small Co', 'small@test.example', repeat('cd', 32)) "
        "ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    conn.execute(
        "INSERT INTO workflow_executions"
        " (agent_id, customer_id, workflow_type, status, created_at) "
        "SELECT (SELECT id FROM agents ORDER BY name LIMIT 1), %s, 'health_check', "
        "CASE WHEN n %% 10 = 0 THEN 'failed' ELSE 'completed' END::workflow_status, "
        "now() - n * interval '1 minute' FROM generate_series(1, 5000) AS n",
        [ident],
    )
    conn.execute("ANALYZE workflow_executions")
    return ident


def _ids(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Realistic keys: the demo customer/agent and a failed run in the middle of history."""
    acme = _one(conn, "SELECT id FROM customers WHERE name = 'Acme Corp'")
    agent = _one(conn, "SELECT id FROM agents WHERE name = 'performance-agent-1'")
    execution = _one(
        conn,
        "SELECT id FROM workflow_executions WHERE status = 'failed' "
        "ORDER BY created_at OFFSET 1000 LIMIT 1",
    )
    step = _one(
        conn,
        "SELECT id FROM workflow_steps WHERE workflow_execution_id = %s AND status = 'failed'",
        [execution],
    )
    return {
        "top_transition": _one(conn, "SELECT max(id) FROM workflow_transitions"),
        "customer": acme,
        "agent": agent,
        "execution": execution,
        "step": step,
        "artifact": _one(
            conn,
            "SELECT id FROM workflow_artifacts WHERE workflow_execution_id = %s LIMIT 1",
            [execution],
        ),
        "running": _one(
            conn,
            "SELECT id FROM workflow_executions WHERE status = 'running' "
            "ORDER BY created_at DESC LIMIT 1",
        ),
        "recommendation": _one(conn, "SELECT id FROM recommendations LIMIT 1"),
        "approval": _one(conn, "SELECT id FROM approvals LIMIT 1"),
        "optimization": _one(conn, "SELECT id FROM optimizations LIMIT 1"),
        "config": _one(conn, "SELECT id FROM agent_configs LIMIT 1"),
        "state": _one(conn, "SELECT id FROM agent_states LIMIT 1"),
        "capability": _one(conn, "SELECT id FROM agent_capabilities LIMIT 1"),
        "metric": _one(conn, "SELECT id FROM agent_metrics LIMIT 1"),
        "event": _one(conn, "SELECT id FROM events LIMIT 1"),
        "now": datetime.now(UTC),
        # An agent without a state row, for agent_states.create.
        # A customer with a short history beside the big ones: a plan fit for
        # the big customers (walk the global created_at index) would read
        # the whole table for it.
        "small_customer": _small_customer(conn),
        "spare_agent": _one(
            conn,
            "INSERT INTO agents (type, name) VALUES "
            "('application', 'plan-probe-agent') "
            "ON CONFLICT (type, name) DO UPDATE SET name = EXCLUDED.name "
            "RETURNING id",
        ),
    }


_ROW_ID = {
    "customers": "customer",
    "agents": "agent",
    "events": "event",
    "recommendations": "recommendation",
    "approvals": "approval",
    "optimizations": "optimization",
    "agent_configs": "config",
    "agent_states": "state",
    "agent_capabilities": "capability",
    "agent_metrics": "metric",
    "workflow_executions": "execution",
    "workflow_steps": "step",
    "workflow_artifacts": "artifact",
}
_ENUM_DEFAULTS = {
    "customers": {"plan": "free", "status": "active"},
    "agents": {"type": "cost", "status": "healthy"},
    "events": {"event_type": "cost_anomaly", "severity": "info"},
    "recommendations": {"type": "right_sizing", "priority": "high", "status": "pending"},
    "approvals": {"status": "approved"},
    "optimizations": {"status": "queued"},
    "workflow_executions": {"workflow_type": "cost_analysis", "status": "pending"},
    "workflow_steps": {"status": "pending"},
    "workflow_artifacts": {"artifact_type": "report"},
}


def params_for(key: str, ids: dict[str, Any]) -> dict[str, Any]:
    """Realistic parameters for a named query, by parameter name."""
    file, name = key.split(".")
    query = CATALOG[key]
    now: datetime = ids["now"]
    values: dict[str, Any] = {
        "id": ids.get(_ROW_ID.get(file, ""), ids["execution"]),
        "customer_id": ids["customer"],
        "agent_id": ids["agent"],
        "workflow_execution_id": ids["execution"],
        "workflow_step_id": ids["step"],
        "recommendation_id": ids["recommendation"],
        "current_workflow_id": ids["execution"],
        "limit": 100,
        "after_created_at": "infinity",
        "after_recorded_at": "infinity",
        "after_id": UUID(int=(1 << 128) - 1),
        "since": "-infinity",
        "until": "infinity",
        "horizon": "28 days",
        "dropped": [],
        "names": sorted(PG_ENUMS),
        "key": "Acme Corp",
        "email": "ops@acme-corp.example",
        "api_key_hash": "ab" * 32,
        "name": "cost-agent-1",
        "step_name": "apply_kv_cache_config",
        "metric_name": "cpu_percent",
        "config_key": "poll_interval_s",
        "config_value": "30",
        "config_type": "integer",
        "current_status": None,
        "enabled": None,
        "title": "t",
        "confidence_score": 0.5,
        "approved_by": "x",
        "progress": 0,
        "artifact_name": "a",
        "artifact_path": "/a",
        "capability_name": "c",
        "capability_version": "1.0.0",
        "metric_value": 1.0,
        "metric_type": "gauge",
        "step_order": 99,
        "retry_count": 0,
        "max_retries": 3,
        "recorded_at": now,
        "error_details": Jsonb({"error": "x"}),
        "worker_id": "worker-1",
        "lease": timedelta(seconds=60),
        "workflow_types": None,
        "reason": None,
        "skip_remaining": False,
        "retry": False,
        "to_status": "failed",
        "statuses": None,
        "after": 0,
        "lo": ids["snapshot"],
        "hi": ids["snapshot"],
        "last": ids["top_transition"],
        "finished_since": None,
        "finished_until": None,
        "ids": [ids["execution"], ids["running"]],
        "max_attempts": 1,
        "from_statuses": ["running"],
        "steps": Jsonb(
            [
                {
                    "step_name": "collect",
                    "step_order": 1,
                    "status": "pending",
                    "input_data": {},
                    "max_retries": 3,
                    "metadata": {},
                }
            ]
        ),
        "output_data": Jsonb({"ok": True}),
        "status": None,
        "workflow_type": None,
        "event_type": None,
        "severity": None,
        "type": None,
        "priority": None,
        "plan": None,
        "artifact_type": None,
    }
    if name in ("create", "upsert", "create_with_steps"):
        values.update(_ENUM_DEFAULTS.get(file, {}))
        values["enabled"] = True
        values["config_key"] = "plan_probe_key"
        values["current_status"] = "idle"
        if file == "agents":
            values["name"] = "plan-test-agent"
        if file == "customers":
            values["email"] = "plan@test.example"
    if name == "get_by_type_and_name":
        values["type"] = "cost"
    if key in (
        "workflow_executions.list_running",
        "workflow_executions.count_by_status",
        "workflow_executions.stats",
        "workflow_steps.failure_summary",
    ):
        values.update(agent_id=None, customer_id=None)
    if file == "workflow_executions":
        values["priority"] = 0  # a smallint here (a recommendation's is an enum)
        values["penalty"] = True  # requeue: a handler's retry (False: a shutdown)
    if file == "retention":
        values.update(
            statuses=["completed", "failed", "cancelled", "timeout"],
            finished_before=now - timedelta(days=15),
            batch_size=1000,
            after_completed_at="-infinity",
            after_id=UUID(int=0),
        )
    if key in ("workflow_executions.claim", "workflow_executions.claim_limited"):
        values.update(agent_id=None, customer_id=None, limit=1, per_customer_limit=2)
    if key in ("workflow_executions.heartbeat", "workflow_executions.complete"):
        values["id"] = ids["running"]
    params: dict[str, Any] = {}
    settable = sorted(x for x in query.params if not x.startswith("set_") and x != "id")
    for p in query.params:
        if p.startswith("set_"):
            params[p] = p == "set_" + settable[0]  # update exactly one column
        elif p in values:
            params[p] = values[p]
        elif p in {"capabilities", "active_workflows"}:
            params[p] = Jsonb([])
        elif p in {
            "metadata",
            "data",
            "result",
            "config",
            "tags",
            "input_data",
            "locks",
            "resource_usage",
            "patch",
        }:
            params[p] = Jsonb({})
        else:
            params[p] = None
    if key == "agent_states.create":
        params["agent_id"] = ids["spare_agent"]
    return params


#: Extra parameter sets: filters in use, recent windows, deep pages.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "workflow_executions.list_for_customer": [
        {"statuses": ["failed"]},
        {"workflow_type": "cost_analysis", "statuses": ["completed"]},
        {"since": "NOW-7d"},
        {"after_created_at": "NOW-20d"},
        {"limit": 1000},
        {"customer_id": "SMALL_CUSTOMER"},
        {"customer_id": "SMALL_CUSTOMER", "statuses": ["failed"]},
        {"statuses": ["failed", "timeout"], "finished_since": "NOW-1d"},
    ],
    "workflow_executions.list_for_agent": [
        {"statuses": ["running"]},
        {"since": "NOW-1d"},
        {"limit": 1000},
    ],
    "workflow_executions.list": [
        {"statuses": ["failed"]},
        {"since": "NOW-1d"},
        {"limit": 1000},
        {"finished_since": "NOW-1d"},
        {"statuses": ["failed", "timeout"], "finished_since": "NOW-7d", "finished_until": "NOW-1d"},
    ],
    "workflow_executions.list_running": [
        {"customer_id": "CUSTOMER"},
        {"agent_id": "AGENT"},
    ],
    "workflow_executions.count_by_status": [
        {"customer_id": "CUSTOMER", "since": "NOW-1d"},
        {"agent_id": "AGENT", "since": "NOW-1d"},
    ],
    "workflow_steps.failure_summary": [{"since": "NOW-1d"}],
    "workflow_steps.list_by_name": [{"status": "failed"}],
    "workflow_artifacts.list_for_execution": [{"artifact_type": "log"}],
    "reports.runs": [{"statuses": ["failed"]}, {"customer_id": "CUSTOMER", "statuses": ["failed"]}],
    "workflow_executions.stats": [{"since": "NOW-1d"}],
    "workflow_executions.claim": [
        {"limit": 100},
        {"workflow_types": ["cost_analysis", "health_check"]},
        {"agent_id": "AGENT"},
        {"customer_id": "CUSTOMER", "limit": 10},
    ],
    "workflow_executions.claim_limited": [{"customer_id": "CUSTOMER", "limit": 10}],
}


def _apply_variant(
    params: dict[str, Any], variant: dict[str, Any], ids: dict[str, Any]
) -> dict[str, Any]:
    out = dict(params)
    for k, v in variant.items():
        if isinstance(v, str) and v.startswith("NOW-"):
            days = int(v[4:-1])
            v = ids["now"] - timedelta(days=days)
        elif v == "CUSTOMER":
            v = ids["customer"]
        elif v == "AGENT":
            v = ids["agent"]
        elif v == "SMALL_CUSTOMER":
            v = ids["small_customer"]
        out[k] = v
    return out


def _walk(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _walk(child)


def rows_read(plan: dict[str, Any]) -> tuple[int, int]:
    """(rows the plan's table scans read, rows it returned), from EXPLAIN ANALYZE:
    a scan reads the rows it emits plus those its filters and rechecks removed,
    on every loop."""
    examined = 0
    for node in _walk(plan["Plan"]):
        if "Relation Name" in node:
            loops = int(node.get("Actual Loops", 1))
            kept = float(node.get("Actual Rows", 0))
            removed = float(node.get("Rows Removed by Filter", 0)) + float(
                node.get("Rows Removed by Index Recheck", 0)
            )
            examined += round((kept + removed) * loops)
    return examined, round(float(plan["Plan"].get("Actual Rows", 0)))


def explain(
    conn: psycopg.Connection[Any],
    key: str,
    params: dict[str, Any],
    *,
    generic: bool,
    analyze: bool = True,
    customer: UUID | None = None,
) -> dict[str, Any]:
    sql = CATALOG[key].sql
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    with conn.transaction(force_rollback=True), conn.cursor(row_factory=tuple_row) as cur:
        if customer is not None:  # a scoped transaction: row-level security applies
            cur.execute("SELECT set_config('optiinfra.customer_id', %s, true)", (str(customer),))
        if generic:
            cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cur.execute(f"PREPARE plan_probe AS {_dollar(sql)}")  # type: ignore[arg-type]
            ordered = _order(sql)
            args = ", ".join(_literal(conn, params[p]) for p in ordered)
            cur.execute(
                f"EXPLAIN ({options}) EXECUTE plan_probe"  # type: ignore[arg-type]
                + (f"({args})" if ordered else "")
            )
        else:
            cur.execute(f"EXPLAIN ({options}) {sql}", params)  # type: ignore[arg-type]
        row = cur.fetchone()
        if generic:
            cur.execute("DEALLOCATE plan_probe")
    assert row is not None
    document = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return document[0]  # type: ignore[no-any-return]


def _order(sql: str) -> list[str]:
    import re

    seen: list[str] = []
    for name in re.findall(r"%\(([a-z_][a-z0-9_]*)\)s", sql):
        if name not in seen:
            seen.append(name)
    return seen


def _dollar(sql: str) -> str:
    order = _order(sql)
    for i, name in enumerate(order, start=1):
        sql = sql.replace(f"%({name})s", f"${i}")
    return sql.replace("%%", "%")


def _literal(conn: psycopg.Connection[Any], value: Any) -> str:
    from psycopg.sql import Literal

    if isinstance(value, Jsonb):
        value = json.dumps(value.obj)
    if isinstance(value, list):
        # an untyped array literal: it takes the parameter's type (text[], an enum[])
        return Literal("{" + ",".join(str(v) for v in value) + "}").as_string(conn)
    return Literal(value).as_string(conn)


def _partitions(conn: psycopg.Connection[Any]) -> tuple[dict[str, str], set[str]]:
    """The log's partitions' indexes, each to its parent's (a plan names the
    partition's), and the partitions holding no row (the weeks ahead, the
    DEFAULT): the planner reads a 0-page table by a sequential scan, which
    costs nothing, so those are no rule's concern."""
    parents = dict(
        conn.execute(
            "SELECT c.relname::text, p.relname::text FROM pg_inherits AS i"
            " JOIN pg_class AS c ON c.oid = i.inhrelid JOIN pg_class AS p ON p.oid = i.inhparent"
            " WHERE c.relkind = 'i'"
        ).fetchall()
    )
    empty = {
        r[0]
        for r in conn.execute(
            "SELECT partition_name FROM optiinfra_transition_partitions()"
            " WHERE pg_relation_size(partition_name::regclass) = 0"
        ).fetchall()
    }
    conn.rollback()
    return parents, empty


def test_plans_at_scale(scale_db: dict[str, Any]) -> None:
    ids = scale_db["ids"]
    problems: list[str] = []
    used_indexes: set[str] = set()
    table: list[tuple[str, str, str, float, str]] = []
    with api.connect(scale_db["dsn"], statement_timeout=None) as conn:
        index_parent, empty_partitions = _partitions(conn)
        print(f"\nthe log's partitions holding no row: {sorted(empty_partitions)}")
        for key in sorted(CATALOG):
            if key in SKIP:
                continue
            if key.startswith("live."):  # a watcher in step with the log: its last snapshot
                conn.rollback()
                ids = {**ids, "snapshot": _one(conn, "SELECT pg_current_snapshot()::text")}
            base = params_for(key, ids)
            variants = [base] + [_apply_variant(base, v, ids) for v in VARIANTS.get(key, [])]
            for n, params in enumerate(variants):
                label = key if n == 0 else f"{key} #{n}"
                for generic in (False, True):
                    if generic and CATALOG[key].custom_plan:
                        # Never prepared (test_plan_stability checks the server holds
                        # no prepared statement of it): its generic plan is shown for
                        # the DBA, without ANALYZE, and not held to the rules.
                        shown = explain(conn, key, params, generic=True, analyze=False)
                        scans = "; ".join(
                            sorted(
                                {
                                    f"{nd['Node Type']} {nd.get('Index Name') or ''}".strip()
                                    + f" on {nd['Relation Name']}"
                                    for nd in _walk(shown["Plan"])
                                    if "Relation Name" in nd
                                }
                            )
                        )
                        table.append(
                            (label, "generic", scans, float("nan"), "never prepared, shown only")
                        )
                        continue
                    try:
                        plan = explain(conn, key, params, generic=generic)
                    except psycopg.Error as exc:
                        raise AssertionError(f"{label}: {exc}") from exc
                    nodes = list(_walk(plan["Plan"]))
                    scans = sorted(
                        {
                            f"{nd['Node Type']} {nd.get('Index Name') or ''}".strip()
                            + f" on {nd['Relation Name']}"
                            for nd in nodes
                            if "Relation Name" in nd
                        }
                    )
                    used_indexes |= {
                        index_parent.get(nd["Index Name"], nd["Index Name"])
                        for nd in nodes
                        if "Index Name" in nd
                    }
                    seq = [
                        nd["Relation Name"]
                        for nd in nodes
                        if nd["Node Type"] == "Seq Scan"
                        and nd["Relation Name"].startswith("workflow_")
                        and nd["Relation Name"] not in empty_partitions
                    ]
                    if seq and not {key, f"{key} #{n}"} & set(SEQ_SCAN_ALLOWED):
                        problems.append(
                            f"{label} ({'generic' if generic else 'custom'} plan): "
                            f"sequential scan on {', '.join(sorted(set(seq)))}"
                        )
                    examined, returned = rows_read(plan)
                    bound = max(ROWS_FACTOR * returned, ROWS_FLOOR)
                    if examined > bound and not {key, label} & set(ROWS_ALLOWED):
                        problems.append(
                            f"{label} ({'generic' if generic else 'custom'} plan): read "
                            f"{examined:,} rows to return {returned:,} (bound {bound:,})"
                        )
                    if not generic:
                        ms = float(plan["Execution Time"])
                        budget = BUDGET_MS.get(key, DEFAULT_BUDGET_MS)
                        for _ in range(2 if ms > budget else 0):
                            # over budget: the best of three runs is the
                            # statement's cost; a lone spike is the host's
                            # (a checkpoint, autovacuum, a busy CI machine)
                            again = explain(conn, key, params, generic=False)
                            ms = min(ms, float(again["Execution Time"]))
                        if ms > budget:
                            problems.append(f"{label}: {ms:.1f} ms over its {budget:.0f} ms budget")
                        table.append(
                            (
                                label,
                                "custom",
                                "; ".join(scans) or "-",
                                ms,
                                SEQ_SCAN_ALLOWED.get(key, SEQ_SCAN_ALLOWED.get(f"{key} #{n}", "")),
                            )
                        )
                    else:
                        table.append((label, "generic", "; ".join(scans) or "-", float("nan"), ""))
    print("\nquery plans at scale (custom plan with EXPLAIN ANALYZE time; generic plan after it)")
    width = max(len(r[0]) for r in table)
    for label, kind, scans, ms, reason in table:
        timing = f"{ms:9.2f} ms" if ms == ms else "         - "
        print(
            f"{label:<{width}}  {kind:<7} {timing}  {scans}"
            + (f"  [allowed: {reason}]" if reason else "")
        )
    workflow_indexes = {
        name
        for name, t in EXPECTED_INDEXES.items()
        if t.startswith("workflow_") and not name.startswith("pk_")
    }
    unused = sorted(
        workflow_indexes
        - used_indexes
        - {"uq_workflow_steps_id_execution"}
        # the previous release's claim order, kept while that release may
        # still run during a deploy (migration 0023); dropped after
        - {"ix_workflow_executions_pending"}
        - SCOPED_ONLY  # checked by the row-level security test below
    )
    print(f"\nworkflow indexes used by no plan: {unused or 'none'}")
    problems += [f"index {name} is used by no query" for name in unused]
    assert problems == [], "\n".join(problems)


#: Indexes only a scoped session's plans use.
SCOPED_ONLY = {"ix_workflow_steps_name_customer_created"}

#: Statement files a scoped repository runs (customer-owned tables, and the
#: reports and live reads): their plans under row-level security are checked.
SCOPED_FILES = {
    "customers", "events", "recommendations", "approvals", "optimizations",
    "workflow_executions", "workflow_steps", "workflow_artifacts", "reports", "live",
}  # fmt: skip


def test_plans_at_scale_under_row_level_security(scale_db: dict[str, Any]) -> None:
    """The same statements on an optiinfra_app login, for the seeded customer:
    the policies (customer_id = optiinfra_customer_id() on every customer-owned
    table) must not turn an index scan into a sequential one, custom or generic."""
    from tests.tenant_harness import app_dsn

    ids = scale_db["ids"]
    problems: list[str] = []
    table: list[tuple[str, str, str, str]] = []
    scoped_indexes: set[str] = set()
    with (
        api.connect(scale_db["dsn"], statement_timeout=None) as operator,
        api.connect(app_dsn(scale_db["dsn"]), statement_timeout=None) as app,
    ):
        _, empty_partitions = _partitions(operator)
        for key in sorted(CATALOG):
            if key in SKIP or key.split(".")[0] not in SCOPED_FILES or key == "customers.create":
                continue  # (customers are created by the operator's view only)
            base = params_for(key, ids)
            variants = [base] + [_apply_variant(base, v, ids) for v in VARIANTS.get(key, [])]
            for n, params in enumerate(variants):
                label = key if n == 0 else f"{key} #{n}"
                for generic in (False, True):
                    analyze = not (generic and CATALOG[key].custom_plan)
                    scans = {}
                    for who, conn, customer in (
                        ("operator", operator, None),
                        ("scoped", app, ids["customer"]),
                    ):
                        try:
                            try:
                                plan = explain(
                                    conn, key, params, generic=generic, analyze=analyze,
                                    customer=customer,
                                )  # fmt: skip
                            except psycopg.errors.InsufficientPrivilege:
                                # a write the policy refuses for this customer: its plan only
                                plan = explain(
                                    conn, key, params, generic=generic, analyze=False,
                                    customer=customer,
                                )  # fmt: skip
                        except psycopg.Error as exc:
                            raise AssertionError(f"{label} ({who}): {exc}") from exc
                        scans[who] = {
                            (nd["Relation Name"], nd["Node Type"])
                            for nd in _walk(plan["Plan"])
                            if "Relation Name" in nd
                        }
                        if who == "scoped":
                            scoped_indexes |= {
                                nd["Index Name"] for nd in _walk(plan["Plan"]) if "Index Name" in nd
                            }
                    kind = "generic" if generic else "custom"
                    seq = sorted(
                        rel
                        for rel, node in scans["scoped"]
                        if node == "Seq Scan"
                        and rel.startswith("workflow_")
                        and rel not in empty_partitions
                        and (rel, "Seq Scan") not in scans["operator"]
                        # the operator's plan scanned it too (with values its
                        # planner proves empty, e.g. status = NULL, it scans
                        # nothing: no parameter the library sends)
                        and any(r == rel for r, _ in scans["operator"])
                    )
                    if seq and not {key, label} & set(SEQ_SCAN_ALLOWED):
                        problems.append(
                            f"{label} ({kind} plan): row-level security turned the scan of "
                            f"{', '.join(seq)} sequential"
                        )
                    table.append(
                        (
                            label,
                            kind,
                            "; ".join(sorted(f"{t} on {r}" for r, t in scans["scoped"])) or "-",
                            "same as operator" if scans["scoped"] == scans["operator"] else "",
                        )
                    )
    print("\nquery plans under row-level security (optiinfra_app login, one customer set)")
    width = max(len(r[0]) for r in table)
    for label, kind, scans, same in table:
        print(f"{label:<{width}}  {kind:<7} {scans}" + (f"  [{same}]" if same else ""))
    problems += [f"index {name} is used by no scoped plan" for name in SCOPED_ONLY - scoped_indexes]
    assert problems == [], "\n".join(problems)


def test_cascade_delete_of_a_customer_with_10000_executions(scale_db: dict[str, Any]) -> None:
    with api.connect(scale_db["dsn"], statement_timeout=None) as conn:
        repos = api.Repositories(conn)
        customer = repos.customers.create(
            odb.CustomerCreate(
                name="Cascade Co", email="cascade@test.example", api_key=odb.new_api_key()
            )
        )
        agent = scale_db["ids"]["agent"]
        conn.execute(
            "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type, status) "
            "SELECT %s, %s, 'health_check', 'completed' FROM generate_series(1, 10000)",
            [agent, customer.id],
        )
        conn.execute(
            "INSERT INTO workflow_steps (workflow_execution_id, step_name, step_order) "
            "SELECT e.id, 'step-' || n, n FROM workflow_executions e, generate_series(1, 3) n "
            "WHERE e.customer_id = %s",
            [customer.id],
        )
        conn.execute(
            "INSERT INTO workflow_artifacts (workflow_execution_id, workflow_step_id, "
            "artifact_type, artifact_name, artifact_path) "
            "SELECT s.workflow_execution_id, s.id, 'log', 'l', '/l' FROM workflow_steps s "
            "JOIN workflow_executions e ON e.id = s.workflow_execution_id "
            "WHERE e.customer_id = %s AND s.step_order = 1",
            [customer.id],
        )
        conn.commit()
        began = time.perf_counter()
        assert repos.customers.delete(customer.id)
        conn.commit()
        seconds = time.perf_counter() - began
        left = conn.execute(
            "SELECT count(*) FROM workflow_executions WHERE customer_id = %s", [customer.id]
        ).fetchone()
    print(
        f"\nON DELETE CASCADE of one customer with 10,000 executions, 30,000 steps, "
        f"10,000 artifacts: {seconds * 1000:.0f} ms"
    )
    assert left == (0,)
    assert seconds < 30


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def test_runtime_p95_at_scale(scale_db: dict[str, Any]) -> None:
    """claim (one run from the PENDING queue), reap_expired and history through
    the library on one long-lived autocommit connection, as a worker pool and a
    reaper have them (psycopg prepares each after its threshold: the server's
    generic plan). Each call's wall time, client included; p95 under 5 ms.
    Two passes, each statement judged by its better one (as the plan budgets
    take the best of three): a 2-core VM's stall of 10-40 ms now and then is
    the machine's, and one pass's p95 is its 15th-slowest call."""
    budget_ms = 5.0
    names = ("claim", "claim, limit", "reap_expired", "history")
    passes: list[dict[str, list[float]]] = []
    with api.connect(scale_db["dsn"], autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # the seed's dirty pages are written before timing
        wx = api.Repositories(conn).workflow_executions
        runs = [
            r[0]
            for r in conn.execute(
                "SELECT workflow_execution_id FROM workflow_transitions"
                " TABLESAMPLE SYSTEM (1) LIMIT 400"
            ).fetchall()
        ]
        # a per-customer limit above what any customer runs: every claim counts
        busiest = _one(
            conn,
            "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM workflow_executions"
            " WHERE status = 'running' GROUP BY customer_id) AS c",
        )
        expired = EXPIRED  # the seeded expired leases, reaped by the first pass
        for _ in range(2):
            timings: dict[str, list[float]] = {name: [] for name in names}
            claimed: list[UUID] = []
            for i in range(400):
                began = time.perf_counter()
                got = wx.claim(f"p95-worker-{i % 8}", lease=timedelta(seconds=30))
                timings["claim"].append((time.perf_counter() - began) * 1000)
                claimed += [r.id for r in got]
                began = time.perf_counter()
                got = wx.claim(
                    f"p95-worker-{i % 8}",
                    lease=timedelta(seconds=30),
                    per_customer_limit=busiest + 1601,
                )
                timings["claim, limit"].append((time.perf_counter() - began) * 1000)
                claimed += [r.id for r in got]
            assert len(claimed) == 800
            due = _one(
                conn,
                "SELECT count(*) FROM workflow_executions WHERE id = ANY(%s)"
                " AND (run_after IS NULL OR run_after <= now())",
                [claimed],
            )
            assert due == 800  # never a delayed run
            conn.execute(
                "UPDATE workflow_executions SET lease_expires_at = now() - interval '1 second'"
                " WHERE id = ANY(%s)",
                [claimed],
            )
            moved = 0
            for _ in range(-(-(800 + expired) // 3)):  # every pass of 3 moves runs and steps
                began = time.perf_counter()
                moved += len(wx.reap_expired(limit=3))
                timings["reap_expired"].append((time.perf_counter() - began) * 1000)
            assert moved == 800 + expired  # the claimed runs (and the seeded expired leases)
            expired = 0
            for run_id in runs * 2:
                began = time.perf_counter()
                assert wx.history(run_id)
                timings["history"].append((time.perf_counter() - began) * 1000)
            passes.append(timings)
    print("\nruntime at scale, wall time per call (ms, client included), two passes:")
    problems = []
    for name in names:
        p95s = []
        for number, timings in enumerate(passes, 1):
            samples = timings[name]
            p50, p95 = sorted(samples)[len(samples) // 2], _p95(samples)
            p95s.append(p95)
            print(
                f"  {name:<13} pass {number}  n={len(samples):>4}  p50 {p50:6.2f}"
                f"  p95 {p95:6.2f}  max {max(samples):6.2f}"
            )
        if min(p95s) > budget_ms:
            problems.append(f"{name}: p95 {min(p95s):.2f} ms over {budget_ms} ms in both passes")
    assert problems == [], "\n".join(problems)


def _keep_working(dsn: str, name: str, stop: Any, tally: dict[str, int]) -> None:
    """A worker: claim one run, complete it, until told to stop; counts its
    calls and its failures (any exception)."""
    with api.connect(dsn, autocommit=True) as conn:
        wx = api.Repositories(conn).workflow_executions
        while not stop.is_set():
            try:
                got = wx.claim(name, lease=timedelta(seconds=30))
                tally["calls"] += 1
                for run in got:
                    wx.complete(run.id, {"ok": True}, worker_id=name, skip_remaining=True)
                    tally["calls"] += 1
                    tally["completed"] += 1
            except Exception:
                tally["failed"] += 1


def test_purge_half_of_history_while_workers_run(scale_db: dict[str, Any]) -> None:
    """Purge the older half of the finished history (batches of 1,000) while
    two workers keep claiming and completing runs. Prints rows per second and
    the slowest batch against its target (under 250 ms); no worker call may
    fail, nothing older than the cutoff may stay, no live run may go."""
    import threading

    dsn = scale_db["dsn"]
    with api.connect(dsn, statement_timeout=None) as conn:
        cutoff, finished = conn.execute(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY completed_at), count(*)"
            " FROM workflow_executions WHERE completed_at IS NOT NULL"
        ).fetchone()  # type: ignore[misc]
        conn.rollback()
    stop = threading.Event()
    tallies = [{"calls": 0, "failed": 0, "completed": 0} for _ in range(2)]
    workers = [
        threading.Thread(target=_keep_working, args=(dsn, f"purge-load-{i}", stop, tallies[i]))
        for i in range(2)
    ]
    for t in workers:
        t.start()
    try:
        result = api.purge(dsn, finished_before=cutoff, batch_size=1000)
    finally:
        stop.set()
        for t in workers:
            t.join()
    rows = result.executions + result.steps + result.artifacts + result.transitions
    calls = sum(t["calls"] for t in tallies)
    failed = sum(t["failed"] for t in tallies)
    print(
        f"\npurge of {result.executions:,} of {finished:,} finished executions "
        f"({result.steps:,} steps, {result.artifacts:,} artifacts, "
        f"{result.transitions:,} transitions) in {result.batches:,} batches of 1,000: "
        f"{result.seconds:.0f} s, {result.executions / result.seconds:,.0f} executions/s "
        f"({rows / result.seconds:,.0f} rows/s), slowest batch "
        f"{result.slowest_batch_s * 1000:.0f} ms; meanwhile 2 workers made {calls:,} calls "
        f"({sum(t['completed'] for t in tallies):,} runs completed), {failed} failed"
    )
    assert failed == 0
    assert result.executions >= finished // 2 - 1000
    with api.connect(dsn) as conn:
        left = conn.execute(
            "SELECT count(*) FROM workflow_executions WHERE completed_at < %s", [cutoff]
        ).fetchone()
        live = conn.execute(
            "SELECT count(*) FROM workflow_executions WHERE status IN ('pending', 'running')"
        ).fetchone()
    assert left == (0,)
    assert live is not None and live[0] > 0  # pending and running runs untouched
    # The batch-time target is reported, not asserted: on a shared 2-core VM the
    # slowest of 431 batches moved between 168 and 304 ms across runs.
    met = "met" if result.slowest_batch_s < 0.25 else "MISSED"
    print(f"{met}: slowest batch under 250 ms ({result.slowest_batch_s * 1000:.0f} ms)")
