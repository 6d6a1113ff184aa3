"""What a connection of either side is set up with, none of it doing I/O:
the timeouts sent as startup options, the ``prepare=`` default, and reading
what the session-setup statement returned (see ``optiinfra_db/db.py``)."""

from __future__ import annotations

import os
import select
from datetime import timedelta
from typing import Any

from psycopg.adapt import AdaptersMap
from psycopg.types.enum import EnumInfo, register_enum
from psycopg.types.json import JsonbDumper
from psycopg.types.string import StrDumperUnknown

from optiinfra_db.enums import PG_ENUMS
from optiinfra_db.queries import CATALOG

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_STATEMENT_TIMEOUT",
    "ENUM_NAMES",
    "ENUM_TYPES",
    "SESSION_SETUP",
    "Timeout",
    "prepare_default",
    "register_adapters",
    "session_options",
    "wrote_while_idle",
]

Timeout = timedelta | float | None

ENUM_TYPES = CATALOG["meta.enum_types"].sql
SESSION_SETUP = CATALOG["meta.session_setup"].sql
ENUM_NAMES = sorted(PG_ENUMS)

#: Defaults of ``connect`` and ``create_pool``.
DEFAULT_STATEMENT_TIMEOUT = timedelta(seconds=30)
DEFAULT_LOCK_TIMEOUT = timedelta(seconds=5)

_PREPARE_ENV = {"auto": None, "on": True, "off": False, "1": True, "0": False}


def prepare_default(prepare: bool | None) -> bool | None:
    """``prepare=`` as given, or from ``$OPTIINFRA_PREPARE`` when None."""
    if prepare is not None:
        return prepare
    value = os.environ.get("OPTIINFRA_PREPARE", "auto").strip().lower()
    if value not in _PREPARE_ENV:
        raise ValueError(f"OPTIINFRA_PREPARE must be auto, on or off, not {value!r}")
    return _PREPARE_ENV[value]


def register_adapters(
    conn: Any, found: list[tuple[Any, ...]], setup: tuple[Any, ...] | None, prepare: bool | None
) -> None:
    """Register the dumpers and the schema's enums on ``conn`` (sync or async),
    from the rows of the session-setup and enum-type statements, and turn
    preparation off where ``prepare`` says so (None: when behind a pooler,
    i.e. the backend's pid differs from the one the server announced)."""
    adapters: AdaptersMap = conn.adapters
    adapters.register_dumper(dict, JsonbDumper)
    behind_pooler = setup is not None and setup[-1] != conn.info.backend_pid
    if prepare is False or (prepare is None and behind_pooler):
        conn.prepare_threshold = None
    for name, oid, array_oid, labels in found:
        enum = PG_ENUMS[name]
        info = EnumInfo(name, oid, array_oid, labels)
        register_enum(info, conn, enum, mapping={member: member.value for member in enum})
        # Sent as untyped text (the SQL casts): no cached type id to go stale.
        adapters.register_dumper(enum, StrDumperUnknown)


def _ms(value: Timeout) -> int:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value or 0)
    if seconds < 0:
        raise ValueError("a timeout can't be negative")
    return max(1, round(seconds * 1000)) if seconds else 0


def session_options(
    kwargs: dict[str, Any], statement_timeout: Timeout, lock_timeout: Timeout
) -> dict[str, Any]:
    """psycopg connect kwargs with the timeouts added to libpq's ``options``."""
    extra = []
    if statement_timeout is not None:
        extra.append(f"-c statement_timeout={_ms(statement_timeout)}")
    if lock_timeout is not None:
        extra.append(f"-c lock_timeout={_ms(lock_timeout)}")
    if extra:
        kwargs = dict(kwargs)
        kwargs["options"] = " ".join([*extra, str(kwargs.get("options") or "")]).strip()
    return kwargs


def wrote_while_idle(fd: int) -> bool:
    """Whether the socket ``fd`` of an idle connection has something to read
    (a poll with no wait: no round trip, a microsecond or two)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # pragma: no cover (no poll: Windows)
