"""Mules end to end: messages to a mule, a farm, any mule; refusals in the sender;
signals while a mule waits for messages; a programmed mule that returns is respawned
with backoff. Handlers and programs: apps/mule_apps.py."""

from __future__ import annotations

import re

import pytest

import sigsup

from .spool_helpers import api, records, wait_records

TREE = """
[workers]
count = 1

[mules]
count = 4
message_handler = "mule_apps:on_msg"

[mules.main]
4 = "mule_apps:collector"

[farms]
f = [2, 3]
g = [4]

[signals.61]
handler = "mule_apps:send_from_worker"
target = "worker"

[signals.62]
handler = "mule_apps:on_signal"
target = "mule4"
"""


def msgs(m, **match):
    return records(m, **match)


def test_messages_to_a_mule_a_farm_any_mule_and_from_a_worker(master_factory):
    m = master_factory(TREE)
    (start,) = wait_records(m, 1, ev="collector-start")
    assert (start["in_farm"], start["in_g"], start["in_f"]) == (True, True, False)
    with api(m):
        assert sigsup.mule_msg("one", 1) > 0
        sigsup.mule_msg(b"\x01\x02", 4)
        for i in range(4):
            sigsup.farm_msg("f", f"farm-{i}")
        for i in range(6):
            sigsup.mule_msg(f"any-{i}")
        sigsup.mule_msg("to-g", "g")
    (one,) = wait_records(m, 1, ev="msg", msg="one")
    assert (one["mule"], one["type"]) == (1, "str")
    (b,) = wait_records(m, 1, ev="got", msg="0102")
    assert (b["mule"], b["type"]) == (4, "bytes")
    wait_records(m, 1, ev="got", msg="to-g")
    m.wait_for(lambda: len([r for r in msgs(m, ev="msg") if r["msg"].startswith("farm-")]) == 4,
               10, "four farm messages")
    assert {r["mule"] for r in msgs(m, ev="msg") if r["msg"].startswith("farm-")} <= {2, 3}
    m.wait_for(lambda: len([r for r in records(m) if str(r.get("msg", "")).startswith("any-")])
               == 6, 10, "six messages to any mule")

    assert m.cli("raise", "61", "--wait").returncode == 0
    wait_records(m, 1, ev="got", msg="from-worker")
    (bb,) = wait_records(m, 1, ev="got", msg="0001")
    assert bb["type"] == "bytes"
    (fw,) = wait_records(m, 1, ev="msg", msg="to-farm-from-worker")
    assert fw["mule"] in (2, 3)

    st = m.status()["messages"]
    assert st["mules"]["mule1"]["received"] >= 1 and st["mules"]["mule4"]["received"] >= 4
    assert st["mules"]["mule4"]["mode"] == "program" and st["mules"]["mule1"]["mode"] == "handler"
    assert st["pools"]["farm:f"]["sent"] == 5 and st["pools"]["mules"]["sent"] == 6
    assert all(p["queued"] == 0 for p in st["pools"].values())


def test_signals_while_waiting_for_messages_unless_signals_false(master_factory):
    m = master_factory(TREE)
    wait_records(m, 1, ev="collector-start")
    assert m.cli("raise", "62", "--wait").returncode == 0      # handled inside mule_get_msg
    (sig,) = wait_records(m, 1, ev="signal")
    assert sig["mule"] == 4
    with api(m):
        sigsup.mule_msg("no-signals", 4)
        wait_records(m, 1, ev="got", msg="no-signals")
        # the collector now waits with signals=False: this signal waits for later
        assert m.request({"cmd": "raise", "signum": 62})["ok"]
        sigsup.mule_msg("after", 4)
    (quiet,) = wait_records(m, 1, ev="quiet-wait")
    assert quiet["got"] == "after"
    sigs = wait_records(m, 2, ev="signal")
    assert sigs[1]["t"] > quiet["t"]


REFUSING = """
[mules]
count = 2

[mules.main]
2 = "mule_apps:sleeper"
"""


def test_full_queues_and_bad_targets_raise_in_the_sender(master_factory):
    m = master_factory(REFUSING, sup={"queue_size": 3})
    wait_records(m, 1, ev="sleeper-start")
    with api(m):
        for i in range(3):
            sigsup.mule_msg(f"m{i}", 2)                       # the program never asks
        with pytest.raises(sigsup.MessageRefused, match="mule2 is full"):
            sigsup.mule_msg("one too many", 2)
        for i in range(3):
            sigsup.mule_msg(f"any{i}")                        # nobody asks: they wait
        with pytest.raises(sigsup.MessageRefused, match="mules is full"):
            sigsup.mule_msg("one too many")
        with pytest.raises(sigsup.MessageRefused, match="no mule 9"):
            sigsup.mule_msg("x", 9)
        with pytest.raises(sigsup.MessageRefused, match="no farm named 'nope'"):
            sigsup.farm_msg("nope", "x")
        with pytest.raises(ValueError, match="at most 65536 bytes"):
            sigsup.mule_msg(b"x" * (64 * 1024 + 1), 1)
        with pytest.raises(TypeError, match="bytes or str"):
            sigsup.mule_msg(42, 1)  # type: ignore[arg-type]
    st = m.status()["messages"]
    assert st["mules"]["mule2"]["queued"] == 3 and st["pools"]["mules"]["queued"] == 3
    assert st["refused"] == 4


RESPAWN = """
[mules]
count = 1

[mules.main]
1 = "mule_apps:returns_at_once"
"""


def test_a_programmed_mule_that_returns_is_respawned_with_backoff(master_factory):
    m = master_factory(RESPAWN, sup={"respawn_delay": 0.1, "respawn_delay_max": 5.0,
                                     "failure_limit": 20, "failure_window": 60.0}, start=False)
    m.start(wait=False)
    runs = wait_records(m, 4, ev="program-ran", timeout=15)
    # the master's delays double: 0.1, 0.2, 0.4 s (deaths inside failure_window)
    delays = re.findall(r"mule1 \[\d+\] returned \(exit code 0\); respawning in ([\d.]+) s",
                        m.wait_log("respawning in 0.4 s"))
    assert delays[:3] == ["0.1", "0.2", "0.4"], delays
    # and the program really ran again no sooner (process start-up only adds to a gap)
    gaps = [b["mono"] - a["mono"] for a, b in zip(runs, runs[1:4], strict=False)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4, gaps
    assert m.proc_status("mule1")["respawns"] >= 3
