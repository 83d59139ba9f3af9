"""``sigsup convert uwsgi.ini [--section NAME] [-o FILE] [--check]`` (added to the CLI group
in sigsup/cli.py; the converter is sigsup/convert/).

The sigsup.toml goes to stdout (or FILE); every option not carried over, with its reason,
and every problem of the ini go to stderr. ``--check`` then checks the result as ``sigsup
check`` does (the file, then preload and handler imports).

Exit codes: 0 converted (and, with --check, the result passes); 1 the ini cannot be read
or has no such section, or --check found problems.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

import click

EXIT_FAILED = 1


@click.command("convert")
@click.argument("ini", type=click.Path(dir_okay=False))
@click.option("--section", default="uwsgi", show_default=True,
              help="The section of the ini file to read.")
@click.option("-o", "--output", "output", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the sigsup.toml here instead of stdout.")
@click.option("--check", "check", is_flag=True,
              help="Check the result as `sigsup check` does (imports included).")
def convert_cmd(ini: str, section: str, output: str | None, check: bool) -> None:
    """Convert a uWSGI ini file to a sigsup.toml; what cannot be carried over is listed on
    stderr with the reason."""
    from sigsup.convert import convert_ini
    try:
        text = Path(ini).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"sigsup convert: {ini}: cannot read: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    conv = convert_ini(text, Path(ini), os.environ, section)
    for p in conv.problems:
        click.echo(f"sigsup convert: {ini}: {p}", err=True)
    if not conv.ok:
        sys.exit(EXIT_FAILED)
    for s in conv.skipped:
        click.echo(f"sigsup convert: {ini}: not carried over: {s}", err=True)
    if output:
        Path(output).write_text(conv.toml, encoding="utf-8")
    else:
        click.echo(conv.toml, nl=False)
    if check and not _check(conv.toml, output):
        sys.exit(EXIT_FAILED)


def _check(toml: str, output: str | None) -> bool:
    from sigsup.app import load_master
    from sigsup.config import ConfigError, format_problems
    from sigsup.master.log import Log
    with tempfile.TemporaryDirectory(prefix="sigsup-convert-") as tmp:
        path = Path(output) if output else Path(tmp) / "sigsup.toml"
        if not output:
            path.write_text(toml, encoding="utf-8")
        try:
            cfg = load_master(path, Log(io.StringIO())).config
        except ConfigError as exc:
            click.echo(format_problems(exc), err=True)
            return False
    click.echo(f"sigsup convert --check: ok ({cfg.workers.count} workers, {cfg.mules.count} "
               f"mules, {sum(s.processes for s in cfg.spoolers.values())} spooler processes, "
               f"{len(cfg.timers) + len(cfg.rb_timers) + len(cfg.crons) + len(cfg.monitors)} "
               "event sources)", err=True)
    return True


COMMANDS = (convert_cmd,)
