"""The shared cache through a real master: two workers and a mule share it, it survives a
worker's SIGKILL, its bound refuses loudly, and `sigsup status --json` shows its figures."""

from __future__ import annotations

import json
import os
import signal
import sys

from harness import run_cli
from trees import signals

PUT, READ_W2, READ_MULE, READ_W1, FILL = 50, 51, 52, 53, 54

TREE = ("\n[workers]\ncount = 2\n[mules]\ncount = 1\n"
        "[caches.small]\nitems = 3\nmax_bytes = 1000\nmax_item_bytes = 100\n"
        + signals({PUT: "worker1"}, "cache_app:put")
        + signals({READ_W2: "worker2"}, "cache_app:read")
        + signals({READ_MULE: "mule1"}, "cache_app:read")
        + signals({READ_W1: "worker1"}, "cache_app:read")
        + signals({FILL: "worker2"}, "cache_app:fill"))


def test_workers_and_a_mule_share_a_cache_that_outlives_a_worker(master_factory):
    m = master_factory(TREE, sup={"preload": ["cache_preload"]})
    m.request({"cmd": "raise", "signum": PUT})
    put = m.wait_records(1, PUT)[0]
    assert put["wid"] == 1
    value = put["value"]
    m.request({"cmd": "raise", "signum": READ_W2})
    m.request({"cmd": "raise", "signum": READ_MULE})
    w2 = m.wait_records(1, READ_W2)[0]
    assert w2["value"] == value
    assert w2["preload"] == f"pid {m.pid}"      # stored by the master's preload, before fork
    mule = m.wait_records(1, READ_MULE)[0]
    assert (mule["mid"], mule["value"]) == (1, value)

    old = m.proc_status("worker1")["pid"]
    os.kill(old, signal.SIGKILL)
    m.wait_for(lambda: (lambda p: p["pid"] not in (None, old) and p["state"] == "running")(
        m.proc_status("worker1")), 20, "worker1 respawned")
    m.request({"cmd": "raise", "signum": READ_W1})
    again = m.wait_records(1, READ_W1)[0]
    assert again["pid"] != old and again["value"] == value

    m.request({"cmd": "raise", "signum": FILL})
    errors = m.wait_records(1, FILL)[0]["errors"]
    assert len(errors) == 2 and all("cache 'small' is full: 3 items" in e for e in errors)

    out = m.cli("status", "--json")
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)["caches"]
    assert st["small"]["items"] == 3 and st["small"]["full"] == 2
    assert st["small"]["declared"] is True
    d = st["default"]
    assert d["declared"] is False and d["items"] == 2 and d["hits"] == 7   # put 1, three reads of 2
    assert m.log().count("cache 'default' is not declared") == 1

    # `sigsup check` imports preload too, in its own process: it must not reach the tree's
    # cache; a script that names the tree's config does reach it
    c = m.cli("check", str(m.cfg), socket=False)
    assert c.returncode == 0, c.stderr
    script = run_cli([sys.executable, "-c", "from sigsup import cache; "
                      "print(cache.get('from-preload').decode(), cache.get('shared').decode())"],
                     env={"SIGSUP_CONFIG": str(m.cfg)})
    assert script.returncode == 0, script.stderr
    assert script.stdout.strip() == f"pid {m.pid} {value}"
