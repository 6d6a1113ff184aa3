"""Tenant isolation (issue #11): customer A's scoped repositories, on an
``optiinfra_app`` login, never return, count, update, move or delete customer
B's rows, whatever method is called with B's ids; PostgreSQL's row-level
security enforces it (a raw SELECT shows the same); the operator's view sees
everything. Both sides (``side``). What the database holds is read back on a
superuser connection after every attempt."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

import optiinfra_db as odb
from optiinfra_db.errors import CustomerScopeError, InvalidReferenceError, NotFoundError
from optiinfra_db.schema import CUSTOMER_TABLES
from tests.sides import api
from tests.tenant_harness import APP_USER, app_dsn

pytestmark = pytest.mark.usefixtures("side")

Conn = psycopg.Connection[Any]

#: Every customer-owned table (schema.CUSTOMER_TABLES), and how a row names its customer.
OWNED = {table: "id" if table == "customers" else "customer_id" for table in CUSTOMER_TABLES}


@pytest.mark.sync_only  # the catalog, read once
def test_the_customer_tables_are_the_ones_postgresql_secures(raw_conn: Conn) -> None:
    """schema.CUSTOMER_TABLES (the one list) is exactly the tables with
    row-level security enabled and a policy, each with a customer column."""
    secured = raw_conn.execute(
        "SELECT c.relname FROM pg_class AS c"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " AND c.relrowsecurity"
        " AND EXISTS (SELECT 1 FROM pg_policy AS p WHERE p.polrelid = c.oid)"
    ).fetchall()
    assert {name for (name,) in secured} == CUSTOMER_TABLES
    for table, column in OWNED.items():
        found = raw_conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            [table, column],
        ).fetchone()
        assert found, (table, column)


def _tenant(repos: Any, agent: Any, name: str) -> dict[str, Any]:
    """A customer with one row in every customer-owned table (and a run that moved)."""
    customer = repos.customers.create(
        odb.CustomerCreate(name=name, email=f"{name}@tenant.test", api_key=odb.new_api_key())
    )
    event = repos.events.create(
        odb.EventCreate(customer_id=customer.id, event_type=odb.EventType.RECOMMENDATION_CREATED)
    )
    rec = repos.recommendations.create(
        odb.RecommendationCreate(
            customer_id=customer.id,
            agent_id=agent.id,
            type=odb.RecommendationType.RIGHT_SIZING,
            title=f"{name}: smaller nodes",
            confidence_score=0.9,
        )
    )
    approval = repos.approvals.create(
        odb.ApprovalCreate(recommendation_id=rec.id, approved_by=f"ops@{name}")
    )
    opt = repos.optimizations.create(
        odb.OptimizationCreate(recommendation_id=rec.id, customer_id=customer.id, agent_id=agent.id)
    )
    detail = repos.workflow_executions.create_with_steps(
        odb.WorkflowExecutionCreate(
            agent_id=agent.id,
            customer_id=customer.id,
            workflow_type=odb.WorkflowType.COST_ANALYSIS,
            input_data={"secret": name},
        ),
        [odb.NewWorkflowStep(step_name=f"s{i}", step_order=i) for i in (1, 2)],
    )
    run = detail.execution
    step = detail.steps[0]
    artifact = repos.workflow_artifacts.create(
        odb.WorkflowArtifactCreate(
            workflow_execution_id=run.id,
            workflow_step_id=step.id,
            artifact_type=odb.ArtifactType.REPORT,
            artifact_name="r",
            artifact_path=f"s3://{name}/r",
        )
    )
    return {
        "customer": customer,
        "event": event,
        "rec": rec,
        "approval": approval,
        "opt": opt,
        "run": run,
        "step": step,
        "step2": detail.steps[1],
        "artifact": artifact,
    }


@pytest.fixture
def tenants(db_dsn: str) -> Iterator[dict[str, Any]]:
    """Customers A and B, each with a row in every customer-owned table (made
    through the operator's view, committed); B's run is claimed and running."""
    with api.connect(db_dsn) as conn:
        repos = api.Repositories(conn)
        agent = repos.agents.create(odb.AgentCreate(type=odb.AgentType.COST, name="tenant-agent"))
        a = _tenant(repos, agent, "alpha")
        b = _tenant(repos, agent, "bravo")
        conn.commit()
        for t in (a, b):  # each run claimed, its first step running: lifecycle moves apply
            (claimed,) = api.Repositories(conn).workflow_executions.claim(
                "w", customer_id=t["customer"].id
            )
            assert claimed.id == t["run"].id
            repos.workflow_steps.start(t["step"].id, worker_id="w")
        conn.commit()
    yield {"a": a, "b": b, "agent": agent}


def _holdings(db_dsn: str, customer_id: Any) -> dict[str, list[Any]]:
    """Every row of the customer, per table, as the database holds it (operator)."""
    with psycopg.connect(db_dsn) as conn:
        return {
            table: [
                r[0]
                for r in conn.execute(
                    f"SELECT to_jsonb(t)::text FROM {table} AS t WHERE {col} = %s ORDER BY 1",
                    (customer_id,),
                ).fetchall()
            ]
            for table, col in OWNED.items()
        }


@pytest.fixture
def app(db_dsn: str) -> Iterator[Conn]:
    """A library connection logged in as the optiinfra_app test user."""
    with api.connect(app_dsn(db_dsn)) as conn:
        yield conn


def test_a_plain_select_shows_the_transactions_customer_only(
    db_dsn: str, tenants: dict[str, Any]
) -> None:
    a, b = tenants["a"]["customer"].id, tenants["b"]["customer"].id
    with psycopg.connect(app_dsn(db_dsn)) as conn:
        assert conn.info.parameter_status("session_authorization") == APP_USER
        for table, col in OWNED.items():
            sql = f"SELECT {col} FROM {table}"
            assert conn.execute(sql).fetchall() == [], f"{table} without a customer set"
            conn.execute("SELECT set_config('optiinfra.customer_id', %s, true)", (str(a),))
            seen = {r[0] for r in conn.execute(sql).fetchall()}
            assert seen == {a}, table
            conn.rollback()  # the setting ends with the transaction
            assert conn.execute(sql).fetchall() == [], f"{table} after the transaction"
            conn.rollback()
        # the spec's example, on workflow_executions: only A's rows
        conn.execute("SELECT set_config('optiinfra.customer_id', %s, true)", (str(a),))
        rows = conn.execute("SELECT * FROM workflow_executions").fetchall()
        assert [r[0] for r in rows] == [tenants["a"]["run"].id]
    with psycopg.connect(db_dsn) as operator:  # the operator's view: both
        for table, col in OWNED.items():
            seen = {r[0] for r in operator.execute(f"SELECT {col} FROM {table}").fetchall()}
            assert seen == {a, b}, table


def test_writes_without_a_customer_set_change_nothing(db_dsn: str, tenants: dict[str, Any]) -> None:
    before = _holdings(db_dsn, tenants["b"]["customer"].id)
    with psycopg.connect(app_dsn(db_dsn), autocommit=True) as conn:
        for table in OWNED.keys() - {"workflow_transitions"}:
            assert conn.execute(f"DELETE FROM {table}").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute("DELETE FROM workflow_transitions")  # the audit trail: no DELETE at all
        assert conn.execute("UPDATE workflow_executions SET status = 'failed'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO events (customer_id, event_type)"
                " VALUES (%s, 'recommendation_created')",
                (tenants["b"]["customer"].id,),
            )
    assert _holdings(db_dsn, tenants["b"]["customer"].id) == before


def _calls(a: dict[str, Any], b: dict[str, Any], agent: Any) -> dict[str, Callable[[Any], Any]]:
    """Every public method of the customer-owned repositories, called by A's
    scoped repositories with B's ids (or B's customer): name -> call."""
    bc = b["customer"].id
    rec_update = odb.RecommendationUpdate(title="hijacked")
    return {
        # customers
        "customers.create": lambda r: r.customers.create(
            odb.CustomerCreate(name="x", email="x@tenant.test", api_key=odb.new_api_key())
        ),
        "customers.get": lambda r: r.customers.get(bc),
        "customers.get_by_email": lambda r: r.customers.get_by_email("bravo@tenant.test"),
        "customers.get_by_api_key": lambda r: r.customers.get_by_api_key(odb.new_api_key()),
        "customers.authenticate": lambda r: r.customers.authenticate(odb.new_api_key()),
        "customers.list": lambda r: [c for c in r.customers.list() if c.id == bc],
        "customers.update": lambda r: r.customers.update(bc, odb.CustomerUpdate(name="hijacked")),
        "customers.merge_metadata": lambda r: r.customers.merge_metadata(bc, {"x": 1}),
        "customers.rotate_api_key": lambda r: r.customers.rotate_api_key(bc, odb.new_api_key()),
        "customers.delete": lambda r: r.customers.delete(bc),
        # events
        "events.create": lambda r: r.events.create(
            odb.EventCreate(customer_id=bc, event_type=odb.EventType.RECOMMENDATION_CREATED)
        ),
        "events.get": lambda r: r.events.get(b["event"].id),
        "events.list": lambda r: r.events.list(bc),
        "events.list_for_agent": lambda r: [
            e for e in r.events.list_for_agent(agent.id) if e.customer_id == bc
        ],
        "events.delete": lambda r: r.events.delete(b["event"].id),
        # recommendations
        "recommendations.create": lambda r: r.recommendations.create(
            odb.RecommendationCreate(
                customer_id=bc,
                agent_id=agent.id,
                type=odb.RecommendationType.RIGHT_SIZING,
                title="x",
                confidence_score=0.5,
            )
        ),
        "recommendations.get": lambda r: r.recommendations.get(b["rec"].id),
        "recommendations.list": lambda r: r.recommendations.list(bc),
        "recommendations.list_for_agent": lambda r: [
            x for x in r.recommendations.list_for_agent(agent.id) if x.customer_id == bc
        ],
        "recommendations.update": lambda r: r.recommendations.update(b["rec"].id, rec_update),
        "recommendations.merge_metadata": lambda r: r.recommendations.merge_metadata(
            b["rec"].id, {"x": 1}
        ),
        "recommendations.delete": lambda r: r.recommendations.delete(b["rec"].id),
        # approvals (B's through B's recommendation)
        "approvals.create": lambda r: r.approvals.create(
            odb.ApprovalCreate(recommendation_id=b["rec"].id, approved_by="mallory")
        ),
        "approvals.get": lambda r: r.approvals.get(b["approval"].id),
        "approvals.list": lambda r: r.approvals.list(b["rec"].id),
        "approvals.update": lambda r: r.approvals.update(
            b["approval"].id, odb.ApprovalUpdate(status=odb.ApprovalStatus.APPROVED)
        ),
        "approvals.merge_metadata": lambda r: r.approvals.merge_metadata(
            b["approval"].id, {"x": 1}
        ),
        "approvals.delete": lambda r: r.approvals.delete(b["approval"].id),
        # optimizations: A's own customer on B's recommendation is refused too
        "optimizations.create": lambda r: r.optimizations.create(
            odb.OptimizationCreate(
                recommendation_id=b["rec"].id, customer_id=a["customer"].id, agent_id=agent.id
            )
        ),
        "optimizations.get": lambda r: r.optimizations.get(b["opt"].id),
        "optimizations.list": lambda r: r.optimizations.list(bc),
        "optimizations.list_for_recommendation": lambda r: r.optimizations.list_for_recommendation(
            b["rec"].id
        ),
        "optimizations.update": lambda r: r.optimizations.update(
            b["opt"].id, odb.OptimizationUpdate(status=odb.OptimizationStatus.FAILED)
        ),
        "optimizations.merge_metadata": lambda r: r.optimizations.merge_metadata(
            b["opt"].id, {"x": 1}
        ),
        "optimizations.delete": lambda r: r.optimizations.delete(b["opt"].id),
        # workflow executions
        "workflow_executions.create": lambda r: r.workflow_executions.create(
            odb.WorkflowExecutionCreate(
                agent_id=agent.id, customer_id=bc, workflow_type=odb.WorkflowType.COST_ANALYSIS
            )
        ),
        "workflow_executions.create_with_steps": lambda r: r.workflow_executions.create_with_steps(
            odb.WorkflowExecutionCreate(
                agent_id=agent.id, customer_id=bc, workflow_type=odb.WorkflowType.COST_ANALYSIS
            ),
            [odb.NewWorkflowStep(step_name="s", step_order=1)],
        ),
        "workflow_executions.get": lambda r: r.workflow_executions.get(b["run"].id),
        "workflow_executions.get_detail": lambda r: r.workflow_executions.get_detail(b["run"].id),
        "workflow_executions.get_details": lambda r: r.workflow_executions.get_details(
            [b["run"].id]
        ),
        "workflow_executions.history": lambda r: r.workflow_executions.history(b["run"].id),
        "workflow_executions.list": lambda r: [
            x for x in r.workflow_executions.list() if x.customer_id == bc
        ],
        "workflow_executions.iter": lambda r: [
            x for x in r.workflow_executions.iter() if x.customer_id == bc
        ],
        "workflow_executions.list_for_customer": lambda r: r.workflow_executions.list_for_customer(
            bc
        ),
        "workflow_executions.iter_for_customer": lambda r: list(
            r.workflow_executions.iter_for_customer(bc)
        ),
        "workflow_executions.list_for_agent": lambda r: [
            x for x in r.workflow_executions.list_for_agent(agent.id) if x.customer_id == bc
        ],
        "workflow_executions.iter_for_agent": lambda r: [
            x for x in r.workflow_executions.iter_for_agent(agent.id) if x.customer_id == bc
        ],
        "workflow_executions.list_active_for_agent": lambda r: [
            x for x in r.workflow_executions.list_active_for_agent(agent.id) if x.customer_id == bc
        ],
        "workflow_executions.list_running": lambda r: r.workflow_executions.list_running(
            customer_id=bc
        ),
        "workflow_executions.count_by_status": lambda r: r.workflow_executions.count_by_status(
            customer_id=bc
        ),
        "workflow_executions.count_by_type": lambda r: r.workflow_executions.count_by_type(bc),
        "workflow_executions.count_active_for_agent": lambda r: (
            r.workflow_executions.count_active_for_agent(agent.id) - 1  # A's own run counts
        ),
        "workflow_executions.stats": lambda r: r.workflow_executions.stats(customer_id=bc),
        "workflow_executions.claim": lambda r: r.workflow_executions.claim("m", customer_id=bc),
        "workflow_executions.reap_expired": lambda r: r.workflow_executions.reap_expired(),
        "workflow_executions.heartbeat": lambda r: r.workflow_executions.heartbeat(
            b["run"].id, "w", lease=timedelta(hours=1)
        ),
        "workflow_executions.start": lambda r: r.workflow_executions.start(b["run"].id),
        "workflow_executions.complete": lambda r: r.workflow_executions.complete(
            b["run"].id, {"x": 1}, skip_remaining=True
        ),
        "workflow_executions.fail": lambda r: r.workflow_executions.fail(b["run"].id, {"e": 1}),
        "workflow_executions.cancel": lambda r: r.workflow_executions.cancel(b["run"].id),
        "workflow_executions.time_out": lambda r: r.workflow_executions.time_out(b["run"].id),
        "workflow_executions.requeue": lambda r: r.workflow_executions.requeue(
            b["run"].id, worker_id="w", delay=timedelta(0)
        ),
        "workflow_executions.rerun": lambda r: r.workflow_executions.rerun(b["run"].id),
        "workflow_executions.update": lambda r: r.workflow_executions.update(
            b["run"].id, odb.WorkflowExecutionUpdate(input_data={"x": 1})
        ),
        "workflow_executions.merge_metadata": lambda r: r.workflow_executions.merge_metadata(
            b["run"].id, {"x": 1}
        ),
        "workflow_executions.delete": lambda r: r.workflow_executions.delete(b["run"].id),
        # workflow steps
        "workflow_steps.create": lambda r: r.workflow_steps.create(
            odb.WorkflowStepCreate(workflow_execution_id=b["run"].id, step_name="x", step_order=9)
        ),
        "workflow_steps.bulk_create": lambda r: r.workflow_steps.bulk_create(
            [odb.WorkflowStepCreate(workflow_execution_id=b["run"].id, step_name="x", step_order=9)]
        ),
        "workflow_steps.get": lambda r: r.workflow_steps.get(b["step"].id),
        "workflow_steps.list": lambda r: r.workflow_steps.list(b["run"].id),
        "workflow_steps.list_for_execution": lambda r: r.workflow_steps.list_for_execution(
            b["run"].id
        ),
        "workflow_steps.list_by_name": lambda r: [
            s
            for s in r.workflow_steps.list_by_name("s1", odb.StepStatus.RUNNING)
            if s.workflow_execution_id == b["run"].id
        ],
        "workflow_steps.attempts": lambda r: r.workflow_steps.attempts(b["step"].id),
        "workflow_steps.failure_summary": lambda r: r.workflow_steps.failure_summary(
            customer_id=bc
        ),
        "workflow_steps.start": lambda r: r.workflow_steps.start(b["step2"].id),
        "workflow_steps.complete": lambda r: r.workflow_steps.complete(b["step"].id),
        "workflow_steps.fail": lambda r: r.workflow_steps.fail(b["step"].id, {"e": 1}),
        "workflow_steps.retry": lambda r: r.workflow_steps.retry(b["step"].id),
        "workflow_steps.skip": lambda r: r.workflow_steps.skip(b["step2"].id),
        "workflow_steps.update": lambda r: r.workflow_steps.update(
            b["step"].id, odb.WorkflowStepUpdate(step_name="hijacked")
        ),
        "workflow_steps.merge_metadata": lambda r: r.workflow_steps.merge_metadata(
            b["step"].id, {"x": 1}
        ),
        "workflow_steps.delete": lambda r: r.workflow_steps.delete(b["step"].id),
        # workflow artifacts
        "workflow_artifacts.create": lambda r: r.workflow_artifacts.create(
            odb.WorkflowArtifactCreate(
                workflow_execution_id=b["run"].id,
                artifact_type=odb.ArtifactType.REPORT,
                artifact_name="x",
                artifact_path="s3://x",
            )
        ),
        "workflow_artifacts.get": lambda r: r.workflow_artifacts.get(b["artifact"].id),
        "workflow_artifacts.list": lambda r: r.workflow_artifacts.list(b["run"].id),
        "workflow_artifacts.list_for_execution": lambda r: r.workflow_artifacts.list_for_execution(
            b["run"].id
        ),
        "workflow_artifacts.list_for_step": lambda r: r.workflow_artifacts.list_for_step(
            b["step"].id
        ),
        "workflow_artifacts.update": lambda r: r.workflow_artifacts.update(
            b["artifact"].id, odb.WorkflowArtifactUpdate(artifact_name="hijacked")
        ),
        "workflow_artifacts.merge_metadata": lambda r: r.workflow_artifacts.merge_metadata(
            b["artifact"].id, {"x": 1}
        ),
        "workflow_artifacts.delete": lambda r: r.workflow_artifacts.delete(b["artifact"].id),
    }


def _public_methods() -> set[str]:
    import inspect

    scoped = {
        "customers": odb.CustomerRepository,
        "events": odb.EventRepository,
        "recommendations": odb.RecommendationRepository,
        "approvals": odb.ApprovalRepository,
        "optimizations": odb.OptimizationRepository,
        "workflow_executions": odb.WorkflowExecutionRepository,
        "workflow_steps": odb.WorkflowStepRepository,
        "workflow_artifacts": odb.WorkflowArtifactRepository,
    }
    return {
        f"{attr}.{name}"
        for attr, cls in scoped.items()
        for name, _ in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


#: What each outcome may be: nothing found, or refused before/by the database.
_EMPTY: tuple[Any, ...] = (None, [], {}, 0, False)


def test_every_method_of_a_scoped_repository_misses_another_customers_rows(
    db_dsn: str, app: Conn, tenants: dict[str, Any]
) -> None:
    a, b, agent = tenants["a"], tenants["b"], tenants["agent"]
    calls = _calls(a, b, agent)
    assert set(calls) == _public_methods(), "a repository method has no isolation case"
    with psycopg.connect(db_dsn) as operator:  # B's lease has expired: A's reaper must not see it
        operator.execute(
            "UPDATE workflow_executions SET lease_expires_at = now() - interval '1 hour'"
            " WHERE id = %s",
            (b["run"].id,),
        )
    before = _holdings(db_dsn, b["customer"].id)
    outcomes: dict[str, str] = {}
    for name, call in calls.items():
        repos = api.Repositories(app, customer_id=a["customer"].id)
        try:
            result = call(repos)
        except (NotFoundError, CustomerScopeError, InvalidReferenceError) as exc:
            outcomes[name] = type(exc).__name__
            app.rollback()
            continue
        except TypeError as exc:  # merge_metadata of a table without metadata
            assert "has no metadata column" in str(exc), name
            outcomes[name] = "n/a"
            continue
        app.commit()
        assert (
            result in _EMPTY
            or result == {}
            or (isinstance(result, dict) and not any(result.values()))
        ), f"{name} returned {result!r}"
        outcomes[name] = "empty"
    assert _holdings(db_dsn, b["customer"].id) == before, "B's rows changed"
    # the moves and writes on B's ids behave like missing ids: NotFoundError
    for name in (
        "workflow_executions.heartbeat",
        "workflow_executions.complete",
        "workflow_executions.cancel",
        "workflow_executions.requeue",
        "workflow_executions.rerun",
        "workflow_steps.complete",
        "workflow_steps.skip",
        "customers.update",
        "recommendations.update",
        "workflow_artifacts.merge_metadata",
    ):
        assert outcomes[name] == "NotFoundError", (name, outcomes[name])
    for name in ("events.create", "workflow_executions.create", "customers.create"):
        assert outcomes[name] == "CustomerScopeError", (name, outcomes[name])
    for name in ("approvals.create", "workflow_steps.create", "workflow_artifacts.create"):
        assert outcomes[name] == "InvalidReferenceError", (name, outcomes[name])
    # and A's own rows are there for A: the scope is not simply empty
    mine = api.Repositories(app, customer_id=a["customer"].id)
    assert mine.workflow_executions.get_detail(a["run"].id).execution.input_data == {  # type: ignore[union-attr]
        "secret": "alpha"
    }
    assert [s.id for s in mine.workflow_steps.list(a["run"].id)] == [a["step"].id, a["step2"].id]
    assert mine.approvals.list(a["rec"].id)[0].id == a["approval"].id


def test_a_foreign_id_reads_exactly_like_a_missing_one(app: Conn, tenants: dict[str, Any]) -> None:
    a, b = tenants["a"], tenants["b"]
    repos = api.Repositories(app, customer_id=a["customer"].id)
    nobody = uuid.uuid4()

    def message(call: Callable[[Any], Any], ident: Any) -> str:
        with pytest.raises(odb.RepositoryError) as caught:
            call(ident)
        app.rollback()
        return str(caught.value).replace(str(ident), "<id>")

    wx, steps = repos.workflow_executions, repos.workflow_steps
    for call in (
        lambda i: wx.cancel(i),
        lambda i: wx.complete(i, {}),
        lambda i: wx.heartbeat(i, "w"),
        lambda i: steps.start(i),
        lambda i: repos.customers.update(i, odb.CustomerUpdate(name="x")),
        lambda i: steps.create(
            odb.WorkflowStepCreate(workflow_execution_id=i, step_name="x", step_order=7)
        ),
        lambda i: repos.approvals.create(odb.ApprovalCreate(recommendation_id=i, approved_by="x")),
    ):
        foreign = b["run"].id
        if call.__code__.co_names[-1:] == ("start",):
            foreign = b["step2"].id
        if "customers" in call.__code__.co_names:
            foreign = b["customer"].id
        if "approvals" in call.__code__.co_names:
            foreign = b["rec"].id
        assert message(call, foreign) == message(call, nobody)
    assert wx.get(b["run"].id) is None and wx.get(nobody) is None


def test_a_scope_is_refused_where_postgres_would_not_enforce_it(db_dsn: str, side: str) -> None:
    with api.connect(db_dsn) as operator:  # the test server's superuser
        with pytest.raises(CustomerScopeError, match="superuser"):
            api.Repositories(operator, customer_id=uuid.uuid4())
        assert api.Repositories(operator).customer_id is None  # the operator's view is fine
    with api.connect(app_dsn(db_dsn)) as app:
        assert api.Repositories(app, customer_id=uuid.uuid4()).customer_id is not None


def test_one_connection_two_customers_in_one_transaction_and_savepoints(
    app: Conn, tenants: dict[str, Any]
) -> None:
    a, b = tenants["a"], tenants["b"]
    ra = api.Repositories(app, customer_id=a["customer"].id)
    rb = api.Repositories(app, customer_id=b["customer"].id)
    with app.transaction():
        assert ra.workflow_executions.get(a["run"].id) is not None
        assert rb.workflow_executions.get(a["run"].id) is None  # B's turn sets B
        assert ra.workflow_executions.get(b["run"].id) is None  # and A's sets A again
        assert rb.workflow_executions.get(b["run"].id) is not None
        with app.transaction():  # a savepoint rolled back undoes a customer set inside it
            assert rb.workflow_executions.get(b["run"].id) is not None
            app.execute("SELECT 1")
            raise_in = False
        assert not raise_in
        try:
            with app.transaction():
                assert ra.workflow_executions.get(a["run"].id) is not None
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        # after the rollback to the savepoint the transaction acts for B again
        assert rb.workflow_executions.get(b["run"].id) is not None
        assert ra.workflow_executions.get(a["run"].id) is not None
    # a transaction ended and begun again by the caller's own statement
    app.execute("SELECT 1")
    assert ra.workflow_executions.get(a["run"].id) is not None
    app.commit()


def test_the_customer_setting_is_sent_once_per_transaction(
    app: Conn, tenants: dict[str, Any]
) -> None:
    from tests.aio_bridge import _SCOPE_TAG

    a = tenants["a"]
    repos = api.Repositories(app, customer_id=a["customer"].id)
    seen: list[str] = []
    sync_execute, async_execute = psycopg.Cursor.execute, psycopg.AsyncCursor.execute

    def counting(self: Any, query: Any, *args: Any, **kw: Any) -> Any:
        seen.append(str(query)[: len(_SCOPE_TAG)])
        return sync_execute(self, query, *args, **kw)

    async def counting_async(self: Any, query: Any, *args: Any, **kw: Any) -> Any:
        seen.append(str(query)[: len(_SCOPE_TAG)])
        return await async_execute(self, query, *args, **kw)

    psycopg.Cursor.execute = counting  # type: ignore[method-assign]
    psycopg.AsyncCursor.execute = counting_async  # type: ignore[method-assign]
    try:
        for _ in range(3):
            assert repos.workflow_executions.get(a["run"].id) is not None
            repos.workflow_steps.list(a["run"].id)
        app.commit()
        repos.workflow_executions.get(a["run"].id)
    finally:
        psycopg.Cursor.execute = sync_execute  # type: ignore[method-assign]
        psycopg.AsyncCursor.execute = async_execute  # type: ignore[method-assign]
    assert seen.count(_SCOPE_TAG) == 2  # once in each transaction
    assert len(seen) == 9


def test_an_autocommit_connection_and_a_pool_run_scoped(
    db_dsn: str, tenants: dict[str, Any]
) -> None:
    a, b = tenants["a"], tenants["b"]
    with api.connect(app_dsn(db_dsn), autocommit=True) as conn:
        repos = api.Repositories(conn, customer_id=a["customer"].id)
        for _ in range(2):  # every call is its own transaction: each sets the customer
            assert repos.workflow_executions.get(a["run"].id) is not None
            assert repos.workflow_executions.get(b["run"].id) is None
        assert [r.id for r in repos.workflow_executions.iter_for_customer(a["customer"].id)] == [
            a["run"].id
        ]
    with api.create_pool(app_dsn(db_dsn), min_size=1, max_size=2) as pool:
        for customer, mine, theirs in ((a, a, b), (b, b, a)):
            with pool.connection() as conn:
                repos = api.Repositories(conn, customer_id=customer["customer"].id)
                assert repos.workflow_executions.get(mine["run"].id) is not None
                assert repos.workflow_executions.get(theirs["run"].id) is None


def test_a_scoped_worker_claims_and_finishes_only_its_customers_runs(
    db_dsn: str, tenants: dict[str, Any]
) -> None:
    a, b = tenants["a"], tenants["b"]
    with api.connect(db_dsn) as operator:
        for t in (a, b):
            api.Repositories(operator).workflow_executions.create(
                odb.WorkflowExecutionCreate(
                    agent_id=tenants["agent"].id,
                    customer_id=t["customer"].id,
                    workflow_type=odb.WorkflowType.HEALTH_CHECK,
                )
            )
        operator.commit()
    before = _holdings(db_dsn, b["customer"].id)
    with api.connect(app_dsn(db_dsn), autocommit=True) as conn:
        wx = api.Repositories(conn, customer_id=a["customer"].id).workflow_executions
        got = wx.claim("scoped-worker", limit=10)
        assert [r.customer_id for r in got] == [a["customer"].id]
        finished = wx.complete(got[0].id, {"ok": True}, worker_id="scoped-worker")
        assert finished.status is odb.WorkflowStatus.COMPLETED
        assert wx.claim("scoped-worker", limit=10) == []
    assert _holdings(db_dsn, b["customer"].id) == before


def test_a_scoped_watch_replays_only_its_customers_log(
    db_dsn: str, tenants: dict[str, Any]
) -> None:
    a, b = tenants["a"], tenants["b"]
    seen = list(api.watch(app_dsn(db_dsn), after=0, timeout=0.3, customer_id=a["customer"].id))
    runs = {t.workflow_execution_id for t in seen}
    assert runs == {a["run"].id} and len(seen) >= 4  # inserted, claimed, its steps
    everything = list(api.watch(db_dsn, after=0, timeout=0.3))  # the operator's view
    assert {t.workflow_execution_id for t in everything} == {a["run"].id, b["run"].id}
    assert list(api.watch(app_dsn(db_dsn), after=0, timeout=0.3)) == []  # no customer: nothing


# --------------------------------------------------------------------------- the platform's tables

#: The platform's tables and their repositories (read-only to a customer scope).
PLATFORM = {
    "agents": odb.AgentRepository,
    "agent_configs": odb.AgentConfigRepository,
    "agent_states": odb.AgentStateRepository,
    "agent_capabilities": odb.AgentCapabilityRepository,
    "agent_metrics": odb.AgentMetricRepository,
}


@pytest.fixture
def platform(db_dsn: str, tenants: dict[str, Any]) -> dict[str, Any]:
    """The shared agent with a row in every platform table, pointing at B's run."""
    agent = tenants["agent"]
    with api.connect(db_dsn) as conn:
        repos = api.Repositories(conn)
        made = {
            "config": repos.agent_configs.set(agent.id, "region", "eu"),
            "state": repos.agent_states.set_current_workflow(agent.id, tenants["b"]["run"].id),
            "capability": repos.agent_capabilities.create(
                odb.AgentCapabilityCreate(agent_id=agent.id, capability_name="resize")
            ),
            "metric": repos.agent_metrics.create(
                odb.AgentMetricCreate(agent_id=agent.id, metric_name="cpu", metric_value=0.5)
            ),
        }
        conn.commit()
    return made


