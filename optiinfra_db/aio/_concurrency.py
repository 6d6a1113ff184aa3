"""How run_worker runs things side by side, for asyncio: tasks. Written by
hand on both sides (``optiinfra_db/_concurrency.py`` is its twin with
threads), the one pair the generator does not make: the worker loop
(``aio/worker.py``) is written once and imports these names from its side's
module. Same names, same meaning:

* ``Event``: set once, waited on (``wait_event``, with a timeout).
* ``spawn(fn, *args)``: run ``fn(*args)`` beside the caller; a ``Handle``.
* ``Handle.stop()``: interrupt it where the side can (a task is cancelled;
  a thread can't be: its job's ``cancelled`` event is what it watches).
* ``current()``: the running task / thread, as a ``Handle``.
* ``Cancelled``: what an interrupted handler raises (a thread: never);
  ``recover()`` after catching it and carrying on.
* ``on_stop_signals(event)``: SIGTERM/SIGINT set ``event`` while the loop
  owns the main thread; returns what undoes it.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = [
    "Cancelled",
    "Event",
    "Handle",
    "HandlerResult",
    "current",
    "on_stop_signals",
    "recover",
    "spawn",
    "wait_event",
]

Event = asyncio.Event
Cancelled = asyncio.CancelledError
#: What a handler returns: a coroutine of its output_data (a dict, or None).
HandlerResult = Awaitable[dict[str, Any] | None]


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True when set."""
    if event.is_set():
        return True
    try:
        await asyncio.wait_for(event.wait(), max(timeout, 0.0))
    except TimeoutError:
        return False
    return True


class Handle:
    """A task running beside the loop."""

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task

    def done(self) -> bool:
        return self.task.done()

    def stop(self) -> None:
        self.task.cancel()

    async def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for it to end; True when it has."""
        if not self.task.done():
            await asyncio.wait([self.task], timeout=max(timeout, 0.0))
        return self.task.done()


def current() -> Handle:
    """The task this runs in (what ``Handle.stop`` interrupts)."""
    task = asyncio.current_task()
    assert task is not None, "called outside a task"
    return Handle(task)


def recover() -> None:
    """After catching the cancellation of the current task and carrying on:
    the task is not being cancelled any more (``Task.uncancel``)."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def spawn(fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: str) -> Handle:
    """``fn(*args)`` as a task of the running loop."""
    return Handle(asyncio.get_running_loop().create_task(fn(*args), name=name))


def on_stop_signals(event: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``event`` (when the loop runs in the main
    thread, where the event loop can take signals); the returned function
    puts the previous handling back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    done: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, event.set)
        except (NotImplementedError, RuntimeError):  # no signals here (Windows, a nested loop)
            continue
        done.append(sig)

    def undo() -> None:
        for sig in done:
            loop.remove_signal_handler(sig)

    return undo
