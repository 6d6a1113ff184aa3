"""A primary and its streaming replicas, with read-your-writes
(docs/replicas.md).

``create_cluster(primary, replicas)`` makes a pool per server (``create_pool``
with the same keyword arguments). ``cluster.primary()`` lends a primary
connection; ``cluster.read(after=token)`` lends one on a replica that has
replayed past ``token`` (``write_token(conn)`` after a commit), else waits
up to ``max_wait`` for one, else lends the primary (or raises
StaleReadError). As GitLab's database load balancing does: the position is
recorded after the write and travels with the work; a read goes to a
replica only once its replay position has passed it.

Every connection of a cluster's pools runs its statements through
``ClusterCursor``: on a connection lent for reading, a write raises
ReadOnlyError naming the statement, and a statement a replica cancels (a
recovery conflict, or the replica gone mid-call) runs again, once, on the
primary: the caller's own SQL as well as the repositories'.

Written once, for asyncio; ``optiinfra_db/cluster.py`` is generated from it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import errors as pg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from optiinfra_db.aio.db import AsyncConnection, create_pool, execute, fetch_all, scoped
from optiinfra_db.errors import StaleReadError, read_only_error
from optiinfra_db.sansio.cluster import (
    Replica,
    Rotation,
    Sticky,
    monotonic,
    newest,
    parse_token,
)
from optiinfra_db.sansio.scope import Scope

__all__ = ["Cluster", "ClusterCursor", "create_cluster", "recover", "write_token"]

#: How long a lend waits for a replica's connection before the replica is
#: counted down; and how long it stays skipped.
REPLICA_WAIT_S = 1.0
RETRY_AFTER_S = 5.0
#: A replica lent without a token is probed (replay position, lag) at most
#: this often.
PROBE_EVERY_S = 1.0
#: A probe's statement timeout: a replica slower than this to say where it
#: stands is skipped (RETRY_AFTER_S), as one that is down.
PROBE_TIMEOUT_MS = 250
#: While waiting (``max_wait``) for a replica to catch up, the interval
#: between probes.
WAIT_STEP_S = 0.02
ON_STALE = ("primary", "raise")


class ClusterCursor(psycopg.AsyncCursor[Any]):
    """The cursor of every connection of a cluster's pools (see ``recover``)."""

    async def execute(
        self,
        query: Any,
        params: Any = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> ClusterCursor:
        try:
            await super().execute(query, params, prepare=prepare, binary=binary)
        except psycopg.Error as exc:
            if not await recover(self, exc, query, params, prepare, None):
                raise
        return self


async def recover(
    cur: psycopg.AsyncCursor[Any],
    exc: psycopg.Error,
    query: Any,
    params: Any,
    prepare: bool | None,
    scope: Scope | None,
) -> bool:
    """What a cluster does with a statement that failed on ``cur``: a write
    refused by a read connection becomes ReadOnlyError (naming the
    statement); a statement a replica cancelled (recovery conflict) or lost
    runs again, once, on the primary (for ``scope``'s customer), its result
    put on ``cur`` (True). Anything else, and any connection outside a
    cluster: False (the caller re-raises)."""
    conn = cur.connection
    cluster: Cluster | None = getattr(conn, "_odb_cluster", None)
    if cluster is None:
        return False
    if isinstance(exc, pg.ReadOnlySqlTransaction):
        raise read_only_error(query) from exc
    if (
        not getattr(conn, "_odb_replica", False)
        or getattr(conn, "_odb_probing", False)  # the probe's failure skips the replica
        or not _replica_gave_up(exc, conn)
    ):
        return False
    await cluster._retry_on_primary(cur, query, params, prepare, scope)
    return True


def _replica_gave_up(exc: psycopg.Error, conn: AsyncConnection) -> bool:
    """A recovery conflict (the standby cancelled the statement to replay
    WAL), or the replica's connection lost."""
    text = str(exc)
    if "conflict with recovery" in text:
        return True
    return isinstance(exc, psycopg.OperationalError) and (conn.broken or conn.closed)


class Cluster:
    """A primary and its replicas, a pool each (see the module's doc)."""

    primary_pool: AsyncConnectionPool[Any]
    system: str

    def __init__(self, max_lag_s: float, stick_for_s: float) -> None:
        """Made by ``create_cluster``, which gives it its pools."""
        self.replica_pools: list[tuple[AsyncConnectionPool[Any], Replica]] = []
        self.max_lag_s = max_lag_s
        self._sticky = Sticky(stick_for_s)
        self._rotation = Rotation([])
        self._pool_of: dict[int, AsyncConnectionPool[Any]] = {}
        self._primary_reads = 0
        self._fallbacks = 0
        self._retries = 0

    # -- lending ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def primary(self) -> AsyncIterator[AsyncConnection]:
        """A primary connection, committed when the block succeeds (rolled
        back if it raises), as a pool's ``connection()``."""
        async with self.primary_pool.connection() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def read(
        self,
        after: str | None = None,
        *,
        max_wait: float | timedelta = 0,
        on_stale: str = "primary",
        sticky: Any = None,
    ) -> AsyncIterator[AsyncConnection]:
        """A connection for reading: on a replica that has replayed past
        ``after`` (a write token; any healthy replica when None), and past
        the newest token remembered for ``sticky``. When none has: wait up
        to ``max_wait`` (seconds or a timedelta) for one, then lend the
        primary (``on_stale="primary"``, counted as a fallback) or raise
        StaleReadError (``"raise"``). The connection is read-only: a write
        raises ReadOnlyError. Committed when the block succeeds."""
        if on_stale not in ON_STALE:
            raise ValueError(f"on_stale must be one of {ON_STALE}, not {on_stale!r}")
        wait = max_wait.total_seconds() if isinstance(max_wait, timedelta) else max_wait
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not wait >= 0:
            raise ValueError(f"max_wait must be seconds >= 0, not {max_wait!r}")
        token = None if after is None else parse_token(after, self.system)
        if sticky is not None:
            token = newest(token, self._sticky.get(sticky, monotonic(), self._rotation.replicas))
        lent = await self._replica_conn(None if token is None else token.lsn, wait)
        if lent is not None:
            pool, replica, conn = lent
            replica.reads += 1
            try:
                yield conn
            except BaseException:
                await _end(conn, commit=False)
                raise
            else:
                await _end(conn, commit=True)
            finally:
                await pool.putconn(conn)
            return
        if token is not None and on_stale == "raise":
            raise StaleReadError(
                f"no replica has replayed past {token} (waited {wait:g} s; {self._describe()})"
            )
        if self.replica_pools:
            self._fallbacks += 1
        self._primary_reads += 1
        async with self.primary_pool.connection() as conn:
            await _read_only(conn, True)
            ok = False
            try:
                yield conn
                ok = True
            finally:
                if not conn.closed:
                    await _end(conn, commit=ok)
                    await _read_only(conn, False)

    async def _replica_conn(
        self, lsn: int | None, wait: float
    ) -> tuple[AsyncConnectionPool[Any], Replica, AsyncConnection] | None:
        """A replica connection that has replayed past ``lsn`` (probing as
        needed), within ``wait`` seconds; None if there is none."""
        deadline = monotonic() + wait
        while True:
            for replica in self._rotation.order():
                now = monotonic()
                if not replica.usable(now, self.max_lag_s):
                    continue
                pool = self._pool_of[id(replica)]
                try:
                    conn = await pool.getconn(timeout=REPLICA_WAIT_S)
                except Exception as exc:  # down, or not accepting: skip it a while
                    replica.failed(f"{type(exc).__name__}: {exc}", now, RETRY_AFTER_S)
                    continue
                stale = lsn is not None and replica.replayed < lsn
                if stale or now - replica.probed_at >= PROBE_EVERY_S:
                    try:
                        await self._probe(conn, replica)
                    except Exception as exc:
                        replica.failed(f"{type(exc).__name__}: {exc}", now, RETRY_AFTER_S)
                        await pool.putconn(conn)
                        continue
                if conn.closed:  # its server went away since the pool's check
                    replica.failed("connection closed", now, RETRY_AFTER_S)
                    await pool.putconn(conn)
                    continue
                fresh = lsn is None or replica.replayed >= lsn
                if fresh and replica.usable(monotonic(), self.max_lag_s):
                    return pool, replica, conn
                await pool.putconn(conn)
            left = deadline - monotonic()
            if left <= 0:
                return None
            await asyncio.sleep(min(WAIT_STEP_S, left))

    async def _probe(self, conn: AsyncConnection, replica: Replica) -> None:
        """Read the replica's position and lag, under a short statement
        timeout, in a transaction of its own (so the caller's first statement
        takes its own snapshot): one round trip (a pipeline)."""
        was = conn.autocommit
        await conn.set_autocommit(True)
        conn._odb_probing = True  # type: ignore[attr-defined]
        try:
            async with conn.pipeline(), conn.transaction():
                await execute(conn, "cluster.probe_timeout", {"timeout_ms": PROBE_TIMEOUT_MS})
                ((system, standby, replayed, lag),) = await fetch_all(
                    conn, "cluster.replica_position"
                )
        finally:
            conn._odb_probing = False  # type: ignore[attr-defined]
            if not conn.closed:
                await conn.set_autocommit(was)
        if system != self.system:
            raise ValueError(f"{replica.name} is another cluster's server (system {system})")
        if not standby:
            raise ValueError(f"{replica.name} is not a standby (promoted?)")
        replica.saw(int(replayed), float(lag), monotonic())

    async def _retry_on_primary(
        self,
        cur: psycopg.AsyncCursor[Any],
        query: Any,
        params: Any,
        prepare: bool | None,
        scope: Scope | None,
    ) -> None:
        """Run a statement a replica gave up on again on the primary,
        read-only, and put its result on ``cur``. The replica's transaction
        it ran in has failed: it is rolled back."""
        conn = cur.connection
        if not conn.closed and conn.info.transaction_status == TransactionStatus.INERROR:
            await conn.rollback()
        self._retries += 1
        async with self.primary_pool.connection() as primary:
            await _read_only(primary, True)
            try:
                async with primary.cursor(row_factory=tuple_row) as pcur:
                    async with scoped(primary, pcur, scope):
                        await pcur.execute(query, params, prepare=prepare)
                    results = list(pcur._results)
            finally:
                await _end(primary, commit=True)
                await _read_only(primary, False)
        # psycopg has no public way to hand a result to another cursor: the
        # results go where execute() would have put them.
        cur._execmany_returning = None
        cur._set_results(results)

    # -- tokens -----------------------------------------------------------------------

    def _attach(self, primary: AsyncConnectionPool[Any], system: str) -> None:
        self.primary_pool = primary
        self.system = system

    def _add_replica(self, pool: AsyncConnectionPool[Any], replica: Replica) -> None:
        self.replica_pools.append((pool, replica))
        self._rotation.replicas.append(replica)
        self._pool_of[id(replica)] = pool

    def stick(self, key: Any, token: str) -> None:
        """Remember ``token`` for ``key`` (a customer, a user): reads with
        ``sticky=key`` go where it has been replayed, for ``stick_for``
        seconds or until every replica has replayed past it."""
        self._sticky.stick(key, parse_token(token, self.system), monotonic())

    # -- state ------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Reads per server (``primary``, and each replica by host:port),
        ``fallbacks`` (reads the primary served because no replica could),
        ``retries`` (statements a replica gave up on, run on the primary),
        and each replica's last known state."""
        return {
            "reads": {
                "primary": self._primary_reads,
                **{r.name: r.reads for _, r in self.replica_pools},
            },
            "fallbacks": self._fallbacks,
            "retries": self._retries,
            "replicas": [
                {
                    "server": r.name,
                    "replayed": r.replayed,
                    "lag_s": r.lag_s,
                    "down": r.down_until > monotonic(),
                    "error": r.error,
                }
                for _, r in self.replica_pools
            ],
        }

    def _describe(self) -> str:
        if not self.replica_pools:
            return "no replicas"
        return ", ".join(
            f"{r.name}: {'down' if r.down_until > monotonic() else f'replayed {r.replayed:X}'}"
            for _, r in self.replica_pools
        )

    async def close(self) -> None:
        """Close every pool."""
        for pool, _ in self.replica_pools:
            await pool.close()
        await self.primary_pool.close()

    async def __aenter__(self) -> Cluster:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _end(conn: AsyncConnection, *, commit: bool) -> None:
    """End the transaction a lent connection is in, as a pool would."""
    if conn.closed or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    if commit and conn.info.transaction_status == TransactionStatus.INTRANS:
        await conn.commit()
    else:
        await conn.rollback()


async def _read_only(conn: AsyncConnection, on: bool) -> None:
    """Make the primary's session read-only while it serves a read."""
    was = conn.autocommit
    await conn.set_autocommit(True)
    try:
        await execute(conn, "cluster.read_only_session", {"on": "on" if on else "off"})
    finally:
        await conn.set_autocommit(was)


def _server(dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(dsn)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"


async def create_cluster(
    primary: str,
    replicas: tuple[str, ...] | list[str] = (),
    *,
    max_lag: float | timedelta = 30.0,
    stick_for: float | timedelta = 30.0,
    **pool_kwargs: Any,
) -> Cluster:
    """A pool on ``primary`` and one on each of ``replicas`` (connection
    strings), each made by ``create_pool`` with ``pool_kwargs``. ``max_lag``:
    a replica further behind (in time) is skipped until it catches up;
    ``stick_for``: how long ``stick`` remembers a token."""
    lag = max_lag.total_seconds() if isinstance(max_lag, timedelta) else float(max_lag)
    stick = stick_for.total_seconds() if isinstance(stick_for, timedelta) else float(stick_for)
    if not lag > 0 or not stick > 0:
        raise ValueError("max_lag and stick_for must be positive")
    user_configure = pool_kwargs.pop("configure", None)
    cluster = Cluster(lag, stick)

    def configured(replica: bool) -> Any:
        async def configure(conn: AsyncConnection) -> None:
            conn.cursor_factory = ClusterCursor
            conn._odb_cluster = cluster  # type: ignore[attr-defined]
            conn._odb_replica = replica  # type: ignore[attr-defined]
            if user_configure is not None:
                await user_configure(conn)

        return configure

    main = await create_pool(primary, configure=configured(False), **pool_kwargs)
    try:
        async with main.connection() as conn:
            ((system, standby),) = await fetch_all(conn, "cluster.identity")
        if standby:
            raise ValueError(f"{_server(primary)} is a standby, not a primary")
        cluster._attach(main, system)
        for dsn in replicas:
            pool = await create_pool(dsn, configure=configured(True), **pool_kwargs)
            cluster._add_replica(pool, Replica(_server(dsn)))
    except BaseException:
        for pool, _ in cluster.replica_pools:
            await pool.close()
        await main.close()
        raise
    return cluster


async def write_token(conn: AsyncConnection) -> str:
    """A token covering everything ``conn`` (on the primary) has committed,
    for ``Cluster.read(after=...)``; take it after the commit. An opaque
    string: a service hands it to its caller (a header, a job payload)."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise ValueError("write_token: commit first (this connection is inside a transaction)")
    was = conn.autocommit
    await conn.set_autocommit(True)
    try:
        ((system, lsn),) = await fetch_all(conn, "cluster.write_position")
    except pg.ObjectNotInPrerequisiteState as exc:  # recovery is in progress
        raise ValueError("write_token: this connection is on a standby, not the primary") from exc
    finally:
        await conn.set_autocommit(was)
    return f"odb1:{system}:{int(lsn):X}"
