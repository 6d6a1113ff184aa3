"""Query kinds and parameters are enforced, not comments (no database).

Every statement runs through ``Query.use(path, params)``: a ``:one``
statement only through the one-row path, a ``:many`` one through the
all-rows paths, and the keys bound must equal its placeholders. Here: the
rule itself, and a scan of the asyncio repository source (the generated
side is its copy) checking every call that names a statement literally
against the catalog, so a misuse is caught even in a method no test calls.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from optiinfra_db.queries import CATALOG, PATHS, Query, QueryUseError
from optiinfra_db.sansio.values import TableCore

SOURCE = Path(__file__).resolve().parents[2] / "optiinfra_db" / "aio" / "repositories"

#: The runner methods of ``_base.Repository`` and the path each uses.
RUNNERS = {
    "_one": "one",
    "_fetchone": "one",
    "_one_or_missing": "one",
    "_many": "many",
    "_fetchall": "many",
    "_stream": "many",
    "_rowcount": "rows",
    "_copy": "copy",
    "_insert_each": "each",
    "_move": "one",  # a guarded lifecycle move (through guarded and _one)
}


def _query(kind: str, params: frozenset[str]) -> Query:
    return Query("t", "q", kind, "", "SELECT 1", 1, params)


def test_a_statement_runs_only_through_the_paths_its_kind_allows() -> None:
    many = _query("many", frozenset({"id"}))
    assert many.use("many", {"id": 1}) == "SELECT 1"
    with pytest.raises(QueryUseError, match=r"t\.q is :many; it can't run through the 'one'"):
        many.use("one", {"id": 1})
    for path, kinds in PATHS.items():
        for kind in kinds:
            _query(kind, frozenset()).use(path, None)


def test_the_keys_bound_must_equal_the_placeholders() -> None:
    one = _query("one", frozenset({"id", "reason"}))
    one.use("one", {"id": 1, "reason": None})
    with pytest.raises(QueryUseError, match=r"binds \['id'\], but its placeholders"):
        one.use("one", {"id": 1})
    with pytest.raises(QueryUseError, match="binds"):
        one.use("one", {"id": 1, "reason": None, "extra": 2})
    with pytest.raises(QueryUseError, match="binds"):
        one.use("one", None)


def _calls() -> list[tuple[str, int, str, str]]:
    """(file, line, runner, statement name) of every runner call naming its
    statement with a string literal, in the repository sources."""
    found = []
    for path in sorted(SOURCE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in RUNNERS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.append((path.stem, node.lineno, node.func.attr, node.args[0].value))
    return found


def _table_of(stem: str) -> str:
    tables = {
        cls.table
        for cls in _subclasses(TableCore)
        if "table" in cls.__dict__ and cls.__module__.endswith(f".{stem}")
    }
    assert len(tables) == 1, (stem, tables)
    return tables.pop()


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_every_literal_statement_name_fits_its_runner() -> None:
    import optiinfra_db.aio  # noqa: F401  (loads every repository class)

    calls = [c for c in _calls() if c[0] != "_base"]
    assert len(calls) > 50, "the scan found too few calls: has the base been renamed?"
    wrong = []
    for stem, line, runner, name in calls:
        query = CATALOG.get(f"{_table_of(stem)}.{name}")
        if query is None:
            wrong.append(f"{stem}.py:{line}: {runner}({name!r}): no such statement")
        elif query.kind not in PATHS[RUNNERS[runner]]:
            wrong.append(f"{stem}.py:{line}: {runner}({name!r}) runs a :{query.kind} statement")
    assert wrong == []
