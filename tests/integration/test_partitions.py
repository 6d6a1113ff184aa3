"""The partitioned transition log (issue: history that scales): partitions
made ahead and listed from the catalog, no write without a partition, purge
dropping whole old partitions (counts matching its dry run, a kept run
keeping every transition), a pending detach finished, the live migration
under traffic and its rollback."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.sql import SQL, Literal

import optiinfra_db as odb
from optiinfra_db.migrate import rollback
from optiinfra_db.queries import CATALOG
from tests.conftest import World
from tests.sides import api

pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]
WEEK = timedelta(days=7)
_SCAN = re.compile(
    r"(?:Index Scan|Index Only Scan|Bitmap Heap Scan|Seq Scan) (?:using \S+ )?on (\w+)"
)


def _dba(dsn: str) -> Conn:
    return psycopg.connect(dsn, autocommit=True)


def _monday(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _where(dba: Conn, transition_id: int) -> str:
    row = dba.execute(
        "SELECT tableoid::regclass::text FROM workflow_transitions WHERE id = %s",
        [transition_id],
    ).fetchone()
    assert row is not None
    return str(row[0])


def _log(dba: Conn, execution: UUID, at: datetime, to_status: str = "running") -> int:
    row = dba.execute(
        "INSERT INTO workflow_transitions (workflow_execution_id, to_status, at) "
        "VALUES (%s, %s, %s) RETURNING id",
        [execution, to_status, at],
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_partitions_are_made_ahead_and_listed_from_the_catalog(conn: Conn, db_dsn: str) -> None:
    parts = api.list_partitions(conn)
    assert sum(p.is_default for p in parts) == 1
    assert parts[-1].is_default and parts[-1].range_from is None
    assert api.partition_gaps(conn, horizon=timedelta(days=28)) == []
    # made ahead by migrate: this week and four after it
    last = max(p.range_to for p in parts if p.range_to is not None)
    assert last >= _monday(datetime.now(UTC)) + 5 * WEEK
    assert api.ensure_partitions(conn) == []  # all there: nothing made twice
    conn.commit()
    # A partition a DBA attached by hand, covering part of a week ahead: listed,
    # and ensure makes only the rest of that week around it.
    start = _monday(datetime.now(UTC)) + 7 * WEEK
    with _dba(db_dsn) as dba:
        dba.execute(
            "CREATE TABLE dba_made PARTITION OF workflow_transitions "
            "FOR VALUES FROM (%s) TO (%s)".replace("%s", "'{}'").format(
                start.isoformat(), (start + timedelta(days=3)).isoformat()
            )
        )
    made = api.ensure_partitions(conn, ahead=8)
    conn.commit()
    assert made == [
        f"workflow_transitions_{(start - 2 * WEEK):%Y%m%d}",
        f"workflow_transitions_{(start - WEEK):%Y%m%d}",
        f"workflow_transitions_{(start + timedelta(days=3)):%Y%m%d}",
        f"workflow_transitions_{(start + WEEK):%Y%m%d}",
    ]
    by_name = {p.name: p for p in api.list_partitions(conn)}
    assert by_name["dba_made"].range_from == start
    assert by_name["dba_made"].range_to == start + timedelta(days=3)
    rest = by_name[f"workflow_transitions_{(start + timedelta(days=3)):%Y%m%d}"]
    assert (rest.range_from, rest.range_to) == (start + timedelta(days=3), start + WEEK)
    assert api.partition_gaps(conn, horizon=timedelta(days=56)) == []
    with pytest.raises(ValueError):
        api.ensure_partitions(conn, ahead=-1)
    with pytest.raises(ValueError):
        api.ensure_partitions(conn, width=timedelta(minutes=5))


def test_no_write_fails_for_lack_of_a_partition(conn: Conn, db_dsn: str, world: World) -> None:
    run = world.execution.id
    monday = _monday(datetime.now(UTC))
    with _dba(db_dsn) as dba:
        parts = {p.name: p for p in api.list_partitions(conn)}
        week = next(p for p in parts.values() if p.range_from == monday + 2 * WEEK)
        # exactly on a boundary: the partition whose range starts there
        assert _where(dba, _log(dba, run, monday + 2 * WEEK)) == week.name
        # a moment before it: the week before
        before = _log(dba, run, monday + 2 * WEEK - timedelta(microseconds=1))
        assert _where(dba, before) != week.name
        # far past the last partition made: the DEFAULT partition takes it
        far = datetime(2031, 3, 5, 12, tzinfo=UTC)
        far_id = _log(dba, run, far)
        assert _where(dba, far_id) == "workflow_transitions_default"
        # and the week made for it later takes the row over from the DEFAULT
        made = dba.execute(
            "SELECT optiinfra_ensure_transition_partitions(0, '7 days', %s)", [far]
        ).fetchall()
        assert [r[0] for r in made] == ["workflow_transitions_20310303"]
        assert _where(dba, far_id) == "workflow_transitions_20310303"
        # a partition detached by hand leaves a hole: the DEFAULT covers it
        dba.execute(f"ALTER TABLE workflow_transitions DETACH PARTITION {week.name}")
        hole = _log(dba, run, monday + 2 * WEEK + timedelta(days=1))
        assert _where(dba, hole) == "workflow_transitions_default"
        gaps = api.partition_gaps(conn, horizon=timedelta(days=28))
        assert gaps == [(monday + 2 * WEEK, monday + 3 * WEEK)]
        conn.commit()
        dba.execute(f"DROP TABLE {week.name}")
    # the history reads every row back, wherever it landed
    history = api.Repositories(conn).workflow_executions.history(run)
    assert {far_id, hole, before} <= {t.id for t in history}


@pytest.fixture
def weekly_past(db_dsn: str) -> Iterator[Conn]:
    """The log as it is after months in production: weekly partitions from
    ten weeks ago (the first partition, holding everything up to next week,
    is replaced by them while the log is still empty)."""
    with _dba(db_dsn) as dba:
        dba.execute("ALTER TABLE workflow_transitions DETACH PARTITION workflow_transitions_first")
        dba.execute("DROP TABLE workflow_transitions_first")
        dba.execute(
            "SELECT optiinfra_ensure_transition_partitions("
            "14, '7 days', now() - interval '10 weeks')"
        )
        yield dba


def _new_run(wx: Any, world: World) -> UUID:
    """A pending cost-analysis run of the world's customer and agent."""
    run: UUID = wx.create(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=odb.WorkflowType.COST_ANALYSIS,
        )
    ).id
    return run


