"""The I/O-free core, without a database: keyset tokens, scope bookkeeping,
session options, and error translation from a server's diagnostic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pydantic
import pytest
from psycopg import errors as pg
from psycopg import pq
from psycopg.pq import DiagnosticField as F

import optiinfra_db as odb
from optiinfra_db.errors import translate
from optiinfra_db.sansio.scope import SET_ONCE, SET_SCOPE, Scope, customer_scope
from optiinfra_db.sansio.session import prepare_default, session_options
from optiinfra_db.sansio.values import keyset, page_token

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _execution(**kw: Any) -> odb.WorkflowExecution:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "agent_id": uuid4(),
        "customer_id": uuid4(),
        "workflow_type": "cost_analysis",
        "status": "pending",
        "started_at": None,
        "completed_at": None,
        "input_data": {},
        "output_data": {},
        "error_details": None,
        "metadata": {},
        "created_at": NOW,
        "updated_at": NOW,
        "worker_id": None,
        "heartbeat_at": None,
        "lease_expires_at": None,
        "attempt": 0,
        "max_attempts": 3,
        "first_started_at": None,
        "run_after": None,
        "priority": 0,
        "idempotency_key": None,
    }
    return odb.WorkflowExecution.model_validate({**fields, **kw})


# -- keyset tokens ----------------------------------------------------------------------


def test_a_page_token_reads_back_as_its_records_keyset() -> None:
    run = _execution()
    assert keyset(page_token(run), odb.WorkflowExecution) == (NOW, run.id)
    assert keyset(run, odb.WorkflowExecution) == (NOW, run.id)
    first = keyset(None, odb.WorkflowExecution)
    assert first == ("infinity", UUID(int=(1 << 128) - 1))


@pytest.mark.parametrize("after", ["nope", "", page_token(_execution()) + "x", 42])
def test_a_bad_or_foreign_token_is_refused_before_sql(after: Any) -> None:
    with pytest.raises(pydantic.ValidationError):
        keyset(after, odb.WorkflowExecution)
    with pytest.raises(pydantic.ValidationError, match="WorkflowExecution records, not of Event"):
        keyset(page_token(_execution()), odb.Event)


# -- scope bookkeeping ------------------------------------------------------------------


class FakePGconn:
    def __init__(self, status: pq.TransactionStatus, **params: bytes) -> None:
        self.transaction_status = status
        self.params = {k.encode(): v for k, v in params.items()}

    def parameter_status(self, name: bytes) -> bytes | None:
        return self.params.get(name)


class FakeConn:
    def __init__(self, pgconn: FakePGconn, autocommit: bool = False) -> None:
        self.pgconn = pgconn
        self.autocommit = autocommit


def test_a_scope_is_set_once_per_transaction_and_names_no_customer() -> None:
    who = uuid4()
    scope = Scope(who)
    assert str(who) not in scope.mark.decode() and scope.mark.startswith(b"optiinfra scope ")
    assert Scope(who).mark == scope.mark != Scope(uuid4()).mark
    idle = FakePGconn(pq.TransactionStatus.IDLE)
    assert scope.needed(idle)
    marked = FakePGconn(pq.TransactionStatus.INTRANS, application_name=scope.mark)
    assert not scope.needed(marked)
    other = FakePGconn(pq.TransactionStatus.INTRANS, application_name=Scope(uuid4()).mark)
    assert scope.needed(other)
    assert scope.statement(FakeConn(idle, autocommit=True))[0] is SET_ONCE
    assert scope.statement(FakeConn(idle))[0] is SET_SCOPE


def test_a_scope_refuses_bypassing_sessions_and_other_customers_rows() -> None:
    who = uuid4()
    app = FakeConn(FakePGconn(pq.TransactionStatus.IDLE, is_superuser=b"off"))
    scope = customer_scope(app, str(who))
    assert scope is not None and scope.customer_id == who
    assert customer_scope(app, None) is None
    for bypassing in ({"is_superuser": b"on"}, {"session_authorization": b"optiinfra_owner"}):
        conn = FakeConn(FakePGconn(pq.TransactionStatus.IDLE, **bypassing))
        with pytest.raises(odb.errors.CustomerScopeError, match="row-level security"):
            customer_scope(conn, who)
    theirs = odb.EventCreate(customer_id=uuid4(), event_type=odb.EventType.COST_ANOMALY)
    with pytest.raises(odb.errors.CustomerScopeError, match="cannot create a row"):
        scope.refuse("EventRepository", theirs)
    scope.refuse("EventRepository", theirs.model_copy(update={"customer_id": who}))


# -- session options --------------------------------------------------------------------


def test_timeouts_become_startup_options() -> None:
    got = session_options({"options": "-c work_mem=64MB"}, timedelta(seconds=30), 0.0004)
    assert got["options"] == "-c statement_timeout=30000 -c lock_timeout=1 -c work_mem=64MB"
    assert session_options({}, None, None) == {}
    with pytest.raises(ValueError, match="negative"):
        session_options({}, -1, None)


def test_prepare_default_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert prepare_default(True) is True
    for value, expected in (("auto", None), ("on", True), ("OFF", False)):
        monkeypatch.setenv("OPTIINFRA_PREPARE", value)
        assert prepare_default(None) is expected
    monkeypatch.setenv("OPTIINFRA_PREPARE", "sometimes")
    with pytest.raises(ValueError, match="auto, on or off"):
        prepare_default(None)


# -- error translation from a diagnostic ------------------------------------------------


def _error(cls: type[pg.Error], sqlstate: str, **fields: str) -> pg.Error:
    info = {F.SQLSTATE: sqlstate.encode()}
    info |= {getattr(F, name.upper()): value.encode() for name, value in fields.items()}
    return cls("server message", info=info)


def test_constraint_violations_become_named_domain_errors() -> None:
    unique = _error(
        pg.UniqueViolation,
        "23505",
        constraint_name="uq_customers_email",
        message_detail="Key (email)=(ops@acme.test) already exists.",
    )
    got = translate(unique)
    assert isinstance(got, odb.ConflictError) and got.constraint == "uq_customers_email"
    assert str(got) == "a customer with email ops@acme.test already exists"
    check = _error(pg.CheckViolation, "23514", constraint_name="ck_x", table_name="workflow_steps")
    got = translate(check)
    assert isinstance(got, odb.ConstraintViolationError)
    assert str(got) == "workflow_steps violates check constraint ck_x"
    missing = _error(
        pg.ForeignKeyViolation,
        "23503",
        constraint_name="fk_events_customer",
        message_primary="insert or update violates foreign key",
        message_detail='Key (customer_id)=(42) is not present in table "customers".',
    )
    assert isinstance(translate(missing), odb.InvalidReferenceError)


def test_refusals_and_transient_failures_are_told_apart() -> None:
    platform = _error(
        pg.InsufficientPrivilege,
        "42501",
        message_primary='platform table "agents" is read-only to a customer scope',
    )
    assert isinstance(translate(platform), odb.errors.CustomerScopeError)
    grants = _error(pg.InsufficientPrivilege, "42501", message_primary="permission denied")
    assert translate(grants) is None  # a role's grants: not ours to map
    assert isinstance(translate(_error(pg.SerializationFailure, "40001")), odb.SerializationError)
    assert isinstance(translate(_error(pg.DeadlockDetected, "40P01")), odb.DeadlockError)
    assert isinstance(translate(_error(pg.LockNotAvailable, "55P03")), odb.LockTimeoutError)


def test_an_idle_socket_is_polled_without_waiting() -> None:
    import socket

    from optiinfra_db.sansio.session import wrote_while_idle

    ours, server = socket.socketpair()
    with ours, server:
        assert not wrote_while_idle(ours.fileno())  # nothing came: no round trip needed
        server.sendall(b"E")  # a server's goodbye (or a notification)
        assert wrote_while_idle(ours.fileno())
        ours.recv(1)
        server.close()  # a closed peer reads as end of file
        assert wrote_while_idle(ours.fileno())


class _Result:
    """A PGresult stand-in: (name, type OID) columns and text rows."""

    def __init__(self, columns: list[tuple[bytes, int]], rows: list[list[bytes | None]]) -> None:
        self.columns, self.rows = columns, rows
        self.ntuples, self.nfields = len(rows), len(columns)

    def fname(self, j: int) -> bytes:
        return self.columns[j][0]

    def ftype(self, j: int) -> int:
        return self.columns[j][1]

    def get_value(self, i: int, j: int) -> bytes | None:
        return self.rows[i][j]


def test_rows_become_json_through_a_generated_assembler_per_shape() -> None:
    import json

    from optiinfra_db.sansio import rowjson

    columns = [(b"id", 2950), (b"n", 20), (b"x", 701), (b"ok", 16), (b"at", 1184)]
    columns += [(b"doc", 3802), (b'we"ird%s', 25), (b"label", 99999)]
    first: list[bytes | None] = [b"00000000-0000-4000-8000-000000000000", b"7", b"NaN", b"t"]
    first += [b"2026-12-05 20:24:21.5+00", b'{"a": [1]}', b'say "hi"\n', b"completed"]
    rows: list[list[bytes | None]] = [first, [None] * 8]
    docs = rowjson.documents(_Result(columns, rows), statement="unit test shape")
    assert [json.loads(d) for d in docs] == [
        {
            "id": "00000000-0000-4000-8000-000000000000",
            "n": 7,
            "x": "NaN",
            "ok": True,
            "at": "2026-12-05T20:24:21.5+00:00",
            "doc": {"a": [1]},
            'we"ird%s': 'say "hi"\n',
            "label": "completed",
        },
        dict.fromkeys(["id", "n", "x", "ok", "at", "doc", 'we"ird%s', "label"]),
    ]
    # the same statement with another shape (a migration added a column) is not misread
    wider = _Result([*columns, (b"more", 23)], [[*rows[0], b"1"]])
    assert json.loads(rowjson.documents(wider, statement="unit test shape")[0])["more"] == 1


@pytest.mark.parametrize("owner", ["customer", "agent"])
def test_an_unfiltered_page_runs_the_prepared_page_statement(owner: str) -> None:
    from optiinfra_db.queries import CATALOG
    from optiinfra_db.sansio.lifecycle import list_params, page_statement

    none = (None,) * 6
    params = list_params({f"{owner}_id": uuid4()}, 100, None, none)
    name = page_statement(f"list_for_{owner}", none, params)
    query = CATALOG[f"workflow_executions.{name}"]
    assert name == f"page_for_{owner}" and not query.custom_plan
    query.use("many", params)  # the keys bound are exactly its placeholders
    filtered = (odb.WorkflowType.COST_ANALYSIS, None, None, None, None, None)
    params = list_params({f"{owner}_id": uuid4()}, 100, None, filtered)
    assert page_statement(f"list_for_{owner}", filtered, params) == f"list_for_{owner}"
    CATALOG[f"workflow_executions.list_for_{owner}"].use("many", params)
