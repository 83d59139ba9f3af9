"""The scheduler in a real master loop, with a fake OS seam and a fake clock.

No process is forked and nothing sleeps: each child (workers, the monitor process) is the
test holding the other end of a socketpair (tests/unit/fakes.py), and time moves only when
the test advances the fake clock (monotonic and wall clock together).
"""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sigsup.routing.states import ProcState
from sigsup.sources.scheduler import MONITOR_RUNNER, Scheduler

from .fakes import (
    LoopHarness,
    harness_factory,
    make_config,
    wake,
)

BERLIN = ZoneInfo("Europe/Berlin")

TREE = """
[workers]
count = 2

[signals.26]
handler = "h:tick"
target = "worker"

[signals.27]
handler = "h:tick"
target = "workers"
"""


class H(LoopHarness):
    """The loop harness, with the scheduler's view."""

    @property
    def sched(self) -> Scheduler:
        ext = self.master.extension("events")
        assert isinstance(ext, Scheduler)
        return ext

    def walk(self, seconds: float, step: float) -> None:
        """Let time pass in small steps, the loop turning at each one."""
        n = round(seconds / step)
        for _ in range(n):
            self.advance(step)

    def event(self, sid: int) -> dict:
        return next(e for e in self.sched.status() if e["id"] == sid)

    def runs(self, *names: str) -> list[tuple[str, int]]:
        out = []
        for name in names or ("worker1", "worker2"):
            out += [(name, sig) for sig, _ in self.child(name).runs()]
        return out


@pytest.fixture
def make():
    with harness_factory(H) as new:
        def factory(body: str = "", supervisor: str = "", *, start: bool = True,
                    wall: float | None = None, sock_dir: Path | None = None,
                    tree: str = TREE) -> H:
            return new(tree + body, supervisor, start=start, wall=wall, sock_dir=sock_dir)

        yield factory


def berlin(*args: int, fold: int = 0) -> float:
    return datetime(*args, tzinfo=BERLIN, fold=fold).timestamp()


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, BERLIN).isoformat()


# -- timers --------------------------------------------------------------------------------


def test_a_timer_fires_on_its_deadlines_and_the_loop_sleeps_until_them(make) -> None:
    h = make("[[timers]]\nsignal = 26\nseconds = 2.0\n")
    h.ready()
    now = h.fake.clock.mono
    assert h.master._timeout(now) == pytest.approx(1.0)   # the loop's 1 s cap
    h.advance(1.5)
    assert h.master._timeout(h.fake.clock.mono) == pytest.approx(0.5)
    assert h.runs() == []
    h.advance(0.5)
    assert h.runs() == [("worker1", 26)]
    ev = h.event(1)
    assert (ev["kind"], ev["signal"], ev["spec"], ev["fired"], ev["missed"]) == \
        ("timer", 26, "every 2 s", 1, 0)
    assert ev["iterations_left"] is None
    assert ev["next_fire"] == pytest.approx(h.fake.clock.wall + 2.0)


def test_iterations_then_the_timer_removes_itself(make) -> None:
    h = make("[[timers]]\nsignal = 27\nseconds = 0.5\niterations = 3\n")
    h.ready()
    h.walk(3.0, 0.25)
    assert sorted(h.runs()) == sorted([("worker1", 27), ("worker2", 27)] * 3)
    assert h.sched.status() == []
    assert "timer#1 (signal 27, every 0.5 s) removed: 3 iterations done" in h.log()


def test_rb_timer_one_shot(make) -> None:
    h = make("[[rb_timers]]\nsignal = 26\nseconds = 40\niterations = 1\n")
    h.ready()
    h.advance(39.9)
    assert h.runs() == []
    assert h.event(1)["kind"] == "rb_timer" and h.event(1)["iterations_left"] == 1
    h.advance(0.1)
    assert h.runs() == [("worker1", 26)]
    h.advance(40)
    assert h.runs() == []
    assert h.sched.status() == []


