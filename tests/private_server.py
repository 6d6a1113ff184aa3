"""A PostgreSQL server of the test's own, from the machine's binaries
(``initdb`` + ``pg_ctl``, on a loopback port), for what the shared test
server can't be asked to change: a library loaded at start
(``shared_preload_libraries``). It starts in a few seconds. Run as root,
the server runs as the ``postgres`` user (initdb refuses root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def bindir() -> Path | None:
    """The newest machine PostgreSQL's binaries (Debian's layout, or PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def why_not(library: str | None = None, where: Path | None = None) -> str | None:
    """Why a private server can't run here, from ``where``'s binaries (else
    the machine's); None: it can."""
    where = where or bindir()
    if where is None:
        return "no initdb on this machine (install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to run the server as"
        ran = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(where / "initdb"), "--version"],
            capture_output=True,
            text=True,
        )
        if ran.returncode != 0:
            return f"the postgres user can't run {where / 'initdb'}: {ran.stderr.strip()[:200]}"
    if library is not None:
        lib = (
            subprocess.run(
                [str(where / "pg_config"), "--pkglibdir"], capture_output=True, text=True
            ).stdout.strip()
            if (where / "pg_config").exists()
            else ""
        )
        if lib and not Path(lib, f"{library}.so").exists():
            return f"{library} is not installed with {where} ({lib})"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A private server: its DSN, folders and binaries."""

    def __init__(self, bindir: Path, root: Path, port: int, as_postgres: list[str]) -> None:
        self.bindir, self.root, self.port, self.as_postgres = bindir, root, port, as_postgres
        self.data = root / "data"
        self.dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def run(self, *cmd: str) -> None:
        subprocess.run([*self.as_postgres, *cmd], check=True, capture_output=True, cwd=self.root)

    def configure(self, **settings: str) -> None:
        conf = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",
            **settings,
        }
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in conf.items()))

    def start(self) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                 "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode,
             "stop"], capture_output=True, cwd=self.root,
        )  # fmt: skip


def _new(where: Path) -> Server:
    root = Path(tempfile.mkdtemp(prefix="optiinfra-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    root.chmod(0o755)
    return Server(where, root, _free_port(), as_postgres)


@contextmanager
def private_server(where: Path | None = None, **settings: str) -> Iterator[Server]:
    """A fresh cluster (``where``: its binaries, else the machine's newest)
    with ``settings`` in its postgresql.conf; stopped and removed afterwards."""
    where = where or bindir()
    assert where is not None
    server = _new(where)
    try:
        server.run(str(where / "initdb"), "-D", str(server.data), "-U", "postgres",
                   "--auth=trust", "-E", "UTF8")  # fmt: skip
        server.configure(**settings)
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(server.root, ignore_errors=True)


@contextmanager
def streaming_replica(primary: Server, **settings: str) -> Iterator[Server]:
    """A hot standby of ``primary`` (``pg_basebackup -R``: streaming
    replication, its own port), stopped and removed afterwards."""
    replica = _new(primary.bindir)
    try:
        replica.run(str(primary.bindir / "pg_basebackup"), "-D", str(replica.data), "-R",
                    "-X", "stream", "-c", "fast", "-h", "127.0.0.1", "-p", str(primary.port),
                    "-U", "postgres")  # fmt: skip
        replica.configure(hot_standby="on", **settings)
        replica.start()
        yield replica
    finally:
        replica.stop("immediate")
        shutil.rmtree(replica.root, ignore_errors=True)
