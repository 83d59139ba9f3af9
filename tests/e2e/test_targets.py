"""Every target form delivers to exactly the processes it names, and nowhere else."""

from __future__ import annotations

from collections import Counter

import pytest
from trees import signals

TREE = """
[workers]
count = 3

[mules]
count = 4

[farms]
a = [1, 2]
b = [3]

[spoolers.s1]
dir = "spool/s1"
processes = 2

[spoolers.s2]
dir = "spool/s2"
processes = 1
"""

# signal number -> target
TARGETS = {
    10: "worker", 11: "worker0", 12: "worker2", 13: "workers", 14: "active-workers",
    20: "mule", 21: "mule0", 22: "mule3", 23: "mules",
    30: "farm1", 31: "farm2", 32: "farm_a", 33: "farm_b",
    40: "spooler", 41: "spoolers", 42: "spooler_s1", 43: "spooler_s2",
}

WORKERS = {"worker1", "worker2", "worker3"}
MULES = {"mule1", "mule2", "mule3", "mule4"}
SPOOLERS = {"spooler:s1#1", "spooler:s1#2", "spooler:s2#1"}


@pytest.fixture
def tree(master_factory):
    return master_factory(TREE + signals(TARGETS))


def names(records) -> list[str]:
    return [r["name"] for r in records]


def settle(m, expected: dict[int, int]) -> dict[int, list[dict]]:
    """Wait until each signal's handled counter reaches its expected count, then check it
    went no further and that queues are empty; returns the records per signal."""
    def done():
        st = m.status()
        counts = {n: m.signal_status(n, st) for n in expected}
        if all(c["handled"] >= expected[n] for n, c in counts.items()) and st["master"]["queued"] == 0:
            return st
        return None
    st = m.wait_for(done, 20, f"handled counters {expected}")
    out = {}
    for n, want in expected.items():
        s = m.signal_status(n, st)
        assert (s["handled"], s["failed"], s["dropped"]) == (want, 0, 0), (n, s)
        out[n] = m.records(n)
        assert len(out[n]) == want, (n, out[n])
    return out


def test_one_worker_targets(tree):
    m = tree
    for n in (10, 11):
        res = m.request({"cmd": "raise", "signum": n})["result"]
        assert len(res["recipients"]) == 1 and res["recipients"][0] in WORKERS, res
    res = m.request({"cmd": "raise", "signum": 12})["result"]
    assert res["recipients"] == ["worker2"]
    recs = settle(m, {10: 1, 11: 1, 12: 1})
    for n in (10, 11):
        (r,) = recs[n]
        assert r["kind"] == "worker" and r["name"] in WORKERS and r["wid"] in (1, 2, 3), r
        assert r["name"] == f"worker{r['wid']}"
    (r,) = recs[12]
    assert (r["name"], r["wid"], r["mid"]) == ("worker2", 2, 0)
    assert r["pid"] == m.child_pids()["worker2"]


def test_worker_spreads_least_recently_used_first(tree):
    """A burst to `worker` runs once per raise, only on workers, and uses every idle one."""
    m = tree
    m.raise_many(10, 30)
    recs = settle(m, {10: 30})
    assert set(names(recs[10])) == WORKERS
    assert len({r["rid"] for r in recs[10]}) == 30


def test_broadcast_worker_targets(tree):
    m = tree
    res = m.request({"cmd": "raise", "signum": 13})["result"]
    assert sorted(res["recipients"]) == sorted(WORKERS)
    res = m.request({"cmd": "raise", "signum": 14})["result"]
    assert sorted(res["recipients"]) == sorted(WORKERS)
    recs = settle(m, {13: 3, 14: 3})
    pids = m.child_pids()
    for n in (13, 14):
        assert Counter(names(recs[n])) == Counter(WORKERS), recs[n]
        assert all(r["pid"] == pids[r["name"]] and r["kind"] == "worker" for r in recs[n])
        assert len({r["rid"] for r in recs[n]}) == 1     # one raise, three recipients


def test_mule_targets(tree):
    m = tree
    for n in (20, 21):
        res = m.request({"cmd": "raise", "signum": n})["result"]
        assert len(res["recipients"]) == 1 and res["recipients"][0] in MULES, res
    assert m.request({"cmd": "raise", "signum": 22})["result"]["recipients"] == ["mule3"]
    assert sorted(m.request({"cmd": "raise", "signum": 23})["result"]["recipients"]) == sorted(MULES)
    recs = settle(m, {20: 1, 21: 1, 22: 1, 23: 4})
    for n in (20, 21):
        (r,) = recs[n]
        assert r["kind"] == "mule" and r["name"] == f"mule{r['mid']}" and r["wid"] == 0, r
    (r,) = recs[22]
    assert (r["name"], r["mid"], r["wid"]) == ("mule3", 3, 0)
    assert Counter(names(recs[23])) == Counter(MULES)
    assert sorted(r["mid"] for r in recs[23]) == [1, 2, 3, 4]


FARMS = {30: {"mule1", "mule2"}, 32: {"mule1", "mule2"}, 31: {"mule3"}, 33: {"mule3"}}


def test_farm_targets(tree):
    """farmN / farm_NAME: one mule of that farm per raise, never one outside it; a burst
    uses every mule of the farm."""
    m = tree
    for signum, members in FARMS.items():
        results = m.raise_many(signum, 20)
        for res in results:
            assert len(res["recipients"]) == 1, res
            assert res["recipients"][0] in members | {"farm:a", "farm:b"}, res
    recs = settle(m, {signum: 20 for signum in FARMS})
    for signum, members in FARMS.items():
        assert set(names(recs[signum])) == members, signum
        assert {r["mid"] for r in recs[signum]} == {int(n[4:]) for n in members}
        assert len({r["rid"] for r in recs[signum]}) == 20
    assert not any(r["name"] == "mule4" for r in m.records())