def _platform_rows(db_dsn: str) -> dict[str, list[Any]]:
    with psycopg.connect(db_dsn) as conn:
        return {
            table: [
                r[0] for r in conn.execute(f"SELECT to_jsonb(t)::text FROM {table} AS t ORDER BY 1")
            ]
            for table in PLATFORM
        }


def _platform_calls(
    agent: Any, made: dict[str, Any], b: dict[str, Any]
) -> dict[str, Callable[[Any], Any]]:
    """Every public method of the platform repositories, called by A's scope on
    the agent B's runs use (writes aim at rows B depends on): name -> call."""
    metric = odb.AgentMetricCreate(agent_id=agent.id, metric_name="cpu", metric_value=1.0)
    return {
        "agents.create": lambda r: r.agents.create(
            odb.AgentCreate(type=odb.AgentType.COST, name="mallory")
        ),
        "agents.get": lambda r: r.agents.get(agent.id),
        "agents.get_by_type_and_name": lambda r: r.agents.get_by_type_and_name(
            odb.AgentType.COST, agent.name
        ),
        "agents.list": lambda r: r.agents.list(),
        "agents.heartbeat": lambda r: r.agents.heartbeat(agent.id, odb.AgentStatus.FAILED),
        "agents.update": lambda r: r.agents.update(agent.id, odb.AgentUpdate(name="hijacked")),
        "agents.merge_metadata": lambda r: r.agents.merge_metadata(agent.id, {"x": 1}),
        "agents.delete": lambda r: r.agents.delete(agent.id),
        "agent_configs.create": lambda r: r.agent_configs.create(
            odb.AgentConfigCreate(agent_id=agent.id, config_key="k", config_value="v")
        ),
        "agent_configs.set": lambda r: r.agent_configs.set(agent.id, "region", "us"),
        "agent_configs.get": lambda r: r.agent_configs.get(made["config"].id),
        "agent_configs.get_for_agent": lambda r: r.agent_configs.get_for_agent(agent.id, "region"),
        "agent_configs.list": lambda r: r.agent_configs.list(agent.id),
        "agent_configs.list_for_agent": lambda r: r.agent_configs.list_for_agent(agent.id),
        "agent_configs.update": lambda r: r.agent_configs.update(
            made["config"].id, odb.AgentConfigUpdate(config_value="us")
        ),
        "agent_configs.merge_metadata": lambda r: r.agent_configs.merge_metadata(
            made["config"].id, {"x": 1}
        ),
        "agent_configs.delete": lambda r: r.agent_configs.delete(made["config"].id),
        "agent_states.create": lambda r: r.agent_states.create(
            odb.AgentStateCreate(agent_id=agent.id)
        ),
        "agent_states.get": lambda r: r.agent_states.get(made["state"].id),
        "agent_states.get_for_agent": lambda r: r.agent_states.get_for_agent(agent.id),
        "agent_states.list": lambda r: r.agent_states.list(),
        "agent_states.set_current_workflow": lambda r: r.agent_states.set_current_workflow(
            agent.id, b["run"].id
        ),
        "agent_states.update": lambda r: r.agent_states.update(
            made["state"].id, odb.AgentStateUpdate(current_status=odb.AgentStatusDetail.ERROR)
        ),
        "agent_states.merge_metadata": lambda r: r.agent_states.merge_metadata(
            made["state"].id, {"x": 1}
        ),
        "agent_states.delete": lambda r: r.agent_states.delete(made["state"].id),
        "agent_capabilities.create": lambda r: r.agent_capabilities.create(
            odb.AgentCapabilityCreate(agent_id=agent.id, capability_name="x")
        ),
        "agent_capabilities.get": lambda r: r.agent_capabilities.get(made["capability"].id),
        "agent_capabilities.list": lambda r: r.agent_capabilities.list(agent.id),
        "agent_capabilities.list_for_agent": lambda r: r.agent_capabilities.list_for_agent(
            agent.id
        ),
        "agent_capabilities.update": lambda r: r.agent_capabilities.update(
            made["capability"].id, odb.AgentCapabilityUpdate(enabled=False)
        ),
        "agent_capabilities.merge_metadata": lambda r: r.agent_capabilities.merge_metadata(
            made["capability"].id, {"x": 1}
        ),
        "agent_capabilities.delete": lambda r: r.agent_capabilities.delete(made["capability"].id),
        "agent_metrics.create": lambda r: r.agent_metrics.create(metric),
        "agent_metrics.record_many": lambda r: r.agent_metrics.record_many([metric, metric]),
        "agent_metrics.get": lambda r: r.agent_metrics.get(made["metric"].id),
        "agent_metrics.list": lambda r: r.agent_metrics.list(agent.id),
        "agent_metrics.series": lambda r: r.agent_metrics.series(agent.id, "cpu"),
        "agent_metrics.delete": lambda r: r.agent_metrics.delete(made["metric"].id),
    }


