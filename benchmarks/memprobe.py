"""Peak memory of one read, in a fresh interpreter (run by benchmarks.run).

    python -m benchmarks.memprobe <contender> <stream|list> <dsn> <customer_id> <rows>

Connects, reads the customer's executions once (a server-side-cursor export, or
one list of <rows> with everything kept, as the caller would), and prints the
growth of the peak resident set over the RSS it had after connecting, in KB:
libpq's buffers, the decoded rows and every temporary included.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

import optiinfra_db as odb
from benchmarks import orm_models as orm
from optiinfra_db.queries import parse_file

RAW = {q.name: q.sql for q in parse_file(Path(__file__).with_name("raw.sql"))}


def _kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(key)


def main(contender: str, op: str, dsn: str, customer: UUID, rows: int) -> int:
    kept: Any = None
    if contender == "optiinfra_db":
        conn = odb.connect(dsn)
        repos = odb.Repositories(conn)

        def run() -> Any:
            if op == "stream":
                return sum(1 for _ in repos.workflow_executions.iter_for_customer(customer))
            return repos.workflow_executions.list_for_customer(customer, limit=rows)
    elif contender == "raw psycopg":
        raw = psycopg.connect(dsn)

        def run() -> Any:
            if op == "stream":
                with raw.cursor(name="probe") as cur:
                    cur.itersize = 1000
                    cur.execute(RAW["export_for_customer"], {"customer_id": customer})
                    return sum(1 for _ in cur)
            with raw.cursor() as cur:
                cur.execute(RAW["list_for_customer"], {"customer_id": customer, "limit": rows})
                return cur.fetchall()
    else:
        session = Session(
            create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
        )
        session.connection()

        def run() -> Any:
            query = (
                select(orm.WorkflowExecution)
                .where(orm.WorkflowExecution.customer_id == customer)
                .order_by(orm.WorkflowExecution.created_at.desc(), orm.WorkflowExecution.id.desc())
            )
            if op == "stream":
                return sum(1 for _ in session.scalars(query.execution_options(yield_per=1000)))
            return session.scalars(query.limit(rows)).all()

    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
    base = _kb("VmRSS")
    kept = run()
    print(_kb("VmHWM") - base)
    del kept
    return 0


if __name__ == "__main__":
    contender, op, dsn, customer, rows = sys.argv[1:6]
    sys.exit(main(contender, op, dsn, UUID(customer), int(rows)))