def _old_run(repos: Any, conn: Conn, dba: Conn, world: World, weeks: list[int]) -> UUID:
    """A run that finished ``weeks[-1]`` weeks ago, with moves logged in
    each of ``weeks`` (weeks ago) besides the ones made now."""
    wx = repos.workflow_executions
    run = _new_run(wx, world)
    wx.start(run)
    wx.complete(run)
    conn.commit()
    now = datetime.now(UTC)
    for w in weeks:
        _log(dba, run, now - w * WEEK)
    dba.execute(
        "UPDATE workflow_executions SET completed_at = %s, started_at = %s WHERE id = %s",
        [now - weeks[-1] * WEEK, now - weeks[0] * WEEK, run],
    )
    return run


def test_purge_drops_old_partitions_and_counts_as_its_dry_run(
    weekly_past: Conn, conn: Conn, repos: Any, world: World, db_dsn: str
) -> None:
    dba = weekly_past
    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    gone = [_old_run(repos, conn, dba, world, [9 - i % 2, 8 - i % 2]) for i in range(4)]
    # a run finished long ago but after the cutoff: its old moves keep week -7
    kept = _old_run(repos, conn, dba, world, [7, 5])
    live = _new_run(repos.workflow_executions, world)
    conn.commit()
    _log(dba, live, datetime.now(UTC) - 9 * WEEK)  # a pending run's old move, in week -9
    kept_log = [t.id for t in repos.workflow_executions.history(kept)]
    live_log = [t.id for t in repos.workflow_executions.history(live)]
    conn.commit()
    cutoff = datetime.now(UTC) - 6 * WEEK

    dry = api.purge(db_dsn, finished_before=cutoff, dry_run=True)
    # weeks -10 (empty) and -8 would go; the pending run's move keeps week -9
    assert dry.partitions_dropped == 2
    dba.execute(
        "DELETE FROM workflow_transitions WHERE workflow_execution_id = %s "
        "AND at < now() - interval '1 week'",
        [live],
    )
    before = {p.name for p in api.list_partitions(conn)}
    conn.commit()
    dry = api.purge(db_dsn, finished_before=cutoff, dry_run=True)
    assert {p.name for p in api.list_partitions(conn)} == before  # a dry run drops nothing
    conn.commit()
    total = dba.execute(
        "SELECT count(*) FROM workflow_transitions WHERE workflow_execution_id = ANY(%s)", [gone]
    ).fetchone()
    assert total is not None
    result = api.purge(db_dsn, finished_before=cutoff)
    # weeks -10 .. -8 go whole (-10 empty); week -7 holds the kept run's move
    assert result.partitions_dropped == dry.partitions_dropped == 3
    assert (result.executions, result.steps, result.artifacts, result.transitions) == (
        dry.executions,
        dry.steps,
        dry.artifacts,
        dry.transitions,
    )
    assert result.executions == 4 and result.transitions == total[0]
    after = {p.name for p in api.list_partitions(conn)}
    assert len(before - after) == 3 and not after - before
    left = dba.execute(
        "SELECT count(*) FROM workflow_transitions WHERE workflow_execution_id = ANY(%s)", [gone]
    ).fetchone()
    assert left == (0,)
    assert [t.id for t in repos.workflow_executions.history(kept)] == kept_log
    assert len(repos.workflow_executions.history(live)) == len(live_log) - 1
    # a write dated in a dropped week still lands (in the DEFAULT partition)
    late = _log(dba, kept, datetime.now(UTC) - 9 * WEEK)
    assert _where(dba, late) == "workflow_transitions_default"
    conn.commit()


