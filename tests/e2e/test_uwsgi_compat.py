"""uWSGI code run unchanged by a real master (``import uwsgi``, ``import uwsgidecorators``
in ``preload``): apps/uwsgi_signals_app.py, uwsgi_spool_app.py, uwsgi_mule_app.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .spool_helpers import records, wait_records

SIGNALS_TREE = """
[workers]
count = 2

[mules]
count = 1

[options]
greeting = "hello"
"""


def test_signals_timers_locks_identity_and_hooks(master_factory):
    m = master_factory(SIGNALS_TREE, sup={"preload": ["uwsgi_signals_app"]})
    # uwsgi.post_fork_hook and @postfork both run in every child (chained, not overwritten)
    hooks = wait_records(m, 3, ev="post_fork_hook")
    forks = wait_records(m, 3, ev="postfork")
    assert sorted((r["wid"], r["mule"]) for r in hooks) == [(0, 1), (1, 0), (2, 0)]
    assert sorted((r["wid"], r["mule"]) for r in forks) == [(0, 1), (1, 0), (2, 0)]
    # each worker registered its own closure for 30; the timer was added once (lock 1)
    ticks = wait_records(m, 6, ev="tick")
    assert {r["wid"] for r in ticks} == {1, 2}
    assert all(r["wid"] == r["closure_of"] and r["num"] == 30 for r in ticks)
    st = m.status()
    timers30 = [e for e in st["events"] if e.get("signal") == 30]
    assert len(timers30) == 1, timers30
    # a closure registered in a worker for mule1: refused, saying why
    refused = wait_records(m, 2, ev="refused")
    assert all("exists only in the memory of worker" in r["error"] for r in refused)
    assert not st_entry(st, 31)["registered"] if st_entry(st, 31) else True
    # a lambda registered in the master before fork runs in every worker
    assert m.cli("raise", "32", "--wait").returncode == 0
    assert sorted(r["wid"] for r in wait_records(m, 2, ev="lambda")) == [1, 2]
    # @timer on mule1, with a free number
    (mt, *_) = wait_records(m, 1, ev="mule-timer")
    assert mt["mule"] == 1 and 0 <= mt["num"] <= 255
    # identity, opt, locks
    assert m.cli("raise", "33", "--wait").returncode == 0
    (ident,) = wait_records(m, 1, ev="identity")
    assert ident["wid"] == 1 and ident["masterpid"] == m.pid
    assert (ident["numproc"], ident["greeting"], ident["processes"]) == (2, "hello", "2")
    assert abs(ident["started_on"] - time.time()) < 120
    assert ident["registered"] and not ident["unregistered"]
    assert (ident["locked_before"], ident["locked_held"]) == (False, True)


def st_entry(st, num):
    return next((s for s in st["signals"] if s["num"] == num), None)


SPOOL_TREE = """
[workers]
count = 1

[spoolers.default]
dir = "spool"
retry_backoff = 0.2
"""


def test_spooler_callable_and_spool_decorators(master_factory):
    m = master_factory(SPOOL_TREE, sup={"preload": ["uwsgi_spool_app"]})
    assert m.cli("raise", "40", "--wait").returncode == 0
    (q,) = wait_records(m, 1, ev="queued")
    assert q["types"] == ["bytes", "bytes", "bytes"]
    assert q["path"].startswith(str(m.dir / "spool")) and q["jobs"] >= 1
    # uwsgi.spooler: SPOOL_RETRY, then SPOOL_OK; bytes keys and values, 'body'
    first, second = wait_records(m, 2, ev="spooler", timeout=15)
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert (first["name"], first["other"], first["body"]) == ("job1", "str-value", "the body")
    assert "body" in first["keys"] and "other" in first["keys"]
    # @spool without pass_arguments: a dict of bytes
    (plain,) = wait_records(m, 1, ev="plain")
    assert plain["args"] == {"x": "1", "y": "2"}
    # @spool(pass_arguments=True) with at: runs within a second or two of it
    (later,) = wait_records(m, 1, ev="later", timeout=10)
    assert (later["a"], later["b"], later["c"]) == (7, "seven", "see")
    assert q["at"] - 0.01 <= later["t"] <= q["at"] + 2.0
    # the job whose file was deleted never ran
    time.sleep(0.5)   # the kept job, due at the same time, already ran: nothing else due
    assert [r["a"] for r in records(m, ev="later")] == [7]
    assert not Path(q["kept"]).exists()


MULE_TREE = """
[workers]
count = 2

[mules]
count = 3

[mules.main]
2 = "uwsgi_mule_app:mule_main"
"""


def test_mulefunc_programmed_mule_and_hook(master_factory):
    m = master_factory(MULE_TREE, sup={"preload": ["uwsgi_mule_app"]})
    # @mulefunc(1), fed by both workers, flushed by a timer in mule 1
    assert m.cli("raise", "50", "--wait").returncode == 0
    fed = wait_records(m, 2, ev="fed")
    assert all(r["sent"] is True for r in fed)
    flushed = wait_records(m, 1, ev="flushed")
    got = sorted(w for r in records(m, ev="flushed") for w in r["wids"])
    if got != [1, 2]:       # the two calls may straddle a flush
        flushed = wait_records(m, 2, ev="flushed")
        got = sorted(w for r in flushed for w in r["wids"])
    assert got == [1, 2] and all(r["mule"] == 1 for r in flushed)
    # mule_msg: True when queued, False when refused; mule 2 loops on mule_get_msg; mule 3
    # (no message_handler) has uwsgi.mule_msg_hook
    assert m.cli("raise", "51", "--wait").returncode == 0
    (sent,) = wait_records(m, 1, ev="sent")
    assert (sent["to2"], sent["to3"], sent["to9"]) == (True, True, False)
    (two,) = wait_records(m, 1, ev="mule2-got")
    assert (two["msg"], two["type"], two["mule"]) == ("hello two", "bytes", 2)
    (three,) = wait_records(m, 1, ev="hook-got")
    assert (three["msg"], three["mule"]) == ("hi three", 3)


def test_import_uwsgi_outside_sigsup_fails(tmp_path):
    """Outside a tree, ``import uwsgi`` is an ImportError (even after ``import sigsup``),
    and a real ``uwsgi`` module on the path is the one found."""
    code = ("import sigsup, sigsup.decorators\n"
            "for name in ('uwsgi', 'uwsgidecorators'):\n"
            "    try:\n"
            "        __import__(name)\n"
            "    except ImportError:\n"
            "        print(name, 'missing')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    env.pop("SIGSUP_SOCKET", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.split("\n")[:2] == ["uwsgi missing", "uwsgidecorators missing"], out
    fake = tmp_path / "uwsgi.py"
    fake.write_text("REAL = True\n")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    out = subprocess.run([sys.executable, "-c", "import sigsup, uwsgi; print(uwsgi.REAL)"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out
