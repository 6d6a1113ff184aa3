# Every target creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: help venv test test-slow check lint types migrate demo bench bench-quick clean

help:
	@echo "make demo     migrate + seed + show an embedded demo database"
	@echo "make test     run the test suite (embedded PostgreSQL unless OPTIINFRA_TEST_DSN is set)"
	@echo "make check    lint (ruff), types (mypy --strict), tests"
	@echo "make migrate  apply migrations to \$$OPTIINFRA_DATABASE_URL"
	@echo "make bench    benchmarks side by side (raw psycopg, SQLAlchemy ORM)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,embedded,bench]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check optiinfra_db tests benchmarks
	$(BIN)/ruff format --check optiinfra_db tests benchmarks

types: $(STAMP)
	$(BIN)/mypy optiinfra_db

check: lint types test

migrate: $(STAMP)
	@test -n "$$OPTIINFRA_DATABASE_URL" || { echo "set OPTIINFRA_DATABASE_URL" >&2; exit 2; }
	$(BIN)/python -c 'import os, optiinfra_db as o; print("applied:", o.migrate(os.environ["OPTIINFRA_DATABASE_URL"]) or "nothing pending")'

demo: $(STAMP)
	$(BIN)/optiinfra-db demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build .optiinfra
