"""`sigsup convert uwsgi.ini` as a user runs it: the result passes `sigsup check` (imports
included), `--check` says so, and fails when the converted tree's code does not import."""

from __future__ import annotations

import sys
import textwrap

from harness import run_cli

APP = '''
import sigsup

def on_tick(num):
    pass

def mule_loop():
    while True:
        sigsup.mule_get_msg()

sigsup.register_signal(17, "workers", on_tick)
'''

INI = """
[app]
unrelated = yes

[uwsgi]
base = %d
chdir = %(base)
pythonpath = %(base)src
module = myapp:application
master = true
processes = 2
mule = myapp:mule_loop
mule =
farm = pair:1,2
spooler = %(base)spool
timer = 17 5
touch-signal = %(base)touch.txt 18
harakiri = 20
cache2 = name=sessions,items=100,blocksize=4096
http-socket = :8000
"""


def sigsup(*args: str):
    return run_cli([sys.executable, "-m", "sigsup", *args], timeout=60)


def test_convert_then_check(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "myapp.py").write_text(textwrap.dedent(APP))
    (tmp_path / "uwsgi.ini").write_text(INI)
    out = tmp_path / "sigsup.toml"
    r = sigsup("convert", str(tmp_path / "uwsgi.ini"), "-o", str(out), "--check")
    assert r.returncode == 0, r.stderr
    assert "not carried over: line 20: http-socket = :8000: sigsup serves no requests" in r.stderr
    assert "--check: ok (2 workers, 2 mules, 1 spooler processes, 2 event sources)" in r.stderr
    text = out.read_text()
    assert '[caches.sessions]' in text and '1 = "myapp:mule_loop"' in text
    c = sigsup("check", str(out))
    assert c.returncode == 0, c.stderr
    assert "ok (2 workers, 2 mules, 1 farm" in c.stdout
    # to stdout, the same text
    s = sigsup("convert", str(tmp_path / "uwsgi.ini"))
    assert s.returncode == 0 and s.stdout == text


def test_check_fails_when_the_code_does_not_import(tmp_path):
    (tmp_path / "uwsgi.ini").write_text("[uwsgi]\nmodule = not_there_at_all\nprocesses = 1\n")
    r = sigsup("convert", str(tmp_path / "uwsgi.ini"), "--check")
    assert r.returncode == 1
    assert "cannot import module 'not_there_at_all'" in r.stderr
    missing = sigsup("convert", str(tmp_path / "uwsgi.ini"), "--section", "prod")
    assert missing.returncode == 1 and "no [prod] section" in missing.stderr
    nofile = sigsup("convert", str(tmp_path / "nope.ini"))
    assert nofile.returncode == 1 and "cannot read" in nofile.stderr
