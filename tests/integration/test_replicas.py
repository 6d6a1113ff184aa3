"""Replicas with read-your-writes (issue: beyond one node, reads), against
real streaming replicas: a private primary (the machine's PostgreSQL 15, or
the embedded 16's binaries) and hot standbys made by ``pg_basebackup -R``.
Lag is made deterministic with ``pg_wal_replay_pause()``. Every test runs
on both sides; where a read was served is read from the lent connection
(``pg_is_in_recovery()``, its port)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest

import optiinfra_db as odb
from optiinfra_db.queries import CATALOG
from tests.private_server import Server, bindir, private_server, streaming_replica, why_not
from tests.sides import api
from tests.tenant_harness import app_dsn, ensure_app_login

pytestmark = pytest.mark.usefixtures("side")


def _binaries() -> list[Any]:
    found = []
    machine = bindir()
    reason = why_not()
    found.append(
        pytest.param(machine, id="machine")
        if reason is None and machine is not None
        else pytest.param(None, id="machine", marks=pytest.mark.skip(reason=f"{reason}"))
    )
    try:
        import pgserver

        embedded = Path(pgserver.__file__).parent / "pginstall" / "bin"
    except ImportError:
        embedded = Path("/nonexistent")
    embedded_reason = (
        why_not(where=embedded)
        if (embedded / "pg_basebackup").exists()
        else "the embedded server has no pg_basebackup"
    )
    found.append(
        pytest.param(embedded, id="embedded")
        if embedded_reason is None
        else pytest.param(None, id="embedded", marks=pytest.mark.skip(reason=embedded_reason))
    )
    return found


class Nodes:
    """A migrated primary and two replicas of it."""

    def __init__(self, primary: Server, replicas: list[Server]) -> None:
        self.primary = primary
        self.replicas = replicas

    def sql(self, server: Server, text: str, params: Any = None) -> list[tuple[Any, ...]]:
        for attempt in range(3):  # a standby may cancel even these (max_standby_streaming_delay 0)
            try:
                with psycopg.connect(server.dsn, autocommit=True) as conn:
                    cur = conn.execute(text, params)
                    return cur.fetchall() if cur.description else []
            except psycopg.errors.SerializationFailure:
                if attempt == 2:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def pause(self, replica: Server) -> None:
        self.sql(replica, "SELECT pg_wal_replay_pause()")

    def resume(self, replica: Server) -> None:
        self.sql(replica, "SELECT pg_wal_replay_resume()")

    def caught_up(self) -> None:
        """Wait until every replica has replayed all the primary wrote."""
        ((target,),) = self.sql(self.primary, "SELECT pg_current_wal_flush_lsn()")
        for replica in self.replicas:
            for _ in range(1500):
                ((done,),) = self.sql(
                    replica, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]
                )
                if done:
                    break
                time.sleep(0.01)
            else:
                raise AssertionError(f"{replica.dsn} did not catch up")


@pytest.fixture(scope="module", params=_binaries())
def nodes(request: pytest.FixtureRequest) -> Iterator[Nodes]:
    where = request.param
    with private_server(where, max_standby_streaming_delay="0") as primary:
        odb.migrate(primary.dsn)
        ensure_app_login(primary.dsn)
        with (
            streaming_replica(primary, max_standby_streaming_delay="0") as one,
            streaming_replica(primary, max_standby_streaming_delay="0") as two,
        ):
            made = Nodes(primary, [one, two])
            made.caught_up()
            yield made


@pytest.fixture
def cluster(nodes: Nodes) -> Iterator[Any]:
    for replica in nodes.replicas:
        nodes.resume(replica)
    made = api.create_cluster(
        nodes.primary.dsn, [r.dsn for r in nodes.replicas], min_size=1, max_size=4
    )
    try:
        yield made
    finally:
        made.close()
        for replica in nodes.replicas:
            nodes.resume(replica)


def _write(cluster: Any, name: str) -> tuple[Any, str]:
    """A customer written on the primary, and the token after its commit."""
    with cluster.primary() as conn:
        customer = api.Repositories(conn).customers.create(
            odb.CustomerCreate(
                name=name,
                email=f"{name}-{uuid4().hex[:8]}@replicas.test",
                api_key=odb.new_api_key(),
            )
        )
        conn.commit()
        token = api.write_token(conn)
    return customer, token


def _where(conn: Any) -> tuple[bool, int]:
    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    return bool(row[0]), int(conn.info.port)


def test_a_read_after_a_write_waits_for_the_replay_or_goes_to_the_primary(
    nodes: Nodes, cluster: Any
) -> None:
    for replica in nodes.replicas:
        nodes.pause(replica)
    customer, token = _write(cluster, "paused")
    assert token.startswith("odb1:")
    with cluster.read(after=token) as conn:  # no replica has it: the primary
        assert _where(conn) == (False, nodes.primary.port)
        assert api.Repositories(conn).customers.get(customer.id) is not None
    assert cluster.stats()["fallbacks"] == 1
    with (
        pytest.raises(odb.StaleReadError, match="no replica has replayed past"),
        cluster.read(after=token, on_stale="raise"),
    ):
        pass
    resumer = threading.Timer(0.4, lambda: [nodes.resume(r) for r in nodes.replicas])
    resumer.start()
    began = time.monotonic()
    with cluster.read(after=token, max_wait=10) as conn:  # waits for the replay
        waited = time.monotonic() - began
        standby, port = _where(conn)
        assert standby and port in {r.port for r in nodes.replicas}
        assert api.Repositories(conn).customers.get(customer.id) is not None
    resumer.join()
    assert 0.3 < waited < 5
    with cluster.read(after=token) as conn:  # caught up: a replica, no wait
        assert _where(conn)[0] is True
        assert api.Repositories(conn).customers.get(customer.id) is not None
    stats = cluster.stats()
    assert stats["fallbacks"] == 1 and stats["reads"]["primary"] == 1
    assert sum(stats["reads"][f"127.0.0.1:{r.port}"] for r in nodes.replicas) == 2


def test_a_token_is_checked(nodes: Nodes, cluster: Any, db_dsn: str) -> None:
    with api.connect(db_dsn, autocommit=True) as other:  # another cluster's server
        foreign = api.write_token(other)
    with pytest.raises(ValueError, match="another cluster"), cluster.read(after=foreign):
        pass
    with pytest.raises(ValueError, match="not a write token"), cluster.read(after="odb1:nope"):
        pass
    with cluster.primary() as conn:
        conn.execute("SELECT 1")  # a transaction begins
        with pytest.raises(ValueError, match="commit first"):
            api.write_token(conn)
    with pytest.raises(ValueError, match="on_stale"), cluster.read(on_stale="stale"):
        pass


def test_a_write_through_a_read_connection_raises_read_only(nodes: Nodes, cluster: Any) -> None:
    new = odb.CustomerCreate(
        name="ro", email=f"ro-{uuid4().hex[:8]}@replicas.test", api_key=odb.new_api_key()
    )
    with cluster.read() as conn:
        assert _where(conn)[0] is True
        with pytest.raises(odb.ReadOnlyError, match=r"customers\.create"):
            api.Repositories(conn).customers.create(new)
    with cluster.read() as conn, pytest.raises(odb.ReadOnlyError, match="DELETE FROM customers"):
        conn.execute("DELETE FROM customers WHERE name = 'nobody'")
    for replica in nodes.replicas:
        nodes.pause(replica)
    _, token = _write(cluster, "ro-primary")
    with cluster.read(after=token) as conn:  # the primary, lent read-only
        assert _where(conn)[0] is False
        with pytest.raises(odb.ReadOnlyError, match=r"customers\.create"):
            api.Repositories(conn).customers.create(new)
    with cluster.primary() as conn:  # and given back writable
        assert api.Repositories(conn).customers.create(new).name == "ro"


def test_sticky_reads_never_go_to_a_replica_that_has_not_replayed(
    nodes: Nodes, cluster: Any
) -> None:
    """GitLab 413203: a remembered position was forgotten once one replica
    had caught up, and the next read went to another that had not."""
    ahead, behind = nodes.replicas
    nodes.pause(behind)
    customer, token = _write(cluster, "sticky")
    cluster.stick("customer-1", token)
    served = set()
    for _ in range(12):  # round-robin would reach `behind` every other read
        with cluster.read(sticky="customer-1", max_wait=5) as conn:
            assert api.Repositories(conn).customers.get(customer.id) is not None
            served.add(_where(conn))
    assert (True, behind.port) not in served
    assert (True, ahead.port) in served
    nodes.resume(behind)
    nodes.caught_up()
    for _ in range(4):
        with cluster.read(sticky="customer-1") as conn:
            assert api.Repositories(conn).customers.get(customer.id) is not None
            served.add(_where(conn))
    assert (True, behind.port) in served  # every replica has it now: both serve


def test_row_level_security_holds_on_a_replica(nodes: Nodes, side: str) -> None:
    with (
        contextlib.closing(
            api.create_cluster(nodes.primary.dsn, [nodes.replicas[0].dsn], min_size=1, max_size=2)
        ) as admin,
        admin.primary() as conn,
    ):
        repos = api.Repositories(conn)
        mine = repos.customers.create(
            odb.CustomerCreate(
                name="mine", email=f"mine-{uuid4().hex[:8]}@rls.test", api_key=odb.new_api_key()
            )
        )
        theirs = repos.customers.create(
            odb.CustomerCreate(
                name="theirs", email=f"theirs-{uuid4().hex[:8]}@rls.test", api_key=odb.new_api_key()
            )
        )
        agent = repos.agents.create(
            odb.AgentCreate(type=odb.AgentType.COST, name=f"rls-{uuid4().hex[:8]}")
        )
        for owner in (mine, theirs):
            repos.workflow_executions.create(
                odb.WorkflowExecutionCreate(
                    agent_id=agent.id,
                    customer_id=owner.id,
                    workflow_type=odb.WorkflowType.HEALTH_CHECK,
                )
            )
        conn.commit()
        token = api.write_token(conn)
    app = api.create_cluster(
        app_dsn(nodes.primary.dsn), [app_dsn(nodes.replicas[0].dsn)], min_size=1, max_size=2
    )
    try:
        with app.read(after=token, max_wait=10) as conn:
            assert _where(conn)[0] is True
            scoped = api.Repositories(conn, customer_id=mine.id)
            runs = scoped.workflow_executions.list_for_customer(mine.id)
            assert [r.customer_id for r in runs] == [mine.id]
            assert scoped.workflow_executions.list_for_customer(theirs.id) == []
    finally:
        app.close()


def test_a_recovery_conflict_is_retried_on_the_primary(nodes: Nodes, cluster: Any) -> None:
    """max_standby_streaming_delay = 0: the replica cancels a query whose
    snapshot still needs rows a VACUUM on the primary removed."""
    nodes.sql(nodes.primary, "DROP TABLE IF EXISTS conflict_t")
    nodes.sql(nodes.primary, "CREATE TABLE conflict_t (n int) WITH (autovacuum_enabled = false)")
    nodes.sql(nodes.primary, "INSERT INTO conflict_t SELECT generate_series(1, 1000)")
    nodes.sql(nodes.primary, "DELETE FROM conflict_t WHERE n > 10")
    nodes.caught_up()
    vacuum = threading.Timer(0.8, lambda: nodes.sql(nodes.primary, "VACUUM conflict_t"))
    with cluster.read() as conn:
        assert _where(conn)[0] is True
        vacuum.start()
        row = conn.execute("SELECT count(*), pg_sleep(3) FROM conflict_t").fetchone()
        assert row[0] == 10
    vacuum.join()
    assert cluster.stats()["retries"] == 1


def test_a_replica_too_slow_to_answer_its_probe_is_skipped(
    nodes: Nodes, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe runs under a short statement timeout: a replica that takes
    seconds to say where it stands (here, its probe made to sleep) is
    skipped as one that is down, and the read served at once elsewhere."""
    probe = CATALOG["cluster.replica_position"]
    slow = probe.sql.replace("FROM pg_control_system()", "FROM pg_control_system(), pg_sleep(3)")
    assert slow != probe.sql
    queries = CATALOG._queries  # type: ignore[attr-defined]
    monkeypatch.setitem(queries, "cluster.replica_position", dataclasses.replace(probe, sql=slow))
    began = time.monotonic()
    with cluster.read() as conn:
        assert _where(conn) == (False, nodes.primary.port)  # no replica answered in time
    assert time.monotonic() - began < 2.0  # two probes cut at 250 ms each, not 2 x 3 s
    states = cluster.stats()["replicas"]
    assert [s["down"] for s in states] == [True, True]
    assert all("statement timeout" in s["error"] for s in states), states
    monkeypatch.setitem(queries, "cluster.replica_position", probe)
    with cluster.read() as conn:  # skipped for a while: still the primary
        assert _where(conn)[0] is False


