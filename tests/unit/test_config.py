"""Unit tests for sigsup.config: TOML -> frozen model, strict validation, problem reports."""

from __future__ import annotations

import dataclasses
import itertools
import os
import pickle
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigsup.config import (
    Config,
    ConfigError,
    CronConfig,
    MonitorConfig,
    MulesConfig,
    Problem,
    SignalConfig,
    SpoolerConfig,
    SupervisorConfig,
    TimerConfig,
    WorkersConfig,
    format_problems,
    load_config,
    parse_config,
)
from sigsup.config.lines import find_line, format_path, key_lines
from sigsup.routing.targets import BROADCAST, POOL, PROCESS, Target, TreeShape

NO_XDG: dict[str, str] = {}


# -- helpers -----------------------------------------------------------------------------


def parse(text: str, tmp_path: Path, name: str = "sigsup.toml", **kw) -> Config:
    kw.setdefault("env", NO_XDG)
    return parse_config(textwrap.dedent(text), tmp_path / name, **kw)


def problems(text: str, tmp_path: Path, **kw) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse(text, tmp_path, **kw)
    return info.value.problems


def messages(text: str, tmp_path: Path, **kw) -> list[str]:
    """Each problem as 'KEY: MESSAGE'."""
    return [f"{p.key}: {p.message}" for p in problems(text, tmp_path, **kw)]


def only(text: str, tmp_path: Path, **kw) -> str:
    """The one problem of a document, as 'KEY: MESSAGE'."""
    found = messages(text, tmp_path, **kw)
    assert len(found) == 1, found
    return found[0]


FULL = """\
[supervisor]
name = "shop"
socket = "run/shop.sock"
pythonpath = ["lib", "/opt/app"]
preload = ["app.setup", "app"]
shutdown_timeout = 5
harakiri = 30.5
queue_size = 500
window = 16
respawn_delay = 0.5
respawn_delay_max = 10
failure_limit = 3
failure_window = 20.0
failure_cooldown = 120

[workers]
count = 4
cheaper = 2
cheaper_idle = 5

[mules]
count = 3
message_handler = "app.mules:on_message"

[mules.main]
3 = "app.mules:loop"

[farms]
fast = [1, 2]
slow = [3]

[spoolers.mail]
dir = "spool/mail"
processes = 2
handler = "app.jobs:send_mail"
max_retries = 3
retry_backoff = 1
retry_backoff_max = 60
harakiri = 10

[spoolers.reports]
dir = "/var/spool/reports"

[signals.0]
handler = "app.handlers:zero"

[signals.17]
handler = "app.handlers:reload"
target = "workers"
on_full = "coalesce"

[signals.18]
handler = "app.handlers.on_tick"
target = "farm2"

[signals.19]
handler = "app.handlers:mail"
target = "spooler_mail"

[signals.255]
handler = "app.handlers:last"
target = "mule3"

[[timers]]
signal = 17
seconds = 2

[[timers]]
signal = 18
seconds = 0.5
iterations = 3

[[rb_timers]]
signal = 0
seconds = 60

[[crons]]
signal = 18
schedule = "*/5 * * * *"
timezone = "Europe/Paris"

[[crons]]
signal = 19
minute = -5
hour = 3
iterations = 1
misfire_grace = 0

[[monitors]]
signal = 255
path = "watched"
recursive = true
events = ["created", "moved"]
debounce = 0.25
iterations = 1

[[monitors]]
signal = 0
path = "later/flag"
wait_for_path = true
"""


# -- a full document ---------------------------------------------------------------------


def test_full_document(tmp_path: Path) -> None:
    (tmp_path / "watched").mkdir()
    cfg = parse(FULL, tmp_path)

    assert cfg.path == tmp_path / "sigsup.toml"
    assert cfg.base_dir == tmp_path
    assert cfg.supervisor == SupervisorConfig(
        name="shop", socket=tmp_path / "run" / "shop.sock",
        pythonpath=(tmp_path / "lib", Path("/opt/app")), preload=("app.setup", "app"),
        shutdown_timeout=5.0, harakiri=30.5, queue_size=500, window=16, respawn_delay=0.5,
        respawn_delay_max=10.0, failure_limit=3, failure_window=20.0, failure_cooldown=120.0)
    assert isinstance(cfg.supervisor.shutdown_timeout, float)
    assert cfg.workers == WorkersConfig(count=4, cheaper=2, cheaper_idle=5.0)
    assert cfg.mules == MulesConfig(count=3, programs={3: "app.mules:loop"},
                                    message_handler="app.mules:on_message")

    assert list(cfg.farms) == ["fast", "slow"]
    assert dict(cfg.farms) == {"fast": (1, 2), "slow": (3,)}
    assert list(cfg.spoolers) == ["mail", "reports"]
    assert cfg.spoolers["mail"] == SpoolerConfig(
        name="mail", dir=tmp_path / "spool" / "mail", processes=2,
        handler="app.jobs:send_mail", max_retries=3, retry_backoff=1.0,
        retry_backoff_max=60.0, harakiri=10.0)
    assert cfg.spoolers["reports"] == SpoolerConfig(name="reports",
                                                    dir=Path("/var/spool/reports"))

    assert list(cfg.signals) == [0, 17, 18, 19, 255]
    assert cfg.signals[0] == SignalConfig(0, "app.handlers:zero", Target("worker", POOL, "workers"))
    assert cfg.signals[17] == SignalConfig(17, "app.handlers:reload",
                                           Target("workers", BROADCAST, "workers"), "coalesce")
    # farmN is bound to the N-th declared farm
    assert cfg.signals[18].target == Target("farm2", POOL, "farm:slow")
    assert cfg.signals[18].handler == "app.handlers.on_tick"
    assert cfg.signals[19].target == Target("spooler_mail", POOL, "spooler:mail")
    assert cfg.signals[255].target == Target("mule3", PROCESS, "mules", 3)

    assert cfg.timers == (TimerConfig("timer", 17, 2.0), TimerConfig("timer", 18, 0.5, 3))
    assert cfg.rb_timers == (TimerConfig("rb_timer", 0, 60.0),)
    assert cfg.crons == (
        CronConfig(18, "*/5 * * * *", None, "Europe/Paris"),
        CronConfig(19, None, (-5, 3, -1, -1, -1), None, iterations=1, misfire_grace=0.0),
    )
    assert cfg.monitors == (
        MonitorConfig(255, tmp_path / "watched", recursive=True, events=("created", "moved"),
                      debounce=0.25, iterations=1),
        MonitorConfig(0, tmp_path / "later" / "flag", wait_for_path=True),
    )
    assert cfg.shape() == TreeShape(workers=4, mules=3, farms=("fast", "slow"),
                                    spoolers=("mail", "reports"))


