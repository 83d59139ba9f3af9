"""The master's loop, one step at a time, with a fake OS seam and a fake clock.

No process is forked: each "child" is the test holding the other end of a socketpair
(tests/unit/fakes.py). Every step is ``master.step(timeout=0)``: nothing here sleeps.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
from trees import POLICY

from sigsup.protocol.control import LENGTH, Decoder, encode
from sigsup.protocol.frames import ACK, DONE, DONE_ERROR, DONE_OK, READY, RUN, pack, pack_json
from sigsup.routing.raises import Watch
from sigsup.routing.states import ProcState

from .fakes import (
    LoopHarness,
    harness_factory,
    wake,
)

BASIC = """
[workers]
count = 2

[mules]
count = 2

[farms]
reports = [2]

[signals.17]
handler = "handlers:on_change"
target = "worker"

[signals.18]
handler = "handlers:everyone"
target = "workers"

[signals.19]
handler = "handlers:first"
target = "worker1"

[signals.20]
handler = "handlers:report"
target = "farm_reports"
"""




Harness = LoopHarness


@pytest.fixture
def make():
    with harness_factory(Harness) as new:
        def factory(body: str = BASIC, supervisor: str = POLICY, *, start: bool = True,
                    **fake_kw) -> Harness:
            return new(body, supervisor, start=start, **fake_kw)

        yield factory


# -- start-up ------------------------------------------------------------------------------


def test_start_spawns_every_slot(make) -> None:
    h = make()
    names = [p.name for p in h.master.procs]
    assert names == ["worker1", "worker2", "mule1", "mule2"]
    assert len(h.fake.spawned) == 4
    assert [p.pid for p in h.master.procs] == h.fake.spawned
    assert all(p.state is ProcState.STARTING and not p.ready for p in h.master.procs)
    assert set(h.master.by_pid) == set(h.fake.spawned)
    assert h.master.state == "running"
    assert h.fake.kills == []
    assert os.environ["SIGSUP_SOCKET"] == str(h.sock_dir / "m.sock")
    assert (h.sock_dir / "m.sock").exists()


def test_start_with_cheaper_spawns_only_the_minimum_of_workers(make) -> None:
    h = make("[workers]\ncount = 4\ncheaper = 2\n")
    states = {p.name: p.state for p in h.master.procs}
    assert states == {"worker1": ProcState.STARTING, "worker2": ProcState.STARTING,
                      "worker3": ProcState.CHEAPED, "worker4": ProcState.CHEAPED}
    assert len(h.fake.spawned) == 2


def test_ready_makes_a_process_running(make) -> None:
    h = make()
    h.ready("worker1")
    assert h.proc("worker1").state is ProcState.RUNNING
    assert h.proc("worker1").ready
    assert h.proc("worker2").state is ProcState.STARTING
    assert h.proc("worker1").activity() == "idle"


# -- raise, run, done ----------------------------------------------------------------------


def test_raise_reaches_the_right_child_as_a_run_frame(make) -> None:
    h = make()
    h.ready()
    reply = h.raise_(19)
    assert reply["ok"] is True
    assert reply["result"]["recipients"] == ["worker1"]
    rid = reply["result"]["id"]
    assert h.child("worker1").runs() == [(19, rid)]
    assert h.child("worker2").runs() == []
    assert h.child("mule1").runs() == []


def test_pool_raise_goes_to_one_idle_worker(make) -> None:
    h = make()
    h.ready()
    r1 = h.raise_(17)["result"]
    r2 = h.raise_(17)["result"]
    assert (r1["recipients"], r2["recipients"]) == (["worker1"], ["worker2"])
    assert h.child("worker1").runs() == [(17, r1["id"])]
    assert h.child("worker2").runs() == [(17, r2["id"])]


def test_broadcast_and_farm(make) -> None:
    h = make()
    h.ready()
    r = h.raise_(18)["result"]
    assert r["recipients"] == ["worker1", "worker2"]
    assert h.child("worker1").runs() == [(18, r["id"])]
    assert h.child("worker2").runs() == [(18, r["id"])]
    r = h.raise_(20)["result"]
    assert r["recipients"] == ["mule2"]
    assert h.child("mule2").runs() == [(20, r["id"])]
    assert h.child("mule1").runs() == []


def test_raise_before_ready_is_queued_and_sent_on_ready(make) -> None:
    h = make()
    r = h.raise_(19)["result"]
    assert r["recipients"] == ["worker1"]
    assert h.child("worker1").runs() == []
    h.ready("worker1")
    assert h.child("worker1").runs() == [(19, r["id"])]


def test_done_updates_counters(make) -> None:
    h = make()
    h.ready()
    w1 = h.child("worker1")
    rid = h.raise_(19)["result"]["id"]
    w1.runs()
    assert h.proc("worker1").activity() == "busy"
    w1.done(19, rid)
    h.step()
    assert h.counters(19) == {"raised": 1, "delivered": 1, "handled": 1, "failed": 0,
                              "dropped": 0, "coalesced": 0}
    assert h.proc("worker1").handled == 1
    assert not h.proc("worker1").inflight


def test_failed_done_as_json_counts_failed(make) -> None:
    h = make()
    h.ready()
    w1 = h.child("worker1")
    rid = h.raise_(19)["result"]["id"]
    w1.done_json(19, rid, DONE_ERROR, "ValueError: boom")
    h.step()
    assert h.counters(19)["failed"] == 1
    assert h.proc("worker1").failed == 1


def test_child_raise_gets_an_ack(make) -> None:
    h = make()
    h.ready()
    w2 = h.child("worker2")
    w2.raise_(18, seq=7)
    h.step()
    frames = w2.read()
    acks = [f for f in frames if f[0] == ACK]
    assert len(acks) == 1
    _, signum, recipients, seq, rid = acks[0]
    assert (signum, recipients, seq) == (18, 2, 7)
    assert h.master.table[18].counters.raised == 1
    assert h.child("worker1").runs() == [(18, rid)]


def test_child_raise_refused_gets_the_result_as_json(make) -> None:
    h = make(supervisor=POLICY + "queue_size = 1\nwindow = 1\n")
    h.ready()
    w2 = h.child("worker2")
    for seq in (1, 2, 3):
        w2.raise_(19, seq=seq)      # worker1: 1 in flight, 1 queued, then full
    h.step()
    msgs = w2.jsons()
    assert len(msgs) == 1
    assert msgs[0]["t"] == "raised" and msgs[0]["seq"] == 3
    assert msgs[0]["result"]["refused"] == [{"recipient": "worker1",
                                            "reason": "queue full (1 pending)"}]


def test_child_call_gets_a_reply(make) -> None:
    h = make()
    h.ready()
    w1 = h.child("worker1")
    w1.json({"t": "call", "rid": 5, "cmd": "registered", "signum": 17})
    h.step()
    (reply,) = w1.jsons()
    assert reply["t"] == "reply" and reply["rid"] == 5 and reply["ok"] is True
    assert reply["registered"] is True
    w1.json({"t": "call", "rid": 6, "cmd": "raise", "signum": 999})
    h.step()
    (reply,) = w1.jsons()
    assert reply["ok"] is False and "999" in reply["error"]


def test_child_wait_and_unwait(make) -> None:
    h = make()
    h.ready()
    w2 = h.child("worker2")
    w2.json({"t": "wait", "signum": -1})
    h.step()
    assert h.proc("worker2").waiting == -1
    assert h.proc("worker2").activity() == "waiting"
    r = h.raise_(60)["result"]
    assert r["recipients"] == ["worker2"]
    assert w2.runs() == [(60, r["id"])]
    w2.json({"t": "wait", "signum": 61})
    w2.json({"t": "unwait"})
    h.step()
    assert h.proc("worker2").waiting is None


def test_register_command_tells_every_child(make) -> None:
    h = make()
    h.ready()
    reply = h.cmd(cmd="register", signum=30, handler="pkg.mod:fn", target="mules")
    assert reply["ok"] is True
    assert reply["entry"]["target"] == "mules"
    for name in ("worker1", "worker2", "mule1", "mule2"):
        assert {"t": "table", "set": {"30": "pkg.mod:fn"}} in h.child(name).jsons()
    r = h.raise_(30)["result"]
    assert r["recipients"] == ["mule1", "mule2"]
    reply = h.cmd(cmd="unregister", signum=30)
    assert reply == {"ok": True, "removed": True}
    assert {"t": "table", "del": [30]} in h.child("mule1").jsons()
    assert h.cmd(cmd="unregister", signum=30) == {"ok": True, "removed": False}


# -- bad input to the commands -------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg", "expect"),
    [
        ({"cmd": "raise", "signum": "x"}, "field 'signum' must be an integer, not str"),
        ({"cmd": "raise", "signum": True}, "field 'signum' must be an integer, not a boolean"),
        ({"cmd": "raise", "signum": 1.0}, "field 'signum' must be an integer, not float"),
        ({"cmd": "raise"}, "missing field 'signum'"),
        ({"cmd": "raise", "signum": 300}, "signal 300 is out of range"),
        ({"cmd": "raise", "signum": -1}, "signal -1 is out of range"),
        ({}, "missing field 'cmd'"),
        ({"cmd": 5}, "missing field 'cmd'"),
        ({"signum": 17}, "missing field 'cmd'"),
        ({"cmd": "frobnicate"}, "unknown command 'frobnicate'"),
        ({"cmd": "register", "signum": 30, "handler": "m:f", "target": "worker9"},
         "target: no worker 9 (workers.count is 2)"),
        ({"cmd": "register", "signum": 30, "handler": "m:f", "target": "farm_nope"},
         "target: no farm named 'nope'"),
        ({"cmd": "register", "signum": 30, "handler": "m:f", "target": "spooler"},
         "target: target 'spooler' needs a spooler"),
        ({"cmd": "register", "signum": 30, "handler": "m:f", "target": 3},
         "field 'target' must be a string, not int"),
        ({"cmd": "register", "signum": 30, "target": "worker"}, "missing field 'handler'"),
        ({"cmd": "register", "signum": 30, "handler": "nocolon"}, "handler: 'nocolon' is not"),
        ({"cmd": "register", "signum": 30, "handler": "m:f", "on_full": "drop"},
         "on_full must be one of reject, coalesce, not 'drop'"),
        ({"cmd": "register", "signum": 256, "handler": "m:f"}, "signal 256 is out of range"),
        ({"cmd": "unregister", "signum": "17"}, "field 'signum' must be an integer"),
        ({"cmd": "registered"}, "missing field 'signum'"),
    ],
)
def test_bad_commands_say_which_field(make, msg, expect) -> None:
    h = make()
    reply = h.master.commands.execute(msg, "test")
    assert reply["ok"] is False
    assert expect in reply["error"]
    assert not h.master.table[30].registered


def test_ping_and_status_commands(make) -> None:
    h = make()
    h.ready()
    assert h.cmd(cmd="ping") == {"ok": True, "pid": os.getpid(), "name": "t", "state": "running"}
    status = h.cmd(cmd="status")["status"]
    assert {p["name"]: p["state"] for p in status["processes"]} == {
        "worker1": "running", "worker2": "running", "mule1": "running", "mule2": "running"}


# -- the control socket, for real (no fork: the test is the client) ------------------------


class Client:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.sock.setblocking(False)
        self.decoder = Decoder()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self) -> list:
        out = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return out
            if not data:
                return out
            out.extend(self.decoder.feed(data))

    def close(self) -> None:
        self.sock.close()


def test_control_socket_request_and_reply(make) -> None:
    h = make()
    c = Client(h.sock_dir / "m.sock")
    try:
        c.send(encode({"cmd": "raise", "signum": 999}) + encode({"cmd": "ping"}))
        h.step(3)
        replies = c.replies()
        assert replies[0]["ok"] is False and "999" in replies[0]["error"]
        assert replies[1]["ok"] is True and replies[1]["state"] == "running"
    finally:
        c.close()


def test_control_socket_bad_length_is_answered_and_closed(make) -> None:
    h = make()
    c = Client(h.sock_dir / "m.sock")
    try:
        c.send(LENGTH.pack(10**9))
        h.step(3)
        replies = c.replies()
        assert replies and replies[0]["ok"] is False
        assert "bad request" in replies[0]["error"] and "over the" in replies[0]["error"]
        assert not h.master.control.conns
    finally:
        c.close()


def test_control_raise_wait_reports_outcomes(make) -> None:
    h = make()
    h.ready()
    c = Client(h.sock_dir / "m.sock")
    try:
        c.send(encode({"cmd": "raise", "signum": 18, "wait": True}))
        h.step(3)
        assert c.replies() == []
        runs1, runs2 = h.child("worker1").runs(), h.child("worker2").runs()
        h.child("worker1").done(18, runs1[0][1])
        h.child("worker2").done_json(18, runs2[0][1], DONE_ERROR, "KeyError: 'x'")
        h.step(2)
        (reply,) = c.replies()
        assert reply["ok"] is False
        assert sorted((o["process"], o["status"]) for o in reply["outcomes"]) == [
            ("worker1", "handled"), ("worker2", "failed")]
    finally:
        c.close()


def test_control_socket_non_object_request(make) -> None:
    h = make()
    c = Client(h.sock_dir / "m.sock")
    try:
        c.send(LENGTH.pack(3) + b"[1]" + encode({"cmd": "ping"}))
        h.step(3)
        replies = c.replies()
        assert replies[0] == {"ok": False, "error": "bad request: a request is a JSON object"}
        assert replies[1]["ok"] is True           # the connection goes on
    finally:
        c.close()


def test_control_client_stalled_half_way_is_dropped_after_the_idle_timeout(make) -> None:
    h = make()
    c = Client(h.sock_dir / "m.sock")
    try:
        c.send(LENGTH.pack(100) + b"{")
        h.step(3)
        assert len(h.master.control.conns) == 1
        h.clock.advance(10)
        h.step()
        assert len(h.master.control.conns) == 1
        h.clock.advance(0.1)
        h.step()
        assert h.master.control.conns == {}
        assert c.sock.recv(10) == b""             # closed by the master
    finally:
        c.close()


def test_control_raise_wait_with_nothing_accepted_answers_at_once(make) -> None:
    h = make("[workers]\ncount = 1\n[signals.22]\nhandler = \"m:f\"\n"
             "target = \"active-workers\"\n")
    h.exit("worker1")                                # in backoff: nothing active
    c = Client(h.sock_dir / "m.sock")
    try:
        c.send(encode({"cmd": "raise", "signum": 22, "wait": True}))
        h.step(3)
        (reply,) = c.replies()
        assert reply["ok"] is False and reply["outcomes"] == []
        assert reply["result"]["refused"] == [{"recipient": "active-workers",
                                               "reason": "no running process"}]
    finally:
        c.close()


# -- children that break the protocol or go away -------------------------------------------


def test_garbage_from_a_child_kills_it(make) -> None:
    h = make()
    h.ready()
    pid = h.proc("worker1").pid
    h.child("worker1").send(pack(99, 0, 0, 0))
    h.step()
    assert (pid, signal.SIGKILL) in h.fake.kills
    assert h.master.errors == 1
    assert h.proc("worker1").sock is None and not h.proc("worker1").ready
    assert "broke the protocol" in h.log()


def test_done_for_a_raise_never_sent_kills_the_child(make) -> None:
    h = make()
    h.ready()
    h.raise_(19)
    pid = h.proc("worker1").pid
    h.child("worker1").done(19, 12345)
    h.step()
    assert h.fake.kills_of(pid) == [signal.SIGKILL]


def test_unknown_json_message_kills_the_child(make) -> None:
    h = make()
    h.ready()
    pid = h.proc("mule1").pid
    h.child("mule1").json({"t": "nonsense"})
    h.step()
    assert h.fake.kills_of(pid) == [signal.SIGKILL]


def test_child_closing_its_channel(make) -> None:
    h = make()
    h.ready()
    h.child("worker2").close()
    h.step()
    p = h.proc("worker2")
    assert p.sock is None and not p.ready
    r = h.raise_(17)["result"]
    assert r["recipients"] == ["worker1"]


# -- exits, backoff, failure ---------------------------------------------------------------


def test_exit_leads_to_backoff_then_respawn(make) -> None:
    h = make()
    h.ready()
    t0 = h.clock.mono
    old = h.exit("worker2", code=3)
    p = h.proc("worker2")
    assert p.state is ProcState.BACKOFF
    assert p.pid == 0 and old not in h.master.by_pid
    assert p.respawn_at == pytest.approx(t0 + 0.5)
    assert p.last_exit == "exit code 3"
    assert h.fake.children[old].closed_by_master()
    assert f"worker2 [{old}] exited (exit code 3); respawning in 0.5 s" in h.log()
    h.clock.advance(0.4)
    h.step()
    assert p.state is ProcState.BACKOFF
    h.clock.advance(0.1)
    h.step()
    assert p.state is ProcState.STARTING
    assert p.pid not in (0, old) and p.pid == h.fake.spawned[-1]
    assert p.respawns == 1
    h.ready("worker2")
    assert p.state is ProcState.RUNNING


def test_backoff_doubles_and_caps_within_the_window(make) -> None:
    h = make(supervisor=POLICY.replace("failure_limit = 3", "failure_limit = 10"))
    delays = []
    for _ in range(6):
        h.ready("worker2")
        t = h.clock.mono
        h.exit("worker2")
        p = h.proc("worker2")
        delays.append(round(p.respawn_at - t, 6))
        h.clock.mono = p.respawn_at
        h.step()
        assert p.state is ProcState.STARTING
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_resets_once_deaths_leave_the_window(make) -> None:
    h = make()
    h.exit("worker2")
    h.clock.advance(1)
    h.step()
    h.exit("worker2")
    p = h.proc("worker2")
    assert p.respawn_at - h.clock.mono == pytest.approx(1.0)
    h.clock.advance(30)      # both deaths leave the 10 s window
    h.step()
    h.exit("worker2")
    assert p.respawn_at - h.clock.mono == pytest.approx(0.5)
    assert p.state is ProcState.BACKOFF


def test_failure_limit_marks_failed_and_retries_after_cooldown(make) -> None:
    h = make()
    p = h.proc("worker2")
    for i in range(2):
        h.exit("worker2")
        assert p.state is ProcState.BACKOFF
        h.clock.mono = p.respawn_at
        h.step()
        assert p.state is ProcState.STARTING, i
    t = h.clock.mono
    h.exit("worker2")
    assert p.state is ProcState.FAILED
    assert p.respawn_at == pytest.approx(t + 60.0)
    assert "3 deaths in 10 s: worker2 marked failed, retrying in 60 s" in h.log()
    assert h.cmd(cmd="status")["status"]["groups_failed"] == ["worker"]
    h.clock.advance(59.9)
    h.step()
    assert p.state is ProcState.FAILED
    h.clock.advance(0.1)
    h.step()
    assert p.state is ProcState.STARTING
    h.ready("worker2")
    assert p.state is ProcState.RUNNING


def test_fork_failure_is_a_death(make) -> None:
    h = make("[workers]\ncount = 1\n", fail_spawns=1)
    p = h.proc("worker1")
    assert p.state is ProcState.BACKOFF and p.pid == 0
    assert "cannot start worker1" in h.log()
    h.clock.advance(0.5)
    h.step()
    assert p.state is ProcState.STARTING


def test_death_fails_the_running_signal_and_keeps_the_rest_for_the_successor(make) -> None:
    h = make(supervisor=POLICY + "window = 1\n")
    h.ready()
    ids = [h.raise_(19)["result"]["id"] for _ in range(3)]
    assert h.child("worker1").runs() == [(19, ids[0])]
    h.exit("worker1", sig=signal.SIGSEGV)
    assert h.proc("worker1").last_exit == "killed by signal SIGSEGV"
    assert h.counters(19)["failed"] == 1
    assert [r.id for r in h.proc("worker1").queue] == ids[1:]
    h.clock.advance(0.5)
    h.step()
    h.ready("worker1")
    w1 = h.child("worker1")
    assert w1.runs() == [(19, ids[1])]
    w1.done(19, ids[1])
    h.step()
    assert w1.runs() == [(19, ids[2])]


def test_death_returns_pool_signals_to_another_worker(make) -> None:
    h = make(supervisor=POLICY + "window = 2\n")
    h.ready()
    ids = [h.raise_(17)["result"]["id"] for _ in range(4)]   # w1: 1, 3; w2: 2, 4
    h.child("worker2").runs()
    h.child("worker1").runs()
    h.child("worker2").done(17, ids[1])
    h.step()                                                 # w2: 4
    h.exit("worker1")
    assert h.counters(17)["failed"] == 1                     # 1 was running
    assert h.child("worker2").runs() == [(17, ids[2])]       # 3 moved to worker2


def test_done_written_before_the_death_still_counts(make) -> None:
    h = make()
    h.ready()
    rid = h.raise_(19)["result"]["id"]
    h.child("worker1").done(19, rid)
    h.exit("worker1")
    assert h.counters(19)["handled"] == 1
    assert h.counters(19)["failed"] == 0


def test_unknown_pid_from_reap_is_ignored(make) -> None:
    h = make()
    h.fake.exit(12, 0)
    wake(h.master)
    h.step()
    assert all(p.state is ProcState.STARTING for p in h.master.procs)


# -- harakiri ------------------------------------------------------------------------------


def test_harakiri_kills_after_the_limit(make) -> None:
    h = make(supervisor=POLICY + "harakiri = 5\n")
    h.ready()
    rid = h.raise_(19)["result"]["id"]
    pid = h.proc("worker1").pid
    h.clock.advance(5.0)
    h.step()
    assert h.fake.kills == []                  # exactly at the limit: not yet
    h.clock.advance(0.1)
    h.step()
    assert h.fake.kills == [(pid, signal.SIGKILL)]
    assert h.counters(19)["failed"] == 1
    assert h.proc("worker1").harakiri_hit
    assert f"HARAKIRI: worker1 [{pid}] ran signal 19" in h.log()
    h.clock.advance(1)
    h.step()
    assert h.fake.kills == [(pid, signal.SIGKILL)]   # once
    wake(h.master)                                   # the SIGKILL's exit
    h.step()
    p = h.proc("worker1")
    assert p.state is ProcState.BACKOFF
    assert h.counters(19)["failed"] == 1             # not counted twice
    h.clock.advance(0.5)
    h.step()
    assert p.state is ProcState.STARTING and not p.harakiri_hit
    assert rid


def test_harakiri_keeps_the_signals_not_yet_started(make) -> None:
    h = make(supervisor=POLICY + "harakiri = 5\nwindow = 3\n")
    h.ready()
    ids = [h.raise_(19)["result"]["id"] for _ in range(3)]
    h.clock.advance(6)
    h.step()
    wake(h.master)
    h.step()
    assert h.counters(19)["failed"] == 1
    assert [r.id for r in h.proc("worker1").queue] == ids[1:]


def test_harakiri_clock_restarts_at_each_done(make) -> None:
    h = make(supervisor=POLICY + "harakiri = 5\nwindow = 3\n")
    h.ready()
    ids = [h.raise_(19)["result"]["id"] for _ in range(2)]
    w1 = h.child("worker1")
    h.clock.advance(4)
    w1.done(19, ids[0])
    h.step()
    h.clock.advance(4)                 # 8 s after the send, 4 s after the second one started
    h.step()
    assert h.fake.kills == []
    h.clock.advance(1.5)
    h.step()
    assert h.fake.kills_of(h.proc("worker1").pid) == [signal.SIGKILL]


def test_no_harakiri_when_disabled(make) -> None:
    h = make()
    h.ready()
    h.raise_(19)
    h.clock.advance(10_000)
    h.step()
    assert h.fake.kills == []


# -- stopping ------------------------------------------------------------------------------


def test_stop_terms_everyone_then_stopped_when_all_exit(make) -> None:
    h = make()
    h.ready()
    h.exit("mule1")                                  # in backoff when the stop comes
    pids = {p.name: p.pid for p in h.master.procs if p.pid}
    h.master.request_stop("test")
    assert h.master.state == "stopping"
    assert sorted(h.fake.kills) == sorted((pid, signal.SIGTERM) for pid in pids.values())
    assert h.proc("mule1").state is ProcState.STOPPED
    assert all(h.proc(n).state is ProcState.STOPPING for n in pids)
    reply = h.raise_(17)
    assert reply["ok"] is False and reply["error"] == "the master is stopping"
    h.clock.advance(1)                               # backoff due: no respawn while stopping
    for pid in list(pids.values())[:-1]:
        h.fake.exit(pid, 0)
    wake(h.master)
    h.step()
    assert h.master.state == "stopping"
    h.fake.exit(list(pids.values())[-1], 0)
    wake(h.master)
    h.step()
    assert h.master.state == "stopped"
    assert all(p.state is ProcState.STOPPED for p in h.master.procs)
    assert all(s == signal.SIGTERM for _, s in h.fake.kills)
    assert len(h.fake.spawned) == 4                  # mule1 was not respawned


def test_stop_reports_queued_signals_as_not_run(make) -> None:
    h = make()
    h.ready("worker1")                               # worker2 is not ready: its copy waits
    res = h.master.router.raise_signal(18, "test")   # workers
    assert sorted(res.recipients) == ["worker1", "worker2"]
    outcomes: list[list[dict]] = []
    res.raise_.watch = Watch(2, on_complete=lambda w: outcomes.append(w.results))
    h.step()
    (sig, rid), = h.child("worker1").runs()
    h.master.request_stop("test")
    assert h.master.router.queued_total() == 0
    assert h.counters(18)["dropped"] == 1
    h.child("worker1").done(sig, rid)                # the running one still finishes
    h.step()
    assert outcomes == [[
        {"process": "worker2", "status": "failed", "detail": "not run: the master stopped"},
        {"process": "worker1", "status": "handled", "detail": None},
    ]]


def test_stop_kills_after_shutdown_timeout(make) -> None:
    h = make(sigkill_exits=False)
    h.ready()
    h.master.request_stop("test")
    alive = [p.pid for p in h.master.procs]
    h.clock.advance(4.9)
    h.step()
    assert all(s == signal.SIGTERM for _, s in h.fake.kills)
    h.clock.advance(0.1)
    h.step()
    kills = [pid for pid, s in h.fake.kills if s == signal.SIGKILL]
    assert sorted(kills) == sorted(alive)
    assert "shutdown_timeout (5 s) passed" in h.log()
    for pid in alive:
        h.fake.exit(pid, sig=signal.SIGKILL)
    wake(h.master)
    h.step()
    assert h.master.state == "stopped"


def test_stop_gives_up_after_sigkill_does_not_work(make) -> None:
    h = make(sigkill_exits=False)
    h.master.request_stop("test")
    h.clock.advance(5)
    h.step()
    assert h.master.state == "stopping"
    h.clock.advance(3)
    h.step()
    assert h.master.state == "stopped"
    assert "did not exit after SIGKILL" in h.log()


def test_sigterm_and_a_second_interrupt(make) -> None:
    h = make(sigkill_exits=False)
    wake(h.master, signal.SIGTERM)
    h.step()
    assert h.master.state == "stopping"
    assert "SIGTERM received" in h.log()
    assert {s for _, s in h.fake.kills} == {signal.SIGTERM}
    wake(h.master, signal.SIGINT)
    h.step()
    assert "second interrupt" in h.log()
    assert sorted(pid for pid, s in h.fake.kills if s == signal.SIGKILL) == h.fake.spawned


def test_sighup_is_ignored_with_a_message(make) -> None:
    h = make()
    wake(h.master, signal.SIGHUP)
    h.step()
    assert h.master.state == "running"
    assert "SIGHUP" in h.log()


def test_stop_command(make) -> None:
    h = make()
    reply = h.cmd(cmd="stop")
    assert reply["ok"] is True
    assert h.master.state == "stopping"
    for pid in h.fake.spawned:
        h.fake.exit(pid)
    wake(h.master)
    h.step()
    assert h.master.state == "stopped"


def test_child_raise_while_stopping_is_refused(make) -> None:
    h = make()
    h.ready()
    h.master.request_stop("test")
    w1 = h.child("worker1")
    w1.raise_(17, seq=4)
    h.step()
    (msg,) = w1.jsons()
    assert msg["t"] == "raised" and msg["seq"] == 4
    assert msg["result"]["accepted"] is False
    assert msg["result"]["refused"][0]["reason"] == "the master is stopping"


def test_close_kills_what_still_runs(make) -> None:
    h = make()
    pids = list(h.fake.spawned)
    h.master.close()
    assert sorted(pid for pid, s in h.fake.kills if s == signal.SIGKILL) == pids
    assert h.master.by_pid == {}
    assert not (h.sock_dir / "m.sock").exists()


# -- the loop's timeout --------------------------------------------------------------------


def test_timeout_is_the_next_due_thing(make) -> None:
    h = make(supervisor=POLICY + "harakiri = 5\n")
    h.ready()
    assert h.master._timeout(h.clock.mono) == 1.0          # nothing due: at most 1 s
    h.exit("worker2")
    assert h.master._timeout(h.clock.mono) == pytest.approx(0.5)   # the respawn
    h.clock.advance(0.5)
    h.step()
    h.raise_(19)                                           # harakiri due in 5 s
    h.clock.advance(2)
    h.step()
    assert h.master._timeout(h.clock.mono) == pytest.approx(1.0)
    h.clock.advance(2.5)
    h.step()
    assert h.master._timeout(h.clock.mono) == pytest.approx(0.5)
    h.master.router.dirty.add(h.proc("worker1"))           # frames to write: no waiting
    assert h.master._timeout(h.clock.mono) == 0.0


def test_timeout_while_stopping_is_the_kill_deadline(make) -> None:
    h = make()
    h.master.request_stop("test")
    h.clock.advance(4.75)
    h.step()
    assert h.master._timeout(h.clock.mono) == pytest.approx(0.25)


def test_frames_written_in_one_step_are_all_read(make) -> None:
    h = make(supervisor=POLICY + "window = 64\n")
    h.ready()
    w1 = h.child("worker1")
    ids = [h.master.commands.execute({"cmd": "raise", "signum": 19}, "t")["result"]["id"]
           for _ in range(50)]
    h.step()
    assert [rid for _, rid in w1.runs()] == ids
    w1.send(b"".join(pack(DONE, 19, DONE_OK, rid) for rid in ids))
    h.step()
    assert h.counters(19)["handled"] == 50


def test_ready_frame_and_json_in_one_read(make) -> None:
    h = make()
    w1 = h.child("worker1")
    w1.send(pack(READY, 0, 0, w1.pid) + pack_json({"t": "wait", "signum": 70}))
    h.step()
    assert h.proc("worker1").ready and h.proc("worker1").waiting == 70
    r = h.raise_(70)["result"]
    assert r["recipients"] == ["worker1"]
    assert [f[0] for f in w1.read()] == [RUN]


def test_ready_after_the_stop_request_gets_no_work(make) -> None:
    """A child told to stop before it said READY stays STOPPING and is sent nothing."""
    h = make()
    h.ready("worker2")
    h.raise_(19)                         # for worker1, which is not ready: queued
    h.master.request_stop("test")
    h.child("worker1").ready()
    h.step()
    p = h.proc("worker1")
    assert p.state is ProcState.STOPPING
    assert h.child("worker1").runs() == []
    assert not p.queue and h.counters(19)["dropped"] == 1   # given up at the stop, and said so


# -- the cheaper ---------------------------------------------------------------------------

CHEAPER = """
[workers]
count = 3
cheaper = 1
cheaper_idle = 10.0

