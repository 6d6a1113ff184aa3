"""Trust at the edges (issue #6): what validates reads back, bad input is a
ValidationError before SQL, faults become named errors, nothing is lost."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql as pgsql
from psycopg.types.json import Jsonb
from pydantic import ValidationError

import optiinfra_db as odb
from optiinfra_db.health import verify
from optiinfra_db.migrate import migrate, pending_migrations, rollback
from optiinfra_db.schema import MIGRATION_IDS
from tests.conftest import World
from tests.sides import api

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]


@pytest.fixture
def closed_repos(db_dsn: str) -> odb.Repositories:
    """Any SQL sent on a closed connection raises OperationalError: a
    ValidationError here proves nothing was sent."""
    conn = api.connect(db_dsn)
    conn.close()
    return api.Repositories(conn)


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def _agent(**kw: Any) -> odb.AgentCreate:
    return odb.AgentCreate(type=odb.AgentType.COST, name=kw.pop("name", "a"), **kw)


# --------------------------------------------------------------------- read back


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "Pacific/Kiritimati", "America/Adak", "UTC"])
def test_extreme_timestamps_read_back_on_any_session_time_zone(raw_conn: Any, zone: str) -> None:
    conn = raw_conn  # a plain connection, not the library's
    conn.execute(pgsql.SQL("SET TimeZone TO {}").format(pgsql.Literal(zone)))
    repos = api.Repositories(conn)
    for moment in (
        odb.fieldtypes.MIN_TIMESTAMP,
        odb.fieldtypes.MAX_TIMESTAMP,
        datetime(1900, 1, 1, tzinfo=UTC),  # +00:19:32 in Amsterdam's local mean time
    ):
        agent = repos.agents.create(_agent(name=f"a{moment.year}", last_heartbeat=moment))
        assert repos.agents.get(agent.id) == agent
        assert agent.last_heartbeat == moment


@pytest.mark.parametrize("style", ["SQL, DMY", "German", "Postgres, MDY", "ISO, DMY"])
def test_records_read_back_on_any_session_date_style(raw_conn: Any, style: str) -> None:
    """Lists and streams assemble each row's JSON from the columns' text,
    which DateStyle shapes: a caller's session on another style reads the
    same records (the library sets ISO first, as it sets UTC)."""
    conn = raw_conn
    conn.execute(pgsql.SQL("SET DateStyle TO {}").format(pgsql.Literal(style)))
    repos = api.Repositories(conn)
    moment = datetime(2026, 12, 5, 13, 14, 15, 123456, tzinfo=UTC)
    agent = repos.agents.create(_agent(name=f"ds {style}", last_heartbeat=moment))
    conn.execute(pgsql.SQL("SET DateStyle TO {}").format(pgsql.Literal(style)))
    listed = [a for a in repos.agents.list(limit=1000) if a.id == agent.id]
    assert listed == [agent] and listed[0].last_heartbeat == moment
    assert conn.info.parameter_status("DateStyle").startswith("ISO")


def test_an_offset_with_seconds_keeps_its_instant(repos: odb.Repositories) -> None:
    from zoneinfo import ZoneInfo

    moment = datetime(1900, 6, 1, 12, tzinfo=ZoneInfo("Europe/Amsterdam"))  # LMT +00:19:32
    agent = repos.agents.create(_agent(last_heartbeat=moment))
    assert agent.last_heartbeat == moment
    read = repos.agents.get(agent.id)
    assert read is not None and read.last_heartbeat == moment


@pytest.mark.sync_only  # migrations / validation only: no async twin
@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+05:00",  # 1 BC in UTC
        "9999-12-31T23:00:00-05:00",  # year 10000 in UTC
        "0001-01-01T12:00:00+00:00",  # 1 BC in any zone west of UTC
        "9999-12-31T12:00:00+00:00",
    ],
)
def test_timestamps_outside_the_readable_range_are_refused(moment: str) -> None:
    with pytest.raises(ValidationError, match="0001-01-02 and 9999-12-30"):
        _agent(last_heartbeat=datetime.fromisoformat(moment))


def test_json_depth_is_bounded_and_the_bound_reads_back(repos: odb.Repositories) -> None:
    agent = repos.agents.create(_agent(metadata=_deep(odb.fieldtypes.MAX_JSON_DEPTH)))
    assert repos.agents.get(agent.id) == agent
    with pytest.raises(ValidationError, match="at most 64 levels"):
        _agent(metadata=_deep(odb.fieldtypes.MAX_JSON_DEPTH + 1))


def test_a_row_that_cannot_be_decoded_names_table_and_id(
    repos: odb.Repositories, conn: Conn, world: World
) -> None:
    # Written behind the library's back, as a DBA's psql session could.
    conn.execute(
        "UPDATE workflow_executions SET metadata = %s::jsonb WHERE id = %s",
        ["[" * 300 + "]" * 300, world.execution.id],
    )
    conn.execute("UPDATE workflow_executions SET metadata = '[]' WHERE false")
    for call in (
        lambda: repos.workflow_executions.get(world.execution.id),
        lambda: repos.workflow_executions.list_for_customer(world.customer.id),
        lambda: repos.workflow_executions.get_detail(world.execution.id),
    ):
        with pytest.raises(odb.RowDecodeError) as caught:
            call()
        assert caught.value.table == "workflow_executions"
        assert str(world.execution.id) in str(caught.value)


def test_infinite_or_huge_values_written_behind_the_librarys_back_name_the_row(
    repos: odb.Repositories, conn: Conn, world: World
) -> None:
    """Each row's JSON is assembled on the client: what the records refuse
    (an infinite timestamp) still fails as RowDecodeError naming the row, on
    a get, a list, a stream, and a page of large rows (parsed before it is
    validated)."""
    conn.execute(
        "UPDATE workflow_executions SET started_at = 'infinity', input_data = %s WHERE id = %s",
        [Jsonb({"pad": "x" * 5000}), world.execution.id],
    )
    for call in (
        lambda: repos.workflow_executions.get(world.execution.id),
        lambda: repos.workflow_executions.list_for_customer(world.customer.id),
        lambda: list(repos.workflow_executions.iter_for_customer(world.customer.id)),
    ):
        with pytest.raises(odb.RowDecodeError) as caught:
            call()
        assert caught.value.table == "workflow_executions"
        assert str(world.execution.id) in str(caught.value)
        assert "started_at" in str(caught.value)


@pytest.mark.sync_only  # a sync pool of the caller's; the async twin runs the same code
def test_a_pool_of_the_callers_own_on_another_zone_and_date_style(
    db_dsn: str, world: World
) -> None:
    from psycopg_pool import ConnectionPool

    options = "-c TimeZone=Asia/Kathmandu -c DateStyle=SQL,DMY"
    with (
        ConnectionPool(db_dsn, kwargs={"options": options}, min_size=1, max_size=1) as pool,
        pool.connection() as c,
    ):
        repos = api.Repositories(c)
        assert repos.workflow_executions.get(world.execution.id) == world.execution
        listed = repos.workflow_executions.list_for_customer(world.customer.id)
        assert listed == [world.execution]
        streamed = list(repos.workflow_executions.iter_for_customer(world.customer.id))
        assert streamed == [world.execution]


# --------------------------------------------------------------- bad input types


SURROGATE = "bad\ud800text"


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.agents.create(_agent(name=SURROGATE)),
        lambda r: r.agents.create(_agent(metadata={"k": SURROGATE})),
        lambda r: r.agents.create(_agent(metadata={SURROGATE: 1})),
        lambda r: r.customers.get_by_api_key("k" * 10 + SURROGATE),
        lambda r: r.customers.get_by_api_key("k" * 16 + "\x00"),
        lambda r: r.agents.create(_agent(metadata=_deep(1000))),
        lambda r: r.agents.create(_agent(metadata={"n": 10**5000})),
        lambda r: r.agents.create(_agent(metadata={"n": 2**63})),
        lambda r: r.agents.create(_agent(metadata={"f": 1e16})),
        lambda r: r.agents.create(_agent(metadata={"f": 1e308})),
        lambda r: r.agents.create(_agent(metadata={"f": -0.0})),
        lambda r: r.workflow_steps.bulk_create(
            [
                odb.WorkflowStepCreate(
                    workflow_execution_id=uuid4(), step_name="s", step_order=1, metadata={"x": s}
                )
                for s in ("ok", SURROGATE)
            ]
        ),
        lambda r: r.agents.list(after="not-a-token"),
        lambda r: r.agents.list(after="@@@"),
        lambda r: r.agents.list(after=42),
        lambda r: r.workflow_executions.list(after=object()),
        lambda r: r.agents.merge_metadata(uuid4(), {"k": SURROGATE}),
        lambda r: r.agents.update(uuid4(), odb.AgentUpdate(name="x"), expected_updated_at="x"),
    ],
)
def test_bad_input_is_a_validation_error_before_any_sql(
    closed_repos: odb.Repositories, call: Any
) -> None:
    with pytest.raises(ValidationError):
        call(closed_repos)


def test_a_record_or_token_of_another_table_is_not_a_cursor(
    repos: odb.Repositories, world: World, closed_repos: odb.Repositories
) -> None:
    with pytest.raises(ValidationError, match="WorkflowExecution"):
        closed_repos.workflow_executions.list(after=world.agent)
    with pytest.raises(ValidationError, match="Agent records"):
        closed_repos.workflow_executions.list(after=odb.page_token(world.agent))
    # The right ones still page.
    assert repos.workflow_executions.list(after=world.execution) == []
    assert repos.workflow_executions.list(after=odb.page_token(world.execution)) == []


def test_json_numbers_that_jsonb_keeps_read_back_exactly(repos: odb.Repositories) -> None:
    values = {
        "big": 2**63 - 1,
        "small": -(2**63),
        "f": 9.999999999999998e15,
        "tiny": 5e-324,
        "half": 0.5,
        "one": 1.0,
        "e": 1.2345678901234567e-300,
    }
    agent = repos.agents.create(_agent(metadata=values))
    read = repos.agents.get(agent.id)
    assert read is not None and read.metadata == values
    assert all(type(read.metadata[k]) is type(v) for k, v in values.items())


# ------------------------------------------------------------------- lost updates


def test_optimistic_update_refuses_a_moved_row(repos: odb.Repositories, world: World) -> None:
    first = repos.workflow_executions.get(world.execution.id)
    assert first is not None
    repos.workflow_executions.update(
        first.id,
        odb.WorkflowExecutionUpdate(metadata={"a": 1}),
        expected_updated_at=first.updated_at,
    )
    with pytest.raises(odb.ConflictError, match="changed since it was read"):
        repos.workflow_executions.update(
            first.id,
            odb.WorkflowExecutionUpdate(metadata={"b": 2}),
            expected_updated_at=first.updated_at,
        )
    now = repos.workflow_executions.get(first.id)
    assert now is not None and now.metadata == {"a": 1}  # nothing written, tx usable
    with pytest.raises(odb.NotFoundError):
        repos.workflow_executions.update(
            uuid4(), odb.WorkflowExecutionUpdate(metadata={}), expected_updated_at=first.updated_at
        )


def test_concurrent_metadata_merges_lose_nothing(db_dsn: str, world: World) -> None:
    def worker(n: int) -> None:
        with api.connect(db_dsn, autocommit=True) as c:
            repos = api.Repositories(c)
            for i in range(25):
                repos.workflow_executions.merge_metadata(world.execution.id, {f"w{n}_{i}": i})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with api.connect(db_dsn) as c:
        run = api.Repositories(c).workflow_executions.get(world.execution.id)
    assert run is not None and len(run.metadata) == 100


def test_a_finished_executions_result_is_not_rewritten(
    repos: odb.Repositories, world: World
) -> None:
    ex = repos.workflow_executions
    ex.start(world.execution.id)
    done = ex.complete(world.execution.id, {"answer": 42})
    for change in (
        odb.WorkflowExecutionUpdate(output_data={"answer": 0}),
        odb.WorkflowExecutionUpdate(error_details={"oops": True}),
    ):
        with pytest.raises(odb.ConflictError, match="completed"):
            ex.update(done.id, change)
    assert ex.update(done.id, odb.WorkflowExecutionUpdate(metadata={"note": 1})).metadata == {
        "note": 1
    }
    read = ex.get(done.id)
    assert read is not None and read.output_data == {"answer": 42} and read.error_details is None


# ------------------------------------------------------------------------ secrets


@pytest.mark.sync_only  # migrations / validation only: no async twin
@pytest.mark.parametrize(
    "call",
    [
        lambda: odb.CustomerCreate(name="x", email="a@b.c", api_key="fifteen-chars!!"),
        lambda: odb.CustomerCreate(name="x", email="a@b.c", api_key="fifteen-chars!!\x00x"),
        lambda: odb.CustomerCreate(name="x", email="bad", api_key="fifteen-chars!!"),
        lambda: odb.Repositories.__new__(odb.Repositories),  # placeholder, replaced below
    ][:3],
)
def test_api_key_never_in_error_messages(call: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        call()
    assert "fifteen-chars" not in str(caught.value)
    assert "fifteen-chars" not in caught.value.json(include_input=False)


def test_api_key_one_validator_for_create_rotate_and_lookup(
    closed_repos: odb.Repositories, world: World
) -> None:
    for call in (
        lambda: closed_repos.customers.rotate_api_key(world.customer.id, "fifteen-chars!!"),
        lambda: closed_repos.customers.get_by_api_key("fifteen-chars!!"),
        lambda: closed_repos.customers.get_by_api_key("fifteen-chars!!" + "\x00x"),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert "fifteen-chars" not in str(caught.value)
        assert "16 to 1024 characters" in str(caught.value) or "NUL" in str(caught.value)


def test_stored_api_key_hash_is_keyed(repos: odb.Repositories, conn: Conn) -> None:
    import hashlib

    key = odb.new_api_key()
    customer = repos.customers.create(odb.CustomerCreate(name="k", email="k@k.k", api_key=key))
    stored = conn.execute("SELECT api_key_hash FROM customers WHERE id = %s", [customer.id])
    value = stored.fetchone()
    assert value is not None and value[0] != hashlib.sha256(key.encode()).hexdigest()
    assert repos.customers.get_by_api_key(key) == customer


# ----------------------------------------------------------- connections and faults


def test_library_connections_pin_utc_and_set_timeouts(db_dsn: str) -> None:
    with api.connect(db_dsn) as conn:
        assert conn.info.parameter_status("TimeZone") == "UTC"
        got = (
            conn.execute("SHOW statement_timeout").fetchone(),
            conn.execute("SHOW lock_timeout").fetchone(),
        )
        assert got == (("30s",), ("5s",))
        assert conn.prepare_threshold == 5  # direct connection: statements are prepared
    with api.connect(db_dsn, prepare=False, statement_timeout=None, lock_timeout=1.5) as conn:
        assert conn.prepare_threshold is None
        assert conn.execute("SHOW lock_timeout").fetchone() == ("1500ms",)


def test_lock_wait_gives_up_with_a_named_retry_safe_error(
    db_dsn: str, world: World, conn: Conn
) -> None:
    repos = api.Repositories(conn)
    repos.workflow_executions.start(world.execution.id)
    conn.commit()
    with api.connect(db_dsn) as holder:
        holder.execute(
            "SELECT 1 FROM workflow_executions WHERE id = %s FOR UPDATE", [world.execution.id]
        )
        with api.connect(db_dsn, lock_timeout=0.2) as waiter:
            began = time.monotonic()
            with pytest.raises(odb.LockTimeoutError) as caught:
                api.Repositories(waiter).workflow_executions.complete(world.execution.id)
            assert time.monotonic() - began < 3
            assert caught.value.retry_safe
            waiter.rollback()
        with (
            api.connect(db_dsn, statement_timeout=0.2, lock_timeout=None) as waiter,
            pytest.raises(odb.QueryCanceledError),
        ):
            api.Repositories(waiter).workflow_executions.complete(world.execution.id)
        holder.rollback()
    # Nothing was lost: the row is still running and can be completed now.
    assert (
        repos.workflow_executions.complete(world.execution.id).status
        == odb.WorkflowStatus.COMPLETED
    )


def test_deadlock_and_serialization_failures_are_named(db_dsn: str, world: World) -> None:
    with api.connect(db_dsn) as setup:
        other = api.Repositories(setup).workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.HEALTH_CHECK,
            )
        )
        setup.commit()
    ids = [world.execution.id, other.id]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def cross(first: int) -> None:
        with api.connect(db_dsn, lock_timeout=None) as c:
            repos = api.Repositories(c)
            try:
                repos.workflow_executions.merge_metadata(ids[first], {"a": 1})
                barrier.wait()
                repos.workflow_executions.merge_metadata(ids[1 - first], {"b": 1})
                c.commit()
            except odb.RepositoryError as exc:
                errors.append(exc)
                c.rollback()

    threads = [threading.Thread(target=cross, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1 and isinstance(errors[0], odb.DeadlockError)
    assert errors[0].retry_safe

    with api.connect(db_dsn) as a, api.connect(db_dsn) as b:
        a.isolation_level = b.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        ra, rb = api.Repositories(a), api.Repositories(b)
        ra.workflow_executions.get(ids[0])
        rb.workflow_executions.get(ids[0])
        ra.workflow_executions.merge_metadata(ids[0], {"a": 2})
        a.commit()
        with pytest.raises(odb.SerializationError):
            rb.workflow_executions.merge_metadata(ids[0], {"b": 2})


def test_terminated_backend_is_connection_lost_and_leaves_no_partial_rows(
    db_dsn: str, world: World
) -> None:
    with api.connect(db_dsn) as victim, api.connect(db_dsn, autocommit=True) as killer:
        repos = api.Repositories(victim)
        repos.workflow_steps.create(
            odb.WorkflowStepCreate(
                workflow_execution_id=world.execution.id, step_name="a", step_order=1
            )
        )
        killer.execute("SELECT pg_terminate_backend(%s)", [victim.info.backend_pid])
        with pytest.raises(odb.ConnectionLostError) as caught:
            repos.workflow_steps.list_for_execution(world.execution.id)
        assert caught.value.retry_safe  # it was inside a transaction: nothing committed
    with api.connect(db_dsn) as check:
        assert api.Repositories(check).workflow_steps.list_for_execution(world.execution.id) == []


def test_backend_terminated_mid_copy_leaves_nothing(db_dsn: str, world: World) -> None:
    steps = [
        odb.WorkflowStepCreate(
            workflow_execution_id=world.execution.id, step_name="s", step_order=i
        )
        for i in range(1, 200_001)
    ]
    with api.connect(db_dsn) as victim, api.connect(db_dsn, autocommit=True) as killer:
        pid = victim.info.backend_pid
        timer = threading.Timer(
            0.3, lambda: killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        )
        timer.start()
        with pytest.raises((odb.ConnectionLostError, psycopg.OperationalError)):
            api.Repositories(victim).workflow_steps.bulk_create(steps)
            victim.commit()
        timer.join()
    with api.connect(db_dsn) as check:
        assert api.Repositories(check).workflow_steps.list_for_execution(world.execution.id) == []


def test_pool_heals_after_its_connections_die(db_dsn: str, world: World) -> None:
    """What a server restart does to an idle pool: every connection is dead."""
    with api.create_pool(db_dsn, min_size=3, max_size=3) as pool:
        pool.wait()
        pids = []
        for _ in range(3):
            with pool.connection() as c:
                pids.append(c.info.backend_pid)
        with psycopg.connect(db_dsn, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
        time.sleep(0.2)
        failures = 0
        for _ in range(10):
            try:
                with pool.connection() as c:
                    assert api.Repositories(c).workflow_executions.get(world.execution.id)
            except (psycopg.Error, odb.RepositoryError):
                failures += 1
        assert failures == 0


def test_a_healthy_idle_connection_is_lent_without_a_round_trip(db_dsn: str) -> None:
    """The pools' check (``check_lent``) polls the socket: the server hears
    nothing from a lend (its backend's state_change stays put), unlike
    psycopg's check_connection, which sends an empty query every lend."""
    with (
        api.create_pool(db_dsn, min_size=1, max_size=1) as pool,
        psycopg.connect(db_dsn, autocommit=True) as watcher,
    ):
        with pool.connection() as c:
            pid = c.info.backend_pid
        time.sleep(0.05)
        seen = "SELECT state_change FROM pg_stat_activity WHERE pid = %s"
        before = watcher.execute(seen, [pid]).fetchone()
        for _ in range(3):
            with pool.connection() as c:
                assert c.info.backend_pid == pid
        assert watcher.execute(seen, [pid]).fetchone() == before


def test_a_recreated_schema_does_not_break_pooled_connections(db_dsn: str, world: World) -> None:
    with api.create_pool(db_dsn, min_size=1, max_size=1) as pool:
        with pool.connection() as c:
            assert api.Repositories(c).workflow_executions.get(world.execution.id)
        rollback(db_dsn, steps=None, drop_data=True)
        migrate(db_dsn)  # every enum type now has a new id
        with pool.connection() as c:
            repos = api.Repositories(c)
            agent = repos.agents.create(_agent(status=odb.AgentStatus.HEALTHY))
            assert repos.agents.list(status=odb.AgentStatus.HEALTHY) == [agent]
            assert c.execute("SELECT %s::text", [odb.AgentStatus.HEALTHY]).fetchone() == (
                "healthy",
            )


# ------------------------------------------------------------------- migrations


@pytest.mark.sync_only  # migrations / validation only: no async twin
def test_rollback_refuses_to_drop_tables_holding_rows(db_dsn: str, world: World) -> None:
    with pytest.raises(odb.RollbackRefusedError) as caught:
        rollback(db_dsn, steps=None)
    assert "workflow_executions" in caught.value.tables and "customers" in caught.value.tables
    assert "workflow_transitions" in caught.value.tables
    assert pending_migrations(db_dsn) == []  # nothing was rolled back
    # the newest down to 0008 drop no table: those steps are allowed; 0007 would drop the log.
    later = list(MIGRATION_IDS[MIGRATION_IDS.index("0008.runtime-indexes") :])
    assert rollback(db_dsn, steps=len(later)) == list(reversed(later))
    with pytest.raises(odb.RollbackRefusedError):
        rollback(db_dsn, steps=1)
    assert rollback(db_dsn, steps=1, drop_data=True) == ["0007.workflow-runtime"]
    assert rollback(db_dsn, steps=2) == ["0006.plan-stability", "0005.live-safe-followups"]


@pytest.mark.sync_only  # migrations / validation only: no async twin
@pytest.mark.parametrize(
    ("migration", "table"),
    [
        ("0003.workflow-history", "agent_states"),
        ("0004.index-review", "workflow_executions"),
        ("0005.live-safe-followups", "agent_states"),
        ("0006.plan-stability", "workflow_executions"),
        ("0007.workflow-runtime", "workflow_executions"),
        ("0008.runtime-indexes", "workflow_executions"),
        ("0009.operator-indexes", "workflow_executions"),
        ("0010.optimization-owner", "recommendations"),
        ("0010.optimization-owner", "optimizations"),
        ("0011.customer-on-children", "workflow_steps"),
        ("0012.customer-on-children-backfill", "workflow_steps"),
        ("0012.customer-on-children-backfill", "approvals"),
        ("0013.tenant-isolation", "workflow_executions"),
        ("0014.tenant-indexes", "workflow_steps"),
        ("0015.platform-read-only", "agent_states"),
        ("0016.transition-writer", "workflow_transitions"),
        ("0017.transition-writer-index", "workflow_transitions"),
        ("0019.transition-actor", "workflow_transitions"),
        ("0020.first-start-and-restarts", "workflow_executions"),
        ("0020.first-start-and-restarts", "workflow_steps"),
        ("0021.first-start-backfill", "workflow_executions"),
    ],
)
def test_migration_under_a_held_lock_fails_fast_without_stalling_others(
    db_dsn: str, migration: str, table: str
) -> None:
    ids = list(MIGRATION_IDS)
    later = ids[ids.index(migration) :]
    assert rollback(db_dsn, steps=len(later)) == list(reversed(later))
    statement = pgsql.SQL("SELECT count(*) FROM {}").format(pgsql.Identifier(table))
    column = "reason" if table == "workflow_transitions" else "updated_at"
    write = pgsql.SQL("UPDATE {} SET {} = {} WHERE false").format(
        pgsql.Identifier(table), pgsql.Identifier(column), pgsql.Identifier(column)
    )
    with psycopg.connect(db_dsn) as holder:
        holder.execute(write)  # an open transaction holding ROW EXCLUSIVE on the table
        outcome: dict[str, Any] = {}

        def apply() -> None:
            began = time.monotonic()
            try:
                migrate(db_dsn)
            except Exception as exc:  # yoyo re-raises the driver's error
                outcome["error"] = exc
            outcome["seconds"] = time.monotonic() - began

        thread = threading.Thread(target=apply)
        thread.start()
        time.sleep(0.5)  # the migration is now waiting for its lock
        began = time.monotonic()
        with psycopg.connect(db_dsn, autocommit=True) as other:
            other.execute(statement)
        reader_waited = time.monotonic() - began
        thread.join(timeout=30)
        holder.rollback()
    assert isinstance(outcome.get("error"), psycopg.errors.LockNotAvailable), outcome
    assert outcome["seconds"] < 5  # lock_timeout is 2 s
    assert reader_waited < 3  # others were never queued longer than the lock_timeout
    assert pending_migrations(db_dsn)[0] == migration  # not recorded as applied
    assert migrate(db_dsn) == pending_migrations(db_dsn) or pending_migrations(db_dsn) == []
    assert pending_migrations(db_dsn) == []
    # applied again after being cut off: every index valid, and verify agrees
    with psycopg.connect(db_dsn) as conn:
        invalid = conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid"
        ).fetchall()
        assert invalid == []
        assert verify(conn).passed, verify(conn).problems


