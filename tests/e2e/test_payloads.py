"""Signal payloads end to end: `sigsup raise --payload`, `sigsup.signal(n, payload=...)`,
handlers reading `sigsup.signal_payload()` or taking it as a second argument."""

from __future__ import annotations

import json

TREE = """
[workers]
count = 2

[signals.60]
handler = "e2eapp:record_payload"
target = "workers"

[signals.61]
handler = "e2eapp:record_payload_arg"
target = "worker"

[signals.62]
handler = "e2eapp:raise_with_payload"
target = "worker1"
"""


def test_a_payload_reaches_every_recipient(master_factory):
    m = master_factory(TREE)
    r = m.cli("raise", "60", "--payload-json", '{"key": "users", "ids": [3, 4]}', "--wait")
    assert r.returncode == 0, (r.stdout, r.stderr)
    recs = m.wait_records(2, 60, "payload")
    assert sorted(x["wid"] for x in recs) == [1, 2]
    assert all(x["payload"] == {"key": "users", "ids": [3, 4]} for x in recs)

    assert m.cli("raise", "61", "--payload", "plain text", "--wait").returncode == 0
    (rec,) = m.wait_records(1, 61, "payload")
    assert rec["payload"] == rec["from_api"] == "plain text"

    # no payload: None, in both forms
    assert m.cli("raise", "61", "--wait").returncode == 0
    recs = m.wait_records(2, 61, "payload")
    assert recs[1]["payload"] is None and recs[1]["from_api"] is None


def test_a_worker_raises_with_a_payload(master_factory):
    m = master_factory(TREE)
    assert m.cli("raise", "62", "--wait").returncode == 0
    (raised,) = m.wait_records(1, 62, "raised")
    assert len(raised["recipients"]) == 1
    (rec,) = m.wait_records(1, 61, "payload")
    assert rec["payload"] == {"from": 1, "n": [1, 2]}


def test_a_payload_that_cannot_travel_is_refused(master_factory):
    m = master_factory(TREE)
    r = m.cli("raise", "60", "--payload", "x" * 70_000)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "over the 65536 limit" in r.stderr
    r = m.cli("raise", "60", "--payload-json", "{nope")
    assert r.returncode == 3 and "--payload-json is not JSON" in r.stderr
    reply = m.request({"cmd": "raise", "signum": 60, "payload": "ok", "wait": False})
    assert reply["ok"], reply
    assert json.dumps(reply["result"])   # an ordinary result
