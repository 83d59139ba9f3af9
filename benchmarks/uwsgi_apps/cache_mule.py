"""uWSGI's side of the cache benchmark: a mule script that runs the loops of
benchmarks/cache_loops.py on uWSGI's cache (``--cache2 name=default,...``), then idles."""

import os
import time

import uwsgi

from benchmarks import cache_loops

out = os.environ["BENCH_OUT"]
cache_loops.wait_go(os.path.join(out, "go"))
result = cache_loops.run(lambda k: uwsgi.cache_get(k, "default"),
                         lambda k, v: uwsgi.cache_update(k, v, 0, "default"),
                         int(os.environ["BENCH_N"]))
cache_loops.write_result(os.path.join(out, f"mule{uwsgi.mule_id()}.json"), result)
while True:
    time.sleep(3600)