def test_every_write_of_a_platform_repository_is_refused_to_a_scope(
    db_dsn: str, app: Conn, tenants: dict[str, Any], platform: dict[str, Any]
) -> None:
    """A scope reads the platform's rows and changes none: every write method
    raises CustomerScopeError before any SQL (the transaction stays usable),
    and nothing of the platform's or of B's changes."""
    import inspect

    a, b, agent = tenants["a"], tenants["b"], tenants["agent"]
    calls = _platform_calls(agent, platform, b)
    methods = {
        f"{table}.{name}"
        for table, cls in PLATFORM.items()
        for name, _ in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }
    assert set(calls) == methods, "a platform repository method has no case"
    before, theirs = _platform_rows(db_dsn), _holdings(db_dsn, b["customer"].id)
    repos = api.Repositories(app, customer_id=a["customer"].id)
    refused, read = set(), set()
    with app.transaction():  # one transaction: a refusal before SQL leaves it usable
        for name, call in calls.items():
            try:
                result = call(repos)
            except CustomerScopeError as exc:
                assert "read-only to a customer scope" in str(exc), name
                refused.add(name)
                continue
            except TypeError as exc:  # merge_metadata of a table without metadata
                assert "has no metadata column" in str(exc), name
                methods.discard(name)
                continue
            assert result not in (None, []), f"{name} read nothing"
            read.add(name)
        assert repos.workflow_executions.get(a["run"].id) is not None  # still usable
    writes = {n for n in methods if n.split(".")[1] not in {"get", "list", "series"}}
    writes -= {"agents.get_by_type_and_name", "agent_configs.get_for_agent"}
    writes -= {"agent_configs.list_for_agent", "agent_states.get_for_agent"}
    writes -= {"agent_capabilities.list_for_agent"}
    assert refused == writes and read == methods - writes
    assert _platform_rows(db_dsn) == before, "a platform row changed"
    assert _holdings(db_dsn, b["customer"].id) == theirs, "B's rows changed"


