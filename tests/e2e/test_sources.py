"""Event sources with real processes and real time: timers, rb_timers, a 6-field cron,
file monitors (atomic replace, recursive, waiting for a path, the monitor process dying),
signal_wait (with and without timeout, unregistered signals reaching waiters only) and its
asyncio form, and the examples/ configs as a user starts them.

Periods are short (0.05-0.3 s) and every wait polls with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from harness import APPS

import sigsup

from .sources_helpers import (
    HERE,
    api,
    event,
    events,
    replace_atomically,
    start_example,
    wait_event,
    wait_gone,
)

SUP = {"pythonpath": [str(APPS), str(HERE)]}

TREE = """
[workers]
count = 2

[signals.20]
handler = "sources_helpers:record_time"
target = "worker"

[signals.21]
handler = "e2eapp:record"
target = "worker1"

[signals.22]
handler = "e2eapp:record"
target = "worker1"

[signals.23]
handler = "e2eapp:record"
target = "workers"
"""


# -- timers --------------------------------------------------------------------------------


def test_timer_iterations_real_time(master_factory):
    m = master_factory(TREE + "[[timers]]\nsignal = 20\nseconds = 0.1\niterations = 5\n", sup=SUP)
    recs = m.wait_records(5, 20, timeout=10)
    wait_gone(m, 1)
    assert len(m.records(20)) == 5
    monos = sorted(r["mono"] for r in recs)
    assert monos[-1] - monos[0] >= 0.25, monos           # spread over the periods, no burst
    assert "timer#1 (signal 20, every 0.1 s) removed: 5 iterations done" in m.log()


def test_timer_added_and_removed_at_run_time(master_factory):
    m = master_factory(TREE, sup=SUP)
    with api(m):
        h = sigsup.add_timer(21, 0.05)
        assert isinstance(h, sigsup.EventHandle) and h.kind == "timer" and h.signum == 21
        m.wait_records(3, 21, timeout=10)
        assert h.remove() is True
        assert h.remove() is False                       # already gone
        assert sigsup.remove_event(h.id) is False
    assert event(m, h.id) is None
    # a marker on the same worker after the removal: everything the timer raised before it
    # was removed has run by the time the marker has (one FIFO per process)
    n = len(m.records(21))
    m.request({"cmd": "raise", "signum": 22})
    m.wait_records(1, 22)
    assert len(m.records(21)) == n
    st = m.status()
    assert st["signals"] and m.signal_status(21, st)["raised"] == n


def test_rb_timer_one_shot(master_factory):
    m = master_factory(TREE + "[[rb_timers]]\nsignal = 21\nseconds = 0.3\niterations = 1\n",
                       sup=SUP)
    e = event(m, 1)
    assert e is not None and (e["kind"], e["iterations_left"]) == ("rb_timer", 1)
    m.wait_records(1, 21)
    wait_gone(m, 1)
    m.request({"cmd": "raise", "signum": 22})
    m.wait_records(1, 22)
    assert len(m.records(21)) == 1


def test_timer_from_inside_a_worker_and_status(master_factory):
    m = master_factory(TREE, sup=SUP)
    with api(m):
        h = sigsup.add_rb_timer(23, 0.05, iterations=2)
    recs = m.wait_records(4, 23)                         # 2 fires x 2 workers
    assert sorted(r["name"] for r in recs) == ["worker1", "worker1", "worker2", "worker2"]
    wait_gone(m, h.id)


def test_add_timer_in_a_preload_module(master_factory):
    m = master_factory(TREE, sup={**SUP, "preload": ["sources_helpers"]},
                       env={"E2E_PRELOAD_TIMER": "21"})
    m.wait_records(2, 21)
    wait_gone(m, 1)
    assert "timer#1 added by master: signal 21, every 0.05 s, 2 iterations" in m.log()


# -- crons ---------------------------------------------------------------------------------


def test_six_field_cron_every_second(master_factory):
    m = master_factory(TREE + '[[crons]]\nsignal = 20\nschedule = "* * * * * *"\n'
                              'iterations = 3\ntimezone = "UTC"\n', sup=SUP)
    e = event(m, 1)
    assert e["spec"] == "* * * * * *" and e["timezone"] == "UTC"
    assert e["next_fire"] == int(e["next_fire"])        # on a whole second
    late = wait_event(m, 1, "a first fire", lambda e: e["fired"] >= 1)["late_ms"]
    assert late["max"] < 500                             # fired when the second began
    recs = m.wait_records(3, 20, timeout=10)
    wait_gone(m, 1)
    walls = sorted(r["wall"] for r in recs)
    assert 1.5 <= walls[-1] - walls[0] <= 3.5, walls      # one a second, no burst
    fired = [e for e in m.log().splitlines() if "cron#1" in e]
    assert fired and "removed: 3 iterations done" in fired[-1]


def test_cron_added_at_run_time_in_uwsgi_form(master_factory):
    m = master_factory(TREE, sup=SUP)
    with api(m):
        h = sigsup.add_cron(21, -1, -1, -1, -1, -1, timezone="Europe/Berlin")
        e = event(m, h.id)
        assert e["spec"] == "-1 -1 -1 -1 -1 (uWSGI fields)"
        assert e["timezone"] == "Europe/Berlin"
        assert e["next_fire"] % 60 == 0                  # the next whole minute
        with pytest.raises(sigsup.CommandFailed, match="unknown time zone"):
            sigsup.add_cron(21, "* * * * *", timezone="Mars/Olympus")
        with pytest.raises(sigsup.CommandFailed, match="minute must be 0..59"):
            sigsup.add_cron(21, 75, -1, -1, -1, -1)
        assert h.remove()


# -- file monitors -------------------------------------------------------------------------


def monitor_tree(path: Path, extra: str = "", bdir: Path | None = None) -> str:
    """Monitor 1 (signal 21) on ``path``; monitor 2 (signal 24) on a barrier file in
    ``bdir`` (default: next to ``path``). Both raise to worker1 with the same debounce."""
    barrier = (bdir or path.parent) / "barrier" / "b"
    barrier.parent.mkdir(exist_ok=True)
    barrier.write_text("")
    return (TREE + f'[[monitors]]\nsignal = 21\npath = "{path}"\ndebounce = 0.1\n{extra}'
            f'[signals.24]\nhandler = "e2eapp:record"\ntarget = "worker1"\n'
            f'[[monitors]]\nsignal = 24\npath = "{barrier}"\ndebounce = 0.1\n')


def append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


def wait_watching(m, sid: int = 1) -> dict:
    return wait_event(m, sid, "watching", lambda e: e["state"] == "watching")


def settle(m, sid: int = 1) -> None:
    """No burst of monitor ``sid`` waits for its debounce."""
    wait_event(m, sid, "no pending burst", lambda e: e["next_fire"] is None)


def barrier(m, bdir: Path) -> None:
    """A file event that must come after every earlier one: written after them, raised
    after them (same debounce), run after them (worker1 runs signals in order)."""
    b = bdir / "barrier" / "b"
    n = len(m.records(24))
    b.write_text(str(n))
    m.wait_records(n + 1, 24)


def test_file_monitor_keeps_firing_after_an_atomic_replace(master_factory, tmp_path):
    f = tmp_path / "settings.toml"
    f.write_text("a = 1\n")
    m = master_factory(monitor_tree(f), sup=SUP)
    wait_watching(m)
    wait_watching(m, 2)
    for i, change in enumerate([
            lambda: f.write_text("a = 2\n"),
            lambda: replace_atomically(f, "a = 3\n"),    # uWSGI's watch dies here
            lambda: append(f, "b = 4\n"),                # ... and keeps firing afterwards
            lambda: replace_atomically(f, "a = 5\n")]):
        n = len(m.records(21))
        change()
        m.wait_records(n + 1, 21)
        settle(m)
        assert i < 3 or len(m.records(21)) >= 4
    n = len(m.records(21))
    (tmp_path / "other.txt").write_text("not watched\n")  # same directory, another file
    barrier(m, tmp_path)
    settle(m)
    assert len(m.records(21)) == n


def test_recursive_monitor_watches_new_subdirectories(master_factory, tmp_path):
    d = tmp_path / "tree"
    d.mkdir()
    m = master_factory(monitor_tree(d, "recursive = true\n"), sup=SUP)
    wait_watching(m)
    for i, change in enumerate([lambda: (d / "sub").mkdir(),
                                lambda: (d / "sub" / "deeper").mkdir(),
                                lambda: (d / "sub" / "deeper" / "file.txt").write_text("x")]):
        change()
        m.wait_records(i + 1, 21)
        settle(m)
    assert event(m, 1)["recursive"] is True


def test_non_recursive_monitor_ignores_subdirectories(master_factory, tmp_path):
    d = tmp_path / "flat"
    (d / "sub").mkdir(parents=True)
    m = master_factory(monitor_tree(d), sup=SUP)
    wait_watching(m)
    wait_watching(m, 2)
    (d / "sub" / "inner.txt").write_text("x")            # not a direct child: no event
    barrier(m, tmp_path)
    settle(m)
    assert m.records(21) == []
    (d / "top.txt").write_text("x")                      # a direct child: fires
    m.wait_records(1, 21)


def test_monitor_waits_for_a_missing_path(master_factory, tmp_path):
    target = tmp_path / "later" / "config.ini"
    m = master_factory(monitor_tree(target, "wait_for_path = true\niterations = 2\n", tmp_path),
                       sup=SUP)
    wait_event(m, 1, "waiting", lambda e: e["state"] == "waiting for path")
    target.parent.mkdir()
    target.write_text("x = 1\n")                         # created: fires
    m.wait_records(1, 21)
    wait_watching(m)
    settle(m)
    target.write_text("x = 2\n")                         # modified: fires, last iteration
    m.wait_records(2, 21)
    wait_gone(m, 1)


def test_monitor_event_filter_and_runtime_api(master_factory, tmp_path):
    d = tmp_path / "drop"
    d.mkdir()
    idle = tmp_path / "idle.txt"
    idle.write_text("")
    m = master_factory(monitor_tree(idle), sup=SUP)
    with api(m):
        h = sigsup.add_file_monitor(21, d, events=["created"], debounce=0.1)
        wait_watching(m, h.id)
        (d / "a.txt").write_text("x")                    # created: fires
        m.wait_records(1, 21)
        settle(m, h.id)
        (d / "a.txt").write_text("y")                    # modified: filtered out
        (d / "a.txt").unlink()                           # deleted: filtered out
        barrier(m, tmp_path)
        settle(m, h.id)
        assert len(m.records(21)) == 1
        with pytest.raises(sigsup.CommandFailed, match="does not exist"):
            sigsup.add_file_monitor(21, tmp_path / "missing")
        assert sigsup.remove_event(h)


def test_monitor_process_respawns_and_rearms(master_factory, tmp_path):
    f = tmp_path / "watched.txt"
    f.write_text("0")
    m = master_factory(monitor_tree(f), sup=SUP)
    wait_watching(m)
    first = m.proc_status("monitor")["pid"]
    os.kill(first, signal.SIGKILL)

    def respawned():
        p = m.proc_status("monitor")
        return p if p["pid"] and p["pid"] != first and p["state"] == "running" else None
    m.wait_for(respawned, 10, "the monitor process to be respawned")
    wait_watching(m)
    f.write_text("1")
    m.wait_records(1, 21)
    assert m.proc_status("monitor")["respawns"] == 1


# -- signal_wait -----------------------------------------------------------------------------


WAITER = """
[workers]
count = 2

