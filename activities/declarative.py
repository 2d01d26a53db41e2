"""Declarative Applications: ``argoproj.io/v1alpha1`` Application resources in the
management cluster, each kept in step with its ``app:<name>`` workflow.

Argo CD users keep Applications as resources (``kubectl apply -f app.yaml``, or an
app-of-apps whose Git path holds them). One activity, ``reconcile_declared_apps``, run
every few seconds by :class:`workflows.declarative.DeclarativeAppsWorkflow`, does what
Argo CD's application controller does with them:

- a new Application starts its workflow; a changed spec, label or annotation reaches the
  running workflow as ``update_spec`` (signal-with-start, so both are one call);
- ``argocd.argoproj.io/refresh: normal|hard`` asks for a refresh and is removed, as in Argo CD;
- ``operation.sync`` (``{"revision", "prune", "dryRun"}``, as ``argocd app sync`` sets it) is
  cleared and run as a ``sync`` update;
- a deleted Application ends its workflow. With the finalizer
  ``resources-finalizer.argocd.argoproj.io`` the app's resources are deleted first
  (cascade) and the finalizer is removed once the workflow has finished; without it the
  workflow ends and the resources stay;
- the workflow's status is written back to the resource's ``status`` in Argo CD's shape
  (sync, health, conditions, resources, operationState), so ``kubectl get applications``
  and Argo CD tooling see it.

Only Applications in the control namespace are watched (Argo CD watches its own
namespace). The workflow passes in what it knows — the digest of the spec it last sent
to each app, the apps being deleted — and gets it back updated, so nothing here is kept
in memory and a worker restart loses nothing. A spec that does not validate is reported
(in the result and as the resource's InvalidSpecError condition) and never reaches a
workflow. This module speaks to the app workflows by their public protocol (signal and
update names, JSON), like :mod:`activities.trigger`, and does not import ``workflows``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError, WorkflowUpdateStage
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import Destination
from activities.kube import IN_CLUSTER_NAME, ClusterRegistry, KubeClient, KubeError, UnknownKind
from bosun.models import ModelError, parse_application
from bosun.resources import Manifest

log = logging.getLogger(__name__)

API_VERSION = "argoproj.io/v1alpha1"
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
CASCADE_FINALIZERS = (
    "resources-finalizer.argocd.argoproj.io",
    "resources-finalizer.argocd.argoproj.io/foreground",
    "resources-finalizer.argocd.argoproj.io/background",
)
"""Argo CD's finalizers asking that the app's resources be deleted with it."""
NO_CRD_RECHECK_SECONDS = 15.0
CONCURRENCY = 16
"""Applications handled at once in a pass."""
RPC_TIMEOUT = timedelta(seconds=5)
"""A status query a busy workflow does not answer in time is written on a later pass."""


def app_workflow_id(name: str) -> str:
    return f"app:{name}"


class DeclaredAppsInput(BaseModel):
    known: dict[str, str] = Field(default_factory=dict)
    """Application name → digest of the spec last sent to its workflow."""
    deleting: list[str] = Field(default_factory=list)
    """Applications whose workflow was asked to delete with its resources."""


class DeclaredAppsResult(BaseModel):
    known: dict[str, str] = Field(default_factory=dict)
    deleting: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)
    """Application name → why it was not acted on (an invalid spec)."""
    started_or_updated: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


def spec_digest(app: Manifest) -> str:
    """What, when it changes, the workflow must hear about: spec, labels, annotations."""
    meta = app.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != REFRESH_ANNOTATION}
    document = {"spec": app.get("spec"), "labels": meta.get("labels") or {}, "annotations": annotations}
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:16]


def workflow_manifest(app: Manifest) -> Manifest:
    """The Application as the workflow gets it: no status, no server-side metadata."""
    meta = app.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != REFRESH_ANNOTATION}
    metadata: dict[str, Any] = {"name": meta["name"], "namespace": meta.get("namespace", "")}
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    if annotations:
        metadata["annotations"] = annotations
    if meta.get("finalizers"):
        metadata["finalizers"] = list(meta["finalizers"])
    return {"apiVersion": API_VERSION, "kind": "Application", "metadata": metadata, "spec": app.get("spec") or {}}


def argo_status(status: dict[str, Any]) -> dict[str, Any]:
    """An app workflow's ``status`` query answer in the shape of Argo CD's Application status."""
    resources = []
    for r in status.get("resources") or []:
        key = r.get("key") or {}
        api_version = r.get("api_version") or ""
        entry: dict[str, Any] = {"group": key.get("group", ""), "version": api_version.rsplit("/", 1)[-1],
                                 "kind": key.get("kind", ""), "namespace": key.get("namespace", ""),
                                 "name": key.get("name", ""), "status": r.get("sync") or "Unknown"}
        if r.get("health"):
            entry["health"] = {"status": r["health"], **({"message": r["health_message"]}
                                                        if r.get("health_message") else {})}
        if r.get("requires_pruning"):
            entry["requiresPruning"] = True
        if r.get("hook"):
            entry["hook"] = True
        resources.append(entry)
    result: dict[str, Any] = {
        "sync": {"status": status.get("sync") or "Unknown", "revision": status.get("revision") or ""},
        "health": {"status": status.get("health") or "Unknown"},
        "reconciledAt": status.get("reconciled_at"),
        "conditions": [{"type": c.get("type"), "message": c.get("message"), "lastTransitionTime": c.get("at")}
                       for c in status.get("conditions") or []],
        "resources": resources,
        "operationState": None,
    }
    if status.get("revisions") and len(status["revisions"]) > 1:
        result["sync"]["revisions"] = status["revisions"]
    last = status.get("last_operation")
    if last:
        result["operationState"] = {
            "phase": last.get("phase"), "message": last.get("message") or "",
            "startedAt": last.get("started_at"), "finishedAt": last.get("finished_at"),
            "syncResult": {"revision": last.get("revision") or ""},
        }
    return result


class DeclarativeActivities:
    def __init__(self, *, client: Client, clusters: ClusterRegistry, namespace: str, task_queue: str,
                 refresh_seconds: float) -> None:
        self._client = client
        self._clusters = clusters
        self._namespace = namespace
        self._task_queue = task_queue
        self._refresh_seconds = refresh_seconds
        self._no_crd_until = 0.0

    def _management(self) -> KubeClient:
        return self._clusters.client(Destination(name=IN_CLUSTER_NAME))

    def _list(self) -> list[Manifest] | None:
        """The Applications in the control namespace; None when the CRD is not installed
        (looked for again after NO_CRD_RECHECK_SECONDS: each miss costs a discovery refresh)."""
        if time.monotonic() < self._no_crd_until:
            return None
        try:
            return self._management().list(API_VERSION, "Application", namespace=self._namespace)
        except UnknownKind:
            self._no_crd_until = time.monotonic() + NO_CRD_RECHECK_SECONDS
            return None

    async def _kube(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except KubeError as exc:
            raise ApplicationError(f"management cluster: {exc}", type="KubeError",
                                   non_retryable=not exc.retryable) from None

    @activity.defn(name="reconcile_declared_apps")
    async def reconcile_declared_apps(self, input: DeclaredAppsInput) -> DeclaredAppsResult:
        listed = await self._kube(self._list)
        if listed is None:  # no Application CRD: nothing declared, and nothing to take away
            return DeclaredAppsResult(known=input.known, deleting=input.deleting)
        result = DeclaredAppsResult(known=dict(input.known), deleting=list(input.deleting))
        present = {app["metadata"]["name"] for app in listed}
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(app: Manifest) -> None:
            async with limit:
                try:
                    if app["metadata"].get("deletionTimestamp"):
                        await self._deleted(app, result)
                    else:
                        await self._declared(app, result)
                except (RPCError, ApplicationError) as exc:  # one app's trouble does not stop the others
                    result.errors[app["metadata"]["name"]] = str(exc)

        await asyncio.gather(*(one(app) for app in listed))
        for name in sorted(set(result.known) - present):  # gone without a finalizer: the resources stay
            try:
                await self._delete_workflow(name, cascade=False)
            except RPCError as exc:  # kept in ``known``: tried again next pass
                result.errors[name] = str(exc)
                continue
            result.known.pop(name, None)
            result.removed.append(name)
        result.deleting = [n for n in result.deleting if n in present]
        return result

    async def _declared(self, app: Manifest, result: DeclaredAppsResult) -> None:
        name = app["metadata"]["name"]
        manifest = workflow_manifest(app)
        try:
            parse_application(manifest, source_name=f"Application {self._namespace}/{name}")
        except ModelError as exc:
            result.errors[name] = str(exc)
            await self._write_status(app, {"conditions": [{"type": "InvalidSpecError", "message": str(exc)}]})
            return
        digest = spec_digest(app)
        if result.known.get(name) != digest or not await self._running(name):
            await self._client.start_workflow(
                "ApplicationWorkflow", {"application": manifest, "refresh_seconds": self._refresh_seconds},
                id=app_workflow_id(name), task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal="update_spec", start_signal_args=[manifest],
                static_summary=f"Application {name}")
            result.known[name] = digest
            result.started_or_updated.append(name)
        await self._run_operation(app)
        refresh = (app["metadata"].get("annotations") or {}).get(REFRESH_ANNOTATION)
        if refresh is not None:
            await self._client.get_workflow_handle(app_workflow_id(name)).signal(
                "refresh", {"hard": refresh.strip().lower() == "hard"})
            await self._kube(self._management().merge_patch, app,
                             {"metadata": {"annotations": {REFRESH_ANNOTATION: None}}})
        try:
            status = await self._client.get_workflow_handle(app_workflow_id(name)).query(
                "status", result_type=dict, rpc_timeout=RPC_TIMEOUT)
        except (RPCError, WorkflowQueryFailedError) as exc:  # busy, or just started: next time
            log.debug("status of %s not written: %s", name, exc)
            return
        await self._write_status(app, argo_status(status))

    async def _run_operation(self, app: Manifest) -> None:
        """Argo CD's ``operation.sync`` (what ``argocd app sync`` or a kubectl patch sets):
        clear it, then ask the workflow for that sync. Cleared first, conditionally on the
        resourceVersion seen, so one operation is started at most once."""
        sync = (app.get("operation") or {}).get("sync")
        if not isinstance(sync, dict):
            return
        meta = app["metadata"]
        cleared = await self._kube(self._management().merge_patch, app, {
            "operation": None, "metadata": {"resourceVersion": meta["resourceVersion"]}})
        if cleared is None:
            return
        who = ((app.get("operation") or {}).get("initiatedBy") or {}).get("username") or "someone"
        request = {"revision": str(sync.get("revision") or ""), "prune": bool(sync.get("prune", False)),
                   "dry_run": bool(sync.get("dryRun", False)), "trigger": f"operation.sync by {who}"}
        await self._client.get_workflow_handle(app_workflow_id(meta["name"])).start_update(
            "sync", request, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=dict, rpc_timeout=RPC_TIMEOUT)
        log.info("application %s: sync requested by its operation field (%s)", meta["name"], who)

    async def _deleted(self, app: Manifest, result: DeclaredAppsResult) -> None:
        """An Application being deleted: it has finalizers (else it would be gone)."""
        name = app["metadata"]["name"]
        finalizers = list(app["metadata"].get("finalizers") or [])
        ours = [f for f in finalizers if f in CASCADE_FINALIZERS]
        if not ours:  # someone else's finalizer holds it: end the workflow, keep the resources
            if name in result.known:
                await self._delete_workflow(name, cascade=False)
                result.known.pop(name)
                result.removed.append(name)
            return
        if await self._running(name):
            if name not in result.deleting:
                await self._delete_workflow(name, cascade=True)
                result.deleting.append(name)
            return
        # The workflow has deleted the resources (or never ran): let Kubernetes delete the Application.
        remaining = [f for f in finalizers if f not in CASCADE_FINALIZERS]
        await self._kube(self._management().merge_patch, app, {"metadata": {
            "finalizers": remaining, "resourceVersion": app["metadata"]["resourceVersion"]}})
        result.known.pop(name, None)
        if name in result.deleting:
            result.deleting.remove(name)
        result.removed.append(name)

    async def _running(self, name: str) -> bool:
        try:
            described = await self._client.get_workflow_handle(app_workflow_id(name)).describe(
                rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return described.status == WorkflowExecutionStatus.RUNNING

    async def _delete_workflow(self, name: str, *, cascade: bool) -> None:
        """Ask the app workflow to delete itself (with its resources if ``cascade``); do not wait."""
        handle = self._client.get_workflow_handle(app_workflow_id(name))
        try:
            await handle.start_update("delete", {"cascade": cascade}, wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                                      result_type=str, rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:  # already ended: nothing to delete
                raise
        log.info("application %s deleted from the cluster: ending its workflow (cascade=%s)", name, cascade)

    async def _write_status(self, app: Manifest, status: dict[str, Any]) -> None:
        current = app.get("status") or {}
        wanted = {k: v for k, v in {**current, **status}.items() if v is not None}  # None: remove the field
        if json.dumps(wanted, sort_keys=True, default=str) == json.dumps(current, sort_keys=True, default=str):
            return
        await self._kube(self._management().merge_patch, app, {"status": status})
