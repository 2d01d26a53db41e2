"""ApplicationSets: read a set, generate its Applications, write them to the management cluster.

:class:`workflows.appset.ApplicationSetWorkflow` runs one ApplicationSet; these activities do
its I/O, as Argo CD's ApplicationSet controller does in its reconcile:

- ``reconcile_appset`` reads the set, lists the clusters (Bosun's cluster Secrets and the
  in-cluster one, as Argo CD's cluster generator), reads Git through the worker's mirrors
  (:class:`activities.gitrepo.GitCache`: its URL rules, :mod:`bosun.repo_urls`, and the
  repository credentials; credentials never reach a result or a log), and asks
  :mod:`bosun.appset` to generate, render and plan. Then it creates, updates and deletes
  the Applications, each with an ownerReference to the set (``controller: true``,
  ``blockOwnerDeletion: true``), so Kubernetes' garbage collector deletes them with the set,
  as Argo CD. A spec, generator or template error creates, changes and deletes nothing:
  the set's ``status.conditions`` say why (``ErrorOccurred``, ``ParametersGenerated``,
  ``ResourcesUpToDate``, Argo CD's types and reasons). ``status.resources`` lists the
  generated Applications with their sync and health.
- A set being deleted whose policy does not allow deleting apps (``create-only``,
  ``create-update``) and that holds Argo CD's finalizer gets its apps' ownerReferences
  removed and then its finalizer, so its apps outlive it (Argo CD's
  ``removeOwnerReferencesOnDeleteAppSet``).
- With ``strategy.type: RollingSync`` the generated apps get no automated sync (Argo CD
  removes ``syncPolicy.automated`` and keeps its ``prune`` for the syncs it starts);
  ``appset_app_progress`` reads each app's sync, health and operation from its workflow
  (``status`` query), ``sync_appset_apps`` starts the syncs the workflow chose (the app
  workflow's ``sync_async`` update with a :class:`bosun.protocol.SyncRequest`), and
  ``write_appset_progress`` writes ``status.applicationStatus`` and the
  ``RolloutProgressing`` condition.

The Applications written here are run by the declarative discovery
(:mod:`activities.declarative`), like any Application resource: there is no other path.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.clusters import CLUSTER, ClusterConfigError, cluster_from_secret
from activities.contracts import Destination
from activities.gitrepo import GitCache, GitError
from activities.kube import IN_CLUSTER_NAME, IN_CLUSTER_SERVER, ClusterRegistry, KubeClient, KubeError
from activities.management import SECRET_TYPE_LABEL
from bosun.appnames import AppNamespaces
from bosun.appset.changes import plan_changes
from bosun.appset.generators import ClusterInfo, GeneratorContext, generate
from bosun.appset.render import GoRenderer, render_applications
from bosun.appset.rolling import without_automated_sync
from bosun.appset.spec import ApplicationSet, ApplicationSetError, parse_applicationset
from bosun.protocol import AppQuery, AppUpdate, SyncRequest, app_workflow_id
from bosun.resources import Manifest

log = logging.getLogger(__name__)

API_VERSION = "argoproj.io/v1alpha1"
APPSET_KIND = "ApplicationSet"
APP_KIND = "Application"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
RPC_TIMEOUT = timedelta(seconds=5)
ROLLING_SYNC_REASON = "ApplicationSet RollingSync triggered a sync of this Application resource."


# ------------------------------------------------------------------------------ contracts


class AppSetRef(BaseModel):
    namespace: str
    name: str

    def describe(self) -> str:
        return f"ApplicationSet {self.namespace}/{self.name}"


class ReconcileAppSetResult(BaseModel):
    found: bool = True
    """False: the set is gone (or being deleted): its workflow ends."""
    error: str = ""
    """Why nothing was generated (the ErrorOccurred condition's message)."""
    requeue_after_seconds: int | None = None
    applications: list[str] = Field(default_factory=list)
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    manifest: dict[str, Any] = Field(default_factory=dict)
    """The set (metadata and spec) when it has a RollingSync strategy, for the workflow to plan
    its steps with :mod:`bosun.appset.rolling`; else empty."""
    prune: dict[str, bool] = Field(default_factory=dict)
    """RollingSync: the ``automated.prune`` each generated app's template asked for, which the
    syncs the set starts use (Argo CD)."""


class AppProgressInput(BaseModel):
    namespace: str
    applications: list[str]


class AppState(BaseModel):
    """One generated app as a RollingSync sees it."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    sync_status: str = "Unknown"
    health: str = "Unknown"
    operation_phase: str = ""
    """Running while a sync runs, else the last operation's phase (Succeeded, Failed, …) or empty."""
    revisions: list[str] = Field(default_factory=list)
    """The commits of the app's last comparison (``status.sync.revision(s)``)."""
    synced_revisions: list[str] = Field(default_factory=list)
    """The commits of its last successful sync (Argo CD's ``operationState.syncResult.revision(s)``)."""


class SyncAppsInput(BaseModel):
    namespace: str
    applications: list[str]
    prune: dict[str, bool] = Field(default_factory=dict)
    step: int | None = None


class WriteProgressInput(BaseModel):
    namespace: str
    name: str
    application_status: list[dict[str, Any]]
    """``status.applicationStatus`` in Argo CD's shape (application, status, message, step,
    lastTransitionTime)."""
    done: bool


# ------------------------------------------------------------------------------ status shapes


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, status: bool, reason: str, message: str) -> dict[str, Any]:
    return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message}


