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


def why_not(library: str | None = None) -> str | None:
    """Why a private server can't run here (None: it can)."""
    where = bindir()
    if where is None:
        return "no initdb on this machine (install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to run the server as"
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


@contextmanager
def private_server(**settings: str) -> Iterator[str]:
    """A fresh cluster with ``settings`` in its postgresql.conf; yields its
    DSN (user postgres, trust), stops and removes it afterwards."""
    where = bindir()
    assert where is not None
    root = Path(tempfile.mkdtemp(prefix="optiinfra-pg-"))
    data = root / "data"
    port = _free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    root.chmod(0o755)

    def run(*cmd: str) -> None:
        subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, cwd=root)

    run(str(where / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    conf = {
        "port": str(port),
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{root}'",
        "fsync": "off",
        **settings,
    }
    with open(data / "postgresql.conf", "a") as f:
        f.write("".join(f"{k} = {v}\n" for k, v in conf.items()))
    run(str(where / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, str(where / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)
