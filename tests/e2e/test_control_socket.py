"""Malformed input on the control socket gets an error reply or a closed connection, and
never hurts the master; silent or stalled clients do not block the others."""

from __future__ import annotations

import json
import random
import socket
import stat
import struct
import time

import pytest
from harness import connect
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trees import workers

from sigsup.protocol.control import MAX_MESSAGE, Decoder, encode

TREE = workers(2, {7: "worker"})


@pytest.fixture
def m(master_factory):
    return master_factory(TREE)


def exchange(m, data: bytes, *, half_close: bool, timeout: float = 5.0):
    """Send ``data``; read until the master closes (or ``timeout``). Returns (replies, closed)."""
    s = connect(m, timeout)
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        dec = Decoder(limit=64 * 1024 * 1024)
        replies = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                return replies, False
            except ConnectionResetError:
                return replies, True
            if not chunk:
                return replies, True
            replies.extend(dec.feed(chunk))
        return replies, False
    finally:
        s.close()


def ask(s: socket.socket, obj) -> dict:
    """One request on an open connection; the reply."""
    s.sendall(encode(obj) if isinstance(obj, dict) else obj)
    dec = Decoder()
    while True:
        chunk = s.recv(65536)
        assert chunk, "the master closed the connection"
        got = dec.feed(chunk)
        if got:
            assert len(got) == 1
            return got[0]


def raw_message(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def healthy(m, pids_before: dict[str, int]) -> None:
    """The master runs, answers status at once, and none of its children was restarted."""
    assert m.running()
    t0 = time.monotonic()
    st = m.status(timeout=3.0)
    assert time.monotonic() - t0 < 3.0
    assert st["master"]["state"] == "running"
    assert m.child_pids(st) == pids_before
    assert all(p["respawns"] == 0 for p in st["processes"])


def test_random_bytes(m):
    before = m.child_pids()
    rng = random.Random(1234)
    for i in range(30):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 600)))
        replies, closed = exchange(m, data, half_close=True)
        assert closed, f"case {i}: connection left open"
        assert all(r.get("ok") is False and r.get("error") for r in replies), replies
    healthy(m, before)


def test_huge_length_prefix_is_answered_and_closed(m):
    before = m.child_pids()
    for n in (0xFFFFFFFF, MAX_MESSAGE + 1):
        replies, closed = exchange(m, struct.pack(">I", n) + b"{}", half_close=False)
        assert closed, "the master kept a connection it cannot resynchronise"
        assert len(replies) == 1 and replies[0]["ok"] is False
        assert "limit" in replies[0]["error"], replies
    healthy(m, before)


def test_truncated_frame(m):
    before = m.child_pids()
    full = encode({"cmd": "status"})
    for cut in (1, 3, 4, 10, len(full) - 1):
        replies, closed = exchange(m, full[:cut], half_close=True)
        assert closed and replies == [], (cut, replies)
    healthy(m, before)


def test_not_json_is_answered_and_closed(m):
    before = m.child_pids()
    for payload in (b"{not json", b"\xff\xfe\xfd", b"", b'{"cmd": "status"', b"{'cmd': 1}"):
        replies, closed = exchange(m, raw_message(payload), half_close=False)
        assert closed, payload
        assert len(replies) == 1 and replies[0]["ok"] is False, (payload, replies)
        assert "not JSON" in replies[0]["error"], (payload, replies)
    healthy(m, before)


def test_non_object_json_keeps_the_connection(m):
    before = m.child_pids()
    with connect(m) as s:
        for payload in (b"[1, 2]", b'"status"', b"42", b"null", b"true", b"[{\"cmd\": \"stop\"}]"):
            r = ask(s, raw_message(payload))
            assert r == {"ok": False, "error": "bad request: a request is a JSON object"}, r
        r = ask(s, {"cmd": "status"})          # same connection, still in sync
        assert r["ok"] is True
    healthy(m, before)


BAD_REQUESTS = [
    ({"cmd": "raise", "signum": "x"}, "'signum' must be an integer, not str"),
    ({"cmd": "raise", "signum": True}, "'signum' must be an integer, not a boolean"),
    ({"cmd": "raise", "signum": 7.0}, "'signum' must be an integer"),
    ({"cmd": "raise", "signum": None}, "'signum' must be an integer"),
    ({"cmd": "raise", "signum": [7]}, "'signum' must be an integer"),
    ({"cmd": "raise", "signum": 256}, "out of range"),
    ({"cmd": "raise", "signum": -1}, "out of range"),
    ({"cmd": "raise", "signum": 2 ** 70}, "out of range"),
    ({"cmd": "raise"}, "missing field 'signum'"),
    ({"cmd": 5}, "missing field 'cmd'"),
    ({"cmd": None}, "missing field 'cmd'"),
    ({}, "missing field 'cmd'"),
    ({"signum": 7}, "missing field 'cmd'"),
    ({"cmd": "frobnicate"}, "unknown command 'frobnicate'"),
    ({"cmd": "__init__"}, "unknown command"),
    ({"cmd": ""}, "unknown command"),
    ({"cmd": "register", "signum": 9, "handler": 5}, "'handler' must be a string"),
    ({"cmd": "register", "signum": 9, "handler": "e2eapp:record", "target": "worker9"},
     "no worker 9"),
    ({"cmd": "register", "signum": 9, "handler": "e2eapp:record", "target": 3},
     "'target' must be a string"),
    ({"cmd": "register", "signum": 9, "handler": "e2eapp:record", "on_full": "drop"},
     "on_full"),
    ({"cmd": "register", "signum": 9, "handler": "nocolon"}, "not an import path"),
    ({"cmd": "register", "signum": "9", "handler": "e2eapp:record"}, "'signum' must be an integer"),
    ({"cmd": "unregister", "signum": "7"}, "'signum' must be an integer"),
    ({"cmd": "registered"}, "missing field 'signum'"),
]


