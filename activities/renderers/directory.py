"""Plain YAML/JSON directories, with Argo CD's ``directory`` options (recurse, include, exclude).

``*.jsonnet`` files are selected by the same rules and evaluated with the ``jsonnet``
options (:mod:`.jsonnet`), as Argo CD does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activities.renderers.jsonnet import JSONNET_EXTENSION, evaluate_jsonnet_files
from activities.renderers.paths import RenderError
from activities.renderers.tools import BuildEnv, ToolRun
from bosun.glob import match_with_error
from bosun.manifests import ManifestError, PatternError, parse_manifests, select_files
from bosun.models.source import ApplicationSourceJsonnet
from bosun.resources import Manifest


def render_directory(
    checkout: Path, root: Path, options: dict[str, Any], *, run: ToolRun | None = None
) -> list[Manifest]:
    recurse = bool(options.get("recurse", False))
    candidates = root.rglob("*") if recurse else root.glob("*")
    relative = sorted(p.relative_to(root).as_posix() for p in candidates if p.is_file() and not _hidden(p, root))
    try:
        files = select_files(
            relative, recurse=recurse, include=options.get("include") or None, exclude=options.get("exclude") or None
        )
        jsonnet_files = _select_jsonnet(
            relative, recurse=recurse, include=options.get("include"), exclude=options.get("exclude")
        )
    except PatternError as exc:
        raise RenderError(str(exc)) from None
    evaluated: dict[str, list[Manifest]] = {}
    if jsonnet_files:
        jsonnet = ApplicationSourceJsonnet.model_validate(options.get("jsonnet") or {})
        if run is None:
            with ToolRun.open(BuildEnv(), shown={checkout: "."}) as own:
                evaluated = evaluate_jsonnet_files(checkout, root, jsonnet_files, jsonnet, own)
        else:
            evaluated = evaluate_jsonnet_files(checkout, root, jsonnet_files, jsonnet, run)
        files = sorted({*files, *jsonnet_files}, key=lambda p: p.split("/"))
    objects: list[Manifest] = []
    for name in files:
        if name in evaluated:
            objects += evaluated[name]
            continue
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


def _select_jsonnet(relative: list[str], *, recurse: bool, include: str | None, exclude: str | None) -> list[str]:
    """The ``*.jsonnet`` files among ``relative``, by the rules of ``select_files``."""
    return [
        path
        for path in relative
        if path.endswith(JSONNET_EXTENSION)
        and (recurse or "/" not in path)
        and not (exclude and match_with_error(exclude, path))
        and (not include or match_with_error(include, path))
    ]


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
