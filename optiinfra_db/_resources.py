"""Where the packaged SQL lives.

In a built wheel, ``migrations/`` and ``sql/`` are copied into
``optiinfra_db/_resources/`` (see ``pyproject.toml``). In a source checkout or
an editable install they are the top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_resources" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"optiinfra_db: the {name}/ folder is missing (looked in {_PACKAGE_DIR / '_resources'} "
        f"and {_PACKAGE_DIR.parent}); the installation is incomplete"
    )


def migrations_dir() -> Path:
    """The folder of yoyo migration files (``0001.core-schema.sql`` ...)."""
    return _find("migrations")


def sql_dir() -> Path:
    """The folder of named query files (``sql/<table>.sql``)."""
    return _find("sql")
