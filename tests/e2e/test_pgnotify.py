"""[[pgnotify]] with a real master and the real PostgreSQL: a NOTIFY reaches the handler
with its payload (JSON decoded); a terminated listener backend reconnects and raises on_gap."""

from __future__ import annotations

import uuid

from harness import wait_for
from services import need_postgres


def test_notify_payloads_and_a_reconnect_gap(master_factory):
    dsn = need_postgres()
    import psycopg
    chan = f"sigsup_{uuid.uuid4().hex[:12]}"
    base = dsn.replace(" connect_timeout=3", "")
    m = master_factory(f"""
[workers]
count = 1

[signals.50]
handler = "e2eapp:record_payload"

[signals.51]
handler = "e2eapp:record_payload"

[[pgnotify]]
dsn = "{base}"
channel = "{chan}"
signal = 50
on_gap = 51
payload = "json"
reconnect_delay = 0.1
""")
    entry = wait_for(lambda: next((e for e in m.status().get("pgnotify", [])
                                   if e["connected"]), None), 20, "the listener connected")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"""NOTIFY {chan}, '{{"order": 7}}'""")
        c.execute(f"NOTIFY {chan}, 'not json'")
        recs = m.wait_records(2, 50, "payload")
        assert recs[0]["payload"]["payload"] == {"order": 7}
        assert recs[0]["payload"]["channel"] == chan and recs[0]["payload"]["decode_error"] is None
        assert recs[1]["payload"]["payload"] == "not json" and recs[1]["payload"]["decode_error"]
        c.execute("SELECT pg_terminate_backend(%s)", (entry["backend_pid"],))
        (gap,) = m.wait_records(1, 51, "payload")
        assert gap["payload"]["gap"] is True and gap["payload"]["reconnects"] == 1
    st = wait_for(lambda: next((e for e in m.status()["pgnotify"] if e["connected"]), None),
                  20, "reconnected")
    assert st["notifications"] == 2 and st["decode_errors"] == 1 and st["reconnects"] == 1
    assert st["raised"] == 3 and st["connection_errors"] >= 1
