"""The sigsup command line: parse, call, print. The work happens elsewhere.

Exit codes of the client commands: 0 ok; 1 a handler failed (raise --wait) or an error;
2 no master running; 3 refused (or an invalid signal number); 4 several masters run (give
--socket); 5 raise --wait of a signal kept for the next signal_wait (nobody waits now).
The README has the table, command by command.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from sigsup.cli_help import WholeSummaries
from sigsup.protocol.control import ControlClient, NoMaster
from sigsup.routing.table import check_signum

EXIT_FAILED = 1
EXIT_NO_MASTER = 2
EXIT_REFUSED = 3
EXIT_SEVERAL_MASTERS = 4   # locate.SeveralMasters.exit_code
EXIT_KEPT = 5              # raise --wait: kept for the next signal_wait, nobody waits now

socket_option = click.option("--socket", "socket_path", metavar="PATH",
                             help="The master's control socket.")
config_option = click.option("-c", "--config", "config_path", metavar="FILE",
                             help="A config file: use its master's socket.")


def _socket(socket_path: str | None, config_path: str | None) -> str:
    from sigsup.config import ConfigError
    from sigsup.locate import LocateError, find_socket
    try:
        return str(find_socket(socket_path, config_path))
    except LocateError as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_FAILED)


def _located(socket_path: str | None, config_path: str | None) -> str:
    """As _socket, but NoMasterFound is the caller's to handle (stop: nothing to stop)."""
    from sigsup.config import ConfigError
    from sigsup.locate import LocateError, NoMasterFound, find_socket
    try:
        return str(find_socket(socket_path, config_path))
    except NoMasterFound:
        raise
    except LocateError as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_FAILED)


def no_master_message(exc: NoMaster) -> str:
    """"no master running at PATH (why)", and the configs of this directory to try."""
    from sigsup.locate import no_answer_hint
    hint = no_answer_hint(exc.path)
    return f"{exc}; {hint}" if hint else str(exc)


def _request(path: str, msg: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    try:
        with ControlClient(path, timeout) as client:
            return client.request(msg, timeout)
    except NoMaster as exc:
        click.echo(f"sigsup: {no_master_message(exc)}", err=True)
        sys.exit(EXIT_NO_MASTER)
    except (TimeoutError, ConnectionError) as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_FAILED)


