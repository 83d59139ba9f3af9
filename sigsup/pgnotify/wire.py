"""The frames between the master and the listener process, and the entries they carry.

master -> listener   {"t": "pg-set", "entries": [Entry.wire(), ...]}   (answers pg-hello)
listener -> master   {"t": "pg-hello"}                                 (at start)
                     {"t": "pg-up", "entries": [id...], "backend_pid": n}
                     {"t": "pg-down", "entries": [id...], "error": str, "retry_in": s,
                      "was_up": bool}           (a lost connection, or an attempt that failed)
                     {"t": "pg-notify", "entry": id, "channel": str, "pid": n,
                      "payload": value, "decode_error": str | None}

No password ever travels: an entry names the environment variable that holds it, and the
listener (a child of the master) reads it from its own environment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigsup.config.schema import PgNotifyConfig

HELLO, SET, UP, DOWN, NOTIFY = "pg-hello", "pg-set", "pg-up", "pg-down", "pg-notify"


@dataclass(frozen=True)
class Entry:
    """One ``[[pgnotify]]`` as the listener needs it."""

    id: int
    conninfo: str
    password_env: str | None
    channel: str
    payload: str
    connect_timeout: float
    reconnect_delay: float
    reconnect_delay_max: float
    application_name: str

    @classmethod
    def of(cls, i: int, cfg: PgNotifyConfig, tree: str) -> Entry:
        return cls(i, cfg.conninfo, cfg.password_env, cfg.channel, cfg.payload,
                   cfg.connect_timeout, cfg.reconnect_delay, cfg.reconnect_delay_max,
                   f"sigsup-{tree}"[:63])

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Entry:
        return cls(int(d["id"]), str(d["conninfo"]),
                   None if d.get("password_env") is None else str(d["password_env"]),
                   str(d["channel"]), str(d["payload"]), float(d["connect_timeout"]),
                   float(d["reconnect_delay"]), float(d["reconnect_delay_max"]),
                   str(d["application_name"]))

    def wire(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def link_key(self) -> tuple[Any, ...]:
        """Entries with the same key share one connection."""
        return (self.conninfo, self.password_env, self.connect_timeout, self.reconnect_delay,
                self.reconnect_delay_max, self.application_name)
