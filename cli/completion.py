"""``bosun completion SHELL``: print the shell completion script (click's), to source.

eval "$(bosun completion bash)"     # in ~/.bashrc
bosun completion fish > ~/.config/fish/completions/bosun.fish
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    Example:
      eval "$(bosun completion bash)"
    """
    root = ctx.find_root().command
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(root, {}, "bosun", "_BOSUN_COMPLETE").source())
