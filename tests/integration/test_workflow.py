"""Workflow history: every lifecycle transition (allowed and refused), the race,
retries, get_detail, cascades seen through the repositories."""

from __future__ import annotations

import threading
from typing import Any
from uuid import uuid4

import psycopg
import pydantic
import pytest

import optiinfra_db as odb
from tests.aio_bridge import statements_sent
from tests.conftest import World
from tests.sides import api

# Every test here runs on both sides: sync, and optiinfra_db.aio (tests/aio_bridge.py).
pytestmark = [pytest.mark.usefixtures("side"), pytest.mark.tenant]

Conn = psycopg.Connection[Any]
S = odb.WorkflowStatus
St = odb.StepStatus


def _execution(
    repos: odb.Repositories, world: World, status: S = S.PENDING
) -> odb.WorkflowExecution:
    return repos.workflow_executions.create(
        odb.WorkflowExecutionCreate(
            agent_id=world.agent.id,
            customer_id=world.customer.id,
            workflow_type=odb.WorkflowType.PERFORMANCE_TUNING,
            status=status,
        )
    )


def test_execution_happy_path(repos: odb.Repositories, world: World) -> None:
    wx = repos.workflow_executions
    run = wx.start(world.execution.id)
    assert run.status is S.RUNNING and run.started_at is not None and run.completed_at is None
    done = wx.complete(run.id, output_data={"savings": "12%"})
    assert done.status is S.COMPLETED and done.output_data == {"savings": "12%"}
    assert done.completed_at is not None and done.completed_at > done.started_at  # type: ignore[operator]
    assert wx.get(run.id) == done


def test_complete_without_output_keeps_output(repos: odb.Repositories, world: World) -> None:
    wx = repos.workflow_executions
    wx.update(world.execution.id, odb.WorkflowExecutionUpdate(output_data={"partial": True}))
    wx.start(world.execution.id)
    assert wx.complete(world.execution.id).output_data == {"partial": True}


@pytest.mark.parametrize(
    ("method", "args", "wanted", "allowed"),
    [
        ("start", (), S.RUNNING, {S.PENDING}),
        ("complete", (), S.COMPLETED, {S.RUNNING}),
        ("fail", ({"error": "boom"},), S.FAILED, {S.RUNNING}),
        ("cancel", (), S.CANCELLED, {S.PENDING, S.RUNNING}),
        ("time_out", (), S.TIMEOUT, {S.RUNNING}),
    ],
)
@pytest.mark.parametrize("current", list(S))
def test_every_execution_transition_allowed_or_refused(
    repos: odb.Repositories,
    world: World,
    conn: Conn,
    method: str,
    args: tuple[Any, ...],
    wanted: S,
    allowed: set[S],
    current: S,
) -> None:
    run = _execution(repos, world, current)
    move = getattr(repos.workflow_executions, method)
    if current in allowed:
        moved = move(run.id, *args)
        assert moved.status is wanted
        if wanted is S.RUNNING:
            assert moved.started_at is not None
        else:
            assert moved.completed_at is not None
        if wanted is S.FAILED:
            assert moved.error_details == {"error": "boom"}
    else:
        with pytest.raises(odb.InvalidTransitionError) as info:
            move(run.id, *args)
        assert (info.value.current, info.value.wanted) == (current.value, wanted.value)
        assert str(run.id) in str(info.value)
        # Nothing raised inside the server: the transaction goes on.
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert repos.workflow_executions.get(run.id) == run


def test_missing_execution_is_not_found_and_transaction_usable(
    repos: odb.Repositories, conn: Conn
) -> None:
    missing = uuid4()
    for method in ("start", "complete", "cancel", "time_out"):
        with pytest.raises(odb.NotFoundError) as info:
            getattr(repos.workflow_executions, method)(missing)
        assert info.value.id == missing
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_race_to_finish_one_execution_has_exactly_one_winner(
    repos: odb.Repositories, world: World, conn: Conn, db_dsn: str
) -> None:
    repos.workflow_executions.start(world.execution.id)
    conn.commit()
    n = 8
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def finish(i: int) -> None:
        with api.connect(db_dsn) as c:
            r = api.Repositories(c)
            barrier.wait()
            try:
                if i % 2:
                    r.workflow_executions.complete(world.execution.id, output_data={"winner": i})
                else:
                    r.workflow_executions.fail(world.execution.id, {"winner": i})
                c.commit()
                result = f"won:{i}"
            except odb.InvalidTransitionError as exc:
                c.rollback()
                result = f"refused:{exc.current}"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1, outcomes
    assert len(outcomes) == n
    winner = int(winners[0].split(":")[1])
    final = repos.workflow_executions.get(world.execution.id)
    assert final is not None
    if winner % 2:
        assert final.status is S.COMPLETED and final.output_data == {"winner": winner}
    else:
        assert final.status is S.FAILED and final.error_details == {"winner": winner}
    assert {o.split(":")[1] for o in outcomes if o.startswith("refused")} == {final.status.value}


