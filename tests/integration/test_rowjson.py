"""The client-assembled row JSON (``optiinfra_db.sansio.rowjson``) says what
the server's ``to_json`` says, value for value: every table of the seeded
demo, and one row of each edge a column type has (control and non-ASCII
characters, quotes and backslashes, empty and nested jsonb, -0.0, NaN and
infinities in floats and numerics, extreme timestamps, NULLs, enum labels).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql

from optiinfra_db.sansio import rowjson
from optiinfra_db.schema import EXPECTED_TABLES
from optiinfra_db.seed import seed
from tests.sides import api

Conn = psycopg.Connection[Any]


def _both(conn: Conn, query: pgsql.Composable) -> tuple[list[Any], list[Any]]:
    """(the server's to_json of each row, the client's JSON of the same rows)."""
    with conn.cursor() as cur:
        cur.execute(pgsql.SQL("SELECT to_json(r)::text FROM ({}) AS r").format(query))
        server = [json.loads(row[0]) for row in cur.fetchall()]
        cur.execute(query)
        assert cur.pgresult is not None
        client = [json.loads(doc) for doc in rowjson.documents(cur.pgresult)]
    return server, client


def test_every_seeded_table_reads_the_same(db_dsn: str, raw_conn: Conn) -> None:
    with api.connect(db_dsn) as conn:
        seed(conn)
        conn.commit()
    raw_conn.execute("SET TimeZone = 'UTC'")
    for table in sorted(EXPECTED_TABLES):
        query = pgsql.SQL("SELECT * FROM {} ORDER BY 1").format(pgsql.Identifier(table))
        server, client = _both(raw_conn, query)
        assert server, table
        assert client == server, table


EDGES = [
    "'plain'::text",
    "E'tab\\there, newline\\n, quote \", backslash \\\\, bell \\x07'::text",
    "'ünïcødé 雪 🚀'::varchar(50)",
    "''::text",
    "'{}'::jsonb",
    "'[]'::jsonb",
    """'{"a": {"b": [1, 2.50, -0, 1e300, "x\\u0001y"]}, "": null}'::jsonb""",
    '\'{"k": "v"}\'::json',
    "-0.0::float8",
    "'NaN'::float8",
    "'Infinity'::float8",
    "'-Infinity'::float8",
    "1.5e-300::float8",
    "0.1::float4",
    "123456789012345678901234567890.000000001::numeric",
    "'NaN'::numeric",
    "-0.000::numeric",
    "9223372036854775807::int8",
    "(-2147483648)::int4",
    "32767::int2",
    "true",
    "false",
    "'00000000-0000-4000-8000-000000000000'::uuid",
    "'0001-01-01 00:00:00+00'::timestamptz",
    "'9999-12-31 23:59:59.999999+00'::timestamptz",
    "'2026-03-29 01:30:00.5+00'::timestamptz",
    "'infinity'::timestamptz",
    "'-infinity'::timestamptz",
    "'2026-01-02 03:04:05.000001'::timestamp",
    "'completed'::workflow_status",
    "'cost_analysis'::workflow_type",
    "NULL::text",
    "NULL::jsonb",
    "NULL::timestamptz",
    "NULL::uuid",
]


@pytest.mark.parametrize("value", EDGES)
def test_each_edge_value_reads_the_same(raw_conn: Conn, value: str) -> None:
    raw_conn.execute("SET TimeZone = 'UTC'")
    query = pgsql.SQL("SELECT " + value + " AS v, 1 AS n")  # type: ignore[arg-type]
    server, client = _both(raw_conn, query)
    assert client == server
    assert rowjson.documents(_result(raw_conn, query))[0].startswith(b'{"v":')


def _result(conn: Conn, query: pgsql.Composable) -> Any:
    cur = conn.execute(query)
    return cur.pgresult
