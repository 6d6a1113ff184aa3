"""The command line, run as a user would, against a real database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import optiinfra_db as odb
from optiinfra_db.cli import main
from optiinfra_db.schema import MIGRATION_IDS
from tests.sides import api, make_due

EXE = str(Path(sys.executable).parent / "optiinfra-db")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The CLI's entry point in-process: (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _env_without_urls() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OPTIINFRA_DATABASE_URL", "DATABASE_URL", "OPTIINFRA_DATA_DIR"):
        env.pop(name, None)
    return env


def test_demo_on_an_empty_embedded_data_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [EXE, "demo"],
        cwd=tmp_path,
        env=_env_without_urls(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".optiinfra" / "pgdata" / "PG_VERSION").is_file()
    assert "database: embedded PostgreSQL in .optiinfra/pgdata" in result.stderr
    assert "workflow statistics" in result.stdout
    assert "performance_tuning" in result.stdout
    assert "apply_kv_cache_config" in result.stdout and "<-- failed here" in result.stdout
    assert "GpuOutOfMemory" in result.stdout
    # the recovered run: worker-a's lease expired, worker-b finished it
    assert "requeued, then finished elsewhere" in result.stdout
    assert "running -> pending" in result.stdout and "lease_expired" in result.stdout
    assert "worker-b" in result.stdout and "completed" in result.stdout
    # worker-b was a worker process: optiinfra-db worker, stopped by SIGTERM
    assert "worker worker-b: optiinfra_db.cli.demo:finish_run (threads)" in result.stderr
    assert "worker worker-b: stopped; 1 completed" in result.stderr
    assert "Traceback" not in result.stderr
    # Run again: already migrated and seeded, same story.
    again = subprocess.run(
        [EXE, "demo"],
        cwd=tmp_path,
        env=_env_without_urls(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "already seeded" in again.stderr and "up to date" in again.stderr


def test_wrong_url_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [EXE, "status", "--database-url", "postgresql://bob:s3cret@127.0.0.1:1/nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_env_without_urls(),
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "database: postgresql://bob:***@127.0.0.1:1/nowhere (from --database-url)"
    assert len(lines) == 2 and lines[1].startswith("optiinfra-db: error: cannot connect to")
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_url_from_environment_and_bad_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db_dsn: str
) -> None:
    monkeypatch.setenv("OPTIINFRA_DATABASE_URL", db_dsn)
    code, out, err = run(capsys, "status", "--json")
    assert code == 0 and "(from OPTIINFRA_DATABASE_URL)" in err
    assert json.loads(out)["pending"] == []
    monkeypatch.delenv("OPTIINFRA_DATABASE_URL")
    monkeypatch.setenv("DATABASE_URL", "not a url at all")
    code, out, err = run(capsys, "status")
    assert code == 1 and "DATABASE_URL is not a valid PostgreSQL URL" in err


def test_verify_passes_on_a_migrated_database(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    code, out, _ = run(capsys, "verify", "--database-url", db_dsn)
    assert code == 0, out
    assert "verify: passed" in out and "problem" not in out


def test_verify_names_a_dropped_table_and_enum_label(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE workflow_artifacts")
        conn.execute(
            "DELETE FROM pg_enum WHERE enumlabel = 'timeout' "
            "AND enumtypid = 'workflow_status'::regtype"
        )
    code, out, _ = run(capsys, "verify", "--database-url", db_dsn)
    assert code == 1
    problems = [line for line in out.splitlines() if line.startswith("problem")]
    assert any(line.endswith("missing table: workflow_artifacts") for line in problems)
    assert any(
        "enum workflow_status differs from WorkflowStatus: missing labels ['timeout']" in line
        for line in problems
    )
    # The missing table is its one problem: its keys and indexes are neither
    # listed again nor counted as present.
    assert not any("fk_workflow_artifacts" in line for line in problems)
    assert sum("workflow_artifacts" in line for line in problems) == 1
    assert "foreign keys: all" not in out and "indexes: all" not in out
    code, out, _ = run(capsys, "verify", "--json", "--database-url", db_dsn)
    document = json.loads(out)
    assert code == 1 and document["passed"] is False and len(document["problems"]) == 2


def test_verify_fails_on_an_invalid_index_and_names_it(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    """A CREATE INDEX CONCURRENTLY that failed leaves an INVALID index under
    the expected name: present, but unused and enforcing nothing."""
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_workflow_executions_pending")
        conn.execute(
            "INSERT INTO customers (name, email, api_key_hash) VALUES"
            " ('a', 'a@x.test', repeat('a', 64)), ('b', 'b@x.test', repeat('b', 64))"
        )
        with pytest.raises(psycopg.errors.UniqueViolation):  # built, then found duplicates
            conn.execute(
                "CREATE UNIQUE INDEX CONCURRENTLY ix_workflow_executions_pending ON customers ((1))"
            )
    code, out, _ = run(capsys, "verify", "--database-url", db_dsn)
    assert code == 1, out
    problems = [line for line in out.splitlines() if line.startswith("problem")]
    assert any("invalid index: ix_workflow_executions_pending" in line for line in problems)


def test_verify_names_a_foreign_key_with_the_wrong_action(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE events DROP CONSTRAINT fk_events_agent")
        conn.execute(
            "ALTER TABLE events ADD CONSTRAINT fk_events_agent FOREIGN KEY (agent_id) "
            "REFERENCES agents (id) ON DELETE CASCADE"
        )
        conn.execute("DROP INDEX ix_workflow_steps_name_status")
    code, out, _ = run(capsys, "verify", "--database-url", db_dsn)
    assert code == 1
    assert (
        "foreign key fk_events_agent on events: on-delete action is CASCADE, expected SET NULL"
    ) in out
    assert "missing index: ix_workflow_steps_name_status on workflow_steps" in out


def test_verify_and_status_change_nothing(
    capsys: pytest.CaptureFixture[str], empty_db_dsn: str
) -> None:
    code, out, _ = run(capsys, "verify", "--database-url", empty_db_dsn)
    assert code == 1
    assert "pending migration: 0001.core-schema" in out and "missing table: customers" in out
    assert out.count("missing table: customers") == 1 and "indexes: all" not in out
    assert "missing foreign key" not in out and "missing index" not in out
    code, out, _ = run(capsys, "status", "--json", "--database-url", empty_db_dsn)
    assert code == 0 and json.loads(out)["applied"] == []
    with psycopg.connect(empty_db_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchone()
    assert tables == (0,), "verify/status must not create yoyo's tables"


def test_migrate_rollback_status_round_trip(
    capsys: pytest.CaptureFixture[str], empty_db_dsn: str
) -> None:
    code, _, err = run(capsys, "migrate", "--database-url", empty_db_dsn)
    assert code == 0
    assert "applied: 0001.core-schema, 0002.agent-state, 0003.workflow-history, 0004" in err
    assert "0005.live-safe-followups, 0006.plan-stability, 0007.workflow-runtime" in err
    code, _, err = run(capsys, "migrate", "--database-url", empty_db_dsn)
    assert "nothing to apply" in err
    code, _, err = run(capsys, "rollback", "--database-url", empty_db_dsn)
    assert code == 0 and f"rolled back: {MIGRATION_IDS[-1]}" in err
    code, out, _ = run(capsys, "status", "--json", "--database-url", empty_db_dsn)
    assert json.loads(out)["pending"] == [MIGRATION_IDS[-1]]
    code, _, err = run(capsys, "rollback", "--all", "--database-url", empty_db_dsn)
    assert "0005.live-safe-followups, 0004.index-review, 0003.workflow-history" in err


def test_stale_yoyo_lock_is_reported_with_the_fix(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    code, out, err = run(capsys, "status", "--database-url", db_dsn)
    assert code == 0 and "stale yoyo lock held by pid 4242" in err and "yoyo break-lock" in err
    code, out, _ = run(capsys, "verify", "--database-url", db_dsn)
    assert code == 1 and "yoyo break-lock" in out


def _seeded(capsys: pytest.CaptureFixture[str], dsn: str, *extra: str) -> str:
    code, _, err = run(capsys, "seed", "--database-url", dsn, *extra)
    assert code == 0, err
    return err


def test_seed_scale_gives_exact_counts_and_refuses_twice(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    err = _seeded(capsys, db_dsn, "--scale", "137")
    assert "seeded demo story and 185 executions" in err
    with psycopg.connect(db_dsn) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM workflow_executions),"
            " (SELECT count(*) FROM customers), (SELECT count(*) FROM agents),"
            " (SELECT count(DISTINCT (workflow_type, status)) FROM workflow_executions),"
            " (SELECT count(*) FROM workflow_steps WHERE retry_count > 0),"
            " (SELECT count(*) FROM workflow_artifacts),"
            " (SELECT count(*) FROM agent_configs), (SELECT count(*) FROM agent_metrics),"
            " (SELECT count(*) FROM approvals), (SELECT count(*) FROM optimizations)"
        ).fetchone()
    assert counts is not None
    assert counts[:4] == (48 + 137, 3, 5, 48)  # every type in every status
    assert all(c > 0 for c in counts[4:])
    code, _, err = run(capsys, "seed", "--database-url", db_dsn)
    assert code == 1 and "already seeded" in err and "--force" in err
    err = _seeded(capsys, db_dsn, "--scale", "10", "--force")
    with psycopg.connect(db_dsn) as conn:
        # --force adds the scale runs only: the story's 48 runs are written once.
        assert conn.execute("SELECT count(*) FROM workflow_executions").fetchone() == (185 + 10,)


def test_interrupted_seed_resumes_and_keys_are_random(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    err = _seeded(capsys, db_dsn, "--scale", "30")
    keys = re.findall(r"(?:Acme Corp|StartupCo|Demo Customer): (oik_\S+)", err)
    assert len(keys) == 3
    with psycopg.connect(db_dsn) as conn:
        # Simulate an interruption: the last 12 scale runs never made it.
        conn.execute(
            "DELETE FROM workflow_executions WHERE id IN (SELECT id FROM workflow_executions"
            " ORDER BY created_at DESC, id DESC LIMIT 12 OFFSET 1)"
        )
        conn.commit()
    err = _seeded(capsys, db_dsn, "--scale", "30")  # resumes: adds only what is missing
    assert "oik_" not in err  # keys are shown once, when they are made
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM workflow_executions").fetchone() == (48 + 30,)
        repos = api.Repositories(conn)
        assert repos.customers.get_by_api_key(keys[0]) is not None


def test_seed_is_deterministic(
    capsys: pytest.CaptureFixture[str], pg_server: Any, db_dsn: str, empty_db_dsn: str
) -> None:
    run(capsys, "migrate", "--database-url", empty_db_dsn)
    for dsn in (db_dsn, empty_db_dsn):
        _seeded(capsys, dsn, "--scale", "20", "--seed", "7")
    query = (
        "SELECT e.id, e.workflow_type::text, e.status::text, s.step_name, s.status::text "
        "FROM workflow_executions e JOIN workflow_steps s ON s.workflow_execution_id = e.id "
        "ORDER BY e.id, s.step_order"
    )
    with psycopg.connect(db_dsn) as a, psycopg.connect(empty_db_dsn) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_runs_list_show_and_stats(capsys: pytest.CaptureFixture[str], db_dsn: str) -> None:
    _seeded(capsys, db_dsn, "--scale", "200")
    code, out, _ = run(
        capsys,
        "runs",
        "list",
        "--json",
        "--status",
        "failed",
        "--customer",
        "Acme Corp",
        "--limit",
        "500",
        "--database-url",
        db_dsn,
    )
    runs = json.loads(out)
    assert code == 0 and runs and all(r["status"] == "failed" for r in runs)
    assert all(r["customer"] == "Acme Corp" for r in runs)
    assert runs == sorted(runs, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    newest_failed = runs[0]
    assert newest_failed["workflow_type"] == "performance_tuning"

    # --all --json streams every run (server-side cursor), one JSON document.
    code, out, _ = run(capsys, "runs", "list", "--json", "--all", "--database-url", db_dsn)
    every = json.loads(out)
    with psycopg.connect(db_dsn) as check:
        total = check.execute("SELECT count(*) FROM workflow_executions").fetchone()
    assert code == 0 and total is not None and len(every) == total[0] > 200
    assert {r["id"] for r in runs} <= {r["id"] for r in every}
    code, out, _ = run(
        capsys, "runs", "list", "--json", "--customer", "Nobody", "--database-url", db_dsn
    )
    assert code != 0 or json.loads(out) == []

    code, out, _ = run(capsys, "runs", "show", newest_failed["id"], "--database-url", db_dsn)
    assert code == 0
    assert "apply_kv_cache_config    FAILED" in out.replace("\x1b", "")
    assert "<-- failed here" in out and "GpuOutOfMemory" in out
    assert "artifacts (" in out and "apply_kv_cache_config.log" in out

    code, out, _ = run(
        capsys, "runs", "show", newest_failed["id"], "--json", "--database-url", db_dsn
    )
    detail = json.loads(out)
    failed = [s for s in detail["steps"] if s["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error_details"]["code"] == "GPU_OOM"

    code, out, _ = run(
        capsys,
        "runs",
        "list",
        "--database-url",
        db_dsn,
        "--agent",
        "cost-agent-1",
        "--type",
        "cost_analysis",
        "--since",
        "30d",
    )
    assert code == 0 and "cost_analysis" in out and "performance_tuning" not in out

    code, out, _ = run(capsys, "stats", "--json", "--database-url", db_dsn)
    stats = json.loads(out)
    assert {s["workflow_type"] for s in stats} == {
        "cost_analysis",
        "performance_tuning",
        "resource_optimization",
        "quality_check",
        "scaling_decision",
        "configuration_update",
        "health_check",
        "anomaly_detection",
    }
    for s in stats:
        parts = s["pending"] + s["running"] + s["completed"] + s["failed"] + s["cancelled"]
        assert parts + s["timeout"] == s["total"]
        assert 0 <= s["success_rate_pct"] <= 100 and s["p50_s"] <= s["p95_s"]
    code, out, _ = run(capsys, "stats", "--since", "24h", "--database-url", db_dsn)
    assert code == 0 and "success" in out


def test_runs_show_has_attempts_and_timeline_and_reap_moves_expired_runs(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    with api.connect(db_dsn) as conn:
        repos = api.Repositories(conn)
        customer = repos.customers.create(
            odb.CustomerCreate(name="C", email="c@x.test", api_key=odb.new_api_key())
        )
        agent = repos.agents.create(odb.AgentCreate(type=odb.AgentType.COST, name="a"))
        made = repos.workflow_executions.create_with_steps(
            odb.WorkflowExecutionCreate(
                agent_id=agent.id,
                customer_id=customer.id,
                workflow_type=odb.WorkflowType.COST_ANALYSIS,
                max_attempts=2,
            ),
            [odb.NewWorkflowStep(step_name="collect", step_order=1)],
        )
        conn.commit()
        (run_,) = repos.workflow_executions.claim("w-cli", lease=timedelta(milliseconds=50))
        repos.workflow_steps.start(made.steps[0].id, worker_id="w-cli", reason="go")
        conn.commit()
    time.sleep(0.1)
    code, out, err = run(capsys, "reap", "--database-url", db_dsn)
    assert code == 0, err
    assert f"requeued {run_.id} cost_analysis (worker w-cli, attempt 1 of 2)" in out
    assert "moved 1 execution(s)" in err
    code, out, _ = run(capsys, "reap", "--database-url", db_dsn)
    assert code == 0 and out == ""
    code, out, _ = run(capsys, "runs", "show", str(run_.id), "--database-url", db_dsn)
    assert code == 0
    assert "step attempts" in out and "lease_expired" in out and "timeline (6 transitions)" in out
    code, out, _ = run(capsys, "runs", "show", str(run_.id), "--json", "--database-url", db_dsn)
    doc = json.loads(out)
    assert [t["to_status"] for t in doc["history"]] == [
        "pending",
        "pending",
        "running",
        "running",
        "pending",
        "failed",
    ]
    (tries,) = doc["attempts"].values()
    assert tries[0]["outcome"] == "failed" and tries[0]["error_details"]["worker_id"] == "w-cli"
    # a second worker restarts the step, which then fails once and is retried
    with api.connect(db_dsn) as conn:
        repos = api.Repositories(conn)
        steps = repos.workflow_steps
        make_due(conn)  # the reaper requeued it with a backoff
        (again,) = repos.workflow_executions.claim("w-two")
        step_id = made.steps[0].id
        steps.start(step_id, worker_id="w-two")
        steps.fail(step_id, {"error": "flaky"}, retry=True, worker_id="w-two")
        steps.start(step_id, worker_id="w-two")
        steps.complete(step_id, worker_id="w-two")
        done = repos.workflow_executions.complete(run_.id, worker_id="w-two")
        conn.commit()
    assert done.first_started_at == run_.started_at != again.started_at
    code, out, _ = run(capsys, "runs", "show", str(run_.id), "--database-url", db_dsn)
    assert code == 0
    assert "restarts" in out and "run attempts" in out and "this attempt started" in out
    kinds = [line.split()[3] for line in out.splitlines() if line.startswith("1 collect")]
    assert kinds == ["first", "restart", "retry"]
    code, out, _ = run(capsys, "runs", "show", str(run_.id), "--json", "--database-url", db_dsn)
    doc = json.loads(out)
    assert doc["execution"]["first_started_at"] is not None
    (step,) = doc["steps"]
    assert (step["retry_count"], step["restart_count"]) == (1, 1)
    code, _, err = run(capsys, "reap", "--every", "soon", "--database-url", db_dsn)
    assert code == 1 and "--every" in err


def test_runs_show_errors_are_one_line(capsys: pytest.CaptureFixture[str], db_dsn: str) -> None:
    code, out, err = run(capsys, "runs", "show", "nope", "--database-url", db_dsn)
    assert code == 1 and out == "" and err.strip().endswith("not an execution id: 'nope'")
    code, _, err = run(
        capsys, "runs", "show", "00000000-0000-4000-8000-000000000000", "--database-url", db_dsn
    )
    assert code == 1 and "does not exist" in err
    code, _, err = run(capsys, "runs", "list", "--customer", "Nobody Inc", "--database-url", db_dsn)
    assert code == 1 and "no customer matches 'Nobody Inc'" in err
    code, _, err = run(capsys, "runs", "list", "--since", "yesterday", "--database-url", db_dsn)
    assert code == 1 and "--since" in err


def test_without_pgserver_or_url_the_error_says_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("OPTIINFRA_DATABASE_URL", "DATABASE_URL", "OPTIINFRA_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(sys.modules, "pgserver", None)  # import pgserver -> ImportError
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "status")
    assert code == 1 and out == ""
    assert "OPTIINFRA_DATABASE_URL" in err and "pip install 'optiinfra-db[embedded]'" in err
    assert len(err.strip().splitlines()) == 1


def test_purge_command(capsys: pytest.CaptureFixture[str], db_dsn: str, tmp_path: Path) -> None:
    with api.connect(db_dsn) as conn:
        repos = api.Repositories(conn)
        customer = repos.customers.create(
            odb.CustomerCreate(name="P", email="p@x.test", api_key=odb.new_api_key())
        )
        agent = repos.agents.create(odb.AgentCreate(type=odb.AgentType.COST, name="p"))
        for i in range(3):
            made = repos.workflow_executions.create(
                odb.WorkflowExecutionCreate(
                    agent_id=agent.id, customer_id=customer.id, workflow_type="health_check"
                )
            )
            repos.workflow_artifacts.create(
                odb.WorkflowArtifactCreate(
                    workflow_execution_id=made.id,
                    artifact_type="log",
                    artifact_name="l",
                    artifact_path=f"s3://b/{i}.log",
                )
            )
            repos.workflow_executions.cancel(made.id)
        conn.execute("UPDATE workflow_executions SET completed_at = now() - interval '100 days'")
        conn.commit()
    code, _, err = run(
        capsys, "purge", "--older-than", "90d", "--dry-run", "--database-url", db_dsn
    )
    assert code == 0 and "would remove 3 executions" in err, err
    paths = tmp_path / "paths.txt"
    code, _, err = run(
        capsys, "purge", "--older-than", "90d", "--batch-size", "2", "--artifacts-out",
        str(paths), "--database-url", db_dsn,
    )  # fmt: skip
    assert code == 0 and "removed 3 executions" in err and "2 batch(es)" in err, err
    assert sorted(paths.read_text().split()) == [f"s3://b/{i}.log" for i in range(3)]
    code, _, err = run(capsys, "purge", "--older-than", "soon", "--database-url", db_dsn)
    assert code == 1 and "--older-than" in err


def test_runs_watch_replays_a_finished_run_and_exits(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    with api.connect(db_dsn) as conn:
        repos = api.Repositories(conn)
        customer = repos.customers.create(
            odb.CustomerCreate(name="W", email="w@x.test", api_key=odb.new_api_key())
        )
        agent = repos.agents.create(odb.AgentCreate(type=odb.AgentType.COST, name="w"))
        made = repos.workflow_executions.create_with_steps(
            odb.WorkflowExecutionCreate(
                agent_id=agent.id, customer_id=customer.id, workflow_type="health_check"
            ),
            [odb.NewWorkflowStep(step_name="probe", step_order=1)],
        )
        conn.commit()
        repos.workflow_executions.claim("w-cli")
        repos.workflow_steps.start(made.steps[0].id, worker_id="w-cli")
        repos.workflow_steps.complete(made.steps[0].id, worker_id="w-cli")
        repos.workflow_executions.complete(made.execution.id, worker_id="w-cli")
        conn.commit()
        logged = repos.workflow_executions.history(made.execution.id)
    rid = str(made.execution.id)
    code, out, _ = run(
        capsys, "runs", "watch", rid, "--after", "0", "--json", "--database-url", db_dsn
    )
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["id"] for line in lines] == [t.id for t in logged]
    code, out, _ = run(capsys, "runs", "watch", rid, "--after", "0", "--database-url", db_dsn)
    assert code == 0 and "step 1 probe: running -> completed" in out and "worker w-cli" in out


def test_customer_scopes_commands_through_row_level_security(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    from tests.tenant_harness import app_dsn

    _seeded(capsys, db_dsn, "--scale", "60")
    with psycopg.connect(db_dsn) as check:
        acme, acme_runs = check.execute(
            "SELECT c.id, count(*) FROM customers AS c JOIN workflow_executions AS e"
            " ON e.customer_id = c.id WHERE c.name = 'Acme Corp' GROUP BY c.id"
        ).fetchone()  # type: ignore[misc]
        other, other_run = check.execute(
            "SELECT customer_id, id FROM workflow_executions WHERE customer_id <> %s LIMIT 1",
            (acme,),
        ).fetchone()  # type: ignore[misc]
    # a superuser login: resolved by name, then run as optiinfra_app
    code, out, err = run(
        capsys, "runs", "list", "--json", "--all", "--customer", "Acme Corp",
        "--database-url", db_dsn,
    )  # fmt: skip
    assert code == 0, err
    listed = json.loads(out)
    assert len(listed) == acme_runs and {r["customer"] for r in listed} == {"Acme Corp"}
    code, out, err = run(
        capsys, "runs", "show", str(other_run), "--customer", str(acme), "--database-url", db_dsn
    )
    assert code != 0 and f"workflow execution {other_run} does not exist" in err
    code, out, err = run(
        capsys, "runs", "show", str(other_run), "--customer", str(other), "--database-url", db_dsn
    )
    assert code == 0 and str(other_run) in out
    code, out, err = run(
        capsys, "stats", "--json", "--customer", str(acme), "--database-url", db_dsn
    )
    with api.connect(db_dsn) as check:
        expected = api.Repositories(check).workflow_executions.stats(customer_id=acme)
    assert code == 0 and json.loads(out) == [s.model_dump(mode="json") for s in expected]
    assert sum(s["total"] for s in json.loads(out)) > 0
    # an optiinfra_app login: the id scopes it; without --customer it sees nothing
    code, out, err = run(
        capsys, "runs", "list", "--json", "--all", "--customer", str(acme),
        "--database-url", app_dsn(db_dsn),
    )  # fmt: skip
    assert code == 0 and len(json.loads(out)) == acme_runs, err
    code, out, _ = run(capsys, "runs", "list", "--json", "--database-url", app_dsn(db_dsn))
    assert code == 0 and json.loads(out) == []
    code, _, err = run(
        capsys, "runs", "list", "--customer", "Acme Corp", "--database-url", app_dsn(db_dsn)
    )
    assert code != 0 and "give the customer's id" in err


@pytest.mark.sync_only  # the CLI's own argument handling
@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["purge", "--older-than", "99999999999d", "--dry-run"], 1, "--older-than"),
        (["purge", "--older-than", "1d", "--artifacts-out", "/nonexistent/dir/x"], 1, "No such"),
        (["--data-dir", "/proc/1/x", "status"], 1, "/proc/1/x"),
        (["--database-url", "", "status"], 2, "--database-url is empty"),
        (["--database-url", "postgresql://alice:S3cretPW@[::1/db", "status"], 1, "not a valid"),
        (["--database-url", "postgresql://alice:S3cretPW@[::1/db", "status", "--debug"], 1, "***"),
        (["--database-url", "postgresql://a@h\x1bost:1/db", "status"], 1, "h\\x1bost"),
    ],
)
def test_bad_invocations_end_in_a_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_dsn: str,
    argv: list[str],
    code: int,
    says: str,
) -> None:
    for name in ("OPTIINFRA_DATABASE_URL", "DATABASE_URL", "OPTIINFRA_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    if argv[0] == "purge":
        argv = ["--database-url", db_dsn, *argv]
    got, out, err = run(capsys, *argv)
    assert got == code, err
    assert says in err
    assert "S3cretPW" not in out + err and "\x1b" not in out + err
    if "--debug" not in argv:
        assert "Traceback" not in err
        assert len([line for line in err.splitlines() if "error" in line]) == 1


@pytest.mark.sync_only  # the CLI is sync; the library views it calls run on both sides elsewhere
def test_operator_views_running_failures_counts_and_status_lists(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    _seeded(capsys, db_dsn)  # the story: one run of every type in every status
    n_types = len(odb.WorkflowType)
    code, out, err = run(capsys, "runs", "counts", "--json", "--database-url", db_dsn)
    assert code == 0, err
    assert json.loads(out) == {s.value: n_types for s in odb.WorkflowStatus}
    code, out, _ = run(capsys, "runs", "counts", "--database-url", db_dsn)
    assert code == 0 and "pending" in out and f"{6 * n_types}" in out
    code, out, _ = run(capsys, "runs", "running", "--json", "--database-url", db_dsn)
    running = json.loads(out)
    assert code == 0 and len(running) == n_types
    assert {r["status"] for r in running} == {"running"}
    code, out, _ = run(capsys, "runs", "running", "--database-url", db_dsn)
    assert code == 0 and "lease left" in out
    code, out, _ = run(capsys, "runs", "failures", "--json", "--database-url", db_dsn)
    failures = json.loads(out)
    assert code == 0 and failures and all(f["failed_attempts"] >= 1 for f in failures)
    code, out, _ = run(capsys, "runs", "failures", "--database-url", db_dsn)
    assert code == 0 and "failed attempts" in out
    code, out, _ = run(
        capsys, "runs", "list", "--status", "failed,timeout", "--json", "--all",
        "--database-url", db_dsn,
    )  # fmt: skip
    listed = json.loads(out)
    assert code == 0 and len(listed) == 2 * n_types
    assert {r["status"] for r in listed} == {"failed", "timeout"}
    code, _, err = run(capsys, "runs", "list", "--status", "failed,late", "--database-url", db_dsn)
    assert code == 1 and "--status" in err
    finished = next(r for r in listed if r["status"] == "timeout")["id"]
    code, out, err = run(capsys, "runs", "watch", finished, "--database-url", db_dsn)
    assert code == 0 and f"execution {finished} finished: timeout at" in err


def test_runs_rerun_sends_a_dead_letter_round_again(
    capsys: pytest.CaptureFixture[str], db_dsn: str
) -> None:
    _seeded(capsys, db_dsn)
    code, out, _ = run(
        capsys, "runs", "list", "--json", "--status", "failed,timeout", "--database-url", db_dsn
    )
    dead = json.loads(out)
    assert code == 0 and dead and {r["status"] for r in dead} <= {"failed", "timeout"}
    assert all("priority" in r and "run_after" in r and "idempotency_key" in r for r in dead)
    target = dead[0]
    code, out, _ = run(
        capsys, "runs", "rerun", target["id"], "--reason", "fixed upstream", "--json",
        "--database-url", db_dsn,
    )  # fmt: skip
    again = json.loads(out)
    assert code == 0 and again["status"] == "pending" and again["id"] == target["id"]
    assert again["max_attempts"] > target["max_attempts"] - 1
    with psycopg.connect(db_dsn) as check:
        row = check.execute(
            "SELECT to_status, reason, actor FROM workflow_transitions"
            " WHERE workflow_execution_id = %s AND workflow_step_id IS NULL"
            " ORDER BY id DESC LIMIT 1",
            [target["id"]],
        ).fetchone()
    assert row is not None and row[0] == "pending" and row[1] == "fixed upstream" and row[2]
    code, out, err = run(capsys, "runs", "rerun", target["id"], "--database-url", db_dsn)
    assert code != 0 and "pending" in (out + err)  # not a dead letter any more
    code, out, _ = run(capsys, "runs", "list", "--database-url", db_dsn)
    assert code == 0 and "prio" in out and "run after" in out


def test_worker_refuses_what_it_cannot_run(capsys: pytest.CaptureFixture[str], db_dsn: str) -> None:
    for argv, said in (
        (["--module", "no_such_module_x:handle"], "cannot import no_such_module_x"),
        (["--module", "tests.worker_handlers"], "expected package.module:function"),
        (["--module", "tests.worker_handlers:nothing_here"], "has no function"),
        (["--module", "tests.worker_handlers:with_steps", "--types", "bogus"], "--types"),
        (["--module", "tests.worker_handlers:with_steps", "--lease", "soon"], "--lease"),
        (["--module", "tests.worker_handlers:with_steps", "--concurrency", "0"], "--concurrency"),
    ):
        code, out, err = run(capsys, "worker", *argv, "--database-url", db_dsn)
        assert code == 1 and said in err and out == "", (argv, err)
