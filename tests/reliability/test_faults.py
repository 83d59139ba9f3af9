"""Faults: processes killed mid-flood, the master killed, a worker stopped, a full disk.

Every raise of a flood is made with ``wait: true``, so the master reports each raise's
outcome (handled, or failed and why) on its own; the handlers write one record per call
with the raise id (tests/e2e/apps/e2eapp.py). The two views are checked against each other
and against the status counters.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from harness import (
    alive,
    connect,
    proc_start_time,
    proc_state,
    read_records,
    run_cli,
    wait_for,
)
from trees import signals, workers

from sigsup.protocol.control import Decoder, encode

from .helpers import PYTHONPATH, sup

# -- SIGKILL workers and mules every 100 ms during a 20,000-signal flood ---------------------

FLOOD = 20_000
SIGS = {40: "worker", 41: "mule", 42: "worker2", 43: "mule1"}
SHARE = {40: 0.55, 41: 0.25, 42: 0.12, 43: 0.08}

CHAOS_TREE = """
[workers]
count = 4

[mules]
count = 2
""" + signals(SIGS, "e2eapp:record_slowly")


def test_sigkill_workers_and_mules_during_a_flood(master_factory):
    """Every raise is handled exactly once or reported failed; a failed one is one that
    was running in a process we killed; the counters add up."""
    m = master_factory(CHAOS_TREE, env={"E2E_SLOW": "0.0005"}, sup=sup(
        failure_limit=1_000_000, respawn_delay=0.02, respawn_delay_max=0.1, queue_size=FLOOD))
    rng = random.Random(20_000)
    nums = [n for n, share in SHARE.items() for _ in range(round(FLOOD * share))]
    assert len(nums) == FLOOD
    rng.shuffle(nums)
    data = b"".join(encode({"cmd": "raise", "signum": n, "wait": True}) for n in nums)

    killed: list[tuple[str, int]] = []
    replies: list[dict] = []
    dec = Decoder(limit=64 * 1024 * 1024)
    with connect(m, 60) as s:
        s.setblocking(False)
        view = memoryview(data)
        deadline = time.monotonic() + 90
        next_kill = time.monotonic() + 0.1
        while len(replies) < FLOOD:
            now = time.monotonic()
            assert now < deadline, (f"{len(replies)} of {FLOOD} outcomes after 90 s; "
                                    f"killed {len(killed)}")
            want_w = [s] if view else []
            r, w, _ = select.select([s], want_w, [], max(0.0, min(next_kill - now, 0.1)))
            if w:
                try:
                    n = s.send(view[:262144])
                    view = view[n:]
                except BlockingIOError:
                    pass
            if r:
                chunk = s.recv(1 << 20)
                assert chunk, "the master closed the flood's connection"
                replies.extend(dec.feed(chunk))
            if time.monotonic() >= next_kill and len(replies) < FLOOD - 200:
                next_kill += 0.1
                st = m.status(timeout=5)          # status answers all along, too
                victims = [p for p in st["processes"]
                           if p["kind"] in ("worker", "mule") and p["pid"]
                           and p["state"] == "running"]
                if victims:
                    v = rng.choice(victims)
                    try:
                        os.kill(v["pid"], signal.SIGKILL)
                        killed.append((v["name"], v["pid"]))
                    except ProcessLookupError:
                        pass
    assert len(killed) >= 10, f"the flood ended before the chaos began ({len(killed)} kills)"

    # -- the master's account of each raise
    outcome: dict[int, dict] = {}
    refused = 0
    for r in replies:
        res = r["result"]
        if not res["accepted"]:
            refused += 1
            assert res["refused"] and not r["ok"], r
            continue
        assert len(r["outcomes"]) == 1, r
        assert res["id"] not in outcome, f"raise {res['id']} answered twice"
        outcome[res["id"]] = {**r["outcomes"][0], "signum": res["signum"]}
    assert len(outcome) + refused == FLOOD
    assert refused == 0, "queue_size fits the whole flood: nothing may be refused"
    handled_ids = {i for i, o in outcome.items() if o["status"] == "handled"}
    failed_ids = {i for i, o in outcome.items() if o["status"] == "failed"}
    assert handled_ids | failed_ids == set(outcome), Counter(o["status"] for o in outcome.values())

    # -- what the handlers did
    recs = [r for r in m.records() if r["sig"] in SIGS]
    by_rid = Counter(r["rid"] for r in recs)
    twice = [rid for rid, k in by_rid.items() if k > 1]
    assert not twice, f"raises run twice: {twice[:10]}"
    assert set(by_rid) <= set(outcome), "a handler ran for a raise nobody made"
    rec_of = {r["rid"]: r for r in recs}
    killed_pids = {pid for _, pid in killed}
    for rid in handled_ids:
        assert rid in rec_of, f"raise {rid} reported handled, but its handler never ran"
        rec = rec_of[rid]
        assert rec["name"] == outcome[rid]["process"], (rec, outcome[rid])
        assert rec["sig"] == outcome[rid]["signum"]
    for rid in failed_ids:
        o = outcome[rid]
        assert "died" in (o["detail"] or "") and "SIGKILL" in o["detail"], o
        if rid in rec_of:      # it ran to its last line, and its process died before DONE
            assert rec_of[rid]["pid"] in killed_pids, (rec_of[rid], o)
    assert len(failed_ids) <= len(killed), (len(failed_ids), len(killed))
    # a raise for one process (worker2, mule1) ran in that slot, whichever pid it had
    for o in outcome.values():
        if o["status"] == "handled" and SIGS[o["signum"]] in ("worker2", "mule1"):
            assert o["process"] == SIGS[o["signum"]], o

    # -- the status counters say the same
    st = m.wait_for(lambda: (lambda st: st if st["master"]["queued"] == 0 and all(
        p["in_flight"] == 0 for p in st["processes"]) else None)(m.status()), 10, "idle tree")
    assert st["master"]["raised"] == FLOOD
    totals = Counter()
    for n in SIGS:
        c = m.signal_status(n, st)
        assert c["raised"] == c["handled"] + c["failed"] + c["dropped"], c
        assert c["delivered"] == c["handled"] + c["failed"], c
        assert c["queued"] == 0, c
        for k in ("raised", "handled", "failed", "dropped"):
            totals[k] += c[k]
    assert totals["raised"] == FLOOD
    assert totals["handled"] == len(handled_ids)
    assert totals["failed"] == len(failed_ids)
    assert totals["dropped"] == refused
    procs = [p for p in st["processes"] if p["kind"] in ("worker", "mule")]
    assert sum(p["handled"] for p in procs) == len(handled_ids)
    assert sum(p["failed"] for p in procs) == len(failed_ids)
    assert not [pid for _, pid in killed if alive(pid)], "a killed process still runs"
    assert not st["groups_failed"]


# -- SIGKILL the master: no child survives 2 s ------------------------------------------------

def test_sigkill_master_no_child_survives(master_factory, tmp_path):
    """Busy and idle workers, a plain and a programmed mule, a spooler running a job, the
    file monitor: all gone within 2 s of the master's SIGKILL."""
    watched = tmp_path / "watched"
    watched.mkdir()
    m = master_factory(f"""
[workers]
count = 3

[mules]
count = 2

[mules.main]
2 = "e2eapp:wait_forever"

[spoolers.default]
dir = "spool"
handler = "spool_jobs:run"

[signals.30]
handler = "e2eapp:sleep_30s"
target = "worker1"

[[monitors]]
signal = 31
path = "{watched}"

[signals.31]
handler = "e2eapp:record"
target = "worker"
""", sup=sup())
    m.request({"cmd": "raise", "signum": 30})
    m.wait_records(1, 30, tag="start")
    r = m.cli("spool", "default", "do=block", "-c", str(m.cfg), socket=False)
    assert r.returncode == 0, r.stderr
    m.wait_for(lambda: [x for x in read_records(m.out) if x.get("ev") == "start"], 10,
               "the job to start")
    st = m.status()
    kids = {p["name"]: (p["pid"], proc_start_time(p["pid"])) for p in st["processes"] if p["pid"]}
    assert {"worker1", "worker2", "worker3", "mule1", "mule2", "monitor",
            "spooler:default#1"} <= set(kids), kids
    assert all(alive(pid, t) for pid, t in kids.values())

    os.kill(m.pid, signal.SIGKILL)
    t0 = time.monotonic()
    m.proc.wait(5)

    def all_gone():
        return not [n for n, (pid, t) in kids.items() if alive(pid, t)]
    try:
        wait_for(all_gone, 2.0, "every child of the killed master to exit", interval=0.01)
    except AssertionError:
        left = {n: pid for n, (pid, t) in kids.items() if alive(pid, t)}
        raise AssertionError(f"children alive {time.monotonic() - t0:.2f} s after the master's "
                             f"SIGKILL: {left}") from None


