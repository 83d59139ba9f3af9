"""The diff of two configs behind sigsup reload (sigsup/config/diff.py): pure, no master."""

from __future__ import annotations

from pathlib import Path

from sigsup.config.diff import diff_configs, match

from .fakes import make_config

SOCK = Path("/tmp/ss-diff")

BASE = """
[workers]
count = 2

[signals.17]
handler = "app:on_change"
target = "worker"

[signals.18]
handler = "app:everyone"
target = "workers"

[[timers]]
signal = 17
seconds = 5

[[crons]]
signal = 18
schedule = "*/5 * * * *"
"""


def cfg(text: str, supervisor: str = ""):
    return make_config(text, SOCK, supervisor)


def names(d, section: str, what: str) -> list[str]:
    return [c.name for c in d.of(section) if c.what == what]


def test_the_same_config_has_no_changes() -> None:
    d = diff_configs(cfg(BASE), cfg(BASE))
    assert not d and d.blocked == ()
    assert d.lines() == ["no changes in the config"]


def test_workers_signals_and_sources_added_removed_changed() -> None:
    new = BASE.replace("count = 2", "count = 4").replace(
        'handler = "app:everyone"', 'handler = "app:everyone2"').replace(
        "seconds = 5", "seconds = 7") + '\n[signals.30]\nhandler = "app:new"\n'
    d = diff_configs(cfg(BASE), cfg(new))
    assert names(d, "processes", "added") == ["worker3", "worker4"]
    assert names(d, "signals", "added") == ["signal 30"]
    assert [(c.name, c.detail) for c in d.of("signals") if c.what == "changed"] == [
        ("signal 18", "handler app:everyone -> app:everyone2")]
    # a period that changed is another timer: its phase cannot be kept
    assert names(d, "events", "removed") == ["timer (signal 17, every 5 s)"]
    assert names(d, "events", "added") == ["timer (signal 17, every 7 s)"]
    assert d.blocked == ()
    lines = d.lines()
    assert lines[0] == "processes:" and "  + worker3" in lines
    assert "  ~ signal 18: handler app:everyone -> app:everyone2" in lines
    assert "  - timer (signal 17, every 5 s)" in lines


def test_fewer_workers_and_a_removed_signal() -> None:
    new = BASE.replace("count = 2", "count = 1").replace(
        '[signals.18]\nhandler = "app:everyone"\ntarget = "workers"\n', "")
    d = diff_configs(cfg(BASE), cfg(new))
    assert names(d, "processes", "removed") == ["worker2"]
    assert [(c.name, c.detail) for c in d.of("signals")] == [
        ("signal 18", "app:everyone -> workers")]


def test_a_source_that_kept_its_identity_is_changed_not_replaced() -> None:
    # another position in the file, other iterations: the same timer and cron
    new = """
[workers]
count = 2

[[crons]]
signal = 18
schedule = "*/5 * * * *"
misfire_grace = 5

[signals.17]
handler = "app:on_change"
target = "worker"

[signals.18]
handler = "app:everyone"
target = "workers"

[[timers]]
signal = 17
seconds = 5
iterations = 3
"""
    d = diff_configs(cfg(BASE), cfg(new))
    assert [(c.what, c.name, c.detail) for c in d.changes] == [
        ("changed", "timer (signal 17, every 5 s)", "iterations 0 -> 3 (its phase kept)"),
        ("changed", "cron (signal 18, '*/5 * * * *')",
         "misfire_grace 60 -> 5 (its last run kept)")]


def test_changes_a_running_master_cannot_take_are_blocked() -> None:
    new = BASE + '\n[mules]\ncount = 1\n\n[spoolers.mail]\ndir = "spool"\n'
    d = diff_configs(cfg(BASE), make_config(new, Path("/tmp/ss-other")))
    assert names(d, "processes", "added") == ["mule1"]
    assert names(d, "spoolers", "added") == ["mail"]
    assert any("mules and farms changed" in b for b in d.blocked)
    assert any("spoolers changed" in b for b in d.blocked)
    assert any(b.startswith("supervisor.socket changed (/tmp/ss-diff/m.sock -> "
                            "/tmp/ss-other/m.sock): a running master keeps its socket")
               for b in d.blocked)


def test_supervisor_settings_are_listed() -> None:
    d = diff_configs(cfg(BASE), cfg(BASE, supervisor="harakiri = 3\nqueue_size = 50\n"))
    assert [(c.name, c.detail) for c in d.of("supervisor")] == [
        ("supervisor.harakiri", "0 -> 3"), ("supervisor.queue_size", "10000 -> 50")]
    assert d.blocked == ()
    assert d.as_dict()["supervisor"][0] == {"section": "supervisor", "what": "changed",
                                            "name": "supervisor.harakiri", "detail": "0 -> 3"}


def test_match_pairs_equal_keys_in_order_and_keeps_duplicates() -> None:
    old = [("a", 1), ("a", 2), ("b", 3)]
    new = [("a", 10), ("c", 11), ("a", 12), ("a", 13)]
    pairs, removed, added = match(old, new, key=lambda t: t[0])
    assert pairs == [(("a", 1), ("a", 10)), (("a", 2), ("a", 12))]
    assert removed == [("b", 3)]
    assert added == [("c", 11), ("a", 13)]
