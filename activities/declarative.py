"""Declarative Applications: ``argoproj.io/v1alpha1`` Application resources in the
management cluster, each kept in step with its ``app:<name>`` workflow.

Argo CD users keep Applications as resources (``kubectl apply -f app.yaml``, or an
app-of-apps whose Git path holds them). One activity, ``reconcile_declared_apps``, run
by :class:`workflows.declarative.DeclarativeAppsWorkflow` when a resource changes, does what
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
  and Argo CD tooling see it: by the app workflow itself at each change (the
  ``write_app_status`` local activity, for workflows started here as ``declared``), and by a
  pass that queries the workflow for the others, and for all as their status gets old.

Applications are followed in the control namespace and in the namespaces that
:class:`bosun.appnames.AppNamespaces` discovers (``argocd`` by default, or
``BOSUN_APPLICATION_NAMESPACES``); an app outside the home namespaces is named
``<namespace>/<name>`` and must be permitted by its project's ``sourceNamespaces``, or it gets
an InvalidSpecError condition and no workflow. The listing is cluster-wide (Argo CD's
controller also needs cluster-wide read of Applications for apps in any namespace).

A pass with ``discover=False`` only writes the status of apps already known (and removes
the finalizer of a cascade-deleted app whose workflow has finished): the worker's
watch (:mod:`worker.app_watch`) asks for a full pass when a resource changes, so new and
changed Applications are acted on at once without polling for them.

The workflow passes in what it knows — the digest of the spec it last sent
to each app, the apps being deleted — and gets it back updated, so nothing here is kept
in memory and a worker restart loses nothing. A spec that does not validate is reported
(in the result and as the resource's InvalidSpecError condition) and never reaches a
workflow. This module speaks to the app workflows by their public protocol
(:mod:`bosun.protocol`: ids, signal, update and query names, requests), like
:mod:`activities.trigger`, and does not import ``workflows``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError, WorkflowUpdateStage
from temporalio.common import SearchAttributeKey, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import Destination
from activities.kube import IN_CLUSTER_NAME, ClusterRegistry, KubeClient, KubeError, UnknownKind
from activities.projects import ProjectReader
from bosun import search_attributes as sa
from bosun.appnames import AppNamespaces, home_conflict
from bosun.models import ModelError, parse_application
from bosun.projects import app_namespace_violation
from bosun.protocol import (
    AppQuery,
    AppSignal,
    AppUpdate,
    AppWorkflowStart,
    DeleteRequest,
    RefreshRequest,
    SyncRequest,
    WorkflowType,
    app_workflow_id,
)
from bosun.resources import Manifest

log = logging.getLogger(__name__)
STATUS_DIGEST_KEY = SearchAttributeKey.for_keyword(sa.STATUS_DIGEST)

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
LIST_TIMEOUT = timedelta(seconds=30)
"""One page of the visibility list (a thousand apps): a dev server's SQLite under a fleet's writes
can take seconds."""
VISIBILITY_LAG_SECONDS = 300.0
"""How long an app this process started counts as running though visibility does not list it."""
CALLS_PER_PASS = 100
"""Applications that need a call to Temporal (start, update, status query, operation, refresh)
handled in one pass. A pass is a local activity inside one workflow task: it stays short however
many Applications there are, and the rest are handled by the next pass, at once
(:attr:`DeclaredAppsResult.more`)."""
STATUS_MAX_AGE_SECONDS = 180.0
"""An app's status is queried and written back when its ``BosunStatusDigest`` changes, and at
least this often anyway (``status.reconciledAt``, and a change a digest missed)."""


class DeclaredAppsInput(BaseModel):
    known: dict[str, str] = Field(default_factory=dict)
    """App name (plain, or ``<namespace>/<name>``) → digest of the spec last sent to its workflow."""
    deleting: list[str] = Field(default_factory=list)
    """Applications whose workflow was asked to delete with its resources."""
    discover: bool = True
    """False: only write the status of known apps and finish cascade deletions (nothing started,
    changed or ended)."""


class DeclaredAppsResult(BaseModel):
    known: dict[str, str] = Field(default_factory=dict)
    deleting: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)
    """App name → why it was not acted on (an invalid spec, a namespace its project does not permit)."""
    started_or_updated: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    more: bool = False
    """The pass stopped at :data:`CALLS_PER_PASS`: run the next one at once."""


class AppStatusWrite(BaseModel):
    """What the ``write_app_status`` local activity writes: an app workflow's status (its
    ``status`` query answer, as JSON) to the Application resource ``namespace/name``."""

    namespace: str
    name: str
    status: dict[str, Any]


def spec_digest(app: Manifest) -> str:
    """What, when it changes, the workflow must hear about: spec, labels, annotations."""
    meta = app.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != REFRESH_ANNOTATION}
    document = {"spec": app.get("spec"), "labels": meta.get("labels") or {}, "annotations": annotations}
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:16]


def workflow_manifest(app: Manifest, name: str | None = None) -> Manifest:
    """The Application as the workflow gets it, named ``name`` (its Bosun app name; default
    the resource's name): no status, no server-side metadata."""
    meta = app.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != REFRESH_ANNOTATION}
    metadata: dict[str, Any] = {"name": name or meta["name"], "namespace": meta.get("namespace", "")}
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    if annotations:
        metadata["annotations"] = annotations
    if meta.get("finalizers"):
        metadata["finalizers"] = list(meta["finalizers"])
    return {"apiVersion": API_VERSION, "kind": "Application", "metadata": metadata, "spec": app.get("spec") or {}}