# -- SIGSTOP a worker: what it holds moves on after harakiri ---------------------------------

def test_sigstop_worker_signals_move_on_after_harakiri(master_factory):
    """worker1 is stopped (SIGSTOP). Pool signals keep worker2 busy, so the master fills
    worker1's window too, and queues worker1's own signals behind it; the stopped worker
    never answers. After `harakiri` the master kills it: the signal it was "running" is
    reported failed (harakiri), the rest of its window goes back to the pool (worker2 or
    the new worker1 run them), its own signals go to its successor. Nothing waits for
    ever, nothing runs twice, the stopped process runs nothing."""
    harakiri, window = 2.0, 8
    tree = workers(2, {50: "worker"}, "e2eapp:record_slowly") + signals({51: "worker1"})
    m = master_factory(tree, sup=sup(harakiri=harakiri, window=window), env={"E2E_SLOW": "0.02"})
    stopped_pid = m.proc_status("worker1")["pid"]
    os.kill(stopped_pid, signal.SIGSTOP)
    m.wait_for(lambda: proc_state(stopped_pid) == "T", 5, "worker1 stopped")
    n_pool, n_own = 40, 5
    reqs = [{"cmd": "raise", "signum": 50, "wait": True}] * n_pool
    reqs += [{"cmd": "raise", "signum": 51, "wait": True}] * n_own
    t0 = time.monotonic()
    with connect(m, 30) as s:
        s.sendall(b"".join(map(encode, reqs)))

        # the stopped worker holds a full window of pool signals, its own queued behind
        def holding():
            w1 = m.proc_status("worker1")
            return w1 if w1["pid"] == stopped_pid and w1["in_flight"] == window \
                and w1["queued"] == n_own else None
        w1 = m.wait_for(holding, harakiri * 0.75, "the stopped worker1 to hold its window")
        assert w1["current"]["signum"] == 50, w1
        replies = _read_replies(s, len(reqs), 15 + harakiri)
    took = time.monotonic() - t0
    assert took < harakiri + 5, f"the stopped worker held its signals for {took:.1f} s"
    out = {r["result"]["id"]: (r["result"]["signum"], r["outcomes"]) for r in replies}
    assert len(out) == len(reqs)
    failed = [(sig, o) for sig, os_ in out.values() for o in os_ if o["status"] != "handled"]
    assert len(failed) == 1, failed
    assert failed[0][0] == 50 and "harakiri" in failed[0][1]["detail"], failed
    st = m.wait_for(lambda: (lambda st: st if m.proc_status("worker1", st)["state"] == "running"
                             else None)(m.status()), 10, "worker1 respawned")
    new_w1 = m.proc_status("worker1", st)
    assert new_w1["pid"] != stopped_pid and not alive(stopped_pid)
    assert "SIGKILL" in (new_w1["last_exit"] or ""), new_w1
    recs = m.records()
    assert not [k for k, v in Counter(r["rid"] for r in recs).items() if v > 1]
    assert all(r["pid"] != stopped_pid for r in recs), "the stopped worker ran something"
    for sig, outs in out.values():
        (o,) = outs
        if o["status"] == "handled" and sig == 51:
            assert o["process"] == "worker1", o
    pool = [r for r in recs if r["sig"] == 50]
    own = [r for r in recs if r["sig"] == 51]
    assert len(pool) == n_pool - 1 and len(own) == n_own
    assert {r["pid"] for r in own} == {new_w1["pid"]}
    s50, s51 = m.signal_status(50, st), m.signal_status(51, st)
    assert (s50["handled"], s50["failed"], s51["handled"], s51["failed"]) == (
        n_pool - 1, 1, n_own, 0), (s50, s51)


