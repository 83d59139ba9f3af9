"""Handlers that raise, handlers that run past harakiri, programs that crash at once."""

from __future__ import annotations

import re

TREE = """
[workers]
count = 2

[mules]
count = 1

[signals.70]
handler = "e2eapp:boom"
target = "worker1"

[signals.71]
handler = "e2eapp:record"
target = "worker1"

[signals.72]
handler = "e2eapp:boom"
target = "workers"

[signals.73]
handler = "e2eapp:boom"
target = "mule1"
"""


def test_handler_that_raises(master_factory):
    m = master_factory(TREE)
    pid = m.child_pids()["worker1"]

    r = m.cli("raise", "70", "--wait")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "worker1: failed: RuntimeError: boom-e2e in signal 70" in r.stdout

    # the traceback is in the master's output, every line of it under the process name
    m.wait_log("RuntimeError: boom-e2e in signal 70")
    log = m.log()
    prefix = rf"worker1\[{pid}\]\s*\| "
    assert re.search(prefix + r"Traceback \(most recent call last\):", log), log
    assert re.search(prefix + r".*in boom", log), log
    assert re.search(prefix + r"RuntimeError: boom-e2e in signal 70$", log, re.M), log
    assert re.search(prefix + r"signal 70: handler e2eapp:boom raised", log), log

    st = m.status()
    s = m.signal_status(70, st)
    assert (s["raised"], s["delivered"], s["handled"], s["failed"]) == (1, 1, 0, 1), s
    w1 = m.proc_status("worker1", st)
    assert (w1["pid"], w1["failed"], w1["respawns"], w1["state"]) == (pid, 1, 0, "running")

    # the same process handles the next signal
    r = m.cli("raise", "71", "--wait")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "worker1: handled" in r.stdout
    (rec,) = m.records(71)
    assert rec["pid"] == pid
    w1 = m.proc_status("worker1")
    assert (w1["pid"], w1["handled"], w1["failed"]) == (pid, 1, 1)

    # and again: failures are counted one by one
    assert m.cli("raise", "70", "--wait").returncode == 1
    assert m.signal_status(70)["failed"] == 2
    assert m.proc_status("worker1")["pid"] == pid


def test_wait_reports_each_recipient(master_factory):
    """A broadcast whose handler raises everywhere: --wait lists every failure, exit 1; a
    mule's failure is logged under the mule's name."""
    m = master_factory(TREE)
    r = m.cli("raise", "72", "--wait")
    assert r.returncode == 1
    assert "worker1: failed" in r.stdout and "worker2: failed" in r.stdout
    assert m.signal_status(72)["failed"] == 2
    r = m.cli("raise", "73", "--wait")
    assert r.returncode == 1
    pid = m.child_pids()["mule1"]
    m.wait_log("boom-e2e in signal 73")
    assert re.search(rf"mule1\[{pid}\]\s*\| RuntimeError: boom-e2e in signal 73", m.log())


HARAKIRI = """
[workers]
count = 2

[signals.80]
handler = "e2eapp:sleep_30s"
target = "worker1"

[signals.81]
handler = "e2eapp:record"
target = "worker1"

[signals.82]
handler = "e2eapp:record"
target = "worker"
"""


def test_harakiri_kills_and_respawns(master_factory):
    m = master_factory(HARAKIRI, sup={"harakiri": 1})
    old = m.child_pids()
    m.request({"cmd": "raise", "signum": 80})
    m.wait_records(1, 80, "start")
    for _ in range(3):
        m.request({"cmd": "raise", "signum": 81})     # queued behind the stuck handler
    assert m.proc_status("worker1")["in_flight"] + m.proc_status("worker1")["queued"] == 4

    def respawned():
        st = m.status()
        w1 = m.proc_status("worker1", st)
        return st if w1["pid"] and w1["pid"] != old["worker1"] and \
            m.signal_status(81, st)["handled"] == 3 else None
    st = m.wait_for(respawned, 15, "worker1 respawned and signal 81 handled 3 times")
    new_pid = m.proc_status("worker1", st)["pid"]
    assert not m.alive(old["worker1"])

    s80 = m.signal_status(80, st)
    assert (s80["handled"], s80["failed"]) == (0, 1), s80
    assert not m.records(80, "done")
    recs = m.records(81)
    assert len(recs) == 3 and {r["pid"] for r in recs} == {new_pid}
    w1 = m.proc_status("worker1", st)
    assert w1["respawns"] >= 1 and w1["failed"] == 1 and w1["state"] == "running"
    assert "SIGKILL" in w1["last_exit"]
    assert m.proc_status("worker2", st)["pid"] == old["worker2"]
    assert "HARAKIRI: worker1" in m.log()

    # `worker` keeps working through the respawned process too
    m.raise_many(82, 10)
    m.wait_handled(82, 10)


def test_harakiri_raise_wait_reports_failure(master_factory):
    m = master_factory(HARAKIRI, sup={"harakiri": 1})
    r = m.cli("raise", "80", "--wait", timeout=30)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "worker1: failed: harakiri" in r.stdout


CRASH = """
[workers]
count = 1

[mules]
count = 2

[mules.main]
1 = "e2eapp:crash_at_once"

[signals.90]
handler = "e2eapp:record"
target = "worker1"

[signals.91]
handler = "e2eapp:record"
target = "mule2"
"""


def test_crash_loop_marks_the_process_failed(master_factory):
    m = master_factory(CRASH, sup={"failure_limit": 3, "failure_window": 30.0,
                                   "respawn_delay": 0.05, "respawn_delay_max": 0.2,
                                   "failure_cooldown": 600.0}, start=False)
    m.start(wait=False)

    def failed():
        if not m.sock.exists():
            return None
        st = m.status()
        return st if m.proc_status("mule1", st)["state"] == "failed" else None
    st = m.wait_for(failed, 20, "mule1 marked failed")
    mule1 = m.proc_status("mule1", st)
    assert mule1["pid"] is None
    assert mule1["respawns"] == 2                    # 3 deaths: the first start, 2 respawns
    assert mule1["respawn_in"] > 500                 # retried after the cool-down only
    assert "mule" in st["groups_failed"]
    assert len(m.records(None, "crash")) == 3
    assert m.running() and st["master"]["state"] == "running"
    assert "3 deaths in 30 s: mule1 marked failed" in m.log()
    assert "crash-e2e" in m.log()

    # it stays failed (no spinning) and the rest of the tree works
    t0 = m.status()["master"]["uptime"]
    m.wait_for(lambda: m.status()["master"]["uptime"] > t0 + 0.5, 5, "half a second to pass")
    assert len(m.records(None, "crash")) == 3
    assert m.cli("raise", "90", "--wait").returncode == 0
    assert m.cli("raise", "91", "--wait").returncode == 0
    st = m.status()
    assert m.proc_status("mule1", st)["state"] == "failed"
    assert m.proc_status("mule2", st)["state"] == "running"
