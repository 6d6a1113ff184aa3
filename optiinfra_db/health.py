"""Read-only inspection of a database: migration status and ``verify``.

Nothing here writes, not even yoyo's bookkeeping: the connection is put in
read-only mode and yoyo's tables are read directly (yoyo's own backend would
create its lock table on connect). So both run on a read-only replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg

from optiinfra_db.db import fetch_all
from optiinfra_db.enums import PG_ENUMS
from optiinfra_db.partitions import list_partitions, partition_gaps
from optiinfra_db.schema import (
    EXPECTED_FOREIGN_KEYS,
    EXPECTED_INDEXES,
    EXPECTED_TABLES,
    MIGRATION_IDS,
)

__all__ = ["MigrationStatus", "Verification", "migration_status", "verify"]

_ON_DELETE = {
    "c": "CASCADE",
    "n": "SET NULL",
    "a": "NO ACTION",
    "r": "RESTRICT",
    "d": "SET DEFAULT",
}


@dataclass
class MigrationStatus:
    applied: list[str]
    pending: list[str]
    unknown: list[str]  # applied in the database but not shipped with this library
    locks: list[tuple[int, Any]]  # (pid, ctime) rows of yoyo_lock

    def as_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "pending": self.pending,
            "unknown": self.unknown,
            "stale_locks": [{"pid": pid, "since": str(ctime)} for pid, ctime in self.locks],
        }


def migration_status(conn: psycopg.Connection[Any]) -> MigrationStatus:
    """Applied and pending migrations, read from yoyo's tables without writing."""
    ((has_migrations, has_lock),) = fetch_all(conn, "meta.yoyo_tables")
    applied = [r[0] for r in fetch_all(conn, "meta.applied_migrations")] if has_migrations else []
    locks = [(r[0], r[1]) for r in fetch_all(conn, "meta.yoyo_locks")] if has_lock else []
    return MigrationStatus(
        applied=[m for m in applied if m in MIGRATION_IDS],
        pending=[m for m in MIGRATION_IDS if m not in applied],
        unknown=[m for m in applied if m not in MIGRATION_IDS],
        locks=locks,
    )


