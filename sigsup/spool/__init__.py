"""Spoolers: durable jobs on disk (store.py), the spooler process's loop (runner.py), the
master's part (master.py), ``sigsup.spool()`` (api.py), ``sigsup spool`` / ``sigsup jobs``
(clicmds.py, admin.py).

``sigsup.spool`` is the function, not this package: import its modules with
``from sigsup.spool.store import JobStore``, never ``import sigsup.spool.store``.
"""
