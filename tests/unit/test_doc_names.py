"""Every name the README and docs/ use is there: ``odb.X`` is importable
from ``optiinfra_db``, ``aio.X`` from ``optiinfra_db.aio`` (no database)."""

from __future__ import annotations

import re
from pathlib import Path

import optiinfra_db as odb
import optiinfra_db.aio as aio

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _used(prefix: str) -> dict[str, str]:
    """name -> the first page using ``<prefix>.name``."""
    found: dict[str, str] = {}
    pattern = re.compile(rf"(?<![\w.]){prefix}\.([A-Za-z_][A-Za-z0-9_]*)")
    for page in PAGES:
        for name in pattern.findall(page.read_text(encoding="utf-8")):
            found.setdefault(name, page.name)
    return found


def test_every_name_the_docs_use_is_exported() -> None:
    used = _used("odb")
    assert len(used) > 20
    assert {n: p for n, p in used.items() if not hasattr(odb, n)} == {}
    used_aio = _used("aio")
    assert len(used_aio) > 5
    assert {n: p for n, p in used_aio.items() if not hasattr(aio, n)} == {}


def test_every_error_the_docs_name_is_exported() -> None:
    named = {
        name
        for page in PAGES
        for name in re.findall(r"`(?:odb\.)?([A-Z]\w*Error)\b", page.read_text(encoding="utf-8"))
    }
    assert "LeaseLostError" in named
    builtin = {"ValidationError", "TypeError", "ValueError", "KeyError"}
    not_exported = {n for n in named if not hasattr(odb, n)} - builtin
    assert not_exported == set()
