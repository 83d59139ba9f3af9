"""The client commands: exit codes, finding the master, `status --json`."""

from __future__ import annotations

import json
import socket

from trees import BUSY_WORKER1

TREE = """
[workers]
count = 2

[mules]
count = 1

[spoolers.s]
dir = "spool/s"

[signals.7]
handler = "e2eapp:record"
target = "worker"
""" + BUSY_WORKER1


def test_raise_routed_exits_0(master_factory):
    m = master_factory(TREE)
    r = m.cli("raise", "7")
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith("signal 7 (raise #") and (line.endswith("-> worker1")
                                                      or line.endswith("-> worker2")), line
    m.wait_handled(7, 1)
    r = m.cli("raise", "7", "--json")
    assert r.returncode == 0
    reply = json.loads(r.stdout)
    assert reply["ok"] is True and reply["result"]["signum"] == 7
    assert len(reply["result"]["recipients"]) == 1
    # an unregistered number is routed too (kept for a signal_wait caller)
    r = m.cli("raise", "200")
    assert r.returncode == 0 and "kept for the next signal_wait (nobody waits now)" in r.stdout
    assert "-> signal_wait" not in r.stdout


def test_no_master_exits_2_naming_the_path(tmp_path, sigsup_cli):
    missing = tmp_path / "missing.sock"
    for args in (["raise", "7"], ["status"], ["status", "--json"],
                 ["raise", "7", "--wait"]):
        r = sigsup_cli(*args, "--socket", str(missing))
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert str(missing) in r.stderr, r.stderr
        assert r.stdout == ""
    # stop is idempotent: nothing to stop is not an error
    r = sigsup_cli("stop", "--socket", str(missing))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "nothing to stop" in r.stdout and str(missing) in r.stdout
    r = sigsup_cli("raise", "7", env={"SIGSUP_SOCKET": str(missing)})
    assert r.returncode == 2 and str(missing) in r.stderr


def test_stale_socket_exits_2(tmp_path, sigsup_cli):
    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()                          # the file stays, nobody listens
    r = sigsup_cli("raise", "7", "--socket", str(path))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert str(path) in r.stderr


def test_config_option_finds_the_socket(master_factory, sigsup_cli):
    m = master_factory(TREE)
    r = sigsup_cli("raise", "7", "-c", str(m.cfg))
    assert r.returncode == 0, r.stderr
    r = sigsup_cli("status", "--json", "--config", str(m.cfg))
    assert r.returncode == 0 and json.loads(r.stdout)["master"]["pid"] == m.pid
    # ... and names it when that master is not running
    m.kill()
    r = sigsup_cli("raise", "7", "-c", str(m.cfg))
    assert r.returncode == 2 and str(m.sock) in r.stderr


def test_default_directory_finds_the_only_socket(master_factory, sigsup_cli, tmp_path):
    xdg = tmp_path / "xdg"
    m = master_factory(TREE, sup={"socket": str(xdg / "sigsup" / "e2e.sock")})
    assert m.sock == xdg / "sigsup" / "e2e.sock"
    r = sigsup_cli("raise", "7", env={"XDG_RUNTIME_DIR": str(xdg)})
    assert r.returncode == 0, r.stderr
    # the directory sigsup made for the socket is private
    assert (xdg / "sigsup").stat().st_mode & 0o777 == 0o700


def test_bad_signal_numbers_exit_3(master_factory):
    """README: exit 3 when N is not 0..255 -- for "-1" or "abc" too, which must not come out
    as click's usage error (exit 2 would read as "no master running")."""
    m = master_factory(TREE)
    for num in ("256", "999", "1000000"):
        r = m.cli("raise", num)
        assert r.returncode == 3, (num, r.stdout, r.stderr)
        assert "out of range" in r.stderr and "0..255" in r.stderr, (num, r.stderr)
    for num in ("-1", "-300", "abc", "1.5"):
        r = m.cli("raise", num)
        assert r.returncode == 3, (num, r.stdout, r.stderr)
        assert "0..255" in r.stderr, (num, r.stderr)
    assert m.status()["master"]["raised"] == 0