@click.group(cls=WholeSummaries, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sigsup")
def main() -> None:
    """sigsup: an event-driven process supervisor with uWSGI's signal framework.

    \b
    sigsup start sigsup.toml     build the tree, route signals, stay in the foreground
    sigsup raise 17              raise signal 17 into the running tree
    sigsup status                what runs, what is queued, what fired
    """


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors from the master.")
@click.option("-v", "--verbose", is_flag=True, help="Debug lines from the master too.")
@click.option("--dashboard", is_flag=True,
              help="On a terminal: the live status view and a tail of the logs, one screen.")
def start(config: str, log_format: str, quiet: bool, verbose: bool, dashboard: bool) -> None:
    """Start the master for CONFIG in the foreground (Ctrl-C stops it).

    A bad config is reported, every problem at once, before anything is forked.
    Every log line names its time, process and pid; colours only on a terminal.
    """
    from sigsup.app import load_master
    from sigsup.config import ConfigError, format_problems
    from sigsup.master.log import Log
    if dashboard and not sys.stdout.isatty():
        click.echo("sigsup: --dashboard needs a terminal (without one, drop it)", err=True)
        sys.exit(EXIT_FAILED)
    log = Log(fmt=log_format, level="warning" if quiet else "debug" if verbose else "info")
    _install_compat()
    # the file, then preload modules imported with this master's runtime installed (their
    # module-level sigsup calls reach it), then every handler path: all problems at once,
    # before anything forks
    try:
        master = load_master(config, log)
    except ConfigError as exc:
        click.echo(format_problems(exc), err=True)
        sys.exit(EXIT_FAILED)
    cfg = master.config
    board = None
    if dashboard:
        from sigsup.status.dashboard import fork_dashboard
        # the dashboard is a forked child; this process stays the master (same pid), its
        # output going to the dashboard as JSON lines instead of to the terminal
        board = fork_dashboard(str(cfg.supervisor.socket))
        log.stream, log.fmt, log.colour = sys.stdout, "json", False
    try:
        code = master.run()
    except RuntimeError as exc:   # socket in use, and the like
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        if board is not None:
            board.finish()        # the dashboard prints the log's tail, then we exit
    sys.exit(code)


@main.command(short_help="Check CONFIG as start would, imports included.")
@click.argument("config", type=click.Path(dir_okay=False), required=False)
def check(config: str | None) -> None:
    """Check CONFIG (default: $SIGSUP_CONFIG) as `start` would, imports included; exit 1
    listing every problem. Warnings (a timer that keeps cheaped workers awake...) do not
    change the exit code."""
    import io
    import os

    from sigsup.app import load_master
    from sigsup.config import ConfigError, format_problems
    from sigsup.locate import CONFIG_ENV
    from sigsup.master.log import Log
    from sigsup.words import count
    if config is None:
        config = os.environ.get(CONFIG_ENV) or None
        if config is None:
            click.echo(f"sigsup: check which config? give CONFIG or set ${CONFIG_ENV}",
                       err=True)
            sys.exit(EXIT_FAILED)
    _install_compat()
    try:
        # as in start: preload modules run against a master (this one never starts), so
        # their module-level registrations are checked too
        cfg = load_master(config, Log(io.StringIO())).config
    except ConfigError as exc:
        click.echo(format_problems(exc), err=True)
        sys.exit(EXIT_FAILED)
    from sigsup.config.warnings import config_warnings
    for warning in config_warnings(cfg):
        click.echo(f"{config}: warning: {warning}", err=True)
    spoolers = sum(s.processes for s in cfg.spoolers.values())
    click.echo(f"{config}: ok ({count(cfg.workers.count, 'worker')}, "
               f"{count(cfg.mules.count, 'mule')}, {count(len(cfg.farms), 'farm')}, "
               f"{count(spoolers, 'spooler process', 'spooler processes')}, "
               f"{count(len(cfg.signals), 'signal')})")


@main.command("raise", short_help="Raise signal SIGNUM and print what the master did with it.",
              context_settings={"ignore_unknown_options": True})
@click.argument("signum")
@click.option("--wait", is_flag=True, help="Wait until every recipient ran it; exit 1 if one failed.")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for the answer (with --wait: for every recipient).")
@click.option("--json", "as_json", is_flag=True, help="Print the master's answer as JSON.")
@click.option("--payload", metavar="TEXT", help="A text payload its handlers get "
              "(sigsup.signal_payload()).")
@click.option("--payload-json", metavar="JSON", help="A JSON payload its handlers get.")
@socket_option
@config_option
def raise_(signum: str, wait: bool, timeout: float, as_json: bool, payload: str | None,
           payload_json: str | None, socket_path: str | None, config_path: str | None) -> None:
    """Raise signal SIGNUM (0..255) and print what the master did with it.

    Exit 0 when routed (with --wait: handled everywhere), 1 when a handler failed,
    2 when no master runs, 3 when refused or SIGNUM is not 0..255, 4 when several
    masters run, 5 with --wait when it was kept for the next signal_wait (nobody waits).
    """
    # SIGNUM is parsed here, not by click: "-1" or "abc" is a bad signal number (exit 3),
    # not a usage error (click's exit 2 would read as "no master running")
    try:
        num = int(signum)
    except ValueError:
        click.echo(f"sigsup: {signum!r} is not a signal number: signal numbers are 0..255",
                   err=True)
        sys.exit(EXIT_REFUSED)
    try:
        check_signum(num)
    except ValueError as exc:   # "signal N is out of range: signal numbers are 0..255"
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    msg: dict[str, object] = {"cmd": "raise", "signum": num, "wait": wait}
    if payload is not None and payload_json is not None:
        click.echo("sigsup: give --payload or --payload-json, not both", err=True)
        sys.exit(EXIT_REFUSED)
    if payload is not None:
        msg["payload"] = payload
    elif payload_json is not None:
        try:
            msg["payload"] = json.loads(payload_json)
        except ValueError as exc:
            click.echo(f"sigsup: --payload-json is not JSON: {exc}", err=True)
            sys.exit(EXIT_REFUSED)
    path = _socket(socket_path, config_path)
    try:
        reply = _request(path, msg, timeout)
    except SystemExit:
        raise
    result = reply.get("result")
    if as_json:
        click.echo(json.dumps(reply, indent=2))
    elif result is None:
        click.echo(f"sigsup: {reply.get('error')}", err=True)
    else:
        _print_raise(result, reply.get("outcomes") if wait else None)
    if result is None or result.get("refused"):
        sys.exit(EXIT_REFUSED)
    outcomes = reply.get("outcomes", []) if wait else []
    if any(o["status"] == "kept" for o in outcomes):
        sys.exit(EXIT_KEPT)
    if any(o["status"] != "handled" for o in outcomes):
        sys.exit(EXIT_FAILED)


def _print_raise(result: dict[str, Any], outcomes: list[dict[str, Any]] | None) -> None:
    from sigsup.routing.router import UNCLAIMED
    n = result["signum"]
    procs = [r for r in result["recipients"] if r != UNCLAIMED]
    if procs:
        click.echo(f"signal {n} (raise #{result['id']}) -> {', '.join(procs)}")
    if UNCLAIMED in result["recipients"]:
        click.echo(f"signal {n} (raise #{result['id']}): no handler; kept for the next "
                   f"signal_wait (nobody waits now)")
    for who in result.get("coalesced", []):
        click.echo(f"signal {n}: coalesced into a pending signal {n} for {who}")
    for r in result.get("refused", []):
        click.echo(f"signal {n}: refused for {r['recipient']}: {r['reason']}", err=True)
    for o in outcomes or []:
        if o["status"] == "kept":
            continue   # said above
        detail = f": {o['detail']}" if o.get("detail") else ""
        click.echo(f"  {o['process']}: {o['status']}{detail}")


@main.command(short_help="Stop the master (exit 0 if none runs).")
@socket_option
@config_option
@click.option("--timeout", type=float, default=None,
              help="Seconds to wait for the master to exit (default: its shutdown_timeout + 5).")
def stop(socket_path: str | None, config_path: str | None, timeout: float | None) -> None:
    """Stop the master: running handlers finish, then every process exits.

    With no master running it says so and exits 0 (stopping is idempotent, for scripts).
    """
    from sigsup.locate import NoMasterFound
    from sigsup.pids import wait_gone
    try:
        path = _located(socket_path, config_path)
    except NoMasterFound as exc:
        click.echo(f"sigsup: nothing to stop: {exc}")
        return
    try:
        with ControlClient(path, 10.0) as client:
            reply = client.request({"cmd": "stop"}, 10.0)
    except NoMaster as exc:
        click.echo(f"sigsup: nothing to stop: {exc}")
        return
    except (TimeoutError, ConnectionError) as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    pid = int(reply.get("pid", 0))
    if timeout is None:
        timeout = float(reply.get("shutdown_timeout", 55.0)) + 5.0
    if pid and not wait_gone(pid, timeout):
        click.echo(f"sigsup: master {pid} is still stopping after {timeout:g} s", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"master {pid} stopped")


EXIT_GROUP_FAILED = 3    # status --check


def _locator(socket_path: str | None, config_path: str | None) -> Any:
    """For the live views: a fixed socket if one was named, else found again on each try."""
    if socket_path or config_path:
        path = _socket(socket_path, config_path)
        return lambda: path
    from sigsup.locate import find_socket
    return lambda: str(find_socket(None, None))


@main.command()
@socket_option
@config_option
@click.option("--json", "as_json", is_flag=True,
              help="One JSON document (docs/status-schema.md; its version in 'version'); "
                   "with --watch, one document a line.")
@click.option("-w", "--watch", is_flag=True, help="Refresh until Ctrl-C (as `sigsup top`).")
@click.option("-n", "--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between refreshes with --watch.")
@click.option("--check", is_flag=True, help="Exit 3 when some group failed.")
def status(socket_path: str | None, config_path: str | None, as_json: bool, watch: bool,
           interval: float, check: bool) -> None:
    """Show what runs, what is queued and what fired.

    With --watch the view refreshes until Ctrl-C and outlives the master: it says
    "master not running" and picks the master up again when it comes back.

    \b
    Exit codes:
      0  ok
      1  an error (a config that does not load, a refused request)
      2  no master running
      3  some group failed (with --check)
    """
    if watch:
        if check:   # not click's UsageError: its exit 2 would read as "no master"
            click.echo("sigsup: --check takes one look; it does not go with --watch", err=True)
            sys.exit(EXIT_FAILED)
        from sigsup.status.live import StatusSource, watch_json
        from sigsup.status.live import watch as live
        source = StatusSource(_locator(socket_path, config_path))
        sys.exit(watch_json(source, interval) if as_json else live(source, interval))
    path = _socket(socket_path, config_path)
    reply = _request(path, {"cmd": "status"})
    if not reply.get("ok"):
        click.echo(f"sigsup: {reply.get('error')}", err=True)
        sys.exit(EXIT_FAILED)
    doc = reply["status"]
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        from sigsup.status.client import print_status
        print_status(doc)
    if check:
        from sigsup.status.client import failed_summary
        failed = failed_summary(doc)
        if failed:
            click.echo(f"sigsup: failed: {failed}", err=True)
            sys.exit(EXIT_GROUP_FAILED)


@main.command()
@socket_option
@config_option
@click.option("-n", "--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between refreshes.")
@click.pass_context
def top(ctx: click.Context, socket_path: str | None, config_path: str | None,
        interval: float) -> None:
    """The live status view until Ctrl-C: `sigsup status --watch`."""
    ctx.invoke(status, socket_path=socket_path, config_path=config_path, as_json=False,
               watch=True, interval=interval, check=False)


def _signum_option(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """An option's signal number, checked by check_signum (a usage error if not 0..255)."""
    if value is None:
        return None
    try:
        return check_signum(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@main.command()
@click.option("--signal", "signum", type=int, callback=_signum_option, metavar="N",
              help="Only events about signal N (0..255).")
@click.option("--process", metavar="NAME", help="Only events about process NAME (worker2...).")
@socket_option
@config_option
def events(signum: int | None, process: str | None, socket_path: str | None,
           config_path: str | None) -> None:
    """Print what happens in the master as JSON lines, until Ctrl-C.

    One object a line, {"event": KIND, "ts": WALL_CLOCK, ...}: raise, deliver, handled,
    failed, spawn, ready, exit, harakiri, failed-group, stopping, and the fires of event
    sources. `sigsup events --signal 17` follows signal 17 from raise to handler.

    \b
    Exit codes:
      0  Ctrl-C, or the master stopped
      1  the stream broke (or the master dropped it for falling behind)
      2  no master running
    """
    from sigsup.status.client import stream_events
    path = _socket(socket_path, config_path)
    try:
        code = stream_events(path, {"signal": signum, "process": process})
    except NoMaster as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_NO_MASTER)
    sys.exit(code)


def _install_compat() -> None:
    """``import uwsgi`` / ``uwsgidecorators`` in this master and its children (sigsup/compat)."""
    from sigsup.compat import install
    install()


def _add_spool_commands() -> None:
    """`sigsup spool` and `sigsup jobs` (sigsup/spool/clicmds.py)."""
    from sigsup.spool.clicmds import jobs_cmd, spool_cmd
    main.add_command(spool_cmd)
    main.add_command(jobs_cmd)


_add_spool_commands()


# commands that live in their own modules, each a tuple COMMANDS of click commands
COMMAND_MODULES = (
    "sigsup.cli_procs",        # restart, kill, retry, scale
    "sigsup.cli_convert",      # convert
    "sigsup.cli_reload",       # reload
    "sigsup.cli_completion",   # completion
)


def _add_module_commands() -> None:
    import importlib
    for name in COMMAND_MODULES:
        for cmd in importlib.import_module(name).COMMANDS:
            main.add_command(cmd)


_add_module_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