def test_model_is_frozen_and_read_only(tmp_path: Path) -> None:
    (tmp_path / "watched").mkdir()
    cfg = parse(FULL, tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.workers.count = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.signals[3] = cfg.signals[0]  # type: ignore[index]
    with pytest.raises(TypeError):
        cfg.farms["x"] = (1,)  # type: ignore[index]
    with pytest.raises(TypeError):
        cfg.mules.programs[1] = "a:b"  # type: ignore[index]


# -- defaults ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "# nothing here\n",
                                  "timers = []\nrb_timers = []\ncrons = []\nmonitors = []\n"
                                  "[supervisor]\n[workers]\n[mules]\n[farms]\n[spoolers]\n"
                                  "[signals]\n"])
def test_defaults(tmp_path: Path, text: str) -> None:
    cfg = parse(text, tmp_path)
    sup = cfg.supervisor
    assert sup.name == "sigsup"
    assert sup.socket == Path(f"/tmp/sigsup-{os.getuid()}/sigsup.sock")
    assert (sup.pythonpath, sup.preload) == ((), ())
    assert (sup.shutdown_timeout, sup.harakiri, sup.queue_size, sup.window) == (10.0, 0.0, 10000, 8)
    assert (sup.respawn_delay, sup.respawn_delay_max) == (0.1, 30.0)
    assert (sup.failure_limit, sup.failure_window, sup.failure_cooldown) == (5, 10.0, 60.0)
    assert cfg.workers == WorkersConfig(count=1, cheaper=None, cheaper_idle=10.0)
    assert cfg.mules == MulesConfig(count=0, programs={}, message_handler=None)
    assert dict(cfg.farms) == {} and dict(cfg.spoolers) == {} and dict(cfg.signals) == {}
    assert cfg.timers == cfg.rb_timers == cfg.crons == cfg.monitors == ()
    assert cfg.shape() == TreeShape(workers=1)


def test_signal_entry_defaults(tmp_path: Path) -> None:
    cfg = parse('[signals.5]\nhandler = "a.b:c"\n', tmp_path)
    assert cfg.signals[5] == SignalConfig(5, "a.b:c", Target("worker", POOL, "workers"), "reject")


def test_spooler_and_monitor_defaults(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    cfg = parse("""
        [spoolers.q]
        dir = "q"
        [[monitors]]
        signal = 1
        path = "f"
        """, tmp_path)
    assert cfg.spoolers["q"] == SpoolerConfig("q", tmp_path / "q", 1, None, 5, 2.0, 300.0, 0.0)
    assert cfg.monitors[0] == MonitorConfig(1, tmp_path / "f", False,
                                            ("created", "modified", "deleted", "moved"),
                                            0.1, 0, False)


@pytest.mark.parametrize(("filename", "name"), [
    ("sigsup.toml", "sigsup"),
    ("sigsup.toml.example", "sigsup"),
    ("shop.prod.toml", "shop.prod"),
    ("app.conf", "app"),
    ("plain", "plain"),
])
def test_name_defaults_to_file_stem(tmp_path: Path, filename: str, name: str) -> None:
    cfg = parse("", tmp_path, name=filename)
    assert cfg.supervisor.name == name
    assert cfg.supervisor.socket.name == f"{name}.sock"


def test_socket_default_uses_xdg_runtime_dir(tmp_path: Path) -> None:
    cfg = parse('[supervisor]\nname = "shop"\n', tmp_path, env={"XDG_RUNTIME_DIR": "/run/user/7"})
    assert cfg.supervisor.socket == Path("/run/user/7/sigsup/shop.sock")


@pytest.mark.parametrize("env", [{}, {"XDG_RUNTIME_DIR": ""}, {"XDG_RUNTIME_DIR": "relative/dir"}])
def test_socket_default_without_usable_xdg_runtime_dir(tmp_path: Path, env: dict) -> None:
    cfg = parse('[supervisor]\nname = "shop"\n', tmp_path, env=env)
    assert cfg.supervisor.socket == Path(f"/tmp/sigsup-{os.getuid()}/shop.sock")


def test_env_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "rt"))
    cfg = parse_config("", tmp_path / "x.toml")
    assert cfg.supervisor.socket == tmp_path / "rt" / "sigsup" / "x.sock"


# -- paths -------------------------------------------------------------------------------


def test_relative_paths_are_relative_to_config_dir(tmp_path: Path) -> None:
    conf_dir = tmp_path / "etc"
    (conf_dir / "w").mkdir(parents=True)
    cfg = parse("""
        [supervisor]
        socket = "../run/s.sock"
        pythonpath = [".", "src/../lib"]
        [spoolers.q]
        dir = "./q"
        [[monitors]]
        signal = 1
        path = "w"
        """, conf_dir)
    assert cfg.supervisor.socket == tmp_path / "run" / "s.sock"
    assert cfg.supervisor.pythonpath == (conf_dir, conf_dir / "lib")
    assert cfg.spoolers["q"].dir == conf_dir / "q"
    assert cfg.monitors[0].path == conf_dir / "w"


def test_config_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = parse_config('[supervisor]\nsocket = "s.sock"\n', "sigsup.toml", env=NO_XDG)
    assert cfg.path == tmp_path / "sigsup.toml"
    assert cfg.base_dir == tmp_path
    assert cfg.supervisor.socket == tmp_path / "s.sock"


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = parse('[supervisor]\nsocket = "~/s.sock"\n', tmp_path)
    assert cfg.supervisor.socket == tmp_path / "home" / "s.sock"


@pytest.mark.parametrize(("value", "message"), [
    ('""', "expected a path, got an empty string"),
    ("1", "expected a path string, got integer 1"),
])
def test_bad_paths(tmp_path: Path, value: str, message: str) -> None:
    assert only(f"[supervisor]\nsocket = {value}\n", tmp_path) == f"supervisor.socket: {message}"


def test_socket_path_too_long(tmp_path: Path) -> None:
    msg = only(f'[supervisor]\nsocket = "/{"x" * 200}.sock"\n', tmp_path)
    assert msg.startswith("supervisor.socket: ")
    assert "a unix socket path can be at most" in msg


def test_default_socket_too_long_says_to_set_it(tmp_path: Path) -> None:
    msg = only("", tmp_path, env={"XDG_RUNTIME_DIR": "/" + "r" * 120})
    assert msg.startswith("supervisor.socket: ") and msg.endswith("set supervisor.socket")


@pytest.mark.parametrize("name", ["", "a/b", ".."])
def test_unusable_name(tmp_path: Path, name: str) -> None:
    msg = only(f'[supervisor]\nname = "{name}"\n', tmp_path)
    assert msg.startswith("supervisor.name: ") and "cannot be used as a name" in msg