def test_a_blocked_master_fires_once_and_counts_missed(make) -> None:
    h = make("[[timers]]\nsignal = 26\nseconds = 1.0\n")
    h.ready()
    h.advance(1.0)
    assert len(h.runs()) == 1
    h.advance(4.5)                 # blocked: deadlines 2, 3, 4, 5 passed
    assert len(h.runs()) == 1      # one fire, no burst
    ev = h.event(1)
    assert (ev["fired"], ev["missed"]) == (2, 3)
    assert "the master was blocked for 3 periods; fired once each time, counted 3 missed" in h.log()
    h.advance(0.5)                 # the next deadline is 6.0, still on the original grid
    assert len(h.runs()) == 1


def test_late_wakeups_do_not_drift(make) -> None:
    h = make("[[timers]]\nsignal = 26\nseconds = 0.1\n")
    h.ready()
    anchor = h.sched.sources[1].periodic.anchor
    for _ in range(1000):          # every wake-up 7 ms late
        t = h.sched.sources[1].periodic.deadline
        h.fake.clock.mono = t + 0.007
        h.fake.clock.wall += 0.1
        h.step()
        for name in ("worker1", "worker2"):
            for sig, rid in h.child(name).runs():
                h.child(name).done(sig, rid)
    src = h.sched.sources[1]
    assert src.fired == 1000 and src.missed == 0
    assert src.periodic.deadline == pytest.approx(anchor + 1001 * 0.1, abs=1e-9)
    assert h.event(1)["late_ms"]["p50"] == pytest.approx(7.0, abs=0.01)


def test_timer_signals_coalesce_when_the_last_one_is_still_queued(make) -> None:
    h = make("[[timers]]\nsignal = 26\nseconds = 1.0\n", "window = 1\n")
    h.ready("worker1")             # worker2 never becomes ready; worker1 never answers
    h.walk(6.0, 1.0)
    assert h.runs("worker1") == [("worker1", 26)]           # one in flight...
    assert h.master.router.pools["workers"].pending_count == {26: 1}   # ...one queued
    ev = h.event(1)
    assert (ev["fired"], ev["coalesced"], ev["refused"]) == (6, 4, 0)
    assert h.master.table[26].counters.coalesced == 4


def test_timers_added_before_start_count_from_start(make) -> None:
    h = make("[[timers]]\nsignal = 26\nseconds = 1.0\n", start=False)
    h.fake.clock.advance(30)      # a slow preload
    h.master.start()
    h.ready()
    h.advance(1.0)
    assert len(h.runs()) == 1
    assert h.event(1)["missed"] == 0


# -- crons with a fake clock ---------------------------------------------------------------


def test_cron_across_the_spring_gap(make) -> None:
    h = make('[[crons]]\nsignal = 26\nschedule = "*/30 * * * *"\ntimezone = "Europe/Berlin"\n',
             wall=berlin(2026, 3, 29, 0, 50))
    h.ready()
    fired = []
    for _ in range(int(2 * 3600 / 20)):        # 2 h of real time: 00:50 -> 03:50 local
        h.advance(20)
        if h.runs():
            fired.append(local(h.sched.sources[1].last_fire)[:16])
    assert fired == ["2026-03-29T01:00", "2026-03-29T01:30", "2026-03-29T03:00",
                     "2026-03-29T03:30"]
    assert h.event(1)["missed"] == 0


def test_cron_across_the_fall_repeat(make) -> None:
    h = make('[[crons]]\nsignal = 26\nschedule = "30 2 * * *"\ntimezone = "Europe/Berlin"\n',
             wall=berlin(2026, 10, 25, 1, 0))
    h.ready()
    fired = []
    for _ in range(int(4 * 3600 / 30)):        # 01:00 CEST -> 04:00 CET (5 h of real time)
        h.advance(30)
        if h.runs():
            fired.append(local(h.sched.sources[1].last_fire)[:22])
    assert fired == ["2026-10-25T02:30:00+02"]   # once: on the first pass of 02:30
    assert local(h.event(1)["next_fire"]) == "2026-10-26T02:30:00+01:00"


