"""The schema the migrations create, read back from PostgreSQL's catalog."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from optiinfra_db import migrate, pending_migrations, rollback
from optiinfra_db._resources import migrations_dir
from optiinfra_db.migrate import yoyo_url
from optiinfra_db.schema import EXPECTED_FOREIGN_KEYS as MANIFEST_FKS
from optiinfra_db.schema import EXPECTED_INDEXES, MIGRATION_IDS
from tests.catalog import SEQUENCES, TABLES, enums, project_objects, rows, snapshot

Conn = psycopg.Connection[tuple[Any, ...]]

EXPECTED_ENUMS = {
    "customer_plan": ["free", "startup", "enterprise"],
    "customer_status": ["active", "suspended", "churned"],
    "agent_type": ["orchestrator", "cost", "performance", "resource", "application"],
    "agent_status": ["starting", "healthy", "degraded", "failed", "stopped"],
    "event_type": [
        "agent_registered",
        "agent_status_changed",
        "agent_heartbeat_missed",
        "recommendation_created",
        "recommendation_approved",
        "recommendation_rejected",
        "optimization_started",
        "optimization_completed",
        "optimization_failed",
        "optimization_rolled_back",
        "performance_degradation",
        "cost_anomaly",
        "workflow_started",
        "workflow_completed",
        "workflow_failed",
    ],
    "event_severity": ["info", "warning", "error", "critical"],
    "recommendation_type": [
        "spot_migration",
        "right_sizing",
        "reserved_instances",
        "kv_cache_tuning",
        "quantization",
        "batch_optimization",
        "gpu_optimization",
        "auto_scaling",
        "resource_consolidation",
        "quality_monitoring",
    ],
    "recommendation_priority": ["low", "medium", "high", "critical"],
    "recommendation_status": [
        "pending",
        "approved",
        "rejected",
        "executing",
        "completed",
        "failed",
        "rolled_back",
    ],
    "approval_status": ["pending", "approved", "rejected"],
    "optimization_status": ["queued", "executing", "completed", "failed", "rolled_back"],
    "config_type": ["string", "integer", "float", "boolean", "json"],
    "agent_status_detail": ["idle", "busy", "processing", "waiting", "error"],
    "metric_type": ["counter", "gauge", "histogram"],
    "workflow_type": [
        "cost_analysis",
        "performance_tuning",
        "resource_optimization",
        "quality_check",
        "scaling_decision",
        "configuration_update",
        "health_check",
        "anomaly_detection",
    ],
    "workflow_status": ["pending", "running", "completed", "failed", "cancelled", "timeout"],
    "step_status": ["pending", "running", "completed", "failed", "skipped", "retrying"],
    "artifact_type": [
        "report",
        "config",
        "log",
        "recommendation",
        "chart",
        "metrics",
        "alert",
        "diagnostic",
    ],
}

# constraint name -> (table, columns, referenced table, referenced columns, ON DELETE)
EXPECTED_FOREIGN_KEYS = {
    "fk_events_customer": ("events", ["customer_id"], "customers", ["id"], "CASCADE"),
    "fk_events_agent": ("events", ["agent_id"], "agents", ["id"], "SET NULL"),
    "fk_recommendations_customer": (
        "recommendations",
        ["customer_id"],
        "customers",
        ["id"],
        "CASCADE",
    ),
    "fk_recommendations_agent": ("recommendations", ["agent_id"], "agents", ["id"], "CASCADE"),
    "fk_approvals_recommendation": (
        "approvals",
        ["recommendation_id"],
        "recommendations",
        ["id"],
        "CASCADE",
    ),
    "fk_optimizations_recommendation": (
        "optimizations",
        ["recommendation_id"],
        "recommendations",
        ["id"],
        "CASCADE",
    ),
    "fk_optimizations_customer": ("optimizations", ["customer_id"], "customers", ["id"], "CASCADE"),
    "fk_optimizations_agent": ("optimizations", ["agent_id"], "agents", ["id"], "CASCADE"),
    "fk_optimizations_recommendation_customer": (
        "optimizations",
        ["recommendation_id", "customer_id"],
        "recommendations",
        ["id", "customer_id"],
        "CASCADE",
    ),
    # 0012: a child row's customer is its parent's.
    "fk_approvals_recommendation_customer": (
        "approvals",
        ["recommendation_id", "customer_id"],
        "recommendations",
        ["id", "customer_id"],
        "CASCADE",
    ),
    **{
        f"fk_{table}_execution_customer": (
            table,
            ["workflow_execution_id", "customer_id"],
            "workflow_executions",
            ["id", "customer_id"],
            "CASCADE",
        )
        # workflow_transitions' two keys are triggers since 0026 (a partitioned
        # log's keys were checked and cascaded per row against every partition):
        # test_partitions.py checks what they keep
        for table in ("workflow_steps", "workflow_artifacts")
    },
    "fk_agent_configs_agent": ("agent_configs", ["agent_id"], "agents", ["id"], "CASCADE"),
    "fk_agent_states_agent": ("agent_states", ["agent_id"], "agents", ["id"], "CASCADE"),
    "fk_agent_states_current_workflow": (
        "agent_states",
        ["current_workflow_id"],
        "workflow_executions",
        ["id"],
        "SET NULL",
    ),
    "fk_agent_capabilities_agent": (
        "agent_capabilities",
        ["agent_id"],
        "agents",
        ["id"],
        "CASCADE",
    ),
    "fk_agent_metrics_agent": ("agent_metrics", ["agent_id"], "agents", ["id"], "CASCADE"),
    "fk_workflow_executions_agent": (
        "workflow_executions",
        ["agent_id"],
        "agents",
        ["id"],
        "CASCADE",
    ),
    "fk_workflow_executions_customer": (
        "workflow_executions",
        ["customer_id"],
        "customers",
        ["id"],
        "CASCADE",
    ),
    "fk_workflow_steps_execution": (
        "workflow_steps",
        ["workflow_execution_id"],
        "workflow_executions",
        ["id"],
        "CASCADE",
    ),
    "fk_workflow_artifacts_execution": (
        "workflow_artifacts",
        ["workflow_execution_id"],
        "workflow_executions",
        ["id"],
        "CASCADE",
    ),
    "fk_workflow_artifacts_step": (
        "workflow_artifacts",
        ["workflow_step_id", "workflow_execution_id"],
        "workflow_steps",
        ["id", "workflow_execution_id"],
        "CASCADE",
    ),
}

EXPECTED_UNIQUE = {
    "uq_customers_email": ("customers", ["email"]),
    "uq_customers_api_key_hash": ("customers", ["api_key_hash"]),
    "uq_agents_type_name": ("agents", ["type", "name"]),
    "uq_agent_configs_agent_key": ("agent_configs", ["agent_id", "config_key"]),
    "uq_agent_states_agent": ("agent_states", ["agent_id"]),
    "uq_agent_capabilities_agent_name_version": (
        "agent_capabilities",
        ["agent_id", "capability_name", "capability_version"],
    ),
    "uq_workflow_steps_id_execution": ("workflow_steps", ["id", "workflow_execution_id"]),
}

EXPECTED_CHECKS = {
    "ck_recommendations_confidence_range",
    "ck_optimizations_progress_range",
    "ck_workflow_steps_step_order_positive",
    "ck_workflow_steps_max_retries_nonnegative",
    "ck_workflow_steps_retry_count_range",
    "ck_workflow_steps_completed_after_started",
    "ck_workflow_executions_completed_after_started",
    "ck_workflow_artifacts_size_nonnegative",
}

DESIGN_INDEXES = {
    "ix_workflow_executions_agent_status": ("workflow_executions", ["agent_id", "status"], False),
    "ix_workflow_executions_customer_type": (
        "workflow_executions",
        ["customer_id", "workflow_type"],
        False,
    ),
    "ix_workflow_steps_execution_order": (
        "workflow_steps",
        ["workflow_execution_id", "step_order"],
        True,
    ),
    "ix_workflow_steps_execution_status": (
        "workflow_steps",
        ["workflow_execution_id", "status"],
        False,
    ),
    "ix_workflow_steps_name_status": ("workflow_steps", ["step_name", "status"], False),
    "ix_workflow_artifacts_execution_type": (
        "workflow_artifacts",
        ["workflow_execution_id", "artifact_type"],
        False,
    ),
    "ix_workflow_artifacts_step_type": (
        "workflow_artifacts",
        ["workflow_step_id", "artifact_type"],
        False,
    ),
}


def _index_columns(conn: Conn) -> list[tuple[str, str, bool, list[str]]]:
    """(table, index, is_unique, key columns in order) for every index in public;
    a partial index's predicate is its last "column" (it differs from a full one)."""
    return [
        (t, i, u, list(cols) + ([f"WHERE {pred}"] if pred else []))
        for t, i, u, cols, pred in rows(
            conn,
            """
            SELECT t.relname, i.relname, x.indisunique,
                   array(SELECT a.attname FROM unnest(x.indkey[0:x.indnkeyatts - 1])
                                 WITH ORDINALITY AS k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                         ORDER BY k.n),
                   pg_get_expr(x.indpred, x.indrelid)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relnamespace = 'public'::regnamespace AND t.relname NOT LIKE '%yoyo%'
              AND NOT t.relispartition""",
        )
    ]