# -- types -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('[supervisor]\nshutdown_timeout = "ten"',
     'supervisor.shutdown_timeout: expected a number, got string "ten"'),
    ("[supervisor]\nshutdown_timeout = true",
     "supervisor.shutdown_timeout: expected a number, got boolean true"),
    ("[supervisor]\nharakiri = inf", "supervisor.harakiri: expected a finite number, got float inf"),
    ("[supervisor]\nharakiri = nan", "supervisor.harakiri: expected a finite number, got float nan"),
    ("[supervisor]\nqueue_size = true",
     "supervisor.queue_size: expected an integer, got boolean true"),
    ("[supervisor]\nqueue_size = 10.0",
     "supervisor.queue_size: expected an integer, got float 10.0"),
    ('[workers]\ncount = "4"', 'workers.count: expected an integer, got string "4"'),
    ("[workers]\ncount = [4]", "workers.count: expected an integer, got an array"),
    ("[workers]\ncount = {n = 4}", "workers.count: expected an integer, got a table"),
    ("[workers]\ncount = 1979-05-27", "workers.count: expected an integer, got a date"),
    ("[supervisor]\nname = 3", "supervisor.name: expected a string, got integer 3"),
    ('[supervisor]\npythonpath = "lib"',
     'supervisor.pythonpath: expected an array of directory paths, got string "lib"'),
    ("[supervisor]\npythonpath = [1]", "supervisor.pythonpath[0]: expected a path string, got integer 1"),
    ('[supervisor]\npreload = "app"',
     'supervisor.preload: expected an array of module names, got string "app"'),
    ('[supervisor]\npreload = ["app", "not a module"]',
     "supervisor.preload[1]: 'not a module' is not a module name such as 'app.setup'"),
    ("[[timers]]\nsignal = true\nseconds = 1",
     "timers[0].signal: expected a signal number, got boolean true"),
    ("[[monitors]]\nsignal = 1\npath = '/'\nrecursive = 'yes'",
     'monitors[0].recursive: expected true or false, got string "yes"'),
    ("[[monitors]]\nsignal = 1\npath = '/'\nwait_for_path = 1",
     "monitors[0].wait_for_path: expected true or false, got integer 1"),
    ("supervisor = 3", "supervisor: expected a table ([supervisor]), got integer 3"),
    ("signals = [1]", "signals: expected a table ([signals]), got an array"),
    ("[signals]\n5 = 'a:b'", "signals.5: expected a table ([signals.N]), got string \"a:b\""),
    ("[timers]\nsignal = 1", "timers: expected an array of tables (write [[timers]]), got a table"),
    ("timers = [1]", "timers[0]: expected a table, got integer 1"),
    ("[spoolers]\nq = 1", "spoolers.q: expected a table ([spoolers.NAME]), got integer 1"),
])
def test_wrong_types(tmp_path: Path, text: str, expected: str) -> None:
    assert only(text, tmp_path) == expected


def test_int_is_accepted_where_a_float_is_expected(tmp_path: Path) -> None:
    cfg = parse("[supervisor]\nshutdown_timeout = 3\n[[timers]]\nsignal = 1\nseconds = 1\n",
                tmp_path)
    assert cfg.supervisor.shutdown_timeout == 3.0
    assert type(cfg.supervisor.shutdown_timeout) is float
    assert type(cfg.timers[0].seconds) is float


# -- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("[supervisor]\nshutdown_timeout = 0", "supervisor.shutdown_timeout: must be greater than 0, got 0"),
    ("[supervisor]\nharakiri = -1", "supervisor.harakiri: must be at least 0, got -1"),
    ("[supervisor]\nqueue_size = 0", "supervisor.queue_size: must be at least 1, got 0"),
    ("[supervisor]\nwindow = 0", "supervisor.window: must be between 1 and 1024, got 0"),
    ("[supervisor]\nwindow = 1025", "supervisor.window: must be between 1 and 1024, got 1025"),
    ("[supervisor]\nrespawn_delay = 0", "supervisor.respawn_delay: must be greater than 0, got 0"),
    ("[supervisor]\nrespawn_delay = 2\nrespawn_delay_max = 1",
     "supervisor.respawn_delay_max: must be at least respawn_delay (2.0), got 1.0"),
    ("[supervisor]\nrespawn_delay_max = 0.05",
     "supervisor.respawn_delay_max: must be at least respawn_delay (0.1), got 0.05"),
    ("[supervisor]\nfailure_limit = 0", "supervisor.failure_limit: must be at least 1, got 0"),
    ("[supervisor]\nfailure_window = -1.5",
     "supervisor.failure_window: must be greater than 0, got -1.5"),
    ("[supervisor]\nfailure_cooldown = 0.0",
     "supervisor.failure_cooldown: must be greater than 0, got 0.0"),
    ("[workers]\ncount = -1", "workers.count: must be at least 0, got -1"),
    ("[workers]\ncheaper = -1", "workers.cheaper: must be at least 0, got -1"),
    ("[workers]\ncount = 4\ncheaper = 5", "workers.cheaper: must be at most workers.count (4), got 5"),
    ("[workers]\ncheaper = 2", "workers.cheaper: must be at most workers.count (1), got 2"),
    ("[workers]\ncheaper_idle = 0", "workers.cheaper_idle: must be greater than 0, got 0"),
    ("[mules]\ncount = -2", "mules.count: must be at least 0, got -2"),
    ("[spoolers.q]\ndir = 'q'\nprocesses = 0", "spoolers.q.processes: must be at least 1, got 0"),
    ("[spoolers.q]\ndir = 'q'\nmax_retries = -1", "spoolers.q.max_retries: must be at least 0, got -1"),
    ("[spoolers.q]\ndir = 'q'\nretry_backoff = 0",
     "spoolers.q.retry_backoff: must be greater than 0, got 0"),
    ("[spoolers.q]\ndir = 'q'\nretry_backoff = 10\nretry_backoff_max = 5",
     "spoolers.q.retry_backoff_max: must be at least retry_backoff (10.0), got 5.0"),
    ("[spoolers.q]\ndir = 'q'\nharakiri = -0.5", "spoolers.q.harakiri: must be at least 0, got -0.5"),
    ("[[timers]]\nsignal = 1\nseconds = 0.001", "timers[0].seconds: must be at least 0.01, got 0.001"),
    ("[[rb_timers]]\nsignal = 1\nseconds = 0", "rb_timers[0].seconds: must be at least 0.01, got 0"),
    ("[[timers]]\nsignal = 1\nseconds = 1\niterations = -1",
     "timers[0].iterations: must be at least 0, got -1"),
    ("[[crons]]\nsignal = 1\nschedule = '* * * * *'\nmisfire_grace = -1",
     "crons[0].misfire_grace: must be at least 0, got -1"),
    ("[[crons]]\nsignal = 1\nschedule = '* * * * *'\niterations = -3",
     "crons[0].iterations: must be at least 0, got -3"),
    ("[[monitors]]\nsignal = 1\npath = '/'\ndebounce = -0.1",
     "monitors[0].debounce: must be at least 0, got -0.1"),
    ("[[monitors]]\nsignal = 1\npath = '/'\niterations = -1",
     "monitors[0].iterations: must be at least 0, got -1"),
])
def test_out_of_range(tmp_path: Path, text: str, expected: str) -> None:
    assert only(text, tmp_path) == expected


