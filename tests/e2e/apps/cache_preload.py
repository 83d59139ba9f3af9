"""Imported by the cache e2e tree's preload: stores a value in the master before fork
(and in `sigsup check`, which must not reach the running tree's cache)."""

import os

from sigsup import cache

cache.update("from-preload", f"pid {os.getpid()}")
