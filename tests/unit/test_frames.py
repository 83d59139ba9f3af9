"""Master <-> child frames: fixed 12-byte headers and length-prefixed JSON on a stream."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigsup.protocol.frames import (
    ACK,
    DONE,
    DONE_ERROR,
    DONE_NO_HANDLER,
    DONE_OK,
    HEADER,
    HEADER_SIZE,
    JSON,
    MAX_JSON,
    RAISE,
    READY,
    RUN,
    FrameReader,
    ProtocolError,
    pack,
    pack_json,
)


def test_header_is_12_bytes_little_endian() -> None:
    assert HEADER_SIZE == 12
    assert pack(RUN, 17, 0, 5) == struct.pack("<BBHII", RUN, 17, 0, 5, 0)


def test_status_codes_are_distinct() -> None:
    assert len({DONE_OK, DONE_ERROR, DONE_NO_HANDLER}) == 3
    assert len({RAISE, ACK, RUN, DONE, READY, JSON}) == 6


@pytest.mark.parametrize(
    "frame",
    [(RAISE, 17, 0, 1, 0), (ACK, 17, 3, 1, 99), (RUN, 255, 0, 0xFFFFFFFF, 0),
     (DONE, 0, DONE_ERROR, 42, 0), (READY, 0, 0, 12345, 0), (DONE, 9, DONE_NO_HANDLER, 7, 0)],
)
def test_fixed_frames_round_trip(frame: tuple[int, int, int, int, int]) -> None:
    data = pack(*frame)
    assert len(data) == HEADER_SIZE
    assert FrameReader().feed(data) == [frame]


def test_pack_masks_a_and_b_to_32_bits() -> None:
    assert FrameReader().feed(pack(RUN, 1, 0, -1, 2**32 + 5)) == [(RUN, 1, 0, 0xFFFFFFFF, 5)]


def test_json_round_trip() -> None:
    msg = {"t": "call", "rid": 3, "cmd": "register", "handler": "m:f", "nested": {"a": [1, None]},
           "text": "héllo ✓"}
    data = pack_json(msg)
    n = len(json.dumps(msg, separators=(",", ":")).encode())
    assert HEADER.unpack_from(data)[:4] == (JSON, 0, 0, n)
    assert FrameReader().feed(data) == [(JSON, 0, 0, n, msg)]


def test_many_frames_in_one_feed_keep_their_order() -> None:
    data = pack(RUN, 1, 0, 1) + pack_json({"t": "x"}) + pack(RUN, 2, 0, 2) + pack(READY, 0, 0, 9)
    frames = FrameReader().feed(data)
    assert [f[0] for f in frames] == [RUN, JSON, RUN, READY]
    assert frames[1][4] == {"t": "x"}


def test_partial_frames_wait_for_the_rest() -> None:
    r = FrameReader()
    data = pack(DONE, 5, 0, 77) + pack_json({"t": "done", "signum": 5})
    assert r.feed(data[:5]) == []
    assert r.pending == 5
    assert r.feed(data[5:14]) == [(DONE, 5, 0, 77, 0)]
    assert r.pending == 2
    assert r.feed(data[14:-1]) == []
    assert r.feed(data[-1:]) == [(JSON, 0, 0, len(data) - 24, {"t": "done", "signum": 5})]
    assert r.pending == 0
    assert r.feed(b"") == []


frame_strategy = st.one_of(
    st.tuples(st.sampled_from([RAISE, ACK, RUN, DONE, READY]), st.integers(0, 255),
              st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF)),
    st.dictionaries(st.text(max_size=8),
                    st.one_of(st.integers(-2**53, 2**53), st.text(max_size=30), st.booleans(),
                              st.none(), st.lists(st.integers(), max_size=4)),
                    max_size=5),
)


def encode(frames: list) -> bytes:
    return b"".join(pack_json(f) if isinstance(f, dict) else pack(*f) for f in frames)


def expected(frames: list) -> list:
    out = []
    for f in frames:
        if isinstance(f, dict):
            n = len(json.dumps(f, separators=(",", ":")).encode())
            out.append((JSON, 0, 0, n, f))
        else:
            out.append(tuple(f))
    return out


@settings(max_examples=150, deadline=None, derandomize=True)
@given(frames=st.lists(frame_strategy, max_size=12), cuts=st.lists(st.integers(0, 10_000),
                                                                    max_size=20))
def test_reader_gives_the_same_frames_whatever_the_split_points(frames, cuts) -> None:
    data = encode(frames)
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    r = FrameReader()
    got = []
    for piece in pieces:
        got.extend(r.feed(piece))
    assert got == expected(frames)
    assert r.pending == 0


@settings(max_examples=50, deadline=None, derandomize=True)
@given(frames=st.lists(frame_strategy, min_size=1, max_size=6))
def test_reader_byte_by_byte(frames) -> None:
    data = encode(frames)
    r = FrameReader()
    got = []
    for i in range(len(data)):
        got.extend(r.feed(data[i:i + 1]))
    assert got == expected(frames)


def test_bad_json_is_a_protocol_error() -> None:
    payload = b"{not json"
    with pytest.raises(ProtocolError, match="bad JSON frame"):
        FrameReader().feed(pack(JSON, 0, 0, len(payload)) + payload)


def test_invalid_utf8_is_a_protocol_error() -> None:
    payload = b'{"t": "\xff"}'
    with pytest.raises(ProtocolError, match="bad JSON frame"):
        FrameReader().feed(pack(JSON, 0, 0, len(payload)) + payload)


@pytest.mark.parametrize("payload", [b"[1, 2]", b"3", b'"t"', b"null"])
def test_json_that_is_not_an_object_is_a_protocol_error(payload: bytes) -> None:
    with pytest.raises(ProtocolError, match="must hold an object"):
        FrameReader().feed(pack(JSON, 0, 0, len(payload)) + payload)


def test_oversize_json_is_refused_from_the_header_alone() -> None:
    with pytest.raises(ProtocolError, match="over the"):
        FrameReader().feed(pack(JSON, 0, 0, MAX_JSON + 1))


def test_json_at_the_limit_waits_for_its_payload() -> None:
    r = FrameReader()
    assert r.feed(pack(JSON, 0, 0, MAX_JSON)) == []
    assert r.pending == HEADER_SIZE


def test_pack_json_refuses_oversize_messages() -> None:
    with pytest.raises(ProtocolError, match="over the"):
        pack_json({"t": "x" * (MAX_JSON + 1)})


@pytest.mark.parametrize("ftype", [0, 6, 7, 15, 17, 255])
def test_unknown_frame_type_is_a_protocol_error(ftype: int) -> None:
    with pytest.raises(ProtocolError, match=f"unknown frame type {ftype}"):
        FrameReader().feed(pack(ftype, 1, 0, 0))


def test_unknown_type_after_good_frames_still_raises() -> None:
    with pytest.raises(ProtocolError):
        FrameReader().feed(pack(RUN, 1, 0, 1) + pack(99, 0, 0, 0))


def test_signum_out_of_a_byte_cannot_be_packed() -> None:
    with pytest.raises(struct.error):
        pack(RUN, 256)
