"""The rough edges a new user hit (issue 11): finding the master, its messages, handler
signatures, naming outside clients, signal_wait and --wait, check's warnings, --help and
shell completion, counted nouns."""

from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from sigsup import client_runtime, context
from sigsup.cli import main
from sigsup.config import parse_config
from sigsup.config.warnings import config_warnings
from sigsup.errors import NotInSigsup
from sigsup.importing import HandlerImportError, resolve_handler, signature_problem
from sigsup.locate import (
    NoMasterFound,
    SeveralMasters,
    configs_here,
    find_socket,
    no_answer_hint,
)
from sigsup.master.commands import client_origin
from sigsup.words import count

from .fakes import LoopHarness, harness_factory, short_socket_dir

# -- finding the master: one rule ---------------------------------------------------------


class Listening:
    """A socket something listens at, as a running master's."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.bind(str(path))
        self.s.listen(8)

    def close(self) -> None:
        self.s.close()


@pytest.fixture
def rundir():
    """An isolated discovery directory ($XDG_RUNTIME_DIR/sigsup): masters other tests run
    on this machine are not seen."""
    d = short_socket_dir()
    yield d
    import shutil
    shutil.rmtree(d, ignore_errors=True)


def test_the_one_running_master_is_found(rundir):
    m = Listening(rundir / "sigsup" / "a.sock")
    try:
        assert find_socket(None, None, env={"XDG_RUNTIME_DIR": str(rundir)}) == m.path
    finally:
        m.close()


def test_a_stale_socket_is_not_a_running_master(rundir):
    stale = rundir / "sigsup" / "old.sock"
    Listening(stale).close()            # the file stays, nobody listens
    live = Listening(rundir / "sigsup" / "new.sock")
    try:
        env = {"XDG_RUNTIME_DIR": str(rundir)}
        assert find_socket(None, None, env=env) == live.path
    finally:
        live.close()
    with pytest.raises(NoMasterFound) as info:
        find_socket(None, None, env={"XDG_RUNTIME_DIR": str(rundir)}, cwd=rundir)
    assert "(stale: new.sock, old.sock)" in str(info.value)


def test_several_masters_have_their_own_error_and_code(rundir):
    a, b = Listening(rundir / "sigsup" / "a.sock"), Listening(rundir / "sigsup" / "b.sock")
    try:
        with pytest.raises(SeveralMasters) as info:
            find_socket(None, None, env={"XDG_RUNTIME_DIR": str(rundir)})
    finally:
        a.close()
        b.close()
    assert info.value.exit_code == 4 and NoMasterFound.exit_code == 2
    assert "a.sock" in str(info.value) and "SIGSUP_SOCKET" in str(info.value)


def test_sigsup_socket_then_sigsup_config_come_first(rundir, tmp_path):
    other = Listening(rundir / "sigsup" / "a.sock")
    cfg = tmp_path / "app.toml"
    cfg.write_text(f'[supervisor]\nsocket = "{tmp_path}/app.sock"\n')
    try:
        env = {"XDG_RUNTIME_DIR": str(rundir), "SIGSUP_CONFIG": str(cfg)}
        assert find_socket(None, None, env=env) == tmp_path / "app.sock"
        env["SIGSUP_SOCKET"] = "/x/y.sock"
        assert find_socket(None, None, env=env) == Path("/x/y.sock")
        assert find_socket("/given.sock", None, env=env) == Path("/given.sock")
    finally:
        other.close()


def test_no_master_says_where_it_looked_and_what_to_set(rundir, tmp_path):
    with pytest.raises(NoMasterFound) as info:
        find_socket(None, None, env={"XDG_RUNTIME_DIR": str(rundir)}, cwd=tmp_path)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(rundir / "sigsup") in msg
    assert "SIGSUP_SOCKET" in msg and "SIGSUP_CONFIG" in msg and "-c FILE" in msg


def test_no_master_suggests_the_configs_of_the_working_directory(rundir, tmp_path):
    (tmp_path / "sigsup.toml").write_text('[supervisor]\nsocket = "run/s.sock"\n')
    (tmp_path / "pyproject.toml").write_text("[workers]\n")     # never a sigsup config
    (tmp_path / "other.toml").write_text("[tool.x]\n")
    assert configs_here(tmp_path) == ["sigsup.toml"]
    with pytest.raises(NoMasterFound) as info:
        find_socket(None, None, env={"XDG_RUNTIME_DIR": str(rundir)}, cwd=tmp_path)
    assert "try -c sigsup.toml" in str(info.value)
    assert "-c sigsup.toml" in no_answer_hint("/x.sock", tmp_path)
    assert no_answer_hint("/x.sock", tmp_path / "nothing") == ""


@pytest.fixture
def outside(monkeypatch, rundir):
    """This process as an outside script: no runtime installed, a clean environment."""
    saved = context.current_or_none()
    context.install(None)
    for k in ("SIGSUP_SOCKET", "SIGSUP_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(rundir))
    try:
        yield rundir
    finally:
        context.install(saved)


def test_library_without_a_master_says_what_to_set_in_one_line(outside):
    assert context.current_or_none() is None
    with pytest.raises(NotInSigsup) as info:
        client_runtime.current()
    msg = str(info.value)
    assert "\n" not in msg and "SIGSUP_SOCKET" in msg and "SIGSUP_CONFIG" in msg


# -- handler signatures --------------------------------------------------------------------


def one(signum): ...
def two(signum, payload): ...
def payload_default(signum, payload=None): ...
def star(*args): ...
def none(): ...
def three(a, b, c): ...
def kw_only(*, signum): ...


@pytest.mark.parametrize("fn", [one, two, payload_default, star, print])
def test_handler_signatures_accepted(fn):
    assert signature_problem(fn, "m:f") is None


@pytest.mark.parametrize("fn", [none, three, kw_only, os.getcwd])
def test_handler_signatures_refused(fn):
    msg = signature_problem(fn, "m:f")
    assert msg is not None and "handler(signum)" in msg and "m:f takes" in msg


def test_resolve_handler_refuses_os_getcwd():
    with pytest.raises(HandlerImportError, match=r"os:getcwd takes \(\)"):
        resolve_handler("os:getcwd")
    assert resolve_handler("os:close") is os.close        # close(fd): one argument


def test_register_signal_refuses_a_bad_handler_before_asking_the_master(outside):
    import sigsup
    with pytest.raises(ValueError, match=r"register_signal\(17\): os:getcwd takes"):
        sigsup.register_signal(17, "worker", "os:getcwd")
    assert context.current_or_none() is None               # the master was never asked


def test_check_refuses_a_config_handler_with_a_bad_signature(tmp_path, outside):
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[supervisor]\nsocket = "{tmp_path}/s.sock"\n\n'
                   '[signals.17]\nhandler = "os:getcwd"\n')
    r = CliRunner().invoke(main, ["check", str(cfg)])
    assert r.exit_code == 1
    assert "signals.17.handler" in r.output and "os:getcwd takes ()" in r.output


# -- sigsup check ---------------------------------------------------------------------------


def _cfg(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(f'[supervisor]\nsocket = "{tmp_path}/s.sock"\n\n' + textwrap.dedent(body))
    return p


def test_check_reads_sigsup_config(tmp_path, outside, monkeypatch):
    p = _cfg(tmp_path, '[workers]\ncount = 1\n\n[signals.3]\nhandler = "os:close"\n')
    r = CliRunner().invoke(main, ["check"])
    assert r.exit_code == 1 and "SIGSUP_CONFIG" in r.output
    monkeypatch.setenv("SIGSUP_CONFIG", str(p))
    r = CliRunner().invoke(main, ["check"])
    assert r.exit_code == 0, r.output
    # counted nouns: 1 worker, 1 signal, 1 spooler process
    assert "(1 worker, 0 mules, 0 farms, 0 spooler processes, 1 signal)" in r.output


def test_check_says_1_spooler_process(tmp_path, outside):
    p = _cfg(tmp_path, '[spoolers.s]\ndir = "spool"\n')
    r = CliRunner().invoke(main, ["check", str(p)])
    assert r.exit_code == 0, r.output
    assert "1 spooler process," in r.output and "0 signals" in r.output


CHEAPER = """
[workers]
count = 4
cheaper = 1
cheaper_idle = {idle}

