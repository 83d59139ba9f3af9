"""The master's side of spoolers and mule messages, one loop step at a time (FakeOs: no
process is forked; the test plays each child on the other end of its socketpair)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from sigsup import treeconfig as conf
from sigsup.protocol.frames import DONE, DONE_OK, RUN, pack
from sigsup.spool.store import FAILED, QUEUED, RUNNING, JobStore

from .fakes import LoopHarness, harness_factory, wake, walk

TREE = """
[workers]
count = 1

[mules]
count = 3
{handler}

[mules.main]
3 = "mod:prog"

[farms]
f = [1, 2]

[spoolers.default]
dir = "spool"
processes = 2
max_retries = 1
retry_backoff = 1.0
harakiri = 5

[signals.30]
handler = "mod:on_spooler"
target = "spooler"
"""


class H(LoopHarness):
    """The loop harness, with the mule messages' and the spoolers' views. A step is two
    loop turns here, as these tests were written: what they find not sent (a message not
    pushed, no RUN frame) has had two turns to be sent."""

    turns = 2

    def msgs(self, name: str) -> list[dict]:
        return [j for j in self.child(name).jsons() if j.get("t") == "mule-msg"]

    def status(self, key: str) -> dict:
        return self.cmd(cmd="status")["status"][key]

    def store(self) -> JobStore:
        return JobStore(self.sock_dir / "spool", "default")


@pytest.fixture
def make():
    held = conf.current_or_none_held()
    with harness_factory(H) as new:
        def factory(handler: bool = False, supervisor: str = "queue_size = 3\n", *,
                    tail: str = "", sock_dir: Path | None = None, ready: bool = True) -> H:
            """A started tree (``tail`` added to TREE), every child ready unless ``ready``
            is false; ``sock_dir`` of another makes the same tree on the same spool."""
            body = TREE.format(handler='message_handler = "mod:on_msg"' if handler else "")
            h = new(body + tail, supervisor, sock_dir=sock_dir)
            if ready:
                h.ready()
            return h

        yield factory
    assert conf.current_or_none_held() is held, "the master's close() gives the config back"


# -- mule messages --------------------------------------------------------------------------------


def test_a_message_waits_in_the_master_until_the_mule_asks(make) -> None:
    h = make()
    r = h.cmd(cmd="mule-msg", target=1, kind="msg", s="hello")
    assert r["ok"] and r["to"] == "mule1" and r["queued"] == 1
    assert h.msgs("mule1") == []                       # plain mule, no handler: not pushed
    h.child("mule1").json({"t": "msg-want", "farms": True})
    h.step()
    (m,) = h.msgs("mule1")
    assert (m["s"], m["kind"], m["q"]) == ("hello", "msg", "mule1")
    h.cmd(cmd="mule-msg", target=1, kind="msg", b="AAE=")
    assert h.msgs("mule1") == []                       # one message per mule_get_msg call
    h.child("mule1").json({"t": "msg-ack", "id": m["id"]})
    h.child("mule1").json({"t": "msg-want"})
    h.step()
    assert [x["b"] for x in h.msgs("mule1")] == ["AAE="]
    st = h.status("messages")
    assert st["mules"]["mule1"]["received"] == 1 and st["mules"]["mule1"]["in_flight"] == 1


def test_with_a_message_handler_messages_are_pushed_up_to_the_window(make) -> None:
    h = make(handler=True, supervisor="queue_size = 3\nwindow = 2\n")
    ids = [h.cmd(cmd="mule-msg", target=2, kind="msg", s=str(i))["id"] for i in range(4)]
    got = h.msgs("mule2")
    assert [m["s"] for m in got] == ["0", "1"]         # the window: 2 unacknowledged
    h.child("mule2").json({"t": "msg-ack", "id": ids[0]})
    h.step()
    assert [m["s"] for m in h.msgs("mule2")] == ["2"]
    assert h.status("messages")["mules"]["mule2"]["mode"] == "handler"


def test_any_mule_and_farm_go_to_a_mule_that_can_take_them(make) -> None:
    h = make()
    h.child("mule3").json({"t": "msg-want"})          # the programmed mule waits
    h.step()
    r = h.cmd(cmd="mule-msg", target=None, kind="msg", s="any")
    assert r["to"] == "mule3"
    r = h.cmd(cmd="mule-msg", target="f", kind="msg", s="farm")
    assert r["to"] == "farm:f"                        # mule3 is not in farm f: it waits
    h.child("mule2").json({"t": "msg-want"})
    h.step()
    assert [m["s"] for m in h.msgs("mule2")] == ["farm"]
    # farms=False: a waiting mule does not take farm messages
    h.cmd(cmd="mule-msg", target="farm_f", kind="msg", s="farm2")
    h.child("mule1").json({"t": "msg-want", "farms": False})
    h.step()
    assert h.msgs("mule1") == []
    assert h.status("messages")["pools"]["farm:f"]["queued"] == 1


def test_full_queues_and_bad_targets_are_refused(make) -> None:
    h = make()
    for i in range(3):
        assert h.cmd(cmd="mule-msg", target=3, kind="msg", s=str(i))["ok"]
    r = h.cmd(cmd="mule-msg", target=3, kind="msg", s="3")
    assert not r["ok"] and "full" in r["error"]
    for target, why in ((9, "no mule 9"), ("nope", "no farm named 'nope'"), (True, "not True")):
        r = h.cmd(cmd="mule-msg", target=target, kind="msg", s="x")
        assert not r["ok"] and why in r["error"], r
    r = h.cmd(cmd="mule-msg", target=1, kind="msg", s="x" * (64 * 1024 + 1))
    assert not r["ok"] and "at most" in r["error"]
    st = h.status("messages")
    assert st["refused"] == 5 and st["mules"]["mule3"]["queued"] == 3


def test_calls_go_to_plain_mules_at_once_and_to_programs_only_when_they_wait(make) -> None:
    h = make()
    r = h.cmd(cmd="mule-msg", target=1, kind="call", fn="mod:f", args=[1], kwargs={})
    assert r["to"] == "mule1"
    (m,) = h.msgs("mule1")
    assert (m["kind"], m["fn"], m["args"]) == ("call", "mod:f", [1])
    assert h.cmd(cmd="mule-msg", target=3, kind="call", fn="mod:f")["to"] == "mule3"
    assert h.msgs("mule3") == []
    h.child("mule3").json({"t": "msg-want"})
    h.step()
    assert [m["kind"] for m in h.msgs("mule3")] == ["call"]


def test_a_dead_mule_gives_back_what_it_had_not_taken(make) -> None:
    h = make(handler=True)
    ids = [h.cmd(cmd="mule-msg", target=1, kind="msg", s=str(i))["id"] for i in range(3)]
    assert len(h.msgs("mule1")) == 3
    h.child("mule1").json({"t": "msg-ack", "id": ids[0]})
    h.step()
    h.exit("mule1", sig=signal.SIGKILL)
    assert h.status("messages")["mules"]["mule1"]["queued"] == 2
    h.advance(5)
    h.child("mule1").ready()
    h.step(3)
    assert [m["s"] for m in h.msgs("mule1")] == ["1", "2"]
    assert h.status("messages")["requeued"] == 2


# -- spoolers ------------------------------------------------------------------------------------


def test_spooler_processes_run_the_spool_runner_and_the_dir_exists(make) -> None:
    h = make()
    assert {p.runner for p in h.master.procs if p.kind == "spooler"} == {"sigsup.spool.runner:run"}
    assert (h.sock_dir / "spool" / "jobs").is_dir()
    assert conf.current_or_none_held() is h.master.config
    assert os.environ[conf.ENV] == str(h.master.config.path)


def test_a_busy_spooler_gets_no_signals_until_its_job_ends(make) -> None:
    h = make()
    r = h.cmd(origin="spooler:default#1", cmd="spool-begin", job="j1", attempt=1, harakiri=5)
    assert r["ok"]
    for _ in range(2):
        h.cmd(cmd="raise", signum=30)
    assert h.child("spooler:default#1").runs() == []
    runs2 = h.child("spooler:default#2").runs()
    assert [s for s, _rid in runs2] == [30, 30]
    busy = h.status("spoolers")["default"]["busy"]
    assert [(b["process"], b["job"]) for b in busy] == [("spooler:default#1", "j1")]
    h.child("spooler:default#1").json({"t": "spool-end", "job": "j1", "outcome": "ok"})
    h.step()
    h.cmd(cmd="raise", signum=30)
    assert [s for s, _ in h.child("spooler:default#1").runs()] == [30]
    for _s, rid in runs2:
        h.child("spooler:default#2").send(pack(DONE, 30, DONE_OK, rid))
    h.step()
    assert h.status("spoolers")["default"]["done"] == 1


def test_a_spooler_killed_mid_job_gives_the_job_back_as_an_attempt(make) -> None:
    h = make()
    store = h.store()
    jid = store.put({"n": 1})
    (e,) = store.entries(QUEUED)
    pid = h.proc("spooler:default#1").pid
    store.claim(e, pid)
    h.cmd(origin="spooler:default#1", cmd="spool-begin", job=jid, attempt=1, harakiri=5)
    h.exit("spooler:default#1", sig=signal.SIGKILL)
    (back,) = store.entries(QUEUED)
    assert back.id == jid and back.attempts == 1
    hist = store.read(QUEUED, back).history
    assert hist[-1]["outcome"] == "died" and "SIGKILL" in hist[-1]["error"]
    st = h.status("spoolers")["default"]
    assert (st["died_mid_job"], st["retried"]) == (1, 1)


def test_a_claim_whose_handler_never_started_goes_back_untouched(make) -> None:
    h = make()
    store = h.store()
    jid = store.put({})
    (e,) = store.entries(QUEUED)
    store.claim(e, h.proc("spooler:default#2").pid)
    h.exit("spooler:default#2", sig=signal.SIGKILL)
    (back,) = store.entries(QUEUED)
    assert (back.id, back.attempts, back.name) == (jid, 0, e.name)


def test_job_harakiri_kills_the_process_then_the_job_is_retried_or_dead(make) -> None:
    h = make()
    store = h.store()
    jid = store.put({})
    (e,) = store.entries(QUEUED)
    p = h.proc("spooler:default#1")
    pid = p.pid
    store.claim(e, pid)
    h.cmd(origin="spooler:default#1", cmd="spool-begin", job=jid, attempt=1, harakiri=5)
    start = h.fake.clock.mono
    assert h.master._timeout(start) <= 1.0
    h.fake.clock.advance(4.9)
    h.step()
    assert signal.SIGKILL not in h.fake.kills_of(pid)
    h.fake.clock.advance(0.2)
    h.step()
    assert signal.SIGKILL in h.fake.kills_of(pid)
    wake(h.master)
    h.step()
    (back,) = store.entries(QUEUED)
    hist = store.read(QUEUED, back).history
    assert hist[-1]["outcome"] == "harakiri" and "5 s" in hist[-1]["error"]
    assert "HARAKIRI" in h.out.getvalue()


def test_start_recovers_claims_left_by_a_previous_master(make, tmp_path) -> None:
    h = make()
    store = h.store()
    a = store.put({})
    b = store.put({})
    for e in store.entries(QUEUED):
        store.claim(e, 999_999 if e.id == a else 999_998)
    h.close()
    # a failed attempt already used the only retry of b
    (eb,) = [e for e in store.entries(RUNNING) if e.id == b]
    os.rename(store.path(RUNNING, eb.name),
              store.path(RUNNING, eb.name.replace("_a0.job", "_a1.job")))
    make(sock_dir=h.sock_dir, ready=False)     # the next master, on the same spool: started
    assert store.entries(RUNNING) == []
    (qa,) = store.entries(QUEUED)
    assert qa.id == a and qa.attempts == 1
    assert [e.id for e in store.entries(FAILED)] == [b]


def test_masters_give_back_the_config_each_replaced(make) -> None:
    """No registry of masters: each gives back what it replaced, when it closes (in the
    reverse order of their making, as a master built inside another's life is closed)."""
    before = (conf.current_or_none_held(), os.environ.get(conf.ENV))
    a = make()
    b = make()
    assert conf.current_or_none_held() is b.master.config
    assert os.environ[conf.ENV] == str(b.master.config.path)
    b.close()
    assert conf.current_or_none_held() is a.master.config
    assert os.environ[conf.ENV] == str(a.master.config.path)
    a.close()
    assert (conf.current_or_none_held(), os.environ.get(conf.ENV)) == before


def test_one_master_per_spool_directory(make) -> None:
    """The master holds a POSIX lock on DIR/.lock: another process cannot take it (a second
    master would fail to start instead of stealing the first one's running jobs)."""
    import subprocess
    import sys
    h = make()
    probe = ("import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "try:\n    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
             "    sys.exit(3)\n")
    lock = str(h.sock_dir / "spool" / ".lock")
    assert subprocess.run([sys.executable, "-c", probe, lock], timeout=30).returncode == 3
    assert (h.sock_dir / "spool" / ".lock").read_text().strip() == str(os.getpid())
    h.close()
    assert subprocess.run([sys.executable, "-c", probe, lock], timeout=30).returncode == 0


def test_wake_reaches_every_process_of_the_spooler(make) -> None:
    h = make()
    assert h.cmd(cmd="spool-wake", spooler="default")["ok"]
    for name in ("spooler:default#1", "spooler:default#2"):
        assert {"t": "spool-wake"} in h.child(name).jsons()
    assert not h.cmd(cmd="spool-wake", spooler="nope")["ok"]
    assert [f for f in h.child("worker1").read() if f[0] == RUN] == []


def test_a_target_whose_every_mule_failed_is_refused(make) -> None:
    from sigsup.routing.states import ProcState
    h = make()
    for name in ("mule1", "mule2"):          # farm f
        walk(h.proc(name), ProcState.FAILED)
    send = h.master.commands.execute         # no loop step: it would respawn them
    r = send({"cmd": "mule-msg", "target": "f", "kind": "msg", "s": "x"}, "test")
    assert not r["ok"] and "every mule of farm:f has failed" in r["error"]
    assert send({"cmd": "mule-msg", "target": None, "kind": "msg", "s": "x"}, "test")["ok"]
    for name in ("mule1", "mule2"):
        walk(h.proc(name), ProcState.RUNNING)


# -- free signal numbers (sigsup.decorators) ------------------------------------------------------


def test_free_numbers_come_from_the_top_once_per_handler_and_are_guarded(make) -> None:
    h = make()
    a = h.cmd(cmd="register", signum=None, handler="mod:a", target="worker")
    b = h.cmd(cmd="register", signum=None, handler="mod:b", target="worker")
    assert (a["signum"], a["existing"], b["signum"]) == (255, False, 254)
    assert h.master.table[255].source == "auto (test)"
    again = h.cmd(cmd="register", signum=None, handler="mod:a", target="worker", origin="w")
    assert (again["signum"], again["existing"]) == (255, True)
    other_target = h.cmd(cmd="register", signum=None, handler="mod:a", target="workers")
    assert other_target["signum"] == 253
    # a hand-written registration cannot take a number given away automatically...
    r = h.cmd(cmd="register", signum=255, handler="mod:other", target="worker")
    assert not r["ok"] and "was given to mod:a as a free number" in r["error"]
    # ...but the same handler may register it again (idempotent, keeps its source)
    r = h.cmd(cmd="register", signum=255, handler="mod:a", target="worker")
    assert r["ok"] and r["existing"] and h.master.table[255].source == "auto (test)"
    # numbers raised before (a signal_wait user's) are not free
    h.cmd(cmd="raise", signum=252)
    assert h.cmd(cmd="register", signum=None, handler="mod:c", target="worker")["signum"] == 251


def test_free_numbers_skip_config_event_sources(make) -> None:
    h = make(tail="\n[[timers]]\nsignal = 255\nseconds = 60\n")
    assert h.cmd(cmd="register", signum=None, handler="mod:a", target="worker")["signum"] == 254