[mules]
count = 1

[mules.main]
1 = "sources_helpers:waiter"

[signals.30]
handler = "e2eapp:record"
target = "mule1"
"""


def test_signal_wait_with_timeout_returns_none(master_factory):
    m = master_factory(WAITER, sup=SUP, env={"E2E_WAIT_TIMEOUT": "0.2"})
    recs = m.wait_records(2, None, "waited")
    for r in recs[:2]:
        assert r["sig"] is None and r["elapsed"] >= 0.19


def test_signal_wait_any_runs_the_handler_and_returns_the_number(master_factory):
    m = master_factory(WAITER, sup=SUP)
    m.wait_for(lambda: m.proc_status("mule1")["waiting_for"] == -1, 10, "mule1 in signal_wait")
    m.request({"cmd": "raise", "signum": 30})            # registered: its handler runs
    (w,) = m.wait_records(1, 30, "waited")
    assert m.records(30) and w["received"] == 30
    m.request({"cmd": "raise", "signum": 77})            # unregistered: returned, no handler
    m.wait_records(1, 77, "waited")


def test_signal_wait_for_one_number(master_factory):
    m = master_factory(WAITER, sup=SUP, env={"E2E_WAIT_SIGNUM": "60"})
    m.wait_for(lambda: m.proc_status("mule1")["waiting_for"] == 60, 10, "mule1 waiting for 60")
    m.request({"cmd": "raise", "signum": 61})            # unregistered, not what it waits for
    m.request({"cmd": "raise", "signum": 60})
    (w,) = m.wait_records(1, 60, "waited")
    assert w["want"] == 60
    assert m.records(61, "waited") == []
    st = m.status()
    unclaimed = next(p for p in st["pools"] if p["name"] == "signal_wait")
    assert unclaimed["queued"] == 1                      # 61 is kept for a waiter that wants it


def test_unregistered_signals_reach_waiters_only(master_factory):
    m = master_factory(WAITER, sup=SUP)
    m.wait_for(lambda: m.proc_status("mule1")["waiting_for"] == -1, 10, "mule1 in signal_wait")
    for _ in range(5):
        m.request({"cmd": "raise", "signum": 70})
    recs = m.wait_records(5, 70, "waited")
    assert {r["name"] for r in recs} == {"mule1"}
    st = m.status()
    for w in ("worker1", "worker2"):                     # idle, not waiting: never offered one
        p = m.proc_status(w, st)
        assert (p["handled"], p["failed"]) == (0, 0)
    assert m.signal_status(70, st)["handled"] == 5


def test_unregistered_timer_signal_reaches_a_waiter(master_factory):
    """Kept for the waiter while it is busy; a firing that finds one kept merges into it."""
    m = master_factory(WAITER + "[[timers]]\nsignal = 71\nseconds = 0.05\niterations = 4\n",
                       sup=SUP)
    wait_gone(m, 1)
    recs = m.wait_records(1, 71, "waited")

    def accounted():
        st = m.status()
        s = m.signal_status(71, st)
        return s if s["handled"] + s["coalesced"] == 4 else None
    s = m.wait_for(accounted, 10, "every firing handled or merged")
    recs = m.records(71, "waited")
    assert len(recs) == s["handled"] >= 1
    assert {r["name"] for r in recs} == {"mule1"}
    for w in ("worker1", "worker2"):
        assert m.proc_status(w)["handled"] == 0


AIO = """
[workers]
count = 1

