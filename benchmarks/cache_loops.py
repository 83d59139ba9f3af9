"""The cache loops every side of the cache benchmark runs (benchmarks/cache.py): sigsup's
shared cache, the master-channel prototype, uWSGI's cache and a dict. Imports neither
sigsup nor uwsgi: the get/set functions are passed in, so every side runs the same loop.

    set     ``update(key, value)`` over KEYS keys (replacing after the first round)
    hit     ``get(key)`` of a present key
    miss    ``get(key)`` of an absent key
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

KEYS = 1000
VALUE = b"v" * 100


def run(get: Callable[[bytes], Any], update: Callable[[bytes, bytes], Any], n: int,
        ) -> dict[str, float]:
    keys = [b"key%d" % i for i in range(KEYS)]
    misses = [b"nokey%d" % i for i in range(KEYS)]
    out: dict[str, float] = {}
    for name, fn in (("set", lambda k: update(k, VALUE)), ("hit", get),
                     ("miss", None)):
        seq = misses if name == "miss" else keys
        call = get if fn is None else fn
        t0 = time.perf_counter()
        for i in range(n):
            call(seq[i % KEYS])
        out[name] = n / (time.perf_counter() - t0)
    assert get(keys[0]) == VALUE, "the cache does not hold what was set"
    return out


def write_result(path: str, result: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, path)


def wait_go(path: str, timeout: float = 30.0) -> None:
    """Every process of a run starts its loop together (the driver creates ``path``)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("no go")
        time.sleep(0.002)
