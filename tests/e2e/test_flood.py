"""Ten thousand raises in a burst are ten thousand handler calls, each exactly once."""

from __future__ import annotations

from collections import Counter

import pytest
from trees import workers

N = 10_000
SIG = 61

TREE = f"""
[workers]
count = 2

[mules]
count = 1

[mules.main]
1 = "e2eapp:flood_program"

[signals.{SIG}]
handler = "e2eapp:record"
target = "worker"
"""


def check_exactly_once(m, raised_ids: list[int]) -> None:
    assert len(raised_ids) == N
    assert len(set(raised_ids)) == N, "the master gave two raises the same id"

    def all_handled():
        st = m.status()
        s = m.signal_status(SIG, st)
        return st if s["handled"] + s["failed"] + s["dropped"] >= N and st["master"]["queued"] == 0 \
            and all(p["in_flight"] == 0 for p in st["processes"]) else None
    st = m.wait_for(all_handled, 60, f"{N} raises of signal {SIG} to finish")
    s = m.signal_status(SIG, st)
    assert (s["raised"], s["delivered"], s["handled"], s["failed"], s["dropped"]) == (N, N, N, 0, 0), s
    assert s["coalesced"] == 0
    recs = m.records(SIG)
    assert len(recs) == N
    rids = Counter(r["rid"] for r in recs)
    assert len(rids) == N, f"handled twice: {[k for k, v in rids.items() if v > 1][:10]}"
    assert set(rids) == set(raised_ids)
    per_worker = Counter(r["name"] for r in recs)
    assert set(per_worker) == {"worker1", "worker2"}, per_worker
    procs = {p["name"]: p for p in st["processes"]}
    assert procs["worker1"]["handled"] + procs["worker2"]["handled"] == N
    assert procs["worker1"]["handled"] == per_worker["worker1"]
    assert all(p["respawns"] == 0 and p["failed"] == 0 for p in st["processes"])


def test_flood_from_a_programmed_mule(master_factory):
    m = master_factory(TREE, env={"E2E_FLOOD_N": str(N), "E2E_FLOOD_SIG": str(SIG)})
    (m.dir / "go").touch()
    (done,) = m.wait_records(1, tag="flood-done", timeout=60)
    assert done["name"] == "mule1"
    assert done["recipients"] == N     # every raise accepted, each with one recipient
    check_exactly_once(m, done["ids"])
    assert m.status()["master"]["raised"] == N


def test_flood_pipelined_on_the_control_socket(master_factory):
    m = master_factory(TREE, env={"E2E_FLOOD_N": "0", "E2E_FLOOD_SIG": str(SIG)})
    results = m.raise_many(SIG, N)
    assert all(r["accepted"] and not r["refused"] and len(r["recipients"]) == 1 for r in results)
    check_exactly_once(m, [r["id"] for r in results])


@pytest.mark.parametrize("target", ["workers"])
def test_flood_broadcast(master_factory, target):
    """A broadcast burst: every worker runs every raise, once."""
    n = 2000
    m = master_factory(workers(2, {62: target}))
    results = m.raise_many(62, n)
    assert all(sorted(r["recipients"]) == ["worker1", "worker2"] for r in results)
    st = m.wait_handled(62, 2 * n, timeout=60)
    s = m.signal_status(62, st)
    assert (s["raised"], s["handled"], s["failed"], s["dropped"]) == (n, 2 * n, 0, 0), s
    recs = m.records(62)
    assert len(recs) == 2 * n
    pairs = Counter((r["name"], r["rid"]) for r in recs)
    assert len(pairs) == 2 * n and set(pairs.values()) == {1}
    assert {rid for _, rid in pairs} == {r["id"] for r in results}
