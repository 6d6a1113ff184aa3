#!/usr/bin/env python3
"""Generate the sync library from its asyncio source.

Why generate, and why in this direction
---------------------------------------
The repositories, the connection helpers, ``watch``/``wait_for_work`` and
``purge`` exist twice: for ``psycopg.Connection`` (``optiinfra_db``) and for
``psycopg.AsyncConnection`` (``optiinfra_db.aio``). Two hand-kept copies of
thirteen repository classes would drift. So the code is written once, for
asyncio, under ``optiinfra_db/aio/``, and the sync modules are produced from
it by deleting ``async``/``await`` and renaming the few async names
(``AsyncConnection`` -> ``Connection``, ``AsyncIterator`` -> ``Iterator``...).
Removing keywords is mechanical; adding them (sync -> async) would need to
know which calls do I/O. psycopg builds its own sync code from its async code
the same way (``tools/async_to_sync.py`` in psycopg's repository).

Every module under ``optiinfra_db/aio/`` (but its ``__init__.py``, the
asyncio side's public surface) is mirrored into ``optiinfra_db/`` at the
same relative path: the tool walks the folder, so a new module needs no list.
What does no I/O (binding parameters, cursors, decoding rows, scope and
session bookkeeping, validation) is not generated: it lives in
``optiinfra_db/sansio/``, which both sides import, with ``errors.py``,
``records.py`` and the other top-level I/O-free modules.

The transform works on tokens, so comments, docstrings and layout survive;
the result is formatted with ruff. The generated files are committed (so a
reader and mypy see them) and carry a header naming their source;
``tests/unit/test_generated.py`` fails when one is stale.

Usage: ``python tools/async_to_sync.py`` (write) or ``--check`` (exit 1 if stale).
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "optiinfra_db"

#: The asyncio source: every module below it is mirrored, file for file, into
#: the sync package (``aio/x/y.py`` -> ``x/y.py``), but the package's own
#: ``aio/__init__.py`` (the asyncio side's public surface, written by hand).
SOURCE = PACKAGE / "aio"


#: The one module written by hand on both sides (``aio/_concurrency.py`` and
#: ``_concurrency.py``): tasks there, threads here. What runs side by side
#: can't be derived by deleting keywords; the worker loop that uses it is.
HAND_WRITTEN = frozenset({"_concurrency.py"})


def sources() -> dict[str, str]:
    """asyncio source -> generated sync module, paths relative to the package."""
    return {
        str(path.relative_to(PACKAGE)): str(path.relative_to(SOURCE))
        for path in sorted(SOURCE.rglob("*.py"))
        if path != SOURCE / "__init__.py" and str(path.relative_to(SOURCE)) not in HAND_WRITTEN
    }


#: Names (and strings that are exactly a name, as in ``__all__``) renamed.
RENAMES = {
    "AsyncConnection": "Connection",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncCursor": "Cursor",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "asynccontextmanager": "contextmanager",
    "AsyncIterator": "Iterator",
    "AsyncRepositories": "Repositories",
    "aclose": "close",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "aclosing": "closing",
    # asyncio.sleep -> time.sleep (sources take monotonic() from `from time import`)
    "asyncio": "time",
}

#: Keywords dropped (with the space after them).
DROPPED = {"async", "await"}

#: A line whose comment starts with this has no sync twin: it is dropped, with
#: its block when it opens one (e.g. letting other tasks run between chunks of
#: a long decode).
ASYNC_ONLY = "# async-only"


def unasync(source: str, origin: str) -> str:
    """The sync twin of an asyncio module's text (before formatting)."""
    lines = source.splitlines(keepends=True)
    # (row, col, end col, replacement), applied right to left per line.
    edits: list[tuple[int, int, int, str]] = []
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    dropped_lines = set()
    for tok in tokens:
        if tok.type == tokenize.COMMENT and tok.string.startswith(ASYNC_ONLY):
            row = tok.start[0]
            dropped_lines.add(row)
            head = lines[row - 1]
            if head[: tok.start[1]].rstrip().endswith(":"):  # a block: drop its body too
                indent = len(head) - len(head.lstrip())
                body = row + 1
                while body <= len(lines) and (
                    not lines[body - 1].strip()
                    or len(lines[body - 1]) - len(lines[body - 1].lstrip()) > indent
                ):
                    dropped_lines.add(body)
                    body += 1
    for i, tok in enumerate(tokens):
        (row, col), (end_row, end_col) = tok.start, tok.end
        if row in dropped_lines:
            continue
        if tok.type == tokenize.NAME and tok.string in DROPPED:
            line = lines[row - 1]
            stop = end_col + 1 if line[end_col : end_col + 1] == " " else end_col
            edits.append((row, col, stop, ""))
        elif tok.type == tokenize.NAME and tok.string in RENAMES:
            edits.append((row, col, end_col, RENAMES[tok.string]))
        elif tok.type == tokenize.STRING and tok.string[1:-1] in RENAMES and row == end_row:
            quote = tok.string[0]
            edits.append((row, col, end_col, quote + RENAMES[tok.string[1:-1]] + quote))
        elif (
            tok.type == tokenize.NAME
            and tok.string == "aio"
            and i >= 2
            and tokens[i - 1].string == "."
            and tokens[i - 2].string == "optiinfra_db"
            and tokens[i + 1].string == "."
        ):
            # optiinfra_db.aio.x -> optiinfra_db.x
            edits.append((row, col, tokens[i + 1].end[1], ""))
    for row, col, stop, text in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + text + line[stop:]
    lines = [line for n, line in enumerate(lines, 1) if n not in dropped_lines]
    header = (
        "# Generated by tools/async_to_sync.py: do not edit. Edit its source and run\n"
        "# `make generate` (a test fails while this file is stale). Source:\n"
        f"# optiinfra_db/{origin}\n"
    )
    return header + "".join(lines)


def ruff() -> str:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if found is None:
        raise SystemExit("ruff not found (run inside the project's venv: make venv)")
    return found


def formatted(text: str, target: Path) -> str:
    """``text`` as ruff (the project's settings) fixes imports and formats it."""
    exe = ruff()
    name = str(target.relative_to(ROOT))
    fixed = subprocess.run(
        [
            exe,
            "check",
            "--select",
            "I,F401,RUF022,SIM117,UP028",
            "--fix-only",
            "--unsafe-fixes",
            "--stdin-filename",
            name,
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    return subprocess.run(
        [exe, "format", "--stdin-filename", name, "-"],
        input=fixed,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout


def generate() -> dict[Path, str]:
    """Every generated module's path and its expected text."""
    out = {}
    for origin, target in sources().items():
        path = PACKAGE / target
        out[path] = formatted(unasync((PACKAGE / origin).read_text(), origin), path)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args()
    stale = []
    expected = generate()
    # A generated module whose source is gone (renamed or split) goes too.
    orphans = [
        path
        for path in PACKAGE.rglob("*.py")
        if path.read_text().startswith("# Generated by tools/async_to_sync.py")
        and path not in expected
    ]
    for path in orphans:
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.unlink()
            print("removed", path.relative_to(ROOT), "(its source is gone)")
    for path, text in expected.items():
        if not path.exists() or path.read_text() != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print("stale (run `make generate`):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    for path in stale:
        if (ROOT / path).exists():
            print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
