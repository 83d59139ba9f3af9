"""The master's log: the text prefix, colours only when asked, JSON lines, levels, tracebacks."""

from __future__ import annotations

import io
import json
import os
import re

from sigsup.master.log import LEVELS, Log

PREFIX = re.compile(r"^(\d\d:\d\d:\d\d) (\S+)\[(\d+)\]\s* \| (.*)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

TRACEBACK = [
    "signal 17: handler app:boom raised:",
    "Traceback (most recent call last):",
    '  File "app.py", line 3, in boom',
    "    raise ValueError('x')",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    '  File "app.py", line 5, in boom',
    "ValueError: x",
    "back to normal output",
]


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_text_lines_name_time_process_and_pid_in_one_column() -> None:
    out = io.StringIO()
    log = Log(out, colour=False)
    log.reserve(["master", "worker1", "spooler:default#1"], 12345)
    log.info("sigsup master for 'demo'")
    log.line("worker1", 12346, "hello from a handler")
    log.line("spooler:default#1", 12347, "a job")
    got = lines(out)
    assert len(got) == 3
    parsed = [PREFIX.match(ln) for ln in got]
    assert all(parsed), got
    assert [(m[2], m[3], m[4]) for m in parsed] == [
        ("master", str(os.getpid()), "sigsup master for 'demo'"),
        ("worker1", "12346", "hello from a handler"),
        ("spooler:default#1", "12347", "a job")]
    # the bars line up: one width for every process the master named in advance
    assert len({ln.index(" | ") for ln in got}) == 1
    assert not ANSI.search(out.getvalue())


def test_colour_only_when_asked_or_on_a_terminal(monkeypatch) -> None:
    out = io.StringIO()
    Log(out).info("plain")              # a StringIO is not a terminal
    assert not ANSI.search(out.getvalue())

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    log = Log(tty)
    log.info("coloured")
    log.warning("careful")
    log.line("worker1", 2, "child says")
    text = tty.getvalue()
    assert ANSI.search(text)
    assert "\x1b[33mcareful" in text                       # warnings yellow
    assert ANSI.sub("", text).splitlines()[2].endswith("| child says")
    # the same on a terminal with NO_COLOR set, and never in JSON
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Tty()
    Log(plain).info("no colour please")
    assert not ANSI.search(plain.getvalue())
    js = Tty()
    Log(js, fmt="json").info("json")
    assert not ANSI.search(js.getvalue())


def test_json_lines_carry_every_field() -> None:
    out = io.StringIO()
    log = Log(out, fmt="json")
    log.warning("signal 17: 3 raises refused", signum=17, refused=3)
    log.line("worker2", 4242, "printed by a handler")
    recs = [json.loads(ln) for ln in lines(out)]
    assert recs[0]["process"] == "master" and recs[0]["level"] == "warning"
    assert recs[0]["msg"] == "signal 17: 3 raises refused"
    assert (recs[0]["signum"], recs[0]["refused"]) == (17, 3)
    assert isinstance(recs[0]["ts"], float)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$", recs[0]["time"])
    assert (recs[1]["process"], recs[1]["pid"], recs[1]["level"], recs[1]["msg"]) == (
        "worker2", 4242, "info", "printed by a handler")


def test_quiet_and_verbose_filter_the_master_not_the_children() -> None:
    out = io.StringIO()
    quiet = Log(out, level="warning", colour=False)
    quiet.info("spawned worker1")
    quiet.debug("details")
    quiet.warning("respawning")
    quiet.line("worker1", 7, "a handler's print")
    got = lines(out)
    assert [ln.split(" | ", 1)[1] for ln in got] == ["respawning", "a handler's print"]
    out = io.StringIO()
    verbose = Log(out, level="debug", colour=False)
    verbose.debug("details")
    assert "details" in out.getvalue()
    assert (verbose.level, quiet.level) == (LEVELS["debug"], LEVELS["warning"])


def test_a_childs_traceback_stays_prefixed_and_is_marked_an_error() -> None:
    out = io.StringIO()
    log = Log(out, fmt="json")
    for text in TRACEBACK:
        log.line("worker1", 99, text)
    recs = [json.loads(ln) for ln in lines(out)]
    assert [r["msg"] for r in recs] == TRACEBACK
    assert [r["level"] for r in recs] == ["error"] * 10 + ["info"]
    assert all(r["process"] == "worker1" and r["pid"] == 99 for r in recs)

    text_out = io.StringIO()
    tlog = Log(text_out, colour=False)
    for text in TRACEBACK:
        tlog.line("worker1", 99, text)
    for ln in lines(text_out):
        assert PREFIX.match(ln) or re.match(r"^\d\d:\d\d:\d\d worker1\[99\]\s* \| $", ln), ln


def test_tracebacks_of_two_processes_do_not_mix() -> None:
    out = io.StringIO()
    log = Log(out, fmt="json")
    log.line("worker1", 1, "Traceback (most recent call last):")
    log.line("worker2", 2, "ordinary line")
    log.line("worker1", 1, '  File "x.py", line 1')
    log.line("worker1", 1, "KeyError: 'k'")
    log.line("worker1", 1, "after")
    levels = [(r["process"], r["level"]) for r in map(json.loads, lines(out))]
    assert levels == [("worker1", "error"), ("worker2", "info"), ("worker1", "error"),
                      ("worker1", "error"), ("worker1", "info")]


def test_a_message_of_several_lines_keeps_the_prefix_on_each() -> None:
    out = io.StringIO()
    Log(out, colour=False).error("first\nsecond")
    got = lines(out)
    assert len(got) == 2 and all(PREFIX.match(ln) for ln in got)
    out = io.StringIO()
    Log(out, fmt="json").error("first\nsecond")
    assert json.loads(out.getvalue())["msg"] == "first\nsecond"


def test_a_closed_stream_does_not_take_the_master_down() -> None:
    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError

    Log(Broken(), colour=False).info("nobody reads this")
