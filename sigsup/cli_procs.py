"""``sigsup restart``, ``kill``, ``retry`` and ``scale``: per-process control (added to the
CLI group in sigsup/cli.py; the master's side is sigsup/master/proccmds.py).

Exit codes, the same for the four:
    0  done
    1  refused or an error from the master (no such process, not failed, the master is
       stopping...), or the connection broke
    2  no master running (as every client command)
    3  usage: a bad argument (a click usage error too: click's own 2 would read as "no
       master running")
    4  several masters run (give --socket)
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from sigsup.master.select import posix_signal
from sigsup.protocol.control import ControlClient, NoMaster

EXIT_REFUSED = 1
EXIT_NO_MASTER = 2
EXIT_USAGE = 3

class ControlCommand(click.Command):
    """A click command whose usage errors exit 3 (2 is "no master running")."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise


def _common(fn: Any) -> Any:
    fn = click.option("--timeout", type=float, default=10.0, show_default=True,
                      help="Seconds to wait for the master's answer.")(fn)
    fn = click.option("-c", "--config", "config_path", metavar="FILE",
                      help="A config file: use its master's socket.")(fn)
    fn = click.option("--socket", "socket_path", metavar="PATH",
                      help="The master's control socket.")(fn)
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the master's answer as JSON.")(fn)


def _fail(msg: str, code: int) -> NoReturn:
    click.echo(f"sigsup: {msg}", err=True)
    sys.exit(code)


def _ask(msg: dict[str, Any], socket_path: str | None, config_path: str | None,
         timeout: float) -> dict[str, Any]:
    from sigsup.config import ConfigError
    from sigsup.locate import LocateError, find_socket
    try:
        path = str(find_socket(socket_path, config_path))
    except LocateError as exc:   # no master (2), several masters (4)
        _fail(str(exc), exc.exit_code)
    except ConfigError as exc:
        _fail(str(exc), EXIT_REFUSED)
    try:
        with ControlClient(path, timeout) as client:
            return client.request(msg, timeout)
    except NoMaster as exc:
        _fail(str(exc), EXIT_NO_MASTER)
    except (TimeoutError, ConnectionError) as exc:
        _fail(str(exc), EXIT_REFUSED)


def _answer(reply: dict[str, Any], as_json: bool, show: Any) -> None:
    """Print the reply (as JSON, or with ``show``) and exit 1 unless it is ``ok``."""
    if as_json:
        click.echo(json.dumps(reply, indent=2))
    elif reply.get("ok"):
        show(reply)
    else:
        click.echo(f"sigsup: {reply.get('error', 'refused')}", err=True)
    if not reply.get("ok"):
        sys.exit(EXIT_REFUSED)


def _show_each(reply: dict[str, Any]) -> None:
    """``worker1 [123]: restarting``; a group first names every member."""
    group = reply.get("group")
    if group:
        click.echo(f"{reply['name']}: {', '.join(p['name'] for p in reply['processes'])}")
    for p in reply["processes"]:
        pid = f" [{p['pid']}]" if p.get("pid") else ""
        click.echo(f"{'  ' if group else ''}{p['name']}{pid}: {p['result']}")


@click.command("restart", cls=ControlCommand,
               short_help="Restart a process or a group gracefully: worker3, workers.")
@click.argument("name")
@_common
def restart_cmd(name: str, as_json: bool, socket_path: str | None, config_path: str | None,
                timeout: float) -> None:
    """Restart NAME gracefully: worker3, mule2, monitor, spooler:NAME#K, or a group
    (workers, mules, spoolers, farm_NAME, spooler_NAME: every member).

    Each process gets SIGTERM: a running handler finishes, then it exits and a new one
    starts at once (not counted as a death: no backoff). What it had queued, or was sent
    and had not started, waits for its successor. A slot in backoff or failed starts now.

    \b
    Exit codes:
      0  done
      1  refused or an error from the master
      2  no master running
      3  a bad argument
    """
    reply = _ask({"cmd": "restart", "name": name}, socket_path, config_path, timeout)
    _answer(reply, as_json, _show_each)


@click.command("kill", cls=ControlCommand,
               short_help="Send a POSIX signal to a process or a group.")
@click.argument("name")
@click.option("-s", "--signal", "sig", default="TERM", show_default=True, metavar="SIG",
              help="A POSIX signal: a name (TERM, HUP, INT, USR1, KILL...) or a number.")
@_common
def kill_cmd(name: str, sig: str, as_json: bool, socket_path: str | None,
             config_path: str | None, timeout: float) -> None:
    """Send a POSIX signal to the process group of NAME (a process or a group, as for
    restart) and print each pid signalled. An exit that follows is as any death: the
    process is respawned with backoff.

    \b
    Exit codes:
      0  done
      1  refused or an error from the master
      2  no master running
      3  a bad argument
    """
    try:
        num = posix_signal(sig)
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)
    reply = _ask({"cmd": "kill", "name": name, "signal": num}, socket_path, config_path,
                 timeout)
    _answer(reply, as_json, _show_each)


@click.command("retry", cls=ControlCommand,
               short_help="Start a failed process or group now, not after its cool-down.")
@click.argument("name")
@_common
def retry_cmd(name: str, as_json: bool, socket_path: str | None, config_path: str | None,
              timeout: float) -> None:
    """Start NAME now if it is FAILED (too many deaths), instead of after the cool-down.
    In a group, the members that are not failed are listed as such; for one process that
    is not failed, exit 1.

    \b
    Exit codes:
      0  done
      1  refused or an error from the master
      2  no master running
      3  a bad argument
    """
    reply = _ask({"cmd": "retry", "name": name}, socket_path, config_path, timeout)
    _answer(reply, as_json, _show_each)


def _show_scale(reply: dict[str, Any]) -> None:
    parts = [f"workers: {reply['from']} -> {reply['to']}"]
    if reply.get("started"):
        parts.append(f"started {', '.join(reply['started'])}")
    if reply.get("stopping"):
        parts.append(f"stopping {', '.join(reply['stopping'])} (removed once they exit)")
    if reply.get("removed"):
        parts.append(f"removed {', '.join(reply['removed'])}")
    if reply.get("kept"):
        parts.append(f"kept {', '.join(reply['kept'])} (restarted once they exit)")
    click.echo("; ".join(parts))


@click.command("scale", cls=ControlCommand, short_help="Resize the worker pool: scale workers N.",
               context_settings={"ignore_unknown_options": True})
@click.argument("group")
@click.argument("count")
@_common
def scale_cmd(group: str, count: str, as_json: bool, socket_path: str | None,
              config_path: str | None, timeout: float) -> None:
    """Make the worker pool COUNT workers: `sigsup scale workers 6`.

    New workers take the next numbers and start at once. The highest-numbered go
    gracefully (a running handler finishes) and their slots are removed once they exited;
    what waits for the pool is kept, their own copies of a broadcast are counted dropped. Refused below a worker a signal
    targets (signal 19 -> worker4 needs 4), and below workers.cheaper.

    \b
    Exit codes:
      0  done
      1  refused or an error from the master
      2  no master running
      3  a bad argument
    """
    try:
        n = int(count)
    except ValueError:
        _fail(f"{count!r} is not a worker count (0 or more)", EXIT_USAGE)
    if n < 0:
        _fail(f"{count!r} is not a worker count (0 or more)", EXIT_USAGE)
    reply = _ask({"cmd": "scale", "group": group, "count": n}, socket_path, config_path,
                 timeout)
    _answer(reply, as_json, _show_scale)


COMMANDS = (restart_cmd, kill_cmd, retry_cmd, scale_cmd)
