"""The sharding plan on paper (docs/scaling.md), checked against today's
schema: the rules a Citus distribution by customer_id imposes, and every
place the schema breaks them, by name. The expected list keeps the plan
current: a migration that adds a violation (or removes one) fails here
until docs/scaling.md and this list say how it is handled."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from optiinfra_db.schema import CUSTOMER_TABLES, PLATFORM_TABLES

pytestmark = pytest.mark.sync_only

#: Distributed by customer_id, colocated: every customer-owned table but
#: customers itself, which (small, read by API key across customers) becomes
#: a reference table with the platform's tables.
DISTRIBUTED = CUSTOMER_TABLES - {"customers"}
REFERENCE = PLATFORM_TABLES | {"customers"}
COLUMN = "customer_id"

#: Every violation of today's schema, each handled by a step of the plan
#: (docs/scaling.md, "What changes").
EXPECTED = [
    # 1. primary keys become (customer_id, id)
    "events: primary key pk_events (id) lacks customer_id",
    "optimizations: primary key pk_optimizations (id) lacks customer_id",
    "recommendations: primary key pk_recommendations (id) lacks customer_id",
    "approvals: primary key pk_approvals (id) lacks customer_id",
    "workflow_artifacts: primary key pk_workflow_artifacts (id) lacks customer_id",
    "workflow_executions: primary key pk_workflow_executions (id) lacks customer_id",
    "workflow_steps: primary key pk_workflow_steps (id) lacks customer_id",
    "workflow_transitions: primary key pk_workflow_transitions (id, at) lacks customer_id",
    # 2. the other unique keys take customer_id in front
    "workflow_steps: unique index ix_workflow_steps_execution_order"
    " (workflow_execution_id, step_order) lacks customer_id",
    "workflow_steps: unique index uq_workflow_steps_id_execution"
    " (id, workflow_execution_id) lacks customer_id",
    # 3. the single-column foreign keys go; their (id, customer_id) twins stay
    "approvals: foreign key fk_approvals_recommendation (recommendation_id)"
    " -> recommendations lacks customer_id",
    "optimizations: foreign key fk_optimizations_recommendation (recommendation_id)"
    " -> recommendations lacks customer_id",
    "workflow_artifacts: foreign key fk_workflow_artifacts_execution"
    " (workflow_execution_id) -> workflow_executions lacks customer_id",
    "workflow_artifacts: foreign key fk_workflow_artifacts_step"
    " (workflow_step_id, workflow_execution_id) -> workflow_steps lacks customer_id",
    "workflow_steps: foreign key fk_workflow_steps_execution"
    " (workflow_execution_id) -> workflow_executions lacks customer_id",
    # 4. a reference table can't point at a distributed one
    "agent_states: foreign key fk_agent_states_current_workflow (current_workflow_id)"
    " -> workflow_executions: from a reference table to a distributed one",
]

_KEYS = """
SELECT t.relname::text, i.relname::text, x.indisprimary,
       array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY AS k(n, o)
             JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o)
FROM pg_index AS x
JOIN pg_class AS i ON i.oid = x.indexrelid
JOIN pg_class AS t ON t.oid = x.indrelid
WHERE x.indisunique AND t.relnamespace = current_schema()::regnamespace
  AND NOT t.relispartition AND t.relname = ANY(%s)
ORDER BY 1, 2
"""
_FKS = """
SELECT c.conrelid::regclass::text, c.conname::text, c.confrelid::regclass::text,
       array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(n, o)
             JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
       array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(n, o)
             JOIN pg_attribute AS a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)
FROM pg_constraint AS c
WHERE c.contype = 'f' AND c.conparentid = 0 AND c.connamespace = current_schema()::regnamespace
ORDER BY 1, 2
"""


def violations(conn: psycopg.Connection[Any]) -> list[str]:
    """The schema's breaches of the distribution rules, by name."""
    found: list[str] = []
    columns = {
        (t, c, nullable)
        for t, c, nullable in conn.execute(
            "SELECT table_name::text, column_name::text, is_nullable = 'YES'"
            " FROM information_schema.columns WHERE table_schema = current_schema()"
        ).fetchall()
    }
    for table in sorted(DISTRIBUTED):
        # rule 0: the distribution column is on every row (NOT NULL or a
        # validated CHECK (customer_id IS NOT NULL), which 0012 added)
        if not any(t == table and c == COLUMN for t, c, _ in columns):
            found.append(f"{table}: no {COLUMN} column")
    # rule 1: every unique key of a distributed table holds the distribution column
    for table, index, primary, cols in conn.execute(_KEYS, [sorted(DISTRIBUTED)]).fetchall():
        if COLUMN not in cols:
            what = "primary key" if primary else "unique index"
            found.append(f"{table}: {what} {index} ({', '.join(cols)}) lacks {COLUMN}")
    for table, name, target, cols, target_cols in conn.execute(_FKS).fetchall():
        # rule 2: a key between distributed tables is colocated (customer_id on both sides)
        if table in DISTRIBUTED and target in DISTRIBUTED:
            if COLUMN not in cols or COLUMN not in target_cols:
                found.append(
                    f"{table}: foreign key {name} ({', '.join(cols)}) -> {target} lacks {COLUMN}"
                )
        # rule 3: a reference table (on every node) can't point at a distributed one
        elif table in REFERENCE and target in DISTRIBUTED:
            found.append(
                f"{table}: foreign key {name} ({', '.join(cols)}) -> {target}:"
                " from a reference table to a distributed one"
            )
        # distributed -> reference (a customer's row to its agent): allowed
    return found


def test_the_schema_against_the_distribution_rules(db_dsn: str) -> None:
    with psycopg.connect(db_dsn) as conn:
        found = violations(conn)
    assert sorted(found) == sorted(EXPECTED), "\n".join(
        [f"new: {v}" for v in sorted(set(found) - set(EXPECTED))]
        + [f"gone: {v}" for v in sorted(set(EXPECTED) - set(found))]
    )


def test_the_rules_catch_what_they_name(db_dsn: str) -> None:
    """The check can fail: a table added without the column, a key without it."""
    with psycopg.connect(db_dsn) as conn:
        conn.execute("ALTER TABLE events ADD CONSTRAINT uq_events_kind UNIQUE (id, event_type)")
        conn.execute("ALTER TABLE events RENAME COLUMN customer_id TO owner_id")
        found = set(violations(conn)) - set(EXPECTED)
        conn.rollback()
    assert found == {
        "events: no customer_id column",
        "events: unique index uq_events_kind (id, event_type) lacks customer_id",
    }