def test_spooler_targets(tree):
    m = tree
    res = m.request({"cmd": "raise", "signum": 40})["result"]
    assert len(res["recipients"]) == 1 and res["recipients"][0] in SPOOLERS, res
    res = m.request({"cmd": "raise", "signum": 41})["result"]
    assert sorted(res["recipients"]) == sorted(SPOOLERS)
    m.raise_many(42, 20)
    m.raise_many(43, 5)
    recs = settle(m, {40: 1, 41: 3, 42: 20, 43: 5})
    (r,) = recs[40]
    assert r["kind"] == "spooler" and r["name"] in SPOOLERS and r["wid"] == r["mid"] == 0, r
    assert Counter(names(recs[41])) == Counter(SPOOLERS)
    assert set(names(recs[42])) == {"spooler:s1#1", "spooler:s1#2"}
    assert set(names(recs[43])) == {"spooler:s2#1"}
    pids = m.child_pids()
    for rs in recs.values():
        for r in rs:
            assert r["pid"] == pids[r["name"]], r


def test_no_stray_deliveries(tree):
    """After one raise of every target, each process ran exactly what it was sent."""
    m = tree
    for n in TARGETS:
        m.request({"cmd": "raise", "signum": n})
    expected = {n: 1 for n in TARGETS}
    expected.update({13: 3, 14: 3, 23: 4, 41: 3})
    recs = settle(m, expected)
    allowed = {
        10: WORKERS, 11: WORKERS, 12: {"worker2"}, 13: WORKERS, 14: WORKERS,
        20: MULES, 21: MULES, 22: {"mule3"}, 23: MULES,
        30: {"mule1", "mule2"}, 31: {"mule3"}, 32: {"mule1", "mule2"}, 33: {"mule3"},
        40: SPOOLERS, 41: SPOOLERS, 42: {"spooler:s1#1", "spooler:s1#2"},
        43: {"spooler:s2#1"},
    }
    for n, rs in recs.items():
        assert set(names(rs)) <= allowed[n], (n, rs)
    # the status per process agrees with the records
    st = m.status()
    per_proc = Counter(r["name"] for r in m.records())
    for p in st["processes"]:
        assert p["handled"] == per_proc[p["name"]], p
    assert sum(per_proc.values()) == sum(expected.values())


CHEAPER = """
[workers]
count = 3
cheaper = 1
cheaper_idle = 600.0

[signals.13]
handler = "e2eapp:record"
target = "workers"

[signals.14]
handler = "e2eapp:record"
target = "active-workers"

[signals.15]
handler = "e2eapp:record"
target = "worker3"
"""


def test_broadcast_reaches_cheaped_slots_when_they_start_again(master_factory):
    """`workers`: every slot, a cheaped one when it runs again; `active-workers`: only the
    running ones, never later."""
    m = master_factory(CHEAPER)
    st = m.status()
    states = {p["name"]: p["state"] for p in st["processes"]}
    assert states == {"worker1": "running", "worker2": "cheaped", "worker3": "cheaped"}
    res = m.request({"cmd": "raise", "signum": 13})["result"]
    assert sorted(res["recipients"]) == ["worker1", "worker2", "worker3"]
    assert m.request({"cmd": "raise", "signum": 14})["result"]["recipients"] == ["worker1"]
    st = m.wait_handled(14, 1)
    st = m.wait_handled(13, 1)
    assert [r["name"] for r in m.records(13)] == ["worker1"]
    procs = {p["name"]: p for p in st["processes"]}
    assert procs["worker2"]["queued"] == procs["worker3"]["queued"] == 1
    assert procs["worker2"]["state"] == procs["worker3"]["state"] == "cheaped"

    # a signal for worker3 itself starts it; it runs the broadcast it missed, then that one
    m.request({"cmd": "raise", "signum": 15})
    st = m.wait_handled(15, 1)
    st = m.wait_handled(13, 2)
    recs13 = m.records(13)
    assert sorted(r["name"] for r in recs13) == ["worker1", "worker3"]
    w3 = [r for r in m.records() if r["name"] == "worker3"]
    assert [r["sig"] for r in w3] == [13, 15], "worker3 ran its queue out of order"
    assert [r["name"] for r in m.records(14)] == ["worker1"]
    procs = {p["name"]: p for p in m.status()["processes"]}
    assert procs["worker2"]["state"] == "cheaped" and procs["worker2"]["queued"] == 1
    assert m.signal_status(13)["handled"] == 2


WAITER = """
[workers]
count = 1

[mules]
count = 2

[mules.main]
1 = "e2eapp:waiter"
"""


def test_unregistered_signal_goes_to_a_signal_wait_caller(master_factory):
    """No table entry: the first process in signal_wait gets it; kept until one waits."""
    m = master_factory(WAITER)
    res = m.request({"cmd": "raise", "signum": 200})["result"]
    assert res["recipients"] == ["signal_wait"]      # nobody waits yet: kept
    st = m.status()
    assert st["master"]["queued"] == 1
    (m.dir / "go").touch()                            # mule1 starts calling signal_wait
    (rec,) = m.wait_records(1, 200, "waited")
    assert (rec["name"], rec["mid"]) == ("mule1", 1)
    m.wait_for(lambda: m.proc_status("mule1")["activity"] == "waiting", 10, "mule1 waiting")
    res = m.request({"cmd": "raise", "signum": 201})["result"]
    assert res["recipients"] == ["mule1"]
    m.wait_records(1, 201, "waited")
    assert m.status()["master"]["queued"] == 0
    assert not m.records(None, "run")                 # no handler ran anywhere
