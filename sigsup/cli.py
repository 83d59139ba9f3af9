"""The sigsup command line: parse, call, print. The work happens elsewhere.

Exit codes of the client commands: 0 ok; 1 a handler failed (raise --wait) or an error;
2 no master running; 3 refused (or an invalid signal number).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from sigsup.protocol.control import ControlClient, NoMaster

EXIT_FAILED = 1
EXIT_NO_MASTER = 2
EXIT_REFUSED = 3

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
        sys.exit(EXIT_NO_MASTER)
    except ConfigError as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_FAILED)


def _request(path: str, msg: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    try:
        with ControlClient(path, timeout) as client:
            return client.request(msg, timeout)
    except NoMaster as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_NO_MASTER)
    except (TimeoutError, ConnectionError) as exc:
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_FAILED)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
def start(config: str, log_format: str, quiet: bool, verbose: bool) -> None:
    """Start the master for CONFIG in the foreground (Ctrl-C stops it).

    A bad config is reported, every problem at once, before anything is forked.
    """
    from sigsup.config import ConfigError, format_problems, load_config
    from sigsup.master.log import Log
    from sigsup.master.loop import Master
    try:
        cfg = load_config(config, check_imports=True)
    except ConfigError as exc:
        click.echo(format_problems(exc), err=True)
        sys.exit(EXIT_FAILED)
    log = Log(fmt=log_format, level="warning" if quiet else "debug" if verbose else "info")
    master = Master(cfg, log=log)
    try:
        master.preload()
    except Exception as exc:
        click.echo(f"sigsup: importing preload modules failed: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    try:
        code = master.run()
    except RuntimeError as exc:   # socket in use, and the like
        click.echo(f"sigsup: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(code)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
def check(config: str) -> None:
    """Check CONFIG as `start` would, imports included; exit 1 listing every problem."""
    from sigsup.config import ConfigError, format_problems, load_config
    try:
        cfg = load_config(config, check_imports=True)
    except ConfigError as exc:
        click.echo(format_problems(exc), err=True)
        sys.exit(EXIT_FAILED)
    mules = cfg.mules.count
    click.echo(f"{config}: ok ({cfg.workers.count} workers, {mules} mules, {len(cfg.farms)} farms, "
               f"{sum(s.processes for s in cfg.spoolers.values())} spooler processes, "
               f"{len(cfg.signals)} signals)")


@main.command("raise")
@click.argument("signum", type=int)
@click.option("--wait", is_flag=True, help="Wait until every recipient ran it; exit 1 if one failed.")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for the answer (with --wait: for every recipient).")
@click.option("--json", "as_json", is_flag=True, help="Print the master's answer as JSON.")
@socket_option
@config_option
def raise_(signum: int, wait: bool, timeout: float, as_json: bool, socket_path: str | None,
           config_path: str | None) -> None:
    """Raise signal SIGNUM (0..255) and print what the master did with it.

    Exit 0 when routed (with --wait: handled everywhere), 1 when a handler failed,
    2 when no master runs, 3 when refused or SIGNUM is not 0..255.
    """
    if not 0 <= signum <= 255:
        click.echo(f"sigsup: signal {signum} is out of range: signal numbers are 0..255", err=True)
        sys.exit(EXIT_REFUSED)
    path = _socket(socket_path, config_path)
    try:
        reply = _request(path, {"cmd": "raise", "signum": signum, "wait": wait}, timeout)
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
    if wait and any(o["status"] != "handled" for o in reply.get("outcomes", [])):
        sys.exit(EXIT_FAILED)


def _print_raise(result: dict[str, Any], outcomes: list[dict[str, Any]] | None) -> None:
    n = result["signum"]
    if result["recipients"]:
        click.echo(f"signal {n} (raise #{result['id']}) -> {', '.join(result['recipients'])}")
    for who in result.get("coalesced", []):
        click.echo(f"signal {n}: coalesced into a pending signal {n} for {who}")
    for r in result.get("refused", []):
        click.echo(f"signal {n}: refused for {r['recipient']}: {r['reason']}", err=True)
    for o in outcomes or []:
        detail = f": {o['detail']}" if o.get("detail") else ""
        click.echo(f"  {o['process']}: {o['status']}{detail}")


@main.command()
@socket_option
@config_option
@click.option("--timeout", type=float, default=None,
              help="Seconds to wait for the master to exit (default: its shutdown_timeout + 5).")
def stop(socket_path: str | None, config_path: str | None, timeout: float | None) -> None:
    """Stop the master: running handlers finish, then every process exits."""
    import os
    path = _socket(socket_path, config_path)
    reply = _request(path, {"cmd": "stop"})
    pid = int(reply.get("pid", 0))
    deadline = time.monotonic() + (timeout if timeout is not None else 60.0)
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            break
        time.sleep(0.05)
    else:
        if pid:
            click.echo(f"sigsup: master {pid} is still stopping", err=True)
            sys.exit(EXIT_FAILED)
    click.echo(f"master {pid} stopped")


@main.command()
@socket_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document (schema version in 'version').")
def status(socket_path: str | None, config_path: str | None, as_json: bool) -> None:
    """Show what runs, what is queued and what fired.

    Exit 0 ok, 2 no master running.
    """
    path = _socket(socket_path, config_path)
    reply = _request(path, {"cmd": "status"})
    if not reply.get("ok"):
        click.echo(f"sigsup: {reply.get('error')}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(reply["status"], indent=2))
        return
    from rich.console import Console

    from sigsup.status.render import render_status
    Console().print(render_status(reply["status"]))


if __name__ == "__main__":  # pragma: no cover
    main()