def test_cron_misfire_within_the_grace_runs_late_once(make) -> None:
    h = make('[[crons]]\nsignal = 26\nschedule = "* * * * *"\ntimezone = "UTC"\n',
             wall=1_800_000_000.0)    # a whole minute: 2027-01-15T08:00:00Z
    h.ready()
    h.advance(60)
    assert len(h.runs()) == 1
    h.advance(185)                 # blocked past 3 scheduled minutes (+ the 4th is due)
    assert len(h.runs()) == 1
    ev = h.event(1)
    assert (ev["fired"], ev["missed"]) == (2, 2)
    assert "2 scheduled runs missed; ran once, 5.0 s late" in h.log()


def test_cron_misfire_beyond_the_grace_is_skipped_and_counted(make) -> None:
    h = make('[[crons]]\nsignal = 26\nschedule = "0 * * * *"\ntimezone = "UTC"\n'
             'misfire_grace = 10\n', wall=1_800_000_000.0)
    h.ready()
    h.advance(3600 + 30)           # the 09:00 run is 30 s late: beyond a 10 s grace
    assert h.runs() == []
    ev = h.event(1)
    assert (ev["fired"], ev["missed"]) == (0, 1)
    assert "skipped" in h.log()


def test_cron_wall_clock_jump_forward(make) -> None:
    h = make('[[crons]]\nsignal = 26\nschedule = "* * * * * *"\ntimezone = "UTC"\n',
             wall=1_800_000_000.0)
    h.ready()
    h.advance(1.0)
    assert len(h.runs()) == 1
    h.fake.clock.wall += 3600      # NTP step: an hour forward, monotonic unchanged
    h.step()
    assert len(h.runs()) == 1      # the latest second runs once; the hour is counted missed
    assert h.event(1)["missed"] == 1000   # counted up to the catch-up bound


def test_cron_wall_clock_jump_back_never_refires(make) -> None:
    h = make('[[crons]]\nsignal = 26\nschedule = "* * * * *"\ntimezone = "UTC"\n',
             wall=1_800_000_000.0)
    h.ready()
    h.advance(60)
    assert len(h.runs()) == 1
    h.fake.clock.wall -= 600       # ten minutes back
    h.walk(600, 30)
    assert h.runs() == []          # 08:01 is the next instant, in 11 minutes of wall time
    h.walk(60, 30)
    assert len(h.runs()) == 1


def test_cron_uwsgi_fields(make) -> None:
    h = make("[[crons]]\nsignal = 26\nminute = -15\ntimezone = \"UTC\"\n",
             wall=1_800_000_000.0 + 60)
    h.ready()
    assert h.event(1)["spec"] == "-15 -1 -1 -1 -1 (uWSGI fields)"
    h.walk(15 * 60, 60)
    assert len(h.runs()) == 1
    assert h.sched.sources[1].last_fire == pytest.approx(1_800_000_000.0 + 900)


def test_cron_state_survives_a_restart(make) -> None:
    """Runs missed while the master was down go through the misfire policy."""
    body = '[[crons]]\nsignal = 26\nschedule = "0 * * * *"\ntimezone = "UTC"\n'
    h = make(body, wall=1_800_000_000.0)
    h.ready()
    h.advance(3600)
    assert len(h.runs()) == 1
    h.master.close()
    assert (h.sock_dir / "m.sock.crons.json").exists()
    # down for 3 h 20 s: 3 hourly runs were due; the latest is 20 s old (grace 60 s)
    h2 = make(body, wall=1_800_000_000.0 + 3600 * 4 + 20, sock_dir=h.sock_dir)
    h2.ready()
    h2.step()
    assert len(h2.runs()) == 1
    assert (h2.event(1)["fired"], h2.event(1)["missed"]) == (1, 2)


# -- signals nobody registered: to signal_wait callers only -------------------------------


def test_unregistered_timer_signal_goes_to_the_waiter_only(make) -> None:
    h = make("[[timers]]\nsignal = 50\nseconds = 1.0\n")
    h.ready()
    h.child("worker2").json({"t": "wait", "signum": -1})
    h.step()
    h.advance(1.0)
    assert h.runs() == [("worker2", 50)]
    # nobody waits now: the next one is kept for a waiter, later ones merge into it
    h.advance(1.0)
    h.advance(1.0)
    h.advance(1.0)
    assert h.runs() == []
    assert len(h.master.router.unclaimed.queue) == 1
    assert h.event(1)["coalesced"] == 2
    h.child("worker1").json({"t": "wait", "signum": 50})
    h.step()
    assert h.runs() == [("worker1", 50)]