def success_conditions() -> list[dict[str, Any]]:
    """Argo CD's conditions after a generation that wrote every app."""
    done = "All applications have been generated successfully"
    return [
        _condition("ErrorOccurred", False, "ApplicationSetUpToDate", done),
        _condition(
            "ParametersGenerated", True, "ParametersGenerated", "Successfully generated parameters for all Applications"
        ),
        _condition("ResourcesUpToDate", True, "ApplicationSetUpToDate", done),
    ]


def error_conditions(reason: str, message: str, *, parameters_generated: bool) -> list[dict[str, Any]]:
    """Argo CD's conditions after a generation that failed (``reason``: its reason, e.g.
    ApplicationGenerationFromParamsError); nothing was written."""
    return [
        _condition("ErrorOccurred", True, reason, message),
        _condition(
            "ParametersGenerated",
            parameters_generated,
            "ParametersGenerated" if parameters_generated else "ErrorOccurred",
            "Successfully generated parameters for all Applications" if parameters_generated else message,
        ),
        _condition("ResourcesUpToDate", False, "ErrorOccurred", message),
    ]


def merge_conditions(current: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``wanted`` with each condition's ``lastTransitionTime`` kept while its status holds (as
    Argo CD's ``SetConditions``); conditions of other types (RolloutProgressing) are kept."""
    by_type = {c.get("type"): c for c in current if isinstance(c, dict)}
    merged = []
    for condition in wanted:
        old = by_type.pop(condition["type"], None)
        unchanged = old is not None and old.get("status") == condition["status"] and old.get("lastTransitionTime")
        merged.append({**condition, "lastTransitionTime": old["lastTransitionTime"] if unchanged and old else _now()})
    merged.extend(by_type.values())
    return sorted(merged, key=lambda c: str(c.get("type")))


def resource_entry(app: Manifest) -> dict[str, Any]:
    """One ``status.resources`` entry of the set: an Application with its sync and health (Argo CD's shape)."""
    meta = app.get("metadata") or {}
    status = app.get("status") or {}
    entry: dict[str, Any] = {
        "group": "argoproj.io",
        "version": "v1alpha1",
        "kind": APP_KIND,
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "status": (status.get("sync") or {}).get("status") or "Unknown",
    }
    health = (status.get("health") or {}).get("status")
    if health:
        entry["health"] = {"status": health}
    return entry


def owner_reference(appset: ApplicationSet) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": APPSET_KIND,
        "name": appset.name,
        "uid": appset.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(app: Manifest, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (app.get("metadata") or {}).get("ownerReferences") or [])


def other_controller(app: Manifest, uid: str) -> str:
    """The name of another controller owning ``app`` (an ApplicationSet, say), or empty."""
    for ref in (app.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") != uid:
            return f"{ref.get('kind', '')} {ref.get('name', '')}".strip()
    return ""


def with_owner(app: Manifest, appset: ApplicationSet) -> Manifest:
    meta = dict(app.get("metadata") or {})
    refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != appset.uid]
    meta["ownerReferences"] = [*refs, owner_reference(appset)]
    meta.setdefault("namespace", appset.namespace)
    return {**app, "apiVersion": API_VERSION, "kind": APP_KIND, "metadata": meta}


def for_update(app: Manifest) -> Manifest:
    """An update is the live Application with the generated fields (``plan_changes``): written
    whole (PUT, as Argo CD's ``CreateOrUpdate``), its ``status`` as read and the server's
    bookkeeping of field managers left to the server."""
    meta = {k: v for k, v in (app.get("metadata") or {}).items() if k != "managedFields"}
    return {**app, "metadata": meta}


def _allows_delete(manifest: Manifest) -> bool:
    """Whether a set's policy deletes its apps (:attr:`ApplicationSet.allows_delete`); a set being
    deleted whose spec Bosun refuses keeps its apps unless it plainly allows deleting them."""
    try:
        return parse_applicationset(manifest).allows_delete
    except ApplicationSetError:
        policy = ((manifest.get("spec") or {}).get("syncPolicy") or {}).get("applicationsSync")
        return policy in (None, "sync", "create-delete")


def rolling_manifest(appset: ApplicationSet) -> dict[str, Any]:
    """What the workflow needs to parse the set again for its RollingSync plan: no status."""
    raw = appset.raw
    meta = raw.get("metadata") or {}
    return {
        "apiVersion": raw.get("apiVersion", API_VERSION),
        "kind": APPSET_KIND,
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "labels", "annotations") if k in meta},
        "spec": raw.get("spec") or {},
    }


