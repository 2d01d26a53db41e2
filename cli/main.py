"""The ``bosun`` command line: a Temporal client for Bosun, plus the local stack.

Every subcommand lives in its own module and is registered here.
"""

from __future__ import annotations

import click

from cli import (
    app_edit,  # noqa: F401 - registers app set|unset|patch|suspend|resume
    app_ops,  # noqa: F401 - registers `app refresh` and `app resources`
)
from cli.app import app
from cli.app_actions import actions
from cli.cluster import cluster
from cli.completion import completion
from cli.dev import dev
from cli.health_cmd import health
from cli.pipeline import pipeline
from cli.proj import proj
from cli.repo import repo
from cli.rollout import rollout
from cli.schedule import schedule
from cli.setup_cmd import setup
from cli.worker_cmd import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Bosun: GitOps continuous delivery for Kubernetes, on Temporal."""


app.add_command(actions)
cli.add_command(app)
cli.add_command(cluster)
cli.add_command(completion)
cli.add_command(dev)
cli.add_command(health)
cli.add_command(pipeline)
cli.add_command(proj)
cli.add_command(repo)
cli.add_command(rollout)
cli.add_command(schedule)
cli.add_command(setup)
cli.add_command(worker)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
