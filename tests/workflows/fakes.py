"""An in-memory Git repository and Kubernetes cluster, served as Bosun's activities.

Workflow tests register :meth:`FakeBosun.activities` under the real activity names
(``resolve_revision``, ``render``, ``compare``, ``apply``, ``wait_healthy``, ``prune``),
so the workflows run exactly as in production while a test reads as a scenario::

    bosun = FakeBosun()
    a = bosun.git.push(deployment("web"))        # git has commit A with Deployment web
    ...start an automated app, wait until it settles...
    assert bosun.cluster.applied == [web]        # the cluster received one apply
    bosun.cluster.scale("web", 5)                # someone ran kubectl scale

The fakes decide with the real pure core wherever it is practical: objects are
namespaced with :mod:`bosun.manifests` and tracked with :mod:`bosun.tracking`, compared
with :func:`bosun.diff.compare` (its subset comparison: there is no server-side dry run
here), planned with :func:`bosun.plan.build_plan` and assessed with :mod:`bosun.health`. What the fakes add
is a cluster that "settles" at once: an applied Deployment is rolled out and Healthy.

To extend: a new cluster behaviour is a field on :class:`FakeCluster` that a test sets
(like :attr:`FakeCluster.rejections`) and a line in the activity that honours it.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.actions import ResourceActionInput, ResourceActionsResult, RunResourceActionResult
from activities.app_metrics import SyncCountInput
from activities.cluster import comparison_result
from activities.contracts import (
    ApplyInput,
    ApplyResult,
    CompareInput,
    CompareResult,
    Destination,
    PruneInput,
    PruneResult,
    RenderInput,
    RenderResult,
    ResolveRevisionInput,
    ResolveRevisionResult,
    ResourceResult,
    ResourceStatus,
    WaitHealthyInput,
    WaitHealthyResult,
)
from activities.declarative import AppStatusWrite, argo_status
from activities.dependencies import DependencyActivities, DependencyCheckInput, DependencyCheckResult
from activities.destinations import ResolveDestinationInput, ResolveDestinationResult
from activities.pipeline import (
    AppInfo,
    AppStatesInput,
    AppStatesResult,
    PromoteInput,
    PromoteResult,
    SelectAppsInput,
    SelectAppsResult,
)
from activities.projects import GetProjectInput, GetProjectResult
from activities.trigger import SyncAppInput, SyncAppResult
from activities.unchanged import UnchangedInput, UnchangedResult
from bosun.actions import action_script, builtin_scripts, discover, discovery_scripts, run_action
from bosun.diff import compare as diff_compare
from bosun.health import assess_health
from bosun.label_selector import parse_selector
from bosun.lua_sandbox import run_script
from bosun.manifests import set_default_namespace
from bosun.models import default_project
from bosun.pipeline import AppState
from bosun.plan import is_hook
from bosun.resources import HealthCode, Manifest, ResourceKey, SyncCode
from bosun.tracking import apply_tracking, is_tracked_by

REPO_URL = "https://git.example.com/shop/deploy.git"
NAMESPACE = "shop"
CLUSTER_SCOPED_KINDS = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass", "PersistentVolume"}
)


def _lua(script: str, obj: Manifest, extra: dict[str, object], name: str, open_libs: bool) -> object:
    return run_script(script, obj, extra_globals=extra, name=name, open_libs=open_libs)


# --------------------------------------------------------------------------- builders


def deployment(name: str, *, image: str = "nginx:1.27", replicas: int = 2, wave: int | None = None) -> Manifest:
    """A Deployment as a user writes it in Git."""
    metadata: Manifest = {"name": name}
    if wave is not None:
        metadata["annotations"] = {"argocd.argoproj.io/sync-wave": str(wave)}
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": image}]}},
        },
    }


def service(name: str, *, port: int = 80) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": port}]},
    }


def config_map(name: str, **data: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}


def key(kind: str, name: str, *, namespace: str = NAMESPACE) -> ResourceKey:
    """The key of an object this app deploys into ``namespace`` (``apps`` for Deployments)."""
    group = {"Deployment": "apps", "StatefulSet": "apps", "Job": "batch"}.get(kind, "")
    return ResourceKey(group=group, kind=kind, namespace=namespace, name=name)


def application(
    name: str,
    *,
    automated: bool = True,
    self_heal: bool = False,
    prune: bool = False,
    retry: Manifest | None = None,
    target_revision: str = "main",
) -> Manifest:
    """An Argo CD Application (JSON, camelCase) deploying :data:`REPO_URL` to :data:`NAMESPACE`."""
    sync_policy: Manifest = {}
    if automated:
        sync_policy["automated"] = {"prune": prune, "selfHeal": self_heal}
    if retry is not None:
        sync_policy["retry"] = retry
    spec: Manifest = {
        "project": "default",
        "source": {"repoURL": REPO_URL, "targetRevision": target_revision, "path": "apps/web"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": NAMESPACE},
    }
    if sync_policy:
        spec["syncPolicy"] = sync_policy
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "bosun"},
        "spec": spec,
    }


# --------------------------------------------------------------------------- git


class FakeGit:
    """One repository: commits are snapshots of the app's rendered objects."""

    def __init__(self) -> None:
        self.commits: dict[str, list[Manifest]] = {}
        self.branches: dict[str, str] = {}
        self.render_errors: dict[str, str] = {}
        """commit → what the renderer says about it (e.g. a YAML error naming the file)."""

    def push(self, *objects: Manifest, branch: str = "main") -> str:
        """Commit ``objects`` as the new state of the app's path; returns the commit SHA."""
        snapshot = [copy.deepcopy(o) for o in objects]
        seed = json.dumps([len(self.commits), snapshot], sort_keys=True)
        sha = hashlib.sha1(seed.encode()).hexdigest()
        self.commits[sha] = snapshot
        self.branches[branch] = sha
        return sha

    def push_broken(self, error: str, *, branch: str = "main") -> str:
        """Commit something the renderer rejects with ``error``."""
        sha = self.push(branch=branch)
        self.render_errors[sha] = error
        return sha

    def resolve(self, revision: str) -> str:
        if revision in ("", "HEAD"):
            revision = "main"
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.commits:
            return revision
        raise ApplicationError(f"{REPO_URL}: revision {revision!r} not found", type="GitError", non_retryable=True)


