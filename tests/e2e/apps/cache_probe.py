"""The same cache calls under uWSGI and under sigsup (tests/e2e/test_cache_uwsgi.py):
``probe(u)`` runs them on a module with uWSGI's cache functions and returns what each gave."""

from __future__ import annotations

import json
import os
import time
from typing import Any


def probe(u: Any) -> dict[str, str]:
    r: dict[str, str] = {}

    def do(name: str, fn: Any) -> None:
        try:
            r[name] = repr(fn())
        except Exception as exc:
            r[name] = f"ERR {type(exc).__name__}"

    do("get_missing", lambda: u.cache_get("k"))
    do("set1", lambda: u.cache_set("k", b"v"))
    do("set2", lambda: u.cache_set("k", b"w"))
    do("get", lambda: u.cache_get("k"))
    do("update", lambda: u.cache_update("k", b"w"))
    do("get2", lambda: u.cache_get("k"))
    do("exists", lambda: u.cache_exists("k"))
    do("exists_missing", lambda: u.cache_exists("nope"))
    do("del", lambda: u.cache_del("k"))
    do("del_missing", lambda: u.cache_del("k"))
    do("keys_empty", lambda: u.cache_keys())
    do("set_a", lambda: u.cache_set("a", "1"))
    do("keys", lambda: u.cache_keys())
    do("inc", lambda: u.cache_inc("n"))
    do("num", lambda: u.cache_num("n"))
    do("raw", lambda: u.cache_get("n"))
    do("inc5", lambda: (u.cache_inc("n", 5), u.cache_num("n")))
    do("mul", lambda: (u.cache_mul("n"), u.cache_num("n")))
    do("div", lambda: (u.cache_div("n"), u.cache_num("n")))
    do("dec", lambda: (u.cache_dec("n", 10), u.cache_num("n")))
    do("num_missing", lambda: u.cache_num("zz"))
    do("named", lambda: (u.cache_set("x", "y", 0, "default"), u.cache_get("x", "default")))
    do("big", lambda: u.cache_update("big", b"x" * 200))
    do("clear", lambda: u.cache_clear())
    do("after_clear", lambda: u.cache_keys())
    return r


def _idle(out: dict[str, str]) -> None:
    path = os.environ["PROBE_OUT"]
    with open(path + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(path + ".tmp", path)
    while True:
        time.sleep(3600)


def sigsup_mule() -> None:
    from sigsup.compat import uwsgi_cache
    _idle(probe(uwsgi_cache))
