"""``python -m optiinfra_db.cli``: the ``optiinfra-db`` command (the demo
starts its worker process this way, whatever the scripts folder is)."""

from optiinfra_db.cli.main import main

raise SystemExit(main())