# --------------------------------------------------------------------------- cluster


@dataclass
class Rejection:
    """The API server refuses to apply an object: ``times`` more applies, or forever."""

    message: str
    times: int | None = None


@dataclass
class FakeCluster:
    """Live objects by key, and a record of what Bosun did to them."""

    objects: dict[ResourceKey, Manifest] = field(default_factory=dict)
    rejections: dict[ResourceKey, Rejection] = field(default_factory=dict)
    applied: list[ResourceKey] = field(default_factory=list)
    """Every object applied for real (not dry run), in order."""
    pruned: list[ResourceKey] = field(default_factory=list)
    """Every object deleted, in order."""
    refused: list[ResourceKey] = field(default_factory=list)
    """Every apply the API server refused (see ``reject``), in order."""
    stalled: set[ResourceKey] = field(default_factory=set)
    """Deployments whose rollout exceeds its progress deadline (Degraded)."""

    def reject(self, key: ResourceKey, message: str, *, times: int | None = None) -> None:
        self.rejections[key] = Rejection(message, times)

    def stall(self, key: ResourceKey) -> None:
        """The Deployment's Pods never become ready: its rollout will be Degraded."""
        self.stalled.add(key)

    def get(self, key: ResourceKey) -> Manifest | None:
        return self.objects.get(key)

    def scale(self, key: ResourceKey, replicas: int) -> None:
        """``kubectl scale``: drift made directly in the cluster."""
        live = self.objects[key]
        live["spec"]["replicas"] = replicas
        _settle(live)

    def create_unmanaged(self, obj: Manifest) -> None:
        """An object someone created with kubectl (in :data:`NAMESPACE` unless it says
        otherwise): untracked, so never Bosun's to prune."""
        obj = set_default_namespace(obj, NAMESPACE, namespaced=obj["kind"] not in CLUSTER_SCOPED_KINDS)
        self.objects[ResourceKey.of(obj)] = _settle(obj)

    def _apply(self, obj: Manifest) -> str:
        key = ResourceKey.of(obj)
        rejection = self.rejections.get(key)
        if rejection is not None:
            if rejection.times is not None:
                rejection.times -= 1
                if rejection.times <= 0:
                    del self.rejections[key]
            self.refused.append(key)
            raise _Rejected(rejection.message)
        live = self.objects.get(key)
        new = copy.deepcopy(obj)
        new.pop("status", None)
        generation = 1
        if live is not None:
            same_spec = live.get("spec") == new.get("spec")
            generation = int(live["metadata"].get("generation", 1)) + (0 if same_spec else 1)
        new["metadata"]["generation"] = generation
        self.objects[key] = _settle(new, stalled=key in self.stalled)
        self.applied.append(key)
        return "created" if live is None else "configured"


