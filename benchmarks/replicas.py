"""Reads off the primary: a read mix (get, get_detail, list 100, stats of
the last day) from 8 client threads, first on a pool of the primary alone,
then through ``odb.create_cluster`` with two streaming replicas; and the
price of ``read(after=token)`` against a plain pool read of the same replica.

Its own servers, made here from one set of binaries (the machine's
PostgreSQL 15, or the embedded 16's): a private primary seeded with the demo
story and ``SCALE`` runs, and two ``pg_basebackup -R`` standbys. CPU is
each server's whole process tree (``/proc/<pid>/schedstat``), so the
primary's figure counts every backend and background process it runs.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

import optiinfra_db as odb
from optiinfra_db.seed import seed
from tests.private_server import Server, private_server, streaming_replica

CLIENTS = 8
SCALE = 20_000
#: read(after=token) against a plain pool read of the same replica.
TARGET = 1.10


def tree_cpu_s(server: Server) -> float:
    """CPU seconds of a server's postmaster and all its children so far."""
    head = int((server.data / "postmaster.pid").read_text().split()[0])
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if int(proc.name) == head or ppid == head:
                total += int((proc / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def _caught_up(primary: Server, replicas: list[Server]) -> None:
    with psycopg.connect(primary.dsn, autocommit=True) as conn:
        ((target,),) = conn.execute("SELECT pg_current_wal_flush_lsn()").fetchall()
    for replica in replicas:
        with psycopg.connect(replica.dsn, autocommit=True) as conn:
            for _ in range(3000):
                ((done,),) = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]
                ).fetchall()
                if done:
                    break
                time.sleep(0.01)


class Mix:
    """The read mix: one of four reads, by turns, on a lent connection."""

    def __init__(self, ids: list[Any], customer: Any) -> None:
        self.ids, self.customer = ids, customer

    def read(self, conn: Any, n: int) -> None:
        runs = odb.Repositories(conn).workflow_executions
        kind = n % 4
        if kind == 0:
            runs.get(self.ids[n % len(self.ids)])
        elif kind == 1:
            runs.get_detail(self.ids[n % len(self.ids)])
        elif kind == 2:
            runs.list_for_customer(self.customer, limit=100)
        else:
            runs.stats(since=datetime.now(UTC) - timedelta(days=1))


def _drive(lend: Callable[[], AbstractContextManager[Any]], mix: Mix, seconds: float) -> int:
    """CLIENTS threads reading for ``seconds``; the reads done."""
    done = [0] * CLIENTS
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        n = i
        while time.monotonic() < stop:
            with lend() as conn:
                mix.read(conn, n)
            n += 1
            done[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done)


def _servers(bindir: Path, scale: int) -> Iterator[tuple[Server, list[Server]]]:
    with private_server(bindir) as primary:
        odb.migrate(primary.dsn)
        with odb.connect(primary.dsn) as conn:
            seed(conn, scale=scale)
        with streaming_replica(primary) as one, streaming_replica(primary) as two:
            _caught_up(primary, [one, two])
            yield primary, [one, two]


def binaries(label: str) -> Path | None:
    """The binaries of the server a bench run is on: the embedded 16's, or
    the machine's (None: not here)."""
    from tests.private_server import bindir, why_not

    if label == "embedded":
        import pgserver  # type: ignore[import-untyped]

        found = Path(pgserver.__file__).parent / "pginstall" / "bin"
        usable = (found / "pg_basebackup").exists() and why_not(where=found) is None
        return found if usable else None
    return bindir() if why_not() is None else None