def _since(migration: str) -> int:
    """How many rollback steps undo ``migration`` and every later one."""
    return len(MIGRATION_IDS) - MIGRATION_IDS.index(migration)


@pytest.mark.sync_only  # migrations / validation only: no async twin
def test_0010_refuses_a_mismatched_optimization_and_applies_once_it_is_fixed(
    empty_db_dsn: str,
) -> None:
    migrate(empty_db_dsn)
    assert rollback(empty_db_dsn, steps=_since("0010.optimization-owner"))[-1] == (
        "0010.optimization-owner"
    )
    with psycopg.connect(empty_db_dsn) as conn:  # a row 0009 allowed: A's optimization, B's rec
        a, b = (
            conn.execute(
                "INSERT INTO customers (name, email, api_key_hash)"
                " VALUES (%s, %s, %s) RETURNING id",
                (name, f"{name}@x.test", name * 64),
            ).fetchone()[0]  # type: ignore[index]
            for name in ("a", "b")
        )
        agent = conn.execute(
            "INSERT INTO agents (type, name) VALUES ('cost', 'c') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        rec = conn.execute(
            "INSERT INTO recommendations (customer_id, agent_id, type, title, confidence_score)"
            " VALUES (%s, %s, 'right_sizing', 't', 0.5) RETURNING id",
            (b, agent),
        ).fetchone()[0]  # type: ignore[index]
        opt = conn.execute(
            "INSERT INTO optimizations (recommendation_id, customer_id, agent_id)"
            " VALUES (%s, %s, %s) RETURNING id",
            (rec, a, agent),
        ).fetchone()[0]  # type: ignore[index]
    with pytest.raises(Exception, match="fk_optimizations_recommendation_customer"):
        migrate(empty_db_dsn)
    assert pending_migrations(empty_db_dsn)[0] == "0010.optimization-owner"
    with psycopg.connect(empty_db_dsn) as conn:
        conn.execute("UPDATE optimizations SET customer_id = %s WHERE id = %s", (b, opt))
    assert migrate(empty_db_dsn)[0] == "0010.optimization-owner"
    with psycopg.connect(empty_db_dsn) as conn:
        (valid,) = conn.execute(
            "SELECT convalidated FROM pg_constraint"
            " WHERE conname = 'fk_optimizations_recommendation_customer'"
        ).fetchone()  # type: ignore[misc]
    assert valid