class _Rejected(Exception):
    pass


def _settle(obj: Manifest, *, stalled: bool = False) -> Manifest:
    """What the controllers would do at once: roll a Deployment out completely, or (stalled)
    give up on it as the Deployment controller does after progressDeadlineSeconds."""
    if obj.get("kind") == "Deployment":
        replicas = int(obj["spec"].get("replicas", 1))
        generation = int(obj["metadata"].setdefault("generation", 1))
        status: Manifest = {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        if stalled:
            status.update(
                readyReplicas=0,
                availableReplicas=0,
                conditions=[
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": f'ReplicaSet "{obj["metadata"]["name"]}-7d4b9c" has timed out progressing.',
                    }
                ],
            )
        obj["status"] = status
    return obj


# --------------------------------------------------------------------------- activities


class FakeBosun:
    """Git + content store + cluster, and the six activities over them.

    ``compare_gate``: when set, ``compare`` announces itself on ``compare_started`` and
    waits for the gate, so a test can send a signal or update mid-reconcile.
    """

    def __init__(self) -> None:
        self.git = FakeGit()
        self.cluster = FakeCluster()
        self.store: dict[str, list[Manifest]] = {}
        self.compares = 0
        self.compare_gate: asyncio.Event | None = None
        self.compare_started = asyncio.Event()
        self.apply_gate: asyncio.Event | None = None
        """Like ``compare_gate``, for ``apply`` (announced on ``apply_started``): mid-sync."""
        self.apply_started = asyncio.Event()
        self.project: dict[str, object] | None = None
        self.project_delay = 0.0
        self.settings_refresh_seconds: int | None = None
        """``timeout.reconciliation`` the fake compare reports from the settings (None: not set)."""
        self.settings_warnings: dict[str, str] = {}
        """Conditions the fake compare reports from the settings (CompareResult.warnings)."""
        self.counted_syncs: list[tuple[str, str]] = []
        """(app, phase) of each finished sync, as argocd_app_sync_total counts them."""
        self.dependency_checks = 0
        """How many times ``check_dependencies`` ran (an app without dependencies never calls it)."""
        self.status_writes: list[tuple[str, dict[str, Any]]] = []
        """``(namespace/name, Argo CD status)`` of each ``write_app_status`` (a declared app's own writes)."""

    def activities(self) -> Sequence[Callable[..., object]]:
        return [
            self.resolve_revision,
            self.render,
            self.compare,
            self.apply,
            self.wait_healthy,
            self.prune,
            self.get_project,
            self.resolve_destination,
            self.resource_actions,
            self.run_resource_action,
            self.count_sync,
            self.check_unchanged,
            self.check_dependencies,
            self.write_app_status,
        ]

    @activity.defn(name="write_app_status")
    async def write_app_status(self, input: AppStatusWrite) -> bool:
        self.status_writes.append((f"{input.namespace}/{input.name}", argo_status(input.status)))
        return True

    @activity.defn(name="check_dependencies")
    async def check_dependencies(self, input: DependencyCheckInput) -> DependencyCheckResult:
        """The real activity, querying the test's app workflows through the worker's client;
        revisions resolve in the fake Git."""
        self.dependency_checks += 1
        real = DependencyActivities(
            client=activity.client(),
            resolve=lambda wanted: ResolveRevisionResult(commit=self.git.resolve(wanted.revision)),
        )
        return await real.check_dependencies(input)

    @activity.defn(name="count_sync")
    async def count_sync(self, input: SyncCountInput) -> None:
        self.counted_syncs.append((input.app, input.phase))

    @activity.defn(name="check_unchanged")
    async def check_unchanged(self, input: UnchangedInput) -> UnchangedResult:
        """Only reached when a compare gave a key (the fake compare gives none)."""
        return UnchangedResult(unchanged=False, reason="the fake cluster cannot tell")

    # ------------------------------------------------------------------ resource actions

    def _action_target(self, input: ResourceActionInput) -> Manifest:
        live = self.cluster.get(input.key)
        if live is None or not is_tracked_by(live, input.app):
            raise ApplicationError(
                f"{input.key.short} is not tracked by application {input.app!r}", type="NotFound", non_retryable=True
            )
        return live

    @activity.defn(name="resource_actions")
    async def resource_actions(self, input: ResourceActionInput) -> ResourceActionsResult:
        """Bosun's built-in actions (the real Lua), discovered on the fake live object."""
        scripts = discovery_scripts(None, builtin_scripts(input.key.group, input.key.kind))
        return ResourceActionsResult(key=input.key, actions=discover(self._action_target(input), scripts, _lua))

    @activity.defn(name="run_resource_action")
    async def run_resource_action(self, input: ResourceActionInput) -> RunResourceActionResult:
        """A built-in action (the real Lua), its result written over the fake live object."""
        live = self._action_target(input)
        script = action_script(input.action, None, builtin_scripts(input.key.group, input.key.kind))
        if script is None:
            raise ApplicationError(
                f"{input.key.short} has no action {input.action!r}", type="UnknownAction", non_retryable=True
            )
        for item in run_action(live, input.action, script, input.params, _lua):
            self.cluster.objects[input.key] = item.resource
        return RunResourceActionResult(results=[ResourceResult(key=input.key, status="configured")])

    @activity.defn(name="resolve_destination")
    async def resolve_destination(self, input: ResolveDestinationInput) -> ResolveDestinationResult:
        """One cluster, whose activities run on the test's own task queue; a destination
        named ``unknown-*`` is a cluster Bosun does not know."""
        if input.destination.name.startswith("unknown-"):
            raise ApplicationError(
                f"cluster {input.destination.name!r} is not known to Bosun", type="UnknownCluster", non_retryable=True
            )
        return ResolveDestinationResult(
            name=input.destination.describe(), server=input.destination.server, task_queue=activity.info().task_queue
        )

    # ------------------------------------------------------------------ projects

    @activity.defn(name="get_project")
    async def get_project(self, input: GetProjectInput) -> GetProjectResult:
        """The app's AppProject: ``self.project`` if a test set one, else the built-in default;
        after ``self.project_delay`` seconds (a slow management cluster)."""
        await asyncio.sleep(self.project_delay)
        if self.project is not None:
            return GetProjectResult(project=self.project)
        return GetProjectResult(project=default_project().to_manifest(cluster_fields=False), built_in=True)

    # ------------------------------------------------------------------ git side

    @activity.defn(name="resolve_revision")
    async def resolve_revision(self, input: ResolveRevisionInput) -> ResolveRevisionResult:
        return ResolveRevisionResult(commit=self.git.resolve(input.revision))

    @activity.defn(name="render")
    async def render(self, input: RenderInput) -> RenderResult:
        # One source (this fake's repository): given as ``sources[0]`` or, in the older
        # single-source form, as ``repo_url``/``commit``.
        repo_url, commit = (
            (input.sources[0].repo_url, input.sources[0].commit) if input.sources else (input.repo_url, input.commit)
        )
        error = self.git.render_errors.get(commit)
        if error is not None:
            raise ApplicationError(f"{repo_url}@{commit[:12]}: {error}", type="RenderError", non_retryable=True)
        return RenderResult(manifests_digest=self.publish(commit), resource_count=len(self.git.commits[commit]))

    def publish(self, commit: str) -> str:
        """Put the commit's objects in the content store; their digest."""
        objects = self.git.commits[commit]
        digest = "sha256:" + hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()
        self.store[digest] = copy.deepcopy(objects)
        return digest

    # ------------------------------------------------------------------ cluster side

    def desired(self, app: str, digest: str, namespace: str) -> list[Manifest]:
        """As ClusterActivities._desired: default namespace, then tracking."""
        return [
            apply_tracking(
                set_default_namespace(o, namespace or "default", namespaced=o["kind"] not in CLUSTER_SCOPED_KINDS),
                app,
                namespace=namespace,
            )
            for o in self.store[digest]
        ]

    @activity.defn(name="compare")
    async def compare(self, input: CompareInput) -> CompareResult:
        self.compares += 1
        if self.compare_gate is not None:
            self.compare_started.set()
            await self.compare_gate.wait()
        desired = self.desired(input.app, input.manifests_digest, input.destination.namespace)
        desired_keys = {ResourceKey.of(o) for o in desired}
        rows: list[ResourceStatus] = []
        for obj in desired:
            key = ResourceKey.of(obj)
            if is_hook(obj):
                rows.append(ResourceStatus(key=key, api_version=obj["apiVersion"], hook=True, sync=SyncCode.SYNCED))
                continue
            live = self.cluster.get(key)
            diff = diff_compare(obj, live, None, ignore=input.ignore_differences)
            health = assess_health(live) if live is not None else None
            rows.append(
                ResourceStatus(
                    key=key,
                    api_version=obj["apiVersion"],
                    sync=diff.sync,
                    health=HealthCode.MISSING if live is None else (health.status if health else None),
                    health_message=health.message if health else "",
                    changed_paths=list(diff.changed_paths),
                )
            )
        candidates = [
            live
            for k, live in sorted(self.cluster.objects.items(), key=lambda kv: str(kv[0]))
            if k not in desired_keys and is_tracked_by(live, input.app)
        ]
        for live in candidates:
            health = assess_health(live)
            rows.append(
                ResourceStatus(
                    key=ResourceKey.of(live),
                    api_version=live["apiVersion"],
                    sync=SyncCode.OUT_OF_SYNC,
                    requires_pruning=True,
                    health=health.status if health else None,
                    message="no longer in Git: requires pruning",
                )
            )
        result = comparison_result(input, desired, candidates, rows, diff_digest=f"diff-{self.compares}")
        result.refresh_seconds = self.settings_refresh_seconds
        result.warnings = dict(self.settings_warnings)
        return result

    @activity.defn(name="apply")
    async def apply(self, input: ApplyInput) -> ApplyResult:
        if self.apply_gate is not None:
            self.apply_started.set()
            await self.apply_gate.wait()
        by_key = {
            ResourceKey.of(o): o for o in self.desired(input.app, input.manifests_digest, input.destination.namespace)
        }
        results: list[ResourceResult] = []
        for key in input.keys:
            obj = by_key.get(key)
            if obj is None:
                results.append(ResourceResult(key=key, status="failed", message="not in the rendered manifests"))
            elif input.dry_run:
                exists = self.cluster.get(key) is not None
                results.append(ResourceResult(key=key, status=("configured" if exists else "created") + " (dry run)"))
            else:
                try:
                    results.append(ResourceResult(key=key, status=self.cluster._apply(obj)))
                except _Rejected as exc:
                    results.append(ResourceResult(key=key, status="failed", message=str(exc)))
        return ApplyResult(results=results)

    @activity.defn(name="wait_healthy")
    async def wait_healthy(self, input: WaitHealthyInput) -> WaitHealthyResult:
        statuses: list[ResourceStatus] = []
        for key in input.keys:
            live = self.cluster.get(key)
            health = assess_health(live) if live is not None else None
            code = HealthCode.MISSING if live is None else (health.status if health else None)
            statuses.append(ResourceStatus(key=key, health=code, health_message=health.message if health else ""))
        pending = [s for s in statuses if s.health not in (None, HealthCode.HEALTHY)]
        message = "; ".join(f"{s.key.short} is {s.health}" for s in pending)
        return WaitHealthyResult(healthy=not pending, message=message, statuses=statuses)

    @activity.defn(name="prune")
    async def prune(self, input: PruneInput) -> PruneResult:
        results: list[ResourceResult] = []
        for key in input.keys:
            live = self.cluster.get(key)
            if live is None:
                results.append(ResourceResult(key=key, status="pruned", message="already gone"))
            elif not is_tracked_by(live, input.app):
                results.append(
                    ResourceResult(key=key, status="skipped", message=f"not tracked by app {input.app}: left alone")
                )
            elif input.dry_run:
                results.append(ResourceResult(key=key, status="pruned (dry run)"))
            else:
                del self.cluster.objects[key]
                self.cluster.pruned.append(key)
                results.append(ResourceResult(key=key, status="pruned"))
        return PruneResult(results=results)