def test_purge_finishes_a_pending_detach_and_detaches_concurrently(
    weekly_past: Conn, conn: Conn, repos: Any, world: World, db_dsn: str
) -> None:
    dba = weekly_past
    # without a DEFAULT partition, purge detaches CONCURRENTLY
    dba.execute("ALTER TABLE workflow_transitions DETACH PARTITION workflow_transitions_default")
    dba.execute("DROP TABLE workflow_transitions_default")
    repos.workflow_executions.cancel(world.execution.id)
    conn.commit()
    runs = [_old_run(repos, conn, dba, world, [9, 8]) for _ in range(2)]
    parts = sorted(
        (p for p in api.list_partitions(conn) if p.range_to is not None),
        key=lambda p: p.range_to,
    )
    conn.commit()
    victim = parts[1].name  # week -9
    # An interrupted DETACH CONCURRENTLY: its second wait (for a reader's
    # snapshot) cut short by a statement timeout leaves the detach pending.
    with _dba(db_dsn) as reader, _dba(db_dsn) as detacher:
        reader.autocommit = False
        reader.execute("SELECT count(*) FROM workflow_transitions").fetchone()
        detacher.execute("SET statement_timeout = '1s'")
        with pytest.raises(psycopg.errors.QueryCanceled):
            detacher.execute(
                f"ALTER TABLE workflow_transitions DETACH PARTITION {victim} CONCURRENTLY"
            )
        reader.rollback()
    pending = [p.name for p in api.list_partitions(conn) if p.detach_pending]
    conn.commit()
    assert pending == [victim]
    result = api.purge(db_dsn, finished_before=datetime.now(UTC) - 6 * WEEK)
    assert result.executions == 2 and result.partitions_dropped == 4
    names = {p.name for p in api.list_partitions(conn)}
    conn.commit()
    assert victim not in names and not {p.name for p in parts[:4]} & names
    assert dba.execute("SELECT to_regclass(%s)", [victim]).fetchone() == (None,)
    assert dba.execute(
        "SELECT count(*) FROM workflow_executions WHERE id = ANY(%s)", [runs]
    ).fetchone() == (0,)