def test_a_stopped_replica_is_skipped_without_a_failed_call(nodes: Nodes) -> None:
    for replica in nodes.replicas:
        nodes.resume(replica)
    with streaming_replica(nodes.primary) as spare:
        nodes.replicas.append(spare)
        try:
            nodes.caught_up()
        finally:
            nodes.replicas.remove(spare)
        made = api.create_cluster(
            nodes.primary.dsn, [spare.dsn, nodes.replicas[0].dsn], min_size=1, max_size=2
        )
        try:
            customer, token = _write(made, "stopped")
            failed = 0
            for i in range(20):
                if i == 5:
                    spare.stop("immediate")
                    # the pool's check sees a closed socket from here on; a
                    # connection lent in the instant it dies is the race
                    # docs/replicas.md names
                    time.sleep(0.2)
                try:
                    with made.read(after=token, max_wait=5) as conn:
                        # one call per read: a statement in flight when its
                        # replica dies runs again on the primary, but the
                        # connection it was on is gone for any later one
                        assert api.Repositories(conn).customers.get(customer.id) is not None
                except Exception as exc:  # counted: there must be none
                    failed += 1
                    print("failed call:", type(exc).__name__, exc)
            assert failed == 0
            reads = made.stats()["reads"]
            assert reads[f"127.0.0.1:{nodes.replicas[0].port}"] >= 10
            (spare_state,) = [
                r for r in made.stats()["replicas"] if r["server"].endswith(str(spare.port))
            ]
            assert spare_state["down"] is True and spare_state["error"]
        finally:
            made.close()
    assert os.path.exists(nodes.primary.data)


@pytest.mark.sync_only
def test_the_cli_reads_from_a_caught_up_replica(
    nodes: Nodes, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_cli import run

    for replica in nodes.replicas:
        nodes.resume(replica)
    replica = nodes.replicas[0]
    argv = ["--database-url", nodes.primary.dsn, "--replica", replica.dsn]
    code, out, err = run(capsys, "runs", "list", "--json", *argv)
    assert code == 0, err
    assert f"reading from a replica, 127.0.0.1:{replica.port}" in err
    assert isinstance(json.loads(out), list)
    nodes.pause(replica)
    try:
        nodes.sql(nodes.primary, "CREATE TABLE IF NOT EXISTS cli_bump (n int)")
        nodes.sql(nodes.primary, "INSERT INTO cli_bump VALUES (1)")
        code, _, err = run(capsys, "stats", *argv)
        assert code == 0, err
        assert f"reading from the primary, 127.0.0.1:{nodes.primary.port}" in err
        code, _, err = run(capsys, "verify", *argv)
        assert "reading from the primary" in err
    finally:
        nodes.resume(replica)