# -- run-time commands -----------------------------------------------------------------------


def test_add_list_remove(make) -> None:
    h = make()
    h.ready()
    r = h.cmd(cmd="add_timer", signum=26, seconds=0.25, iterations=0)
    assert r["ok"] and r["kind"] == "timer" and r["event"]["origin"] == "runtime (test)"
    tid = r["id"]
    r = h.cmd(cmd="add_rb_timer", signum=26, seconds=5, iterations=1)
    assert r["ok"] and r["kind"] == "rb_timer"
    r = h.cmd(cmd="add_cron", signum=27, schedule="*/5 * * * * *", timezone="UTC")
    assert r["ok"] and r["event"]["spec"] == "*/5 * * * * *"
    r = h.cmd(cmd="add_cron", signum=27, fields=[-1, None, -1, -1, -1])
    assert r["ok"] and r["event"]["spec"] == "-1 -1 -1 -1 -1 (uWSGI fields)"
    listed = h.cmd(cmd="list_events")["events"]
    assert [e["kind"] for e in listed] == ["timer", "rb_timer", "cron", "cron"]
    h.advance(0.25)
    assert h.runs() == [("worker1", 26)]
    assert h.cmd(cmd="remove_event", id=tid) == {"ok": True, "removed": True}
    assert h.cmd(cmd="remove_event", id=tid) == {"ok": True, "removed": False}
    h.advance(0.25)
    assert h.runs() == []
    assert len(h.cmd(cmd="list_events")["events"]) == 3


@pytest.mark.parametrize("msg, error", [
    ({"cmd": "add_timer", "signum": 26, "seconds": 0}, "seconds must be at least 0.01"),
    ({"cmd": "add_timer", "signum": 26, "seconds": -1}, "seconds must be at least 0.01"),
    ({"cmd": "add_timer", "signum": 26}, "missing field 'seconds'"),
    ({"cmd": "add_timer", "signum": 256, "seconds": 1}, "signal 256 is out of range"),
    ({"cmd": "add_timer", "signum": 26, "seconds": True}, "seconds must be a number"),
    ({"cmd": "add_timer", "signum": 26, "seconds": 1, "iterations": -2},
     "iterations must be at least 0"),
    ({"cmd": "add_cron", "signum": 26, "schedule": "* * *"}, "has 3"),
    ({"cmd": "add_cron", "signum": 26, "schedule": "* * * * *", "timezone": "Nope/Nowhere"},
     "unknown time zone"),
    ({"cmd": "add_cron", "signum": 26, "fields": [75, -1, -1, -1, -1]}, "minute must be 0..59"),
    ({"cmd": "add_cron", "signum": 26}, "missing schedule"),
    ({"cmd": "add_file_monitor", "signum": 26, "path": "/no/such/path/here"},
     "does not exist (pass wait_for_path=True"),
    ({"cmd": "add_file_monitor", "signum": 26, "path": "/tmp", "events": ["touched"]},
     "unknown event 'touched'"),
    ({"cmd": "remove_event", "id": "x"}, "id must be an event id"),
])
def test_bad_requests_name_the_field(make, msg: dict, error: str) -> None:
    h = make()
    reply = h.master.commands.execute(msg, "test")
    assert reply["ok"] is False
    assert error in reply["error"]


def test_no_waiter_possible(make) -> None:
    h = make(tree="[workers]\ncount = 0\n")
    reply = h.master.commands.execute({"cmd": "add_timer", "signum": 99, "seconds": 1}, "t")
    assert not reply["ok"] and "no table entry, and no worker, mule or spooler" in reply["error"]
    h = make()      # workers could wait for it
    reply = h.master.commands.execute({"cmd": "add_timer", "signum": 99, "seconds": 1}, "t")
    assert reply["ok"]


# -- file monitors: the master's side, the monitor process played by the test ---------------


def monitor_body(path: Path, extra: str = "") -> str:
    return f'[[monitors]]\nsignal = 26\npath = "{path}"\n{extra}'