def test_history_reads_only_the_partitions_that_can_hold_its_rows(
    weekly_past: Conn, conn: Conn, repos: Any, world: World, db_dsn: str
) -> None:
    dba = weekly_past
    old = _old_run(repos, conn, dba, world, [9, 8])
    new = world.execution.id
    parts = api.list_partitions(conn)
    conn.commit()
    statement = CATALOG["workflow_executions.history"].sql.replace("%(id)s", "$1")
    with dba.transaction():
        dba.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        dba.execute(SQL("PREPARE h(uuid) AS {}").format(SQL(statement)))  # type: ignore[arg-type]
        for run in (new, old):
            row = dba.execute(
                "SELECT history_from, history_until FROM workflow_executions WHERE id = %s",
                [run],
            ).fetchone()
            assert row is not None
            can_hold = {
                p.name
                for p in parts
                if not p.is_default
                and (p.range_to is None or p.range_to > row[0])
                and (p.range_from is None or p.range_from < row[1])
            }
            default = {p.name for p in parts if p.is_default}
            plan = [
                r[0]
                for r in dba.execute(
                    SQL(
                        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE h({})"
                    ).format(Literal(str(run)))
                ).fetchall()
            ]
            read = {
                m.group(1)
                for line in plan
                if "never executed" not in line
                for m in [_SCAN.search(line)]
                if m and m.group(1) in {p.name for p in parts}
            }
            # the weeks its bounds overlap (and the DEFAULT partition, unless
            # they cover the bounds): not the weeks after
            assert can_hold <= read <= can_hold | default, "\n".join(plan)
            assert len(read) < len(parts)
            if run == new:  # this week's run: this week (and the next)
                assert len(read) <= 2, "\n".join(plan)
        dba.execute("DEALLOCATE h")
    # a move outside a run's bounds widens them, in the writing transaction:
    # history still sees it; updated_at does not move for bookkeeping
    bounds = "SELECT history_from, history_until, updated_at FROM workflow_executions WHERE id = %s"
    before = dba.execute(bounds, [new]).fetchone()
    assert before is not None
    early = _log(dba, new, datetime.now(UTC) - 9 * WEEK)
    late = _log(dba, new, datetime.now(UTC) + 5 * WEEK)
    after = dba.execute(bounds, [new]).fetchone()
    assert after is not None
    assert after[0] < before[0] and after[1] > before[1] and after[2] == before[2]
    assert {early, late} <= {t.id for t in repos.workflow_executions.history(new)}
    # a DBA moving a row's time (into another partition) widens them too
    dba.execute(
        "UPDATE workflow_transitions SET at = now() + interval '12 weeks' WHERE id = %s", [late]
    )
    assert late in {t.id for t in repos.workflow_executions.history(new)}
    conn.commit()


def test_two_writers_widening_a_runs_bounds_at_once(
    conn: Conn, repos: Any, world: World, db_dsn: str
) -> None:
    """Two transactions log moves past a run's history_until at once: the
    second waits for the first's row, then widens from what it committed
    (monotone), so the bounds hold both moves and history reads both."""
    run = world.execution.id
    conn.commit()
    until = "SELECT history_until FROM workflow_executions WHERE id = %s"
    now = datetime.now(UTC)
    with _dba(db_dsn) as first, _dba(db_dsn) as second:
        first.autocommit = False
        second.autocommit = False
        ids: dict[str, int] = {}
        ids["first"] = _log(first, run, now + 5 * WEEK)  # holds the run's row
        late = threading.Thread(target=lambda: ids.update(second=_log(second, run, now + 3 * WEEK)))
        late.start()
        time.sleep(0.3)
        assert "second" not in ids  # waiting for the first's row lock
        first.commit()
        late.join(10)
        second.commit()
        bound = first.execute(until, [run]).fetchone()
        assert bound is not None and bound[0] > now + 5 * WEEK
        first.commit()
    read = {t.id for t in repos.workflow_executions.history(run)}
    assert {ids["first"], ids["second"]} <= read
    conn.commit()


