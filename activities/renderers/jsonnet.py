"""Jsonnet files of a Directory source, with ``directory.jsonnet`` {tlas, extVars, libs}.

As in Argo CD, a Directory source evaluates every selected ``*.jsonnet`` file (not
``*.libsonnet``); the result (an object, a list, or a ``kind: List``) is a set of
manifests. TLAs and extVars are strings, or Jsonnet code with ``code: true``; their
values may use the build environment (``$ARGOCD_APP_NAME`` …). Imports are looked up
next to the importing file, then in ``libs`` (paths relative to the repository root,
the last one first), then in the source path — go-jsonnet's order.

Every import, ``importstr`` and ``importbin`` goes through an import callback that
refuses absolute paths and anything that resolves outside the checkout (``..`` or a
symlink), naming the import. Evaluation runs in a child Python process
(:meth:`.tools.ToolRun.run`), so it has the render timeout and output limit, and an
endless recursion cannot take the worker down with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from activities.renderers.paths import RenderError, inside
from activities.renderers.tools import ToolRun
from bosun.manifests import ManifestError, parse_manifests
from bosun.models.source import ApplicationSourceJsonnet
from bosun.resources import Manifest

__all__ = ["JSONNET_EXTENSION", "evaluate_jsonnet_files"]

JSONNET_EXTENSION = ".jsonnet"

# Runs in the child: only the standard library and the jsonnet module, no project code.
_EVALUATE = r"""
import json, os, sys
import _jsonnet

request = json.load(sys.stdin)
root = os.path.realpath(request["root"])
search = list(reversed(request["jpaths"]))


def inside(path):
    return path == root or path.startswith(root + os.sep)


def load(base, rel):
    if os.path.isabs(rel):
        raise RuntimeError("import %r is an absolute path: refused" % rel)
    for directory in [base] + search:
        if not directory:
            continue
        candidate = os.path.normpath(os.path.join(directory, rel))
        if not inside(candidate):
            raise RuntimeError("import %r resolves outside the repository: refused" % rel)
        if not os.path.isfile(candidate):
            continue
        if not inside(os.path.realpath(candidate)):
            raise RuntimeError("import %r is a link that leaves the repository: refused" % rel)
        with open(candidate, "rb") as f:
            return candidate, f.read()
    raise RuntimeError("import %r not found" % rel)


results = []
for name in request["files"]:
    try:
        text = _jsonnet.evaluate_file(
            name, import_callback=load,
            ext_vars=request["ext_vars"], ext_codes=request["ext_codes"],
            tla_vars=request["tla_vars"], tla_codes=request["tla_codes"],
        )
        results.append({"file": name, "json": text})
    except RuntimeError as exc:
        results.append({"file": name, "error": str(exc)})
        break
json.dump(results, sys.stdout)
"""


def evaluate_jsonnet_files(
    checkout: Path,
    root: Path,
    files: list[str],
    options: ApplicationSourceJsonnet | None,
    run: ToolRun,
) -> dict[str, list[Manifest]]:
    """Evaluate ``files`` (relative to ``root``); the manifests of each, by file name."""
    if not files:
        return {}
    options = options or ApplicationSourceJsonnet()
    checkout, root = checkout.resolve(), root.resolve()
    jpaths = [str(root)]
    for lib in options.libs:
        # Argo CD: libs are relative to the repository root, even when written "/lib".
        jpaths.append(str(inside(checkout, lib.lstrip("/") or ".", what="jsonnet lib")))
    request: dict[str, object] = {
        "root": str(checkout),
        "jpaths": jpaths,
        "files": [str(_file_inside(checkout, root, f)) for f in files],
        "ext_vars": {v.name: run.build_env.subst(v.value) for v in options.ext_vars if not v.code},
        "ext_codes": {v.name: run.build_env.subst(v.value) for v in options.ext_vars if v.code},
        "tla_vars": {v.name: run.build_env.subst(v.value) for v in options.tlas if not v.code},
        "tla_codes": {v.name: run.build_env.subst(v.value) for v in options.tlas if v.code},
    }
    out = run.run([sys.executable, "-I", "-c", _EVALUATE], what="jsonnet", cwd=root, stdin=json.dumps(request).encode())
    try:
        results = json.loads(out)
    except ValueError:
        raise RenderError("jsonnet: the evaluator returned no result") from None
    rendered: dict[str, list[Manifest]] = {}
    for name, result in zip(files, results, strict=False):
        shown = run.show(result["file"])
        if "error" in result:
            raise RenderError(f"{shown}: {run.redact(result['error']).strip()}")
        try:
            rendered[name] = parse_manifests(result["json"], source=shown)
        except ManifestError as exc:
            raise RenderError(str(exc)) from None
    return rendered


def _file_inside(checkout: Path, root: Path, name: str) -> Path:
    return inside(checkout, (root / name).relative_to(checkout).as_posix(), what="jsonnet file")
