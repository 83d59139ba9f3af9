"""Every output line of every child reaches the master's stdout, prefixed with its name and pid."""

from __future__ import annotations

import re

TREE = """
[workers]
count = 2

[mules]
count = 1

[spoolers.s]
dir = "spool/s"

[signals.60]
handler = "e2eapp:say_hello"
target = "workers"

[signals.61]
handler = "e2eapp:say_hello"
target = "mule1"

[signals.62]
handler = "e2eapp:say_hello"
target = "spooler"
"""


def test_child_output_is_prefixed_with_name_and_pid(master_factory):
    m = master_factory(TREE)
    pids = m.child_pids()
    for n in (60, 61, 62):
        assert m.cli("raise", str(n), "--wait").returncode == 0
    names = ("worker1", "worker2", "mule1", "spooler:s#1")
    for name in names:
        m.wait_log(f"err-e2e from {name} pid {pids[name]}")
    log = m.log()
    for name in names:
        pid = pids[name]
        for stream in (rf"hello-e2e from {re.escape(name)} pid {pid} signal \d+",
                       rf"err-e2e from {re.escape(name)} pid {pid}"):
            pat = rf"^\d\d:\d\d:\d\d {re.escape(name)}\[{pid}\]\s*\| {stream}$"
            found = re.findall(pat, log, re.M)
            assert len(found) == 1, f"{pat!r} x{len(found)} in:\n{log}"
    # no child line comes out unprefixed or under another process's name
    for line in log.splitlines():
        if "-e2e from " in line:
            name = line.split("-e2e from ")[1].split()[0]
            assert re.match(rf"^\d\d:\d\d:\d\d {re.escape(name)}\[{pids[name]}\]\s*\| ", line), line
    # the master's own lines are prefixed too
    assert re.search(rf"^\d\d:\d\d:\d\d master\[{m.pid}\]\s*\| sigsup master for 'e2e'", log, re.M)


def test_output_of_a_respawned_child_carries_its_new_pid(master_factory):
    import os
    import signal
    m = master_factory(TREE)
    old = m.child_pids()["mule1"]
    os.kill(old, signal.SIGKILL)
    new = m.wait_for(lambda: (lambda p: p if p and p != old else None)(
        m.proc_status("mule1")["pid"]), 10, "mule1 respawned")
    m.wait_running()
    assert m.cli("raise", "61", "--wait").returncode == 0
    m.wait_log(f"hello-e2e from mule1 pid {new}")
    assert re.search(rf"mule1\[{new}\]\s*\| hello-e2e from mule1 pid {new}", m.log())
    assert re.search(rf"mule1 \[{old}\] exited \(killed by signal SIGKILL\)", m.log()), m.log()
