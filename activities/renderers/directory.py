"""Plain YAML/JSON directories, with Argo CD's ``directory`` options (recurse, include, exclude).

``*.jsonnet`` files are selected by the same rules and evaluated with the ``jsonnet``
options (:mod:`.jsonnet`), as Argo CD does.

Files are bounded before they are read (:mod:`bosun.limits`): one file at most
``BOSUN_MAX_MANIFEST_FILE_BYTES``, all the manifest files of the source together at most
``BOSUN_MAX_DIRECTORY_BYTES`` (Argo CD's ``reposerver.max.combined.directory.manifests.size``,
10M), and their parsing by the manifest limits. Past a bound the render fails naming the
file and the limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activities.renderers.jsonnet import JSONNET_EXTENSION, evaluate_jsonnet_files
from activities.renderers.paths import RenderError
from activities.renderers.tools import BuildEnv, ToolRun
from bosun.glob import match_with_error
from bosun.limits import InputLimits, input_limits
from bosun.manifests import ManifestError, PatternError, parse_manifests, select_files
from bosun.models.source import ApplicationSourceJsonnet
from bosun.resources import Manifest


def render_directory(
    checkout: Path,
    root: Path,
    options: dict[str, Any],
    *,
    run: ToolRun | None = None,
    limits: InputLimits | None = None,
) -> list[Manifest]:
    limits = input_limits() if limits is None else limits
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
    total = 0
    for name in files:
        if name in evaluated:
            objects += evaluated[name]
            continue
        path = root / name
        shown = path.relative_to(checkout.resolve()).as_posix()
        data = _read_bounded(path, shown, limits)
        total += len(data)
        if total > limits.directory_bytes:
            raise RenderError(
                str(limits.exceeded("directory_bytes", shown, "the directory's manifest files are too large"))
            )
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise RenderError(f"{shown}: not UTF-8 text") from None
        try:
            objects += parse_manifests(text, source=shown, skip_unrelated=True, limits=limits)
        except ManifestError as exc:
            raise RenderError(str(exc)) from None
    return objects


def _read_bounded(path: Path, shown: str, limits: InputLimits) -> bytes:
    """The file's bytes, refused before reading (by its size) or while reading (past the
    limit: a file that grows) when it is larger than ``limits.file_bytes``."""
    if path.stat().st_size > limits.file_bytes:
        raise RenderError(str(limits.exceeded("file_bytes", shown, f"{path.stat().st_size:_} bytes")))
    with path.open("rb") as handle:
        data = handle.read(limits.file_bytes + 1)
    if len(data) > limits.file_bytes:
        raise RenderError(str(limits.exceeded("file_bytes", shown, f"more than {len(data) - 1:_} bytes")))
    return data


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