# ------------------------------------------------------------------------------ git


class MirrorGitReader:
    """:class:`bosun.appset.generators.GitReader` over the worker's git mirrors: each (repository,
    revision) is resolved once and its tree exported once (bounded, as a render's) per
    generation, into a temporary directory removed by :meth:`close`."""

    def __init__(self, git: GitCache) -> None:
        self._git = git
        self._tmp = tempfile.TemporaryDirectory(prefix="bosun-appset-")
        self._trees: dict[tuple[str, str], Path] = {}

    def close(self) -> None:
        self._tmp.cleanup()

    def _tree(self, repo_url: str, revision: str) -> Path:
        key = (repo_url, revision)
        if key not in self._trees:
            commit = self._git.resolve(repo_url, revision)
            destination = Path(self._tmp.name) / str(len(self._trees))
            self._git.export(repo_url, commit, destination)
            self._trees[key] = destination
        return self._trees[key]

    def directories(self, repo_url: str, revision: str) -> list[str]:
        """Every directory but the root, repo-relative; hidden ones (``.github``) and what is
        under them are skipped, as Argo CD's repo server (``GetGitDirectories``)."""
        root = self._tree(repo_url, revision)
        found = []
        for path, dirs, _files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(path) / d).is_symlink())
            relative = Path(path).relative_to(root).as_posix()
            if relative != ".":
                found.append(relative)
        return sorted(found)

    def files(self, repo_url: str, revision: str, glob: str) -> dict[str, bytes]:
        """The files whose repo-relative path matches ``glob`` (``*`` crosses ``/``, as the git
        pathspec of Argo CD's ``git ls-files``), with their content."""
        root = self._tree(repo_url, revision)
        found: dict[str, bytes] = {}
        for path in _walk_files(root):
            relative = path.relative_to(root).as_posix()
            if fnmatch.fnmatchcase(relative, glob.lstrip("/")):
                found[relative] = path.read_bytes()
        return found


def _walk_files(root: Path) -> Iterator[Path]:
    for path, _dirs, files in os.walk(root):
        for name in sorted(files):
            candidate = Path(path) / name
            if candidate.is_file() and not candidate.is_symlink():
                yield candidate


# ------------------------------------------------------------------------------ activities


