"""[[pgnotify]]: config validation, payload decoding, reconnect backoff on a fake clock."""

from __future__ import annotations

import pytest

from sigsup.config import ConfigError, parse_config
from sigsup.pgnotify.backoff import STABLE, Backoff
from sigsup.pgnotify.listener import ConnectionLost, Listener
from sigsup.pgnotify.payload import decode
from sigsup.pgnotify.wire import Entry

HEAD = '[supervisor]\nname = "t"\nsocket = "/tmp/pgt.sock"\n[workers]\ncount = 1\n'


def problems(body: str, env: dict | None = None) -> str:
    with pytest.raises(ConfigError) as e:
        parse_config(HEAD + body, "/tmp/pgt.toml", env=env or {})
    return str(e.value)


def test_a_valid_entry_is_read() -> None:
    cfg = parse_config(HEAD + '[[pgnotify]]\nhost = "127.0.0.1"\ndbname = "test"\n'
                       'channel = "Orders"\nsignal = 5\non_gap = 6\npayload = "json"\n',
                       "/tmp/pgt.toml", env={})
    (e,) = cfg.pgnotify
    assert (e.channel, e.signal, e.on_gap, e.payload) == ("Orders", 5, 6, "json")
    assert e.conninfo == "host=127.0.0.1 dbname=test"


def test_bad_entries_are_named_by_key() -> None:
    out = problems('[[pgnotify]]\ndsn = "postgresql://u:secret@h/x"\nchannel = "a"\nsignal = 5\n'
                   '[[pgnotify]]\ndsn = "dbname=x"\nhost = "h"\nchannel = ""\nsignal = 300\n'
                   'payload = "xml"\npassword_env = "PGPW_UNSET"\nbogus = 1\n'
                   '[[pgnotify]]\nchannel = "a"\nsignal = 5\n')
    assert "pgnotify[0].dsn: a password does not belong in the config file" in out
    assert "secret" not in out
    assert "pgnotify[1].host: give either dsn or" in out
    assert "pgnotify[1].channel: a channel name cannot be empty" in out
    assert "pgnotify[1].signal: signal numbers are 0..255" in out
    assert "pgnotify[1].payload: must be 'text' or 'json'" in out
    assert "pgnotify[1].password_env: the environment variable PGPW_UNSET is not set" in out
    assert "pgnotify[1].bogus: unknown key" in out
    assert "pgnotify[2]: needs a connection" in out


def test_payloads_decode_or_carry_the_raw_text() -> None:
    assert decode('{"a": [1]}', "json").value == {"a": [1]}
    d = decode("not json", "json")
    assert d.value == "not json" and d.error.startswith("not JSON")
    assert decode('{"a": 1}', "text").value == '{"a": 1}'


def test_backoff_doubles_to_the_maximum_and_resets_after_a_stable_connection() -> None:
    b = Backoff(0.5, 4.0)
    assert [b.next() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert b.lost(1.0) == 4.0            # dropped soon after connecting: no reset
    assert b.lost(STABLE) == 0.5         # stayed up: from the first delay again


class FakeConn:
    backend_pid = 77

    def __init__(self) -> None:
        self.queue: list = []
        self.broken = False

    def fileno(self) -> int:
        return 99

    def listen(self, channel: str) -> None:
        pass

    def notifies(self):
        if self.broken:
            raise ConnectionLost("server closed the connection")
        out, self.queue = self.queue, []
        return out

    def close(self) -> None:
        pass


def test_the_listener_reconnects_with_backoff_on_a_fake_clock() -> None:
    now = [100.0]
    sent: list = []
    fails = [2]
    conns: list[FakeConn] = []

    def connect(e: Entry) -> FakeConn:
        if fails[0]:
            fails[0] -= 1
            raise OSError("connection refused")
        conns.append(FakeConn())
        return conns[-1]

    lis = Listener(sent.append, connect, clock=lambda: now[0])
    lis.set_entries([Entry(0, "dbname=x", None, "c", "json", 5, 0.5, 30, "sigsup-t")])
    lis.attempt_due()
    assert sent[-1]["t"] == "pg-down" and sent[-1]["retry_in"] == 0.5
    now[0] += 0.4
    lis.attempt_due()
    assert len(sent) == 1                      # not yet due
    now[0] += 0.1
    lis.attempt_due()
    assert sent[-1]["retry_in"] == 1.0
    now[0] += 1.0
    lis.attempt_due()
    assert sent[-1] == {"t": "pg-up", "entries": [0], "backend_pid": 77}
    conns[-1].queue.append(("c", '{"k": 1}', 5))
    lis.readable(lis.links[0])
    assert sent[-1]["payload"] == {"k": 1} and sent[-1]["pid"] == 5
    conns[-1].broken = True
    lis.readable(lis.links[0])
    assert sent[-1]["t"] == "pg-down" and sent[-1]["was_up"] and sent[-1]["retry_in"] == 2.0