def replica_bench(bindir: Path, quick: bool) -> dict[str, Any]:
    """The figures on servers made from ``bindir``."""
    seconds = 3.0 if quick else 10.0
    out: dict[str, Any] = {"bindir": str(bindir)}
    for primary, replicas in _servers(bindir, SCALE // 4 if quick else SCALE):
        with odb.connect(primary.dsn) as conn:
            rows = conn.execute(
                "SELECT id, customer_id FROM workflow_executions ORDER BY id LIMIT 2000"
            ).fetchall()
        ids = [r[0] for r in rows]
        customer = statistics.mode(r[1] for r in rows)
        mix = Mix(ids, customer)
        with odb.create_pool(primary.dsn, min_size=CLIENTS, max_size=CLIENTS) as pool:
            pool.wait()
            _drive(pool.connection, mix, 1.0)  # warm: prepared, cached
            c0 = tree_cpu_s(primary)
            reads = _drive(pool.connection, mix, seconds)
            alone = {"reads_per_s": reads / seconds, "primary_cpu_ms_per_1000": 0.0}
            alone["primary_cpu_ms_per_1000"] = (tree_cpu_s(primary) - c0) / reads * 1e6
        out["primary alone"] = alone
        with odb.create_cluster(
            primary.dsn, [r.dsn for r in replicas], min_size=CLIENTS, max_size=CLIENTS
        ) as cluster:
            _drive(cluster.read, mix, 1.0)
            c0 = tree_cpu_s(primary)
            r0 = [tree_cpu_s(r) for r in replicas]
            reads = _drive(cluster.read, mix, seconds)
            out["two replicas"] = {
                "reads_per_s": reads / seconds,
                "primary_cpu_ms_per_1000": (tree_cpu_s(primary) - c0) / reads * 1e6,
                "replicas_cpu_ms_per_1000": [
                    (tree_cpu_s(r) - r0[i]) / reads * 1e6 for i, r in enumerate(replicas)
                ],
                "stats": cluster.stats(),
            }
            out["read(after=token) vs a plain pool read"] = _token_overhead(
                cluster, replicas[0], ids, quick
            )
    return out


def _token_overhead(cluster: Any, replica: Server, ids: list[Any], quick: bool) -> dict[str, Any]:
    """One client: 50 gets per sample, each lending a connection, by turns
    through ``cluster.read(after=token)`` and a pool on one replica."""
    with cluster.primary() as conn:
        odb.Repositories(conn).customers.create(
            odb.CustomerCreate(
                name="token", email=f"t{random.random()}@x.test", api_key=odb.new_api_key()
            )
        )
        conn.commit()
        token = odb.write_token(conn)
    time.sleep(0.5)
    samples: dict[str, list[float]] = {"plain": [], "token": []}
    rounds = 10 if quick else 40
    with odb.create_pool(replica.dsn, min_size=1, max_size=1) as pool:
        pool.wait()

        def plain() -> None:
            with pool.connection() as conn:
                odb.Repositories(conn).workflow_executions.get(ids[0])

        def with_token() -> None:
            with cluster.read(after=token) as conn:
                odb.Repositories(conn).workflow_executions.get(ids[0])

        for fn in (plain, with_token):
            for _ in range(20):
                fn()
        for r in range(rounds):
            order = (("plain", plain), ("token", with_token))
            for name, fn in order if r % 2 == 0 else reversed(order):
                began = time.perf_counter()
                for _ in range(50):
                    fn()
                samples[name].append((time.perf_counter() - began) / 50)
    ratios = sorted(t / p for t, p in zip(samples["token"], samples["plain"], strict=True))
    return {
        "plain_us": statistics.median(samples["plain"]) * 1e6,
        "token_us": statistics.median(samples["token"]) * 1e6,
        "ratio": statistics.median(ratios),
        "ratio_iqr": (
            ratios[len(ratios) // 4],
            ratios[(3 * len(ratios)) // 4],
        ),
    }


def report_replicas(found: dict[str, Any], label: str) -> int:
    """Print the figures and the verdict; the misses."""
    if not found:
        return 0
    alone, two = found["primary alone"], found["two replicas"]
    token = found["read(after=token) vs a plain pool read"]
    print(f"\nreplicas ({label}): read mix from {CLIENTS} clients over the demo data")
    print(
        f"  primary alone: {alone['reads_per_s']:,.0f} reads/s, primary CPU "
        f"{alone['primary_cpu_ms_per_1000']:,.0f} ms per 1,000 reads"
    )
    per_replica = ", ".join(f"{x:,.0f}" for x in two["replicas_cpu_ms_per_1000"])
    print(
        f"  two replicas:  {two['reads_per_s']:,.0f} reads/s, primary CPU "
        f"{two['primary_cpu_ms_per_1000']:,.0f} ms per 1,000 reads (replicas: {per_replica}); "
        f"reads {two['stats']['reads']}, fallbacks {two['stats']['fallbacks']}"
    )
    ok = token["ratio"] <= TARGET
    print(
        f"  read(after=token) {token['token_us']:.0f} us vs a plain pool read "
        f"{token['plain_us']:.0f} us: {token['ratio']:.2f}x "
        f"(IQR {token['ratio_iqr'][0]:.2f}-{token['ratio_iqr'][1]:.2f})"
    )
    print(f"  {'met   ' if ok else 'MISSED'} read(after=token) <= {TARGET}x a plain pool read")
    return not ok
