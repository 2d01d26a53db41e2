"""Asking the person at the terminal, as Argo CD's CLI does before a cascading delete.

Only when both stdin and stdout are terminals: a script, a pipe or CI is never asked
(and so never blocked), and its command proceeds as it always did.
"""

from __future__ import annotations

import sys

import click


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def confirm(question: str) -> bool:
    """True when not interactive, else whether the answer is yes (``y``/``yes``)."""
    if not interactive():
        return True
    answer = click.prompt(f"{question} [y/n]", default="", show_default=False, prompt_suffix=" ")
    return str(answer).strip().lower() in ("y", "yes")
