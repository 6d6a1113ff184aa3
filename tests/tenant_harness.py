"""Run the repository contract, race and fencing tests through customer-scoped
repositories on an ``optiinfra_app`` login (issue #11).

Modules marked ``tenant`` run each test on two more values of ``side``:
``[tenant]`` (sync) and ``[tenant-async]`` (the aio twins behind the blocking
bridge). The test is unchanged; what ``tests.sides.api`` means changes:

* ``api.connect`` and ``api.create_pool`` log in as ``optiinfra_test_app``,
  a login role in ``optiinfra_app`` the harness creates (no superuser, not the
  owner: row-level security applies to every statement);
* ``api.Repositories(conn)`` becomes
  ``Repositories(conn, customer_id=<the test's customer>)``: the customer the
  test created last (through ``repos.customers.create``, which a scoped
  bundle refuses, so the harness creates it on an operator connection and
  commits it, as a platform's sign-up would). Before any customer exists it
  is the unscoped view, which on this login sees no customer-owned row.
  The platform's repositories (agents, their configs, states, capabilities
  and metrics: read-only to a scope) run on an operator connection and
  commit, as the platform's own services would write them.

* a statement the test writes itself (a raw ``SELECT``/``UPDATE`` on
  ``conn`` that checks what the database holds or sets a lease in the past)
  goes through ``tests.sides.own_sql``, which on these logins runs it for
  the test's customer: ``optiinfra.customer_id`` is set for its transaction
  first, as a service's own SQL would (a session that may run
  ``set_config`` chooses its tenant). The library's statements are left
  alone: they must set their customer themselves.

The test's own superuser connections (``raw_conn``, ``psycopg.connect`` of
``db_dsn``) stay the operator's: a test reads back from them what the
database holds, across customers.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

#: The login the scoped tests run as (cluster-wide, made once, no password).
APP_USER = "optiinfra_test_app"

_MAKE_LOGIN = """
DO $$
BEGIN
    CREATE ROLE optiinfra_test_app LOGIN IN ROLE optiinfra_app;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$
"""


def ensure_app_login(admin_dsn: str) -> None:
    """Create the test login (a member of optiinfra_app) unless it exists."""
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(_MAKE_LOGIN)


def app_dsn(dsn: str) -> str:
    """The same database, logged in as the test's optiinfra_app user."""
    return make_conninfo(dsn, user=APP_USER, password=None)


class Tenant:
    """The customer the test acts for: the one it created last."""

    def __init__(self, admin_dsn: str, connect: Any, real: Any) -> None:
        self.admin_dsn = admin_dsn
        self.connect = connect  # the side's own connect (the operator's login)
        self.real = real  # the Repositories class being scoped (sync or bridged async)
        self.customer_id: Any = None

    def create_customer(self, data: Any) -> Any:
        with self.connect(self.admin_dsn) as admin:
            created = self.real(admin).customers.create(data)
            admin.commit()
        self.customer_id = created.id
        return created

    def is_app(self, conn: Any) -> bool:
        """Whether ``conn`` is logged in as the app user (not the operator)."""
        return bool(conn.pgconn.parameter_status(b"session_authorization") == APP_USER.encode())

    def platform(self, attr: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """A platform repository's call, made by the platform: on an operator
        connection, committed (a customer scope may only read those tables)."""
        with self.connect(self.admin_dsn) as admin:
            result = getattr(getattr(self.real(admin), attr), name)(*args, **kwargs)
            admin.commit()
        return result


#: The platform's repositories: read-only to a customer scope (migration 0015).
PLATFORM = ("agents", "agent_configs", "agent_states", "agent_capabilities", "agent_metrics")


class _Platform:
    """A platform repository of a tenant bundle: every call goes through the
    operator, as the platform's own services would make it."""

    def __init__(self, tenant: Tenant, attr: str) -> None:
        self._tenant, self._attr = tenant, attr

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._tenant.platform(self._attr, name, *args, **kwargs)

        return call


def _superuser(conn: Any) -> bool:
    return conn.pgconn.parameter_status(b"is_superuser") == b"on"


class _Customers:
    """``repos.customers`` of a tenant bundle: create goes through the operator."""

    def __init__(self, outer: TenantRepositories) -> None:
        self._outer = outer

    def create(self, data: Any) -> Any:
        return self._outer._tenant.create_customer(data)

    def rotate_api_key(self, *args: Any) -> Any:
        # Refused to a scope (keys are unique across customers): the operator
        # rotates, once the request's own transaction (holding the row) is done.
        self._outer._conn.commit()
        return self._outer._tenant.platform("customers", "rotate_api_key", *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outer._current().customers, name)


class TenantRepositories:
    """``Repositories(conn)`` as the tenant side sees it (see the module doc)."""

    def __init__(self, conn: Any, tenant: Tenant) -> None:
        self._conn = conn
        self._tenant = tenant
        self._for: Any = object()
        self._bundle: Any = None
        self._current()  # construction errors (a wrong connection type) surface here

    def _current(self) -> Any:
        wanted = self._tenant.customer_id
        if self._bundle is None or self._for != wanted:
            if wanted is None or _superuser(self._conn):
                self._bundle = self._tenant.real(self._conn)
            else:
                self._bundle = self._tenant.real(self._conn, customer_id=wanted)
            self._for = wanted
        return self._bundle

    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
        return vars(self._current())  # vars(repos): the bundle's attributes

    @property
    def customers(self) -> _Customers:
        return _Customers(self)

    def __getattr__(self, name: str) -> Any:
        if name in PLATFORM and self._tenant.customer_id is not None:
            return _Platform(self._tenant, name)
        return getattr(self._current(), name)


def tenant_api(base: Any, admin_dsn: str) -> Any:
    """The tenant side's ``tests.sides.Api``, on top of ``base`` (the sync or
    async side's): connections log in as the app user, ``Repositories(conn)``
    is scoped to the test's customer (see the module doc)."""
    admin_user = conninfo_to_dict(admin_dsn).get("user")
    real_connect, real_pool, real_repos = base.connect, base.create_pool, base.Repositories
    tenant = Tenant(admin_dsn, real_connect, real_repos)

    def as_app(dsn: str) -> str:
        return app_dsn(dsn) if conninfo_to_dict(dsn).get("user") == admin_user else dsn

    def connect(dsn: str, *args: Any, **kwargs: Any) -> Any:
        return real_connect(as_app(dsn), *args, **kwargs)

    def create_pool(dsn: str, *args: Any, **kwargs: Any) -> Any:
        return real_pool(as_app(dsn), *args, **kwargs)

    def repositories(conn: Any, customer_id: Any = None) -> Any:
        if customer_id is not None:
            return real_repos(conn, customer_id=customer_id)
        return TenantRepositories(conn, tenant)

    side = base.with_(
        f"tenant-{base.side}", connect=connect, create_pool=create_pool, Repositories=repositories
    )
    side.tenant = tenant
    return side
