"""Shared helpers of the renderer tests: fixture repositories written from dicts."""

from __future__ import annotations

from pathlib import Path

from bosun.resources import Manifest


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path → text, leading newline dropped) under ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip("\n"))
    return root


def one_of_kind(objects: list[Manifest], kind: str) -> Manifest:
    """The single object of ``kind`` (failing with the kinds present otherwise)."""
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, [o["kind"] for o in objects]
    return found[0]