def test_the_server_refuses_a_scoped_write_to_a_platform_table_and_its_cascades(
    db_dsn: str, app: Conn, tenants: dict[str, Any], platform: dict[str, Any]
) -> None:
    """Raw SQL on an optiinfra_app login acting for A: no insert, update or
    delete of a platform row (migration 0015's trigger), so no cascade into
    B's runs; A deleting its own run that an agent's state points at is
    refused too (the SET NULL would change a row B reads)."""
    a, b, agent = tenants["a"], tenants["b"], tenants["agent"]
    before, theirs = _platform_rows(db_dsn), _holdings(db_dsn, b["customer"].id)
    with psycopg.connect(app_dsn(db_dsn)) as conn:
        for statement in (
            "DELETE FROM agents WHERE id = %(agent)s",
            "UPDATE agents SET name = 'hijacked' WHERE id = %(agent)s",
            "UPDATE agent_states SET current_workflow_id = NULL WHERE agent_id = %(agent)s",
            "DELETE FROM agent_configs WHERE agent_id = %(agent)s",
            "INSERT INTO agent_metrics (agent_id, metric_name, metric_value)"
            " VALUES (%(agent)s, 'cpu', 1)",
        ):
            conn.execute(
                "SELECT set_config('optiinfra.customer_id', %s, true)", (str(a["customer"].id),)
            )
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="read-only"):
                conn.execute(statement, {"agent": agent.id})  # type: ignore[arg-type]
            conn.rollback()
    with api.connect(db_dsn) as operator:  # the agent now runs A's run
        api.Repositories(operator).agent_states.set_current_workflow(agent.id, a["run"].id)
        operator.commit()
    before = _platform_rows(db_dsn)
    repos = api.Repositories(app, customer_id=a["customer"].id)
    with pytest.raises(CustomerScopeError, match="platform"):
        repos.workflow_executions.delete(a["run"].id)
    app.rollback()
    assert repos.workflow_executions.get(a["run"].id) is not None
    app.rollback()
    assert _platform_rows(db_dsn) == before
    assert _holdings(db_dsn, b["customer"].id) == theirs