[signals.5]
handler = "os:close"
target = "{target}"

[[timers]]
signal = 5
seconds = {period}
"""


@pytest.mark.parametrize("period,idle,target,warned", [
    (10, 10, "workers", True), (5, 10, "workers", True), (5, 10, "worker", True),
    (11, 10, "workers", False), (5, 10, "worker2", False), (5, 10, "mule", False)])
def test_check_warns_about_a_timer_that_keeps_workers_awake(tmp_path, period, idle, target,
                                                            warned):
    body = CHEAPER.format(period=period, idle=idle, target=target)
    if target == "mule":
        body += "\n[mules]\ncount = 1\n"
    cfg = parse_config(f'[supervisor]\nsocket = "{tmp_path}/s.sock"\n' + body,
                       tmp_path / "s.toml", env={})
    found = config_warnings(cfg)
    assert bool(found) is warned, found
    if warned:
        assert "[[timers]] #1" in found[0] and "cheaper_idle" in found[0]


def test_no_cheaper_no_warning(tmp_path):
    cfg = parse_config(f'[supervisor]\nsocket = "{tmp_path}/s.sock"\n'
                       '[workers]\ncount = 2\n[signals.5]\nhandler = "os:close"\n'
                       'target = "workers"\n[[timers]]\nsignal = 5\nseconds = 1\n',
                       tmp_path / "s.toml", env={})
    assert config_warnings(cfg) == []


def test_check_prints_the_warning_and_exits_0(tmp_path, outside):
    p = _cfg(tmp_path, CHEAPER.format(period=10, idle=10, target="workers"))
    r = CliRunner().invoke(main, ["check", str(p)])
    assert r.exit_code == 0, r.output
    assert "warning: [[timers]] #1: signal 5 every 10 s" in r.output


# -- the top-level help, completion, words ----------------------------------------------------


def test_help_shows_whole_summaries():
    r = CliRunner().invoke(main, ["--help"], terminal_width=80)
    assert r.exit_code == 0
    commands = r.output.split("Commands:", 1)[1]
    assert "..." not in commands, commands
    for name in ("kill", "restart", "retry", "raise", "stop", "completion", "scale"):
        assert f"  {name} " in commands


@pytest.mark.parametrize("shell,needle", [("bash", "complete -o nosort -F"),
                                          ("zsh", "compdef"), ("fish", "complete --no-files")])
def test_completion_prints_clicks_script(shell, needle):
    r = CliRunner().invoke(main, ["completion", shell])
    assert r.exit_code == 0, r.output
    assert needle in r.output and "_SIGSUP_COMPLETE" in r.output


def test_completion_refuses_an_unknown_shell():
    r = CliRunner().invoke(main, ["completion", "tcsh"])
    assert r.exit_code != 0 and "bash" in r.output


def test_counted_nouns():
    assert count(1, "signal") == "1 signal" and count(0, "signal") == "0 signals"
    assert count(1, "spooler process", "spooler processes") == "1 spooler process"


# -- the master: naming clients, raise --wait for a signal nobody waits for ---------------------


def test_client_origin_names_the_client():
    assert client_origin({"cmd": "raise"}) == "cli"
    assert client_origin({"client": "pid 12 (post.py)"}) == "client pid 12 (post.py)"
    assert client_origin({"client": 5}) == "cli"
    assert client_origin({"client": "x\ny"}) == "cli"


def test_client_name_has_pid_and_argv0(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/srv/app/post.py", "--x"])
    assert client_runtime.client_name() == f"pid {os.getpid()} (post.py)"


class Conn:
    """A control connection as Commands sees it."""

    def __init__(self) -> None:
        self.replies: list[dict] = []
        self.waits = 0

    def reply(self, msg: dict) -> None:
        self.replies.append(msg)


TREE = """
[workers]
count = 2

