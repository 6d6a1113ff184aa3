"""``optiinfra-db``: migrate, verify, seed and inspect workflow history.

Where the database comes from: ``--database-url``, else ``OPTIINFRA_DATABASE_URL``,
else ``DATABASE_URL``, else an embedded PostgreSQL (pgserver) keeping its data
in ``.optiinfra/pgdata`` under the working directory (``--data-dir`` or
``OPTIINFRA_DATA_DIR`` to move it). Every command says on stderr which
database it uses, password masked.

Output is for people (aligned tables; colour only on a terminal) or, with
``--json`` on the listing commands, exactly one JSON document on stdout.
Progress, notices and errors go to stderr. A failure is one line on stderr
and a non-zero exit; ``--debug`` shows the traceback instead.

Layout: ``main`` (the parser and the failure path), ``args`` (the value
types that check arguments as they are parsed), ``target`` (which database,
connections, ``--customer``), ``render`` (tables, JSON, progress), and a
module per command group: ``schema``, ``runs``, ``history``, ``demo``,
``worker``. The
commands run no SQL of their own: every report comes from a public library
function (``ReportRepository``, the repositories, ``health``, ``seed``).
"""

from __future__ import annotations

from optiinfra_db.cli.main import main

__all__ = ["main"]
