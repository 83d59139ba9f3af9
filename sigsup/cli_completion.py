"""``sigsup completion bash|zsh|fish``: print click's shell completion script for sigsup
(added to the CLI group in sigsup/cli.py). ``eval "$(sigsup completion bash)"`` in
~/.bashrc; the README says where each shell keeps it."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
PROG = "sigsup"
COMPLETE_VAR = "_SIGSUP_COMPLETE"


def completion_script(shell: str, cli: click.Command) -> str:
    """The completion script of ``shell`` for ``cli``, as click writes it."""
    cls = get_completion_class(shell)
    if cls is None:   # pragma: no cover - SHELLS are click's own
        raise click.BadParameter(f"no completion for {shell!r}")
    return cls(cli, {}, PROG, COMPLETE_VAR).source()


@click.command("completion", short_help="Print the shell completion script (bash, zsh, fish).")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion_cmd(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL: commands, options and choices complete on Tab.

    \b
    bash:  eval "$(sigsup completion bash)"          (in ~/.bashrc)
    zsh:   eval "$(sigsup completion zsh)"           (in ~/.zshrc)
    fish:  sigsup completion fish > ~/.config/fish/completions/sigsup.fish
    """
    root = ctx.find_root().command
    click.echo(completion_script(shell, root), nl=False)


COMMANDS = (completion_cmd,)