def test_range_boundaries_are_accepted(tmp_path: Path) -> None:
    cfg = parse("""
        [supervisor]
        harakiri = 0
        queue_size = 1
        window = 1024
        respawn_delay = 2
        respawn_delay_max = 2
        failure_limit = 1
        [workers]
        count = 3
        cheaper = 3
        [[timers]]
        signal = 0
        seconds = 0.01
        [[rb_timers]]
        signal = 255
        seconds = 1
        iterations = 0
        """, tmp_path)
    assert cfg.supervisor.window == 1024 and cfg.workers.cheaper == 3
    assert cfg.timers[0].seconds == 0.01
    assert parse("[workers]\ncount = 0\ncheaper = 0\n", tmp_path).workers == WorkersConfig(0, 0)
    assert parse("[supervisor]\nwindow = 1\n", tmp_path).supervisor.window == 1


# -- unknown keys and did-you-mean ---------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("[supervisor]\nquue_size = 1", "supervisor.quue_size: unknown key; did you mean 'queue_size'?"),
    ("[timer]\nx = 1", "timer: unknown section; did you mean 'timers'?"),
    ("[workers]\ncheap = 1", "workers.cheap: unknown key; did you mean 'cheaper'?"),
    ("[mules]\ncuont = 1", "mules.cuont: unknown key; did you mean 'count'?"),
    ("[signals.3]\nhandler = 'a:b'\ntargte = 'worker'",
     "signals.3.targte: unknown key; did you mean 'target'?"),
    ("[spoolers.q]\ndir = 'q'\nretries = 3", "spoolers.q.retries: unknown key; did you mean 'max_retries'?"),
    ("[[timers]]\nsignal = 1\nseconds = 1\niteration = 1",
     "timers[0].iteration: unknown key; did you mean 'iterations'?"),
    ("[[crons]]\nsignal = 1\nminute = 1\nhuor = 5", "crons[0].huor: unknown key; did you mean 'hour'?"),
    ("[[monitors]]\nsignal = 1\npath = '/'\nevent = ['created']",
     "monitors[0].event: unknown key; did you mean 'events'?"),
])
def test_unknown_key_with_hint(tmp_path: Path, text: str, expected: str) -> None:
    assert only(text, tmp_path) == expected


def test_unknown_key_without_hint_lists_the_keys(tmp_path: Path) -> None:
    assert only("[[timers]]\nsignal = 1\nseconds = 1\nzzz = 2\n", tmp_path) == (
        "timers[0].zzz: unknown key; [[timers]] takes: signal, seconds, iterations")
    msg = only("[qqqqqq]\n", tmp_path)
    assert msg.startswith("qqqqqq: unknown section; the top level takes: supervisor, workers")


def test_misspelled_required_key_gives_both_problems(tmp_path: Path) -> None:
    assert messages("[[timers]]\nsignal = 1\nsecond = 1\n", tmp_path) == [
        "timers[0].seconds: required: the period in seconds",
        "timers[0].second: unknown key; did you mean 'seconds'?",
    ]


def test_section_written_after_a_table_gets_a_hint(tmp_path: Path) -> None:
    msg = only('[workers]\ncount = 1\ntimers = []\n', tmp_path)
    assert msg.startswith("workers.timers: unknown key; [workers] takes: ")
    assert "'timers' is a top-level section" in msg
    msg = only('[signals]\nmonitors = []\n', tmp_path)
    assert msg.startswith("signals.monitors: signal numbers are 0..255 ('monitors' is a top-level")


def test_rb_timers_unknown_key_names_its_section(tmp_path: Path) -> None:
    assert only("[[rb_timers]]\nsignal = 1\nseconds = 1\nzzz = 2\n", tmp_path) == (
        "rb_timers[0].zzz: unknown key; [[rb_timers]] takes: signal, seconds, iterations")


# -- all problems at once; errors and their display ----------------------------------------


def test_all_problems_are_reported_together_in_file_order(tmp_path: Path) -> None:
    text = """\
        [supervisor]
        quue_size = 3
        shutdown_timeout = "ten"

        [workers]
        count = 4
        cheaper = 5

        [signals.17]
        handler = "app:f"
        target = "worker9"

        [signals.256]
        handler = "app:f"

        [[timers]]
        signal = 1
        seconds = 1

        [[timers]]
        signal = 1
        seconds = 0.001
        """
    found = problems(text, tmp_path)
    assert [(p.line, p.key) for p in found] == [
        (2, "supervisor.quue_size"),
        (3, "supervisor.shutdown_timeout"),
        (7, "workers.cheaper"),
        (11, "signals.17.target"),
        (13, "signals.256"),
        (22, "timers[1].seconds"),
    ]
    assert all(p.file == str(tmp_path / "sigsup.toml") for p in found)
    with pytest.raises(ConfigError) as info:
        parse(text, tmp_path)
    lines = str(info.value).splitlines()
    assert len(lines) == 6
    assert lines[3] == f"{tmp_path / 'sigsup.toml'}:11: signals.17.target: no worker 9 (workers.count is 4)"


def test_problem_str() -> None:
    assert str(Problem("sigsup.toml", "signals.17.target", "no worker 9", 12)) == (
        "sigsup.toml:12: signals.17.target: no worker 9")
    assert str(Problem("sigsup.toml", "signals.17.target", "no worker 9")) == (
        "sigsup.toml: signals.17.target: no worker 9")
    assert str(Problem("sigsup.toml", "", "no such file")) == "sigsup.toml: no such file"


def test_format_problems() -> None:
    err = ConfigError([Problem("s.toml", "a.b", "bad", 3), Problem("s.toml", "c", "worse")])
    assert format_problems(err) == "s.toml: 2 problems\n  - line 3: a.b: bad\n  - c: worse\n"
    one = ConfigError([Problem("s.toml", "", "no such file")])
    assert format_problems(one) == "s.toml: 1 problem\n  - no such file\n"


def test_config_error_pickles() -> None:
    err = ConfigError([Problem("s.toml", "a", "bad", 1)])
    back = pickle.loads(pickle.dumps(err))
    assert back.problems == err.problems and str(back) == str(err)


def test_display_path_is_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        parse_config("[workers]\ncount = -1\n", "conf/../sigsup.toml", env=NO_XDG)
    assert str(info.value) == "conf/../sigsup.toml:2: workers.count: must be at least 0, got -1"


# -- TOML syntax and files -----------------------------------------------------------------


def test_toml_syntax_error_is_one_problem_with_its_line(tmp_path: Path) -> None:
    found = problems('[supervisor]\nname = "x"\nqueue_size = = 3\n[workers]\n', tmp_path)
    assert len(found) == 1
    assert found[0].line == 3 and found[0].key == ""
    assert found[0].message.startswith("invalid TOML: ")
    assert str(found[0]).startswith(f"{tmp_path / 'sigsup.toml'}:3: invalid TOML: ")


def test_toml_duplicate_table_is_a_syntax_error(tmp_path: Path) -> None:
    found = problems("[workers]\ncount = 1\n[workers]\ncount = 2\n", tmp_path)
    assert len(found) == 1 and found[0].line == 3


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.toml"
    path.write_bytes(b'\xef\xbb\xbf[workers]\ncount = 2\n')  # a BOM is tolerated
    cfg = load_config(path)
    assert cfg.workers.count == 2 and cfg.supervisor.name == "shop" and cfg.path == path
    assert load_config(str(path)).path == path


