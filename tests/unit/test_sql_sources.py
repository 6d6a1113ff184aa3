"""Facts the SQL files repeat are checked against their one source (no database).

* "A run has finished": every ``status IN (...)`` list in ``sql/`` that names
  finished statuses names exactly ``enums.FINISHED_STATUSES``.
* The step-move guard (the ``held`` and ``ctx`` CTEs of the five moves in
  ``sql/workflow_steps.sql``) is one text: every copy is identical. A SQL
  function in a migration would say it once too, but it would hide the
  ``FOR SHARE`` lock and the join from the statement a DBA reads and from
  the planner (a function with a lock is not inlined), and changing it
  would mean replacing a function running statements depend on. So the
  statement stays whole, and this test keeps the copies equal.
"""

from __future__ import annotations

import re

from optiinfra_db._resources import sql_dir
from optiinfra_db.enums import FINISHED_STATUSES
from optiinfra_db.queries import CATALOG

_STATUS_LIST = re.compile(r"status\s+IN\s*\(([^)]*)\)", re.IGNORECASE)
MOVES = ("start", "complete", "fail", "skip", "retry")


def test_every_finished_status_list_in_sql_is_the_one_source() -> None:
    finished = {s.value for s in FINISHED_STATUSES}
    checked = 0
    for path in sorted(sql_dir().glob("*.sql")):
        text = re.sub(r"--[^\n]*", "", path.read_text())
        for match in _STATUS_LIST.finditer(text):
            listed = set(re.findall(r"'(\w+)'", match[1]))
            # A list of run statuses with the success end and another end is
            # "finished" (('failed', 'timeout') is another fact: ended badly).
            if "completed" in listed and listed <= finished | {"pending", "running"}:
                assert listed == finished, f"{path.name}: {match[0]}"
                checked += 1
    assert checked >= 2


def _guard(name: str) -> str:
    sql = CATALOG[f"workflow_steps.{name}"].sql
    start, end = sql.index("WITH held AS MATERIALIZED ("), sql.index("moved AS (")
    return sql[start:end]


def test_the_step_move_guard_is_one_text() -> None:
    first = _guard(MOVES[0])
    assert "FOR SHARE OF e" in first and "set_config('optiinfra.transition'" in first
    for name in MOVES[1:]:
        assert _guard(name) == first, f"workflow_steps.{name}'s guard differs from start's"
