"""The library's I/O-free core ("sans I/O"): what the asyncio source
(``optiinfra_db/aio/``) and the sync code generated from it
(``optiinfra_db/``) share as it is, with no connection in sight.

One feature, three files under one rule, as psycopg keeps
``cursor_async.py`` / ``cursor.py`` / ``_cursor_base.py``:

=====================  ==========================  =========================
hand-written, asyncio  generated, sync             shared, no I/O
=====================  ==========================  =========================
``aio/db.py``          ``db.py``                   ``sansio/session.py``
``aio/live.py``        ``live.py``                 ``sansio/live.py``
``aio/retention.py``   ``retention.py``            ``sansio/retention.py``
``aio/repositories/``  ``repositories/``           ``sansio/values.py``,
                                                   ``sansio/lifecycle.py``,
                                                   ``sansio/scope.py``
=====================  ==========================  =========================

Nothing here imports from ``aio/`` or from a generated module; every module
here is tested without a database (``tests/unit/``).
"""
