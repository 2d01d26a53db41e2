"""Turning a checked-out source into Kubernetes objects.

One module per source type; :func:`render_source` picks one as Argo CD does. Today:
plain YAML/JSON directories (:mod:`.directory`). Every renderer resolves paths with
:func:`.paths.inside`, so nothing outside the checkout is ever read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activities.renderers.directory import render_directory
from activities.renderers.paths import RenderError, inside
from bosun.resources import Manifest

__all__ = ["RenderError", "render_source", "RENDERER_VERSION"]

RENDERER_VERSION = "1"
"""Part of every render cache key: bump it when rendering changes its output."""


def render_source(checkout: Path, source: dict[str, Any]) -> list[Manifest]:
    """Render ``source`` (Argo CD JSON: path, directory …) from ``checkout``."""
    path = str(source.get("path") or ".")
    root = inside(checkout, path, what="source path")
    if not root.is_dir():
        raise RenderError(f"source path {path!r} does not exist in the repository")
    unsupported = [k for k in ("helm", "kustomize", "plugin", "chart") if source.get(k)]
    if unsupported:
        raise RenderError(f"source type {unsupported[0]!r} is not supported yet")
    return render_directory(checkout, root, source.get("directory") or {})
