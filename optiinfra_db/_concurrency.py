"""How run_worker runs things side by side, for the sync side: threads.
Written by hand on both sides (``optiinfra_db/aio/_concurrency.py`` is its
twin with tasks; see there for the names). A thread can't be interrupted:
``Handle.stop`` does nothing, and a handler watches its job's ``cancelled``
event instead; ``Cancelled`` is never raised here.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
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

Event = threading.Event
#: What a handler returns: its output_data (a dict, or None).
HandlerResult = dict[str, Any] | None


class Cancelled(BaseException):
    """Never raised on this side (a thread can't be interrupted)."""


def wait_event(event: threading.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True when set."""
    return event.wait(max(timeout, 0.0))


class Handle:
    """A thread running beside the loop (a daemon: a handler still running
    when the process exits does not keep it alive)."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread

    def done(self) -> bool:
        return not self.thread.is_alive()

    def stop(self) -> None:
        """Nothing to do: a thread can't be interrupted."""

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for it to end; True when it has."""
        self.thread.join(max(timeout, 0.0))
        return not self.thread.is_alive()


def current() -> Handle:
    """The thread this runs in."""
    return Handle(threading.current_thread())


def recover() -> None:
    """Nothing to undo: a thread is never cancelled."""


def spawn(fn: Callable[..., Any], *args: Any, name: str) -> Handle:
    """``fn(*args)`` in a thread of its own."""
    thread = threading.Thread(target=fn, args=args, name=name, daemon=True)
    thread.start()
    return Handle(thread)


def on_stop_signals(event: threading.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``event`` when called from the main thread (the
    only one Python delivers signals to); the returned function puts the
    previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {
        sig: signal.signal(sig, lambda _sig, _frame: event.set())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }

    def undo() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return undo