[signals.17]
handler = "handlers:on_change"
target = "worker"

[signals.18]
handler = "handlers:everyone"
target = "workers"

[signals.21]
handler = "handlers:third"
target = "worker3"
"""


def test_cheaper_does_not_wake_workers_while_the_running_ones_start(make) -> None:
    h = make(CHEAPER)
    h.step(3)
    assert [p.state for p in h.master.procs] == [ProcState.STARTING, ProcState.CHEAPED,
                                                 ProcState.CHEAPED]
    assert len(h.fake.spawned) == 1


def test_cheaper_wakes_a_worker_on_backlog_and_stops_it_when_idle(make) -> None:
    h = make(CHEAPER.replace("count = 3", "count = 2").replace('target = "worker3"',
                                                                 'target = "worker2"'))
    h.ready("worker1")
    w1, w2 = h.master.procs
    for _ in range(9):                   # window 8: one waits in the pool
        h.raise_(17)
    h.step()
    assert w2.state is ProcState.STARTING
    assert "worker2: starting again" in h.log()
    h.ready("worker2")
    assert len(h.child("worker2").runs()) == 1
    assert h.master.router.backlog("workers") == 0
    for name in ("worker1", "worker2"):
        child = h.child(name)
        for r in list(h.proc(name).inflight):
            child.done(r.signum, r.id)
    h.step()
    assert not w1.inflight and not w2.inflight
    h.clock.advance(10)
    h.step()
    assert w2.state is ProcState.RUNNING           # idle for exactly cheaper_idle: kept
    h.clock.advance(0.5)
    h.step()
    assert w2.state is ProcState.STOPPING and not w2.ready
    assert h.fake.kills_of(w2.pid) == [signal.SIGTERM]
    assert w1.state is ProcState.RUNNING           # the minimum stays
    h.exit("worker2", code=0)
    assert w2.state is ProcState.CHEAPED
    h.step(3)
    assert [p.state for p in h.master.procs] == [ProcState.RUNNING, ProcState.CHEAPED]


def test_cheaper_wakes_one_worker_for_a_small_backlog(make) -> None:
    h = make(CHEAPER)
    h.ready("worker1")
    w1, w2, w3 = h.master.procs
    for _ in range(9):                   # window 8: one waits in the pool
        h.raise_(17)
    h.step(3)
    assert w2.state is ProcState.STARTING
    assert w3.state is ProcState.CHEAPED


def test_cheaper_wakes_a_worker_when_every_running_one_is_stuck(make) -> None:
    h = make(CHEAPER)
    h.ready("worker1")
    w2 = h.master.procs[1]
    h.raise_(17)
    h.clock.advance(1.0)
    h.step()
    assert w2.state is ProcState.CHEAPED
    h.clock.advance(0.1)
    h.step()
    assert w2.state is ProcState.STARTING


def test_cheaper_wakes_a_slot_that_has_its_own_signal_waiting(make) -> None:
    h = make(CHEAPER)
    h.ready("worker1")
    w3 = h.master.procs[2]
    assert h.raise_(21)["result"]["recipients"] == ["worker3"]
    h.step()
    assert w3.state is ProcState.STARTING
    h.ready("worker3")
    assert [s for s, _ in h.child("worker3").runs()] == [21]


def test_broadcast_waits_in_a_cheaped_slot_without_waking_it(make) -> None:
    h = make(CHEAPER)
    h.ready("worker1")
    r = h.raise_(18)["result"]
    assert r["recipients"] == ["worker1", "worker2", "worker3"]
    h.step(2)
    assert h.master.procs[1].state is ProcState.CHEAPED
    assert [x.id for x in h.master.procs[1].queue] == [r["id"]]
