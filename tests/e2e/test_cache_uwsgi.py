"""Differential: the same cache calls (tests/e2e/apps/cache_probe.py) in a uWSGI mule and
in a sigsup mule through sigsup.compat.uwsgi_cache give the same answers, but one on
purpose: a value over the item size is refused loudly by sigsup (CacheFull), silently by
uWSGI (None). Skipped where uWSGI is not installed (the `bench` extra builds it)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pytest
from harness import APPS, clean_env, wait_for

UWSGI = shutil.which("uwsgi")


def run_uwsgi(tmp) -> dict[str, str]:
    out = tmp / "uwsgi.json"
    env = {**clean_env(), "PROBE_OUT": str(out)}
    with open(tmp / "uwsgi.log", "wb") as log:
        p = subprocess.Popen(
            [UWSGI, "--master", "--workers", "1", "--socket", str(tmp / "u.sock"),
             "--pythonpath", str(APPS), "--cache2", "name=default,items=10,blocksize=100",
             "--mule=" + str(APPS / "cache_probe_uwsgi.py"), "--disable-logging",
             "--die-on-term"],
            cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_for(lambda: out.exists() or p.poll() is not None, 30, "uWSGI's probe")
        assert out.exists(), (tmp / "uwsgi.log").read_text()[-2000:]
        return json.loads(out.read_text())
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(10)


@pytest.mark.skipif(UWSGI is None, reason="uwsgi is not installed (pip install -e '.[bench]')")
def test_same_answers_as_uwsgi(master_factory, tmp_path):
    theirs = run_uwsgi(tmp_path)
    m = master_factory("\n[workers]\ncount = 1\n[mules]\ncount = 1\n[mules.main]\n"
                       '1 = "cache_probe:sigsup_mule"\n[caches.default]\nitems = 10\n'
                       "max_bytes = 1000\nmax_item_bytes = 100\n",
                       env={"PROBE_OUT": str(m_out := tmp_path / "sigsup.json")})
    wait_for(lambda: m_out.exists(), 30, "sigsup's probe")
    ours = json.loads(m_out.read_text())
    assert theirs.pop("big") == "None" and ours.pop("big") == "ERR CacheFull"
    assert ours == theirs
    assert m.running()
