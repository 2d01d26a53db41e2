"""Activities of a promotion pipeline (:mod:`workflows.pipeline`): find a stage's apps, pin
an app to the pipeline's commit, read the apps' states.

They talk to the app workflows by Bosun's protocol only (:mod:`bosun.protocol`: the
``application`` and ``status`` queries, the ``edit_spec`` update), and to the management
cluster for an app declared there as an ``Application`` resource: such an app is promoted by
patching the resource (``spec.source.targetRevision``), as ``kubectl patch`` would, since
discovery keeps its workflow equal to the resource and would undo an edit of the workflow
(what ``bosun app set`` refuses for the same reason). The sync itself is the ``sync_app``
activity of :mod:`activities.trigger`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import Destination
from activities.kube import IN_CLUSTER_NAME, ClusterRegistry, KubeError
from bosun import search_attributes as sa
from bosun.app_edits import AppSettings, EditError, apply_settings, document_digest
from bosun.label_selector import parse_selector
from bosun.pipeline import AppState
from bosun.protocol import (
    AppQuery,
    AppUpdate,
    DeclarativeQuery,
    DeclarativeSignal,
    SpecEditRequest,
    app_name_of,
    app_workflow_id,
    declarative_workflow_id,
)

APPLICATION_API_VERSION = "argoproj.io/v1alpha1"
LABELS_KEY = SearchAttributeKey.for_keyword_list(sa.LABELS)
QUERY_TIMEOUT = timedelta(seconds=20)
PROMOTED_WAIT_SECONDS = 120.0
"""How long a promotion waits for discovery to carry a patched Application into its workflow."""


# ------------------------------------------------------------------------- contracts


class StageApps(BaseModel):
    name: str
    apps: list[str] = Field(default_factory=list)
    selector: str = ""


class SelectAppsInput(BaseModel):
    pipeline: str
    stages: list[StageApps]


class AppInfo(BaseModel):
    name: str
    repo_url: str
    destination: Destination


class SelectAppsResult(BaseModel):
    stages: list[list[AppInfo]]
    """Per stage, in the pipeline's order: its apps, sorted by name."""
    repo_url: str
    """The one repository every app deploys from: where the revision is resolved."""


class PromoteInput(BaseModel):
    pipeline: str
    app: str
    commit: str


class PromoteResult(BaseModel):
    app: str
    how: str
    """``edit_spec`` (the app workflow's update), ``resource`` (the Application resource
    patched), or ``unchanged`` (already at the commit)."""
    previous: str = ""
    """The targetRevision before."""


class AppStatesInput(BaseModel):
    apps: list[str]


class AppStatesResult(BaseModel):
    states: list[AppState]


# ------------------------------------------------------------------------- activities


