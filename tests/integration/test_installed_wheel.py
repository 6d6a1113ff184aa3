"""The wheel carries migrations/ and sql/, and once installed away from the
source checkout it migrates a database."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from optiinfra_db.schema import MIGRATION_IDS

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import optiinfra_db, optiinfra_db._resources as r
applied = optiinfra_db.migrate(sys.argv[2])
print(json.dumps({"module": optiinfra_db.__file__, "migrations": str(r.migrations_dir()),
                  "sql": str(r.sql_dir()), "applied": applied}))
"""


def test_wheel_installed_elsewhere_migrates(tmp_path: Path, empty_db_dsn: str) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
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
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("optiinfra_db-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("migrations", "sql"):
        files = sorted((ROOT / folder).glob("*.sql"))
        assert files
        for path in files:
            assert f"optiinfra_db/_resources/{folder}/{path.name}" in names
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(target), empty_db_dsn],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    found = json.loads(result.stdout)
    assert found["module"].startswith(str(target))
    assert found["migrations"] == str(target / "optiinfra_db" / "_resources" / "migrations")
    assert found["sql"] == str(target / "optiinfra_db" / "_resources" / "sql")
    assert found["applied"][0] == "0001.core-schema" and len(found["applied"]) == len(MIGRATION_IDS)
