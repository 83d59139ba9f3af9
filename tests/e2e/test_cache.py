"""The shared cache through a real master: two workers and a mule share it, it survives a
worker's SIGKILL, its bound refuses loudly, and `sigsup status --json` shows its figures."""

from __future__ import annotations

import json
import os
import signal

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
    m = master_factory(TREE)
    m.request({"cmd": "raise", "signum": PUT})
    put = m.wait_records(1, PUT)[0]
    assert put["wid"] == 1
    value = put["value"]
    m.request({"cmd": "raise", "signum": READ_W2})
    m.request({"cmd": "raise", "signum": READ_MULE})
    assert m.wait_records(1, READ_W2)[0]["value"] == value
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
    assert d["declared"] is False and d["items"] == 1 and d["hits"] >= 4
    assert "cache 'default' is not declared" in m.log()
