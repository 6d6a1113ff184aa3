# Every target creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: help venv test test-slow check lint lint-migrations types generate migrate demo bench bench-quick bench-history clean

help:
	@echo "make demo     migrate + seed + show an embedded demo database"
	@echo "make test     run the test suite (embedded PostgreSQL unless OPTIINFRA_TEST_DSN is set)"
	@echo "make check    lint (ruff), types (mypy --strict), tests"
	@echo "make generate the sync modules from their asyncio source (optiinfra_db/aio/)"
	@echo "make migrate  apply migrations to \$$OPTIINFRA_DATABASE_URL"
	@echo "make bench    benchmarks side by side (raw psycopg, SQLAlchemy ORM)"
	@echo "make bench-history  the partitioned log at 10M executions (RUNS=N; not CI)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,embedded,bench]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP) lint-migrations
	$(BIN)/ruff check optiinfra_db tests benchmarks tools
	$(BIN)/ruff format --check optiinfra_db tests benchmarks tools
	$(BIN)/python tools/async_to_sync.py --check

# The sync modules are generated from optiinfra_db/aio/ (see tools/async_to_sync.py).
generate: $(STAMP)
	$(BIN)/python tools/async_to_sync.py

# squawk (live-database safety of migrations), in three groups; each ignored rule and why:
#  * 0001-0003 create the schema's tables, so nothing else holds a lock on them:
#    require-concurrent-index-creation (an index on a table created in the same
#    transaction is built empty), prefer-robust-stmts (they run in one
#    transaction: all or nothing, so IF [NOT] EXISTS is not needed),
#    prefer-text-field / ban-char-field / prefer-bigint-over-int (the design's
#    column types: varchar(n) lengths are checked by the records, int4 counters
#    are small and CHECK-bounded).
#  * 0004 onward change tables that hold data: only prefer-robust-stmts is off,
#    for VALIDATE CONSTRAINT (idempotent; squawk asks for a transaction that a
#    CONCURRENTLY migration cannot have). Everything else is enforced.
#  * Rollbacks exist to drop what their migration added (and the CLI refuses to
#    drop a table holding rows without --yes): ban-drop-* and prefer-robust-stmts off.
LATER_MIGRATIONS = $(filter-out $(wildcard migrations/*.rollback.sql) migrations/0001.core-schema.sql migrations/0002.agent-state.sql migrations/0003.workflow-history.sql,$(wildcard migrations/*.sql))
lint-migrations: $(STAMP)
	$(BIN)/squawk --exclude=prefer-robust-stmts,prefer-text-field,ban-char-field,prefer-bigint-over-int,require-concurrent-index-creation migrations/0001.core-schema.sql migrations/0002.agent-state.sql migrations/0003.workflow-history.sql
	$(BIN)/squawk --exclude=prefer-robust-stmts $(LATER_MIGRATIONS)
	$(BIN)/squawk --exclude=ban-drop-table,ban-drop-type,ban-drop-function,ban-drop-column,ban-drop-constraint,prefer-robust-stmts $(wildcard migrations/*.rollback.sql)

types: $(STAMP)
	$(BIN)/mypy optiinfra_db

check: lint types test

migrate: $(STAMP)
	@test -n "$$OPTIINFRA_DATABASE_URL" || { echo "set OPTIINFRA_DATABASE_URL" >&2; exit 2; }
	$(BIN)/python -c 'import os, optiinfra_db as o; print("applied:", o.migrate(os.environ["OPTIINFRA_DATABASE_URL"]) or "nothing pending")'

demo: $(STAMP)
	$(BIN)/optiinfra-db demo

# make bench runs on the embedded PostgreSQL 16 and on the server of
# OPTIINFRA_BENCH_DSN, by default the machine's PostgreSQL 15 (skipped, saying
# so, when it can't be reached; set it empty for the embedded server alone).
BENCH_DSN = postgresql://postgres@127.0.0.1:5432/postgres
bench: $(STAMP)
	OPTIINFRA_BENCH_DSN="$${OPTIINFRA_BENCH_DSN-$(BENCH_DSN)}" $(BIN)/python -m benchmarks.run

bench-quick: $(STAMP)
	OPTIINFRA_BENCH_DSN="$${OPTIINFRA_BENCH_DSN-$(BENCH_DSN)}" $(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build .optiinfra

# History at scale (not CI): 10 million executions, partition drop against
# batched DELETE, generic-plan cost at 4/26/52 partitions (about 30 min on
# 2 cores, ~40 GB of disk; RUNS=... for fewer).
RUNS ?= 10000000
bench-history: $(STAMP)
	OPTIINFRA_BENCH_DSN="$${OPTIINFRA_BENCH_DSN-$(BENCH_DSN)}" $(BIN)/python -m benchmarks.history_scale --runs $(RUNS)