def _created(record: Any) -> tuple[Any, Any]:
    return (record.created_at, record.id)


def _steps(
    repos: odb.Repositories, execution_id: Any, n: int = 3, **kwargs: Any
) -> list[odb.WorkflowStep]:
    count = repos.workflow_steps.bulk_create(
        odb.WorkflowStepCreate(
            workflow_execution_id=execution_id, step_name=f"step-{i}", step_order=i, **kwargs
        )
        for i in range(1, n + 1)
    )
    assert count == n
    # Steps move only while their execution runs.
    if repos.workflow_executions.get(execution_id).status is S.PENDING:  # type: ignore[union-attr]
        repos.workflow_executions.start(execution_id)
    return repos.workflow_steps.list_for_execution(execution_id)


def test_step_lifecycle_with_retry_up_to_and_past_the_limit(
    repos: odb.Repositories, world: World
) -> None:
    ws = repos.workflow_steps
    (step,) = _steps(repos, world.execution.id, n=1, max_retries=2)
    step = ws.start(step.id)
    step = ws.fail(step.id, {"error": "timeout", "attempt": 1})
    assert step.status is St.FAILED and step.completed_at is not None
    step = ws.retry(step.id)
    assert (step.status, step.retry_count, step.error_details) == (
        St.RETRYING,
        1,
        {"error": "timeout", "attempt": 1},
    )
    step = ws.start(step.id)
    # Starting again clears the previous attempt's end and error.
    assert step.status is St.RUNNING and step.completed_at is None and step.error_details is None
    step = ws.retry(step.id)  # running -> retrying also counts
    assert step.retry_count == 2
    ws.start(step.id)
    ws.fail(step.id, {"error": "timeout", "attempt": 3})
    with pytest.raises(odb.InvalidTransitionError, match="retries exhausted: 2 of 2") as info:
        ws.retry(step.id)
    assert (info.value.current, info.value.wanted) == ("failed", "retrying")
    final = ws.get(step.id)
    assert final is not None and final.retry_count == 2 and final.status is St.FAILED


@pytest.mark.parametrize(
    ("method", "args", "wanted", "allowed"),
    [
        ("start", (), St.RUNNING, {St.PENDING, St.RETRYING}),
        ("complete", (), St.COMPLETED, {St.RUNNING}),
        ("fail", ({"e": 1},), St.FAILED, {St.RUNNING}),
        ("skip", (), St.SKIPPED, {St.PENDING}),
        ("retry", (), St.RETRYING, {St.FAILED, St.RUNNING}),
    ],
)
@pytest.mark.parametrize("current", list(St))
def test_every_step_transition_allowed_or_refused(
    repos: odb.Repositories,
    world: World,
    conn: Conn,
    method: str,
    args: tuple[Any, ...],
    wanted: St,
    allowed: set[St],
    current: St,
) -> None:
    (step,) = _steps(repos, world.execution.id, n=1, status=current)
    move = getattr(repos.workflow_steps, method)
    if current in allowed:
        assert move(step.id, *args).status is wanted
    else:
        with pytest.raises(odb.InvalidTransitionError) as info:
            move(step.id, *args)
        assert (info.value.current, info.value.wanted) == (current.value, wanted.value)
        assert repos.workflow_steps.get(step.id) == step
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_step_started_and_finished_in_one_transaction_has_a_duration(
    repos: odb.Repositories, world: World
) -> None:
    (step,) = _steps(repos, world.execution.id, n=1)
    repos.workflow_steps.start(step.id)
    done = repos.workflow_steps.complete(step.id, output_data={"rows": 10})
    assert done.started_at is not None and done.completed_at is not None
    assert done.completed_at > done.started_at
    assert done.output_data == {"rows": 10}


