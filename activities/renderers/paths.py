"""Path confinement: every path an app names must stay inside its checkout."""

from __future__ import annotations

from pathlib import Path


class RenderError(Exception):
    """The source cannot be rendered; the message names the file or path and the problem."""


def inside(root: Path, relative: str, *, what: str) -> Path:
    """``root / relative``, resolved, refusing anything that leaves ``root``."""
    if Path(relative).is_absolute():
        raise RenderError(f"{what} {relative!r} is absolute; it must be relative to the repository")
    root = root.resolve()
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise RenderError(f"{what} {relative!r} resolves outside the repository: refused")
    return candidate