def test_project_example_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "sigsup.toml.example"
    if not example.exists():
        pytest.skip("no sigsup.toml.example")
    cfg = load_config(example)  # without check_imports: this test imports nothing
    assert cfg.supervisor.name  # and every section it shows was accepted


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [Problem(str(path), "", "no such file")]
    assert str(path) in str(info.value)


def test_load_config_directory_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"name = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_load_config_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sigsup.toml"
    path.write_text("[workers]\ncount = 1\n\n[signals.1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:4: invalid TOML")


# -- signals -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["256", "1000", "abc", "-1", '"1.5"', '"1 "', '""', '"+1"'])
def test_bad_signal_numbers(tmp_path: Path, key: str) -> None:
    found = problems(f'[signals.{key}]\nhandler = "a:b"\n', tmp_path)
    assert len(found) == 1
    assert found[0].message == "signal numbers are 0..255"
    assert found[0].line == 1


def test_signal_256_key_path(tmp_path: Path) -> None:
    assert only('[signals.256]\nhandler = "a:b"\n', tmp_path) == "signals.256: signal numbers are 0..255"


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(n=st.integers(min_value=-300, max_value=600))
def test_signal_numbers_property(tmp_path_factory: pytest.TempPathFactory, n: int) -> None:
    where = tmp_path_factory.getbasetemp()
    text = f'[signals."{n}"]\nhandler = "a:b"\n[[timers]]\nsignal = {n}\nseconds = 1\n'
    if 0 <= n <= 255:
        cfg = parse(text, where)
        assert list(cfg.signals) == [n] and cfg.timers[0].signal == n
    else:
        keys = [p.key for p in problems(text, where)]
        assert keys == [format_path(("signals", str(n))), "timers[0].signal"]


def test_signal_written_twice_with_leading_zero(tmp_path: Path) -> None:
    assert only('[signals.17]\nhandler = "a:b"\n[signals.017]\nhandler = "a:c"\n', tmp_path) == (
        "signals.017: signal 17 is already declared as [signals.17]")


def test_signal_handler_required(tmp_path: Path) -> None:
    found = problems('[signals.3]\ntarget = "worker"\n', tmp_path)
    assert [(p.key, p.line) for p in found] == [("signals.3.handler", 1)]
    assert found[0].message.startswith("required")


@pytest.mark.parametrize(("value", "message"), [
    ('"nocolon"', "'nocolon' is not an import path: write 'package.module:function'"),
    ('"app:"', "'app:' is not an import path: write 'package.module:function'"),
    ('"  "', "a handler is an import path such as 'app.handlers:on_change'"),
    ('"1app:x"', "'1app:x' is not an import path: write 'package.module:function'"),
    ('"app:on-change"', "'app:on-change' is not an import path: write 'package.module:function'"),
    ("3", "expected an import path string such as 'app.handlers:on_change', got integer 3"),
])
def test_bad_handler_paths(tmp_path: Path, value: str, message: str) -> None:
    assert only(f"[signals.3]\nhandler = {value}\n", tmp_path) == f"signals.3.handler: {message}"


def test_on_full(tmp_path: Path) -> None:
    assert only('[signals.3]\nhandler = "a:b"\non_full = "coalese"\n', tmp_path) == (
        "signals.3.on_full: must be 'reject' or 'coalesce', got \"coalese\" "
        "(did you mean 'coalesce'?)")


TREE = """
[workers]
count = 4
[mules]
count = 2
[farms]
fast = [1, 2]
[spoolers.mail]
dir = "mail"
"""


@pytest.mark.parametrize(("target", "expected"), [
    ("worker", Target("worker", POOL, "workers")),
    ("worker0", Target("worker0", POOL, "workers")),
    ("worker4", Target("worker4", PROCESS, "workers", 4)),
    ("workers", Target("workers", BROADCAST, "workers")),
    ("active-workers", Target("active-workers", "active", "workers")),
    ("mule", Target("mule", POOL, "mules")),
    ("mule2", Target("mule2", PROCESS, "mules", 2)),
    ("mules", Target("mules", BROADCAST, "mules")),
    ("farm1", Target("farm1", POOL, "farm:fast")),
    ("farm_fast", Target("farm_fast", POOL, "farm:fast")),
    ("spooler", Target("spooler", POOL, "spoolers")),
    ("spoolers", Target("spoolers", BROADCAST, "spoolers")),
    ("spooler_mail", Target("spooler_mail", POOL, "spooler:mail")),
])
def test_good_targets_are_stored_bound(tmp_path: Path, target: str, expected: Target) -> None:
    cfg = parse(TREE + f'[signals.9]\nhandler = "a:b"\ntarget = "{target}"\n', tmp_path)
    assert cfg.signals[9].target == expected


@pytest.mark.parametrize(("target", "message"), [
    ("worker9", "no worker 9 (workers.count is 4)"),
    ("mule3", "no mule 3 (mules.count is 2)"),
    ("farm2", "no farm 2 (1 farm declared: fast)"),
    ("farm0", "farms are numbered from 1 (farm1 is the first declared farm)"),
    ("farm_fats", "no farm named 'fats' (did you mean 'fast'?) (farms: fast)"),
    ("spooler_mial", "no spooler named 'mial' (did you mean 'mail'?) (spoolers: mail)"),
])
def test_targets_that_do_not_fit_the_tree(tmp_path: Path, target: str, message: str) -> None:
    text = TREE + f'[signals.17]\nhandler = "a:b"\ntarget = "{target}"\n'
    found = problems(text, tmp_path)
    assert [f"{p.key}: {p.message}" for p in found] == [f"signals.17.target: {message}"]
    assert str(found[0]) == f"{tmp_path / 'sigsup.toml'}:{found[0].line}: signals.17.target: {message}"
    assert found[0].line == len(text.splitlines())


@pytest.mark.parametrize("target", ["wrker", "worker-1", "farm", "everyone", "Worker"])
def test_unparseable_targets(tmp_path: Path, target: str) -> None:
    msg = only(f'[signals.1]\nhandler = "a:b"\ntarget = "{target}"\n', tmp_path)
    assert msg.startswith(f"signals.1.target: unknown target {target!r}")
    assert "targets are: worker" in msg


def test_target_hint(tmp_path: Path) -> None:
    msg = only('[signals.1]\nhandler = "a:b"\ntarget = "wrker"\n', tmp_path)
    assert "(did you mean 'worker'?)" in msg


def test_target_needs_a_group_that_is_empty(tmp_path: Path) -> None:
    assert only('[signals.1]\nhandler = "a:b"\ntarget = "mule"\n', tmp_path) == (
        "signals.1.target: target 'mule' needs mules, but mules.count is 0")
    assert only('[signals.1]\nhandler = "a:b"\ntarget = "spooler"\n', tmp_path) == (
        "signals.1.target: target 'spooler' needs a spooler, but none is declared")


