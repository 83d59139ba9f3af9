"""``sigsup spool`` and ``sigsup jobs`` (added to the CLI group in sigsup/cli.py).

Parse, call sigsup/spool/admin.py, print. Exit 0 ok, 1 an error (bad arguments, no such
spooler or job, a running job that cannot be dropped).
"""

from __future__ import annotations

import json
import sys
import time

import click

from sigsup.spool import admin
from sigsup.spool.errors import SpoolError

EXIT_FAILED = 1


def _fail(msg: str) -> None:
    click.echo(f"sigsup: {msg}", err=True)
    sys.exit(EXIT_FAILED)


def _config(config_path: str | None, socket_path: str | None = None):  # type: ignore[no-untyped-def]
    from sigsup.config import ConfigError
    from sigsup.locate import LocateError
    from sigsup.protocol.control import NoMaster
    try:
        return admin.resolve_config(config_path, socket_path)
    except ConfigError as exc:
        _fail(str(exc))
    except (LocateError, NoMaster, SpoolError, OSError) as exc:
        _fail(f"{exc} (give -c CONFIG)")


@click.command("spool", context_settings={"ignore_unknown_options": False})
@click.argument("spooler")
@click.argument("args", nargs=-1)
@click.option("-c", "--config", "config_path", metavar="FILE",
              help="The config file that declares the spooler (default: $SIGSUP_CONFIG).")
@click.option("--at", "at", metavar="TIME", help="Not before: a Unix time or an ISO 8601 time.")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--body-file", type=click.File("rb"), help="The job's body (bytes); - is stdin.")
def spool_cmd(spooler: str, args: tuple[str, ...], config_path: str | None, at: str | None,
              priority: int, body_file: click.utils.LazyFile | None) -> None:
    """Queue a job for SPOOLER with ARGS (key=value; a value is JSON when it parses as JSON,
    else a string) and print its id. Works when no master runs: the job waits on disk.

    \b
    sigsup spool mail to=ann@example.com retries=3 -c app.toml
    sigsup spool reports day='"2024-05-01"' --at 2024-05-02T06:00:00 --priority 5 -c app.toml
    """
    cfg = _config(config_path)
    try:
        job_args = admin.parse_args(args)
        body = body_file.read() if body_file is not None else b""
        job_id = admin.spool(cfg, spooler, job_args, at=at, priority=priority, body=body)
    except (SpoolError, ValueError, TypeError, OSError) as exc:
        _fail(str(exc))
    click.echo(job_id)


@click.command("jobs")
@click.argument("args", nargs=-1)
@click.option("-c", "--config", "config_path", metavar="FILE",
              help="The config file that declares the spoolers (default: $SIGSUP_CONFIG, "
                   "else the running master's).")
@click.option("--socket", "socket_path", metavar="PATH",
              help="A running master's control socket (to learn its config).")
@click.option("--spooler", metavar="NAME", help="retry/drop: look for JOB in this spooler only.")
@click.option("--limit", type=int, default=100, show_default=True,
              help="Jobs listed per spooler.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def jobs_cmd(args: tuple[str, ...], config_path: str | None, socket_path: str | None,
             spooler: str | None, limit: int, as_json: bool) -> None:
    """List jobs, or act on one.

    \b
    sigsup jobs [SPOOLER]      counts and jobs in run order (running, due, later, failed)
    sigsup jobs retry JOB      a failed job back to the queue (fresh retries), or a
                               waiting one due now
    sigsup jobs drop JOB       delete a queued or failed job
    JOB is a job id or a unique start of one.
    """
    if args and args[0] in ("retry", "drop"):
        if len(args) != 2:
            _fail(f"usage: sigsup jobs {args[0]} JOB")
        cfg = _config(config_path, socket_path)
        try:
            if args[0] == "retry":
                name, before, e = admin.retry(cfg, args[1], spooler)
                what = "failed" if before == "failed" else "waiting"
                msg = f"job {e.id} ({name}): {what} -> queued, due now"
            else:
                name, state, e = admin.drop(cfg, args[1], spooler)
                msg = f"job {e.id} ({name}): dropped from {'failed/' if state == 'failed' else 'the queue'}"
        except SpoolError as exc:
            _fail(str(exc))
        if as_json:
            click.echo(json.dumps({"ok": True, "id": e.id, "spooler": name, "action": args[0]}))
        else:
            click.echo(msg)
        return
    if len(args) > 1:
        _fail("usage: sigsup jobs [SPOOLER] | retry JOB | drop JOB")
    cfg = _config(config_path, socket_path)
    try:
        listing = admin.list_jobs(cfg, args[0] if args else None, limit)
    except SpoolError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(listing, indent=2, default=str))
        return
    now = time.time()
    for name, sp in listing.items():
        click.echo(f"spooler {name} ({sp['dir']}): {sp['queued']} queued ({sp['due']} due, "
                   f"{sp['retrying']} retrying), {sp['running']} running, {sp['failed']} failed")
        if not sp["jobs"]:
            continue
        click.echo(f"  {'ID':<22}  {'STATE':<8}  {'PRIO':>5}  {'TRIES':>5}  {'WHEN':<19}  INFO")
        for row in sp["jobs"]:
            click.echo(f"  {row['id']:<22}  {row['state']:<8}  {row['priority']:>5}  "
                       f"{row['attempts']:>5}  {admin.when(row, now):<19}  {admin.one_line(row)}")
        hidden = sp["queued"] + sp["running"] + sp["failed"] - sp["shown"]
        if hidden > 0:
            click.echo(f"  ... and {hidden} more (--limit)")
