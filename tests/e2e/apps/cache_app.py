"""Handlers of the cache end-to-end tests (tests/e2e/test_cache.py): each one records
what it stored or read (see e2eapp.write)."""

from __future__ import annotations

import os

from e2eapp import write

from sigsup import cache
from sigsup.compat import uwsgi_cache


def put(num: int) -> None:
    cache.update("shared", f"set by pid {os.getpid()}")
    write(num, value=cache.get("shared").decode())


def read(num: int) -> None:
    got = cache.get("shared")
    pre = cache.get("from-preload")
    write(num, value=None if got is None else got.decode(),
          preload=None if pre is None else pre.decode())


def fill(num: int) -> None:
    """Sets beyond the 'small' cache's items bound: the refusal is an error, recorded."""
    errors = []
    for i in range(5):
        try:
            uwsgi_cache.cache_set(f"k{i}", "v", 0, "small")
        except cache.CacheFull as exc:
            errors.append(str(exc))
    write(num, errors=errors)
