"""The status view rendered to a string at fixed widths: sections, states, fitting, folding."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sigsup.status import render
from sigsup.status.formats import count, duration, shorten_left, shorten_path, size
from sigsup.status.live import watch, watch_json
from sigsup.status.processes import fold, state_cell
from sigsup.status.render import render_problem, render_status
from sigsup.status.schema import check, field_paths

NOW = 1_800_000_000.0


def proc(name: str, kind: str, i: int, activity: str = "idle", **kw: Any) -> dict[str, Any]:
    state = "running" if activity in ("idle", "busy", "waiting") else activity
    p = {
        "name": name, "kind": kind, "id": i, "groups": [kind + "s"], "pid": 1000 + i,
        "state": state, "activity": activity, "current": None, "waiting_for": None,
        "queued": 0, "in_flight": 0, "handled": 5, "failed": 0, "respawns": 0,
        "started_at": NOW - 100, "uptime": 100.0, "respawn_in": None, "last_exit": None,
        "program": None, "spooler": None, "rss": 20 << 20, "cpu_percent": 1.5,
        "cpu_time": 1.5, "cpu_window": 1.0,
    }
    if state not in ("running", "starting", "stopping"):
        p.update(pid=None, uptime=None, rss=None, cpu_percent=None, cpu_time=None, cpu_window=None)
    p.update(kw)
    return p


def doc(workers: int = 4) -> dict[str, Any]:
    procs = [proc("spooler:default#1", "spooler", 1, spooler="default")]
    for i in range(1, workers + 1):
        procs.append(proc(f"worker{i}", "worker", i))
    procs[1].update(activity="busy", in_flight=3, queued=2,
                    current={"signum": 17, "id": 41, "for": 3.21})
    procs[2].update(activity="backoff", state="backoff", pid=None, uptime=None, respawn_in=1.3,
                    last_exit="exit code 3", respawns=2, failed=1, rss=None, cpu_percent=None)
    procs[3].update(activity="cheaped", state="cheaped", pid=None, uptime=None, rss=None,
                    cpu_percent=None)
    procs.append(proc("mule1", "mule", 1, groups=["mules", "farm:reports"]))
    procs.append(proc("mule2", "mule", 2, activity="waiting", waiting_for=-1))
    procs.append(proc("mule3", "mule", 3, activity="failed", state="failed", pid=None,
                      respawn_in=58.0, last_exit="killed by signal SIGKILL", respawns=5,
                      failed=2, rss=None, cpu_percent=None, uptime=None))
    sig = {"num": 17, "target": "worker", "handler": "myapp.tasks.reports:rebuild_everything",
           "on_full": "reject", "source": "config", "raised": 1234567, "delivered": 1234000,
           "handled": 1233990, "failed": 3, "dropped": 7, "coalesced": 2,
           "last_raised": NOW - 2.5, "queued": 560}
    return {
        "version": 1, "time": NOW,
        "master": {"name": "demo", "pid": 999, "state": "running",
                   "config": "/srv/app/sigsup.toml", "socket": "/run/user/1000/sigsup/demo.sock",
                   "started_at": NOW - 3700, "uptime": 3700.0, "queued": 562, "raised": 1234567,
                   "raises_per_s": 812.5, "window": 8, "queue_size": 10000,
                   "protocol_errors": 0, "subscribers": 0, "rss": 30 << 20, "cpu_percent": 12.0,
                   "cpu_time": 40.0, "cpu_window": 1.0},
        "processes": procs,
        "pools": [{"name": "workers", "queued": 0, "members": [p["name"] for p in procs[1:5]]}],
        "signals": [sig, {**sig, "num": 18, "target": "active-workers", "handler": None,
                          "raised": 0, "delivered": 0, "handled": 0, "failed": 0, "dropped": 0,
                          "coalesced": 0, "last_raised": None, "queued": 0}],
        "groups_failed": ["mule"],
        "events": [{"kind": "cron", "id": 1, "signal": 17, "spec": "*/5 * * * *",
                    "next_fire": NOW + 125, "fired": 12, "coalesced": 0, "missed": 1,
                    "iterations_left": None},
                   {"kind": "filemon", "id": 2, "signal": 18,
                    "spec": "/srv/app/very/long/path/to/a/watched/directory/settings.ini",
                    "next_fire": None, "fired": 3, "coalesced": 1, "missed": 0,
                    "iterations_left": 4}],
        "spoolers": {"default": {"queued": 12, "due": 3, "running": 1, "retrying": 2,
                                 "failed": 1, "done": 40,
                                 "busy": [{"process": "spooler:default#1", "pid": 1001,
                                           "job": "6614a-1", "attempt": 2, "for": 4.5}]}},
    }


def show(d: dict[str, Any], width: int, height: int | None = None) -> str:
    console = Console(width=width, color_system=None, force_terminal=False, legacy_windows=False)
    with console.capture() as cap:
        console.print(render_status(d, width, height))
    return cap.get()


@pytest.mark.parametrize("width", [80, 200])
def test_every_section_is_there_and_nothing_wraps(width: int) -> None:
    out = show(doc(), width)
    lines = out.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), out
    for needle in ("sigsup demo", "running", "pid 999", "processes 8", "signals", "event sources",
                   "spoolers", "config /srv/app/sigsup.toml"):
        assert needle in out, (needle, out)
    # one line per process: no cell wrapped onto a second line
    for name in ("worker1", "worker2", "worker3", "worker4", "mule1", "mule2", "mule3"):
        assert len([ln for ln in lines if re.search(rf"\b{name}\b", ln)
                    and not ln.startswith("✖")]) == 1, (name, out)
    assert "spooler:default#1" in out          # the longest name is never cut


@pytest.mark.parametrize("width", [80, 200])
def test_states_are_words_with_what_they_mean(width: int) -> None:
    out = show(doc(), width)
    row = {n: next(ln for ln in out.splitlines() if re.search(rf"\b{n}\b", ln)
                   and not ln.startswith("✖")) for n in ("worker1", "worker2", "worker3",
                                                          "mule2", "mule3")}
    assert "busy sig 17 3.2s" in row["worker1"]
    assert "backoff 1.3s" in row["worker2"]
    assert "cheaped" in row["worker3"]
    assert "waiting any" in row["mule2"]
    assert "FAILED retry 58s" in row["mule3"]
    assert "✖ FAILED mule: mule3 (killed by signal SIGKILL)" in out
    # mule1 shows its farm
    assert re.search(r"mule1 reports\s", out)


def test_wide_layout_puts_signals_beside_processes_when_both_fit() -> None:
    d = doc()
    for sig in d["signals"]:
        sig["handler"] = sig["handler"] and "tasks:rebuild"
    out = show(d, 200)
    head = next(ln for ln in out.splitlines() if ln.startswith("NAME"))
    assert "LAST EXIT" in head and "SIG" in head and "HANDLER" in head
    assert re.search(r"backoff 1\.3s .*exit 3", out) and re.search(r"FAILED.*SIGKILL", out)
    # a long handler path: the tables go one above the other rather than squeezed
    out = show(doc(), 200)
    head = next(ln for ln in out.splitlines() if ln.startswith("NAME"))
    assert "LAST EXIT" in head and "HANDLER" not in head
    assert "myapp.tasks.reports:rebuild_everything" in out
    # at 80 the why goes into the state instead
    narrow = show(doc(), 80)
    assert "LAST EXIT" not in narrow and "backoff 1.3s (exit 3)" in narrow


def test_narrow_signals_table_keeps_the_function_name_and_drops_columns_first() -> None:
    out = show(doc(), 80)
    sig_row = next(ln for ln in out.splitlines() if re.match(r"\s*17 ", ln))
    assert ":rebuild_everything" in sig_row and "…" in sig_row   # the module part gave way
    assert "1235k" in sig_row                                    # counts compact, not cut
    assert "(unregistered)" in out
    wide = show(doc(), 200)
    assert "myapp.tasks.reports:rebuild_everything" in wide
    assert "DELIV" in wide


def test_counts_and_times_read_like_a_person_writes_them() -> None:
    out = show(doc(), 200)
    assert "2.5s ago" in out and "never" in out
    assert "raised 1235k (812/s)" in out
    assert "queued 562" in out
    assert "in 2m05s" in out      # the cron's next fire
    assert "…" in out or "settings.ini" in out


def test_folding_keeps_a_tall_tree_on_one_screen() -> None:
    d = doc(workers=32)
    full = show(d, 80)
    assert len(full.splitlines()) > 40
    out = show(d, 80, height=40)
    lines = out.splitlines()
    assert len(lines) <= 40, out
    folded = [ln for ln in lines if "…worker" in ln]
    assert len(folded) == 1, out
    assert re.search(r"idle ×\d+", folded[0])
    # the unusual rows are never folded while quiet ones can be
    for name in ("worker1", "worker2", "worker3", "mule2", "mule3"):
        assert re.search(rf"\b{name}\b", out), name
    # and the screen is used: folding stops as soon as it fits
    assert len(lines) >= 36


def test_fold_sums_counters_and_marks_averages() -> None:
    procs = [proc(f"worker{i}", "worker", i) for i in range(1, 11)]
    rows = fold(procs, 4)
    assert len(rows) <= 4
    f = next(r for r in rows if r.get("folded"))
    assert f["handled"] == 5 * f["folded"]
    assert f["rss"] == 20 << 20
    assert f["name"].startswith("worker") and "…worker10" in f["name"]
    assert fold(procs, 20) == procs        # nothing to do


def test_fold_prefers_clean_quiet_processes() -> None:
    procs = [proc(f"worker{i}", "worker", i) for i in range(1, 9)]
    for p in procs[:4]:
        p["failed"] = 1
    rows = fold(procs, 6)
    assert [r["name"] for r in rows[:4]] == ["worker1", "worker2", "worker3", "worker4"]


def test_colour_means_something_but_never_alone() -> None:
    failed = state_cell(proc("w", "worker", 1, activity="failed", respawn_in=5.0))
    busy = state_cell(proc("w", "worker", 1, activity="busy",
                           current={"signum": 3, "id": 1, "for": 0.5}, in_flight=1))
    assert failed.plain.startswith("FAILED") and "red" in str(failed.spans[0].style)
    assert busy.plain.startswith("busy") and "yellow" in str(busy.spans[0].style)
    # without colour every state is still a word
    out = show(doc(), 80)
    for word in ("busy", "idle", "backoff", "cheaped", "waiting", "FAILED"):
        assert word in out


def test_a_master_that_does_not_answer_is_said_plainly() -> None:
    console = Console(width=80, color_system=None)
    with console.capture() as cap:
        console.print(render_problem("master not running at /tmp/x.sock", "no socket there", 80))
    assert "master not running at /tmp/x.sock" in cap.get()
    assert "no socket there" in cap.get()


def test_an_empty_tree_renders() -> None:
    d = doc()
    d.update(processes=[], signals=[], groups_failed=[])
    d.pop("events")
    d.pop("spoolers")
    out = show(d, 80)
    assert "processes 0" in out and "no signal registered or raised yet" in out


@pytest.mark.parametrize(("sec", "text"), [(0.04, "0.0s"), (3.21, "3.2s"), (42, "42s"),
                                            (125, "2m05s"), (7380, "2h03m"), (90000, "1d01h"),
                                            (None, "-")])
def test_duration(sec, text) -> None:
    assert duration(sec) == text


def test_size_count_shorten() -> None:
    assert size(512) == "512B"
    assert size(20 << 20) == "20.0M"
    assert size(300 << 20) == "300M"
    assert count(99999) == "99999" and count(123456) == "123k" and count(12_345_678) == "12.3M"
    assert shorten_left("pkg.module:func", 10) == "…dule:func"
    assert shorten_left("abc", 10) == "abc"
    assert shorten_path("pkg.module.sub:func", 16) == "…module.sub:func"
    assert shorten_path("pkg.module.sub:func", 12) == "…sub:func"
    assert shorten_path("pkg.module.sub:func", 7) == "…:func"
    assert shorten_path("pkg.module.sub:a_very_long_function", 10) == "…_function"


def test_schema_accepts_the_sample_and_names_what_is_wrong() -> None:
    d = doc()
    assert check(d, strict=True) == []
    bad = copy.deepcopy(d)
    bad["processes"][0]["pid"] = "1234"
    bad["master"].pop("uptime")
    bad["processes"][1]["activity"] = "sleepy"
    bad["signals"][0]["raised"] = True
    bad["extra"] = 1                       # a feature's section: allowed
    bad["master"]["extra"] = 1
    problems = check(bad, strict=True)
    assert "processes[0].pid: expected int or null, got str" in problems
    assert "master.uptime: missing" in problems
    assert any(p.startswith("processes[1].activity: 'sleepy' is not one of") for p in problems)
    assert "signals[0].raised: expected int, got bool" in problems
    assert "master.extra: not in the schema" in problems
    assert not any(p.startswith("extra") for p in problems)
    assert check(bad) != [] and "master.extra: not in the schema" not in check(bad)


def test_every_schema_field_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "status-schema.md").read_text()
    missing = [p for p in field_paths() if f"`{p}`" not in text]
    assert not missing, f"fields not in docs/status-schema.md: {missing}"
    assert f"version` | int | {1}" in text or "`version`" in text


def test_render_is_pure() -> None:
    d = doc()
    before = copy.deepcopy(d)
    show(d, 80, height=20)
    assert d == before
    assert render.DEFAULT_WIDTH >= 80


def test_a_spooler_running_a_job_is_busy() -> None:
    out = show(doc(), 80)
    row = next(ln for ln in out.splitlines() if ln.startswith("spooler:default#1"))
    assert "busy job 4.5s try 2" in row
    assert "2 busy" in out            # the summary counts it


class FakeSource:
    """A StatusSource that answers from a script: a document, or None for "no master"."""

    def __init__(self, script: list[dict[str, Any] | None]) -> None:
        self.script = list(script)
        self.path = "/tmp/fake.sock"
        self.last_seen: float | None = None

    def fetch(self):
        doc = self.script.pop(0) if self.script else None
        if doc is None:
            return None, f"master not running at {self.path}", "no socket there"
        self.last_seen = NOW
        return doc, "", ""


def test_json_watch_says_an_outage_once_and_when_it_ends() -> None:
    out, err = io.StringIO(), io.StringIO()
    source = FakeSource([doc(), None, None, doc()])
    assert watch_json(source, 0.0, out, err, refreshes=4) == 0   # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(check(json.loads(x)) == [] for x in lines)
    said = err.getvalue().splitlines()
    assert len(said) == 2
    assert said[0].startswith("sigsup: master not running at /tmp/fake.sock (no socket there)")
    assert "answers again" in said[1]


def test_watch_without_a_terminal_prints_frame_after_frame() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=80, color_system=None, force_terminal=False)
    source = FakeSource([doc(), None])
    assert watch(source, 0.0, console=console, refreshes=2) == 0   # type: ignore[arg-type]
    text = buf.getvalue()
    assert "processes 8" in text and "master not running at /tmp/fake.sock" in text
    assert "retrying" in text and "Ctrl-C quits" in text


def test_a_folded_busy_run_says_what_runs_and_what_waits() -> None:
    procs = [proc(f"worker{i}", "worker", i, activity="busy", in_flight=2, queued=1,
                  current={"signum": 17, "id": i, "for": 1.0}) for i in range(1, 9)]
    rows = fold(procs, 3)
    f = next(r for r in rows if r.get("folded"))
    assert f["queued"] == 2 * f["folded"]            # one queued + one more in flight each
    assert state_cell(f).plain == f"busy sig 17 ×{f['folded']}"
