"""The wheel carries the SQL, so an installed package can migrate without the checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_migrations_and_sql(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("optiinfra_db-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in sorted((ROOT / "migrations").glob("*.sql")):
        assert f"optiinfra_db/_resources/migrations/{path.name}" in names
    for path in sorted((ROOT / "sql").glob("*.sql")):
        assert f"optiinfra_db/_resources/sql/{path.name}" in names
    assert "optiinfra_db/__init__.py" in names