def test_a_scope_learns_nothing_of_another_customer_from_an_error(
    db_dsn: str, app: Conn, tenants: dict[str, Any]
) -> None:
    """Unique keys shared by all customers answer the same whether another
    customer holds the value or not; an insert under B's run reads the same
    for a taken step_order and a free one."""
    a, b = tenants["a"], tenants["b"]
    repos = api.Repositories(app, customer_id=a["customer"].id)

    def answer(call: Callable[[], Any]) -> str:
        with pytest.raises(odb.RepositoryError) as caught:
            call()
        app.rollback()
        return f"{type(caught.value).__name__}: {caught.value}"

    mine = a["customer"].id
    taken, free = "bravo@tenant.test", "nobody@tenant.test"
    assert answer(lambda: repos.customers.update(mine, odb.CustomerUpdate(email=taken))) == answer(
        lambda: repos.customers.update(mine, odb.CustomerUpdate(email=free))
    )
    with api.connect(db_dsn) as operator:  # a key B holds
        key = odb.new_api_key()
        api.Repositories(operator).customers.rotate_api_key(b["customer"].id, key)
        operator.commit()
    assert answer(lambda: repos.customers.rotate_api_key(mine, key)) == answer(
        lambda: repos.customers.rotate_api_key(mine, odb.new_api_key())
    )
    # step_order 1 is taken in B's run, 99 is free: the same answer, library and raw SQL
    steps = repos.workflow_steps

    def step(order: int) -> str:
        return answer(
            lambda: steps.create(
                odb.WorkflowStepCreate(
                    workflow_execution_id=b["run"].id, step_name="x", step_order=order
                )
            )
        )

    assert step(1) == step(99)
    raw = []
    with psycopg.connect(app_dsn(db_dsn)) as conn:
        for order in (1, 99):
            conn.execute("SELECT set_config('optiinfra.customer_id', %s, true)", (str(mine),))
            with pytest.raises(psycopg.errors.ForeignKeyViolation) as caught:
                conn.execute(
                    "INSERT INTO workflow_steps (workflow_execution_id, customer_id, step_name,"
                    " step_order) VALUES (%s, %s, 'x', %s)",
                    (b["run"].id, mine, order),
                )
            raw.append(str(caught.value))
            conn.rollback()
    assert raw[0] == raw[1]