def test_exactly_the_fourteen_tables(raw_conn: Conn) -> None:
    got = {r[0] for r in snapshot(raw_conn)["tables"]}
    assert got == TABLES | SEQUENCES


def test_every_enum_has_its_labels_in_order(raw_conn: Conn) -> None:
    assert enums(raw_conn) == EXPECTED_ENUMS


def test_every_foreign_key_with_its_on_delete_action(raw_conn: Conn) -> None:
    got = {
        name: (table, list(cols), ref, list(ref_cols), action)
        for name, table, cols, ref, ref_cols, action in rows(
            raw_conn,
            """
            SELECT c.conname, c.conrelid::regclass::text,
                   array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                         ORDER BY k.o),
                   c.confrelid::regclass::text,
                   array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                         JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                         ORDER BY k.o),
                   CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL'
                        WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' ELSE 'SET DEFAULT' END
            FROM pg_constraint c
            WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
              AND c.conparentid = 0""",
        )
    }
    assert got == EXPECTED_FOREIGN_KEYS


def test_unique_and_check_constraints(raw_conn: Conn) -> None:
    uniques = {
        name: (table, list(cols))
        for name, table, cols in rows(
            raw_conn,
            """
            SELECT c.conname, c.conrelid::regclass::text,
                   array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                         ORDER BY k.o)
            FROM pg_constraint c
            WHERE c.contype = 'u' AND c.connamespace = 'public'::regnamespace""",
        )
    }
    assert uniques == EXPECTED_UNIQUE
    checks = {
        r[0]
        for r in rows(
            raw_conn,
            """
        SELECT conname FROM pg_constraint
        WHERE contype = 'c' AND connamespace = 'public'::regnamespace""",
        )
    }
    assert checks >= EXPECTED_CHECKS
    assert all(name.startswith("ck_") for name in checks)