def test_default_target_with_no_workers_says_it_is_the_default(tmp_path: Path) -> None:
    assert only('[workers]\ncount = 0\n[signals.1]\nhandler = "a:b"\n', tmp_path) == (
        "signals.1.target: target 'worker' needs workers, but workers.count is 0 "
        "(a signal's target defaults to 'worker')")


def test_target_must_be_a_string(tmp_path: Path) -> None:
    assert only('[signals.1]\nhandler = "a:b"\ntarget = 3\n', tmp_path) == (
        "signals.1.target: expected a target string such as 'worker' or 'mule2', got integer 3")


def test_target_errors_do_not_pile_on_a_broken_section(tmp_path: Path) -> None:
    text = '[workers]\ncount = "many"\n[signals.1]\nhandler = "a:b"\ntarget = "worker7"\n'
    assert messages(text, tmp_path) == ['workers.count: expected an integer, got string "many"']


def test_spooler_with_problems_can_still_be_targeted(tmp_path: Path) -> None:
    text = '[spoolers.q]\nprocesses = 0\n[signals.1]\nhandler = "a:b"\ntarget = "spooler_q"\n'
    assert [p.key for p in problems(text, tmp_path)] == ["spoolers.q.dir", "spoolers.q.processes"]


# -- mules and farms -----------------------------------------------------------------------


def test_mule_programs(tmp_path: Path) -> None:
    cfg = parse('[mules]\ncount = 3\n[mules.main]\n3 = "a:c"\n1 = "a.b"\n', tmp_path)
    assert dict(cfg.mules.programs) == {1: "a.b", 3: "a:c"}


@pytest.mark.parametrize(("key", "message"), [
    ("3", "no mule 3 (mules.count is 2)"),
    ("0", "mule ids are whole numbers from 1 (mule1 is the first mule)"),
    ("x", "mule ids are whole numbers from 1 (mule1 is the first mule)"),
])
def test_mule_program_ids(tmp_path: Path, key: str, message: str) -> None:
    assert only(f'[mules]\ncount = 2\n[mules.main]\n{key} = "a:b"\n', tmp_path) == (
        f"mules.main.{key}: {message}")


def test_mule_programs_need_mules(tmp_path: Path) -> None:
    assert only('[mules.main]\n1 = "a:b"\n', tmp_path) == "mules.main.1: no mule 1 (mules.count is 0)"


def test_mule_handlers_are_checked(tmp_path: Path) -> None:
    text = '[mules]\ncount = 1\nmessage_handler = "nope"\n[mules.main]\n1 = 5\n'
    assert messages(text, tmp_path) == [
        "mules.message_handler: 'nope' is not an import path: write 'package.module:function'",
        "mules.main.1: expected an import path string such as 'app.handlers:on_change', "
        "got integer 5",
    ]


def test_farms_keep_declaration_order(tmp_path: Path) -> None:
    cfg = parse("[mules]\ncount = 3\n[farms]\nzeta = [3]\nalpha = [1, 2]\nmid = [2, 3]\n",
                tmp_path)
    assert list(cfg.farms) == ["zeta", "alpha", "mid"]
    assert cfg.shape().farms == ("zeta", "alpha", "mid")


@pytest.mark.parametrize(("value", "expected"), [
    ("[1, 4]", "farms.f[1]: no mule 4 (mules.count is 3)"),
    ("[0]", "farms.f[0]: mule ids start at 1, got 0"),
    ("[1, 2, 1]", "farms.f[2]: mule 1 is listed twice"),
    ("[]", "farms.f: a farm needs at least one mule"),
    ('["1"]', 'farms.f[0]: expected an integer, got string "1"'),
    ("1", "farms.f: expected an array of mule ids, e.g. [1, 2], got integer 1"),
])
def test_bad_farms(tmp_path: Path, value: str, expected: str) -> None:
    assert only(f"[mules]\ncount = 3\n[farms]\nf = {value}\n", tmp_path) == expected


def test_farm_ids_without_mules(tmp_path: Path) -> None:
    assert only("[farms]\nf = [1]\n", tmp_path) == "farms.f[0]: no mule 1 (mules.count is 0)"


def test_farm_name(tmp_path: Path) -> None:
    assert only('[mules]\ncount = 1\n[farms]\n"a b" = [1]\n', tmp_path) == (
        "farms.\"a b\": a farm name is made of letters, digits, '_' and '-'")


# -- spoolers ------------------------------------------------------------------------------


def test_spooler_dir_required(tmp_path: Path) -> None:
    found = problems("[spoolers.q]\nprocesses = 2\n", tmp_path)
    assert [(p.key, p.line) for p in found] == [("spoolers.q.dir", 1)]


def test_spooler_name(tmp_path: Path) -> None:
    assert only('[spoolers."mail box"]\ndir = "m"\n', tmp_path) == (
        "spoolers.\"mail box\": a spooler name is made of letters, digits, '_' and '-'")


def test_spoolers_cannot_share_a_dir(tmp_path: Path) -> None:
    text = f'[spoolers.a]\ndir = "q"\n[spoolers.b]\ndir = "{tmp_path}/q"\n'
    assert only(text, tmp_path) == f"spoolers.b.dir: spoolers.a already uses '{tmp_path}/q'"


def test_spooler_handler_checked(tmp_path: Path) -> None:
    assert only('[spoolers.a]\ndir = "q"\nhandler = "x"\n', tmp_path) == (
        "spoolers.a.handler: 'x' is not an import path: write 'package.module:function'")


# -- timers --------------------------------------------------------------------------------


def test_timer_kinds_and_required_keys(tmp_path: Path) -> None:
    cfg = parse("timers = [{signal = 1, seconds = 1}]\nrb_timers = [{signal = 2, seconds = 3}]\n",
                tmp_path)
    assert cfg.timers == (TimerConfig("timer", 1, 1.0),)
    assert cfg.rb_timers == (TimerConfig("rb_timer", 2, 3.0),)
    assert [p.key for p in problems("[[timers]]\n[[rb_timers]]\nsignal = 1\n", tmp_path)] == [
        "timers[0].signal", "timers[0].seconds", "rb_timers[0].seconds"]


def test_timer_signal_out_of_range(tmp_path: Path) -> None:
    assert only("[[timers]]\nsignal = 256\nseconds = 1\n", tmp_path) == (
        "timers[0].signal: signal numbers are 0..255, got 256")


# -- crons ---------------------------------------------------------------------------------


def cron(body: str) -> str:
    return "[[crons]]\nsignal = 1\n" + body + "\n"


@pytest.mark.parametrize("schedule", ["* * * * *", "*/5 0-6 1,15 jan-jun mon-fri",
                                      "0 0 29 2 *", "@daily", "  15   3 * * *  "])
def test_cron_expression_five_fields(tmp_path: Path, schedule: str) -> None:
    cfg = parse(cron(f'schedule = "{schedule}"'), tmp_path)
    assert cfg.crons[0].schedule == " ".join(schedule.split())
    assert cfg.crons[0].fields is None


