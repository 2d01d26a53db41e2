"""The ``bosun`` command line: a Temporal client for Bosun, plus the local stack.

Every subcommand lives in its own module and is registered here.
"""

from __future__ import annotations

import click

from bosun.cli.app import app
from bosun.cli.cluster import cluster
from bosun.cli.completion import completion
from bosun.cli.dev import dev
from bosun.cli.health_cmd import health
from bosun.cli.proj import proj
from bosun.cli.repo import repo
from bosun.cli.schedule import schedule
from bosun.cli.setup_cmd import setup


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Bosun: GitOps continuous delivery for Kubernetes, on Temporal."""


cli.add_command(app)
cli.add_command(cluster)
cli.add_command(completion)
cli.add_command(dev)
cli.add_command(health)
cli.add_command(proj)
cli.add_command(repo)
cli.add_command(schedule)
cli.add_command(setup)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
