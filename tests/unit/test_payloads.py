"""Signal payloads on the fake-OS loop and in the frames: a raise's payload travels in a
JSON RUN frame, is never coalesced, and one that cannot travel is refused."""

from __future__ import annotations

import pytest
from trees import POLICY

from sigsup.child.loop import takes_payload
from sigsup.protocol.frames import (
    MAX_PAYLOAD,
    RUN,
    FrameReader,
    pack,
    pack_run,
    payload_problem,
    run_payload,
)

from .fakes import LoopHarness, harness_factory

TREE = """
[workers]
count = 1

[signals.17]
handler = "handlers:x"
target = "worker"
on_full = "coalesce"
"""


@pytest.fixture
def make():
    with harness_factory(LoopHarness) as new:
        def factory(body: str = TREE, supervisor: str = POLICY, **kw) -> LoopHarness:
            return new(body, supervisor, **kw)
        yield factory


def test_frames_carry_a_payload_as_a_run_frame() -> None:
    r = FrameReader()
    data = pack_run(17, 5, None) + pack_run(17, 6, {"a": [1]}) + pack(RUN, 18, 0, 7)
    frames = r.feed(data[:20]) + r.feed(data[20:])
    assert [(f[0], f[1], f[3], run_payload(f)) for f in frames] == [
        (RUN, 17, 5, None), (RUN, 17, 6, {"a": [1]}), (RUN, 18, 7, None)]
    assert payload_problem({"ok": 1}) is None
    assert "not JSON" in payload_problem({1, 2})
    assert f"over the {MAX_PAYLOAD} limit" in payload_problem("x" * MAX_PAYLOAD)


def test_a_payload_goes_to_the_handler_and_is_never_coalesced(make) -> None:
    h = make(supervisor=POLICY + "window = 1\nqueue_size = 1\n")
    h.ready()
    w = h.child("worker1")
    a = h.master.raise_signal(17, "test", payload="a")
    h.step()
    w.read()
    got = [f for f in w.received if f[0] == RUN]
    assert [(f[3], run_payload(f)) for f in got] == [(a.id, "a")]
    b = h.master.raise_signal(17, "test", payload="b")      # queued: the window is 1
    assert b.recipients == ["workers"]          # the pool's queue
    c = h.master.raise_signal(17, "test", payload="c")      # full: refused, not merged
    assert c.refused == [("workers", "queue full (1 pending)")] and not c.coalesced
    d = h.master.raise_signal(17, "test")                   # no payload: coalesced as before
    assert d.coalesced == ["workers"]
    c17 = h.counters(17)
    assert (c17["raised"], c17["dropped"], c17["coalesced"]) == (4, 1, 1)
    w.done(17, a.id)
    h.step()
    w.read()
    got = [f for f in w.received if f[0] == RUN]
    assert [(f[3], run_payload(f)) for f in got][-1] == (b.id, "b")


def test_a_payload_that_cannot_travel_is_refused_by_the_master(make) -> None:
    h = make()
    h.ready()
    res = h.master.raise_signal(17, "test", payload="x" * (MAX_PAYLOAD + 1))
    assert res.refused and res.refused[0][0] == "master"
    assert "over the" in res.refused[0][1]
    reply = h.cmd(cmd="raise", signum=17, payload={"k": "v"})
    assert reply["ok"] and reply["result"]["recipients"] == ["worker1"]


def test_which_handlers_take_the_payload_as_an_argument() -> None:
    def one(signum): ...
    def two(signum, payload): ...
    def defaulted(signum, extra=None): ...
    def star(*args): ...
    assert (takes_payload(one), takes_payload(two)) == (False, True)
    assert (takes_payload(defaulted), takes_payload(star), takes_payload(print)) == (
        False, False, False)