def resource_path(app: Manifest) -> str:
    """``<namespace>/<name>`` of an Application resource, for messages."""
    return f"{app['metadata'].get('namespace', '')}/{app['metadata']['name']}"


def argo_status(status: dict[str, Any]) -> dict[str, Any]:
    """An app workflow's ``status`` query answer in the shape of Argo CD's Application status."""
    resources = []
    for r in status.get("resources") or []:
        key = r.get("key") or {}
        api_version = r.get("api_version") or ""
        entry: dict[str, Any] = {
            "group": key.get("group", ""),
            "version": api_version.rsplit("/", 1)[-1],
            "kind": key.get("kind", ""),
            "namespace": key.get("namespace", ""),
            "name": key.get("name", ""),
            "status": r.get("sync") or "Unknown",
        }
        if r.get("health"):
            entry["health"] = {
                "status": r["health"],
                **({"message": r["health_message"]} if r.get("health_message") else {}),
            }
        if r.get("requires_pruning"):
            entry["requiresPruning"] = True
        if r.get("hook"):
            entry["hook"] = True
        resources.append(entry)
    result: dict[str, Any] = {
        "sync": {"status": status.get("sync") or "Unknown", "revision": status.get("revision") or ""},
        "health": {"status": status.get("health") or "Unknown"},
        "reconciledAt": status.get("reconciled_at"),
        "conditions": [
            {"type": c.get("type"), "message": c.get("message"), "lastTransitionTime": c.get("at")}
            for c in status.get("conditions") or []
        ],
        "resources": resources,
        "operationState": None,
    }
    if status.get("revisions") and len(status["revisions"]) > 1:
        result["sync"]["revisions"] = status["revisions"]
    last = status.get("last_operation")
    if status.get("operation_workflow_id"):  # a sync runs now: Argo CD shows its operation as Running
        result["operationState"] = {"phase": "Running", "message": status.get("operation") or ""}
    elif last:
        result["operationState"] = {
            "phase": last.get("phase"),
            "message": last.get("message") or "",
            "startedAt": last.get("started_at"),
            "finishedAt": last.get("finished_at"),
            "syncResult": {"revision": last.get("revision") or ""},
        }
    return result


async def _done_unless_worker_stops(work: asyncio.Future[Any]) -> bool:
    """Wait for ``work``; False (and ``work`` cancelled) if the worker begins to shut down first.
    A pass whose queries wait on workflows nobody polls any more (this worker was their poller)
    held the worker's exit past its grace period."""
    if not activity.in_activity():  # called directly (tests): nothing to stop for
        await work
        return True
    stopping = asyncio.ensure_future(activity.wait_for_worker_shutdown())
    try:
        done, _ = await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if work in done:
        work.result()  # its error, if any
        return True
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    log.info("declared apps: the worker is stopping; the pass ends here and the next one goes on")
    return False


