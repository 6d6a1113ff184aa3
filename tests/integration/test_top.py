"""``optiinfra-db top`` against a real server with pg_stat_statements loaded
(a private one, started here: the shared test server can't be asked to
preload a library), and its messages where the extension is missing."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from optiinfra_db.cli.top import MISSING_EXTENSION, NOT_LOADED
from tests.integration.test_cli import run
from tests.private_server import private_server, why_not
from tests.sides import api

pytestmark = [pytest.mark.usefixtures("side"), pytest.mark.sync_only]


@pytest.fixture(scope="module")
def stat_dsn() -> Iterator[str]:
    reason = why_not("pg_stat_statements")
    if reason is not None:
        if os.environ.get("CI") == "true":  # CI promises this test runs
            pytest.fail(f"CI: no private server with pg_stat_statements: {reason}")
        pytest.skip(f"no private server with pg_stat_statements: {reason}")
    with private_server(shared_preload_libraries="'pg_stat_statements'") as server:
        dsn = server.dsn
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("CREATE EXTENSION pg_stat_statements")
        yield dsn


def _library_calls(dsn: str, n: int) -> None:
    with api.connect(dsn) as conn:
        for _ in range(n):
            assert api.fetch_all(conn, "meta.server_version")


def test_top_attributes_the_named_statements_since_the_reset(
    capsys: pytest.CaptureFixture[str], stat_dsn: str
) -> None:
    with psycopg.connect(stat_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_stat_statements_reset()")
        _library_calls(stat_dsn, 7)
        admin.execute("SELECT 40 + 2 AS not_the_library")
    code, out, err = run(
        capsys, "top", "--since-reset", "--json", "--limit", "1000", "--database-url", stat_dsn
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["since_reset"] is not None and report["interval_s"] is None
    lines = {line["statement"]: line for line in report["statements"]}
    ours = lines["meta.server_version"]
    assert ours["library"] is True
    assert ours["calls"] == 7 and ours["rows"] == 7
    assert ours["total_ms"] > 0 and ours["mean_ms"] == pytest.approx(ours["total_ms"] / 7, abs=1e-4)
    assert "shared_blks_hit" in ours and "shared_blks_read" in ours
    # the connection's own set-up is named too
    assert lines["meta.session_setup"]["calls"] >= 1
    theirs = [line for line in report["statements"] if "not_the_library" in line["statement"]]
    assert len(theirs) == 1 and theirs[0]["library"] is False and theirs[0]["calls"] == 1
    code, out, _ = run(capsys, "top", "--since-reset", "--database-url", stat_dsn)
    assert code == 0
    assert "meta.server_version" in out and "(SELECT $1 + $2 AS not_the_library)" in out


def test_top_by_default_shows_what_happens_during_the_interval(
    capsys: pytest.CaptureFixture[str], stat_dsn: str
) -> None:
    _library_calls(stat_dsn, 50)  # before the interval: not counted

    def during() -> None:  # well inside the interval: top's first read is done by then
        time.sleep(0.7)
        _library_calls(stat_dsn, 3)

    worker = threading.Thread(target=during)
    worker.start()
    code, out, err = run(capsys, "top", "--interval", "2s", "--json", "--database-url", stat_dsn)
    worker.join()
    assert code == 0, err
    report = json.loads(out)
    assert report["interval_s"] == 2 and report["since_reset"] is None
    lines = {line["statement"]: line for line in report["statements"]}
    assert lines["meta.server_version"]["calls"] == 3


def test_top_says_how_to_enable_the_extension(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    code, _, err = run(capsys, "top", "--since-reset", "--database-url", db_dsn)
    with psycopg.connect(db_dsn, autocommit=True) as admin:
        installed = admin.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ).fetchone()
        available = admin.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_stat_statements'"
        ).fetchone()
        preload = admin.execute("SHOW shared_preload_libraries").fetchone()
    assert installed is not None and available is not None and preload is not None
    if installed[0]:
        pytest.skip("the test server's database has pg_stat_statements")
    assert code == 1
    assert MISSING_EXTENSION.split(".")[0] in err
    assert "shared_preload_libraries" in err and "CREATE EXTENSION" in err
    if not available[0] or "pg_stat_statements" in preload[0]:
        return
    with psycopg.connect(db_dsn, autocommit=True) as admin:  # installed, never loaded
        admin.execute("CREATE EXTENSION pg_stat_statements")
    code, _, err = run(capsys, "top", "--since-reset", "--database-url", db_dsn)
    assert code == 1 and NOT_LOADED.split(":")[0] in err
