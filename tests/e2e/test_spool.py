"""Spoolers end to end: real masters, real spooler processes, jobs on disk.

Jobs are spooled from the test process (the API with the config, the CLI with -c, with or
without a master running) and from a worker; the handler (apps/spool_jobs.py) records
each start and end. Nothing sleeps: every wait polls with a deadline.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections import Counter

import pytest

import sigsup

from .spool_helpers import api, listing, records, spool_dir, spooler, wait_records

BASE = """
[workers]
count = 1

[spoolers.default]
dir = "spool/default"
processes = {processes}
handler = "spool_jobs:run"
max_retries = 2
retry_backoff = 0.2
retry_backoff_max = 1.0
{extra}
"""


SPOOLER_SIGNAL = """
[signals.51]
handler = "spool_jobs:on_signal"
target = "spooler_default"
"""


def tree(processes: int = 1, extra: str = "", more: str = "") -> str:
    return BASE.format(processes=processes, extra=extra) + more


def starts(m, jid):
    return [r for r in records(m, ev="start") if r["id"] == jid]


def test_jobs_from_cli_without_master_api_and_worker_run_with_args_and_body(master_factory):
    m = master_factory(tree(more="""
[signals.50]
handler = "spool_jobs:spool_from_worker"
target = "worker"
"""), start=False)
    body = bytes(range(256)) * 300 + b"\x00tail"
    (m.dir / "body.bin").write_bytes(body)
    # no master runs: the CLI writes the job, it waits on disk
    r = m.cli("spool", "default", "n=3", "name=ann", 'quoted="5"', "l=[1,2]", "-c", str(m.cfg),
              "--body-file", str(m.dir / "body.bin"), "--priority", "2", socket=False)
    assert r.returncode == 0, r.stderr
    cli_id = r.stdout.strip()
    assert [n.split("_")[0] for n in listing(m)["jobs"]] == [cli_id]
    r = m.cli("jobs", "-c", str(m.cfg), socket=False)
    assert r.returncode == 0 and cli_id in r.stdout and "1 queued" in r.stdout, r.stdout
    m.start()
    (s,) = wait_records(m, 1, ev="end", id=cli_id)
    (st,) = starts(m, cli_id)
    assert st["args"] == {"n": 3, "name": "ann", "quoted": "5", "l": [1, 2]}
    assert (st["body_len"], st["body_sha"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert st["attempt"] == 1 and st["spooler"] == "default" and st["name"] == "spooler:default#1"

    # the API from an outside process (its config and the master's socket)
    with api(m):
        api_id = sigsup.spool(body=b"\xff\x00", x={"deep": [1, None]}, at=time.time() - 5)
    wait_records(m, 1, ev="end", id=api_id)
    (st,) = starts(m, api_id)
    assert st["args"] == {"x": {"deep": [1, None]}} and st["body_len"] == 2

    # from inside the tree: a worker's signal handler
    assert m.cli("raise", "50", "--wait").returncode == 0
    (sp,) = wait_records(m, 1, ev="spooled")
    wait_records(m, 1, ev="end", id=sp["id"])
    (st,) = starts(m, sp["id"])
    assert st["args"] == {"who": "worker", "wid": 1} and st["body_len"] == len(b"from a worker")
    assert listing(m) == {"jobs": [], "running": [], "failed": [], "tmp": []}
    m.wait_for(lambda: (lambda x: x["done"] == 3 and (x["queued"], x["running"], x["failed"])
                        == (0, 0, 0))(spooler(m)), 5, "done = 3, nothing queued")


def test_retries_backoff_dead_letter_and_jobs_retry_drop(master_factory):
    m = master_factory(tree())
    with api(m):
        ok2 = sigsup.spool(do="fail_until", n=1)
        rt = sigsup.spool(do="retry_until", n=2)
        dead = sigsup.spool(do="always_fail")
        ign = sigsup.spool(do="ignore")
        bad = sigsup.spool(do="bad_return")
        # a job file naming code to run: the spooler runs only functions registered in it
        from sigsup.spool.store import JobStore as _Store
        evil = _Store(spool_dir(m), "default").put(
            {"command": f"touch {m.dir / 'pwned'}"}, task="os:system")
    wait_records(m, 1, ev="end", id=ok2)
    wait_records(m, 1, ev="end", id=rt)
    wait_records(m, 1, ev="end", id=ign)
    m.wait_for(lambda: len(listing(m)["failed"]) == 3, 15, "three jobs in failed/")
    assert not (m.dir / "pwned").exists()
    assert [r["attempt"] for r in starts(m, ok2)] == [1, 2]
    assert [r["attempt"] for r in starts(m, rt)] == [1, 2, 3]
    assert [r["attempt"] for r in starts(m, ign)] == [1]
    for jid in (dead, bad):
        tries = starts(m, jid)
        assert [r["attempt"] for r in tries] == [1, 2, 3]          # max_retries = 2
        gaps = [b["t"] - a["t"] for a, b in zip(tries, tries[1:], strict=False)]
        # backoff 0.2 then 0.4, each scaled by a jitter factor in [0.5, 1]
        assert 0.1 <= gaps[0] < 0.2 + 0.5 and 0.2 <= gaps[1] < 0.4 + 0.5, gaps
    # the dead letters keep their history and last error
    from sigsup.spool.store import FAILED, JobStore
    store = JobStore(spool_dir(m), "default")
    by_id = {e.id: store.read(FAILED, e) for e in store.entries(FAILED)}
    hist = by_id[dead].history
    assert [h["attempt"] for h in hist] == [1, 2, 3] and hist[-1]["final"]
    assert "RuntimeError: always fails (attempt 3)" in hist[-1]["error"]
    assert "Traceback" in hist[0]["error"] and "spool_jobs.py" in hist[0]["error"]
    assert "returned 42" in by_id[bad].history[-1]["error"]
    assert "'os:system' is not a @spool function" in by_id[evil].history[-1]["error"]

    s = m.wait_for(lambda: (lambda x: x if x["dead_lettered"] == 3 else None)(spooler(m)), 5,
                   "counters")
    assert (s["done"], s["ignored"], s["retried"], s["failed"]) == (2, 1, 1 + 2 + 2 + 2 + 2, 3)
    assert any(w in s["last_error"] for w in ("RuntimeError", "returned 42", "os:system"))

    r = m.cli("jobs", "-c", str(m.cfg), socket=False)
    assert r.returncode == 0 and "3 failed" in r.stdout and dead in r.stdout
    assert "RuntimeError: always fails (attempt 3)" in r.stdout

    # retry by hand: fresh retries (three more attempts), then failed again
    r = m.cli("jobs", "retry", dead[:14], "-c", str(m.cfg), socket=False)
    assert r.returncode == 0 and "failed -> queued" in r.stdout, r.stderr
    m.wait_for(lambda: len(starts(m, dead)) == 6 and len(listing(m)["failed"]) == 3, 15,
               "the retried job to fail three more times")
    # drop
    r = m.cli("jobs", "drop", bad, "-c", str(m.cfg), socket=False)
    assert r.returncode == 0, r.stderr
    assert len(listing(m)["failed"]) == 2
    r = m.cli("jobs", "drop", bad, "-c", str(m.cfg), socket=False)
    assert r.returncode == 1 and "no job" in r.stderr


def test_at_is_kept_to_the_second_and_priority_always_holds(master_factory):
    m = master_factory(tree(more=SPOOLER_SIGNAL))
    # an idle spooler process handles the signals of its targets
    assert m.cli("raise", "51", "--wait").returncode == 0
    (idle_sig,) = records(m, ev="signal")
    assert idle_sig["name"] == "spooler:default#1"
    with api(m):
        gate = sigsup.spool(do="block", file="gate")
        wait_records(m, 1, ev="start", id=gate)
        # a busy one gets no signal until its job ends (the master keeps it)
        assert m.request({"cmd": "raise", "signum": 51})["ok"]
        # the only spooler process is busy: these wait, and must run by priority, then age
        order = [("p0a", 0), ("p5a", 5), ("p10", 10), ("p5b", 5), ("p0b", 0), ("m1", -1)]
        ids = {sigsup.spool(priority=p, tag=t): t for t, p in order}
        # at: 1.2 s from now, high priority: it must not run before its time
        at = time.time() + 1.2
        at_id = sigsup.spool(at=at, priority=100, tag="at")
    (m.dir / "gate").touch()
    wait_records(m, len(ids) + 1, ev="end", timeout=15)
    ran = [ids[r["id"]] for r in records(m, ev="start") if r["id"] in ids]
    assert ran == ["p10", "p5a", "p5b", "p0a", "p0b", "m1"]
    (gate_end,) = records(m, ev="end", id=gate)
    busy_sig = wait_records(m, 2, ev="signal")[1]
    assert busy_sig["t"] > gate_end["t"]
    (st,) = wait_records(m, 1, ev="start", id=at_id, timeout=10)
    assert at <= st["t"] < at + 1.0, st["t"] - at

    # an `at` job spooled while the spooler sleeps idle: the wake-up shortens its sleep
    with api(m):
        at2 = time.time() + 0.8
        at2_id = sigsup.spool(at=at2)
    (st,) = wait_records(m, 1, ev="start", id=at2_id, timeout=10)
    assert at2 <= st["t"] < at2 + 1.0


def test_sigkill_of_a_spooler_mid_job_and_harakiri(master_factory):
    m = master_factory(tree(processes=2, more="""
