"""Activities that read Git: resolve a revision, render a commit into the store."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import RenderInput, RenderResult, ResolveRevisionInput, ResolveRevisionResult
from activities.gitrepo import GitCache, GitError, redact_url
from activities.renderers import RENDERER_VERSION, RenderError, render_source, tool_versions
from activities.store import ContentStore, cache_key


class SourceActivities:
    def __init__(self, *, git: GitCache, store: ContentStore, workdir: Path) -> None:
        self._git = git
        self._store = store
        self._workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)

    @activity.defn(name="resolve_revision")
    def resolve_revision(self, input: ResolveRevisionInput) -> ResolveRevisionResult:
        try:
            return ResolveRevisionResult(commit=self._git.resolve(input.repo_url, input.revision))
        except GitError as exc:
            raise ApplicationError(str(exc), type="GitError", non_retryable=not exc.retryable) from None

    @activity.defn(name="render")
    def render(self, input: RenderInput) -> RenderResult:
        key = cache_key(
            what="render", renderer=RENDERER_VERSION, repo=input.repo_url, commit=input.commit,
            source=input.source, namespace=input.destination_namespace, app=input.app,
            kube_version=input.kube_version, api_versions=input.api_versions, tools=tool_versions(),
        )
        cached = self._store.recall(key)
        if cached is not None:
            count = len(self._store.get_json(cached))
            return RenderResult(manifests_digest=cached, resource_count=count, cached=True)
        checkout = Path(tempfile.mkdtemp(prefix="checkout-", dir=self._workdir))
        try:
            if not input.source.get("chart"):  # a Helm repository chart is pulled, not checked out
                self._git.export(input.repo_url, input.commit, checkout)
            objects = render_source(
                checkout, input.source, app=input.app, namespace=input.destination_namespace,
                revision=input.commit, kube_version=input.kube_version,
                api_versions=input.api_versions,
            )
        except GitError as exc:
            raise ApplicationError(str(exc), type="GitError", non_retryable=not exc.retryable) from None
        except RenderError as exc:
            where = f"{redact_url(input.repo_url)}@{input.commit[:12]}"
            raise ApplicationError(f"{where}: {exc}", type="RenderError", non_retryable=True) from None
        finally:
            shutil.rmtree(checkout, ignore_errors=True)
        digest = self._store.put_json(objects)
        self._store.remember(key, digest)
        return RenderResult(manifests_digest=digest, resource_count=len(objects))
