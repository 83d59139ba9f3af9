"""The top-level ``sigsup --help``: each command's one-line summary whole, never cut with
"..." (click shortens a summary to fit the terminal; a command without ``short_help`` shows
its first sentence here, wrapped if it must be)."""

from __future__ import annotations

import click


class WholeSummaries(click.Group):
    """A click group whose command list shows whole one-line summaries."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, summary(cmd)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def summary(cmd: click.Command) -> str:
    """``short_help``, else the first sentence of the help, whole."""
    # a limit no first sentence reaches: click cuts at the first sentence, not at a width
    return cmd.get_short_help_str(limit=10_000)
