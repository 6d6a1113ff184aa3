"""Both sides export the same names; the test sides are built from one list
of the I/O names (``tests.sides.IO_API``) that equals both sides' exports;
and no integration test reaches that I/O through ``optiinfra_db`` directly,
where it would run on the sync side only."""

from __future__ import annotations

import re
from pathlib import Path

import optiinfra_db as odb
import optiinfra_db.aio as aio
from tests.sides import IO_API

TESTS = Path(__file__).resolve().parents[1]
#: Exports of the asyncio side that do no I/O (shared with the sync side, or
#: a record of each side's: a Job holds that side's repositories, a Cluster
#: its pools; neither is made by the caller).
PLAIN = {"PurgeBatch", "PurgeResult", "Job", "Cluster", "TransitionPartition"}


def test_every_asyncio_export_has_its_sync_twin_of_the_same_name() -> None:
    twins = {"AsyncRepositories": "Repositories"}
    for name in aio.__all__:
        assert twins.get(name, name) in odb.__all__, name
        assert hasattr(odb, twins.get(name, name)), name


def test_the_sides_list_equals_both_sides_io_exports() -> None:
    assert set(IO_API.values()) == set(aio.__all__) - PLAIN
    assert set(IO_API) <= set(odb.__all__)
    for name, twin in IO_API.items():
        assert getattr(odb, name) is not getattr(aio, twin), name


def test_no_integration_test_calls_the_io_through_the_sync_module() -> None:
    pattern = re.compile(r"\b(?:odb|optiinfra_db)\.(" + "|".join(IO_API) + r")\(")
    escaped = [
        f"{path.relative_to(TESTS)}:{n}: {line.strip()}"
        for path in sorted((TESTS / "integration").glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert escaped == [], "call these through tests.sides.api"


def test_every_io_name_is_called_through_the_sides() -> None:
    text = "\n".join(p.read_text() for p in (TESTS / "integration").glob("*.py"))
    repositories = {n for n in IO_API if n.endswith("Repository") and n != "ReportRepository"}
    # The per-table classes are reached through Repositories (one attribute each).
    uncalled = {n for n in set(IO_API) - repositories if f"api.{n}(" not in text}
    assert uncalled == set()
