"""The control socket, server side: non-blocking, inside the master's selector loop.

Unix stream socket, mode 0600 in a 0700 directory; a client whose uid (SO_PEERCRED) is not
the master's, or root, is refused. Requests are length-prefixed JSON (protocol/control.py).
A malformed request gets an error reply; a stream that cannot be resynchronised (a bad
length) is answered and closed. A client that sends half a message and stalls is closed
after ``idle_timeout``. Nothing a client sends can raise out of here into the loop.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigsup.protocol.control import ControlProtocolError, Decoder, encode

MAX_CLIENTS = 512
MAX_OUTPUT = 64 * 1024 * 1024
# A client with this much of its replies unread gets no more requests handled (and is not
# read) until it reads, once all clients together hold OUT_BUDGET unread: clients that ask
# and never read cost the master bounded memory, and one that writes a long pipeline
# before it reads a reply (`socat`, `nc -N`) is still answered in full.
OUT_HIGH = 256 * 1024
OUT_BUDGET = 32 * 1024 * 1024
# Requests of one client handled per loop turn: a pipelined burst of costly requests
# (status) cannot hold the loop, and with it every other client and all routing, for long.
BATCH = 32


class ControlConn:
    __slots__ = ("sock", "decoder", "out", "last_activity", "closing", "streaming", "uid", "id",
                 "waits", "pending")

    def __init__(self, sock: socket.socket, uid: int, now: float, cid: int) -> None:
        self.sock = sock
        self.decoder = Decoder()
        self.out = bytearray()
        self.last_activity = now
        self.closing = False
        self.streaming: dict[str, Any] | None = None   # filters of an events subscription
        self.uid = uid
        self.id = cid
        self.waits = 0          # requests answered later (raise --wait)
        self.pending: deque[Any] = deque()   # decoded requests not handled yet (BATCH a turn)

    def reply(self, obj: dict[str, Any]) -> None:
        if len(self.out) > MAX_OUTPUT:
            self.closing = True
            return
        self.out += encode(obj)


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def prepare_socket_path(path: Path) -> None:
    """Create the socket's directory 0700 (if missing) and clear a stale socket.

    Raises RuntimeError if a live master already answers there, if the path holds
    something that is not a socket, or if the directory is another user's or writable by
    others (who could swap the socket for their own: the /tmp/sigsup-UID attack).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.parent.stat()
    if st.st_uid not in (os.geteuid(), 0):
        raise RuntimeError(f"{path.parent} belongs to uid {st.st_uid}: the control socket is "
                           "not put in a directory another user controls; remove it or choose "
                           "another [supervisor] socket")
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise RuntimeError(f"{path.parent} is writable by other users (mode "
                           f"{stat.S_IMODE(st.st_mode):o}): they could replace the control "
                           "socket; chmod go-w it or choose another [supervisor] socket")
    if not path.exists() and not path.is_symlink():
        return
    st = path.lstat()
    if not stat.S_ISSOCK(st.st_mode):
        raise RuntimeError(f"{path} exists and is not a socket; remove it or choose another "
                           "[supervisor] socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (TimeoutError, ConnectionRefusedError, FileNotFoundError):
        path.unlink()   # stale: nobody listens
    else:
        raise RuntimeError(f"a master is already running at {path}")
    finally:
        probe.close()


class ControlServer:
    def __init__(self, path: Path, handle: Callable[[ControlConn, dict[str, Any]], None],
                 *, idle_timeout: float = 10.0, log: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.handle = handle
        self.idle_timeout = idle_timeout
        self.log = log or (lambda _m: None)
        self.uid = os.geteuid()
        self.conns: dict[int, ControlConn] = {}
        self.listener: socket.socket | None = None
        self._next_id = 1
        self.refused_uid = 0
        self.backlog: set[ControlConn] = set()   # connections with pending requests

    def open(self) -> socket.socket:
        prepare_socket_path(self.path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # bind and listen under a temporary name, then rename into place: a client (or
        # another master probing for a stale socket) never finds a socket that refuses
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        if len(os.fsencode(tmp)) > 107:   # too long for AF_UNIX: bind in place instead
            tmp = self.path
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        old = os.umask(0o177)
        try:
            s.bind(str(tmp))
        finally:
            os.umask(old)
        os.chmod(tmp, 0o600)
        s.listen(128)
        if tmp != self.path:
            os.rename(tmp, self.path)
        s.setblocking(False)
        self.listener = s
        return s

    def close(self) -> None:
        for conn in list(self.conns.values()):
            conn.sock.close()
        self.conns.clear()
        self.backlog.clear()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def accept(self, now: float, evict: Callable[[ControlConn], None]) -> list[ControlConn]:
        """Accept every pending client; returns the admitted ones.

        At the client limit the longest-idle client that is not waiting for anything is
        evicted (through ``evict``) to make room, so silent clients cannot lock others out.
        """
        out = []
        assert self.listener is not None
        while True:
            try:
                s, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # EMFILE and friends: say so, keep serving the others
                self.log(f"control socket: accept failed: {exc}")
                break
            s.setblocking(False)
            try:
                uid = peer_uid(s)
            except OSError:
                s.close()
                continue
            if uid not in (self.uid, 0):
                self.refused_uid += 1
                self._refuse(s, f"uid {uid} may not control a master run by uid {self.uid}")
                continue
            if len(self.conns) >= MAX_CLIENTS:
                idle = [c for c in self.conns.values()
                        if c.closing or (c.streaming is None and not c.waits and not c.out)]
                if not idle:
                    self._refuse(s, f"too many busy control clients ({MAX_CLIENTS})")
                    continue
                evict(min(idle, key=lambda c: (not c.closing, c.last_activity)))
            conn = ControlConn(s, uid, now, self._next_id)
            self._next_id += 1
            self.conns[s.fileno()] = conn
            out.append(conn)
        return out

    @staticmethod
    def _refuse(s: socket.socket, why: str) -> None:
        try:
            s.send(encode({"ok": False, "error": why}))
        except OSError:
            pass
        s.close()

    def readable(self, conn: ControlConn, now: float) -> None:
        if conn.pending or self.held(conn):
            return   # read again once its requests are handled and its replies read
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            # the client is done sending (it may have only shut down its writing side):
            # what it asked for is still answered, then the connection is closed
            conn.closing = True
            return
        conn.last_activity = now
        try:
            messages = conn.decoder.feed(data)
        except ControlProtocolError as exc:
            conn.reply({"ok": False, "error": f"bad request: {exc}"})
            conn.closing = True
            return
        conn.pending.extend(messages)
        self.serve(conn)

    def serve(self, conn: ControlConn) -> None:
        """Handle up to BATCH of the client's pending requests, while its unread replies
        stay under OUT_HIGH; the rest wait in ``backlog`` for the next loop turns."""
        pending = conn.pending
        n = 0
        while pending and n < BATCH and not conn.closing and not self.held(conn):
            msg = pending.popleft()
            n += 1
            if not isinstance(msg, dict):
                conn.reply({"ok": False, "error": "bad request: a request is a JSON object"})
                continue
            try:
                self.handle(conn, msg)
            except Exception as exc:  # a bug in a command must not take the master down
                conn.reply({"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"})
                self.log(f"control command {msg.get('cmd')!r} failed: {type(exc).__name__}: {exc}")
        if conn.closing:
            pending.clear()
        if pending:
            self.backlog.add(conn)
        else:
            self.backlog.discard(conn)

    def runnable(self) -> list[ControlConn]:
        """Connections with pending requests and room for their replies."""
        return [c for c in self.backlog if not c.closing and not self.held(c)]

    def held(self, conn: ControlConn) -> bool:
        """True when ``conn`` must read its replies before more requests are handled."""
        if len(conn.out) < OUT_HIGH:
            return False
        return sum(len(c.out) for c in self.conns.values()) >= OUT_BUDGET

    def flush(self, conn: ControlConn, now: float | None = None) -> None:
        while conn.out:
            try:
                n = conn.sock.send(conn.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                conn.out.clear()
                conn.closing = True
                return
            del conn.out[:n]
            if now is not None:
                conn.last_activity = now   # it reads its replies: not idle

    def expired(self, now: float) -> list[ControlConn]:
        """Clients idle past the timeout: stalled half-way through a request, not reading
        their replies, or connected and silent. Subscribers and waiters are kept."""
        return [c for c in self.conns.values()
                if c.streaming is None and not c.waits
                and now - c.last_activity > self.idle_timeout]

    def drop(self, conn: ControlConn) -> None:
        self.conns.pop(conn.sock.fileno(), None)
        self.backlog.discard(conn)
        conn.pending.clear()
        conn.sock.close()