class DeclarativeActivities:
    def __init__(
        self,
        *,
        client: Client,
        clusters: ClusterRegistry,
        namespace: str,
        task_queue: str,
        refresh_seconds: float,
        namespaces: AppNamespaces | None = None,
        projects: ProjectReader | None = None,
    ) -> None:
        self._client = client
        self._clusters = clusters
        self._namespace = namespace
        self._namespaces = namespaces or AppNamespaces(control=namespace)
        self._projects = projects or ProjectReader(clusters=clusters, namespace=namespace)
        self._task_queue = task_queue
        self._refresh_seconds = refresh_seconds
        self._no_crd_until = 0.0
        self._written: dict[str, tuple[str, float]] = {}
        """App name → the ``BosunStatusDigest`` its status was last written back at, and when
        (this process's memory: a restarted worker writes every status once more)."""
        self._started: dict[str, float] = {}
        """App name → when this process last started its workflow: visibility may not list it yet."""
        self._writers: set[str] = set()
        """Workflow ids of the app workflows that write their own status (their ``writes_status``
        memo, in the last visibility list): a pass writes theirs only as it gets old."""

    def _management(self) -> KubeClient:
        return self._clusters.client(Destination(name=IN_CLUSTER_NAME))

    def _list(self) -> list[Manifest] | None:
        """The Applications in the discovered namespaces; None when the CRD is not installed
        (looked for again after NO_CRD_RECHECK_SECONDS: each miss costs a discovery refresh)."""
        if time.monotonic() < self._no_crd_until:
            return None
        try:
            listed = self._management().list(API_VERSION, "Application")
        except UnknownKind:
            self._no_crd_until = time.monotonic() + NO_CRD_RECHECK_SECONDS
            return None
        return [app for app in listed if self._namespaces.discovers(app["metadata"].get("namespace") or "")]

    async def _kube(self, fn: Any, *args: Any, conflict_ok: bool = False) -> Any:
        """``fn(*args)`` on a thread; a KubeError becomes an ApplicationError, but a 409 (a
        conditional write of a resource changed since it was read) is None with ``conflict_ok``."""
        try:
            return await asyncio.to_thread(fn, *args)
        except KubeError as exc:
            if conflict_ok and exc.status == 409:
                return None
            raise ApplicationError(
                f"management cluster: {exc}", type="KubeError", non_retryable=not exc.retryable
            ) from None

    def app_name(self, app: Manifest) -> str:
        """Bosun's name of an Application resource: plain in a home namespace, else ``ns/name``."""
        meta = app["metadata"]
        return self._namespaces.app_name(meta.get("namespace") or self._namespace, meta["name"])

    async def _refusals(self, listed: list[Manifest]) -> dict[int, str]:
        """Applications Bosun may not act on (index in ``listed`` → why): a home-namespace
        name taken by the control namespace's app, or a namespace the app's project does not
        list in ``sourceNamespaces``. A spec that does not parse is left to :meth:`_declared`."""
        where = [((a["metadata"].get("namespace") or self._namespace), a["metadata"]["name"]) for a in listed]
        clashes = home_conflict(self._namespaces, where)
        projects: dict[str, Any] = {}
        refused: dict[int, str] = {}
        for i, (app, (namespace, name)) in enumerate(zip(listed, where, strict=True)):
            if (namespace, name) in clashes:
                refused[i] = clashes[(namespace, name)]
                continue
            if self._namespaces.is_home(namespace):
                continue
            project_name = str((app.get("spec") or {}).get("project") or "default")
            if project_name not in projects:
                try:
                    projects[project_name] = (await asyncio.to_thread(self._projects.read, project_name))[0]
                except ApplicationError as exc:
                    if exc.type == "KubeError":  # the cluster, not the project: the pass fails, retried
                        raise
                    projects[project_name] = str(exc)  # no such project, or an invalid one
            project = projects[project_name]
            why = (
                project
                if isinstance(project, str)
                else app_namespace_violation(
                    project, app_namespace=namespace, name=name, control_namespace=self._namespace
                )
            )
            if why:
                refused[i] = why
        return refused

    async def _app_workflows(self) -> dict[str, str] | None:
        """The running app workflows of this task queue (workflow id → ``BosunStatusDigest``, ""
        if it has none yet), from visibility: one paged list for the whole fleet instead of a
        call per app. None when visibility cannot answer (then every app is asked)."""
        found: dict[str, str] = {}
        writers: set[str] = set()
        query = sa.running_apps_query(self._task_queue)
        try:
            async for execution in self._client.list_workflows(query, page_size=1000, rpc_timeout=LIST_TIMEOUT):
                found[execution.id] = execution.typed_search_attributes.get(STATUS_DIGEST_KEY) or ""
                if sa.WRITES_STATUS_MEMO in execution.raw_info.memo.fields:
                    writers.add(execution.id)
        except RPCError as exc:
            log.warning("declared apps: visibility did not answer (%s); statuses due by age only this pass", exc)
            return None
        self._writers = writers
        return found

    def _is_running(self, name: str, running: dict[str, str] | None, known: dict[str, str]) -> bool:
        """Whether ``name``'s workflow is taken as running: listed by visibility, or started by this
        process within :data:`VISIBILITY_LAG_SECONDS` (visibility lags under load: at 1,000 apps the
        dev server listed none for minutes, and every pass started them all again). Without
        visibility, an app this workflow started is taken as running (a stopped one is started
        again on a pass where visibility answers): never a describe per app per pass."""
        if running is None:
            return name in known
        if app_workflow_id(name) in running:
            return True
        return self._just_started(name)

    def _just_started(self, name: str) -> bool:
        return time.monotonic() - self._started.get(name, -math.inf) < VISIBILITY_LAG_SECONDS

    def _status_due(self, name: str, running: dict[str, str] | None) -> bool:
        """Whether to query ``name``'s status and write it back now (see STATUS_MAX_AGE_SECONDS).
        An app this process has just started has nothing to say until visibility shows its first
        status digest: a query before then waits for the new workflow's first task, which took
        seconds a query when a thousand apps started at once."""
        written = self._written.get(name)
        if app_workflow_id(name) in self._writers:  # it writes its own on every change: only by age here
            if written is None:
                written = self._written[name] = ("", time.monotonic())
            return time.monotonic() - written[1] > STATUS_MAX_AGE_SECONDS
        if written is None:
            listed = (running or {}).get(app_workflow_id(name))
            return bool(listed) or not self._just_started(name)
        if time.monotonic() - written[1] > STATUS_MAX_AGE_SECONDS:
            return True
        if running is None:  # visibility did not answer: only what is getting old (above)
            return False
        digest = running.get(app_workflow_id(name))
        return not digest or written[0] != digest

    @activity.defn(name="reconcile_declared_apps")
    async def reconcile_declared_apps(self, input: DeclaredAppsInput) -> DeclaredAppsResult:
        listed = await self._kube(self._list)
        if listed is None:  # no Application CRD: nothing declared, and nothing to take away
            return DeclaredAppsResult(known=input.known, deleting=input.deleting)
        result = DeclaredAppsResult(known=dict(input.known), deleting=list(input.deleting))
        refused = await self._refusals(listed)
        names = [self.app_name(app) for app in listed]
        present = {name for i, name in enumerate(names) if i not in refused}
        limit = asyncio.Semaphore(CONCURRENCY)
        running = await self._app_workflows()
        calls_left = actions_left = CALLS_PER_PASS

        def needs_action(app: Manifest, name: str) -> bool:
            """Whether a full pass must start or update ``app``'s workflow, or act on its operation
            or refresh annotation."""
            return input.discover and bool(
                result.known.get(name) != spec_digest(app)
                or not self._is_running(name, running, result.known)
                or app.get("operation")
                or REFRESH_ANNOTATION in (app["metadata"].get("annotations") or {})
            )

        def needs_call(app: Manifest, name: str) -> bool:
            """Whether handling ``app`` in this pass calls Temporal (an action above, or its
            status), so counts against CALLS_PER_PASS."""
            if needs_action(app, name):
                return True
            return (input.discover or name in result.known) and self._status_due(name, running)

        async def one(app: Manifest, name: str, why: str | None, *, acts: bool) -> None:
            nonlocal calls_left, actions_left
            if why is None and not app["metadata"].get("deletionTimestamp"):
                if not acts and not needs_call(app, name):
                    return
                if calls_left <= 0 or (acts and actions_left <= 0):
                    result.more = True
                    return
                calls_left -= 1
                actions_left -= acts
            async with limit:
                try:
                    if why is not None:
                        await self._refused(app, why)
                    elif app["metadata"].get("deletionTimestamp"):
                        # A status pass too sees a cascade through: its workflow ending changes no resource.
                        if input.discover or name in result.deleting:
                            await self._deleted(app, name, result)
                    elif not input.discover:
                        await self._write_workflow_status(app, name, running)
                    else:
                        await self._declared(app, name, result, running)
                except (RPCError, ApplicationError) as exc:  # one app's trouble does not stop the others
                    result.errors[name if why is None else resource_path(app)] = str(exc)
                if why is not None:  # by its resource: a refused app's name may be another app's
                    result.errors.setdefault(resource_path(app), why)

        # Actions go first, status write-backs after, with a share of the budget kept for them: when
        # a thousand apps are declared at once, their starts do not wait behind the statuses of those
        # started before, and statuses are still written while starts go on.
        acting = {i for i in range(len(listed)) if needs_action(listed[i], names[i])}
        statuses_due = sum(1 for i in range(len(listed)) if i not in acting and needs_call(listed[i], names[i]))
        actions_left = CALLS_PER_PASS - min(CALLS_PER_PASS // 4, statuses_due)
        order = sorted(range(len(listed)), key=lambda i: i not in acting)
        handled = asyncio.gather(*(one(listed[i], names[i], refused.get(i), acts=i in acting) for i in order))
        if not await _done_unless_worker_stops(handled):
            result.more = True  # the rest on the next pass, on whichever worker runs it
            return result
        if not input.discover:
            return result
        for name in sorted(set(result.known) - present):  # gone (or refused) without a finalizer: resources stay
            try:
                await self._delete_workflow(name, cascade=False)
            except RPCError as exc:  # kept in ``known``: tried again next pass
                result.errors[name] = str(exc)
                continue
            result.known.pop(name, None)
            result.removed.append(name)
        result.deleting = [n for n in result.deleting if n in present]
        return result

    async def _refused(self, app: Manifest, why: str) -> None:
        """An Application Bosun may not act on: its condition says why. Being deleted, it
        loses Argo CD's cascade finalizers (no workflow of its own ran its resources)."""
        meta = app["metadata"]
        if meta.get("deletionTimestamp"):
            finalizers = list(meta.get("finalizers") or [])
            remaining = [f for f in finalizers if f not in CASCADE_FINALIZERS]
            if remaining != finalizers:
                await self._kube(
                    self._management().merge_patch,
                    app,
                    {"metadata": {"finalizers": remaining, "resourceVersion": meta["resourceVersion"]}},
                )
            return
        await self._write_status(
            app,
            {
                "conditions": [{"type": "InvalidSpecError", "message": why}],
                "sync": {"status": "Unknown"},
                "health": {"status": "Unknown"},
            },
        )

    async def _declared(
        self, app: Manifest, name: str, result: DeclaredAppsResult, running: dict[str, str] | None
    ) -> None:
        manifest = workflow_manifest(app, name)
        namespace = app["metadata"].get("namespace") or self._namespace
        try:
            parse_application(manifest, source_name=f"Application {namespace}/{app['metadata']['name']}")
        except ModelError as exc:
            result.errors[name] = str(exc)
            await self._write_status(app, {"conditions": [{"type": "InvalidSpecError", "message": str(exc)}]})
            return
        digest = spec_digest(app)
        acted = result.known.get(name) != digest or not self._is_running(name, running, result.known)
        if acted:
            self._started[name] = time.monotonic()
            await self._client.start_workflow(
                WorkflowType.APPLICATION,
                AppWorkflowStart(application=manifest, refresh_seconds=self._refresh_seconds, declared=True),
                id=app_workflow_id(name),
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal=AppSignal.UPDATE_SPEC,
                start_signal_args=[manifest],
                static_summary=f"Application {name}",
            )
            result.known[name] = digest
            result.started_or_updated.append(name)
        await self._run_operation(app, name)
        refresh = (app["metadata"].get("annotations") or {}).get(REFRESH_ANNOTATION)
        if refresh is not None:
            await self._client.get_workflow_handle(app_workflow_id(name)).signal(
                AppSignal.REFRESH, RefreshRequest(hard=refresh.strip().lower() == "hard")
            )
            await self._kube(
                self._management().merge_patch, app, {"metadata": {"annotations": {REFRESH_ANNOTATION: None}}}
            )
        if not acted:  # a workflow just started or given a new spec has work to do first: a later pass
            await self._write_workflow_status(app, name, running)

    async def _write_workflow_status(self, app: Manifest, name: str, running: dict[str, str] | None) -> None:
        """The app workflow's status, written to its resource (if it changed), when it is due
        (:meth:`_status_due`: its status digest in visibility moved, or it is getting old)."""
        if not self._status_due(name, running):
            return
        try:
            status = await self._client.get_workflow_handle(app_workflow_id(name)).query(
                AppQuery.STATUS, result_type=dict, rpc_timeout=RPC_TIMEOUT
            )
        except (RPCError, WorkflowQueryFailedError) as exc:  # busy, or just started: next time
            log.debug("status of %s not written: %s", name, exc)
            return
        if app_workflow_id(name) in self._writers:
            # It writes its own at every change: this one only if the resource has not changed
            # since it was listed, or a status it wrote after the query would be undone.
            await self._write_status(app, argo_status(status), unless_changed=True)
        else:
            await self._write_status(app, argo_status(status))
        digest = (running or {}).get(app_workflow_id(name), "")
        # What visibility said before the query (a later change is seen as one); "" when it did not
        # say: written again when visibility first shows a digest.
        self._written[name] = (digest, time.monotonic())

    async def _run_operation(self, app: Manifest, name: str) -> None:
        """Argo CD's ``operation.sync`` (what ``argocd app sync`` or a kubectl patch sets):
        clear it, then ask the workflow for that sync. Cleared first, conditionally on the
        resourceVersion seen, so one operation is started at most once."""
        sync = (app.get("operation") or {}).get("sync")
        if not isinstance(sync, dict):
            return
        meta = app["metadata"]
        cleared = await self._kube(
            self._management().merge_patch,
            app,
            {"operation": None, "metadata": {"resourceVersion": meta["resourceVersion"]}},
        )
        if cleared is None:
            return
        who = ((app.get("operation") or {}).get("initiatedBy") or {}).get("username") or "someone"
        request = SyncRequest(
            revision=str(sync.get("revision") or ""),
            prune=bool(sync.get("prune", False)),
            dry_run=bool(sync.get("dryRun", False)),
            trigger=f"operation.sync by {who}",
        )
        await self._client.get_workflow_handle(app_workflow_id(name)).start_update(
            AppUpdate.SYNC,
            request,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            result_type=dict,
            rpc_timeout=RPC_TIMEOUT,
        )
        log.info("application %s: sync requested by its operation field (%s)", name, who)

    async def _deleted(self, app: Manifest, name: str, result: DeclaredAppsResult) -> None:
        """An Application being deleted: it has finalizers (else it would be gone)."""
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
        await self._kube(
            self._management().merge_patch,
            app,
            {"metadata": {"finalizers": remaining, "resourceVersion": app["metadata"]["resourceVersion"]}},
        )
        result.known.pop(name, None)
        if name in result.deleting:
            result.deleting.remove(name)
        result.removed.append(name)

    async def _running(self, name: str) -> bool:
        try:
            described = await self._client.get_workflow_handle(app_workflow_id(name)).describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return described.status == WorkflowExecutionStatus.RUNNING

    async def _delete_workflow(self, name: str, *, cascade: bool) -> None:
        """Ask the app workflow to delete itself (with its resources if ``cascade``); do not wait."""
        handle = self._client.get_workflow_handle(app_workflow_id(name))
        try:
            await handle.start_update(
                AppUpdate.DELETE,
                DeleteRequest(cascade=cascade),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                result_type=str,
                rpc_timeout=RPC_TIMEOUT,
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:  # already ended: nothing to delete
                raise
        log.info("application %s deleted from the cluster: ending its workflow (cascade=%s)", name, cascade)

    @activity.defn(name="write_app_status")
    async def write_app_status(self, input: AppStatusWrite) -> bool:
        """A declared app workflow's status, written by the workflow itself when it changes (a local
        activity): no status query and no wait for a pass, which at a thousand apps starting together
        was most of the time until their statuses showed. False: the resource is gone."""
        app = {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"namespace": input.namespace, "name": input.name},
        }
        return await self._kube(self._management().merge_patch, app, {"status": argo_status(input.status)}) is not None

    async def _write_status(self, app: Manifest, status: dict[str, Any], *, unless_changed: bool = False) -> None:
        """``status`` merged into the resource's, if that changes it; ``unless_changed``: only if the
        resource is still at the resourceVersion it was listed at (else nothing, quietly)."""
        current = app.get("status") or {}
        wanted = {k: v for k, v in {**current, **status}.items() if v is not None}  # None: remove the field
        if json.dumps(wanted, sort_keys=True, default=str) == json.dumps(current, sort_keys=True, default=str):
            return
        patch: dict[str, Any] = {"status": status}
        if unless_changed:
            patch["metadata"] = {"resourceVersion": app["metadata"]["resourceVersion"]}
        await self._kube(self._management().merge_patch, app, patch, conflict_ok=unless_changed)
