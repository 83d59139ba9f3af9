"""`sigsup reload` and SIGHUP on a real master: nothing lost or run twice under a flood, a
broken config changes nothing, changed handler code runs on the next raise."""

from __future__ import annotations

import signal
import time
from collections import Counter

N = 10_000
SIG = 61

FLOOD = f"""
[workers]
count = 2

[mules]
count = 1

[mules.main]
1 = "e2eapp:flood_program"

[signals.{SIG}]
handler = "e2eapp:record_slowly"
target = "worker"
"""

CODE = """
[workers]
count = 2

[signals.40]
handler = "reload_app:handler"
target = "worker"
"""

APP = '''
from e2eapp import write

VERSION = {version!r}


def handler(sig):
    write(sig, "version", version=VERSION)
'''


def test_reload_under_a_flood_loses_and_duplicates_nothing(master_factory):
    m = master_factory(FLOOD, env={"E2E_FLOOD_N": str(N), "E2E_FLOOD_SIG": str(SIG),
                                   "E2E_SLOW": "0.0002"})
    pids = {p["name"]: p["pid"] for p in m.status()["processes"]}
    (m.dir / "go").touch()
    m.wait_records(500, SIG, timeout=30)           # the flood is under way
    r = m.cli("reload", "--workers-only", "--wait", "--json", timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    (done,) = m.wait_records(1, tag="flood-done", timeout=60)
    ids = done["ids"]
    assert len(set(ids)) == N

    def settled():
        st = m.status()
        s = m.signal_status(SIG, st)
        return (st, s) if s["handled"] + s["failed"] + s["dropped"] >= N \
            and st["master"]["queued"] == 0 \
            and all(p["in_flight"] == 0 for p in st["processes"]) else None
    st, s = m.wait_for(settled, 60, "the flood to be handled")
    # the counters add up: every raise handled once, none failed or dropped by the reload
    assert (s["raised"], s["handled"], s["failed"], s["dropped"]) == (N, N, 0, 0), s
    recs = m.records(SIG)
    rids = Counter(x["rid"] for x in recs)
    assert len(recs) == N and set(rids) == set(ids), "a raise lost or run twice"
    after = {p["name"]: p["pid"] for p in st["processes"]}
    assert after["worker1"] != pids["worker1"] and after["worker2"] != pids["worker2"]
    assert after["mule1"] == pids["mule1"]           # --workers-only
    assert {x["pid"] for x in recs} >= {after["worker1"], after["worker2"]} | {
        pids["worker1"], pids["worker2"]} - {None}
    reload_status = st.get("reload") or m.status()["reload"]
    assert reload_status["done"] >= 1


def _version_runs(m, n):
    return m.wait_records(n, 40, "version", timeout=20)


def test_changed_code_runs_after_reload_and_a_broken_config_changes_nothing(
        master_factory, tmp_path):
    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "reload_app.py").write_text(APP.format(version="one"))
    from harness import APPS
    m = master_factory(CODE, sup={"pythonpath": [str(APPS), str(mod)]})
    assert m.cli("raise", "40", "--wait").returncode == 0
    assert _version_runs(m, 1)[-1]["version"] == "one"

    # a broken config is refused whole; the tree runs on with the old code
    good = m.cfg.read_text()
    m.cfg.write_text(good + "\n[signals.41]\nhandler = 'reload_app:handler'\ntarget = 'nobody'\n")
    r = m.cli("reload", "--wait")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "signals.41" in r.stderr and "target" in r.stderr, r.stderr
    assert m.cli("raise", "40", "--wait").returncode == 0
    assert _version_runs(m, 2)[-1]["version"] == "one"
    assert 41 not in {s["num"] for s in m.status()["signals"]}

    # the code changes (a longer file: the bytecode cache sees it), then a reload
    m.cfg.write_text(good)
    (mod / "reload_app.py").write_text(APP.format(version="second"))
    r = m.cli("reload", "--wait")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert m.cli("raise", "40", "--wait").returncode == 0
    assert _version_runs(m, 3)[-1]["version"] == "second"

    # SIGHUP does the same
    (mod / "reload_app.py").write_text(APP.format(version="third-one"))
    before = m.status()["reload"]["done"]
    m.proc.send_signal(signal.SIGHUP)
    m.wait_for(lambda: m.status()["reload"]["done"] > before
               and not m.status()["reload"]["in_progress"], 30, "the SIGHUP reload")
    deadline = time.monotonic() + 20
    while True:   # the new workers come up: raise until the new code answers
        assert m.cli("raise", "40", "--wait").returncode == 0
        if m.records(40, "version")[-1]["version"] == "third-one":
            break
        assert time.monotonic() < deadline, m.records(40, "version")
