"""sigsup reload on the fake-OS loop: the command, the restarts (all at once, rolling,
workers only), what is kept (queued signals, timers' phase, crons' next run), what is
refused (a broken config, a change that needs a restart, a second reload), SIGHUP, and the
pure parts (restart steps, the application's modules).

The config is written to the harness's directory (the reload reads it from there) with a
handler module of its own name next to it (``pythonpath = ["."]``), so the reload's
imports are real.
"""

from __future__ import annotations

import signal
import sys
import textwrap
import types
from pathlib import Path

import pytest
from trees import POLICY

from sigsup.reload import modules
from sigsup.routing.states import ProcState

from .fakes import LoopHarness, harness_factory, short_socket_dir, wake

TREE = """
[workers]
count = 2

[mules]
count = 1

[signals.17]
handler = "{mod}:on_change"
target = "worker"

[signals.18]
handler = "{mod}:everyone"
target = "workers"

[[timers]]
signal = 17
seconds = 5
"""

APP = "def on_change(n):\n    pass\n\ndef everyone(n):\n    pass\n\ndef other(n):\n    pass\n"
SUP = 'pythonpath = ["."]\n' + POLICY


class ReloadHarness(LoopHarness):
    events: list[dict]

    @property
    def mod(self) -> str:
        return self.sock_dir.name

    def write(self, body: str, supervisor: str = SUP) -> None:
        """The config file the next reload reads (as the harness's make_config writes it)."""
        head = (f'[supervisor]\nname = "t"\nsocket = "{self.sock_dir}/m.sock"\n'
                f'{textwrap.dedent(supervisor)}\n')
        (self.sock_dir / "sigsup.toml").write_text(
            head + textwrap.dedent(body).replace("{mod}", self.mod))

    def reload(self, **msg) -> dict:
        return self.cmd(cmd="reload", **msg)

    def live(self, *kinds: str) -> dict[str, int]:
        return {p.name: p.pid for p in self.master.procs if p.kind in kinds and p.pid}

    def replace(self, name: str) -> None:
        """``name`` got SIGTERM: it exits cleanly, its successor starts and is ready."""
        self.exit(name, code=0)
        self.ready(name)

    def phases(self) -> list[str]:
        return [e["phase"] for e in self.events if e["event"] == "reload"]


@pytest.fixture
def make():
    made: list[Path] = []
    with harness_factory(ReloadHarness) as new:
        def factory(body: str = TREE, supervisor: str = SUP) -> ReloadHarness:
            d = short_socket_dir()
            made.append(d)
            (d / f"{d.name}.py").write_text(APP)
            h = new(body.replace("{mod}", d.name), supervisor, sock_dir=d)
            h.write(body, supervisor)
            h.events = []
            h.master.listen(lambda kind, e: h.events.append(e))
            h.ready()
            return h
        yield factory
    for d in made:
        sys.modules.pop(d.name, None)
        while str(d) in sys.path:
            sys.path.remove(str(d))


def test_reload_restarts_every_process_and_queued_signals_wait_for_successors(make) -> None:
    h = make(supervisor=SUP + "window = 1\n")
    ids = [h.raise_(18)["result"]["id"] for _ in range(2)]     # each worker: 1 running, 1 queued
    before = h.live("worker", "mule")
    reply = h.reload()
    assert reply["ok"], reply
    assert reply["lines"] == ["no changes in the config"]
    assert reply["restarting"] == ["worker1", "worker2", "mule1"]
    assert sorted(h.fake.kills) == sorted((pid, signal.SIGTERM) for pid in before.values())
    assert h.phases() == ["begin"]
    assert h.master.extensions_status()["reload"]["in_progress"] is True
    # the running handlers finish, the processes leave; their queued copies wait for them
    for name in ("worker1", "worker2"):
        h.child(name).done(18, ids[0])
        h.step()
        h.replace(name)
        assert [r for r in h.child(name).runs()] == [(18, ids[1])]
    assert h.phases() == ["begin"]            # mule1 is still restarting
    h.replace("mule1")
    assert h.phases() == ["begin", "done"]
    st = h.master.extensions_status()["reload"]
    assert (st["done"], st["refused"], st["in_progress"]) == (1, 0, False)
    assert [p["result"].split(" [")[0] for p in st["last"]["processes"]] == ["restarted"] * 3
    c = h.counters(18)
    assert (c["raised"], c["handled"], c["failed"], c["dropped"]) == (2, 2, 0, 0)
    assert all(p.pid != before[p.name] for p in h.master.procs)


def test_rolling_restarts_one_process_at_a_time(make) -> None:
    h = make()
    before = h.live("worker", "mule")
    assert h.reload(rolling=True)["ok"]
    assert h.fake.kills == [(before["worker1"], signal.SIGTERM)]
    h.exit("worker1", code=0)
    assert h.fake.kills == [(before["worker1"], signal.SIGTERM)]   # not before it is ready
    assert h.proc("worker2").state is ProcState.RUNNING            # the pool is never empty
    h.ready("worker1")
    assert h.fake.kills[-1] == (before["worker2"], signal.SIGTERM)
    h.replace("worker2")
    assert h.fake.kills[-1] == (before["mule1"], signal.SIGTERM)
    h.replace("mule1")
    assert h.phases() == ["begin", "done"]


