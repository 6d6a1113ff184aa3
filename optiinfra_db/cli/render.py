"""What the command line prints: styles, tables, durations, JSON, progress,
and the scrubbing that keeps passwords and terminal controls out of it."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote
from uuid import UUID

from pydantic import BaseModel


class Style:
    def __init__(self, stream: TextIO) -> None:
        self.on = stream.isatty() and "NO_COLOR" not in os.environ

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text

    def status(self, status: str) -> str:
        code = {
            "completed": "32",
            "failed": "1;31",
            "timeout": "31",
            "running": "36",
            "retrying": "33",
            "cancelled": "33",
            "skipped": "2",
            "pending": "2",
        }.get(status)
        shown = status.upper() if status in ("failed", "timeout") else status
        return self(shown, code) if code else shown


def note(message: str) -> None:
    """A line (or lines) for people on stderr: passwords scrubbed, controls escaped."""
    print("\n".join(safe(line) for line in scrub(message).split("\n")), file=sys.stderr, flush=True)


#: Characters that would act on a terminal instead of showing: C0/C1 controls,
#: DEL, and the invisible or direction-changing format characters.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(text: Any) -> str:
    """Text from the database made safe for a terminal: controls shown escaped."""
    return _UNSAFE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), str(text))


#: Passwords seen in database URLs this run: never printed (see scrub).
_SECRETS: set[str] = set()
_PASSWORD_PATTERNS = (
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^@/?#]*?:([^@/?#]*)@"),  # scheme://user:PASS@
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*:(.*)@"),  # a password holding / or ?
    re.compile(r"[?&]password=([^&#]*)", re.I),
    re.compile(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.I),
)


def remember_secrets(dsn: str) -> None:
    """Note the passwords a database URL may carry, parsable or not."""
    for pattern in _PASSWORD_PATTERNS:
        for found in pattern.findall(dsn):
            for candidate in (found, found.strip("'"), unquote(found)):
                if candidate:
                    _SECRETS.add(candidate)


def scrub(text: str) -> str:
    """``text`` with every remembered password replaced by ***."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def table(
    rows: Sequence[Sequence[str]], header: Sequence[str], out: TextIO, right: Sequence[int] = ()
) -> None:
    """Aligned columns; widths ignore colour codes."""
    strip = re.compile(r"\033\[[0-9;]*m")
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(strip.sub("", cell)))

    def fmt(row: Sequence[str]) -> str:
        cells = []
        for i, cell in enumerate(row):
            pad = widths[i] - len(strip.sub("", cell))
            cells.append(" " * pad + cell if i in right else cell + " " * pad)
        return "  ".join(cells).rstrip()

    print(fmt(header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(fmt(row), file=out)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m {sec:04.1f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h {int(minutes):02d}m"


def stamp(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def stamp_ms(moment: datetime | None) -> str:
    """A time of day to the millisecond (the timeline's moves are close together)."""
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(document: Any) -> None:
    json.dump(document, sys.stdout, default=to_json, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


# --------------------------------------------------------------------------- the database


def emit_json_records(records: Iterable[BaseModel]) -> None:
    """One JSON array of records on stdout, written record by record as they
    come (memory stays bounded however many a stream yields)."""
    out = sys.stdout
    out.write("[")
    wrote = False
    for record in records:
        out.write(",\n  " if wrote else "\n  ")
        out.write(record.model_dump_json())
        wrote = True
    out.write("\n]\n" if wrote else "]\n")


def progress_bar(label: str, unit: str) -> Any:
    """A progress callback ``(done, total)`` drawing a bar on stderr: redrawn
    in place on a terminal (at most 5 times a second), a line every 10 s
    otherwise; the last call (done == total) always draws."""
    tty = sys.stderr.isatty()
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done != total and now - last[0] < (0.2 if tty else 10):
            return
        last[0] = now
        width = 30
        filled = int(width * done / total) if total else width
        elapsed = now - started
        rate = done / elapsed if elapsed else 0
        eta = (total - done) / rate if rate else 0
        bar = "#" * filled + "." * (width - filled)
        line = (
            f"{label} [{bar}] {done:,}/{total:,} {unit} "
            f"{100 * done / total if total else 100:5.1f}%  {rate:,.0f}/s  eta {duration(eta)}"
        )
        if tty:
            sys.stderr.write("\r" + line + ("\n" if done == total else ""))
            sys.stderr.flush()
        else:
            note(line)

    return progress