def test_a_run_without_an_upper_bound_keeps_none(
    conn: Conn, repos: Any, world: World, db_dsn: str
) -> None:
    """A run made before 0027 (history_until NULL: its log unbounded above)
    that gets a move earlier than its history_from: history_from is
    lowered, history_until stays NULL (not bounded by that one move), and
    history and the delete still find its later rows."""
    run = world.execution.id
    conn.commit()
    with _dba(db_dsn) as dba:
        dba.execute("UPDATE workflow_executions SET history_until = NULL WHERE id = %s", [run])
        later = _log(dba, run, datetime.now(UTC) + 3 * WEEK)
        early = _log(dba, run, datetime.now(UTC) - 4 * WEEK)
        row = dba.execute(
            "SELECT history_from, history_until FROM workflow_executions WHERE id = %s", [run]
        ).fetchone()
        assert row is not None and row[1] is None
        assert row[0] <= datetime.now(UTC) - 4 * WEEK
        assert {early, later} <= {t.id for t in repos.workflow_executions.history(run)}
        conn.commit()
        repos.workflow_executions.delete(run)
        conn.commit()
        left = dba.execute(
            "SELECT count(*) FROM workflow_transitions WHERE workflow_execution_id = %s", [run]
        ).fetchone()
        assert left == (0,)


def _writer(dsn: str, world: World, stop: threading.Event, out: dict[str, Any]) -> None:
    """Create, start and complete runs, and read their log, until stopped (as a
    service on the release before the migration would)."""
    try:
        with api.connect(dsn) as wconn:
            wconn.autocommit = True
            wx = api.Repositories(wconn).workflow_executions
            while not stop.is_set():
                try:
                    run = _new_run(wx, world)
                    wx.start(run)
                    wx.complete(run)
                    out["runs"].append(run)
                    # the log read as the release before this one reads it
                    # (the new history() needs 0025's column)
                    read = wconn.execute(
                        "SELECT id FROM workflow_transitions "
                        "WHERE workflow_execution_id = %s ORDER BY id",
                        [run],
                    ).fetchall()
                    out["history"] += len(read)
                except odb.TransientError:
                    out["retried"] += 1
    except Exception as exc:  # the test fails on any
        out["errors"].append(repr(exc))


@pytest.mark.sync_only
def test_the_live_migration_under_traffic_and_its_rollback(
    db_dsn: str, conn: Conn, world: World
) -> None:
    """Roll back to a plain log, write under traffic while migrating again
    (0 failed calls, 0 lost rows), then roll back: every row is kept."""
    assert rollback(db_dsn, 3) == [
        "0027.history-until",
        "0026.transition-partitions",
        "0025.transition-partition-prep",
    ]
    with _dba(db_dsn) as dba:
        assert dba.execute(
            "SELECT relkind FROM pg_class WHERE oid = 'workflow_transitions'::regclass"
        ).fetchone() == ("r",)
        out: dict[str, Any] = {"runs": [], "history": 0, "retried": 0, "errors": []}
        stop = threading.Event()
        writers = [
            threading.Thread(target=_writer, args=(db_dsn, world, stop, out)) for _ in range(2)
        ]
        for t in writers:
            t.start()
        time.sleep(0.5)
        migrated = odb.migrate(db_dsn)
        time.sleep(0.5)
        stop.set()
        for t in writers:
            t.join()
        assert migrated == [
            "0025.transition-partition-prep",
            "0026.transition-partitions",
            "0027.history-until",
        ]
        assert out["errors"] == [] and out["retried"] == 0
        assert len(out["runs"]) > 10
        # each run: created pending, running, completed; all read back
        assert out["history"] == 3 * len(out["runs"])
        logged = dba.execute(
            "SELECT count(*) FROM workflow_transitions WHERE workflow_execution_id = ANY(%s)",
            [out["runs"]],
        ).fetchone()
        assert logged == (3 * len(out["runs"]),)
        assert dba.execute(
            "SELECT relkind FROM pg_class WHERE oid = 'workflow_transitions'::regclass"
        ).fetchone() == ("p",)
        everything = dba.execute("SELECT count(*), max(id) FROM workflow_transitions").fetchone()
        assert everything is not None
        # rows in a later week and in the DEFAULT partition too
        run = out["runs"][0]
        _log(dba, run, datetime.now(UTC) + 2 * WEEK)
        _log(dba, run, datetime(2031, 1, 1, tzinfo=UTC))
        assert rollback(db_dsn, 3) == [
            "0027.history-until",
            "0026.transition-partitions",
            "0025.transition-partition-prep",
        ]
        assert dba.execute(
            "SELECT relkind FROM pg_class WHERE oid = 'workflow_transitions'::regclass"
        ).fetchone() == ("r",)
        assert dba.execute("SELECT count(*) FROM workflow_transitions").fetchone() == (
            everything[0] + 2,
        )
        # identity continues after the highest id
        next_id = _log(dba, run, datetime.now(UTC))
        assert next_id > everything[0] and next_id > everything[1]
        assert odb.migrate(db_dsn)[-1] == "0027.history-until"