def test_design_indexes_exist_with_their_columns(raw_conn: Conn) -> None:
    got = {i: (t, cols, u) for t, i, u, cols in _index_columns(raw_conn)}
    for name, expected in DESIGN_INDEXES.items():
        assert got.get(name) == expected, name


def test_every_foreign_key_column_leads_an_index(raw_conn: Conn) -> None:
    leading = {(t, cols[0]) for t, _, _, cols in _index_columns(raw_conn)}
    missing = [
        (table, cols[0])
        for table, cols, *_ in EXPECTED_FOREIGN_KEYS.values()
        if (table, cols[0]) not in leading
    ]
    assert missing == []


def _predicate(cols: list[str]) -> str | None:
    return cols[-1] if cols and cols[-1].startswith("WHERE ") else None


def test_no_duplicate_or_prefix_redundant_index(raw_conn: Conn) -> None:
    indexes = _index_columns(raw_conn)
    redundant = [
        (a_name, b_name)
        for a_table, a_name, a_unique, a_cols in indexes
        for b_table, b_name, _, b_cols in indexes
        if a_table == b_table
        and a_name != b_name
        and _predicate(a_cols) == _predicate(b_cols)
        and (a_cols == b_cols or (not a_unique and b_cols[: len(a_cols)] == a_cols))
    ]
    assert redundant == []


def test_primary_keys_are_uuid_with_default(raw_conn: Conn) -> None:
    got = rows(
        raw_conn,
        """
        SELECT table_name, data_type, column_default FROM information_schema.columns
        WHERE table_schema = 'public' AND column_name = 'id'
          AND table_name NOT IN (SELECT relname FROM pg_class WHERE relispartition)
          AND table_name NOT LIKE '%yoyo%' ORDER BY 1""",
    )
    assert {r[0] for r in got} == TABLES
    log = [r for r in got if r[0] == "workflow_transitions"]
    assert log == [("workflow_transitions", "bigint", None)]  # identity: ids in log order
    assert all(r[1] == "uuid" and r[2] == "gen_random_uuid()" for r in got if r not in log)


def test_every_timestamp_is_timestamptz(raw_conn: Conn) -> None:
    naive = rows(
        raw_conn,
        """
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'
          AND table_name NOT LIKE '%yoyo%'""",
    )
    assert naive == []


def test_jsonb_columns_not_null_with_default_except_error_details(raw_conn: Conn) -> None:
    got = rows(
        raw_conn,
        """
        SELECT table_name, column_name, is_nullable, column_default
        FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type = 'jsonb' ORDER BY 1, 2""",
    )
    for table, column, nullable, default in got:
        if column == "error_details":
            assert nullable == "YES" and default is None, (table, column)
        else:
            assert nullable == "NO" and default in ("'{}'::jsonb", "'[]'::jsonb"), (table, column)


