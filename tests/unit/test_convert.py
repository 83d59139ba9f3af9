"""`sigsup convert`'s pure parts: the ini reader (sections, repeated keys, substitutions),
the mapping onto sigsup's tables (checked against the real schema by parsing the output),
and the list of what is not carried over (sigsup/convert/)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sigsup.config import parse_config
from sigsup.convert import convert_ini
from sigsup.convert.ini import parse_ini

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

INI = Path("/srv/app/conf/app.ini")


def conv(text: str, env: dict[str, str] | None = None, section: str = "uwsgi"):
    return convert_ini(text, INI, env or {}, section)


def parsed(text: str, env: dict[str, str] | None = None) -> tuple[dict, list[str]]:
    c = conv(text, env)
    # every key the converter writes must be one sigsup's schema takes
    parse_config(c.toml, Path("/tmp/out/sigsup.toml"), env={})
    return tomllib.loads(c.toml), c.skipped


# -- reading the ini ---------------------------------------------------------------------


def test_substitutions_and_repeated_keys() -> None:
    text = ("[uwsgi]\nbase = %d..\nname = x\npythonpath = %(base)/lib\nfoo = %n.%e in %c\n"
            "bar = $(HOME)/%(name)%%\nmule = a\nmule = b\nwsgi_file = w.py\nflag\n")
    r = parse_ini(text, INI, {"HOME": "/home/u"})
    got = [(o.key, o.value) for o in r.options]
    assert got == [("base", "/srv/app/conf/.."), ("name", "x"),
                   ("pythonpath", "/srv/app/conf/../lib"), ("foo", "app.ini in conf"),
                   ("bar", "/home/u/x%"), ("mule", "a"), ("mule", "b"), ("wsgi-file", "w.py"),
                   ("flag", "true")]
    assert r.problems == [] and r.referenced == {"base", "name"}


def test_substitution_problems_are_reported() -> None:
    r = parse_ini("[uwsgi]\na = %(nope)\nb = $(UNSET)x\nc = %q\n", INI, {})
    assert [o.value for o in r.options] == ["%(nope)", "x", "%q"]
    assert len(r.problems) == 3
    assert r.problems[0].startswith("line 2: %(nope) names no option")
    assert "line 3: $(UNSET)" in r.problems[1] and "line 4: %q" in r.problems[2]


def test_only_the_uwsgi_section_of_a_larger_file() -> None:
    text = ("# comment\n[app]\nprocesses = 9\n[uwsgi]\n; comment\nprocesses = 3\n"
            "[other]\nprocesses = 7\n")
    doc, _ = parsed(text)
    assert doc["workers"] == {"count": 3}
    assert tomllib.loads(conv(text, section="app").toml)["workers"] == {"count": 9}
    missing = conv(text, section="prod")
    assert not missing.ok and missing.problems == ["no [prod] section in the file"]
    assert parsed("processes = 2\n")[0]["workers"] == {"count": 2}   # no section at all


# -- the mapping -------------------------------------------------------------------------


def test_a_whole_app_converts_to_a_config_sigsup_takes() -> None:
    text = """[uwsgi]
