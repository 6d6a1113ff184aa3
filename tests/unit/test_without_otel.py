"""The library without OpenTelemetry installed: it imports and runs its
statements' hooks, and ``instrument()`` says which extra it needs."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
sys.modules["opentelemetry"] = None  # as if the package were not installed
import optiinfra_db as odb
from optiinfra_db.queries import CATALOG
from optiinfra_db.sansio import telemetry

class Cursor:
    rowcount = 1

with telemetry.observe(CATALOG["workflow_executions.get"], None) as call:
    call.done(Cursor())
assert not any(m.startswith("opentelemetry") for m in sys.modules if sys.modules[m] is not None)
try:
    odb.instrument()
except ImportError as exc:
    print(exc)
else:
    raise SystemExit("instrument() did not refuse")
"""


def test_the_library_runs_without_opentelemetry() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'optiinfra-db[otel]'" in done.stdout