def test_every_table_and_column_is_commented(raw_conn: Conn) -> None:
    uncommented = rows(
        raw_conn,
        """
        SELECT c.relname, a.attname FROM pg_class c
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
          AND NOT c.relispartition
          AND c.relname NOT LIKE '%yoyo%'
          AND (obj_description(c.oid, 'pg_class') IS NULL
               OR col_description(c.oid, a.attnum) IS NULL)""",
    )
    assert uncommented == []


def test_updated_at_trigger_on_every_table_with_updated_at(raw_conn: Conn) -> None:
    with_column = {
        r[0]
        for r in rows(
            raw_conn,
            """
        SELECT table_name FROM information_schema.columns
        WHERE table_schema = 'public' AND column_name = 'updated_at'""",
        )
    }
    with_trigger = {
        r[0]
        for r in rows(
            raw_conn,
            """
        SELECT tgrelid::regclass::text FROM pg_trigger
        WHERE NOT tgisinternal AND tgfoid = 'optiinfra_set_updated_at'::regproc""",
        )
    }
    assert with_column == with_trigger
    assert len(with_column) == 11  # events and agent_metrics are append-only


def test_nothing_pending_after_migrate(db_dsn: str) -> None:
    assert pending_migrations(db_dsn) == []


def test_up_down_up_round_trip_leaves_nothing_and_same_catalog(empty_db_dsn: str) -> None:
    assert pending_migrations(empty_db_dsn) == list(MIGRATION_IDS)
    assert migrate(empty_db_dsn) == list(MIGRATION_IDS)
    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        first = snapshot(conn)
    assert {r[0] for r in first["tables"]} == TABLES | SEQUENCES

    assert rollback(empty_db_dsn) == [MIGRATION_IDS[-1]]  # one step by default
    down_to_0004 = list(MIGRATION_IDS[MIGRATION_IDS.index("0004.index-review") : -1])
    assert rollback(empty_db_dsn, steps=len(down_to_0004)) == list(reversed(down_to_0004))
    assert pending_migrations(empty_db_dsn) == list(MIGRATION_IDS[3:])
    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        restored = {r[1] for r in snapshot(conn)["indexes"]}
    assert {"ix_workflow_executions_status", "ix_workflow_steps_status"} <= restored
    assert rollback(empty_db_dsn, steps=None) == [
        "0003.workflow-history",
        "0002.agent-state",
        "0001.core-schema",
    ]
    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        assert project_objects(conn) == []

    migrate(empty_db_dsn)
    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        assert snapshot(conn) == first


def test_index_review_dropped_only_the_unused_single_column_indexes(raw_conn: Conn) -> None:
    names = {i for _, i, _, _ in _index_columns(raw_conn)}
    dropped = {
        "ix_workflow_executions_status",
        "ix_workflow_executions_workflow_type",
        "ix_workflow_steps_status",
        "ix_workflow_artifacts_artifact_type",
    }
    assert names.isdisjoint(dropped)
    assert set(DESIGN_INDEXES) <= names


def test_manifest_matches_the_migrated_schema(raw_conn: Conn) -> None:
    got = {i: t for t, i, _, _ in _index_columns(raw_conn)}
    assert got == EXPECTED_INDEXES
    assert {name: table for name, (table, *_) in EXPECTED_FOREIGN_KEYS.items()} == {
        name: table for name, (table, _) in MANIFEST_FKS.items()
    }


def test_plain_yoyo_apply_batch_creates_the_schema(empty_db_dsn: str, raw_conn: Conn) -> None:
    yoyo = Path(sys.executable).parent / "yoyo"
    result = subprocess.run(
        [
            str(yoyo),
            "apply",
            "--batch",
            "--database",
            yoyo_url(empty_db_dsn),
            str(migrations_dir()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = snapshot(raw_conn)  # raw_conn: the template built through the Python API
    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        assert snapshot(conn) == expected


def test_every_migration_has_a_rollback() -> None:
    forward = sorted(
        p for p in migrations_dir().glob("*.sql") if not p.name.endswith(".rollback.sql")
    )
    assert [p.name for p in forward] == [f"{m}.sql" for m in MIGRATION_IDS]
    for path in forward:
        assert path.with_name(path.name.removesuffix(".sql") + ".rollback.sql").is_file()


@pytest.mark.parametrize("path", sorted(migrations_dir().glob("*.sql")), ids=lambda p: p.name)
def test_migrations_need_no_extension(path: Path) -> None:
    assert "CREATE EXTENSION" not in path.read_text().upper()
