"""The master going away: SIGKILL leaves no orphans; stop/SIGTERM let handlers finish;
a second SIGINT is the fast path."""

from __future__ import annotations

import os
import signal
import time

from trees import workers

TREE = """
[workers]
count = 2

[mules]
count = 2

[mules.main]
2 = "e2eapp:wait_forever"

[spoolers.s]
dir = "spool/s"
processes = 1

[signals.50]
handler = "e2eapp:sleep_1s"
target = "worker1"

[signals.51]
handler = "e2eapp:wait_release"
target = "worker1"

[signals.52]
handler = "e2eapp:sleep_30s"
target = "mule1"

[signals.53]
handler = "e2eapp:record"
target = "worker2"
"""

ALL = {"worker1", "worker2", "mule1", "mule2", "spooler:s#1"}


def children(m):
    pids = m.child_pids()
    assert set(pids) == ALL, pids
    return pids


def assert_all_gone(m, pids, within: float):
    def gone():
        return not [p for p in pids.values() if m.alive(p, m.seen.get(p))]
    m.wait_for(gone, within, f"every child {sorted(pids.values())} to exit")


def test_sigkill_master_leaves_no_orphans(master_factory):
    m = master_factory(TREE, sup={"shutdown_timeout": 30.0})
    m.request({"cmd": "raise", "signum": 52})       # mule1 is inside a 30 s handler
    m.wait_records(1, 52, "start")
    pids = children(m)
    assert all(m.alive(p) for p in pids.values())
    os.kill(m.pid, signal.SIGKILL)
    m.wait_exit(5)
    t0 = time.monotonic()
    assert_all_gone(m, pids, 2.0)
    assert time.monotonic() - t0 <= 2.0
    assert not m.records(52, "done")


def check_clean_stop(m, pids, code: int):
    assert code == 0, m.log()
    assert not m.sock.exists(), "the control socket was left behind"
    assert_all_gone(m, pids, 2.0)


def test_sigsup_stop_lets_running_handlers_finish(master_factory):
    m = master_factory(TREE)
    pids = children(m)
    m.request({"cmd": "raise", "signum": 50})
    m.wait_records(1, 50, "start")
    t0 = time.monotonic()
    r = m.cli_reaping("stop", timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert f"master {m.pid} stopped" in r.stdout
    code = m.wait_exit(10)
    (done,) = m.records(50, "done")
    assert done["pid"] == pids["worker1"]
    assert time.monotonic() - t0 < 10
    check_clean_stop(m, pids, code)
    assert "stopping (stop requested by cli)" in m.log()


def test_sigterm_waits_for_running_handler_and_refuses_new_raises(master_factory):
    m = master_factory(TREE, sup={"shutdown_timeout": 30.0})
    pids = children(m)
    m.request({"cmd": "raise", "signum": 51})       # busy until the release file exists
    m.wait_records(1, 51, "start")
    os.kill(m.pid, signal.SIGTERM)
    m.wait_for(lambda: m.status()["master"]["state"] == "stopping", 10, "state stopping")
    # the idle processes are gone, worker1 finishes its handler first
    m.wait_for(lambda: all(not m.alive(pids[n]) for n in ALL - {"worker1"}), 5,
               "idle children to exit")
    assert m.alive(pids["worker1"]) and m.running()
    # the master takes no raise while it stops
    r = m.cli("raise", "53")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "stopping" in r.stderr + r.stdout
    (m.dir / "release").touch()
    code = m.wait_exit(10)
    (done,) = m.records(51, "done")
    assert done["pid"] == pids["worker1"]
    assert not m.records(53)
    check_clean_stop(m, pids, code)


def test_second_sigint_kills_at_once(master_factory):
    m = master_factory(TREE, sup={"shutdown_timeout": 60.0})
    pids = children(m)
    m.request({"cmd": "raise", "signum": 52})       # mule1 sleeps 30 s
    m.wait_records(1, 52, "start")
    os.kill(m.pid, signal.SIGINT)
    m.wait_log("stopping (SIGINT received)", 10)
    assert m.status()["master"]["state"] == "stopping"
    t0 = time.monotonic()
    os.kill(m.pid, signal.SIGINT)
    m.wait_exit(5)
    assert time.monotonic() - t0 < 5
    assert_all_gone(m, pids, 2.0)
    assert not m.records(52, "done")
    assert not m.sock.exists()
    assert "second interrupt" in m.log()


def test_one_sigint_is_a_graceful_stop(master_factory):
    m = master_factory(TREE)
    pids = children(m)
    m.request({"cmd": "raise", "signum": 50})
    m.wait_records(1, 50, "start")
    os.kill(m.pid, signal.SIGINT)
    code = m.wait_exit(10)
    assert m.records(50, "done")
    check_clean_stop(m, pids, code)


def test_shutdown_timeout_kills_what_still_runs(master_factory):
    m = master_factory(TREE, sup={"shutdown_timeout": 1.0})
    pids = children(m)
    m.request({"cmd": "raise", "signum": 52})       # mule1 sleeps 30 s
    m.wait_records(1, 52, "start")
    t0 = time.monotonic()
    os.kill(m.pid, signal.SIGTERM)
    code = m.wait_exit(10)
    assert 0.9 <= time.monotonic() - t0 < 6
    assert not m.records(52, "done")
    check_clean_stop(m, pids, code)
    assert "shutdown_timeout (1 s) passed: killing mule1" in m.log()


def test_restart_after_sigkill_reuses_the_stale_socket(master_factory):
    m = master_factory(TREE)
    first = children(m)
    os.kill(m.pid, signal.SIGKILL)
    m.wait_exit(5)
    assert_all_gone(m, first, 2.0)
    assert m.sock.exists()                      # nobody removed it: stale
    old_pid = m.pid
    m.start()                                   # same config, same socket
    assert m.pid != old_pid
    st = m.status()
    assert st["master"]["pid"] == m.pid
    assert set(children(m).values()).isdisjoint(first.values())
    r = m.cli("raise", "53", "--wait")
    assert r.returncode == 0, r.stderr


def test_second_master_on_the_same_socket_is_refused(master_factory):
    m = master_factory(TREE)
    pids = children(m)
    other = master_factory(workers(1), sup={"socket": str(m.sock)}, start=False)
    other.start(wait=False)
    assert other.wait_exit(20) == 1
    assert f"a master is already running at {m.sock}" in other.log()
    # the first one is untouched
    st = m.status()
    assert st["master"]["pid"] == m.pid and m.child_pids(st) == pids


def test_every_child_has_its_own_process_group(master_factory):
    m = master_factory(TREE)
    for name, pid in children(m).items():
        assert os.getpgid(pid) == pid, name
    assert os.getpgid(m.pid) == m.pid           # start_new_session in the harness