chdir = /srv/app
module = myapp.wsgi:application
import = myapp.tasks
shared-import = myapp.shared
wsgi-file = bin/serve.py
pythonpath = lib
master = true
processes = 4
cheaper = 1
mules = 2
mule = myapp.mules:loop
farm = pool:1,2
spooler = spool/mail
spooler = /var/other/mail
spooler-processes = 3
timer = 17 10
signal-timer = 20 2
rbtimer = 18 5
touch-signal = reload.txt 19
harakiri = 30
cache2 = name=sessions,items=50,blocksize=2048
cache2 = name=big,items=10,blocks=40,blocksize=100
"""
    doc, skipped = parsed(text)
    assert skipped == []
    assert doc["supervisor"] == {
        "pythonpath": ["/srv/app/bin", "/srv/app/lib"],
        "preload": ["myapp.wsgi", "myapp.tasks", "myapp.shared", "serve"], "harakiri": 30}
    assert doc["workers"] == {"count": 4, "cheaper": 1}
    assert doc["mules"] == {"count": 3, "main": {"3": "myapp.mules:loop"}}
    assert doc["farms"] == {"pool": [1, 2]}
    assert doc["spoolers"] == {"mail": {"dir": "/srv/app/spool/mail", "processes": 3},
                               "mail2": {"dir": "/var/other/mail", "processes": 3}}
    assert doc["timers"] == [{"signal": 17, "seconds": 10}, {"signal": 20, "seconds": 2}]
    assert doc["rb_timers"] == [{"signal": 18, "seconds": 5}]
    assert doc["monitors"] == [{"signal": 19, "path": "/srv/app/reload.txt",
                                "events": ["created", "modified"], "wait_for_path": True}]
    assert doc["caches"] == {
        "sessions": {"items": 50, "max_bytes": 50 * 2048, "max_item_bytes": 2048},
        "big": {"items": 10, "max_bytes": 4000, "max_item_bytes": 100}}


def test_relative_paths_without_chdir_are_the_ini_files_directory() -> None:
    doc, _ = parsed("[uwsgi]\npythonpath = ../lib\nspooler = s\n")
    assert doc["supervisor"]["pythonpath"] == ["/srv/app/lib"]
    assert doc["spoolers"]["s"]["dir"] == "/srv/app/conf/s"


def test_what_is_not_carried_over_is_listed_with_a_reason() -> None:
    text = ("[uwsgi]\nbase = /x\npythonpath = %(base)\nhttp = :8080\nsocket = /tmp/s.sock\n"
            "plugins = python3\nvirtualenv = /venv\nlogto = /var/log/a\nvacuum = true\n"
            "mule = scripts/m.py\ncron = 0 3 -1 -1 -1 /bin/backup\n"
            "unique-cron = -5 -1 -1 -1 -1 ./tick\nprocesses = many\ntimer = 300 1\n"
            "frobnicate = 1\nmaster = false\n")
    c = conv(text)
    doc = tomllib.loads(c.toml)
    parse_config(c.toml, Path("/tmp/out/sigsup.toml"), env={})
    by_line = {int(s.split(":", 1)[0].split()[1]): s for s in c.skipped}
    assert sorted(by_line) == [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert "serves no requests" in by_line[4] and "serves no requests" in by_line[5]
    assert "no plugins" in by_line[6] and "from that environment" in by_line[7]
    assert "stdout" in by_line[8] and "control socket" in by_line[9]
    assert "runs a script" in by_line[10] and doc["mules"]["count"] == 1
    assert "command cron" in by_line[11] and "unique cron" in by_line[12]
    assert "not a whole number" in by_line[13] and "out of range" in by_line[14]
    assert "not an option sigsup has" in by_line[15]
    # the crons are sketched, commented, for the user to finish; the placeholder is a note
    assert "# [[crons]]" in c.toml and "/bin/backup" in c.toml and "minute = -5" in c.toml
    assert "base (line 2): a placeholder" in c.toml
    assert "master = false cannot be carried over" in c.toml
    assert "Not carried over: 12 options" in c.toml


def test_empty_ini_gives_an_empty_but_valid_config() -> None:
    doc, skipped = parsed("[uwsgi]\n")
    assert skipped == [] and doc == {}


@pytest.mark.parametrize("line", ["cheaper = 9\nprocesses = 2", "cache = 10\ncache-blocksize = 512"])
def test_small_cases_stay_valid(line: str) -> None:
    doc, _ = parsed(f"[uwsgi]\n{line}\n")
    if "cheaper" in line:
        assert doc["workers"] == {"count": 2, "cheaper": 2}   # sigsup: cheaper <= count
    else:
        assert doc["caches"] == {"default": {"items": 10, "max_item_bytes": 512}}