def test_no_session_can_read_which_customer_another_acts_for(
    db_dsn: str, app: Conn, tenants: dict[str, Any]
) -> None:
    a = tenants["a"]
    repos = api.Repositories(app, customer_id=a["customer"].id)
    assert repos.workflow_executions.get(a["run"].id) is not None  # the transaction acts for A
    (pid,) = app.execute("SELECT pg_backend_pid()").fetchone()  # type: ignore[misc]
    with psycopg.connect(db_dsn) as other:
        (name,) = other.execute(
            "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()  # type: ignore[misc]
    app.rollback()
    assert str(a["customer"].id) not in name and a["customer"].id.hex not in name
    assert name.startswith("optiinfra scope ")


@pytest.mark.operator_only  # it sets its own scopes on an app login (the harness would too)
def test_authenticate_finds_the_keys_own_customer_on_an_app_login(db_dsn: str, app: Conn) -> None:
    """customers.authenticate works on optiinfra_app with no customer set,
    returns only the key's own customer, and a wrong key reads like a
    malformed one; nothing else of any customer becomes visible."""
    keys = {name: odb.new_api_key() for name in ("alpha", "bravo")}
    with api.connect(db_dsn) as operator:
        made = {
            name: api.Repositories(operator).customers.create(
                odb.CustomerCreate(name=name, email=f"{name}@auth.test", api_key=key)
            )
            for name, key in keys.items()
        }
        operator.commit()
    customers = api.Repositories(app).customers
    assert customers.list() == []  # no customer set: none visible
    for name, key in keys.items():
        assert customers.authenticate(key) == made[name]
    for bad in (odb.new_api_key(), "x", "", keys["alpha"] + "x"):
        assert customers.authenticate(bad) is None
    assert customers.list() == []  # still none: authenticate revealed nothing else
    scoped = api.Repositories(app, customer_id=made["alpha"].id).customers
    assert scoped.authenticate(keys["alpha"]) == made["alpha"]
    assert scoped.get(made["bravo"].id) is None
    app.rollback()
