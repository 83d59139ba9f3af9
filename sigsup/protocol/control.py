"""The control socket's wire format and a blocking client.

A message is a 4-byte big-endian length and a UTF-8 JSON object. A request is
``{"cmd": NAME, ...arguments}``; a reply is ``{"ok": true, ...}`` or
``{"ok": false, "error": "what went wrong"}``. Streaming commands (``events``) send
one reply per event on the same connection.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

LENGTH = struct.Struct(">I")
MAX_MESSAGE = 1024 * 1024


class ControlProtocolError(Exception):
    """A malformed control message."""


class NoMaster(Exception):
    """No master answers at the socket path."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"no master running at {path} ({reason})")
        self.path = str(path)


def encode(obj: dict[str, Any]) -> bytes:
    payload = json.dumps(obj, separators=(",", ":"), default=str).encode()
    return LENGTH.pack(len(payload)) + payload


class Decoder:
    """Incremental decoder for control messages (used by the master's non-blocking server)."""

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self.limit = limit
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """Return the decoded messages; a malformed one raises ControlProtocolError.

        The caller answers the error and closes: after a bad length the stream cannot be
        resynchronised.
        """
        self._buf += data
        out: list[Any] = []
        while len(self._buf) >= 4:
            (n,) = LENGTH.unpack_from(self._buf)
            if n > self.limit:
                raise ControlProtocolError(f"message of {n} bytes is over the {self.limit} limit")
            if len(self._buf) < 4 + n:
                break
            raw = bytes(self._buf[4:4 + n])
            del self._buf[:4 + n]
            try:
                out.append(json.loads(raw))
            except ValueError as exc:
                raise ControlProtocolError(f"not JSON: {exc}") from None
            except RecursionError:   # [[[[... within the size limit: json recurses per level
                raise ControlProtocolError("JSON nested too deeply") from None
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


class ControlClient:
    """A blocking connection to a master's control socket."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.path = str(path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._decoder = Decoder(limit=64 * 1024 * 1024)
        self._pending: list[Any] = []

    def connect(self) -> ControlClient:
        if not os.path.exists(self.path):
            raise NoMaster(self.path, "no socket there")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            s.close()
            raise NoMaster(self.path, exc.strerror or str(exc)) from None
        except PermissionError as exc:
            s.close()
            raise NoMaster(self.path, f"permission denied: {exc.strerror}") from None
        self._sock = s
        return self

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ControlClient:
        return self.connect() if self._sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, obj: dict[str, Any]) -> None:
        assert self._sock is not None, "not connected"
        self._sock.sendall(encode(obj))

    def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; TimeoutError after ``timeout`` (default: the client's)."""
        assert self._sock is not None, "not connected"
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer from the master at {self.path}")
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(f"no answer from the master at {self.path}") from None
            if not data:
                raise ConnectionError(f"the master at {self.path} closed the connection")
            self._pending.extend(self._decoder.feed(data))
        return self._pending.pop(0)

    def request(self, obj: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        self.send(obj)
        return self.receive(timeout)


def request(path: str | Path, obj: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """One request, one reply, on a fresh connection."""
    with ControlClient(path, timeout) as client:
        return client.request(obj, timeout)