def test_wrong_fields_and_unknown_commands(m):
    before = m.child_pids()
    with connect(m) as s:
        for req, needle in BAD_REQUESTS:
            r = ask(s, req)
            assert r["ok"] is False, (req, r)
            assert needle in r["error"], (req, r)
        assert ask(s, {"cmd": "ping"})["ok"] is True
    st = m.status()
    assert st["master"]["raised"] == 0, "a bad request raised a signal"
    assert m.signal_status(7, st)["handler"] == "e2eapp:record"
    assert not any(s["num"] == 9 for s in st["signals"]), "a bad register changed the table"
    healthy(m, before)
    # the CLI still works after all that
    r = m.cli("raise", "7", "--wait")
    assert r.returncode == 0, r.stderr


def test_silent_and_stalled_clients_do_not_block_others(m):
    before = m.child_pids()
    idle = [connect(m) for _ in range(20)]
    stalled = [connect(m) for _ in range(5)]
    for s in stalled:
        s.sendall(encode({"cmd": "status"})[:7])     # half a request, then nothing
    try:
        for _ in range(3):
            t0 = time.monotonic()
            assert m.request({"cmd": "ping"}, timeout=2.0)["ok"]
            assert time.monotonic() - t0 < 3.0        # the idle timeout is 10 s
        r = m.cli("status", "--json", timeout=20)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["master"]["pid"] == m.pid
        m.request({"cmd": "raise", "signum": 7})
        m.wait_records(1, 7)
        # a stalled client that finally completes its request is answered
        s = stalled[0]
        rest = encode({"cmd": "status"})[7:]
        reply = ask(s, rest)
        assert reply["ok"] is True and reply["status"]["master"]["pid"] == m.pid
    finally:
        for s in idle + stalled:
            s.close()
    healthy(m, before)


def test_many_pipelined_requests_with_bad_ones_between(m):
    """Good and bad requests interleaved on one connection: one reply each, in order."""
    before = m.child_pids()
    reqs = []
    for i in range(300):
        reqs.append({"cmd": "raise", "signum": 7} if i % 3 == 0 else
                    {"cmd": "raise", "signum": "x"} if i % 3 == 1 else {"cmd": "nope"})
    with connect(m, 20) as s:
        s.sendall(b"".join(encode(r) for r in reqs))
        dec, replies = Decoder(), []
        while len(replies) < len(reqs):
            chunk = s.recv(65536)
            assert chunk
            replies.extend(dec.feed(chunk))
    assert len(replies) == len(reqs)
    for i, r in enumerate(replies):
        assert r["ok"] is (i % 3 == 0), (i, r)
    m.wait_handled(7, 100)
    assert m.signal_status(7)["raised"] == 100
    healthy(m, before)


def test_socket_permissions(m):
    mode = stat.S_IMODE(m.sock.stat().st_mode)
    assert mode == 0o600, oct(mode)


# -- fuzzing ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=10)

requests = st.fixed_dictionaries({}, optional={
    "cmd": st.sampled_from(["raise", "register", "unregister", "registered", "ping", "status",
                            "nope"]) | json_values,
    "signum": st.integers(-5, 300) | json_values,
    "handler": st.sampled_from(["e2eapp:record", "x", "a:b"]) | json_values,
    "target": st.sampled_from(["worker", "mule", "worker7", "farm_x"]) | json_values,
    "on_full": st.sampled_from(["reject", "coalesce"]) | json_values,
})


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.binary(max_size=200) | requests.map(encode)
       | st.lists(requests, max_size=5).map(lambda rs: b"".join(map(encode, rs))))
def test_fuzz(m, data):
    """Arbitrary bytes and arbitrary requests (never "stop"): every reply is well formed, and
    the master answers a normal request right after."""
    if b"stop" in data:
        return
    replies, closed = exchange(m, data, half_close=True, timeout=5)
    assert closed
    for r in replies:
        assert isinstance(r, dict) and isinstance(r.get("ok"), bool)
        if not r["ok"]:
            assert isinstance(r.get("error"), str) and r["error"]
        assert "internal error" not in r.get("error", ""), r
    assert m.request({"cmd": "ping"}, timeout=2.0)["ok"]


def test_half_closed_client_gets_every_reply(m):
    """A client that sends its requests and shuts down its writing side (as `socat` or
    `nc -N` do) is answered in full before the master closes the connection."""
    n = 20000
    with connect(m, 20) as s:
        s.sendall(encode({"cmd": "ping"}) * n)
        s.shutdown(socket.SHUT_WR)
        m.wait_for(lambda: m.request({"cmd": "ping"}, timeout=2.0)["ok"], 5, "ping")
        dec, replies = Decoder(), []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            replies.extend(dec.feed(chunk))
    assert len(replies) == n
    assert all(r["ok"] for r in replies)


def test_half_closed_raises_all_reported(m):
    n = 3000
    with connect(m, 20) as s:
        s.sendall(encode({"cmd": "raise", "signum": 7}) * n)
        s.shutdown(socket.SHUT_WR)
        m.wait_handled(7, n, timeout=30)
        dec, replies = Decoder(), []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            replies.extend(dec.feed(chunk))
    assert len(replies) == n, "raises were made but their results were thrown away"
    assert len({r["result"]["id"] for r in replies}) == n
