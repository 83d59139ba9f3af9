"""``sigsup reload``: re-read the config, apply the diff, restart the processes gracefully
(added to the CLI group in sigsup/cli.py; the master's side is sigsup/reload/master.py).

Exit codes:
    0  done (with --wait: every restart settled)
    1  refused (the config has problems, a change needs a restart, a reload is under way)
       or an error, or --wait timed out
    2  no master running
    3  usage: a bad argument
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from sigsup.cli_procs import EXIT_REFUSED, ControlCommand, _ask, _fail


def _show(reply: dict[str, Any]) -> None:
    click.echo(f"reloaded {reply['config']}")
    for line in reply["lines"]:
        click.echo(line)
    names = reply.get("restarting") or []
    if names:
        how = "one at a time" if reply.get("rolling") else "all at once"
        click.echo(f"restarting {', '.join(names)} ({how})")
    else:
        click.echo("no process to restart")


def _wait(socket_path: str | None, config_path: str | None, timeout: float) -> dict[str, Any]:
    """The status's ``reload`` part once no reload is under way."""
    deadline = time.monotonic() + timeout
    while True:
        st = _ask({"cmd": "status"}, socket_path, config_path, max(1.0, timeout))
        part = st.get("status", {}).get("reload") or {}
        if not part.get("in_progress"):
            return part
        if time.monotonic() >= deadline:
            _fail(f"the reload's restarts were not done within {timeout:g} s", EXIT_REFUSED)
        time.sleep(0.05)


@click.command("reload", cls=ControlCommand)
@click.option("-c", "--config", "config_path", metavar="FILE",
              help="The config to read (default: the running master's own file); its "
                   "master's socket is used.")
@click.option("--socket", "socket_path", metavar="PATH", help="The master's control socket.")
@click.option("--workers-only", is_flag=True, help="Restart the workers only (not the mules "
              "and spoolers).")
@click.option("--rolling", is_flag=True, help="Restart one process at a time, the next once "
              "the last one's successor runs: a pool of two or more never drops to zero.")
@click.option("--wait", is_flag=True, help="Return once every restart settled.")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for the master (with --wait: for the restarts).")
@click.option("--json", "as_json", is_flag=True, help="Print the master's answer as JSON.")
def reload_cmd(config_path: str | None, socket_path: str | None, workers_only: bool,
               rolling: bool, wait: bool, timeout: float, as_json: bool) -> None:
    """Re-read the config, print what changed and apply it, then restart the processes
    gracefully with the code imported afresh (SIGHUP to the master does the same).

    A config with problems is refused whole with `sigsup check`'s messages and the tree
    is left as it runs. Nothing queued is lost: a restarted process finishes its running
    handler and its successor gets what it had queued; timers keep their phase and crons
    their last run when they did not change.

    \b
    Exit codes:
      0  done
      1  refused or an error from the master
      2  no master running
      3  a bad argument
    """
    msg: dict[str, Any] = {"cmd": "reload", "workers_only": workers_only, "rolling": rolling}
    if config_path is not None:
        msg["config"] = str(Path(config_path).resolve())
    reply = _ask(msg, socket_path, config_path, timeout)
    if reply.get("ok") and wait:
        reply["reload"] = _wait(socket_path, config_path, timeout)
    if as_json:
        click.echo(json.dumps(reply, indent=2))
    elif reply.get("ok"):
        _show(reply)
        last = (reply.get("reload") or {}).get("last") or {}
        for p in last.get("processes", []):
            click.echo(f"  {p['name']}: {p['result']}")
    else:
        click.echo(f"sigsup: reload refused: {reply.get('error', 'refused')}", err=True)
    if not reply.get("ok"):
        sys.exit(EXIT_REFUSED)


COMMANDS = (reload_cmd,)
