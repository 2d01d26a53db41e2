"""The ``bosun`` command line: a Temporal client for Bosun, plus the local stack.

Every subcommand lives in its own module and is registered here.
"""

from __future__ import annotations

import click

from bosun.cli.dev import dev


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Bosun: GitOps continuous delivery for Kubernetes, on Temporal."""


cli.add_command(dev)


def main() -> None:
    cli()