[mules]
count = 1

[mules.main]
1 = "sources_helpers:aio_waiter"

[signals.31]
handler = "e2eapp:record"
target = "mule1"
"""


def test_aio_signal_wait_does_not_block_the_event_loop(master_factory):
    m = master_factory(AIO, sup=SUP, env={"E2E_WAIT_TIMEOUT": "30"})
    m.wait_for(lambda: m.proc_status("mule1")["waiting_for"] == -1, 10, "mule1 awaiting")
    m.wait_records(1, None, "ticking")                   # the loop runs while it awaits
    m.request({"cmd": "raise", "signum": 31})
    (a,) = m.wait_records(1, 31, "aio")
    assert m.records(31)                                 # the handler ran
    assert a["ticks"] >= 1                               # the ticker kept running meanwhile


def test_aio_signal_wait_timeout(master_factory):
    m = master_factory(AIO, sup=SUP, env={"E2E_WAIT_TIMEOUT": "0.2"})
    recs = m.wait_records(2, None, "aio")
    for r in recs[:2]:
        assert r["sig"] is None and r["elapsed"] >= 0.19 and r["ticks"] >= 5


# -- status -------------------------------------------------------------------------------


def test_events_in_status_json(master_factory, tmp_path, sigsup_cli):
    f = tmp_path / "f"
    f.write_text("")
    m = master_factory(monitor_tree(f) + "[[timers]]\nsignal = 23\nseconds = 60\n"
                       '[[crons]]\nsignal = 22\nschedule = "0 6 * * *"\ntimezone = "UTC"\n',
                       sup=SUP)
    r = sigsup_cli("status", "--json", "--socket", str(m.sock))
    assert r.returncode == 0, r.stderr
    import json
    evs = json.loads(r.stdout)["events"]
    assert [(e["kind"], e["signal"]) for e in evs] == [("timer", 23), ("cron", 22),
                                                      ("monitor", 21), ("monitor", 24)]
    r = sigsup_cli("status", "--socket", str(m.sock))
    assert r.returncode == 0 and "every 60 s" in r.stdout and "0 6 * * *" in r.stdout
    assert len(events(m)) == 4


# -- examples/: each runs as `sigsup start examples/NAME/sigsup.toml` -------------------------


def test_example_chat(master_factory, tmp_path):
    m = start_example(master_factory, "chat", tmp_path)
    for i in (1, 2, 3):
        m.wait_log(f"member {i}: joined the room")
    env = {**m.env, "SIGSUP_SOCKET": str(m.sock)}
    r = subprocess.run([sys.executable, str(m.dir / "post.py"), "hello, room"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    for i in (1, 2, 3):                                  # every member got it
        m.wait_log(f"member {i} got: hello, room")
    m.wait_for(lambda: all(m.proc_status(f"mule{i}")["waiting_for"] == 30 for i in (1, 2, 3)),
               10, "every member back in signal_wait(30)")


def test_example_cache(master_factory, tmp_path):
    m = start_example(master_factory, "cache", tmp_path)
    for w in (1, 2):
        m.wait_log(f"worker {w}: cache refreshed, version 2", timeout=10)
    (e,) = events(m)
    assert (e["kind"], e["spec"], e["signal"]) == ("timer", "every 2 s", 20)


def test_example_report(master_factory, tmp_path):
    m = start_example(master_factory, "report", tmp_path)
    m.wait_log("report written to report-", timeout=10)
    assert list((m.dir / "run").glob("report-*.txt"))
    (e,) = events(m)
    assert (e["kind"], e["timezone"]) == ("cron", "Europe/Berlin")


def test_example_reloader(master_factory, tmp_path):
    m = start_example(master_factory, "reloader", tmp_path)
    wait_watching(m)
    replace_atomically(m.dir / "settings.toml", 'greeting = "bonjour"\n')
    for w in (1, 2):
        m.wait_log(f"worker {w}: settings reloaded: greeting = 'bonjour'")
    settle(m)
    (m.dir / "settings.toml").write_text('greeting = "hallo"\n')
    for w in (1, 2):
        m.wait_log(f"worker {w}: settings reloaded: greeting = 'hallo'")