@pytest.mark.sync_only  # migrations only: no async twin
def test_0011_0012_give_existing_child_rows_their_customer_without_touching_them(
    empty_db_dsn: str,
) -> None:
    """Rows written before 0011 (no customer_id) get their parent's customer
    from 0012's batched backfill; updated_at stays what it was (optimistic
    concurrency tokens survive), and the rules hold afterwards."""
    migrate(empty_db_dsn)
    assert rollback(empty_db_dsn, steps=_since("0011.customer-on-children"))[-1] == (
        "0011.customer-on-children"
    )
    with psycopg.connect(empty_db_dsn) as conn:
        customer = conn.execute(
            "INSERT INTO customers (name, email, api_key_hash) VALUES ('a', 'a@x.test', %s)"
            " RETURNING id",
            ("a" * 64,),
        ).fetchone()[0]  # type: ignore[index]
        agent = conn.execute(
            "INSERT INTO agents (type, name) VALUES ('cost', 'c') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        run = conn.execute(
            "INSERT INTO workflow_executions (agent_id, customer_id, workflow_type)"
            " VALUES (%s, %s, 'cost_analysis') RETURNING id",
            (agent, customer),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(  # more than one batch of 5,000
            "INSERT INTO workflow_steps (workflow_execution_id, step_name, step_order)"
            " SELECT %s, 's' || n, n FROM generate_series(1, 12001) AS n",
            (run,),
        )
        rec = conn.execute(
            "INSERT INTO recommendations (customer_id, agent_id, type, title, confidence_score)"
            " VALUES (%s, %s, 'right_sizing', 't', 0.5) RETURNING id",
            (customer, agent),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO approvals (recommendation_id, approved_by) VALUES (%s, 'x')", (rec,)
        )
        conn.execute(
            "INSERT INTO workflow_artifacts (workflow_execution_id, artifact_type, artifact_name,"
            " artifact_path) VALUES (%s, 'report', 'r', 's3://r')",
            (run,),
        )
        stamps = conn.execute("SELECT id, updated_at FROM workflow_steps ORDER BY id").fetchall()
    assert migrate(empty_db_dsn)[:2] == [
        "0011.customer-on-children",
        "0012.customer-on-children-backfill",
    ]
    with psycopg.connect(empty_db_dsn) as conn:
        for table in ("workflow_steps", "workflow_artifacts", "workflow_transitions", "approvals"):
            missing, wrong = conn.execute(
                f"SELECT count(*) FILTER (WHERE customer_id IS NULL),"
                f" count(*) FILTER (WHERE customer_id <> %s) FROM {table}",
                (customer,),
            ).fetchone()  # type: ignore[misc]
            assert (missing, wrong) == (0, 0), table
        assert (
            conn.execute("SELECT id, updated_at FROM workflow_steps ORDER BY id").fetchall()
            == stamps
        )
        assert conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conname LIKE '%%customer%%'"
            " AND NOT convalidated"
        ).fetchone() == (0,)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # a step of another customer
            other = conn.execute(
                "INSERT INTO customers (name, email, api_key_hash) VALUES ('b', 'b@x.test', %s)"
                " RETURNING id",
                ("b" * 64,),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO workflow_steps (workflow_execution_id, customer_id, step_name,"
                " step_order) VALUES (%s, %s, 'x', 99999)",
                (run, other),
            )


def test_a_negative_zero_reads_back_as_it_validated(repos: odb.Repositories, world: World) -> None:
    """-0.0 validates as 0.0 (numeric has no negative zero, and a double's -0
    comes back through JSON as the integer 0), so the record and the row agree."""
    import math

    data = odb.AgentMetricCreate(agent_id=world.agent.id, metric_name="cpu", metric_value=-0.0)
    stored = repos.agent_metrics.create(data)
    read = repos.agent_metrics.get(stored.id)
    assert read is not None
    for value in (data.metric_value, stored.metric_value, read.metric_value):
        assert math.copysign(1.0, value) == 1.0
    rec = odb.RecommendationCreate(
        customer_id=world.customer.id,
        agent_id=world.agent.id,
        type=odb.RecommendationType.RIGHT_SIZING,
        title="t",
        confidence_score=-0.0,
    )
    back = repos.recommendations.create(rec)
    assert math.copysign(1.0, back.confidence_score) == math.copysign(1.0, rec.confidence_score)


def test_a_key_collision_carries_no_hash_in_its_error_or_its_log(
    repos: odb.Repositories, world: World, conn: Any
) -> None:
    """The unique violation's detail shows the stored hash: the domain error is
    raised unchained, so a logged traceback does not carry it."""
    import traceback

    key = odb.new_api_key()
    repos.customers.rotate_api_key(world.customer.id, key)
    conn.commit()
    with pytest.raises(odb.ConflictError) as caught:
        repos.customers.create(odb.CustomerCreate(name="b", email="b@x.test", api_key=key))
    conn.rollback()
    stored = odb.records.hash_api_key(key)
    assert caught.value.constraint == "uq_customers_api_key_hash"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    logged = "".join(traceback.format_exception(caught.value))
    assert stored not in logged and key not in logged
    assert "already in use" in str(caught.value)