def _read_replies(s: socket.socket, n: int, timeout: float) -> list[dict]:
    dec, out = Decoder(limit=64 * 1024 * 1024), []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"{len(out)} of {n} replies after {timeout} s"
        s.settimeout(left)
        chunk = s.recv(1 << 20)
        assert chunk, "the master closed the connection"
        out.extend(dec.feed(chunk))
    return out


# -- a full disk under a spooler ------------------------------------------------------------

SPOOLER = """
[spoolers.default]
dir = "{dir}"
handler = "spool_jobs:run"
max_retries = 0
"""

SPOOL_SCRIPT = r"""
import json, os, resource, signal, sys
import sigsup
limit = int(sys.argv[1])
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
body = b"x" * int(sys.argv[2])
ok, err = [], None
for i in range(int(sys.argv[3])):
    try:
        ok.append(sigsup.spool("default", n=i, do="quick", body=body))
    except Exception as exc:
        err = {"type": type(exc).__name__, "msg": str(exc), "after": i}
        break
print(json.dumps({"ok": ok, "err": err}))
"""


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 256 KiB tmpfs, unmounted (lazily) on teardown; skipped where it cannot be mounted."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the RLIMIT_FSIZE variant covers this)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); the RLIMIT_FSIZE "
                    "variant covers a spooler whose writes fail")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# the CLI, in a process whose file size limit is argv[1] bytes (0: none)
CLI_SCRIPT = r"""
import resource, signal, sys
limit = int(sys.argv[1])
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from sigsup.cli import main
sys.argv = ["sigsup", *sys.argv[2:]]
main()
"""


def _env(m) -> dict[str, str]:
    return {"SIGSUP_CONFIG": str(m.cfg), "PYTHONPATH": os.pathsep.join(PYTHONPATH),
            "E2E_OUT": str(m.out), "E2E_TAG": m.tag}


