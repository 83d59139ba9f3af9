"""Bad configs: `start` and `check` list every problem (file, key path), exit 1 and fork
nothing; a good config passes `check` with a one-line summary."""

from __future__ import annotations

import re
import time

import pytest
from trees import signals, workers

BAD_1 = """\
[supervisor]
socket = "{sock}"
pythonpath = ["{apps}"]
shutdwn_timeout = 3
harakiri = "long"

[workers]
count = 4

[mules]
count = 2

[farms]
f = [1, 5]

[signals.17]
handler = "e2eapp:record"
target = "worker9"

[signals.300]
handler = "e2eapp:record"

[signals.18]
handler = "e2eapp:no_such_function"

[signals.19]
handler = "e2e_missing_module:f"
target = "mule"

[signals.21]
handler = "e2eapp:record"
target = "wrokers"
"""

PROBLEMS_1 = [
    ("supervisor.shutdwn_timeout", "did you mean 'shutdown_timeout'"),
    ("supervisor.harakiri", 'expected a number, got string "long"'),
    ("farms.f[1]", "no mule 5 (mules.count is 2)"),
    ("signals.17.target", "no worker 9 (workers.count is 4)"),
    ("signals.300", "signal numbers are 0..255"),
    ("signals.18.handler", "no attribute 'no_such_function'"),
    ("signals.19.handler", "cannot import module 'e2e_missing_module'"),
    ("signals.21.target", "unknown target 'wrokers' (did you mean 'workers'?)"),
]

BAD_2 = """\
[supervisor]
socket = "{sock}"
pythonpath = ["{apps}"]
queue_size = 0

[workers]
count = 2
cheepr = 1

[mules]
count = 3

[farms]
f = [1, 2]

[spoolers.s]
dir = "spool/s"

[signals.30]
handler = "e2eapp:record"
target = "farm_nope"

[signals.31]
handler = "e2eapp:record"
target = "mule4"

[signals.32]
handler = "e2eapp:record"
target = "farm2"

[signals.33]
handler = "e2eapp:record"
target = "spooler_x"

[signals.34]
handler = "e2eapp"

[signals.35]
handler = "e2eapp:_fd"

[signals.36]
handler = "e2eapp:record"
target = "worker"
on_full = "drop"
"""

PROBLEMS_2 = [
    ("supervisor.queue_size", "must be at least 1, got 0"),
    ("workers.cheepr", "did you mean 'cheaper'"),
    ("signals.30.target", "no farm named 'nope'"),
    ("signals.31.target", "no mule 4 (mules.count is 3)"),
    ("signals.32.target", "no farm 2"),
    ("signals.33.target", "no spooler named 'x'"),
    ("signals.34.handler", "not an import path"),
    ("signals.35.handler", "not a callable"),
    ("signals.36.on_full", "drop"),
]


def write_config(tmp_path, text, apps):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text.format(sock=tmp_path / "m.sock", apps=apps))
    return cfg


def check_listing(cfg, r, problems):
    assert r.returncode == 1, (r.stdout, r.stderr)
    out = r.stderr
    assert str(cfg) in out, out
    assert f"{len(problems)} problems" in out, out
    for key, message in problems:
        lines = [ln for ln in out.splitlines() if f"{key}: " in ln]
        assert lines, f"{key} not reported:\n{out}"
        assert any(message in ln for ln in lines), f"{key}: {message!r} not in {lines}"
    assert "Traceback" not in out


@pytest.mark.parametrize(("text", "problems"), [(BAD_1, PROBLEMS_1), (BAD_2, PROBLEMS_2)],
                         ids=["bad1", "bad2"])
@pytest.mark.parametrize("command", ["check", "start"])
def test_bad_config_lists_every_problem_and_forks_nothing(tmp_path, sigsup_cli, apps_dir,
                                                          command, text, problems):
    cfg = write_config(tmp_path, text, apps_dir)
    mark = tmp_path / "forked"
    t0 = time.monotonic()
    # E2E_FORK_MARK: e2eapp, imported while the handlers are checked, records every fork
    r = sigsup_cli(command, str(cfg), timeout=30, env={"E2E_FORK_MARK": str(mark)})
    check_listing(cfg, r, problems)
    assert time.monotonic() - t0 < 20
    assert not mark.exists(), f"{command} forked: {mark.read_text()}"
    assert not (tmp_path / "m.sock").exists()
    assert r.stdout == ""


GOOD = """\
[supervisor]
socket = "{sock}"
pythonpath = ["{apps}"]

[workers]
count = 3

[mules]
count = 2

[farms]
f = [1, 2]

[spoolers.s]
dir = "spool/s"
processes = 2

[signals.17]
handler = "e2eapp:record"
target = "farm_f"

[signals.18]
handler = "e2eapp:record"
"""


def test_check_good_config(tmp_path, sigsup_cli, apps_dir):
    cfg = tmp_path / "good.toml"
    cfg.write_text(GOOD.format(sock=tmp_path / "m.sock", apps=apps_dir))
    mark = tmp_path / "forked"
    r = sigsup_cli("check", str(cfg), env={"E2E_FORK_MARK": str(mark)})
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    assert re.fullmatch(re.escape(f"{cfg}: ok (3 workers, 2 mules, ") + r"1 farms?"
                        + re.escape(", 2 spooler processes, 2 signals)"), lines[0]), lines[0]
    assert not mark.exists()
    assert not (tmp_path / "m.sock").exists()


def test_fork_probe_sees_the_forks_of_a_good_start(master_factory):
    """The probe the bad-config tests rely on: a good start does record its forks."""
    m = master_factory(workers(2), start=False)
    mark = m.dir / "forked"
    m.env["E2E_FORK_MARK"] = str(mark)
    m.cfg.write_text(m.cfg.read_text() + signals({5: None}))
    m.start()
    pids = {int(x) for x in mark.read_text().split()}
    assert set(m.child_pids().values()) <= pids


def test_missing_config_file(tmp_path, sigsup_cli):
    for command in ("check", "start"):
        r = sigsup_cli(command, str(tmp_path / "nope.toml"))
        assert r.returncode == 1
        assert "nope.toml" in r.stderr and "no such file" in r.stderr


def test_invalid_toml(tmp_path, sigsup_cli):
    cfg = tmp_path / "broken.toml"
    cfg.write_text("[workers\ncount = 2\n")
    r = sigsup_cli("start", str(cfg))
    assert r.returncode == 1
    assert str(cfg) in r.stderr and "invalid TOML" in r.stderr
