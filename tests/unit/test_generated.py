"""The sync modules are generated from the asyncio ones (tools/async_to_sync.py):
they must be up to date, and the two sides must offer the same API."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import pytest

import optiinfra_db as odb
import optiinfra_db.aio as aio

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("async_to_sync", ROOT / "tools/async_to_sync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["async_to_sync"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_sync_modules_are_up_to_date() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in _generator().generate().items()
        if path.read_text() != text
    ]
    assert stale == [], f"stale generated modules (run `make generate`): {stale}"


def test_the_transform_drops_async_and_renames() -> None:
    out = _generator().unasync(
        "from optiinfra_db.aio.db import AsyncConnection\n"
        "async def f(c: AsyncConnection) -> None:\n"
        "    async with c.transaction():  # await stays in comments\n"
        "        await c.execute('await')\n"
        "    async for _ in c.notifies():\n"
        "        if c.busy:  # async-only: a turn for the loop\n"
        "            await asyncio.sleep(0)\n"
        "\n"
        "            await asyncio.sleep(0)\n"
        "        await asyncio.sleep(0)  # async-only\n"
        "        pass\n"
        "__all__ = ['AsyncConnection']\n",
        "aio/x.py",
    )
    body = out.split("\n", 3)[3]
    assert body == (
        "from optiinfra_db.db import Connection\n"
        "def f(c: Connection) -> None:\n"
        "    with c.transaction():  # await stays in comments\n"
        "        c.execute('await')\n"
        "    for _ in c.notifies():\n"
        "        pass\n"
        "__all__ = ['Connection']\n"
    )


def _public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def _shape(func: Any) -> list[tuple[str, Any, Any, str]]:
    sig = inspect.signature(func)
    return [(p.name, p.kind, p.default, str(p.annotation)) for p in sig.parameters.values()]


def _returns(func: Any) -> str:
    return str(inspect.signature(func).return_annotation).replace("AsyncIterator", "Iterator")


REPOSITORIES = [name for name in aio.__all__ if name.endswith("Repository")]


@pytest.mark.parametrize("name", REPOSITORIES)
def test_every_sync_method_has_an_async_twin(name: str) -> None:
    sync_cls, async_cls = getattr(odb, name), getattr(aio, name)
    sync_methods, async_methods = _public_methods(sync_cls), _public_methods(async_cls)
    assert sorted(sync_methods) == sorted(async_methods)
    for method, sync_func in sync_methods.items():
        twin = async_methods[method]
        assert _shape(twin) == _shape(sync_func), f"{name}.{method}"
        assert _returns(twin) == _returns(sync_func), f"{name}.{method}"
        if method.startswith("iter"):
            assert "AsyncIterator" in str(inspect.signature(twin).return_annotation)
        else:
            assert inspect.iscoroutinefunction(twin), f"{name}.{method} is not a coroutine"


@pytest.mark.parametrize(
    "name", ["connect", "create_pool", "configure_connection", "wait_for_work", "purge"]
)
def test_module_functions_are_coroutines_with_the_same_parameters(name: str) -> None:
    sync_func, twin = getattr(odb, name), getattr(aio, name)
    assert inspect.iscoroutinefunction(twin)
    assert [n for n, *_ in _shape(twin)] == [n for n, *_ in _shape(sync_func)]


def test_watch_is_an_async_iterator_with_the_same_parameters() -> None:
    assert _shape(aio.watch) == _shape(odb.watch)
    assert _returns(aio.watch) == _returns(odb.watch)
    assert "AsyncIterator" in str(inspect.signature(aio.watch).return_annotation)


def test_both_sides_share_records_and_results() -> None:
    assert aio.PurgeResult is odb.PurgeResult and aio.PurgeBatch is odb.PurgeBatch
    assert odb.WorkflowExecutionRepository.queries == aio.WorkflowExecutionRepository.queries