def test_cron_expression_six_fields_seconds_first(tmp_path: Path) -> None:
    cfg = parse(cron('schedule = "*/10 * * * * *"'), tmp_path)
    assert cfg.crons[0].schedule == "*/10 * * * * *"
    # seconds first: the 6th field is the weekday, so 0-59 there is out of range
    assert only(cron('schedule = "0 0 12 * * 30"'), tmp_path).startswith(
        'crons[0].schedule: invalid cron expression "0 0 12 * * 30"')


@pytest.mark.parametrize(("schedule", "message"), [
    ("61 * * * *", 'invalid cron expression "61 * * * *"'),
    ("a b c d e", 'invalid cron expression "a b c d e"'),
    ("* * * *", 'a cron expression has 5 fields (minute hour day month weekday), '
                'or 6 with seconds first; "* * * *" has 4'),
    ("0 0 0 * * * *", 'a cron expression has 5 fields (minute hour day month weekday), '
                      'or 6 with seconds first; "0 0 0 * * * *" has 7'),
    ("", "a cron expression has 5 fields"),
    ("0 0 30 2 *", '"0 0 30 2 *" never matches a date'),
    ("@sometimes", 'invalid cron expression "@sometimes"'),
])
def test_bad_cron_expressions(tmp_path: Path, schedule: str, message: str) -> None:
    msg = only(cron(f'schedule = "{schedule}"'), tmp_path)
    assert msg.startswith(f"crons[0].schedule: {message}")


def test_cron_schedule_type(tmp_path: Path) -> None:
    assert only(cron("schedule = 5"), tmp_path) == (
        "crons[0].schedule: expected a cron expression string, got integer 5")


def test_uwsgi_fields(tmp_path: Path) -> None:
    cfg = parse(cron("minute = 30\nhour = -2\nday = 31\nmonth = 12\nweekday = 7"), tmp_path)
    assert cfg.crons[0].fields == (30, -2, 31, 12, 7) and cfg.crons[0].schedule is None
    cfg = parse(cron("weekday = 0"), tmp_path)
    assert cfg.crons[0].fields == (-1, -1, -1, -1, 0)
    cfg = parse(cron("minute = -59\nhour = 23\nday = 1\nmonth = 1"), tmp_path)
    assert cfg.crons[0].fields == (-59, 23, 1, 1, -1)


@pytest.mark.parametrize(("field", "value", "rng"), [
    ("minute", 60, "0..59"), ("minute", -60, "0..59"), ("hour", 24, "0..23"),
    ("hour", -24, "0..23"), ("day", 0, "1..31"), ("day", 32, "1..31"), ("month", 0, "1..12"),
    ("month", 13, "1..12"), ("weekday", 8, "0..7"), ("weekday", -8, "0..7"),
])
def test_uwsgi_fields_out_of_range(tmp_path: Path, field: str, value: int, rng: str) -> None:
    hi = rng.split("..")[1]
    assert only(cron(f"{field} = {value}"), tmp_path) == (
        f"crons[0].{field}: must be {rng}, -1 (every) or -N (every N, N up to {hi}), got {value}")


def test_uwsgi_field_type(tmp_path: Path) -> None:
    assert only(cron('minute = "*/5"'), tmp_path) == (
        'crons[0].minute: expected an integer, got string "*/5"')


def test_cron_needs_exactly_one_of_schedule_and_fields(tmp_path: Path) -> None:
    assert only(cron('schedule = "* * * * *"\nminute = 5\nhour = 1'), tmp_path) == (
        "crons[0].schedule: give either schedule or the uWSGI fields (minute, hour), not both")
    msg = only(cron(""), tmp_path)
    assert msg.startswith("crons[0]: needs a schedule")


def test_cron_timezone(tmp_path: Path) -> None:
    cfg = parse(cron('schedule = "0 3 * * *"\ntimezone = "UTC"'), tmp_path)
    assert cfg.crons[0].timezone == "UTC"
    for bad in ("Mars/Olympus", "Europe", "../etc/passwd", ""):
        assert only(cron(f'schedule = "0 3 * * *"\ntimezone = "{bad}"'), tmp_path) == (
            f'crons[0].timezone: unknown time zone "{bad}": use an IANA name such as '
            "'Europe/Paris' or 'UTC'")


# -- monitors ------------------------------------------------------------------------------


def test_monitor_missing_path(tmp_path: Path) -> None:
    text = '[[monitors]]\nsignal = 1\npath = "nope"\n'
    assert only(text, tmp_path) == (
        f"monitors[0].path: '{tmp_path / 'nope'}' does not exist "
        "(set wait_for_path = true to wait for it)")
    cfg = parse(text + "wait_for_path = true\n", tmp_path)
    assert cfg.monitors[0].path == tmp_path / "nope" and cfg.monitors[0].wait_for_path


def test_monitor_path_required(tmp_path: Path) -> None:
    assert [p.key for p in problems("[[monitors]]\nsignal = 1\n", tmp_path)] == ["monitors[0].path"]


@pytest.mark.parametrize(("events", "expected"), [
    ('["created", "create"]',
     "monitors[0].events[1]: must be 'created', 'modified', 'deleted' or 'moved', "
     "got \"create\" (did you mean 'created'?)"),
    ("[]", "monitors[0].events: needs at least one of 'created', 'modified', 'deleted' or 'moved'"),
    ('["moved", "moved"]', "monitors[0].events[1]: 'moved' is listed twice"),
    ('"created"', "monitors[0].events: expected an array of event names ('created', 'modified', "
                  "'deleted' or 'moved'), got string \"created\""),
])
def test_monitor_events(tmp_path: Path, events: str, expected: str) -> None:
    assert only(f'[[monitors]]\nsignal = 1\npath = "/"\nevents = {events}\n', tmp_path) == expected


def test_monitor_events_subset_kept_in_order(tmp_path: Path) -> None:
    cfg = parse('[[monitors]]\nsignal = 1\npath = "/"\nevents = ["deleted", "created"]\n', tmp_path)
    assert cfg.monitors[0].events == ("deleted", "created")


# -- check_imports -------------------------------------------------------------------------

_counter = itertools.count()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh importable module in tmp_path/lib; sys.path and sys.modules restored after."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = f"sigsup_cfgtest_app{next(_counter)}"
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / f"{name}.py").write_text(textwrap.dedent("""
        LOADED = True
        NOT_CALLABLE = 42

        def handler(signum):
            return signum

        class Box:
            @staticmethod
            def inner(signum):
                return signum
        """))
    (lib / f"{name}_broken.py").write_text("raise RuntimeError('boom at import')\n")
    yield name
    for mod in list(sys.modules):
        if mod.startswith(name):
            del sys.modules[mod]


