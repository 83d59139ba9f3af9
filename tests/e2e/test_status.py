"""`sigsup status` (JSON against its schema, --check, exit codes), the live view on a
pseudo-terminal, `sigsup events`, and the master's log formats, on real process trees."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from sigsup.protocol.control import ControlClient, encode
from sigsup.status.schema import check

from .status_helpers import Lines, Pty, sigsup_cmd, start_with, stop_process

TREE = """
[workers]
count = 2

[mules]
count = 2

[mules.main]
2 = "e2eapp:wait_forever"

[signals.30]
handler = "e2eapp:wait_release"
target = "worker1"

[signals.31]
handler = "e2eapp:record"
target = "worker"

[signals.32]
handler = "e2eapp:boom"
target = "worker2"

[signals.33]
handler = "e2eapp:say_hello"
target = "worker2"
"""

CRASHING = """
[workers]
count = 1

[mules]
count = 1

[mules.main]
1 = "e2eapp:crash_at_once"
"""
FAIL_FAST = {"failure_limit": 2, "failure_window": 60.0, "failure_cooldown": 60.0}
PREFIX = re.compile(r"^\d\d:\d\d:\d\d (\S+)\[(\d+)\]\s* \| ")


def _procs(st):
    return {p["name"]: p for p in st["processes"]}


def test_status_json_follows_its_schema_on_a_running_tree(master_factory):
    m = master_factory(TREE)
    m.cli("raise", "30")                                   # worker1: busy until released
    assert m.cli("raise", "31", "--wait").returncode == 0
    m.cli("raise", "32")                                   # worker2: the handler raises
    m.wait_handled(32, 1, counter="failed")
    m.wait_for(lambda: _procs(m.status())["mule2"]["activity"] == "waiting", 10,
               "mule2 in signal_wait")
    r = m.cli("status", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert check(doc, strict=True) == []
    assert doc["version"] == 1
    procs = _procs(doc)
    assert procs["worker1"]["activity"] == "busy" and procs["worker1"]["current"]["signum"] == 30
    assert procs["mule2"]["waiting_for"] == -1
    for p in procs.values():
        assert isinstance(p["rss"], int) and p["rss"] > 0, p
        assert p["cpu_percent"] is not None and p["cpu_window"] > 0
    sig = {s["num"]: s for s in doc["signals"]}
    assert (sig[32]["raised"], sig[32]["failed"]) == (1, 1)
    assert doc["master"]["raises_per_s"] is not None and doc["master"]["rss"] > 0
    assert doc["groups_failed"] == []
    # the terminal view of the same tree, at 80 columns: every process on one line
    view = m.cli("status", env={"COLUMNS": "80"})
    assert view.returncode == 0, view.stderr
    lines = view.stdout.splitlines()
    assert all(len(ln) <= 80 for ln in lines), view.stdout
    assert re.search(r"^worker1 .*busy sig 30", view.stdout, re.M)
    assert re.search(r"^mule2 .*waiting any", view.stdout, re.M)
    assert "signals" in view.stdout and "e2eapp:wait_release" in view.stdout
    (m.dir / "release").touch()
    m.wait_handled(30, 1)


def test_check_exits_3_when_a_group_failed(master_factory):
    m = master_factory(CRASHING, sup=FAIL_FAST, start=False)
    m.start(wait=False)
    st = m.wait_for(lambda: (lambda s: s if s["groups_failed"] else None)(m.status()), 20,
                    "the mule group to fail")
    assert st["groups_failed"] == ["mule"]
    r = m.cli("status", "--check")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "failed: mule (mule1)" in r.stderr
    assert "✖ FAILED mule: mule1" in r.stdout
    r = m.cli("status", "--check", "--json")
    assert r.returncode == 3 and check(json.loads(r.stdout), strict=True) == []
    assert m.cli("status").returncode == 0                 # without --check: a look only
    log = m.log()
    assert re.search(r"mule1 \[\d+\] exited \(exit code \d+\); respawning in [\d.]+ s", log), log
    assert "mule1 marked failed, retrying in 60 s" in log


def test_exit_codes_are_documented_and_kept(sigsup_cli, tmp_path):
    gone = str(tmp_path / "nobody.sock")
    for args in (["status"], ["status", "--json"], ["status", "--check"], ["events"]):
        r = sigsup_cli(*args, "--socket", gone)
        assert r.returncode == 2, (args, r.stderr)
        assert "no master running" in r.stderr
    helptext = sigsup_cli("status", "--help").stdout
    for line in ("0  ok", "2  no master running", "3  some group failed (with --check)"):
        assert line in helptext
    assert "--watch" in helptext and "--interval" in helptext
    assert "Exit codes" in sigsup_cli("events", "--help").stdout
    r = sigsup_cli("status", "--watch", "--check", "--socket", gone)
    assert r.returncode == 1 and "--check" in r.stderr          # a usage error, not "no master"


def test_json_watch_streams_one_document_a_line(master_factory):
    m = master_factory(TREE)
    p = subprocess.Popen(sigsup_cmd("status", "--json", "--watch", "--interval", "0.1",
                                    "--socket", str(m.sock)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=m.env)
    try:
        out = Lines(p)
        docs = out.wait_for(lambda ls: ls if len(ls) >= 3 else None, 20, "three documents")
        for line in docs[:3]:
            doc = json.loads(line)
            assert check(doc, strict=True) == []
        times = [json.loads(x)["time"] for x in docs[:3]]
        assert times == sorted(times) and len(set(times)) == 3
    finally:
        code = stop_process(p)
    assert code == 0


@pytest.mark.parametrize("cols", [80, 200])
def test_the_live_view_survives_the_master_stopping_and_coming_back(master_factory, cols):
    m = master_factory(TREE)
    view = Pty(sigsup_cmd("top", "--socket", str(m.sock), "--interval", "0.2"), m.env,
               cols=cols, rows=40)
    try:
        view.wait_for(lambda t: t.count("Ctrl-C quits") >= 3 and f"pid {m.pid}" in t, 20,
                      "three refreshes of the view")
        text = view.text
        for needle in ("processes 4", "worker1", "worker2", "mule2", "signals", "e2eapp:boom"):
            assert needle in text, needle
        mark = view.mark()
        assert m.cli_reaping("stop").returncode == 0
        view.wait_for(lambda _t: "master not running at" in view.since(mark)
                      and "retrying" in view.since(mark), 20, "the view to say the master is gone")
        # the path may be folded over lines of the panel
        assert m.sock.name in view.since(mark)
        mark = view.mark()
        again = master_factory(TREE, sup={"socket": str(m.sock)})
        view.wait_for(lambda _t: f"pid {again.pid}" in view.since(mark)
                      and "worker1" in view.since(mark), 20, "the view to find the new master")
        view.ctrl_c()
        assert view.wait_exit(10) == 0
        assert "Traceback" not in view.text
    finally:
        view.close()


def test_events_follow_one_signal_from_raise_to_handler(master_factory):
    m = master_factory(TREE)
    by_signal = subprocess.Popen(sigsup_cmd("events", "--signal", "31", "--socket", str(m.sock)),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=m.env)
    by_process = subprocess.Popen(sigsup_cmd("events", "--process", "worker2",
                                             "--socket", str(m.sock)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=m.env)
    try:
        m.wait_for(lambda: m.status()["master"]["subscribers"] == 2, 20, "two subscribers")
        r = m.cli("raise", "31", "--wait", "--json")
        rid = json.loads(r.stdout)["result"]["id"]
        sig = Lines(by_signal)
        sig.wait_for(lambda ls: any('"handled"' in x or '"failed"' in x for x in ls), 20,
                     "the handling of signal 31")
        evs = [json.loads(x) for x in sig.lines]
        assert [(e["event"], e["id"]) for e in evs] == [("raise", rid), ("deliver", rid),
                                                        ("handled", rid)]
        assert evs[0]["origin"] == "cli" and evs[0]["recipients"] == [evs[1]["process"]]
        assert evs[1]["process"] == evs[2]["process"]
        assert evs[0]["ts"] <= evs[1]["ts"] <= evs[2]["ts"]

        m.cli("raise", "32")                                   # worker2's handler raises
        proc = Lines(by_process)
        proc.wait_for(lambda ls: any('"failed"' in x for x in ls), 20, "worker2's failure")
        evs = [json.loads(x) for x in proc.lines]
        kinds = [e["event"] for e in evs]
        assert kinds[-3:] == ["raise", "deliver", "failed"], kinds
        assert "RuntimeError: boom-e2e" in evs[-1]["detail"]
        assert all(e.get("process") == "worker2" or "worker2" in e.get("recipients", [])
                   for e in evs)
    finally:
        codes = [stop_process(by_signal), stop_process(by_process)]
    assert codes == [0, 0]


def test_child_output_and_tracebacks_keep_their_prefix(master_factory):
    m = master_factory(TREE)
    pids = m.child_pids()
    m.cli("raise", "32", "--wait")
    m.wait_log("RuntimeError: boom-e2e in signal 32")
    log = m.log()
    for line in log.splitlines():
        assert PREFIX.match(line), f"unprefixed line {line!r} in:\n{log}"
    tb = [ln for ln in log.splitlines() if ln.startswith(tuple("0123456789"))
          and "worker2[" in ln]
    assert any("Traceback (most recent call last):" in ln for ln in tb)
    assert all(PREFIX.match(ln).group(2) == str(pids["worker2"]) for ln in tb)
    assert re.search(rf"master\[{m.pid}\]\s* \| worker1 \[{pids['worker1']}\] started", log)
    # the | of every line in one column
    assert len({ln.index(" | ") for ln in log.splitlines()}) == 1, log


def test_json_log_format_gives_one_object_a_line(master_factory):
    m = start_with(master_factory(TREE, start=False), "--log-format", "json")
    m.cli("raise", "32", "--wait")
    m.cli("raise", "33", "--wait")
    m.wait_log("hello-e2e from worker2")
    m.wait_log("boom-e2e in signal 32")
    recs = [json.loads(line) for line in m.log().splitlines()]
    for r in recs:
        assert {"ts", "time", "process", "pid", "level", "msg"} <= set(r), r
    masters = [r for r in recs if r["process"] == "master"]
    assert masters and all(r["pid"] == m.pid for r in masters)
    tb = [r for r in recs if r["process"] == "worker2" and r["level"] == "error"]
    assert any(r["msg"].startswith("Traceback") for r in tb)
    assert any(r["msg"].startswith("RuntimeError: boom-e2e") for r in tb)
    hello = [r for r in recs if "hello-e2e" in r["msg"]]
    assert hello and hello[0]["level"] == "info"


def test_quiet_keeps_warnings_and_what_children_print(master_factory):
    m = start_with(master_factory(TREE, start=False), "--quiet")
    m.cli("raise", "33", "--wait")
    m.wait_log("hello-e2e from worker2")
    old = m.child_pids()["worker1"]
    import os
    import signal
    os.kill(old, signal.SIGKILL)
    m.wait_log(f"worker1 [{old}] exited (killed by signal SIGKILL); respawning in")
    log = m.log()
    assert " started" not in log and "sigsup master for" not in log


def test_refusals_are_one_warning_a_second_with_the_count(master_factory):
    m = master_factory(TREE, sup={"queue_size": 1, "window": 1})
    n = 300
    with ControlClient(m.sock, 20) as c:
        assert c._sock is not None
        c._sock.sendall(encode({"cmd": "raise", "signum": 30}) * n)
        replies = [c.receive(20) for _ in range(n)]
    refused = sum(1 for r in replies if r["result"]["refused"])
    assert refused == n - 2           # one runs, one waits in the queue
    m.wait_log("refused in the last 1 s")
    lines = m.wait_for(lambda: (lambda ls: ls if sum(int(re.search(r"(\d+) raises? refused", x)
                                                        .group(1)) for x in ls) >= refused
                                else None)(
        [x for x in m.log().splitlines() if "refused in the last" in x]), 10,
        "warnings adding up to every refusal")
    assert 1 <= len(lines) <= 3, lines            # not one line per refused raise
    assert "signal 30:" in lines[0] and "queue full: 1 pending for worker1" in lines[0]
    assert "warning" not in lines[0]
    (m.dir / "release").touch()
    m.wait_handled(30, 2)


def test_dashboard_shows_status_and_logs_then_leaves_cleanly(master_factory):
    m = master_factory(TREE, start=False)
    dash = Pty(sigsup_cmd("start", str(m.cfg), "--dashboard"), m.env, cols=120, rows=40,
               cwd=str(m.dir))
    m.proc = dash.proc                  # the master itself; the fixture's teardown kills it
    try:
        dash.wait_for(lambda t: "processes 4" in t and "log" in t and "started" in t, 30,
                      "the dashboard with the tree and its log")
        st = m.wait_running()
        # the dashboard is the forked one: the master keeps the pid its children check
        assert st["master"]["pid"] == dash.proc.pid
        assert m.cli("raise", "33", "--wait").returncode == 0
        dash.wait_for(lambda t: "hello-e2e from worker2" in t, 20, "the handler's print")
        dash.ctrl_c()
        assert dash.wait_exit(20) == 0
        tail = dash.text[-3000:]
        assert "stopped" in tail
    finally:
        dash.close()


def test_dashboard_needs_a_terminal(sigsup_cli, master_factory):
    m = master_factory(TREE, start=False)
    r = sigsup_cli("start", str(m.cfg), "--dashboard")
    assert r.returncode == 1 and "--dashboard needs a terminal" in r.stderr