def test_get_detail_in_one_round_trip(repos: odb.Repositories, world: World, conn: Conn) -> None:
    steps = _steps(repos, world.execution.id, n=4)
    # Insert steps out of order to prove the ordering comes from step_order.
    repos.workflow_steps.create(
        odb.WorkflowStepCreate(
            workflow_execution_id=world.execution.id, step_name="step-0", step_order=5
        )
    )
    report = repos.workflow_artifacts.create(
        odb.WorkflowArtifactCreate(
            workflow_execution_id=world.execution.id,
            artifact_type=odb.ArtifactType.REPORT,
            artifact_name="cost-report.pdf",
            artifact_path="s3://reports/acme/cost.pdf",
            artifact_size_bytes=48_213,
            content_type="application/pdf",
        )
    )
    chart = repos.workflow_artifacts.create(
        odb.WorkflowArtifactCreate(
            workflow_execution_id=world.execution.id,
            workflow_step_id=steps[1].id,
            artifact_type=odb.ArtifactType.CHART,
            artifact_name="util.png",
            artifact_path="/tmp/util.png",
        )
    )
    with statements_sent() as statements:
        detail = repos.workflow_executions.get_detail(world.execution.id)
    assert len(statements) == 1
    assert detail is not None
    assert detail.execution == repos.workflow_executions.get(world.execution.id)
    assert [s.step_order for s in detail.steps] == [1, 2, 3, 4, 5]
    assert detail.steps[:4] == steps
    assert detail.artifacts == sorted([report, chart], key=_created)
    assert repos.workflow_executions.get_detail(uuid4()) is None
    empty = _execution(repos, world)
    bare = repos.workflow_executions.get_detail(empty.id)
    assert bare is not None and bare.steps == [] and bare.artifacts == []


