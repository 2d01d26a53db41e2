"""Activities that read sources: resolve a revision, render sources into the store.

A render is cached by everything that produced it — every source's repository,
commit (or chart version) and options, the app and namespace, the destination's
Kubernetes and API versions, the tool versions — so refreshing an unchanged revision
runs no tool at all. Identical renders running at the same moment are done once: the
second waits for the first and reads its result from the cache.

A render is bounded (:mod:`bosun.limits`): besides the bounds of each file and tool, all
of an app's sources together yield at most ``BOSUN_MAX_RENDER_OBJECTS`` objects and
``BOSUN_MAX_RENDER_BYTES`` of JSON. A render past a bound fails (a ``RenderError`` naming
the limit, which the app shows as a ComparisonError), so nothing is compared, applied or
pruned.

Charts from private Helm repositories are pulled with the credentials of the worker's
store (Argo CD's ``type: helm`` repository Secrets): by default the one the
:class:`~activities.gitrepo.GitCache` was built with, so Git and Helm repositories are
configured in one place. Credentials never enter the cache key: they change who may
read a chart, not what it renders to.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    Destination,
    RenderInput,
    RenderResult,
    ResolveRevisionInput,
    ResolveRevisionResult,
    SourceAtCommit,
)
from activities.credentials import CredentialError, CredentialStore
from activities.gitrepo import GitCache, GitError, redact_url
from activities.heartbeat import heartbeating
from activities.renderers import RENDERER_VERSION, FetchPolicy, RenderError, render_source, tool_versions
from activities.renderers.kustomize import KUSTOMIZATION_NAMES
from activities.revisions import RevisionCache
from activities.store import ContentStore, cache_key
from bosun.limits import InputLimits, input_limits
from bosun.projects import repo_permitted
from bosun.resources import Manifest

ClusterInfo = Callable[[Destination], tuple[str, list[str]]]
"""(Kubernetes version, API versions) of a destination."""


class SourceActivities:
    def __init__(
        self,
        *,
        git: GitCache,
        store: ContentStore,
        workdir: Path,
        cluster_info: ClusterInfo | None = None,
        credentials: CredentialStore | None = None,
        revisions: RevisionCache | None = None,
        render_concurrency: int = 4,
    ) -> None:
        self._git = git
        self._revisions = revisions if revisions is not None else RevisionCache(max_age_seconds=0)
        # The worker hands its credential store to the GitCache only; Helm repositories share it.
        self._credentials = credentials if credentials is not None else git._credentials
        self._store = store
        self._workdir = workdir
        self._cluster_info = cluster_info
        self._render_slots = threading.BoundedSemaphore(max(1, render_concurrency))
        """Renders running tools at once: the rest wait here (their cache hits do not)."""
        self._inflight: dict[str, threading.Lock] = {}
        self._inflight_guard = threading.Lock()
        workdir.mkdir(parents=True, exist_ok=True)

    @activity.defn(name="resolve_revision")
    def resolve_revision(self, input: ResolveRevisionInput) -> ResolveRevisionResult:
        try:
            with heartbeating(f"resolving {input.revision or 'HEAD'}"):
                commit = self._revisions.resolve(
                    input.repo_url,
                    input.revision,
                    caller=activity.info().workflow_id if activity.in_activity() else None,
                    fetch=lambda: self._git.resolve(input.repo_url, input.revision),
                    fresh=input.fresh,
                )
            return ResolveRevisionResult(commit=commit)
        except GitError as exc:
            raise ApplicationError(str(exc), type="GitError", non_retryable=not exc.retryable) from None

    @activity.defn(name="render")
    def render(self, input: RenderInput) -> RenderResult:
        with heartbeating(f"rendering {input.app}"):
            return self._render(input)

    def _render(self, input: RenderInput) -> RenderResult:
        key, sources, kube_version, api_versions = self._render_key(input)
        with self._once(key):
            cached = None if input.hard_refresh else self._store.recall(key)
            if cached is not None:
                return RenderResult(
                    manifests_digest=cached, resource_count=len(self._store.get_json(cached)), cached=True
                )
            with self._render_slots:
                objects = self._render_all(input, sources, kube_version, api_versions)
            digest = self._store.put_json(objects)
            self._store.remember(key, digest)
        return RenderResult(manifests_digest=digest, resource_count=len(objects))

    def rendered_before(self, recipe: RenderInput) -> str | None:
        """The digest a render of ``recipe`` would return now from this worker's render cache
        (None if it would have to run the tools): an unchanged recipe renders the same."""
        return self._store.recall(self._render_key(recipe)[0])

    def _render_key(self, input: RenderInput) -> tuple[str, list[SourceAtCommit], str, list[str]]:
        """The render cache key of ``input`` (everything the render depends on, with the
        destination's Kubernetes and API versions as they are now), its sources, and those versions."""
        sources = input.sources or [SourceAtCommit(repo_url=input.repo_url, commit=input.commit, source=input.source)]
        kube_version, api_versions = input.kube_version, list(input.api_versions)
        if input.destination is not None and self._cluster_info is not None and not kube_version:
            try:
                kube_version, api_versions = self._cluster_info(input.destination)
            except Exception as exc:  # noqa: BLE001 - an unreachable cluster retries the render
                raise ApplicationError(
                    f"cannot read the destination's API versions: {exc}", type="ClusterUnreachable"
                ) from None
        key = cache_key(
            what="render",
            renderer=RENDERER_VERSION,
            app=input.app,
            namespace=input.destination_namespace,
            sources=[s.model_dump() for s in sources],
            kube_version=kube_version,
            api_versions=api_versions,
            tools=tool_versions(),
            **({"source_repos": input.source_repos} if input.source_repos is not None else {}),
        )
        return key, sources, kube_version, api_versions

    def render_again(self, recipe: RenderInput) -> str:
        """Render ``recipe`` into this worker's store (from the render cache if it has it) and
        return the digest: how a worker that misses a digest a workflow holds gets the content."""
        return self.render(recipe.model_copy(update={"hard_refresh": False})).manifests_digest

    def _render_all(
        self, input: RenderInput, sources: list[SourceAtCommit], kube_version: str, api_versions: list[str]
    ) -> list[Manifest]:
        limits = input_limits()
        work = Path(tempfile.mkdtemp(prefix="render-", dir=self._workdir))
        try:
            checkouts: list[Path] = []
            refs: dict[str, Path] = {}
            for index, source in enumerate(sources):
                checkout = work / str(index)
                checkout.mkdir()
                checkouts.append(checkout)
                if not source.source.get("chart"):  # a Helm repository chart is pulled, not checked out
                    self._check_out(source, checkout, lends_files=bool(source.source.get("ref")))
                if source.source.get("ref"):
                    refs[str(source.source["ref"])] = checkout
            objects: list[Manifest] = []
            for index, (source, checkout) in enumerate(zip(sources, checkouts, strict=True)):
                if source.source.get("ref") and not source.source.get("path") and not source.source.get("chart"):
                    continue  # a ref-only source only lends its files to the others (Argo CD)
                try:
                    objects += render_source(
                        checkout,
                        source.source,
                        app=input.app,
                        namespace=input.destination_namespace,
                        revision=source.commit,
                        kube_version=kube_version,
                        api_versions=api_versions,
                        refs=refs,
                        credentials=self._credentials,
                        fetch=self._fetch_policy(input),
                    )
                except CredentialError as exc:  # the management cluster: retry unless it refused us
                    raise ApplicationError(
                        f"cannot read the credentials for {redact_url(source.repo_url)}: {exc}",
                        type="CredentialError",
                        non_retryable=not exc.retryable,
                    ) from None
                except RenderError as exc:
                    where = f"{redact_url(source.repo_url)}@{source.commit[:12]}"
                    prefix = f"spec.sources[{index}] " if len(sources) > 1 else ""
                    raise ApplicationError(f"{prefix}{where}: {exc}", type="RenderError", non_retryable=True) from None
                _check_totals(objects, limits, sources[: index + 1])
            return objects
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _fetch_policy(self, input: RenderInput) -> FetchPolicy:
        """What the render's tools may fetch: local repositories as the worker allows, never its
        mirrors, and only repositories the app's project permits (when the workflow sent them)."""
        local = FetchPolicy(allow_local=self._git.allow_local, private=(self._git.root,))
        source_repos = input.source_repos
        if source_repos is None:
            return local

        def source_repo_problem(url: str) -> str:
            if repo_permitted(source_repos, url):
                return ""
            return f"the project does not permit source repository {url!r} (spec.sourceRepos)"

        return replace(local, source_check=source_repo_problem)

    def _check_out(self, source: SourceAtCommit, checkout: Path, *, lends_files: bool) -> None:
        """Export the source's commit into ``checkout``: only its path when that directory is
        plain manifests that read nothing outside it (a fleet of apps in one repository then
        costs each render its own directory, not the whole repository), else the whole tree."""
        path = None if lends_files else partial_export_path(source.source)
        if path is not None:
            try:
                self._export(source, checkout, only=path)
            except ApplicationError:
                path = None  # e.g. no such path: the whole tree gives the render's own error
            else:
                if self_contained(checkout / path):
                    return
            shutil.rmtree(checkout)
            checkout.mkdir()
        self._export(source, checkout)

    def _export(self, source: SourceAtCommit, checkout: Path, *, only: str | None = None) -> None:
        try:
            self._git.export(source.repo_url, source.commit, checkout, only=only)
        except GitError as exc:
            raise ApplicationError(str(exc), type="GitError", non_retryable=not exc.retryable) from None

    def _once(self, key: str) -> threading.Lock:
        """A lock per cache key: the same render never runs twice at once."""
        with self._inflight_guard:
            return self._inflight.setdefault(key, threading.Lock())


def _check_totals(objects: list[Manifest], limits: InputLimits, sources: list[SourceAtCommit]) -> None:
    """A non-retryable RenderError when the sources rendered so far are past the app's
    bounds on objects or bytes, naming the limit and the sources."""
    where = ", ".join(
        f"{redact_url(s.repo_url)}@{s.commit[:12]}" if s.commit else redact_url(s.repo_url) for s in sources
    )
    if len(objects) > limits.render_objects:
        exc = limits.exceeded("render_objects", where, f"the app renders {len(objects):_} objects")
        raise ApplicationError(str(exc), type="RenderError", non_retryable=True)
    size = sum(len(json.dumps(o, separators=(",", ":"))) for o in objects)
    if size > limits.render_bytes:
        exc = limits.exceeded("render_bytes", where, f"the app renders {size:_} bytes of manifests")
        raise ApplicationError(str(exc), type="RenderError", non_retryable=True)


def partial_export_path(source: dict[str, object]) -> str | None:
    """The directory a render of ``source`` may export alone, or None for the whole tree: a
    ``path`` below the root, written without ``..``, for a source whose tool is chosen from the
    content or is ``directory`` (Helm and Kustomize read files around their path)."""
    path = source.get("path")
    if not isinstance(path, str) or any(source.get(tool) for tool in ("helm", "kustomize", "plugin")):
        return None
    normal = posixpath.normpath(path.strip("/"))
    if normal in ("", ".") or normal == ".." or normal.startswith("../") or "/../" in f"/{normal}/":
        return None
    return normal


def self_contained(root: Path) -> bool:
    """Whether the exported directory ``root`` renders from its own files alone: it exists, holds no
    link, no Helm chart or kustomization (as the renderers detect them) and no Jsonnet (whose
    imports and libraries may be anywhere in the repository)."""
    if not root.is_dir() or root.is_symlink():
        return False
    for name in os.listdir(root):
        if name.endswith("Chart.yaml") or name in KUSTOMIZATION_NAMES:
            return False
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            if (Path(directory) / name).is_symlink() or name.endswith((".jsonnet", ".libsonnet")):
                return False
    return True
