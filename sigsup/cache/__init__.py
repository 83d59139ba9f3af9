"""The tree's shared caches: ``from sigsup import cache``; ``cache.get(key)``... (api.py).

table.py is the hash table in a flat buffer, shared.py the files every process maps,
master.py the master's side (the files made before fork, the figures of ``sigsup status``).
"""

from __future__ import annotations

from .api import CacheFull, clear, delete, exists, get, incr, keys, number, set, stats, update

__all__ = ["CacheFull", "clear", "delete", "exists", "get", "incr", "keys", "number", "set",
           "stats", "update"]