def _spool_until_error(m, limit: int, body: int, n: int) -> dict:
    r = _python(SPOOL_SCRIPT, [str(limit), str(body), str(n)], _env(m))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _python(code: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_cli([sys.executable, "-c", code, *args], timeout=60, env=env)


def _cli(m, *args: str, limit: int = 0) -> subprocess.CompletedProcess:
    """``sigsup ARGS -c CONFIG`` (under a file size limit when ``limit``)."""
    return _python(CLI_SCRIPT, [str(limit), *args, "-c", str(m.cfg)], _env(m))


def _check_full_disk(m, spool_dir: Path, result: dict, limit: int = 0,
                     expect: str = "No space left") -> None:
    ok, err = result["ok"], result["err"]
    assert err is not None, "the disk never filled"
    assert ok, "not a single job fitted"
    # a clear error: the spooler, the cause; and no half-written job left behind
    # (sigsup.spool.store.SpoolWriteError: a SpoolError and an OSError)
    assert err["type"] == "SpoolWriteError", err
    assert expect in err["msg"] and "not queued" in err["msg"], err
    assert "'default'" in err["msg"] and str(spool_dir) in err["msg"], err
    assert not list((spool_dir / "tmp").iterdir()), "a temp file was left in tmp/"
    # the CLI says the same, with exit code 1
    body_file = m.dir / "big.bin"
    body_file.write_bytes(b"y" * 300_000)
    r = _cli(m, "spool", "default", "do=quick", "--body-file", str(body_file), limit=limit)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert expect in r.stderr and "not queued" in r.stderr and r.stdout == "", r.stderr
    # every job spool() returned is run, exactly once; the refused one never exists
    (m.dir / "release").touch()
    want = set(ok)

    def ran():
        ends = Counter(x["id"] for x in read_records(m.out) if x.get("ev") == "end")
        return ends if want <= set(ends) else None
    ends = wait_for(ran, 30, f"{len(want)} spooled jobs to run")
    assert set(ends) == want and set(ends.values()) == {1}, ends
    st = m.wait_for(lambda: (lambda st: st if st["spoolers"]["default"]["done"] >= len(want)
                             else None)(m.status()), 10, "spooler counters")
    sp = st["spoolers"]["default"]
    assert (sp["done"], sp["dead_lettered"], sp["died_mid_job"]) == (len(want), 0, 0), sp
    assert m.wait_for(lambda: not list((spool_dir / "jobs").iterdir()), 5, "an empty queue")
    assert not list((spool_dir / "failed").iterdir())
    # and the spooler takes jobs again once there is room
    r = _cli(m, "spool", "default", "do=quick", limit=limit)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: r.stdout.strip() in {x["id"] for x in read_records(m.out) if x.get("ev") == "end"},
             10, "a job spooled after the disk was freed")


def test_spool_on_a_full_tmpfs(master_factory, tiny_tmpfs):
    """The spool directory is a 256 KiB tmpfs: spool() fails with a clear error once it is
    full, the CLI too; every job that was accepted runs once; none is half-written."""
    m = master_factory(SPOOLER.format(dir=tiny_tmpfs), sup=sup())
    # a first job blocks the spooler, so the queue stays on disk while it fills
    r = m.cli("spool", "default", "do=block", "-c", str(m.cfg), socket=False)
    assert r.returncode == 0, r.stderr
    blocker = r.stdout.strip()
    wait_for(lambda: blocker in {x["id"] for x in read_records(m.out) if x.get("ev") == "start"}, 10,
             "the blocking job to start")
    result = _spool_until_error(m, 0, 16_000, 1000)
    result["ok"].append(blocker)
    _check_full_disk(m, tiny_tmpfs, result)


def test_spool_with_a_file_size_limit(master_factory, tmp_path):
    """The spooling process may not write files over 32 KiB (RLIMIT_FSIZE, the usual
    stand-in for a quota): a job too big is refused with a clear error, nothing is left."""
    spool_dir = tmp_path / "spool"
    m = master_factory(SPOOLER.format(dir=spool_dir), sup=sup())
    r = m.cli("spool", "default", "do=block", "-c", str(m.cfg), socket=False)
    assert r.returncode == 0, r.stderr
    blocker = r.stdout.strip()
    wait_for(lambda: blocker in {x["id"] for x in read_records(m.out) if x.get("ev") == "start"}, 10,
             "the blocking job to start")
    small = _spool_until_error(m, 32768, 1000, 5)
    assert small["err"] is None and len(small["ok"]) == 5
    big = _spool_until_error(m, 32768, 40000, 1)
    result = {"ok": small["ok"] + [blocker], "err": big["err"]}
    _check_full_disk(m, spool_dir, result, limit=32768, expect="too large")
