"""A mule message's payload as it travels in JSON frames: ``{"s": str}`` or
``{"b": base64 of bytes}``, at most ``MAX_MESSAGE`` bytes (a str counts its UTF-8 bytes).

A leaf shared by the sender's side (api.py, the decorators) and the mule's (child.py).
"""

from __future__ import annotations

import base64
from typing import Any

MAX_MESSAGE = 64 * 1024


def encode_payload(msg: bytes | str) -> dict[str, str]:
    if isinstance(msg, str):
        size = len(msg.encode("utf-8", "surrogatepass"))
        payload = {"s": msg}
    elif isinstance(msg, (bytes, bytearray, memoryview)):
        data = bytes(msg)
        size = len(data)
        payload = {"b": base64.b64encode(data).decode("ascii")}
    else:
        raise TypeError(f"a mule message is bytes or str, not {type(msg).__name__}")
    if size > MAX_MESSAGE:
        raise ValueError(f"a mule message is at most {MAX_MESSAGE} bytes; this one has {size} "
                         "(spool large data, or pass a path)")
    return payload


def decode_payload(frame: dict[str, Any]) -> bytes | str:
    if "s" in frame:
        return str(frame["s"])
    return base64.b64decode(frame.get("b", ""))
