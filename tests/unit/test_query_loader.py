"""The strict loader of sql/ files: every malformed file fails with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from optiinfra_db.queries import CATALOG, QueryFileError, parse_file


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
-- Second line.
SELECT id FROM things WHERE id = %(id)s;

-- name: count_all :execrows
DELETE FROM things WHERE note LIKE '100%%';
""",
    )
    first, second = parse_file(path)
    assert (first.key, first.kind, first.line) == ("things.get", "one", 3)
    assert first.doc == "Fetch one thing. Second line."
    assert first.sql == "/* optiinfra_db:things:get */\nSELECT id FROM things WHERE id = %(id)s;"
    assert first.params == {"id"}
    assert second.kind == "execrows" and second.params == frozenset()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("-- name: get\nSELECT 1;\n", 1, "malformed header"),
        ("-- name: Get :one\nSELECT 1;\n", 1, "malformed header"),
        ("-- name: get :some\nSELECT 1;\n", 1, "unknown kind"),
        ("-- name: get :one\nSELECT 1;\n-- name: get :many\nSELECT 2;\n", 3, "duplicate"),
        ("-- name: get :one\n-- only a description\n\n-- name: b :one\nSELECT 1;\n", 1, "empty"),
        ("-- name: get :one\n", 1, "empty body"),
        ("SELECT 1;\n-- name: get :one\nSELECT 1;\n", 1, "before the first"),
        ("-- name: get :one\n-- 50% of rows\nSELECT 1;\n", 2, "stray '%'"),
        ("-- name: get :one\nSELECT 1 WHERE x LIKE 'a%';\n", 2, "stray '%'"),
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


def test_no_select_star_in_sql() -> None:
    for key, query in CATALOG.items():
        assert "SELECT *" not in query.sql.upper(), key
        assert ".*" not in query.sql, key
