"""Tables and colours for the CLI: coloured on a terminal, plain when piped."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
import yaml

COLORS = {
    "Synced": "green",
    "Healthy": "green",
    "Succeeded": "green",
    "OutOfSync": "yellow",
    "Progressing": "cyan",
    "Suspended": "blue",
    "Missing": "yellow",
    "Degraded": "red",
    "Failed": "red",
    "Error": "red",
    "Unknown": "magenta",
}


def colour_enabled() -> bool:
    return sys.stdout.isatty()


def paint(text: str) -> str:
    colour = COLORS.get(text)
    return click.style(text, fg=colour) if colour and colour_enabled() else text


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        parts = []
        for i, cell in enumerate(row):
            padded = cell.ljust(widths[i]) if i < len(row) - 1 else cell
            parts.append(paint(cell) + padded[len(cell) :] if index else padded)
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def emit(value: Any, fmt: str) -> None:
    """Print ``value`` as json or yaml (``fmt``); pydantic models are dumped first."""
    data = _plain(value)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