class AppSetActivities:
    def __init__(
        self,
        *,
        client: Client,
        clusters: ClusterRegistry,
        git: GitCache,
        go_render: GoRenderer,
        namespaces: AppNamespaces,
    ) -> None:
        self._client = client
        self._clusters = clusters
        self._git = git
        self._go_render = go_render
        self._namespaces = namespaces

    def _management(self) -> KubeClient:
        return self._clusters.client(Destination(name=IN_CLUSTER_NAME))

    async def _kube(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except KubeError as exc:
            raise ApplicationError(
                f"management cluster: {exc}", type="KubeError", non_retryable=not exc.retryable
            ) from None

    def app_name(self, namespace: str, name: str) -> str:
        """Bosun's name of a generated Application (its workflow is ``app:<that>``)."""
        return self._namespaces.app_name(namespace, name)

    # -- reconcile

    @activity.defn(name="reconcile_appset")
    async def reconcile_appset(self, ref: AppSetRef) -> ReconcileAppSetResult:
        manifest = await self._kube(
            self._management().get,
            {
                "apiVersion": API_VERSION,
                "kind": APPSET_KIND,
                "metadata": {"name": ref.name, "namespace": ref.namespace},
            },
        )
        if manifest is None:
            return ReconcileAppSetResult(found=False)
        if (manifest.get("metadata") or {}).get("deletionTimestamp"):
            await self._deleting(manifest)
            return ReconcileAppSetResult(found=False)
        try:
            appset = parse_applicationset(manifest)
        except ApplicationSetError as exc:
            await self._write_status(manifest, error_conditions("ErrorOccurred", str(exc), parameters_generated=False))
            return ReconcileAppSetResult(error=str(exc))
        result = ReconcileAppSetResult(requeue_after_seconds=appset.requeue_after_seconds)
        reader = MirrorGitReader(self._git)
        try:
            clusters = await self._kube(self._cluster_infos)
            context = GeneratorContext(clusters=clusters, git=reader, go_render=self._go_render)
            try:
                generated = await asyncio.to_thread(generate, appset, context)
            except (ApplicationSetError, GitError) as exc:
                return await self._failed(manifest, result, "ApplicationGenerationFromParamsError", str(exc), False)
            try:
                desired = await asyncio.to_thread(render_applications, appset, generated, self._go_render)
            except ApplicationSetError as exc:
                return await self._failed(manifest, result, "RenderTemplateParamsError", str(exc), True)
        finally:
            await asyncio.to_thread(reader.close)
        if appset.rolling_sync is not None:
            stripped = [without_automated_sync(app) for app in desired]
            desired = [app for app, _ in stripped]
            result.prune = {app["metadata"]["name"]: prune for app, prune in stripped}
            result.manifest = rolling_manifest(appset)
        existing = [app for app in await self._kube(self._owned_apps, appset.namespace) if owned_by(app, appset.uid)]
        try:
            changes = plan_changes(appset, desired, existing)
        except ApplicationSetError as exc:
            return await self._failed(manifest, result, "ApplicationValidationError", str(exc), True)
        result.applications = sorted(app["metadata"]["name"] for app in desired)
        try:
            for app in changes.create:
                await self._kube(self._create, appset, app)
                result.created.append(app["metadata"]["name"])
            for app in changes.update:
                await self._kube(self._management().replace, for_update(with_owner(app, appset)))
                result.updated.append(app["metadata"]["name"])
            for name in changes.delete:
                target = {
                    "apiVersion": API_VERSION,
                    "kind": APP_KIND,
                    "metadata": {"name": name, "namespace": appset.namespace},
                }
                await self._kube(self._management().delete, target, propagation_policy="Background")
                result.deleted.append(name)
        except ApplicationError as exc:  # a write refused: say so on the set, and try again later
            await self._write_status(
                manifest, error_conditions("CreateApplicationError", str(exc), parameters_generated=True)
            )
            raise
        if result.created or result.updated or result.deleted:
            log.info(
                "%s: created %s, updated %s, deleted %s",
                ref.describe(),
                result.created or "none",
                result.updated or "none",
                result.deleted or "none",
            )
        owned = [app for app in await self._kube(self._owned_apps, appset.namespace) if owned_by(app, appset.uid)]
        wanted = set(result.applications)
        resources = [
            resource_entry(app)
            for app in sorted(owned, key=lambda a: str(a["metadata"]["name"]))
            if app["metadata"]["name"] in wanted
        ]
        await self._write_status(manifest, success_conditions(), resources=resources)
        return result

    async def _failed(
        self, manifest: Manifest, result: ReconcileAppSetResult, reason: str, message: str, parameters: bool
    ) -> ReconcileAppSetResult:
        log.warning(
            "ApplicationSet %s/%s: %s", manifest["metadata"].get("namespace"), manifest["metadata"]["name"], message
        )
        await self._write_status(manifest, error_conditions(reason, message, parameters_generated=parameters))
        result.error = message
        return result

    def _cluster_infos(self) -> list[ClusterInfo]:
        """Argo CD's cluster generator's clusters: every cluster Secret (its labels and
        annotations; never its credentials), and the in-cluster one unless a Secret declares it."""
        secrets = self._management().list(
            "v1", "Secret", label_selector=f"{SECRET_TYPE_LABEL}={CLUSTER}", namespace=self._namespaces.control
        )
        infos = []
        for secret in secrets:
            meta = secret.get("metadata") or {}
            try:
                entry = cluster_from_secret(secret)
            except ClusterConfigError as exc:
                log.warning("cluster generator: %s (skipped)", exc)
                continue
            infos.append(
                ClusterInfo(
                    name=entry.name,
                    server=entry.server,
                    labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
                    annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
                    project=entry.project or None,
                )
            )
        if not any(info.server.rstrip("/") == IN_CLUSTER_SERVER for info in infos):
            infos.insert(
                0,
                ClusterInfo(name=IN_CLUSTER_NAME, server=IN_CLUSTER_SERVER, labels={}, annotations={}, in_cluster=True),
            )
        return infos

    def _owned_apps(self, namespace: str) -> list[Manifest]:
        return self._management().list(API_VERSION, APP_KIND, namespace=namespace)

    def _create(self, appset: ApplicationSet, app: Manifest) -> None:
        """Create (or take over, as Argo CD's CreateOrUpdate) an app no other controller owns."""
        client = self._management()
        live = client.get(with_owner(app, appset))
        owner = other_controller(live, appset.uid) if live is not None else ""
        if owner:
            raise KubeError(
                f"Application {appset.namespace}/{app['metadata']['name']} already exists and is owned by {owner}",
                retryable=False,
            )
        client.apply(with_owner(app, appset))

    async def _deleting(self, manifest: Manifest) -> None:
        """A set being deleted while it holds Argo CD's finalizer (without it, it is gone already
        and the garbage collector deletes its apps). Under a policy that does not delete apps
        (create-only, create-update) its apps lose their ownerReferences first, so they outlive
        it; then the finalizer goes (Argo CD's Reconcile on a DeletionTimestamp)."""
        finalizers = list((manifest.get("metadata") or {}).get("finalizers") or [])
        if RESOURCES_FINALIZER not in finalizers:
            return
        client = self._management()
        meta = manifest.get("metadata") or {}
        if not _allows_delete(manifest):
            for app in await self._kube(self._owned_apps, str(meta.get("namespace") or "")):
                if owned_by(app, str(meta.get("uid") or "")):
                    await self._kube(client.merge_patch, app, {"metadata": {"ownerReferences": None}})
        kept = [f for f in finalizers if f != RESOURCES_FINALIZER]
        await self._kube(client.merge_patch, manifest, {"metadata": {"finalizers": kept or None}})

    async def _write_status(
        self, manifest: Manifest, conditions: list[dict[str, Any]], *, resources: list[dict[str, Any]] | None = None
    ) -> None:
        current = manifest.get("status") or {}
        status: dict[str, Any] = {"conditions": merge_conditions(list(current.get("conditions") or []), conditions)}
        if resources is not None:
            status["resources"] = resources
        if all(current.get(k) == v for k, v in status.items()):
            return
        await self._kube(self._management().merge_patch, manifest, {"status": status})

    # -- RollingSync

    @activity.defn(name="appset_app_progress")
    async def appset_app_progress(self, input: AppProgressInput) -> list[AppState]:
        """Each app's labels (its resource) and its sync, health and operation (its workflow's
        ``status`` query; the resource's status while the workflow does not answer yet)."""
        listed = await self._kube(self._owned_apps, input.namespace)
        by_name = {app["metadata"]["name"]: app for app in listed}
        states = await asyncio.gather(
            *(self._app_state(input.namespace, name, by_name.get(name)) for name in input.applications)
        )
        return list(states)

    async def _app_state(self, namespace: str, name: str, resource: Manifest | None) -> AppState:
        labels = {str(k): str(v) for k, v in ((resource or {}).get("metadata") or {}).get("labels", {}).items()}
        state = AppState(name=name, labels=labels)
        if resource is None:
            return state
        try:
            status = await self._client.get_workflow_handle(app_workflow_id(self.app_name(namespace, name))).query(
                AppQuery.STATUS, result_type=dict, rpc_timeout=RPC_TIMEOUT
            )
        except (RPCError, WorkflowQueryFailedError):  # not started yet, or busy: what the resource says
            written = resource.get("status") or {}
            state.sync_status = (written.get("sync") or {}).get("status") or "Unknown"
            state.health = (written.get("health") or {}).get("status") or "Unknown"
            state.operation_phase = (written.get("operationState") or {}).get("phase") or ""
            sync = written.get("sync") or {}
            state.revisions = [str(r) for r in sync.get("revisions") or [sync.get("revision") or ""] if r]
            result = (written.get("operationState") or {}).get("syncResult") or {}
            state.synced_revisions = [str(r) for r in result.get("revisions") or [result.get("revision") or ""] if r]
            return state
        state.sync_status = str(status.get("sync") or "Unknown")
        state.health = str(status.get("health") or "Unknown")
        if status.get("operation") not in (None, "", "idle"):
            state.operation_phase = "Running"
        else:
            state.operation_phase = str((status.get("last_operation") or {}).get("phase") or "")
        state.revisions = [str(r) for r in status.get("revisions") or [status.get("revision") or ""] if r]
        last = (status.get("last_operation") or {}).get("revision") or ""
        state.synced_revisions = [str(r) for r in status.get("synced_revisions") or [last] if r]
        return state

    @activity.defn(name="sync_appset_apps")
    async def sync_appset_apps(self, input: SyncAppsInput) -> list[str]:
        """Start a sync of each app (``sync_async``: answered once queued); the apps asked."""
        asked = []
        for name in input.applications:
            request = SyncRequest(
                prune=input.prune.get(name, False),
                trigger=f"ApplicationSet RollingSync step {input.step}" if input.step else "ApplicationSet RollingSync",
            )
            try:
                await self._client.get_workflow_handle(
                    app_workflow_id(self.app_name(input.namespace, name))
                ).execute_update(AppUpdate.SYNC_ASYNC, request, result_type=dict, rpc_timeout=RPC_TIMEOUT)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:  # its workflow is not running yet: asked again next poll
                    log.info("RollingSync: app %s has no workflow yet", name)
                    continue
                raise
            log.info("RollingSync: %s (step %s): %s", name, input.step, ROLLING_SYNC_REASON)
            asked.append(name)
        return asked

    @activity.defn(name="write_appset_progress")
    async def write_appset_progress(self, input: WriteProgressInput) -> None:
        manifest = await self._kube(
            self._management().get,
            {
                "apiVersion": API_VERSION,
                "kind": APPSET_KIND,
                "metadata": {"name": input.name, "namespace": input.namespace},
            },
        )
        if manifest is None:
            return
        current = manifest.get("status") or {}
        rollout = (
            _condition(
                "RolloutProgressing", False, "ApplicationSetRolloutComplete", "ApplicationSet Rollout has completed"
            )
            if input.done
            else _condition("RolloutProgressing", True, "ApplicationSetModified", "ApplicationSet Rollout has started")
        )
        others = [c for c in current.get("conditions") or [] if c.get("type") != "RolloutProgressing"]
        old = [c for c in current.get("conditions") or [] if c.get("type") == "RolloutProgressing"]
        status = {
            "applicationStatus": input.application_status,
            "conditions": sorted([*others, *merge_conditions(old, [rollout])], key=lambda c: str(c.get("type"))),
        }
        if all(current.get(k) == v for k, v in status.items()):
            return
        await self._kube(self._management().merge_patch, manifest, {"status": status})
