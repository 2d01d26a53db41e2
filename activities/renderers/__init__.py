"""Turning a checked-out source into Kubernetes objects.

One module per source type; :func:`render_source` picks one as Argo CD does:

1. the tool whose options are set in the source (``helm``, ``kustomize``,
   ``directory``; ``plugin`` is refused as unsupported), or ``chart`` (a chart from a
   Helm repository, :func:`.helm.pull_chart`);
2. otherwise the content of the source path: ``kustomization.yaml`` /
   ``kustomization.yml`` / ``Kustomization`` → Kustomize (:mod:`.kustomize`), a file
   named ``*Chart.yaml`` → Helm (:mod:`.helm`) — Kustomize wins when both are present,
   as in Argo CD's discovery — else a plain directory (:mod:`.directory`), whose
   ``*.jsonnet`` files are evaluated (:mod:`.jsonnet`).

Every renderer resolves the paths an app names with :func:`.paths.inside`, and before
any tool runs, :func:`refuse_links_out` rejects a checkout holding a symlink that
leaves it, so nothing outside the checkout is ever read. Tools run confined
(:mod:`.tools`): a timeout, an output limit, none of the worker's credentials. The one
exception is on purpose: helm gets the ``type: helm`` credentials the caller's store has
for a chart's repository or a dependency's (:mod:`.helm_auth`), on standard input.

The checkout should be the caller's throw-away copy (the render activity exports one
per render): ``helm dependency build`` writes the fetched subcharts into ``charts/``.
Kustomize's edits are undone after the build.

To add a source type: a module with ``render_<type>(checkout, root, options, run)``, a
branch in :func:`_detect`, and a fixture test in ``tests/unit/test_render_<type>.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from activities.credentials import CredentialStore
from activities.renderers.directory import render_directory
from activities.renderers.helm import pull_chart, render_helm
from activities.renderers.kustomize import KUSTOMIZATION_NAMES, render_kustomize
from activities.renderers.paths import RenderError, inside
from activities.renderers.tools import DEFAULT_TIMEOUT, BuildEnv, FetchPolicy, ToolRun, tool_versions
from bosun.models.errors import FieldProblem
from bosun.models.source import ApplicationSource
from bosun.resources import Manifest

__all__ = ["RENDERER_VERSION", "FetchPolicy", "RenderError", "refuse_links_out", "render_source", "tool_versions"]

RENDERER_VERSION = "2"
"""Part of every render cache key: bump it when rendering changes its output."""


def render_source(
    checkout: Path,
    source: dict[str, Any],
    *,
    app: str = "",
    namespace: str = "",
    revision: str = "",
    kube_version: str = "",
    api_versions: Sequence[str] = (),
    refs: Mapping[str, Path] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    credentials: CredentialStore | None = None,
    fetch: FetchPolicy | None = None,
) -> list[Manifest]:
    """Render ``source`` (Argo CD JSON: path, directory, helm, kustomize, chart …) from
    ``checkout`` for the app ``app`` deploying into ``namespace`` of a cluster running
    ``kube_version`` with ``api_versions``; the tools it runs share ``timeout`` seconds.
    Private Helm repositories are reached with their ``credentials`` from the store
    (a :class:`~activities.credentials.CredentialError` if it cannot be read). What the tools
    may fetch themselves is ``fetch`` (default: no local repositories)."""
    spec = _source_model(source)
    env = BuildEnv(
        app=app,
        namespace=namespace,
        revision=revision,
        repo_url=spec.repo_url,
        path=spec.path,
        target_revision=spec.target_revision,
        kube_version=kube_version,
        api_versions=tuple(api_versions),
        refs=dict(refs or {}),
    )
    shown = {checkout: ".", **{root: f"${name}" for name, root in (refs or {}).items()}}
    with ToolRun.open(env, shown=shown, timeout=timeout, fetch=fetch) as run:
        if spec.is_chart:
            chart_dir = pull_chart(spec, run, credentials=credentials)
            run.name(chart_dir, spec.chart)
            refuse_links_out(chart_dir, shown=spec.chart)
            return render_helm(chart_dir, chart_dir, spec.helm, run, credentials=credentials)
        refuse_links_out(checkout)
        path = spec.path or "."
        root = inside(checkout, path, what="source path")
        if not root.is_dir():
            raise RenderError(f"source path {path!r} does not exist in the repository")
        tool = _detect(spec, root)
        if tool == "helm":
            return render_helm(checkout, root, spec.helm, run, credentials=credentials)
        if tool == "kustomize":
            return render_kustomize(checkout, root, spec.kustomize, run)
        directory = spec.directory.dump() if spec.directory is not None else {}
        return render_directory(checkout, root, directory, run=run)


def _source_model(source: dict[str, Any]) -> ApplicationSource:
    data = {"repoURL": "file:///checkout", **source}
    try:
        return ApplicationSource.model_validate(data)
    except (ValidationError, FieldProblem) as exc:
        raise RenderError(f"spec.source is not valid: {exc}") from None


def _detect(spec: ApplicationSource, root: Path) -> str:
    explicit = spec.explicit_tool()
    if explicit == "plugin":
        raise RenderError("config management plugins (spec.source.plugin) are not supported")
    if explicit is not None:
        return explicit
    # Argo CD's discovery: the last match in name order wins, so a kustomization beats
    # Chart.yaml; any file name ending in "Chart.yaml" counts, as there.
    found = "directory"
    for name in sorted(p.name for p in root.iterdir() if p.is_file()):
        if name.endswith("Chart.yaml"):
            found = "helm"
        if name in KUSTOMIZATION_NAMES:
            found = "kustomize"
    return found


def refuse_links_out(checkout: Path, *, shown: str = "") -> None:
    """RenderError if any symlink under ``checkout`` resolves outside it (CVE-2022-24348,
    CVE-2022-24730 class): naming the link and its target."""
    root = checkout.resolve()
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            if not path.is_symlink():
                continue
            where = path.relative_to(root).as_posix()
            if shown:
                where = f"{shown}/{where}"
            try:
                target = path.resolve()
            except (RuntimeError, OSError):  # RuntimeError: a loop, on Python 3.11
                raise RenderError(f"{where} is a symlink loop: refused") from None
            if target != root and root not in target.parents:
                raise RenderError(f"{where} is a link to {os.readlink(path)!r}, outside the repository: refused")
