"""The control socket's wire format: 4-byte big-endian length + a UTF-8 JSON object."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigsup.protocol.control import (
    LENGTH,
    MAX_MESSAGE,
    ControlClient,
    ControlProtocolError,
    Decoder,
    NoMaster,
    encode,
    request,
)


def test_encode_is_a_big_endian_length_and_compact_json() -> None:
    data = encode({"cmd": "raise", "signum": 17})
    payload = b'{"cmd":"raise","signum":17}'
    assert data == struct.pack(">I", len(payload)) + payload


def test_encode_falls_back_to_str_for_odd_values() -> None:
    from pathlib import Path
    assert Decoder().feed(encode({"path": Path("/x/y")})) == [{"path": "/x/y"}]


def test_round_trip() -> None:
    msgs = [{"cmd": "ping"}, {"ok": True, "status": {"a": [1, 2.5, None, "é"]}}, {}]
    assert Decoder().feed(b"".join(encode(m) for m in msgs)) == msgs


json_value = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53), st.text(max_size=20),
                       st.lists(st.integers(), max_size=3))
message = st.dictionaries(st.text(max_size=8), json_value, max_size=4)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(msgs=st.lists(message, max_size=8), cuts=st.lists(st.integers(0, 5000), max_size=12))
def test_decoder_across_arbitrary_split_points(msgs, cuts) -> None:
    data = b"".join(encode(m) for m in msgs)
    points = sorted({c % (len(data) + 1) for c in cuts})
    d = Decoder()
    got = []
    for a, b in zip([0, *points], [*points, len(data)], strict=True):
        got.extend(d.feed(data[a:b]))
    assert got == msgs
    assert d.pending == 0


def test_decoder_byte_by_byte() -> None:
    data = encode({"cmd": "status", "json": True}) + encode({"cmd": "ping"})
    d = Decoder()
    got = []
    for i in range(len(data)):
        got.extend(d.feed(data[i:i + 1]))
        if i < 3:
            assert d.pending == i + 1
    assert got == [{"cmd": "status", "json": True}, {"cmd": "ping"}]


def test_over_limit_length_is_refused_before_the_payload() -> None:
    d = Decoder(limit=10)
    with pytest.raises(ControlProtocolError, match="message of 11 bytes is over the 10 limit"):
        d.feed(LENGTH.pack(11))


def test_message_at_the_limit_is_accepted() -> None:
    payload = b'{"a":"12"}'
    d = Decoder(limit=len(payload))
    assert d.feed(LENGTH.pack(len(payload)) + payload) == [{"a": "12"}]


def test_default_limit() -> None:
    with pytest.raises(ControlProtocolError):
        Decoder().feed(LENGTH.pack(MAX_MESSAGE + 1))
    assert Decoder().feed(LENGTH.pack(MAX_MESSAGE)) == []


@pytest.mark.parametrize("payload", [b"{nope", b"\xff\xfe", b"", b'{"a": 1'])
def test_bad_json_is_a_control_protocol_error(payload: bytes) -> None:
    with pytest.raises(ControlProtocolError, match="not JSON"):
        Decoder().feed(LENGTH.pack(len(payload)) + payload)


def test_good_message_before_a_bad_one() -> None:
    d = Decoder()
    bad = b"{x"
    with pytest.raises(ControlProtocolError):
        d.feed(encode({"cmd": "ping"}) + LENGTH.pack(len(bad)) + bad)


def test_non_object_json_is_passed_on_for_the_server_to_refuse() -> None:
    payload = json.dumps([1, 2]).encode()
    assert Decoder().feed(LENGTH.pack(len(payload)) + payload) == [[1, 2]]


def test_client_without_a_socket_raises_no_master(tmp_path) -> None:
    path = tmp_path / "none.sock"
    with pytest.raises(NoMaster, match="no socket there") as info:
        request(path, {"cmd": "ping"}, timeout=1)
    assert info.value.path == str(path)


def test_client_with_a_stale_socket_raises_no_master() -> None:
    import socket
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="ss", dir="/tmp") as d:
        path = Path(d) / "s"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.close()               # bound, never listening: connection refused
        with pytest.raises(NoMaster, match="no master running at"):
            ControlClient(path).connect()


def test_client_request_reply_over_a_socketpair() -> None:
    import socket

    a, b = socket.socketpair()
    try:
        client = ControlClient("/unused", timeout=2)
        client._sock = a
        b.sendall(encode({"ok": True, "n": 1}) + encode({"ok": True, "n": 2}))
        assert client.request({"cmd": "ping"}) == {"ok": True, "n": 1}
        assert Decoder().feed(b.recv(100)) == [{"cmd": "ping"}]
        assert client.receive() == {"ok": True, "n": 2}   # kept from the same read
        b.close()
        with pytest.raises(ConnectionError, match="closed the connection"):
            client.receive()
    finally:
        a.close()
        b.close()


def test_client_receive_times_out() -> None:
    import socket

    a, b = socket.socketpair()
    try:
        client = ControlClient("/unused", timeout=2)
        client._sock = a
        with pytest.raises(TimeoutError, match="no answer"):
            client.receive(timeout=0.01)
    finally:
        a.close()
        b.close()
