"""PostgreSQL notifications as an event source: ``[[pgnotify]]``.

Each NOTIFY on a listened channel raises the entry's signal, its payload (text, or decoded
JSON) handed to the handler; a reconnect raises ``on_gap``, because PostgreSQL keeps nothing
for a session that was not listening.

    payload.py   what a notification becomes: the payload decoded, the handler's view (pure)
    backoff.py   the delays between reconnect attempts (pure)
    wire.py      the entries as the master sends them to the listener
    listener.py  the listener process: owns every PostgreSQL connection (psycopg 3)
    master.py    the master's extension: the listener's slot, its frames, raises, status

The master never opens a connection (nor a thread): the listener is a child of the tree
of its own, like the file monitor, respawned like any child.
"""
