"""Read the project's objects back from PostgreSQL's catalog (test helper)."""

from __future__ import annotations

from typing import Any

import psycopg

TABLES = {
    "customers",
    "agents",
    "events",
    "recommendations",
    "approvals",
    "optimizations",
    "agent_configs",
    "agent_states",
    "agent_capabilities",
    "agent_metrics",
    "workflow_executions",
    "workflow_steps",
    "workflow_artifacts",
    "workflow_transitions",
}
#: Sequences: the transition log's id is an identity column (ids in order).
SEQUENCES = {"workflow_transitions_id_seq"}
YOYO_TABLES = {"_yoyo_log", "_yoyo_migration", "_yoyo_version", "yoyo_lock", "yoyo_tmp"}


def rows(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()  # type: ignore[arg-type]


def snapshot(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Everything the migrations create in ``public``, in a comparable form.
    The transition log's partitions (named by the week they were made in)
    are left out: the partitioned parent stands for them."""
    return {
        "tables": rows(
            conn,
            """
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
              AND NOT c.relispartition
              AND c.relname NOT LIKE '%yoyo%' ORDER BY 1""",
        ),
        "columns": rows(
            conn,
            """
            SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
                   character_maximum_length, numeric_precision, numeric_scale
            FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name NOT LIKE '%yoyo%'
              AND table_name NOT IN (SELECT relname FROM pg_class WHERE relispartition)
            ORDER BY table_name, column_name""",
        ),
        "enums": enums(conn),
        "constraints": rows(
            conn,
            """
            SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
            FROM pg_constraint WHERE connamespace = 'public'::regnamespace
              AND conrelid::regclass::text NOT LIKE '%yoyo%'
              AND conrelid NOT IN (SELECT oid FROM pg_class WHERE relispartition)
            ORDER BY 1, 2""",
        ),
        "indexes": rows(
            conn,
            """
            SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'public' AND tablename NOT LIKE '%yoyo%'
              AND tablename NOT IN (SELECT relname FROM pg_class WHERE relispartition)
            ORDER BY 1, 2""",
        ),
        "triggers": rows(
            conn,
            """
            SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
            WHERE NOT tgisinternal
              AND tgrelid NOT IN (SELECT oid FROM pg_class WHERE relispartition)
            ORDER BY 1, 2""",
        ),
        "functions": rows(
            conn,
            """
            SELECT proname, pg_get_function_identity_arguments(oid) FROM pg_proc
            WHERE pronamespace = 'public'::regnamespace ORDER BY 1""",
        ),
        "comments": rows(
            conn,
            """
            SELECT c.relname, a.attname, d.description
            FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
            WHERE d.classoid = 'pg_class'::regclass
              AND c.relnamespace = 'public'::regnamespace AND NOT c.relispartition
              AND c.oid NOT IN (SELECT i.indexrelid FROM pg_index AS i
                                JOIN pg_class AS t ON t.oid = i.indrelid WHERE t.relispartition)
            ORDER BY 1, 2""",
        ),
    }


def enums(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, label in rows(
        conn,
        """
            SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
            WHERE t.typnamespace = 'public'::regnamespace ORDER BY t.typname, e.enumsortorder""",
    ):
        result.setdefault(name, []).append(label)
    return result


def project_objects(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Every object in ``public`` that is not yoyo's own bookkeeping."""
    return rows(
        conn,
        """
        SELECT 'relation', c.relname FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relname NOT LIKE '%yoyo%'
        UNION ALL
        SELECT 'type', t.typname FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
        UNION ALL
        SELECT 'function', p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'trigger', tgname FROM pg_trigger WHERE NOT tgisinternal
        ORDER BY 1, 2""",
    )
