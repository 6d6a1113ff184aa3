"""Both sides export the same names, and the async test side swaps every
I/O function (a name missing from the swap list would run sync-only)."""

from __future__ import annotations

import inspect

import optiinfra_db as odb
import optiinfra_db.aio as aio
from tests.aio_bridge import SWAPPED


def test_every_asyncio_export_has_its_sync_twin_of_the_same_name() -> None:
    twins = {"AsyncRepositories": "Repositories"}
    for name in aio.__all__:
        assert twins.get(name, name) in odb.__all__, name
        assert hasattr(odb, twins.get(name, name)), name


def test_the_async_side_of_the_tests_swaps_every_io_function() -> None:
    functions = {n for n in aio.__all__ if inspect.isfunction(getattr(aio, n))}
    assert functions == set(SWAPPED) - {"Repositories"}
