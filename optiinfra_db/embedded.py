"""An embedded PostgreSQL server (the ``embedded`` extra, ``pgserver``).

Used by the test suite when ``OPTIINFRA_TEST_DSN`` is not set and by the
command line when no database URL is given. ``pgserver`` ships PostgreSQL 16
in a wheel and also runs as root (it switches to a user of its own).
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_DATA_DIR", "EmbeddedUnavailableError", "start"]

#: Where the command line keeps its embedded database, relative to the working directory.
DEFAULT_DATA_DIR = Path(".optiinfra") / "pgdata"


class EmbeddedUnavailableError(RuntimeError):
    """pgserver is not installed, so no embedded PostgreSQL can be started."""


def start(data_dir: str | os.PathLike[str], *, stop_at_exit: bool = True) -> str:
    """Start (or reuse) an embedded PostgreSQL keeping its data in ``data_dir``.

    Returns a libpq connection URI to its ``postgres`` database (Unix socket in
    ``data_dir``). With ``stop_at_exit`` the server stops when this process
    exits; the data stays.
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless.
            warnings.simplefilter("ignore")
            pgserver: Any = importlib.import_module("pgserver")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EmbeddedUnavailableError(
            "no database given and the embedded PostgreSQL is not installed: set "
            "OPTIINFRA_DATABASE_URL (or pass --database-url), or install the extra: "
            "pip install 'optiinfra-db[embedded]'"
        ) from exc
    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server: Any = pgserver.get_server(path, cleanup_mode="stop" if stop_at_exit else None)
    return str(server.get_uri())