@pytest.mark.sync_only
def test_the_partitions_commands_and_verify(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    from optiinfra_db.cli import main

    def run(*argv: str) -> tuple[int, str]:
        try:
            code = main([*argv, "--database-url", db_dsn])
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, capsys.readouterr().out

    code, out = run("partitions", "list", "--json")
    listed = json.loads(out)["partitions"]
    assert code == 0 and listed[-1]["is_default"] and listed[0]["range_from"] is None
    assert {"name", "range_from", "range_to", "rows_estimate", "total_bytes"} <= set(listed[0])
    code, out = run("verify")
    assert code == 0 and "partitions:" in out
    # a week ahead detached by hand: verify names the gap, ensure fills it
    week = next(p for p in listed if p["range_from"] and not p["is_default"])["name"]
    with _dba(db_dsn) as dba:
        dba.execute(f"ALTER TABLE workflow_transitions DETACH PARTITION {week}")
        dba.execute(f"DROP TABLE {week}")
    code, out = run("verify")
    assert code == 1 and "workflow_transitions: no partition for" in out
    code, _ = run("partitions", "ensure", "--ahead", "6")
    assert code == 0
    code, out = run("partitions", "list")
    assert code == 0 and week in out and "DEFAULT" in out
    assert run("verify")[0] == 0
    code, _ = run("partitions", "ensure", "--ahead", "0")
    assert code != 0  # refused: 1..520


def test_the_log_keys_are_kept_by_triggers(
    conn: Conn, repos: Any, world: World, db_dsn: str
) -> None:
    """The log's foreign keys to workflow_executions are triggers since 0026:
    a row for no execution, or for another customer's, is refused as a key
    would refuse it; deleting runs (or their customer) takes their log, in
    every partition; and a partition is not readable around the parent."""
    run = world.execution.id
    other = repos.customers.create(
        odb.CustomerCreate(name="Other", email="o@other.test", api_key=odb.new_api_key())
    )
    conn.commit()
    with _dba(db_dsn) as dba:
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as missing:
            _log(dba, UUID(int=7), datetime.now(UTC))
        assert missing.value.diag.constraint_name == "fk_workflow_transitions_execution"
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as foreign:
            dba.execute(
                "INSERT INTO workflow_transitions (workflow_execution_id, to_status, customer_id)"
                " VALUES (%s, 'running', %s)",
                [run, other.id],
            )
        assert foreign.value.diag.constraint_name == "fk_workflow_transitions_execution_customer"
        placed = [
            _log(dba, run, datetime.now(UTC) - 3 * WEEK),  # before history_from: lowers it
            _log(dba, run, datetime(2031, 1, 1, tzinfo=UTC)),  # the DEFAULT partition
        ]
        assert _where(dba, placed[1]) == "workflow_transitions_default"
        count = "SELECT count(*) FROM workflow_transitions WHERE workflow_execution_id = %s"
        assert dba.execute(count, [run]).fetchone() == (3,)
        repos.workflow_executions.delete(run)
        conn.commit()
        assert dba.execute(count, [run]).fetchone() == (0,)
        # a customer's deletion cascades to its runs, and the runs to their log
        second = _new_run(repos.workflow_executions, world)
        conn.commit()
        _log(dba, second, datetime.now(UTC) - 2 * WEEK)
        repos.customers.delete(world.customer.id)
        conn.commit()
        assert dba.execute(count, [second]).fetchone() == (0,)
        privileges = dba.execute(
            "SELECT p.partition_name,"
            " has_table_privilege('optiinfra_app', p.partition_name, 'SELECT'),"
            " has_table_privilege('optiinfra_readonly', p.partition_name, 'SELECT')"
            " FROM optiinfra_transition_partitions() AS p"
        ).fetchall()
        assert privileges and all(not app and not ro for _, app, ro in privileges)
