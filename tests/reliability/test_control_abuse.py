"""The control socket under attack: fuzzed requests for every command, hostile byte streams,
slow-loris clients, 200 clients at once, clients that never read.

Whatever a client does, the master answers it or closes its connection, never dies, keeps
answering a normal ``status`` within a deadline while the abuse goes on, and its memory
(VmRSS) stays bounded and comes back down when the abusers leave.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time

import pytest
from harness import connect, wait_for
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sigsup.protocol.control import MAX_MESSAGE, Decoder, encode

from .helpers import rss_kb, soaking, sup

SOAK = soaking()

TREE = """
[workers]
count = 2

[mules]
count = 2

[farms]
f = [2]

[spoolers.default]
dir = "spool"
handler = "spool_jobs:run"

[signals.7]
handler = "e2eapp:record"
target = "worker"
"""


@pytest.fixture
def m(master_factory):
    return master_factory(TREE, sup=sup())


def exchange(m, data: bytes, *, timeout: float = 5.0, half_close: bool = True,
             ) -> tuple[list[dict], bool]:
    """Send ``data`` (then shut down writing); read until the master closes or ``timeout``.
    Returns (replies, closed)."""
    with connect(m, timeout) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass     # it closed on us mid-send: what it answered is still readable
        dec, replies = Decoder(limit=256 * 1024 * 1024), []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return replies, False
            s.settimeout(left)
            try:
                chunk = s.recv(1 << 20)
            except TimeoutError:
                return replies, False
            except ConnectionResetError:
                return replies, True
            if not chunk:
                return replies, True
            replies.extend(dec.feed(chunk))


def answers_status(m, deadline: float) -> float:
    """A fresh client's ``status`` is answered within ``deadline`` seconds; returns the time."""
    t0 = time.monotonic()
    st = m.status(timeout=deadline + 5)
    took = time.monotonic() - t0
    assert st["master"]["state"] == "running"
    assert took < deadline, f"status took {took:.2f} s (deadline {deadline} s)"
    return took


def unharmed(m, before: dict[str, int]) -> None:
    """The master runs, and none of the tree's children was restarted."""
    assert m.running(), "the master died:\n" + m.log()[-3000:]
    st = m.status(timeout=5)
    now = {p["name"]: p["pid"] for p in st["processes"] if p["name"] in before}
    assert now == before, (before, now)
    assert all(p["respawns"] == 0 for p in st["processes"]), st["processes"]


def raw(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


# -- a payload nested deeper than Python's recursion limit ----------------------------------

@pytest.mark.parametrize("payload", [
    b"[" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"cmd": "status", "x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
], ids=["array", "object", "inside-a-request"])
def test_deeply_nested_json_is_refused(m, payload):
    before = {p: pid for p, pid in m.child_pids().items() if p != "monitor"}
    assert len(payload) < MAX_MESSAGE
    replies, closed = exchange(m, raw(payload), half_close=False)
    assert m.running(), "nested JSON killed the master:\n" + m.log()[-2000:]
    assert len(replies) == 1 and replies[0]["ok"] is False, replies
    assert "bad request" in replies[0]["error"], replies
    assert closed
    unharmed(m, before)


# -- fuzzing every command ---------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from([10 ** 400, -(10 ** 400), 2 ** 64])
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=10)

COMMANDS = ["ping", "status", "raise", "register", "unregister", "registered", "events",
            "mule-msg", "spool-wake", "spool-begin", "tree-config", "add_timer", "add_rb_timer",
            "add_cron", "add_file_monitor", "remove_event", "list_events", "nope", ""]


