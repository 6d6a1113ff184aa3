"""The strict loader of sql/ files: every malformed file fails with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from optiinfra_db.queries import CATALOG, QueryFileError, origin_of, parse_file
from tests.catalog import TABLES

OP = "-- op: SELECT things\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "things.sql"
    path.write_text(text)
    return path


def test_parses_name_kind_doc_body_and_origin(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """-- a file comment

-- name: get :one
-- Fetch one thing.
-- op: SELECT things
-- Second line.
SELECT id FROM things WHERE id = %(id)s;

-- name: count_all :execrows
-- op: DELETE things
DELETE FROM things WHERE note LIKE '100%%';
""",
    )
    first, second = parse_file(path)
    assert (first.key, first.kind, first.line) == ("things.get", "one", 3)
    assert first.doc == "Fetch one thing. Second line."
    assert first.sql == "/* optiinfra_db:things:get */\nSELECT id FROM things WHERE id = %(id)s;"
    assert first.params == {"id"}
    assert (first.operation, first.collection) == ("SELECT", "things")
    assert second.kind == "execrows" and second.params == frozenset()
    assert (second.operation, second.collection) == ("DELETE", "things")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("-- name: get\nSELECT 1;\n", 1, "malformed header"),
        ("-- name: Get :one\nSELECT 1;\n", 1, "malformed header"),
        ("-- name: get :some\nSELECT 1;\n", 1, "unknown kind"),
        (f"-- name: get :one\n{OP}SELECT 1;\n-- name: get :many\n{OP}SELECT 2;\n", 4, "duplicate"),
        (
            f"-- name: get :one\n{OP}-- only a description\n\n-- name: b :one\nSELECT 1;\n",
            1,
            "empty",
        ),
        (f"-- name: get :one\n{OP}", 1, "empty body"),
        ("SELECT 1;\n-- name: get :one\nSELECT 1;\n", 1, "before the first"),
        ("-- name: get :one\n-- 50% of rows\nSELECT 1;\n", 2, "stray '%'"),
        ("-- name: get :one\nSELECT 1 WHERE x LIKE 'a%';\n", 2, "stray '%'"),
        ("-- name: get :one\nSELECT 1;\n", 1, "no '-- op: <OPERATION> [table]' line"),
        ("-- name: get :one\n-- Get it.\nSELECT 1;\n", 1, "no '-- op:"),
        ("-- name: get :one\n-- op: select things\nSELECT 1;\n", 2, "malformed 'op: select"),
        ("-- name: get :one\n-- op: SELECT Things\nSELECT 1;\n", 2, "malformed"),
        ("-- name: get :one\n-- op: SELECT a b\nSELECT 1;\n", 2, "malformed"),
        (f"-- name: get :one\n{OP}{OP}SELECT 1;\n", 3, "a second 'op:' line"),
    ],
)
def test_malformed_files_fail_with_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(QueryFileError) as info:
        parse_file(path)
    assert str(info.value).startswith(f"{path}:{line}:")
    assert message in str(info.value)


def test_the_shipped_catalog_is_loaded_with_origins() -> None:
    assert "workflow_executions.get_detail" in CATALOG
    for key, query in CATALOG.items():
        file, name = key.split(".")
        assert query.sql.startswith(f"/* optiinfra_db:{file}:{name} */\n")
        assert query.doc, f"{key} has no description"
    with pytest.raises(KeyError, match="no query named"):
        CATALOG["nope.nothing"]


def test_each_shipped_op_line_names_a_table_and_agrees_with_the_statement() -> None:
    """The declared operation is not parsed from the text, but it must not
    contradict it: a statement that writes declares a write, one that reads
    a SELECT, and a table is one of the schema's."""
    for key, query in CATALOG.items():
        assert query.collection is None or query.collection in TABLES, key
        if query.writes:
            assert query.operation in {"INSERT", "UPDATE", "DELETE", "COPY"}, key
            assert query.collection is not None, key
            assert query.operation in query.sql or query.operation == "UPDATE", key
        elif query.operation == "SELECT":
            assert "SELECT" in query.sql, key
        else:
            first = query.sql.splitlines()[1].split()[0]
            assert first == query.operation, key
    assert CATALOG["workflow_executions.claim"].operation == "UPDATE"
    assert CATALOG["workflow_executions.claim"].collection == "workflow_executions"


def test_no_select_star_in_sql() -> None:
    for key, query in CATALOG.items():
        assert "SELECT *" not in query.sql.upper(), key
        assert ".*" not in query.sql, key


def test_origin_of_names_the_librarys_statements_only() -> None:
    query = CATALOG["workflow_executions.claim_one"]
    assert origin_of(query.sql) == "workflow_executions.claim_one"
    assert origin_of("DECLARE c NO SCROLL CURSOR FOR " + query.sql) == query.key
    assert origin_of("SELECT 1 /* optiinfra_db:x */") is None
