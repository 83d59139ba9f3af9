"""Frames between the master and a child, over the child's own stream socketpair.

Every frame starts with one 12-byte header ``<BBHII``: type, signum, aux, a, b. The hot path
(raise, ack, run, done) is the header alone. A JSON frame (type ``JSON``) carries its payload
length in ``a`` and a UTF-8 JSON object after the header. A stream lets one ``recv`` carry
many frames and one ``send`` flush many, which is where the master's throughput comes from.

    RAISE  child -> master   signum, a = the child's sequence number
    ACK    master -> child   signum, aux = recipients, a = sequence number, b = raise id
    RUN    master -> child   signum, a = raise id
           (a raise with a payload goes as a JSON frame {"t": "run", "signum", "rid",
           "payload"}; the reader hands it on as a RUN frame (RUN, signum, 1, rid, payload))
    DONE   child -> master   signum, aux = DONE_* status, a = raise id
    READY  child -> master   a = pid: the child finished its start-up and takes work
    JSON   either way        a = payload length; an object with a "t" field
"""

from __future__ import annotations

import json
import struct
from typing import Any

HEADER = struct.Struct("<BBHII")
HEADER_SIZE = HEADER.size
MAX_JSON = 16 * 1024 * 1024
MAX_PAYLOAD = 64 * 1024   # a signal's payload, JSON-encoded
WITH_PAYLOAD = 1          # a RUN frame's aux when its b is the raise's payload

RAISE = 1
ACK = 2
RUN = 3
DONE = 4
READY = 5
JSON = 16

DONE_OK = 0
DONE_ERROR = 1       # the handler raised
DONE_NO_HANDLER = 2  # the process has no handler for it (and was not waiting for it)

_pack = HEADER.pack
_unpack_from = HEADER.unpack_from

Frame = tuple[int, int, int, int, Any]


class ProtocolError(Exception):
    """The peer sent something that is not a frame."""


def pack(ftype: int, signum: int = 0, aux: int = 0, a: int = 0, b: int = 0) -> bytes:
    return _pack(ftype, signum, aux, a & 0xFFFFFFFF, b & 0xFFFFFFFF)


def pack_json(obj: dict[str, Any]) -> bytes:
    payload = json.dumps(obj, separators=(",", ":")).encode()
    if len(payload) > MAX_JSON:
        raise ProtocolError(f"message of {len(payload)} bytes is over the {MAX_JSON} limit")
    return _pack(JSON, 0, 0, len(payload), 0) + payload


def pack_run(signum: int, rid: int, payload: Any) -> bytes:
    """The RUN frame of a raise that carries a payload (``None``: the plain 12-byte one)."""
    if payload is None:
        return _pack(RUN, signum, 0, rid, 0)
    return pack_json({"t": "run", "signum": signum, "rid": rid, "payload": payload})


def payload_problem(payload: Any) -> str | None:
    """Why ``payload`` cannot travel with a raise (not JSON, over MAX_PAYLOAD), or None."""
    try:
        size = len(json.dumps(payload, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        return f"the payload is not JSON ({exc})"
    if size > MAX_PAYLOAD:
        return f"the payload is {size} bytes as JSON, over the {MAX_PAYLOAD} limit"
    return None


def run_payload(f: Frame) -> Any:
    """The payload of a RUN frame (None when its raise carried none)."""
    return f[4] if f[2] == WITH_PAYLOAD else None


class FrameReader:
    """Incremental decoder: feed it bytes, get whole frames back.

    Fixed frames come back as ``(type, signum, aux, a, b)``; a JSON frame as
    ``(JSON, 0, 0, length, obj)``.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf + data if self._buf else data
        frames: list[Frame] = []
        append = frames.append
        pos = 0
        end = len(buf)
        while end - pos >= HEADER_SIZE:
            ftype, signum, aux, a, b = _unpack_from(buf, pos)
            if ftype == JSON:
                if a > MAX_JSON:
                    raise ProtocolError(f"JSON frame of {a} bytes is over the {MAX_JSON} limit")
                stop = pos + HEADER_SIZE + a
                if stop > end:
                    break
                try:
                    obj = json.loads(buf[pos + HEADER_SIZE:stop])
                except ValueError as exc:
                    raise ProtocolError(f"bad JSON frame: {exc}") from None
                if not isinstance(obj, dict):
                    raise ProtocolError("a JSON frame must hold an object")
                if obj.get("t") == "run":   # a RUN with a payload
                    append((RUN, int(obj["signum"]), WITH_PAYLOAD, int(obj["rid"]),
                            obj.get("payload")))
                else:
                    append((JSON, 0, 0, a, obj))
                pos = stop
            elif RAISE <= ftype <= READY:
                append((ftype, signum, aux, a, b))
                pos += HEADER_SIZE
            else:
                raise ProtocolError(f"unknown frame type {ftype}")
        self._buf = buf[pos:] if pos < end else b""
        return frames

    @property
    def pending(self) -> int:
        return len(self._buf)