class PipelineActivities:
    def __init__(self, *, client: Client, clusters: ClusterRegistry | None, namespace: str, task_queue: str) -> None:
        self._client = client
        self._clusters = clusters
        self._namespace = namespace
        self._task_queue = task_queue

    @activity.defn(name="select_pipeline_apps")
    async def select_pipeline_apps(self, input: SelectAppsInput) -> SelectAppsResult:
        """Each stage's apps (named ones must run; a selector matches the running apps' labels),
        refusing an app in two stages and apps from different repositories."""
        running = await self._running_apps() if any(s.selector for s in input.stages) else {}
        stages: list[list[AppInfo]] = []
        owner: dict[str, str] = {}
        repos: dict[str, str] = {}
        for stage in input.stages:
            names = set(stage.apps)
            if stage.selector:
                selector = parse_selector(stage.selector)
                names |= {name for name, labels in running.items() if selector.matches(labels)}
            if not names:
                raise _refused(f"stage {stage.name!r}: no application matches selector {stage.selector!r}")
            infos = []
            for name in sorted(names):
                if name in owner:
                    raise _refused(f"application {name!r} is in stages {owner[name]!r} and {stage.name!r}")
                owner[name] = stage.name
                info = await self._app_info(name, stage.name)
                repos.setdefault(info.repo_url, name)
                infos.append(info)
            stages.append(infos)
        if len(repos) > 1:
            listed = ", ".join(f"{app} ({repo})" for repo, app in repos.items())
            raise _refused(f"a pipeline promotes one commit of one repository; its apps use several: {listed}")
        return SelectAppsResult(stages=stages, repo_url=next(iter(repos)))

    @activity.defn(name="promote_app")
    async def promote_app(self, input: PromoteInput) -> PromoteResult:
        """Pin the app's ``targetRevision`` to the commit, then wait until its workflow has it."""
        handle = self._client.get_workflow_handle(app_workflow_id(input.app))
        document = await self._document(input.app)
        source = (document.get("spec") or {}).get("source") or {}
        previous = str(source.get("targetRevision") or "")
        if (document.get("spec") or {}).get("sources"):
            raise _refused(
                f"application {input.app!r} has several sources (spec.sources): a pipeline pins spec.source only"
            )
        if previous == input.commit:
            return PromoteResult(app=input.app, how="unchanged", previous=previous)
        if await self._declared(input.app):
            await self._patch_resource(document, input)
            how = "resource"
        else:
            try:
                changed = apply_settings(document, AppSettings(revision=input.commit))
            except EditError as exc:
                raise _refused(f"application {input.app!r}: {exc}") from None
            edit = SpecEditRequest(application=changed, base_digest=document_digest(document))
            try:
                await handle.execute_update(AppUpdate.EDIT_SPEC, edit, result_type=str)
            except WorkflowUpdateFailedError as exc:
                # most often a concurrent edit (stale digest): the retry reads the document again
                raise ApplicationError(f"application {input.app!r}: edit rejected: {_message(exc)}") from None
            how = "edit_spec"
        await self._wait_promoted(input.app, input.commit)
        return PromoteResult(app=input.app, how=how, previous=previous)

    @activity.defn(name="pipeline_app_states")
    async def pipeline_app_states(self, input: AppStatesInput) -> AppStatesResult:
        """Each app's sync, health, compared commit and running operation (its ``status`` query)."""
        return AppStatesResult(states=list(await asyncio.gather(*(self._state(app) for app in input.apps))))

    # -- helpers

    async def _state(self, app: str) -> AppState:
        handle = self._client.get_workflow_handle(app_workflow_id(app))
        try:
            status: dict[str, Any] = await handle.query(AppQuery.STATUS, result_type=dict, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return AppState(name=app, found=False)
            raise
        errors = [c.get("message", "") for c in status.get("conditions") or [] if "Error" in str(c.get("type", ""))]
        return AppState(
            name=app,
            sync=str(status.get("sync") or "Unknown"),
            health=str(status.get("health") or "Unknown"),
            revision=str(status.get("revision") or ""),
            target_revision=str(status.get("target_revision") or ""),
            operation=str(status.get("operation") or "idle"),
            message="; ".join(m for m in errors if m),
        )

    async def _running_apps(self) -> dict[str, dict[str, str]]:
        """Running app workflows of this installation → their labels (``BosunLabels``)."""
        found: dict[str, dict[str, str]] = {}
        async for execution in self._client.list_workflows(sa.running_apps_query(self._task_queue)):
            items = execution.typed_search_attributes.get(LABELS_KEY) or []
            found[app_name_of(execution.id)] = sa.labels_of(items)
        return found

    async def _app_info(self, name: str, stage: str) -> AppInfo:
        document = await self._document(name, stage=stage)
        spec = document.get("spec") or {}
        if spec.get("sources"):
            raise _refused(f"stage {stage!r}: application {name!r} has several sources; a pipeline pins spec.source")
        source = spec.get("source") or {}
        dest = spec.get("destination") or {}
        return AppInfo(
            name=name,
            repo_url=str(source.get("repoURL") or ""),
            destination=Destination(
                server=str(dest.get("server") or ""),
                name=str(dest.get("name") or ""),
                namespace=str(dest.get("namespace") or ""),
            ),
        )

    async def _document(self, name: str, *, stage: str = "") -> dict[str, Any]:
        where = f"stage {stage!r}: " if stage else ""
        handle = self._client.get_workflow_handle(app_workflow_id(name))
        try:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                raise _refused(f"{where}application {name!r} not found (its workflow has ended)")
            document: dict[str, Any] = await handle.query(
                AppQuery.APPLICATION, result_type=dict, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise _refused(f"{where}application {name!r} not found") from None
            raise
        return document

    async def _declared(self, name: str) -> bool:
        """Whether discovery keeps the app from an Application resource (its ``declared`` query)."""
        discovery = self._client.get_workflow_handle(declarative_workflow_id(self._task_queue))
        try:
            declared: dict[str, Any] = await discovery.query(
                DeclarativeQuery.DECLARED, result_type=dict, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False  # no discovery on this installation: nothing is declared
            raise
        return name in (declared.get("apps") or []) or name in (declared.get("deleting") or [])

    async def _patch_resource(self, document: dict[str, Any], input: PromoteInput) -> None:
        if self._clusters is None:
            raise _refused(
                f"application {input.app!r} is an Application resource, and this worker has no management cluster"
            )
        meta = document.get("metadata") or {}
        short_name = str(meta.get("name") or input.app).rpartition("/")[2]
        namespace = str(meta.get("namespace") or self._namespace)
        path = f"{namespace}/{short_name}"
        resource = {
            "apiVersion": APPLICATION_API_VERSION,
            "kind": "Application",
            "metadata": {"name": short_name, "namespace": namespace},
        }
        patch = {"spec": {"source": {"targetRevision": input.commit}}}
        management = self._clusters.client(Destination(name=IN_CLUSTER_NAME))
        try:
            patched = await asyncio.to_thread(management.merge_patch, resource, patch, field_manager="bosun-pipeline")
        except KubeError as exc:
            raise ApplicationError(
                f"application {input.app!r}: patching Application {path}: {exc}",
                type="KubeError",
                non_retryable=not exc.retryable,
            ) from None
        if patched is None:
            raise _refused(f"application {input.app!r}: Application {path} not found in the management cluster")
        discovery = self._client.get_workflow_handle(declarative_workflow_id(self._task_queue))
        await discovery.signal(DeclarativeSignal.POKE)

    async def _wait_promoted(self, app: str, commit: str) -> None:
        deadline = time.monotonic() + PROMOTED_WAIT_SECONDS
        while True:
            document = await self._document(app)
            source = (document.get("spec") or {}).get("source") or {}
            if source.get("targetRevision") == commit:
                return
            if time.monotonic() > deadline:
                raise ApplicationError(
                    f"application {app!r}: targetRevision is still {source.get('targetRevision')!r}, "
                    f"not {commit}, after {PROMOTED_WAIT_SECONDS:.0f}s"
                )
            activity.heartbeat(f"waiting for {app} to take {commit}")
            await asyncio.sleep(1.0)


def _refused(message: str) -> ApplicationError:
    """A failure no retry fixes: the pipeline stops and says so."""
    return ApplicationError(message, type="PipelineRefused", non_retryable=True)


def _message(exc: WorkflowUpdateFailedError) -> str:
    cause = exc.cause
    return str(getattr(cause, "message", None) or cause or exc)