# --------------------------------------------------------------------------- promotion pipelines


@dataclass
class FleetApp:
    """One app as a pipeline sees it: its pin, its state, and what it does after a sync."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    target_revision: str = "main"
    revision: str = ""
    sync: str = "Synced"
    health: str = "Healthy"
    after_sync: list[str] = field(default_factory=list)
    """Health at each state read after a sync (the last one stays); empty: Healthy."""
    sync_phase: str = "Succeeded"


class FakeFleet:
    """The activities of a PipelineWorkflow over a table of apps (:class:`FleetApp`): pins,
    syncs and states recorded in ``steps`` in the order the pipeline ran them."""

    def __init__(self, *apps: FleetApp, branches: dict[str, str] | None = None) -> None:
        self.apps = {app.name: app for app in apps}
        self.branches = dict(branches or {})
        self.steps: list[tuple[str, str]] = []
        self.resolved: list[str] = []
        self._reads: dict[str, int] = {}

    def activities(self) -> Sequence[Callable[..., object]]:
        return [
            self.select_pipeline_apps,
            self.promote_app,
            self.sync_app,
            self.pipeline_app_states,
            self.resolve_revision,
            self.resolve_destination,
        ]

    @activity.defn(name="select_pipeline_apps")
    async def select_pipeline_apps(self, input: SelectAppsInput) -> SelectAppsResult:
        stages = []
        for stage in input.stages:
            selector = parse_selector(stage.selector) if stage.selector else None
            names = {n for n in stage.apps if n in self.apps}
            if missing := [n for n in stage.apps if n not in self.apps]:
                raise ApplicationError(
                    f"stage {stage.name!r}: application {missing[0]!r} not found", non_retryable=True
                )
            if selector is not None:
                names |= {n for n, app in self.apps.items() if selector.matches(app.labels)}
            stages.append(
                [
                    AppInfo(name=n, repo_url=REPO_URL, destination=Destination(name="in-cluster", namespace=NAMESPACE))
                    for n in sorted(names)
                ]
            )
        return SelectAppsResult(stages=stages, repo_url=REPO_URL)

    @activity.defn(name="resolve_revision")
    async def resolve_revision(self, input: ResolveRevisionInput) -> ResolveRevisionResult:
        self.resolved.append(input.revision)
        return ResolveRevisionResult(commit=self.branches.get(input.revision, input.revision))

    @activity.defn(name="resolve_destination")
    async def resolve_destination(self, input: ResolveDestinationInput) -> ResolveDestinationResult:
        return ResolveDestinationResult(name="in-cluster", server="https://kubernetes.default.svc", task_queue="")

    @activity.defn(name="promote_app")
    async def promote_app(self, input: PromoteInput) -> PromoteResult:
        app = self.apps[input.app]
        previous, app.target_revision = app.target_revision, input.commit
        self.steps.append(("promote", input.app))
        return PromoteResult(app=input.app, how="edit_spec", previous=previous)

    @activity.defn(name="sync_app")
    async def sync_app(self, input: SyncAppInput) -> SyncAppResult:
        app = self.apps[input.app]
        self.steps.append(("sync", input.app))
        if app.sync_phase == "Succeeded":
            app.revision, app.sync, app.health = input.revision, "Synced", "Healthy"
            self._reads[input.app] = 0
        return SyncAppResult(app=input.app, phase=app.sync_phase, message=f"{input.app}: {app.sync_phase}", id=1)

    @activity.defn(name="pipeline_app_states")
    async def pipeline_app_states(self, input: AppStatesInput) -> AppStatesResult:
        states = []
        for name in input.apps:
            app = self.apps[name]
            if app.after_sync and name in self._reads:
                read = self._reads[name]
                app.health = app.after_sync[min(read, len(app.after_sync) - 1)]
                self._reads[name] = read + 1
            states.append(AppState(name=name, sync=app.sync, health=app.health, revision=app.revision))
        return AppStatesResult(states=states)
