"""Rules every migration file keeps, read from the files (no database)."""

from __future__ import annotations

import re
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_STATEMENT = re.compile(r"[^;]+;", re.S)
_CREATE = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I
)
_DROP = re.compile(r"DROP\s+INDEX\s+CONCURRENTLY\s+IF\s+EXISTS\s+(\w+)", re.I)


def _statements(path: Path) -> list[str]:
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    return [s.strip() for s in _STATEMENT.findall(text)]


def test_every_concurrent_index_drops_an_interrupted_runs_leftover_first() -> None:
    """CREATE INDEX CONCURRENTLY cut off (lock_timeout, a killed deploy)
    leaves an INVALID index under its name, which IF NOT EXISTS would keep on
    the next run. So each one is built right after DROP INDEX CONCURRENTLY
    IF EXISTS of the same name: one rule for every migration, checked here
    (and in the database by the held-lock test in test_edges.py)."""
    built = 0
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name.endswith(".rollback.sql"):
            continue
        statements = _statements(path)
        for i, statement in enumerate(statements):
            created = _CREATE.match(statement)
            if created is None:
                continue
            built += 1
            before = _DROP.match(statements[i - 1]) if i else None
            assert before is not None and before.group(1) == created.group(1), (
                f"{path.name}: {created.group(1)} is not built right after "
                f"DROP INDEX CONCURRENTLY IF EXISTS {created.group(1)}"
            )
    assert built >= 11