@dataclass
class Verification:
    server: str = ""
    ok: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def verify(conn: psycopg.Connection[Any]) -> Verification:
    """Check the database against what this library expects; one problem per line."""
    result = Verification()
    ((result.server,),) = fetch_all(conn, "meta.server_version")
    result.ok.append(f"server reachable: {result.server.split(' on ')[0]}")

    status = migration_status(conn)
    for mid in status.pending:
        result.problems.append(f"pending migration: {mid}")
    for mid in status.unknown:
        result.problems.append(f"unknown migration applied (newer library?): {mid}")
    for pid, ctime in status.locks:
        result.problems.append(
            f"stale yoyo lock held by pid {pid} since {ctime}: clear it with "
            "'yoyo break-lock --database postgresql+psycopg://...' "
            "once no migration is running"
        )
    if not status.pending:
        result.ok.append(f"migrations: all {len(MIGRATION_IDS)} applied")

    tables = {r[0] for r in fetch_all(conn, "meta.tables")}
    missing_tables = sorted(EXPECTED_TABLES - tables)
    result.problems += [f"missing table: {t}" for t in missing_tables]
    if not missing_tables:
        result.ok.append(f"tables: all {len(EXPECTED_TABLES)} present")

    found = {
        r[0]: list(r[3]) for r in fetch_all(conn, "meta.enum_types", {"names": sorted(PG_ENUMS)})
    }
    enum_problems = 0
    for name, enum in sorted(PG_ENUMS.items()):
        expected = [m.value for m in enum]
        if name not in found:
            result.problems.append(f"missing enum type: {name}")
            enum_problems += 1
        elif found[name] != expected:
            extra = [x for x in found[name] if x not in expected]
            lacking = [x for x in expected if x not in found[name]]
            detail = []
            if lacking:
                detail.append(f"missing labels {lacking}")
            if extra:
                detail.append(f"unexpected labels {extra}")
            if not detail:
                detail.append(f"labels out of order: {found[name]}")
            result.problems.append(f"enum {name} differs from {enum.__name__}: {'; '.join(detail)}")
            enum_problems += 1
    if not enum_problems:
        result.ok.append(f"enums: all {len(PG_ENUMS)} match the Python enums")

    fks = {r[0]: (r[1], r[2]) for r in fetch_all(conn, "meta.foreign_keys")}
    # A missing table is reported once, above: its keys and indexes are neither
    # reported again nor counted as present.
    fk_problems = sum(table in missing_tables for table, _ in EXPECTED_FOREIGN_KEYS.values())
    for name, (table, action) in sorted(EXPECTED_FOREIGN_KEYS.items()):
        if table in missing_tables:
            continue
        if name not in fks:
            result.problems.append(f"missing foreign key: {name} on {table}")
            fk_problems += 1
        elif fks[name] != (table, action):
            got_table, got_action = fks[name]
            result.problems.append(
                f"foreign key {name} on {got_table}: on-delete action is "
                f"{_ON_DELETE.get(got_action, got_action)}, expected {_ON_DELETE[action]}"
            )
            fk_problems += 1
    if not fk_problems:
        result.ok.append(f"foreign keys: all {len(EXPECTED_FOREIGN_KEYS)} present")

    found_indexes = fetch_all(conn, "meta.indexes")
    indexes = {r[0]: r[1] for r in found_indexes}
    missing_indexes = [
        (name, table)
        for name, table in sorted(EXPECTED_INDEXES.items())
        if indexes.get(name) != table and table not in missing_tables
    ]
    result.problems += [f"missing index: {name} on {table}" for name, table in missing_indexes]
    # Any index of the schema, ours or not: an invalid one is a cut-off
    # CREATE INDEX CONCURRENTLY (unused by the planner, enforcing nothing).
    invalid = [(r[0], r[1]) for r in found_indexes if not r[3]]
    result.problems += [
        f"invalid index: {name} on {table} (an interrupted CREATE INDEX CONCURRENTLY; "
        "apply the migrations again, or drop it and rebuild it)"
        for name, table in invalid
    ]
    of_missing = any(table in missing_tables for table in EXPECTED_INDEXES.values())
    if not missing_indexes and not invalid and not of_missing:
        result.ok.append(f"indexes: all {len(EXPECTED_INDEXES)} present and valid")
    _check_partitions(conn, result)
    return result


#: How far ahead verify wants the transition log's partitions made.
PARTITION_HORIZON = timedelta(days=28)


def _check_partitions(conn: psycopg.Connection[Any], result: Verification) -> None:
    """The transition log's weeks ahead (migration 0026): a gap in the next
    four weeks is a problem (writes there still land in the DEFAULT
    partition, but ensure has not run), and so is a missing DEFAULT
    partition (a write outside every range would fail)."""
    if not fetch_all(conn, "partitions.installed")[0][0]:
        return
    parts = list_partitions(conn)
    if not any(p.is_default for p in parts):
        result.problems.append(
            "workflow_transitions has no DEFAULT partition: a write outside every "
            "partition's range would fail (run 'optiinfra-db partitions ensure')"
        )
    gaps = partition_gaps(conn, horizon=PARTITION_HORIZON)
    result.problems += [
        f"workflow_transitions: no partition for {lo.isoformat()} to {hi.isoformat()} "
        "(rows land in the DEFAULT partition; run 'optiinfra-db partitions ensure')"
        for lo, hi in gaps
    ]
    pending = [p.name for p in parts if p.detach_pending]
    result.problems += [
        f"workflow_transitions: partition {name} is half detached (an interrupted "
        "DETACH CONCURRENTLY; the next purge finishes it)"
        for name in pending
    ]
    if not gaps and any(p.is_default for p in parts) and not pending:
        result.ok.append(f"partitions: {len(parts)}, the next {PARTITION_HORIZON.days} days made")