[signals.17]
handler = "handlers:on_change"
target = "worker"
"""


@pytest.fixture
def loop():
    with harness_factory(LoopHarness) as new:
        yield new


def test_registration_by_an_outside_client_is_logged_with_its_name(loop):
    h = loop(TREE)
    h.ready()
    conn = Conn()
    h.master.commands.handle_client(conn, {"cmd": "register", "signum": 30,
                                           "handler": "m:f", "client": "pid 77 (post.py)"})
    assert conn.replies[0]["ok"], conn.replies
    assert "signal 30 registered by client pid 77 (post.py): m:f -> worker" in h.log()
    h.master.commands.handle_client(conn, {"cmd": "register", "signum": 31, "handler": "m:f"})
    assert "signal 31 registered by cli:" in h.log()


def test_raise_wait_of_a_kept_signal_answers_at_once(loop):
    h = loop(TREE)
    h.ready()
    conn = Conn()
    h.master.commands.handle_client(conn, {"cmd": "raise", "signum": 200, "wait": True})
    assert len(conn.replies) == 1, "answered now, not after the client's timeout"
    reply = conn.replies[0]
    assert reply["result"]["recipients"] == ["signal_wait"]
    assert reply["outcomes"] == [{"process": "signal_wait", "status": "kept",
                                  "detail": "kept for the next signal_wait (nobody waits now)"}]
    assert conn.waits == 0
    assert h.counters(200)["raised"] == 1