def test_artifact_lists_and_wrong_execution_step(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    steps = _steps(repos, world.execution.id, n=2)
    other = _execution(repos, world)
    a1 = repos.workflow_artifacts.create(
        odb.WorkflowArtifactCreate(
            workflow_execution_id=world.execution.id,
            workflow_step_id=steps[0].id,
            artifact_type="log",
            artifact_name="run.log",
            artifact_path="/logs/run.log",
        )
    )
    a2 = repos.workflow_artifacts.create(
        odb.WorkflowArtifactCreate(
            workflow_execution_id=world.execution.id,
            artifact_type="metrics",
            artifact_name="m.json",
            artifact_path="/m.json",
            metadata={"rows": 3},
        )
    )
    wa = repos.workflow_artifacts
    # Same transaction, same created_at: ties are broken by id.
    assert wa.list_for_execution(world.execution.id) == sorted([a1, a2], key=_created)
    assert wa.list_for_execution(world.execution.id, artifact_type=odb.ArtifactType.METRICS) == [a2]
    assert wa.list_for_step(steps[0].id) == [a1]
    a2 = wa.update(a2.id, odb.WorkflowArtifactUpdate(artifact_size_bytes=1024))
    assert wa.get(a2.id) == a2 and a2.artifact_size_bytes == 1024
    conn.commit()
    with pytest.raises(odb.InvalidReferenceError) as info:
        wa.create(
            odb.WorkflowArtifactCreate(
                workflow_execution_id=other.id,
                workflow_step_id=steps[0].id,
                artifact_type="log",
                artifact_name="x",
                artifact_path="/x",
            )
        )
    assert info.value.constraint == "fk_workflow_artifacts_step"
    assert f"workflow step {steps[0].id} does not exist in workflow execution {other.id}" in str(
        info.value
    )
    conn.rollback()


def test_list_by_name_finds_failures_of_one_step(repos: odb.Repositories, world: World) -> None:
    steps = _steps(repos, world.execution.id, n=2)
    repos.workflow_steps.start(steps[1].id)
    failed = repos.workflow_steps.fail(steps[1].id, {"error": "OOM"})
    assert repos.workflow_steps.list_by_name("step-2", status=St.FAILED) == [failed]
    assert repos.workflow_steps.list_by_name("step-2") == [failed]  # failures by default
    assert repos.workflow_steps.list_by_name("step-1", St.FAILED) == []
    assert [s.id for s in repos.workflow_steps.list_by_name("step-1", St.PENDING)] == [steps[0].id]


def test_active_runs_of_an_agent_and_counts_by_type(repos: odb.Repositories, world: World) -> None:
    running = _execution(repos, world, S.RUNNING)
    _execution(repos, world, S.COMPLETED)
    active = repos.workflow_executions.list_active_for_agent(world.agent.id)
    assert {e.id for e in active} == {world.execution.id, running.id}
    assert repos.workflow_executions.count_active_for_agent(world.agent.id) == 2
    counts = repos.workflow_executions.count_by_type(world.customer.id)
    assert counts == {odb.WorkflowType.COST_ANALYSIS: 1, odb.WorkflowType.PERFORMANCE_TUNING: 2}


# A scope deleting a run an agent's state points at is refused (the SET NULL
# would change a platform row): test_tenancy.py checks that side.
@pytest.mark.operator_only
def test_cascades_through_repositories(repos: odb.Repositories, world: World) -> None:
    steps = _steps(repos, world.execution.id, n=2)
    art = repos.workflow_artifacts.create(
        odb.WorkflowArtifactCreate(
            workflow_execution_id=world.execution.id,
            workflow_step_id=steps[0].id,
            artifact_type="diagnostic",
            artifact_name="d",
            artifact_path="/d",
        )
    )
    repos.agent_states.set_current_workflow(world.agent.id, world.execution.id)
    assert repos.workflow_steps.delete(steps[0].id)
    assert repos.workflow_artifacts.get(art.id) is None
    assert repos.workflow_executions.delete(world.execution.id)
    assert repos.workflow_steps.get(steps[1].id) is None
    state = repos.agent_states.get_for_agent(world.agent.id)
    assert state is not None and state.current_workflow_id is None
    run = _execution(repos, world)
    assert repos.customers.delete(world.customer.id)
    assert repos.workflow_executions.get(run.id) is None
    assert repos.agents.get(world.agent.id) is not None


def test_bulk_create_duplicate_order_writes_nothing(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    conn.commit()
    with pytest.raises(odb.ConflictError, match="one step per position") as info:
        repos.workflow_steps.bulk_create(
            [
                odb.WorkflowStepCreate(
                    workflow_execution_id=world.execution.id, step_name="a", step_order=1
                ),
                odb.WorkflowStepCreate(
                    workflow_execution_id=world.execution.id, step_name="b", step_order=1
                ),
            ]
        )
    assert info.value.constraint == "ix_workflow_steps_execution_order"
    conn.rollback()
    assert repos.workflow_steps.list_for_execution(world.execution.id) == []


def test_create_with_steps_is_one_statement_and_all_or_nothing(
    repos: odb.Repositories, world: World, conn: Conn
) -> None:
    data = odb.WorkflowExecutionCreate(
        agent_id=world.agent.id,
        customer_id=world.customer.id,
        workflow_type=odb.WorkflowType.RESOURCE_OPTIMIZATION,
        input_data={"pool": "a100"},
    )
    steps = [
        odb.NewWorkflowStep(step_name=name, step_order=i, input_data={"i": i}, max_retries=i)
        for i, name in enumerate(["collect", "plan", "resize"], start=1)
    ]
    with statements_sent() as sent:
        detail = repos.workflow_executions.create_with_steps(data, reversed(steps))
    assert len(sent) == 1
    assert detail == repos.workflow_executions.get_detail(detail.execution.id)
    assert [(s.step_name, s.step_order, s.max_retries, s.input_data) for s in detail.steps] == [
        ("collect", 1, 1, {"i": 1}),
        ("plan", 2, 2, {"i": 2}),
        ("resize", 3, 3, {"i": 3}),
    ]
    assert detail.execution.input_data == {"pool": "a100"} and detail.artifacts == []
    conn.commit()

    before = repos.workflow_executions.list_for_customer(world.customer.id)
    with pytest.raises(odb.ConflictError):
        repos.workflow_executions.create_with_steps(data, [steps[0], steps[0]])
    conn.rollback()
    assert repos.workflow_executions.list_for_customer(world.customer.id) == before
    with pytest.raises(pydantic.ValidationError):
        repos.workflow_executions.create_with_steps(data, [{"step_name": "x", "step_order": 0}])  # type: ignore[list-item]
