"""Run the sync test suite against ``optiinfra_db.aio``.

The repository, error-mapping, race, fencing, live and retention tests are
written once, in blocking style. The ``side`` fixture runs each of them twice:
``[sync]``, and ``[async]`` where ``tests.sides.api`` (``api.connect``,
``api.Repositories``, ``api.watch``...) means the ``optiinfra_db.aio`` twins
behind a blocking bridge. The bridge runs every coroutine on one event loop
in a thread of its own (so a test's threads still race each other for real:
their calls interleave on that loop), turns async iterators and async
context managers into plain ones, and wraps what it returns (an
``AsyncConnection``, ``AsyncRepositories``, a cursor, a transaction) the same
way. The code under test is the real async code on real async connections;
only the test's side of the call is blocking.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Loop:
    """An event loop running in its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable: Any) -> Any:
        async def call() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result()

    def close(self) -> None:
        global ACTIVE
        ACTIVE = None
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _async_kind(value: Any) -> bool:
    """Objects of the async side that the bridge wraps."""
    module = type(value).__module__
    name = type(value).__name__
    return (
        module.startswith("optiinfra_db.aio")
        or (module.startswith(("psycopg.", "psycopg_pool.")) and name.startswith("Async"))
        or hasattr(value, "__aenter__")
    )


def unwrap(value: Any) -> Any:
    return value._target if isinstance(value, Blocking) else value


class Blocking:
    """A blocking view of an async object: coroutines are run to their result,
    async iterators and context managers become plain ones."""

    __slots__ = ("_loop", "_target")

    def __init__(self, target: Any, loop: Loop) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)

    def _adapt(self, value: Any) -> Any:
        return adapt(value, self._loop)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            return bridge(value, self._loop)
        return self._adapt(value)

    def __setattr__(self, name: str, value: Any) -> None:
        setter = getattr(self._target, f"set_{name}", None)
        if setter is not None and inspect.iscoroutinefunction(setter):
            self._loop.run(setter(unwrap(value)))
        else:
            setattr(self._target, name, unwrap(value))

    def __enter__(self) -> Any:
        return self._adapt(self._loop.run(self._target.__aenter__()))

    def __exit__(self, *exc: Any) -> Any:
        return self._loop.run(self._target.__aexit__(*exc))

    def __iter__(self) -> Iterator[Any]:
        return iterate(self._target, self._loop)

    def __eq__(self, other: object) -> bool:
        return bool(self._target == unwrap(other))

    def __hash__(self) -> int:
        return hash(self._target)

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"


def iterate(source: Any, loop: Loop) -> Iterator[Any]:
    """A plain iterator over an async iterator (closed with it)."""
    iterator = source.__aiter__()
    try:
        while True:
            try:
                item = loop.run(iterator.__anext__())
            except StopAsyncIteration:
                return
            yield adapt(item, loop)
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            loop.run(aclose())


def adapt(value: Any, loop: Loop) -> Any:
    if inspect.isawaitable(value) and not hasattr(value, "__aenter__"):
        return adapt(loop.run(value), loop)
    if hasattr(value, "__anext__") and not hasattr(value, "__aenter__"):
        return iterate(value, loop)
    if _async_kind(value):
        return Blocking(value, loop)
    return value


def bridge(func: Callable[..., Any], loop: Loop) -> Callable[..., Any]:
    """``func`` (a coroutine function, or one returning async objects) made blocking."""

    def call(*args: Any, **kwargs: Any) -> Any:
        args = tuple(unwrap(a) for a in args)
        kwargs = {k: unwrap(v) for k, v in kwargs.items()}
        return adapt(func(*args, **kwargs), loop)

    call.__name__ = getattr(func, "__name__", "call")
    return call


#: The loop of the test running on the async side (None on the sync side).
ACTIVE: Loop | None = None


def async_api(loop: Loop) -> Any:
    """The async side's ``tests.sides.Api``: every name of ``IO_API``, the
    ``optiinfra_db.aio`` twin behind the blocking bridge."""
    import optiinfra_db.aio as aio
    from tests.sides import IO_API, Api

    global ACTIVE
    ACTIVE = loop
    return Api("async", {name: bridge(getattr(aio, twin), loop) for name, twin in IO_API.items()})


def plain_async_connection(dsn: str) -> Any:
    """A plain ``psycopg.AsyncConnection`` (no adapters of ours) behind the bridge."""
    import psycopg

    assert ACTIVE is not None
    return Blocking(ACTIVE.run(psycopg.AsyncConnection.connect(dsn)), ACTIVE)


_SCOPE_TAG = "/* optiinfra_db:meta:set_customer_scope */"


@contextlib.contextmanager
def statements_sent() -> Iterator[list[str]]:
    """Record every statement a cursor of either side executes in the block
    (but a scoped repository's ``meta.set_customer_scope``, which rides in the
    same pipeline, hence the same round trip, as the statement it guards)."""
    import psycopg

    sent: list[str] = []
    sync_execute, async_execute = psycopg.Cursor.execute, psycopg.AsyncCursor.execute

    def counting(self: Any, query: Any, *a: Any, **k: Any) -> Any:
        if not str(query).startswith(_SCOPE_TAG):
            sent.append(str(query))
        return sync_execute(self, query, *a, **k)

    async def counting_async(self: Any, query: Any, *a: Any, **k: Any) -> Any:
        if not str(query).startswith(_SCOPE_TAG):
            sent.append(str(query))
        return await async_execute(self, query, *a, **k)

    psycopg.Cursor.execute = counting  # type: ignore[method-assign]
    psycopg.AsyncCursor.execute = counting_async  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = sync_execute  # type: ignore[method-assign]
        psycopg.AsyncCursor.execute = async_execute  # type: ignore[method-assign]
