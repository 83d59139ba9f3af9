"""uWSGI mule 1's program (``--mule=.../raiser.py``): run the plan's scenarios, write results.

The same loops as sigsup's raiser (benchmarks/shm.py), with ``uwsgi.signal`` as the raise.
"""

from __future__ import annotations

import json
import os
import time

import uwsgi  # type: ignore[import-not-found]

from benchmarks import shm

with open(os.environ["BENCH_PLAN"]) as _f:
    PLAN = json.load(_f)


def _tree(master: int) -> dict[str, int]:
    """The master and its children, named from the titles of ``--auto-procname``
    ("uWSGI worker 1" -> worker1, "uWSGI mule 2" -> mule2, "uWSGI spooler" -> spooler)."""
    out = {"master": master}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            if int(fields[1]) != master:
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            continue
        name = "".join(title[1:3]) if title[:1] == ["uWSGI"] else f"pid{d}"
        out[name] = int(d)
    return out


def main() -> None:
    out = PLAN["out"]
    if os.path.exists(out + ".started"):   # a respawned mule never runs the plan twice
        return
    open(out + ".started", "w").close()
    _mm, mv = shm.open_slots(PLAN["mem"])
    while mv[shm.GO] == 0:
        time.sleep(0.005)
    pids = _tree(os.getppid())
    fire = uwsgi.signal
    results = []
    for sc in PLAN["scenarios"]:
        if sc["kind"] == "throughput":
            results.append(shm.throughput(fire, mv, sc, pids))
        elif sc.get("fire") == "utime":
            path = sc["path"]
            results.append(shm.latency(lambda _s, p=path: os.utime(p), mv, sc))
        else:
            results.append(shm.latency(fire, mv, sc))
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"results": results, "pid": os.getpid()}, f)
    os.replace(tmp, out)


main()
while True:
    time.sleep(3600)