def test_the_monitor_process_is_spawned_and_armed(make, tmp_path: Path) -> None:
    h = make(monitor_body(tmp_path, "recursive = true\n"))
    assert [p.name for p in h.master.procs][-1] == "monitor"
    mon = h.proc("monitor")
    assert mon.runner == MONITOR_RUNNER and mon.groups == () and mon.pid
    h.ready()
    child = h.child("monitor")
    child.json({"t": "fs-hello"})
    h.step()
    msgs = child.jsons()
    assert msgs == [{"t": "fs-set", "monitors": [{
        "id": 1, "path": str(tmp_path), "recursive": True,
        "events": ["created", "modified", "deleted", "moved"], "wait_for_path": False}]}]
    child.json({"t": "fs-state", "monitor": 1, "state": "watching", "error": None})
    h.step()
    assert h.event(1)["state"] == "watching"


def test_a_burst_of_file_events_raises_one_signal_after_the_debounce(make, tmp_path) -> None:
    h = make(monitor_body(tmp_path, "debounce = 0.2\n"))
    h.ready()
    child = h.child("monitor")
    child.json({"t": "fs-hello"})
    h.step()
    for _ in range(5):             # 5 events, 0.05 s apart: one burst
        child.json({"t": "fs", "monitor": 1, "n": 3})
        h.advance(0.05)
    assert h.runs() == []
    h.advance(0.1)
    assert h.runs() == []
    h.advance(0.1)                 # 0.2 s after the last event
    assert h.runs() == [("worker1", 26)]
    ev = h.event(1)
    assert (ev["fired"], ev["file_events"]) == (1, 15)


def test_a_never_ending_burst_still_raises(make, tmp_path) -> None:
    h = make(monitor_body(tmp_path, "debounce = 0.1\n"))
    h.ready()
    child = h.child("monitor")
    for _ in range(30):            # an event every 0.05 s for 1.5 s
        child.json({"t": "fs", "monitor": 1})
        h.advance(0.05)
    assert 1 <= len(h.runs()) <= 2   # capped at 10 x debounce after the burst began


def test_monitor_iterations_and_removal_reach_the_monitor_process(make, tmp_path) -> None:
    h = make(monitor_body(tmp_path, "debounce = 0\niterations = 1\n"))
    h.ready()
    child = h.child("monitor")
    child.json({"t": "fs-hello"})
    h.step()
    child.jsons()
    child.json({"t": "fs", "monitor": 1})
    h.step()
    h.step()
    assert h.runs() == [("worker1", 26)]
    assert child.jsons() == [{"t": "fs-del", "id": 1}]
    assert h.sched.status() == []
    r = h.cmd(cmd="add_file_monitor", signum=26, path=str(tmp_path / "later"),
              wait_for_path=True, events=["created"])
    assert r["ok"]
    assert child.jsons() == [{"t": "fs-add", "monitor": {
        "id": r["id"], "path": str(tmp_path / "later"), "recursive": False,
        "events": ["created"], "wait_for_path": True}}]


def test_a_dead_monitor_process_is_respawned_and_rearmed(make, tmp_path) -> None:
    h = make(monitor_body(tmp_path))
    h.ready()
    first = h.proc("monitor").pid
    h.child("monitor").json({"t": "fs-hello"})
    h.step()
    h.fake.exit(first, sig=signal.SIGKILL)
    wake(h.master)
    h.step()
    assert h.proc("monitor").state is ProcState.BACKOFF
    assert h.event(1)["state"] == "re-arming"
    h.advance(1.0)
    second = h.proc("monitor").pid
    assert second and second != first
    child = h.child("monitor")
    child.ready()
    child.json({"t": "fs-hello"})
    h.step()
    assert [m["t"] for m in child.jsons()] == ["fs-set"]


def test_a_monitor_added_at_run_time_spawns_the_monitor_process(make, tmp_path) -> None:
    h = make()
    h.ready()
    assert all(p.name != "monitor" for p in h.master.procs)
    r = h.cmd(cmd="add_file_monitor", signum=26, path=str(tmp_path))
    assert r["ok"]
    mon = h.proc("monitor")
    assert mon.pid and mon.state is ProcState.STARTING
    assert len([p for p in h.fake.spawned if p == mon.pid]) == 1