def test_refused_raise_exits_3(master_factory):
    m = master_factory(TREE, sup={"queue_size": 1, "window": 1})
    assert m.cli("raise", "40").returncode == 0
    m.wait_records(1, 40, "start")                  # worker1 is busy until released
    r = m.cli("raise", "41")
    assert r.returncode == 0, r.stderr               # queued behind it (queue_size = 1)
    assert "-> worker1" in r.stdout
    r = m.cli("raise", "41")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "refused for worker1: queue full (1 pending)" in r.stderr
    r = m.cli("raise", "41", "--wait")
    assert r.returncode == 3
    s = m.signal_status(41)
    assert (s["raised"], s["dropped"]) == (3, 2)
    (m.dir / "release").touch()
    m.wait_handled(41, 1)


def test_status_json(master_factory):
    m = master_factory(TREE)
    m.cli("raise", "7", "--wait")
    r = m.cli("status", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    procs = {p["name"]: p for p in st["processes"]}
    assert set(procs) == {"worker1", "worker2", "mule1", "spooler:s#1"}
    for p in procs.values():
        assert {"name", "kind", "id", "pid", "state"} <= set(p)
        assert isinstance(p["pid"], int) and m.alive(p["pid"]) and p["state"] == "running"
    assert (procs["worker2"]["kind"], procs["worker2"]["id"]) == ("worker", 2)
    assert (procs["mule1"]["kind"], procs["mule1"]["id"]) == ("mule", 1)
    assert (procs["spooler:s#1"]["kind"], procs["spooler:s#1"]["id"]) == ("spooler", 1)
    sigs = {s["num"]: s for s in st["signals"]}
    assert set(sigs) == {7, 40, 41}
    for s in sigs.values():
        assert {"num", "target", "handler", "raised", "delivered", "handled", "failed",
                "dropped"} <= set(s)
    assert (sigs[7]["target"], sigs[7]["handler"]) == ("worker", "e2eapp:record")
    assert (sigs[7]["raised"], sigs[7]["delivered"], sigs[7]["handled"], sigs[7]["failed"],
            sigs[7]["dropped"]) == (1, 1, 1, 0, 0)
    assert st["master"]["pid"] == m.pid
    # the human view works too
    r = m.cli("status", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert f"pid {m.pid}" in r.stdout and "worker1" in r.stdout and "spooler:s#1" in r.stdout


COALESCE = """
[workers]
count = 1
""" + BUSY_WORKER1 + """
[signals.43]
handler = "e2eapp:record"
target = "worker1"
on_full = "coalesce"
"""


def test_coalesce_on_a_full_queue_is_reported_and_counted(master_factory):
    m = master_factory(COALESCE, sup={"queue_size": 1, "window": 1})
    assert m.cli("raise", "40").returncode == 0
    m.wait_records(1, 40, "start")
    assert m.cli("raise", "43").returncode == 0      # queued
    for _ in range(2):
        r = m.cli("raise", "43")
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "signal 43: coalesced into a pending signal 43 for worker1" in r.stdout
    r = m.cli("raise", "41")                          # the queue is full and 41 rejects
    assert r.returncode == 3
    s = m.signal_status(43)
    assert (s["raised"], s["coalesced"], s["dropped"]) == (3, 2, 0)
    (m.dir / "release").touch()
    st = m.wait_handled(43, 1)
    m.wait_for(lambda: m.status()["master"]["queued"] == 0, 10, "empty queues")
    s = m.signal_status(43)
    assert (s["raised"], s["handled"], s["coalesced"], s["failed"]) == (3, 1, 2, 0)
    assert len(m.records(43)) == 1
    assert m.signal_status(41, st)["dropped"] == 1
