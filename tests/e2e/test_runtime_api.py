"""The sigsup API inside children: register/unregister at run time, sigsup.signal()."""

from __future__ import annotations

import os
import subprocess
import sys

from trees import BUSY_WORKER1

TREE = """
[workers]
count = 2

[mules]
count = 2

[signals.90]
handler = "e2eapp:do_register"
target = "worker1"

[signals.94]
handler = "e2eapp:do_unregister"
target = "worker2"
"""


def test_register_from_a_worker_keeps_its_target(master_factory):
    m = master_factory(TREE)
    r = m.cli("raise", "90", "--wait")
    assert r.returncode == 0, (r.stdout, r.stderr)
    (reg,) = m.records(90, "registered")
    assert reg["name"] == "worker1"
    assert (reg["r91"], reg["r92"], reg["r93"]) == (True, True, False)
    assert reg["lambda_error"] and reg["lambda_error"].startswith("ValueError:"), reg
    assert "cannot be imported by other processes" in reg["lambda_error"]

    st = m.status()
    s91 = m.signal_status(91, st)
    assert (s91["target"], s91["handler"]) == ("mule1", "e2eapp:record")
    assert s91["source"] == "runtime (worker1)"
    s92 = m.signal_status(92, st)
    assert (s92["target"], s92["handler"]) == ("mule2", "e2eapp:record")

    # raised from outside: it runs where the entry says, not where it was registered
    for _ in range(5):
        assert m.request({"cmd": "raise", "signum": 91})["result"]["recipients"] == ["mule1"]
    m.request({"cmd": "raise", "signum": 92})
    m.wait_handled(91, 5)
    m.wait_handled(92, 1)
    recs = m.records(91)
    assert len(recs) == 5 and {(r["name"], r["mid"], r["wid"]) for r in recs} == {("mule1", 1, 0)}
    (r92,) = m.records(92)
    assert (r92["name"], r92["mid"]) == ("mule2", 2)

    # unregistered from another worker: gone from the one table
    assert m.cli("raise", "94", "--wait").returncode == 0
    (unreg,) = m.records(94, "unregistered")
    assert (unreg["removed"], unreg["again"], unreg["r91"]) == (True, False, False)
    s91 = m.signal_status(91)
    assert s91["handler"] is None and s91["target"] is None
    assert s91["handled"] == 5                      # the counters survive the entry
    reply = m.request({"cmd": "registered", "signum": 91})
    assert reply["ok"] and reply["registered"] is False

    # now an unregistered number: kept for a signal_wait caller, no handler runs anywhere
    res = m.request({"cmd": "raise", "signum": 91})["result"]
    assert res["recipients"] == ["signal_wait"]
    assert len(m.records(91)) == 5


def test_register_from_a_client_process(master_factory, apps_dir):
    """register_signal and signal from outside the tree (SIGSUP_SOCKET): the same table."""
    m = master_factory(TREE)
    code = ("import sigsup; sigsup.register_signal(95, 'mule2', 'e2eapp:record'); "
            "print(sigsup.signal_registered(95)); r = sigsup.signal(95); "
            "print(type(r).__name__, r.signum, r.recipients, r.names)")
    env = {**m.env, "SIGSUP_SOCKET": str(m.sock),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(apps_dir),
                                                       m.env.get("PYTHONPATH", "")]))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["True", "RaiseResult 95 1 ('mule2',)"]
    m.wait_handled(95, 1)
    (rec,) = m.records(95)
    assert rec["name"] == "mule2"
    # the outside client is named: its pid and argv[0] ("-c" for python -c)
    source = m.signal_status(95)["source"]
    assert source.startswith("runtime (client pid ") and source.endswith(" (-c))"), source
    m.wait_log("signal 95 registered by client pid ")


REFUSE = """
[workers]
count = 2
""" + BUSY_WORKER1 + """
[signals.42]
handler = "e2eapp:raise_twice"
target = "worker2"
"""


def test_signal_from_a_child_returns_a_result_or_raises_refused(master_factory):
    m = master_factory(REFUSE, sup={"queue_size": 1, "window": 1})
    m.request({"cmd": "raise", "signum": 40})         # worker1 busy until released
    m.wait_records(1, 40, "start")
    assert m.cli("raise", "42", "--wait").returncode == 0
    (rec,) = m.records(42, "raised")
    first, second = rec["results"]
    assert first["type"] == "RaiseResult" and first["signum"] == 41 and first["recipients"] == 1
    assert first["id"] > 0
    assert "refused" in second, second
    assert "worker1: queue full (1 pending)" in second["refused"]
    assert second["result"]["refused"] == [{"recipient": "worker1",
                                            "reason": "queue full (1 pending)"}]
    assert "out of range" in rec["out_of_range"]

    st = m.status()
    s41 = m.signal_status(41, st)
    assert (s41["raised"], s41["dropped"], s41["handled"]) == (2, 1, 0)
    (m.dir / "release").touch()
    st = m.wait_handled(41, 1)
    s41 = m.signal_status(41, st)
    assert (s41["raised"], s41["dropped"], s41["handled"], s41["failed"]) == (2, 1, 1, 0)
    (r41,) = m.records(41)
    assert r41["rid"] == first["id"] and r41["name"] == "worker1"