def test_monitor_errors_are_logged_and_shown(make, tmp_path) -> None:
    h = make(monitor_body(tmp_path))
    h.ready()
    msg = ("cannot watch /x: the inotify watches limit is reached (fs.inotify.max_user_watches"
           " = 8192); raise it with `sudo sysctl fs.inotify.max_user_watches=524288`")
    h.child("monitor").json({"t": "fs-state", "monitor": 1, "state": "error", "error": msg})
    h.step()
    assert h.event(1)["state"] == "error" and h.event(1)["error"] == msg
    assert msg in h.log()


def test_fs_frames_from_other_children_are_protocol_errors(make, tmp_path) -> None:
    h = make(monitor_body(tmp_path))
    h.ready()
    h.child("worker1").json({"t": "fs", "monitor": 1})
    h.step()
    assert h.master.errors == 1     # only the monitor process may send file events


def test_status_document_lists_every_source(make, tmp_path) -> None:
    from sigsup.status.model import build_status
    h = make("[[timers]]\nsignal = 26\nseconds = 2\n"
             "[[crons]]\nsignal = 27\nschedule = \"@hourly\"\ntimezone = \"UTC\"\n"
             + monitor_body(tmp_path))
    st = build_status(h.master)
    kinds = [(e["kind"], e["id"], e["signal"]) for e in st["events"]]
    assert kinds == [("timer", 1, 26), ("cron", 2, 27), ("monitor", 3, 26)]
    for e in st["events"]:
        for key in ("kind", "id", "signal", "spec", "next_fire", "fired", "coalesced", "missed",
                    "iterations_left"):
            assert key in e


# -- load-time checks of the sources (sigsup check) -----------------------------------------


def test_config_refuses_a_signal_nobody_could_receive(tmp_path) -> None:
    from sigsup.config import ConfigError
    with pytest.raises(ConfigError) as exc:
        make_config("[workers]\ncount = 0\n[[timers]]\nsignal = 5\nseconds = 1\n", tmp_path)
    assert "timers[0].signal: signal 5 has no table entry ([signals.5]), and no worker" in str(exc.value)
    # with a worker, an unregistered signal is fine: it goes to signal_wait callers
    make_config("[workers]\ncount = 1\n[[timers]]\nsignal = 5\nseconds = 1\n", tmp_path)


def test_config_refuses_uwsgi_fields_that_never_match(tmp_path) -> None:
    from sigsup.config import ConfigError
    with pytest.raises(ConfigError) as exc:
        make_config("[[crons]]\nsignal = 5\nday = 31\nmonth = 2\n", tmp_path)
    assert "crons[0]: uWSGI cron fields -1 -1 31 2 -1 never match a date" in str(exc.value)


def test_limit_message_names_the_sysctl() -> None:
    import errno

    from sigsup.sources.filemon import limit_message
    msg = limit_message(OSError(errno.ENOSPC, "inotify watch limit reached"), "/srv/app")
    assert msg.startswith("cannot watch /srv/app: the inotify watches limit is reached "
                          "(fs.inotify.max_user_watches = ")
    assert "sudo sysctl fs.inotify.max_user_watches=524288" in msg
    msg = limit_message(OSError(errno.EMFILE, "inotify instance limit reached"), "/srv/app")
    assert "fs.inotify.max_user_instances" in msg
    assert limit_message(OSError(errno.EACCES, "Permission denied"), "/x") == \
        "cannot watch /x: Permission denied"


def test_missed_period_warnings_are_rate_limited(make) -> None:
    h = make("[[timers]]\nsignal = 26\nseconds = 0.1\n")
    h.ready()
    for _ in range(50):            # blocked for 3 periods, 50 times in 20 s
        h.advance(0.4)
        for name in ("worker1", "worker2"):
            for sig, rid in h.child(name).runs():
                h.child(name).done(sig, rid)
    assert h.log().count("the master was blocked") == 1
    assert 140 <= h.event(1)["missed"] <= 150   # (float edges: 3 a time, give or take one)
    h.advance(60)
    assert h.log().count("the master was blocked") == 2
    assert "in all, since the last warning" in h.log()
