"""Plain YAML/JSON directories, with Argo CD's ``directory`` options (recurse, include, exclude)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activities.renderers.paths import RenderError
from bosun.manifests import ManifestError, PatternError, parse_manifests, select_files
from bosun.resources import Manifest


def render_directory(checkout: Path, root: Path, options: dict[str, Any]) -> list[Manifest]:
    if options.get("jsonnet") and any(options["jsonnet"].get(k) for k in ("tlas", "extVars", "libs")):
        raise RenderError("directory.jsonnet is not supported yet")
    recurse = bool(options.get("recurse", False))
    candidates = root.rglob("*") if recurse else root.glob("*")
    relative = sorted(
        p.relative_to(root).as_posix() for p in candidates if p.is_file() and not _hidden(p, root)
    )
    try:
        files = select_files(relative, recurse=recurse, include=options.get("include") or None,
                             exclude=options.get("exclude") or None)
    except PatternError as exc:
        raise RenderError(str(exc)) from None
    objects: list[Manifest] = []
    for name in files:
        path = root / name
        shown = path.relative_to(checkout.resolve()).as_posix()
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise RenderError(f"{shown}: not UTF-8 text") from None
        try:
            objects += parse_manifests(text, source=shown, skip_unrelated=True)
        except ManifestError as exc:
            raise RenderError(str(exc)) from None
    return objects


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