def field(good: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(good, good, json_values)


requests = st.fixed_dictionaries({"cmd": st.sampled_from(COMMANDS) | json_values}, optional={
    "signum": field(st.integers(-2, 300) | st.sampled_from([7, 8, 9, 200, 10 ** 400])),
    "handler": field(st.sampled_from(["e2eapp:record", "x", "a:b", ":", "e2eapp:nope"])),
    "target": field(st.sampled_from(["worker", "mule", "mule2", "farm_f", "f", "worker7",
                                     "spooler", 0, 1, 2, 99])),
    "on_full": field(st.sampled_from(["reject", "coalesce", "merge"])),
    "wait": st.booleans(),
    "signal": field(st.integers(-2, 300)),
    "process": field(st.sampled_from(["worker1", "mule1"])),
    "kind": field(st.sampled_from(["msg", "call"])),
    "s": field(st.text(max_size=20)),
    "b": field(st.sampled_from(["aGVsbG8=", "!!notbase64", ""])),
    "fn": field(st.sampled_from(["e2eapp:record", "os:getpid"])),
    "args": json_values, "kwargs": json_values,
    "spooler": field(st.sampled_from(["default", "nope"])),
    "job": json_values, "attempt": json_values, "harakiri": json_values, "name": json_values,
    "seconds": field(st.floats(0.0, 5.0) | st.sampled_from([0.01, 1e308, 10 ** 400, -1])),
    "iterations": field(st.integers(-1, 3) | st.sampled_from([10 ** 400])),
    "schedule": field(st.sampled_from(["* * * * *", "@daily", "61 * * * *", "0 0 31 2 *"])),
    "fields": field(st.lists(st.integers(-70, 70) | st.none(), max_size=6)),
    "timezone": field(st.sampled_from(["UTC", "Nope/Zone", "UTC\x00", "A" * 300])),
    "misfire_grace": field(st.floats(-1, 100) | st.sampled_from([10 ** 400])),
    "path": field(st.sampled_from(["watched", "missing", "a\x00b", "p" * 5000, "x/" * 3000])),
    "recursive": field(st.booleans()), "wait_for_path": field(st.booleans()),
    "events": field(st.sampled_from([["created"], ["x"], "moved", []])),
    "debounce": field(st.floats(-1, 2) | st.sampled_from([10 ** 400])),
    "id": field(st.integers(-1, 50) | st.sampled_from([10 ** 400])),
    "detail": json_values,
})


@pytest.mark.timeout(1800 if SOAK else 120)
@settings(max_examples=3000 if SOAK else 300, deadline=None, derandomize=not SOAK,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(reqs=st.lists(requests, min_size=1, max_size=4))
def test_fuzz_every_command(m, reqs):
    """Arbitrary fields for every command (never ``stop``): each request gets one
    well-formed reply; none is an internal error (an exception the command let escape)."""
    assume(not any(r.get("cmd") == "stop" for r in reqs))
    # a path outside the test's directory could make the monitor watch the whole disk
    assume(not any(isinstance(r.get("path"), str) and r["path"].startswith(("/", "~"))
                   for r in reqs))
    (m.dir / "watched").touch()
    waits = any(r.get("wait") is True or r.get("cmd") == "events" for r in reqs)
    replies, closed = exchange(m, b"".join(encode(r) for r in reqs), timeout=0.5 if waits else 5)
    assert closed or waits, "the master left a finished client's connection open"
    for r in replies:
        assert isinstance(r, dict), r
        if "event" in r:
            continue            # an events stream
        assert isinstance(r.get("ok"), bool), r
        if not r["ok"]:
            assert isinstance(r.get("error"), str) and r["error"], r
        assert "internal error" not in r.get("error", ""), (reqs, r)
    assert m.running(), "the master died:\n" + m.log()[-3000:]
    assert m.request({"cmd": "ping"}, timeout=5)["ok"]


# -- abuse: many hostile clients at once, while a normal client keeps asking for status ----------

def _abuser(kind: str, m, stop: threading.Event, rng: random.Random, stats: dict) -> None:
    """One hostile client, in a loop until ``stop``; counts what happened to it."""
    def count(what: str) -> None:
        stats[what] = stats.get(what, 0) + 1

    while not stop.is_set():
        try:
            s = connect(m, 2.0)
        except OSError:
            count("connect-failed")
            stop.wait(0.05)
            continue
        try:
            with s:
                if kind == "random":
                    s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000))))
                    s.shutdown(socket.SHUT_WR)
                    _drain(s, 3.0)
                elif kind == "truncated":
                    frame = encode({"cmd": "status"})
                    s.sendall(frame[:rng.randint(1, len(frame) - 1)])
                    s.shutdown(socket.SHUT_WR)
                    _drain(s, 3.0)
                elif kind == "huge-length":
                    s.sendall(struct.pack(">I", rng.choice([0xFFFFFFFF, MAX_MESSAGE + 1,
                                                            2 ** 31])) + b"{}")
                    _drain(s, 3.0)
                elif kind == "almost-huge":      # a whole megabyte, announced and sent
                    body = b'{"cmd": "ping", "pad": "' + b"x" * (MAX_MESSAGE - 40) + b'"}'
                    s.sendall(raw(body))
                    s.shutdown(socket.SHUT_WR)
                    _drain(s, 5.0)
                elif kind == "wrong-types":
                    reqs = [rng.choice([[1, 2], "status", 42, None, {"cmd": 5},
                                        {"cmd": "raise", "signum": "x"},
                                        {"cmd": "register", "signum": [], "handler": {}},
                                        {"cmd": "add_timer", "signum": 7, "seconds": "1"}])
                            for _ in range(20)]
                    s.sendall(b"".join(raw(json.dumps(r).encode()) for r in reqs))
                    s.shutdown(socket.SHUT_WR)
                    _drain(s, 3.0)
                elif kind == "slow-loris":      # a large frame, a few bytes at a time
                    s.sendall(struct.pack(">I", 512 * 1024))
                    while not stop.is_set():
                        s.sendall(b" " * 16)
                        stop.wait(0.2)
                elif kind == "silent":
                    stop.wait(1.0)
                elif kind == "no-reader":       # asks and asks, never reads a reply
                    s.settimeout(0.5)
                    data = encode({"cmd": "status"}) * 200
                    while not stop.is_set():
                        s.sendall(data)
                count(kind)
        except (OSError, TimeoutError):
            count(kind + "-closed")