def test_check_imports_good(tmp_path: Path, app: str) -> None:
    text = f"""
        [supervisor]
        pythonpath = ["lib"]
        preload = ["{app}"]
        [mules]
        count = 1
        message_handler = "{app}:handler"
        [mules.main]
        1 = "{app}:Box.inner"
        [spoolers.q]
        dir = "q"
        handler = "{app}.handler"
        [signals.1]
        handler = "{app}:handler"
        """
    cfg = parse(text, tmp_path, check_imports=True)
    assert cfg.signals[1].handler == f"{app}:handler"
    assert sys.path[0] == str(tmp_path / "lib")  # left there for the master
    assert sys.modules[app].LOADED


def test_check_imports_off_does_not_import(tmp_path: Path, app: str) -> None:
    parse(f'[supervisor]\npythonpath = ["lib"]\npreload = ["{app}"]\n'
          f'[signals.1]\nhandler = "{app}:missing"\n', tmp_path)
    assert app not in sys.modules
    assert str(tmp_path / "lib") not in sys.path


def test_check_imports_failures_each_on_its_key(tmp_path: Path, app: str) -> None:
    text = f"""\
        [supervisor]
        pythonpath = ["lib"]
        preload = ["{app}", "{app}_nope", "{app}_broken"]
        [mules]
        count = 1
        message_handler = "{app}:Box.nope"
        [mules.main]
        1 = "{app}:NOT_CALLABLE"
        [spoolers.q]
        dir = "q"
        handler = "{app}_nope.jobs:run"
        [signals.1]
        handler = "{app}:handler"
        [signals.17]
        handler = "{app}.nope:f"
        [signals.18]
        handler = "{app}:missing"
        [signals.19]
        handler = "{app}:NOT_CALLABLE"
        """
    found = messages(text, tmp_path, check_imports=True)
    assert found == [
        f"supervisor.preload[1]: cannot import module '{app}_nope': "
        f"No module named '{app}_nope'",
        f"supervisor.preload[2]: importing '{app}_broken' raised RuntimeError: boom at import",
        f"mules.message_handler: module '{app}' has no attribute 'Box.nope'",
        f"mules.main.1: '{app}:NOT_CALLABLE' is a int, not a callable",
        f"spoolers.q.handler: cannot import module '{app}_nope.jobs': "
        f"No module named '{app}_nope'",
        f"signals.17.handler: cannot import module '{app}.nope': "
        f"No module named '{app}.nope'; '{app}' is not a package",
        f"signals.18.handler: module '{app}' has no attribute 'missing'",
        f"signals.19.handler: '{app}:NOT_CALLABLE' is a int, not a callable",
    ]
    lines = {p.key: p.line for p in problems(text, tmp_path, check_imports=True)}
    assert lines["supervisor.preload[1]"] == 3
    assert lines["signals.17.handler"] == 15


def test_check_imports_reported_with_other_problems(tmp_path: Path, app: str) -> None:
    text = f'[supervisor]\npythonpath = ["lib"]\nwindow = 0\n[signals.1]\nhandler = "{app}:nope"\n'
    assert [p.key for p in problems(text, tmp_path, check_imports=True)] == [
        "supervisor.window", "signals.1.handler"]


def test_load_config_check_imports(tmp_path: Path, app: str) -> None:
    path = tmp_path / "sigsup.toml"
    path.write_text(f'[supervisor]\npythonpath = ["lib"]\n[signals.1]\nhandler = "{app}:nope"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, check_imports=True)
    assert str(info.value) == (
        f"{path}:4: signals.1.handler: module '{app}' has no attribute 'nope'")
    path.write_text(f'[supervisor]\npythonpath = ["lib"]\n[signals.1]\nhandler = "{app}:handler"\n')
    assert load_config(path, check_imports=True).signals[1].handler == f"{app}:handler"


def test_pythonpath_entries_go_first_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", ["/x", str(tmp_path / "b")])
    parse('[supervisor]\npythonpath = ["a", "b"]\n', tmp_path, check_imports=True)
    assert sys.path == [str(tmp_path / "a"), str(tmp_path / "b"), "/x"]


# -- line numbers --------------------------------------------------------------------------


def test_key_lines_headers_keys_and_arrays_of_tables() -> None:
    text = textwrap.dedent('''\
        # comment [not.a.header]
        top = 1
        [supervisor]
        name = "x"  # [fake]
        doc = """
        [signals.99]
        x = 1
        """
        arr = [
          [1, 2],
          {a = 1},
        ]
        [signals."17"]
        handler = 'a:b'
        [[timers]]
        signal = 1
        [[timers]]
         seconds = 2
        [spoolers.q]
        dir.x = "a"
        [ signals . 18 ]
        ''')
    assert key_lines(text) == {
        ("top",): 2,
        ("supervisor",): 3, ("supervisor", "name"): 4, ("supervisor", "doc"): 5,
        ("supervisor", "arr"): 9,
        ("signals", "17"): 13, ("signals", "17", "handler"): 14,
        ("timers", 0): 15, ("timers", 0, "signal"): 16,
        ("timers", 1): 17, ("timers", 1, "seconds"): 18,
        ("spoolers", "q"): 19, ("spoolers", "q", "dir", "x"): 20,
        ("signals", "18"): 21,
    }


def test_find_line_falls_back_to_the_enclosing_key() -> None:
    lines = {("signals", "3"): 7, ("timers",): 2}
    assert find_line(lines, ("signals", "3", "handler")) == 7
    assert find_line(lines, ("timers", 1, "seconds")) == 2
    assert find_line(lines, ("crons", 0)) is None
    assert find_line(lines, ()) is None


def test_format_path() -> None:
    assert format_path(("timers", 2, "seconds")) == "timers[2].seconds"
    assert format_path(("signals", "17", "target")) == "signals.17.target"
    assert format_path(("farms", "a b", 0)) == 'farms."a b"[0]'
    assert format_path(("x",)) == "x"


def test_line_of_nth_array_table(tmp_path: Path) -> None:
    text = "[[timers]]\nsignal = 1\nseconds = 1\n\n[[timers]]\nsignal = 2\n"
    found = problems(text, tmp_path)
    assert [(p.key, p.line) for p in found] == [("timers[1].seconds", 5)]


def test_line_for_inline_tables_falls_back_to_the_key(tmp_path: Path) -> None:
    text = "\ntimers = [\n  {signal = 1, seconds = 1},\n  {signal = 1, seconds = 0},\n]\n[workers]\n"
    found = problems(text, tmp_path)
    assert [(p.key, p.line) for p in found] == [("timers[1].seconds", 2)]


def test_line_is_none_when_not_found(tmp_path: Path) -> None:
    text = 'signals = {"300" = {handler = "a:b"}}\n[workers]\ncount = 1\n'
    found = problems(text, tmp_path)
    assert [(p.key, p.line) for p in found] == [("signals.300", 1)]
    # a problem about a key the file does not contain and whose parents it does not either
    found = problems("", tmp_path, env={"XDG_RUNTIME_DIR": "/" + "r" * 120})
    assert [(p.key, p.line) for p in found] == [("supervisor.socket", None)]
    assert str(found[0]).startswith(f"{tmp_path / 'sigsup.toml'}: supervisor.socket: ")
