"""sigsup.decorators end to end: apps/spool_dec_app.py is imported by the master
(``preload``) and uses every decorator; the test checks each one did its part."""

from __future__ import annotations

from trees import workers

import sigsup
from sigsup.decorators import free_signal

from .spool_helpers import api, records, wait_records

TREE = """
[workers]
count = 2

[mules]
count = 2

[spoolers.default]
dir = "spool/default"

[spoolers.other]
dir = "spool/other"
retry_backoff = 0.1
"""


def test_every_decorator(master_factory):
    m = master_factory(TREE, sup={"preload": ["spool_dec_app"]})
    # @postfork: in every child, before its loop
    forks = wait_records(m, 6, ev="postfork")
    assert sorted(r["kind"] for r in forks) == ["mule", "mule", "spooler", "spooler",
                                                "worker", "worker"]
    # free numbers, from 255 down, registered by the master itself
    st = m.status()
    auto = {s["num"]: s for s in st["signals"] if str(s["source"]).startswith("auto")}
    assert sorted(auto) == [252, 253, 254, 255]
    assert auto[255]["handler"] == "spool_dec_app:tick"
    assert auto[254]["handler"] == "spool_dec_app:rb" and auto[254]["target"] == "mule1"

    # @signal
    assert m.cli("raise", "70", "--wait").returncode == 0
    assert sorted(r["wid"] for r in wait_records(m, 2, ev="sig70")) == [1, 2]
    # @timer (2 iterations), @rbtimer (1, in mule1), @cron (every second, once), @filemon
    timers = wait_records(m, 2, ev="timer")
    assert {r["num"] for r in timers} == {255}
    (rb,) = wait_records(m, 1, ev="rbtimer")
    assert (rb["num"], rb["mule"]) == (254, 1)
    (cr,) = wait_records(m, 1, ev="cron", timeout=5)
    assert cr["num"] == 253
    (m.dir / "watched.txt").write_text("changed")
    (fm,) = wait_records(m, 1, ev="filemon", timeout=10)
    assert fm["num"] == 252

    # @spool, @mulefunc, and the collision guard, from a worker
    assert m.cli("raise", "72", "--wait").returncode == 0
    (sent,) = wait_records(m, 1, ev="calls-sent")
    assert sent["nums"] == [255, 254, 253, 252]
    assert "was given to spool_dec_app:tick as a free number" in sent["collision"]
    (task,) = wait_records(m, 1, ev="spooled-task")
    assert (task["to"], task["body"], task["name2"]) == ("ann", "0001", "spooler:default#1")
    wait_records(m, 1, ev="flaky-done", timeout=10)          # SPOOL_RETRY, then done
    (mf,) = wait_records(m, 1, ev="mulefunc")
    assert (mf["x"], mf["y"], mf["mule"]) == (5, 6, 1)
    (mfa,) = wait_records(m, 1, ev="mulefunc-any")
    assert mfa["mule"] in (1, 2)

    # @lock: two workers, 150 read-modify-writes each, no update lost
    assert m.cli("raise", "71", "--wait").returncode == 0
    wait_records(m, 2, ev="bumped")
    assert (m.dir / "counter.txt").read_text() == "300"

    # asking again for a free number: the same handler keeps its number, another gets 251
    with api(m):
        assert free_signal("spool_dec_app:tick", "worker") == 255
        assert free_signal("spool_dec_app:on70", "mule2") == 251
        assert sigsup.signal_registered(251)
    # the timer really stopped after its 2 iterations (and the cron after 1)
    assert len(records(m, ev="timer")) == 2 and len(records(m, ev="cron")) == 1


def test_lock_api_across_processes(master_factory):
    """sigsup.lock from two processes of the tree's world: the test process and a script
    that knows only the master's socket."""
    import os
    import subprocess
    import sys
    m = master_factory(workers(1))
    probe = "import sigsup\nprint(sigsup.lock('x', timeout=0.2))\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGSUP_")}
    env["SIGSUP_SOCKET"] = str(m.sock)

    def other_process_gets_it() -> str:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             timeout=30, env=env)
        return out.stdout.strip() or out.stderr

    with api(m):
        assert sigsup.lock("x", timeout=1)
        assert sigsup.is_locked("x")
        assert other_process_gets_it() == "False"
        sigsup.unlock("x")
        assert other_process_gets_it() == "True"      # and its exit released it
        assert not sigsup.is_locked("x")
        with sigsup.locked("y"):
            try:
                sigsup.lock("y")
            except RuntimeError as exc:
                assert "not re-entrant" in str(exc)
            else:
                raise AssertionError("a second lock in the same thread must raise")
        assert not sigsup.is_locked("y")
    assert (m.sock.parent / (m.sock.name + ".locks")).is_dir()