def test_workers_only_leaves_the_mules_running(make) -> None:
    h = make()
    mule = h.proc("mule1").pid
    reply = h.reload(workers_only=True)
    assert reply["restarting"] == ["worker1", "worker2"]
    assert h.fake.kills_of(mule) == []


def test_a_config_with_problems_is_refused_and_nothing_changes(make) -> None:
    h = make()
    h.write(TREE.replace("count = 2", "count = 3") + "\nbogus = 1\n")
    before = h.live("worker", "mule")
    reply = h.reload()
    assert not reply["ok"] and reply["refused"]
    assert "the config has problems; nothing changed" in reply["error"]
    assert "bogus: unknown key" in reply["error"]
    assert h.fake.kills == [] and h.live("worker", "mule") == before
    assert h.phases() == ["refused"]
    st = h.master.extensions_status()["reload"]
    assert (st["done"], st["refused"], st["last"]["outcome"]) == (0, 1, "refused")
    assert "reload requested by test refused" in h.log()






def test_a_change_that_needs_a_restart_is_refused_whole(make) -> None:
    h = make()
    h.write(TREE.replace("count = 1", "count = 2").replace("count = 2\n\n[mules]",
                                                           "count = 3\n\n[mules]"))
    reply = h.reload()
    assert not reply["ok"] and "mules and farms changed" in reply["error"]
    assert len(h.master.procs) == 3 and h.fake.kills == []




def test_signals_queued_for_an_entry_that_left_the_config_are_dropped_and_counted(make) -> None:
    h = make(supervisor=SUP + "window = 1\n")
    for _ in range(3):
        h.raise_(17)               # worker1 and worker2 run one each, one waits in the pool
    h.write(TREE.replace('[signals.17]\nhandler = "{mod}:on_change"\ntarget = "worker"\n', "")
            .replace("signal = 17", "signal = 18"))
    reply = h.reload()
    assert reply["applied"]["signals"] == {"set": [], "removed": [17], "dropped": 1}
    assert not h.master.table[17].registered
    c = h.counters(17)
    assert (c["raised"], c["dropped"]) == (3, 1)
    assert "1 queued signal dropped" in h.log()


def test_a_timer_keeps_its_phase_unless_its_period_changed(make) -> None:
    h = make()
    sched = h.master.extension("events")
    (src,) = sched.sources.values()
    deadline = src.periodic.deadline
    h.advance(3.0)
    h.write(TREE.replace("seconds = 5", "seconds = 5\niterations = 9"))
    assert h.reload()["ok"]
    assert list(sched.sources.values()) == [src] and src.periodic.deadline == deadline
    assert src.iterations.total == 9
    h.write(TREE.replace("seconds = 5", "seconds = 4"))
    assert h.reload()["ok"] is False        # the first one's restarts are not done yet
    for name in ("worker1", "worker2", "mule1"):
        h.replace(name)
    assert h.reload()["ok"]
    (new,) = sched.sources.values()
    assert new is not src and new.periodic.deadline == pytest.approx(h.clock.monotonic() + 4)


CRON = TREE + """
[[crons]]
signal = 18
schedule = "*/5 * * * *"
"""


def test_a_cron_keeps_its_next_run_when_it_moves_in_the_file(make) -> None:
    h = make(CRON)
    sched = h.master.extension("events")
    (cron,) = [s for s in sched.sources.values() if s.kind == "cron"]
    nxt = cron.next
    h.write(TREE.replace("[[timers]]", '[[crons]]\nsignal = 18\nschedule = "*/5 * * * *"\n'
                         "misfire_grace = 3\n\n[[crons]]\nsignal = 17\nschedule = \"@daily\"\n"
                         "\n[[timers]]"))
    assert h.reload()["ok"]
    crons = [s for s in sched.sources.values() if s.kind == "cron"]
    assert crons[0] is cron and cron.next == nxt and cron.misfire_grace == 3
    assert [c.signal for c in crons] == [18, 17]


def test_sighup_reloads(make) -> None:
    h = make()
    wake(h.master, signal.SIGHUP)
    h.step()
    assert h.phases() == ["begin"]
    assert "reload requested by SIGHUP" in h.log()


def test_a_reload_from_a_child_restarts_it_too(make) -> None:
    h = make()
    w1 = h.proc("worker1").pid
    reply = h.reload(origin="worker1", workers_only=True)
    assert reply["ok"] and h.fake.kills_of(w1) == [signal.SIGTERM]


def test_bad_fields_are_a_bad_request(make) -> None:
    h = make()
    assert h.reload(rolling="yes") == {
        "ok": False, "error": "bad request: field 'rolling' must be a boolean, not 'yes'"}


def test_the_application_modules_are_those_under_its_directories(tmp_path: Path) -> None:
    app, lib = tmp_path / "app", tmp_path / "site"
    def mod(name: str, where: Path | None) -> types.ModuleType:
        m = types.ModuleType(name)
        if where is not None:
            m.__file__ = str(where / f"{name}.py")
        return m
    table = {"a": mod("a", app), "a.b": mod("a.b", app / "a"), "lib": mod("lib", lib),
             "builtin": mod("builtin", None), "sigsup.x": mod("sigsup.x", app)}
    assert modules.app_modules(table, [app]) == ["a", "a.b"]
    assert modules.app_modules(table, [tmp_path], installed=[lib.resolve()]) == ["a", "a.b"]
