"""Cluster activities: compare desired with live, apply a wave, wait for health, prune.

Every activity re-reads what it needs (manifests from the store by digest, live
objects from the API server), so a retry after a crash does the right thing: applies
are server-side applies (idempotent), prunes re-check the tracking id first.

Failures: an object the API server rejects is reported per resource (the workflow
fails the operation with the server's message); a cluster that is unreachable or
answers 5xx raises a retryable error, so Temporal retries the activity.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    ApplyInput,
    ApplyResult,
    CompareInput,
    CompareResult,
    Destination,
    PruneInput,
    PruneResult,
    ReadLiveInput,
    ReadLiveResult,
    ResourceResult,
    ResourceStatus,
    WaitHealthyInput,
    WaitHealthyResult,
)
from activities.kube import ClusterRegistry, KubeClient, KubeError, UnknownKind
from activities.projects import ProjectReader
from activities.store import ContentStore
from bosun.diff import compare, mask_secret
from bosun.diff.ignore import as_rules, keep_live_values, matching_rules
from bosun.health import app_health, assess_health
from bosun.hooks import OPERATION_ANNOTATION, hook_object_name
from bosun.manifests import (
    TRACKING_ANNOTATION,
    TRACKING_LABEL,
    is_tracked_by,
    set_default_namespace,
    tracking_label_value,
    with_tracking,
)
from bosun.plan import (
    HookDeletePolicy,
    PlanError,
    SyncOptions,
    build_plan,
    compare_options,
    delete_policies,
    is_hook,
    sync_options,
)
from bosun.projects import project_violations
from bosun.resources import HealthCode, HealthStatus, Manifest, ResourceKey, SyncCode

CRD_KIND = ("apiextensions.k8s.io", "CustomResourceDefinition")
PARALLELISM = 8
"""Objects compared or applied at once within one activity (gitops-engine applies a wave in parallel too)."""
T = TypeVar("T")
X = TypeVar("X")
POLL_SECONDS = 1.0


def _raise(exc: KubeError) -> ApplicationError:
    return ApplicationError(str(exc), type="KubeError", non_retryable=not exc.retryable)


class ClusterActivities:
    def __init__(self, *, clusters: ClusterRegistry, store: ContentStore,
                 projects: ProjectReader | None = None) -> None:
        self._clusters = clusters
        self._store = store
        self._projects = projects

    def _check_project(self, project: str, repo_urls: list[str], destination: Destination,
                       desired: list[Manifest]) -> None:
        """Refuse, before anything is compared or applied, what the app's project or its
        destination cluster forbids. Both are read here: whatever the workflow asked."""
        # As Argo CD: a destination given by name is checked against the project's servers
        # too (and one given by server against its names), through the cluster it names.
        try:
            cluster = self._clusters.resolve(destination)
            server, name = destination.server or cluster.server, destination.name or cluster.name
            problems = cluster.violations(desired)
        except KubeError:
            server, name, problems = destination.server, destination.name, []
        if self._projects is not None:
            spec, _ = self._projects.read(project)
            problems += project_violations(
                spec, repo_urls=repo_urls, server=server, name=name,
                namespace=destination.namespace,
                objects=[(o, bool(o["metadata"].get("namespace"))) for o in desired])
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            raise ApplicationError(shown, type="ProjectViolation", non_retryable=True)

    # ------------------------------------------------------------------ helpers

    def _client(self, destination: Destination) -> KubeClient:
        try:
            return self._clusters.client(destination)
        except KubeError as exc:
            raise _raise(exc) from None

    def _desired(self, client: KubeClient, app: str, digest: str, namespace: str) -> list[Manifest]:
        """Rendered objects as they will be applied: namespaced and tracked.

        An object of a kind the cluster does not serve keeps its own namespace (or the
        destination's) so that a CRD arriving in the same sync can still be planned.
        """
        objects: list[Manifest] = []
        crds = {self._crd_kind(o) for o in self._store.get_json(digest) if _group_kind(o) == CRD_KIND}
        for obj in self._store.get_json(digest):
            try:
                namespaced = client.namespaced(obj["apiVersion"], obj["kind"])
            except UnknownKind:
                if (_group(obj), obj["kind"]) not in crds:
                    raise
                namespaced = True
            obj = set_default_namespace(obj, namespace or "default", namespaced=namespaced)
            objects.append(with_tracking(obj, app))
        return objects

    def _permitted_desired(self, client: KubeClient, app: str, digest: str, destination: Destination,
                           project: str, repo_urls: list[str]) -> list[Manifest]:
        """The desired objects (see :meth:`_desired`), once the app's project allows them."""
        try:
            desired = self._desired(client, app, digest, destination.namespace)
        except KubeError as exc:
            raise _raise(exc) from None
        self._check_project(project, repo_urls, destination, desired)
        return desired

    @staticmethod
    def _crd_kind(crd: Manifest) -> tuple[str, str]:
        spec = crd.get("spec") or {}
        return str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))

    # ------------------------------------------------------------------ compare

    @activity.defn(name="compare")
    def compare(self, input: CompareInput) -> CompareResult:
        client = self._client(input.destination)
        desired = self._permitted_desired(client, input.app, input.manifests_digest, input.destination,
                                          input.project, input.repo_urls)
        diffs: dict[str, str] = {}
        desired_keys = {ResourceKey.of(o) for o in desired}

        def compare_one(obj: Manifest) -> ResourceStatus:
            if is_hook(obj):
                return ResourceStatus(key=ResourceKey.of(obj), api_version=obj["apiVersion"], hook=True,
                                      sync=SyncCode.SYNCED)
            return self._compare_one(client, obj, input, diffs)

        rows = _in_parallel(compare_one, desired)
        candidates = self._prune_candidates(client, input, desired, desired_keys)
        for live in candidates:
            key = ResourceKey.of(live)
            extraneous_ok = "IgnoreExtraneous" in compare_options(live)
            health = _health(live)
            rows.append(ResourceStatus(
                key=key, api_version=live["apiVersion"],
                sync=SyncCode.SYNCED if extraneous_ok else SyncCode.OUT_OF_SYNC,
                requires_pruning=True, health=health.status if health else None,
                message="ignored extraneous resource" if extraneous_ok else "no longer in Git: requires pruning",
            ))
        return comparison_result(input, desired, candidates, rows, diff_digest=self._store.put_json(diffs))

    def _compare_one(self, client: KubeClient, obj: Manifest, input: CompareInput,
                     diffs: dict[str, str]) -> ResourceStatus:
        key = ResourceKey.of(obj)
        try:
            live = client.get(obj)
        except UnknownKind as exc:
            return ResourceStatus(key=key, api_version=obj["apiVersion"], sync=SyncCode.OUT_OF_SYNC,
                                  health=HealthCode.MISSING, message=str(exc))
        except KubeError as exc:
            raise _raise(exc) from None
        predicted = None
        message = ""
        if live is not None:
            try:
                predicted = client.apply(obj, dry_run=True)
            except KubeError as exc:
                if exc.retryable:
                    raise _raise(exc) from None
                message = str(exc)  # the sync will fail with this message too
        diff = compare(obj, live, predicted, ignore=input.ignore_differences)
        if diff.unified:
            diffs[str(key)] = diff.unified
        health = _health(live) if live is not None else HealthStatus(status=HealthCode.MISSING)
        return ResourceStatus(
            key=key, api_version=obj["apiVersion"],
            sync=SyncCode.OUT_OF_SYNC if message else diff.sync,
            health=health.status if health else None, health_message=health.message if health else "",
            changed_paths=list(diff.changed_paths[:20]), message=message,
        )

    def _prune_candidates(self, client: KubeClient, input: CompareInput, desired: list[Manifest],
                          desired_keys: set[ResourceKey]) -> list[Manifest]:
        selector = f"{TRACKING_LABEL}={tracking_label_value(input.app)}"
        kinds = {f"{o['apiVersion']}/{o['kind']}" for o in desired} | set(input.known_kinds)
        found: dict[ResourceKey, Manifest] = {}
        for api_kind in sorted(kinds):
            api_version, _, kind = api_kind.rpartition("/")
            try:
                items = client.list(api_version, kind, label_selector=selector)
            except UnknownKind:
                continue
            except KubeError as exc:
                raise _raise(exc) from None
            for item in items:
                key = ResourceKey.of(item)
                if key not in desired_keys and is_tracked_by(item, input.app) and not _owned(item):
                    found[key] = item
        return [found[k] for k in sorted(found, key=str)]

    # ------------------------------------------------------------------ apply

    @activity.defn(name="apply")
    def apply(self, input: ApplyInput) -> ApplyResult:
        client = self._client(input.destination)
        desired = self._permitted_desired(client, input.app, input.manifests_digest, input.destination,
                                          input.project, input.repo_urls)
        by_key = {_plan_key(o): o for o in desired}
        if input.sync_options.get("CreateNamespace", "").lower() == "true" and input.destination.namespace:
            self._ensure_namespace(client, input.destination.namespace, input.namespace_metadata,
                                   dry_run=input.dry_run)
        def apply_one(key: ResourceKey) -> ResourceResult:
            obj = by_key.get(key)
            if obj is None:
                return ResourceResult(key=key, status="failed", message="not in the rendered manifests")
            try:
                if is_hook(obj):
                    return self._apply_hook(client, obj, input)
                live = client.get(obj)
                shared = _shared_with(live, input.app)
                if shared and input.sync_options.get("FailOnSharedResource", "").lower() == "true":
                    return ResourceResult(key=key, status="failed",
                                          message=f"shared resource: already managed by app {shared}")
                if live is not None and input.ignore_differences and \
                        input.sync_options.get("RespectIgnoreDifferences", "").lower() == "true":
                    obj = keep_live_values(obj, live, matching_rules(as_rules(input.ignore_differences), key))
                self._write(client, obj, live, sync_options(obj, input.sync_options), dry_run=input.dry_run)
            except KubeError as exc:
                if exc.retryable:
                    raise _raise(exc) from None
                return ResourceResult(key=key, status="failed", message=str(exc))
            status = "configured" if live is not None else "created"
            return ResourceResult(key=key, status=status + (" (dry run)" if input.dry_run else ""))

        # Hooks one by one on this thread (they may wait for an old hook to go, heartbeating);
        # the rest of the wave in parallel. Results keep the order of input.keys.
        hooks = [k for k in input.keys if k in by_key and is_hook(by_key[k])]
        by_result = {k: apply_one(k) for k in hooks}
        others = [k for k in input.keys if k not in by_result]
        by_result.update(zip(others, _in_parallel(apply_one, others), strict=True))
        results = [by_result[k] for k in input.keys]
        return ApplyResult(results=results)

    @staticmethod
    def _write(client: KubeClient, obj: Manifest, live: Manifest | None, options: SyncOptions, *,
               dry_run: bool) -> None:
        """Apply one object the way its sync options ask (Replace, Force, Validate)."""
        if options.replace:
            if options.force and live is not None and not dry_run:
                client.delete(live, propagation_policy="Foreground")
                ClusterActivities._wait_gone(client, obj)
            client.replace(obj, dry_run=dry_run)
            return
        try:
            client.apply(obj, dry_run=dry_run, validate=options.validate_schema)
        except KubeError as exc:
            # Force=true: an object that cannot be patched (an immutable field changed)
            # is deleted and created again, as kubectl apply --force does.
            if not (options.force and exc.status == 422 and live is not None and not dry_run):
                raise
            client.delete(live, propagation_policy="Foreground")
            ClusterActivities._wait_gone(client, obj)
            client.apply(obj, validate=options.validate_schema)

    def _apply_hook(self, client: KubeClient, obj: Manifest, input: ApplyInput) -> ResourceResult:
        """Create a hook for this operation attempt, at most once.

        generateName hooks get the attempt's deterministic name; BeforeHookCreation (the
        default) deletes a leftover from another attempt first; a hook this attempt
        already created (the activity is being retried) is left running.
        """
        metadata = obj["metadata"]
        generate_name = not metadata.get("name")
        if generate_name:
            obj = copy.deepcopy(obj)
            obj["metadata"]["name"] = hook_object_name(str(metadata.get("generateName", "")), input.operation)
            obj["metadata"].pop("generateName", None)
            obj = with_tracking(obj, input.app)
        obj["metadata"].setdefault("annotations", {})[OPERATION_ANNOTATION] = input.operation
        key = ResourceKey.of(obj)
        if input.dry_run:
            client.apply(obj, dry_run=True)
            return ResourceResult(key=key, status="created (dry run)", message="hook")
        live = client.get(obj)
        if live is not None:
            if (live["metadata"].get("annotations") or {}).get(OPERATION_ANNOTATION) == input.operation:
                return ResourceResult(key=key, status="unchanged", message="hook already created by this operation")
            if HookDeletePolicy.BEFORE_HOOK_CREATION not in delete_policies(obj):
                client.apply(obj)
                return ResourceResult(key=key, status="configured", message="hook")
            client.delete(live, propagation_policy="Foreground")
            self._wait_gone(client, obj)
        client.apply(obj)
        return ResourceResult(key=key, status="created", message="hook")

    @staticmethod
    def _wait_gone(client: KubeClient, obj: Manifest, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while client.get(obj) is not None:
            if time.monotonic() > deadline:
                raise KubeError(f"{ResourceKey.of(obj).short}: the previous hook was not deleted within "
                                f"{timeout:.0f}s", retryable=True)
            activity.heartbeat(f"waiting for the old {ResourceKey.of(obj).short} to be deleted")
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _ensure_namespace(client: KubeClient, name: str, metadata: dict[str, dict[str, str]], *,
                          dry_run: bool) -> None:
        """CreateNamespace=true: the destination namespace, created if missing (not tracked,
        so pruning the app never deletes it, as in Argo CD), with the labels and annotations
        of ``managedNamespaceMetadata`` kept applied."""
        namespace: Manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for field in ("labels", "annotations"):
            if metadata.get(field):
                namespace["metadata"][field] = dict(metadata[field])
        try:
            if client.get(namespace) is None or metadata:
                client.apply(namespace, dry_run=dry_run)
        except KubeError as exc:
            raise _raise(exc) from None

    # ------------------------------------------------------------------ health

    @activity.defn(name="wait_healthy")
    def wait_healthy(self, input: WaitHealthyInput) -> WaitHealthyResult:
        """Poll until every object is Healthy (or has no health); heartbeats as it goes.

        Degraded seen twice in a row fails at once: a crash-looping Pod will not heal
        by waiting out the timeout.
        """
        client = self._client(input.destination)
        deadline = time.monotonic() + input.timeout_seconds
        degraded_before: set[ResourceKey] = set()
        hooks = set(input.hooks)
        while True:
            statuses = [self._status_of(client, key) for key in input.keys]
            pending = [s for s in statuses if s.health not in (None, HealthCode.HEALTHY)]
            activity.heartbeat(f"{len(statuses) - len(pending)}/{len(statuses)} healthy")
            if not pending:
                return WaitHealthyResult(healthy=True, statuses=statuses)
            vanished = [s for s in pending if s.key in hooks and s.health is HealthCode.MISSING]
            if vanished:
                return WaitHealthyResult(healthy=False, statuses=statuses, message="; ".join(
                    f"hook {s.key.short} disappeared before it was seen to finish "
                    "(deleted, or removed by ttlSecondsAfterFinished)" for s in vanished))
            failed_hooks = [s for s in pending if s.key in hooks and s.health is HealthCode.DEGRADED]
            if failed_hooks:
                return WaitHealthyResult(healthy=False, statuses=statuses,
                                         message="hook failed: " + _unhealthy_message(failed_hooks))
            degraded = {s.key for s in pending if s.health is HealthCode.DEGRADED}
            if degraded & degraded_before:
                return WaitHealthyResult(healthy=False, statuses=statuses,
                                         message=_unhealthy_message(s for s in pending if s.key in degraded))
            degraded_before = degraded
            if time.monotonic() > deadline:
                return WaitHealthyResult(healthy=False, statuses=statuses,
                                         message="timed out waiting for health: " + _unhealthy_message(pending))
            time.sleep(POLL_SECONDS)

    def _status_of(self, client: KubeClient, key: ResourceKey) -> ResourceStatus:
        try:
            live = client.get(_probe(client, key))
        except KubeError as exc:
            if exc.retryable:
                raise _raise(exc) from None
            return ResourceStatus(key=key, health=HealthCode.UNKNOWN, health_message=str(exc))
        if live is None:
            return ResourceStatus(key=key, health=HealthCode.MISSING, health_message="not found")
        health = _health(live)
        return ResourceStatus(key=key, api_version=live.get("apiVersion", ""),
                              health=health.status if health else None,
                              health_message=health.message if health else "")

    # ------------------------------------------------------------------ read live

    @activity.defn(name="read_live")
    def read_live(self, input: ReadLiveInput) -> ReadLiveResult:
        """The app's live objects for ``bosun app manifests --source live``, into the store."""
        client = self._client(input.destination)
        objects: list[Manifest] = []
        for key in input.keys:
            try:
                live = client.get(_probe(client, key))
            except KubeError as exc:
                if exc.retryable:
                    raise _raise(exc) from None
                continue
            if live is not None:
                live.get("metadata", {}).pop("managedFields", None)
                objects.append(mask_secret(live) if live.get("kind") == "Secret" else live)
        return ReadLiveResult(digest=self._store.put_json(objects), count=len(objects))

    # ------------------------------------------------------------------ prune

    @activity.defn(name="prune")
    def prune(self, input: PruneInput) -> PruneResult:
        client = self._client(input.destination)
        policy = {"foreground": "Foreground", "background": "Background", "orphan": "Orphan"}.get(
            input.propagation_policy.lower(), "Foreground")
        results: list[ResourceResult] = []
        for key in input.keys:
            activity.heartbeat(str(key))
            try:
                live = client.get(_probe(client, key))
                if live is None:
                    results.append(ResourceResult(key=key, status="pruned", message="already gone"))
                elif not is_tracked_by(live, input.app):
                    results.append(ResourceResult(key=key, status="skipped",
                                                  message=f"not tracked by app {input.app}: left alone"))
                elif input.deleting_app and not sync_options(live, {}).delete:
                    results.append(ResourceResult(key=key, status="skipped", message="kept: Delete=false"))
                elif input.dry_run:
                    results.append(ResourceResult(key=key, status="pruned (dry run)"))
                else:
                    client.delete(live, propagation_policy=policy)
                    results.append(ResourceResult(key=key, status="pruned"))
            except KubeError as exc:
                if exc.retryable:
                    raise _raise(exc) from None
                results.append(ResourceResult(key=key, status="failed", message=str(exc)))
        return PruneResult(results=results)


def _probe(client: KubeClient, key: ResourceKey) -> Manifest:
    """A minimal object naming ``key``, with the apiVersion the cluster prefers."""
    return {"apiVersion": client.preferred_api_version(key.group, key.kind), "kind": key.kind,
            "metadata": {"name": key.name, "namespace": key.namespace}}


def comparison_result(input: CompareInput, desired: list[Manifest], candidates: list[Manifest],
                      rows: list[ResourceStatus], *, diff_digest: str) -> CompareResult:
    """The app-level result of a comparison: the sync plan, and sync and health rolled up
    as Argo CD does (hooks left out; health without the objects to prune)."""
    try:
        plan = build_plan(desired, candidates, prune=input.prune, app_sync_options=input.sync_options, app=input.app)
    except PlanError as exc:
        raise ApplicationError(str(exc), type="PlanError", non_retryable=True) from None
    counted = [r for r in rows if not r.hook]
    sync = SyncCode.OUT_OF_SYNC if any(r.sync is SyncCode.OUT_OF_SYNC for r in counted) else SyncCode.SYNCED
    overall = app_health(r.health for r in counted if not r.requires_pruning)
    kinds = sorted({f"{o['apiVersion']}/{o['kind']}" for o in desired} | set(input.known_kinds))
    return CompareResult(sync=sync, health=overall, resources=rows, plan=plan, diff_digest=diff_digest, kinds=kinds)


def _in_parallel(fn: Callable[[X], T], objects: list[X]) -> list[T]:
    """``fn`` over ``objects`` on a few threads (the API calls dominate), results in order.

    Heartbeats are sent from the activity's own thread as results arrive. The first
    exception is raised once the others have finished.
    """
    with ThreadPoolExecutor(max_workers=PARALLELISM) as pool:
        futures = [pool.submit(fn, obj) for obj in objects]
        for done, _ in enumerate(as_completed(futures), 1):
            activity.heartbeat(f"{done}/{len(futures)}")
        return [f.result() for f in futures]


def _shared_with(live: Manifest | None, app: str) -> str:
    """The other app whose tracking id this live object carries ("" if none)."""
    if live is None:
        return ""
    value = ((live.get("metadata") or {}).get("annotations") or {}).get(TRACKING_ANNOTATION, "")
    owner = str(value).split(":", 1)[0] if value else ""
    return owner if owner and owner != app else ""


def _plan_key(obj: Manifest) -> ResourceKey:
    """The key the sync plan uses: a generateName hook is keyed by its prefix."""
    key = ResourceKey.of(obj)
    if not key.name:
        key = key.model_copy(update={"name": str((obj.get("metadata") or {}).get("generateName") or "")})
    return key


def _health(live: Manifest) -> HealthStatus | None:
    return assess_health(live)


def _owned(obj: Manifest) -> bool:
    """Created by a controller (e.g. a ReplicaSet of a Deployment): never pruned directly."""
    return bool((obj.get("metadata") or {}).get("ownerReferences"))


def _group(obj: Manifest) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _group_kind(obj: Manifest) -> tuple[str, str]:
    return _group(obj), str(obj.get("kind", ""))


def _unhealthy_message(statuses: Iterable[ResourceStatus]) -> str:
    return "; ".join(f"{s.key.short} is {s.health}: {s.health_message}".rstrip(": ") for s in statuses)
