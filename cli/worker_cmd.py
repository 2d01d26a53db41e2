"""``bosun worker [--processes N|auto] [--clusters NAME,...] [--no-main-queue]``: run a Bosun worker here.

The CLI may not import the worker (.importlinter: the CLI is a Temporal client and installs without
the worker's dependencies), so this verb replaces the process with ``python -m worker`` and passes
every argument through: the worker's own parser (worker/launch.py) is the one home of its flags and
of ``--help``. Signals then reach the worker directly (it is the same process).
"""

from __future__ import annotations

import os
import sys

import click


@click.command(
    "worker",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def worker(args: tuple[str, ...]) -> None:
    """Run a Bosun worker (python -m worker); `bosun worker --help` lists its flags."""
    os.execv(sys.executable, [sys.executable, "-m", "worker", *args])
