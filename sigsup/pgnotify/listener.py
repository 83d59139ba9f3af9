"""The listener process: every PostgreSQL connection of the tree lives here.

The master forks it as a child of the tree (``Proc("pgnotify", ..., runner=RUNNER)``) when
the config has ``[[pgnotify]]`` entries; it says ``pg-hello`` and is sent the entries
(``wire.py``). Entries with the same connection settings share one connection (a *link*),
which LISTENs on each of their channels. One thread: a selector over the master's channel
and each connected link's socket; a link that is down is retried when its backoff delay
(``backoff.py``) has passed.

Each notification is sent to the master as ``pg-notify`` for every entry of its channel,
its payload decoded as the entry asks (``payload.py``); the master raises. A lost
connection or a failed attempt is ``pg-down`` (with the error and the delay before the next
attempt), a connection that listens is ``pg-up``: the master counts reconnects and raises
``on_gap`` from those.

``Listener`` takes the connect function and the clock, so the tests drive it with fakes;
``PsycopgLink`` is the real connection (psycopg 3, autocommit, LISTEN with the channel
quoted as an identifier, notifications read from libpq without blocking).
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sigsup.pgnotify import wire
from sigsup.pgnotify.backoff import Backoff
from sigsup.pgnotify.payload import decode
from sigsup.protocol.frames import DONE, DONE_NO_HANDLER, JSON, READY, RUN, pack, pack_json

if TYPE_CHECKING:
    from sigsup.child.loop import ChildLoop

RUNNER = "sigsup.pgnotify.listener:serve"
ERROR_MAX = 500     # characters of an error message sent to the master
# TCP keepalives: a peer that vanished (no FIN) is noticed within about a minute
KEEPALIVES = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
              "keepalives_count": "3"}


class ConnectionLost(Exception):
    """The connection is gone (or never came up); the message says why."""


class Conn(Protocol):
    """A connection that LISTENs: what the listener needs of psycopg."""

    backend_pid: int

    def fileno(self) -> int: ...

    def listen(self, channel: str) -> None: ...

    def notifies(self) -> list[tuple[str, str, int]]:
        """The notifications received, (channel, payload, sender pid); ConnectionLost when
        the connection broke."""
        ...

    def close(self) -> None: ...


Connect = Callable[[wire.Entry], Conn]


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:ERROR_MAX]


@dataclass(eq=False)
class Link:
    """One connection and the entries that share it."""

    entries: list[wire.Entry]
    backoff: Backoff
    conn: Conn | None = None
    retry_at: float = 0.0           # monotonic: the next attempt, while down
    up_since: float | None = None   # monotonic
    channels: list[str] = field(default_factory=list)

    @property
    def settings(self) -> wire.Entry:
        return self.entries[0]

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.entries]


class Listener:
    """The links, their connections and their retries; ``send`` gets each frame's dict."""

    def __init__(self, send: Callable[[dict[str, Any]], None], connect: Connect,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.send = send
        self.connect = connect
        self.clock = clock
        self.links: list[Link] = []

    # -- the entries -----------------------------------------------------------------------

    def set_entries(self, entries: list[wire.Entry]) -> None:
        """Replace every link: connections to what ``entries`` name, attempted at once."""
        self.close()
        groups: dict[tuple[Any, ...], list[wire.Entry]] = {}
        for e in entries:
            groups.setdefault(e.link_key, []).append(e)
        now = self.clock()
        for group in groups.values():
            first = group[0]
            channels = list(dict.fromkeys(e.channel for e in group))
            self.links.append(Link(group, Backoff(first.reconnect_delay,
                                                  first.reconnect_delay_max),
                                   retry_at=now, channels=channels))

    def close(self) -> None:
        for link in self.links:
            self._drop(link)
        self.links = []

    # -- connecting ------------------------------------------------------------------------

    def deadline(self) -> float | None:
        """Monotonic time of the next attempt, None when every link is up."""
        due = [link.retry_at for link in self.links if link.conn is None]
        return min(due) if due else None

    def attempt_due(self) -> None:
        now = self.clock()
        for link in self.links:
            if link.conn is None and link.retry_at <= now:
                self.attempt(link)

    def attempt(self, link: Link) -> bool:
        conn: Conn | None = None
        try:
            conn = self.connect(link.settings)
            for channel in link.channels:
                conn.listen(channel)
        except Exception as exc:   # psycopg's errors, OSError, a missing password...
            if conn is not None:
                _close_quietly(conn)
            delay = link.backoff.next()
            link.retry_at = self.clock() + delay
            self.send({"t": wire.DOWN, "entries": link.ids, "error": one_line(exc),
                       "retry_in": delay, "was_up": False})
            return False
        link.conn = conn
        link.up_since = self.clock()
        self.send({"t": wire.UP, "entries": link.ids, "backend_pid": conn.backend_pid})
        self.readable(link)   # what came in with the LISTENs
        return True

    def lost(self, link: Link, why: str) -> None:
        now = self.clock()
        up_for = now - link.up_since if link.up_since is not None else 0.0
        self._drop(link)
        delay = link.backoff.lost(up_for)
        link.retry_at = now + delay
        self.send({"t": wire.DOWN, "entries": link.ids, "error": why, "retry_in": delay,
                   "was_up": True})

    def _drop(self, link: Link) -> None:
        if link.conn is not None:
            _close_quietly(link.conn)
        link.conn = None
        link.up_since = None

    # -- notifications ---------------------------------------------------------------------

    def readable(self, link: Link) -> None:
        """``link``'s socket is readable: its notifications to the master, or its loss."""
        if link.conn is None:
            return
        try:
            got = link.conn.notifies()
        except ConnectionLost as exc:
            self.lost(link, one_line(exc))
            return
        for channel, text, pid in got:
            for e in link.entries:
                if e.channel == channel:
                    d = decode(text, e.payload)
                    self.send({"t": wire.NOTIFY, "entry": e.id, "channel": channel, "pid": pid,
                               "payload": d.value, "decode_error": d.error})


def _close_quietly(conn: Conn) -> None:
    try:
        conn.close()
    except Exception:
        pass


# -- psycopg -------------------------------------------------------------------------------


class PsycopgLink:
    """A real connection: psycopg 3, autocommit, no transaction ever open (a listener
    inside a transaction would receive nothing until it ends)."""

    def __init__(self, e: wire.Entry) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        params: dict[str, Any] = {**KEEPALIVES, "application_name": e.application_name}
        params.update(conninfo_to_dict(e.conninfo))
        params["connect_timeout"] = str(max(1, round(e.connect_timeout)))
        if e.password_env is not None:
            password = os.environ.get(e.password_env)
            if password is None:
                raise ConnectionLost(f"the environment variable {e.password_env} "
                                     "(password_env) is not set")
            params["password"] = password
        self._psycopg = psycopg
        self.conn = psycopg.connect(autocommit=True, **params)
        self.backend_pid = self.conn.info.backend_pid
        self.encoding = self.conn.info.encoding
        # what arrives while a command runs (a notification right after a LISTEN) psycopg
        # hands to its handlers, not to libpq's queue that notifies() reads
        self.pending: list[tuple[str, str, int]] = []
        self.conn.add_notify_handler(
            lambda n: self.pending.append((n.channel, n.payload, n.pid)))

    def fileno(self) -> int:
        return self.conn.fileno()

    def listen(self, channel: str) -> None:
        from psycopg import sql
        self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    def notifies(self) -> list[tuple[str, str, int]]:
        pgconn = self.conn.pgconn
        try:
            pgconn.consume_input()
        except self._psycopg.Error as exc:
            raise ConnectionLost(str(exc).removeprefix("consuming input failed: ")) from None
        out, self.pending = self.pending, []
        while (n := pgconn.notifies()) is not None:
            out.append((n.relname.decode(self.encoding, "replace"),
                        n.extra.decode(self.encoding, "replace"), n.be_pid))
        if pgconn.status != self._psycopg.pq.ConnStatus.OK:
            raise ConnectionLost("the connection is broken")
        return out

    def close(self) -> None:
        self.conn.close()


# -- the process ---------------------------------------------------------------------------


class ListenerProcess:
    """The listener's main loop, on the child's channel to the master."""

    def __init__(self, loop: ChildLoop, connect: Connect = PsycopgLink) -> None:
        self.loop = loop
        self.channel = loop.channel
        self.listener = Listener(self.send, connect)

    def send(self, msg: dict[str, Any]) -> None:
        self.channel.send(pack_json(msg))

    def on_frame(self, f: tuple) -> None:
        if f[0] == RUN:   # never a target; answer so the master's books stay right
            self.channel.send(pack(DONE, f[1], DONE_NO_HANDLER, f[3]))
        elif f[0] == JSON:
            msg = f[4]
            if msg.get("t") == wire.SET:
                self.listener.set_entries([wire.Entry.from_wire(d) for d in msg["entries"]])
            else:
                self.loop.on_json(msg)

    def run(self) -> None:
        self.channel.send(pack(READY, 0, 0, os.getpid()))
        self.send({"t": wire.HELLO})
        sock = self.channel.sock
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        # fd -> the connection watched on it (a closed fd leaves epoll by itself, and a new
        # connection may get the same number: it is the connection that is compared)
        watched: dict[int, tuple[Conn, Link]] = {}
        while True:
            while self.channel.deferred:
                self.on_frame(self.channel.deferred.popleft())
            self.listener.attempt_due()
            up = {link.conn.fileno(): (link.conn, link) for link in self.listener.links
                  if link.conn is not None}
            for fd, (conn, _) in list(watched.items()):
                if fd not in up or up[fd][0] is not conn:
                    sel.unregister(fd)
                    del watched[fd]
            for fd, pair in up.items():
                if fd not in watched:
                    sel.register(fd, selectors.EVENT_READ, pair)
                    watched[fd] = pair
            due = self.listener.deadline()
            timeout = None if due is None else max(0.0, due - time.monotonic())
            for key, _ in sel.select(timeout):
                if key.fileobj is sock:
                    for f in self.channel.receive(0.0) or []:
                        self.on_frame(f)
                elif watched.get(key.fd) is key.data:
                    self.listener.readable(key.data[1])


def serve(loop: ChildLoop) -> None:
    """The listener process's main (``Proc(..., runner=RUNNER)``)."""
    ListenerProcess(loop).run()