def _drain(s: socket.socket, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not s.recv(65536):
                return
        except TimeoutError:
            return
        except ConnectionResetError:
            return


ABUSERS = {"random": 40, "truncated": 30, "huge-length": 20, "almost-huge": 10,
           "wrong-types": 30, "slow-loris": 30, "silent": 20, "no-reader": 20}


@pytest.mark.timeout(400 if SOAK else 120)
def test_200_hostile_clients_at_once(m, soak):
    """200 clients, each abusing the socket in its own way, for a while: a normal status
    request is answered within a deadline all along; the master's memory stays bounded,
    and comes back down once they are gone."""
    assert sum(ABUSERS.values()) == 200
    before = {p: pid for p, pid in m.child_pids().items() if p != "monitor"}
    m.status()
    rss0 = rss_kb(m.pid)
    stop = threading.Event()
    stats: dict[str, int] = {}
    threads = []
    kinds = [k for k, n in ABUSERS.items() for _ in range(n)]
    for i, kind in enumerate(kinds):
        t = threading.Thread(target=_abuser, args=(kind, m, stop, random.Random(i), stats),
                             daemon=True)
        threads.append(t)
    peak, worst = rss0, 0.0
    try:
        for t in threads:
            t.start()
        end = time.monotonic() + (120 if soak else 8)
        while time.monotonic() < end:
            worst = max(worst, answers_status(m, 2.0))
            peak = max(peak, rss_kb(m.pid))
            r = m.request({"cmd": "raise", "signum": 7}, timeout=5)
            assert r["ok"], r
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not [t for t in threads if t.is_alive()], "an abuser thread hung"
    for kind in ABUSERS:
        assert stats.get(kind, 0) + stats.get(kind + "-closed", 0) > 0, (kind, stats)
    unharmed(m, before)
    # bounded: unread replies are capped at 32 MiB for all clients together (control.py
    # OUT_BUDGET), a request at 1 MiB (slow-loris and megabyte clients hold some of those)
    assert peak - rss0 < 160 * 1024, f"master RSS grew from {rss0} KiB to {peak} KiB"

    # back down once they left (the idle ones are closed after the 10 s idle timeout)
    def settled():
        st = m.status()
        return rss_kb(m.pid) - rss0 < 40 * 1024 and st["master"]["state"] == "running"
    wait_for(settled, 20, f"the master's RSS back near {rss0} KiB (now {rss_kb(m.pid)} KiB)")
    m.wait_handled(7, 1, timeout=10)


def test_clients_that_never_read_do_not_stall_the_master(m):
    """A few clients pipeline status requests and never read the replies: the master must
    not keep producing output for them (memory), nor spend seconds on them (others wait)."""
    before = {p: pid for p, pid in m.child_pids().items() if p != "monitor"}
    rss0 = rss_kb(m.pid)
    stop = threading.Event()
    socks = []

    def flood() -> None:
        s = connect(m, 1.0)
        socks.append(s)
        data = encode({"cmd": "status"}) * 2000
        with contextlib.suppress(OSError):
            while not stop.is_set():
                s.sendall(data)

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(10)]
    peak, worst = rss0, 0.0
    try:
        for t in threads:
            t.start()
        end = time.monotonic() + 4
        while time.monotonic() < end:
            worst = max(worst, answers_status(m, 1.0))
            peak = max(peak, rss_kb(m.pid))
            time.sleep(0.05)
    finally:
        stop.set()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for t in threads:
            t.join(5)
    assert peak - rss0 < 64 * 1024, f"master RSS grew from {rss0} KiB to {peak} KiB"
    unharmed(m, before)


# -- numbers no timer can hold --------------------------------------------------------------------

def test_absurd_timer_periods_leave_the_master_running(master_factory):
    """A timer of 1e308 s (from the config, a client or a child) once made the master arm
    its timerfd with an infinite number of nanoseconds and die. It is accepted (it never
    fires), and the timers beside it keep their schedule."""
    m = master_factory(TREE + """
[[rb_timers]]
signal = 7
seconds = 1e308
""", sup=sup())
    before = {p: pid for p, pid in m.child_pids().items() if p != "monitor"}
    for secs in (1e308, 1e300, 1e18, 2 ** 62, 10 ** 400):
        r = m.request({"cmd": "add_rb_timer", "signum": 7, "seconds": secs})
        assert r["ok"] or "internal error" not in r["error"], r
        assert m.request({"cmd": "ping"}, timeout=5)["ok"], f"seconds={secs!r}"
    r = m.request({"cmd": "add_timer", "signum": 7, "seconds": 0.05, "iterations": 3})
    assert r["ok"], r
    m.wait_handled(7, 3, timeout=10)
    st = m.status()
    assert m.signal_status(7, st)["handled"] == 3
    unharmed(m, before)