[spoolers.hk]
dir = "spool/hk"
handler = "spool_jobs:run"
harakiri = 0.5
retry_backoff = 0.1
"""))
    with api(m):
        jid = sigsup.spool(do="block")
        slow = sigsup.spool("hk", do="sleep", s=30)
    (st,) = wait_records(m, 1, ev="start", id=jid)
    busy = m.wait_for(lambda: [b for b in spooler(m)["busy"] if b["job"] == jid], 10,
                      "the master to know the job runs")
    assert busy[0]["pid"] == st["pid"]
    os.kill(st["pid"], signal.SIGKILL)
    ends = wait_records(m, 1, ev="end", id=jid)
    assert [r["attempt"] for r in starts(m, jid)] == [1, 2] and ends[0]["attempt"] == 2
    assert ends[0]["pid"] != st["pid"]
    s = m.wait_for(lambda: (lambda x: x if x["done"] == 1 else None)(spooler(m)), 5, "done")
    assert (s["died_mid_job"], s["retried"]) == (1, 1)
    assert "did not finish (killed by signal SIGKILL)" in m.log()

    # harakiri: the first attempt sleeps 30 s and is killed after 0.5 s; the second runs
    wait_records(m, 1, ev="end", id=slow, timeout=10)
    tries = starts(m, slow)
    assert [r["attempt"] for r in tries] == [1, 2]
    assert tries[1]["t"] - tries[0]["t"] < 5.0
    assert "HARAKIRI" in m.log() and f"ran job {slow}" in m.log()
    assert spooler(m, "hk")["died_mid_job"] == 1


def test_sigkill_of_the_master_with_1000_jobs_queued_then_restart(master_factory):
    m = master_factory(tree(processes=2), start=False)
    n = 1000
    with api(m, client=False):                     # no master yet: jobs wait on disk
        ids = {sigsup.spool(do="quick", i=i) for i in range(n - 3)}
        failing = {sigsup.spool(do="always_fail") for _ in range(3)}
    ids |= failing
    assert len(listing(m)["jobs"]) == n
    m.start()
    wait_records(m, 150, ev="end", timeout=20)
    st = m.status()
    spooler_pids = [p["pid"] for p in st["processes"] if p["kind"] == "spooler"]
    os.kill(m.pid, signal.SIGKILL)
    m.wait_exit(5)
    m.wait_for(lambda: not any(m.alive(p) for p in spooler_pids), 5, "spoolers to die with it")
    done_before = {r["id"] for r in records(m, ev="end")}
    assert len(done_before) < n - 50, "the master was killed with jobs still queued"
    left = listing(m)
    assert len(left["jobs"]) + len(left["running"]) + len(left["failed"]) >= n - len(done_before) - 2
    m.start()                                      # (its socket file is stale: replaced)
    m.wait_for(lambda: (lambda ls: not ls["jobs"] and not ls["running"])(listing(m)), 30,
               "every job to be run or dead-lettered")
    ends = Counter(r["id"] for r in records(m, ev="end"))
    # every good job completed; a job completed twice only if its process died between its
    # handler's return and the deletion of its file (at most one per spooler process)
    assert set(ends) == ids - failing
    twice = [j for j, c in ends.items() if c > 1]
    assert len(twice) <= 2 and all(ends[j] == 2 for j in twice)
    assert {n.split("_")[0] for n in listing(m)["failed"]} == failing
    assert [r["attempt"] for r in records(m, ev="start") if r["id"] in failing].count(3) == 3
    assert listing(m)["tmp"] == []
    log = m.log()
    recovered = log.count("was running when the master stopped")
    assert recovered <= 2


@pytest.mark.parametrize("args,err", [
    (["nope", "a=1"], "no spooler named 'nope'"),
    (["default", "novalue"], "key=value"),
    (["default", "a=1", "--at", "tomorrow-ish"], "ISO 8601"),
])
def test_cli_spool_errors(master_factory, args, err):
    m = master_factory(tree(), start=False)
    r = m.cli("spool", *args, "-c", str(m.cfg), socket=False)
    assert r.returncode == 1 and err in r.stderr, r.stderr
