"""sigsup's side of the cache benchmark: a programmed mule that runs the loops of
benchmarks/cache_loops.py on ``sigsup.cache`` (shared memory) or, with BENCH_MODE=channel,
on the master-channel prototype (benchmarks/apps/cache_channel.py), then idles."""

from __future__ import annotations

import os
import time

import sigsup
from benchmarks import cache_loops
from sigsup import cache, context


def bench_mule() -> None:
    out = os.environ["BENCH_OUT"]
    n = int(os.environ["BENCH_N"])
    if os.environ.get("BENCH_MODE") == "channel":
        rt = context.current_or_none()
        assert rt is not None

        def get(k: bytes):
            v = rt.call("bench-cache-get", key=k.decode())["value"]
            return None if v is None else v.encode("latin-1")

        def update(k: bytes, v: bytes):
            return rt.call("bench-cache-set", key=k.decode(), value=v.decode("latin-1"))
    else:
        get, update = cache.get, cache.update
    cache_loops.wait_go(os.path.join(out, "go"))
    result = cache_loops.run(get, update, n)
    cache_loops.write_result(os.path.join(out, f"mule{sigsup.mule_id()}.json"), result)
    while True:
        time.sleep(3600)
