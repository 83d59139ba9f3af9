"""The master's side of status: the document, raises/s, refusal warnings and the events
stream, driven one loop step at a time with the fake OS seam (no process is forked)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from sigsup.protocol.control import Decoder, encode
from sigsup.protocol.frames import DONE_ERROR
from sigsup.status import events as events_mod
from sigsup.status.model import build_status
from sigsup.status.monitor import monitor_of
from sigsup.status.schema import check

from .fakes import LoopHarness, harness_factory

TREE = """
[workers]
count = 3

[mules]
count = 1

[signals.17]
handler = "handlers:on_change"
target = "worker"

[signals.18]
handler = "handlers:slow"
target = "worker1"

[signals.19]
handler = "handlers:report"
target = "mule1"
"""
POLICY = """
respawn_delay = 0.5
failure_limit = 2
failure_window = 30.0
failure_cooldown = 60.0
queue_size = 2
window = 1
"""


class Tree(LoopHarness):
    """The loop harness, with control clients on the master's socket."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.clients: list[Client] = []

    def client(self) -> Client:
        c = Client(self)
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        super().close()


class Client:
    """A control client on the master's real socket, read without blocking."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(tree.master.sup.socket))
        self.sock.setblocking(False)
        self.decoder = Decoder(limit=64 << 20)
        tree.step()

    def send(self, msg: dict[str, Any]) -> None:
        self.sock.sendall(encode(msg))
        self.tree.step(2)

    def read(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return out
            if not data:
                out.append({"eof": True})
                return out
            out.extend(self.decoder.feed(data))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tree():
    with harness_factory(Tree) as new:
        def factory(body: str = TREE, supervisor: str = POLICY) -> Tree:
            return new(body, supervisor)

        yield factory


def test_the_document_follows_the_schema_in_every_state(tree) -> None:
    t = tree()
    t.ready()
    t.raise_(18)                              # worker1 busy with 18
    t.raise_(18)                              # the next one waits in worker1's queue
    t.child("mule1").json({"t": "wait", "signum": -1})
    t.step()
    t.exit("worker3", 3)                      # worker3 dies: backoff
    t.fake.clock.advance(2.5)
    doc = build_status(t.master)
    assert check(doc, strict=True) == []
    procs = {p["name"]: p for p in doc["processes"]}
    assert procs["worker1"]["activity"] == "busy"
    assert procs["worker1"]["current"]["signum"] == 18
    assert procs["worker1"]["current"]["for"] == pytest.approx(2.5)
    assert procs["worker1"]["queued"] == 1
    assert procs["mule1"]["activity"] == "waiting" and procs["mule1"]["waiting_for"] == -1
    assert procs["worker3"]["state"] == "backoff"
    assert procs["worker3"]["last_exit"] == "exit code 3"
    assert procs["worker3"]["pid"] is None and procs["worker3"]["rss"] is None
    sig18 = next(s for s in doc["signals"] if s["num"] == 18)
    assert (sig18["raised"], sig18["delivered"], sig18["queued"]) == (2, 1, 1)
    assert doc["time"] == t.fake.clock.wall
    # the master's own RSS and CPU are real (its pid is this process)
    assert doc["master"]["rss"] > 0 and doc["master"]["cpu_time"] >= 0


def test_a_failed_group_is_listed(tree) -> None:
    t = tree()
    t.ready()
    for _ in range(2):
        t.exit("mule1", 1)
        t.advance(1.0)
    doc = build_status(t.master)
    assert doc["groups_failed"] == ["mule"]
    assert next(p for p in doc["processes"] if p["name"] == "mule1")["respawn_in"] > 50
    assert check(doc, strict=True) == []


def test_raises_per_second_from_samples_a_second_apart(tree) -> None:
    t = tree()
    t.ready()
    mon = monitor_of(t.master)
    assert mon is not None
    for _ in range(4):
        for _ in range(10):
            t.master.router.raise_signal(17, "test")
        t.advance(1.0)
    assert build_status(t.master)["master"]["raises_per_s"] == pytest.approx(10.0, rel=0.01)
    t.advance(1.0)
    t.advance(1.0)
    assert build_status(t.master)["master"]["raises_per_s"] < 10.0


def test_refusals_are_warned_once_a_second_per_signal_with_a_count(tree) -> None:
    t = tree()
    t.ready()
    for _ in range(50):                 # window 1 + queue 2: the rest is refused
        t.master.router.raise_signal(18, "test")
    t.step()
    t.advance(1.0)
    warn = [ln for ln in t.out.getvalue().splitlines() if "refused" in ln]
    assert len(warn) == 1, warn
    assert "signal 18: 47 raises refused in the last 1 s" in warn[0]
    assert "queue full: 2 pending for worker1" in warn[0]
    for _ in range(5):
        t.master.router.raise_signal(18, "test")
    t.advance(0.5)
    assert len([ln for ln in t.out.getvalue().splitlines() if "refused" in ln]) == 1
    t.advance(0.6)
    warn = [ln for ln in t.out.getvalue().splitlines() if "refused" in ln]
    assert len(warn) == 2 and "5 raises refused" in warn[1] and "52 in all" in warn[1]


def test_events_show_a_raise_its_delivery_and_its_handling_in_order(tree) -> None:
    t = tree()
    t.ready()
    c = t.client()
    c.send({"cmd": "events"})
    first = c.read()
    assert first[0] == {"ok": True, "streaming": "events",
                        "filters": {"signal": None, "process": None}}
    assert t.master.router.on_event is not None and t.master.listeners
    rid = t.raise_(17)["result"]["id"]
    t.child("worker1").done(17, rid)
    t.step()
    evs = c.read()
    assert [(e["event"], e.get("id")) for e in evs] == [("raise", rid), ("deliver", rid),
                                                        ("handled", rid)]
    assert evs[1]["process"] == "worker1" == evs[2]["process"]
    assert evs[0]["origin"] == "test" and evs[0]["recipients"] == ["worker1"]


def test_a_child_raise_is_an_event_too(tree) -> None:
    t = tree()
    t.ready()
    c = t.client()
    c.send({"cmd": "events", "signal": 19})
    c.read()
    t.child("worker2").raise_(19, seq=1)
    t.step(2)
    evs = c.read()
    assert [e["event"] for e in evs] == ["raise", "deliver"]
    assert evs[0]["origin"] == "worker2" and evs[1]["process"] == "mule1"


def test_events_filters(tree) -> None:
    t = tree()
    t.ready()
    by_signal, by_process = t.client(), t.client()
    by_signal.send({"cmd": "events", "signal": 19})
    by_process.send({"cmd": "events", "process": "worker2"})
    by_signal.read()
    by_process.read()
    t.raise_(17)                                  # worker1 gets it
    r19 = t.raise_(19)["result"]["id"]
    t.child("mule1").done(19, r19, DONE_ERROR)
    t.step()
    t.exit("worker2", 1)
    got_signal = [(e["event"], e.get("signum")) for e in by_signal.read()]
    assert got_signal == [("raise", 19), ("deliver", 19), ("failed", 19)]
    got_process = [(e["event"], e.get("process")) for e in by_process.read()]
    assert got_process == [("exit", "worker2")]


def test_a_bad_filter_is_refused(tree) -> None:
    t = tree()
    c = t.client()
    c.send({"cmd": "events", "signal": 300})
    reply = c.read()[0]
    assert reply["ok"] is False and "'signal'" in reply["error"]
    assert not t.master.listeners


def test_a_subscriber_that_falls_behind_is_dropped_not_waited_for(tree, monkeypatch) -> None:
    monkeypatch.setattr(events_mod, "MAX_BEHIND", 600)
    t = tree()
    t.ready()
    slow, fine = t.client(), t.client()
    slow.send({"cmd": "events"})
    fine.send({"cmd": "events", "signal": 19})
    slow.read()
    fine.read()
    # raises within one loop turn: nothing is written in between, the buffer grows
    for _ in range(20):
        t.master.commands.execute({"cmd": "raise", "signum": 17}, "test")
    conn = next(c for c in t.master.control.conns.values() if c.streaming is None and c.closing)
    assert b'"event":"dropped"' in bytes(conn.out)
    t.step(2)
    got = slow.read()
    assert got[-2]["event"] == "dropped" and got[-2]["ok"] is False
    assert got[-1] == {"eof": True}
    assert "fell" in got[-2]["error"]
    assert "events: subscriber" in t.out.getvalue()
    # the other subscriber is still served
    assert len(monitor_of(t.master).events.subscribers) == 1
    t.raise_(19)
    assert [e["event"] for e in fine.read()] == ["raise", "deliver"]


def test_nothing_listens_once_the_last_subscriber_goes(tree) -> None:
    t = tree()
    t.ready()
    c = t.client()
    c.send({"cmd": "events"})
    assert t.master.listeners and t.master.router.on_event is not None
    c.close()
    t.step(2)
    t.advance(1.0)
    assert t.master.listeners == [] and t.master.router.on_event is None
    assert monitor_of(t.master).events.subscribers == []


def test_status_reply_carries_the_document(tree) -> None:
    t = tree()
    t.ready()
    reply = t.master.commands.execute({"cmd": "status"}, "test")
    assert reply["ok"] is True and check(reply["status"]) == []
    assert reply["status"]["version"] == 1


def test_status_and_events_are_the_status_features_commands(tree) -> None:
    t = tree()
    mon = monitor_of(t.master)
    assert mon is not None and t.master.extension("monitor") is mon
    assert set(mon.commands()) == {"status"} and set(mon.client_commands()) == {"events"}
    assert "status" not in t.master.commands.client_table and "events" not in t.master.commands.table
