"""Cluster activities: compare desired with live, apply a wave, wait for health, prune.

Every activity re-reads what it needs (manifests from the store by digest, live
objects from the API server), so a retry after a crash does the right thing: applies
are server-side applies (idempotent), prunes re-check the tracking id first.

Failures: an object the API server rejects is reported per resource (the workflow
fails the operation with the server's message); a cluster that is unreachable or
answers 5xx raises a retryable error, so Temporal retries the activity.
"""

from __future__ import annotations

import contextvars
import copy
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from itertools import groupby
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
    RenderInput,
    ResourceResult,
    ResourceStatus,
    WaitHealthyInput,
    WaitHealthyResult,
)
from activities.heartbeat import heartbeats
from activities.jq_runner import default_runner
from activities.kube import ClusterRegistry, KubeClient, KubeError, UnknownKind
from activities.livecache import LiveCache, Lru, strip
from activities.livecache import digest as object_digest
from activities.projects import ProjectReader
from activities.settings import SettingsReader, SettingsUnavailable
from activities.store import ContentStore, StoreMiss
from bosun import metrics
from bosun.appnames import instance_name
from bosun.compare_options import CompareOptionError
from bosun.crds import DefinedKind, defined_kind, defined_kinds, is_crd, is_established
from bosun.diff import compare, mask_secret
from bosun.diff.ignore import IgnoreRuleError, as_rules, keep_live_values, matching_rules
from bosun.health import app_health, assess_health
from bosun.health.custom import settings_health
from bosun.hooks import OPERATION_ANNOTATION, hook_object_name
from bosun.manifests import set_default_namespace
from bosun.operation import ResultStatus
from bosun.plan import (
    HookDeletePolicy,
    PlanError,
    build_plan,
    compare_options,
    delete_policies,
    is_hook,
    plan_key,
    sync_options,
)
from bosun.projects import project_violations
from bosun.resources import HealthCode, HealthStatus, Manifest, ResourceKey, SyncCode, group_kind
from bosun.settings import DEFAULT_SETTINGS, Settings, SettingsError
from bosun.sync_options import SyncOptionError, SyncOptions
from bosun.tracking import TrackingConfig, align_tracking, apply_tracking, is_tracked_by, tracked_app

PARALLELISM = 8
"""Objects compared or applied at once within one activity (gitops-engine applies a wave in parallel too)."""
T = TypeVar("T")
X = TypeVar("X")
POLL_SECONDS = 1.0
CRD_READY_SECONDS = 60.0
"""How long an apply waits for a CRD it created to be served before it applies objects of its kind."""
EXCLUDED_MESSAGE = "excluded in the settings (resource.exclusions / resource.inclusions): left alone"
DRY_RUN_MEMO_ENTRIES = 50_000
"""Dry-run results kept (one per object and live version; stripped, a few KB each at most)."""
COMPARE_MEMO_ENTRIES = 10_000
"""Apps whose last compare result is kept (one result each)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Target:
    """What compare and apply start from (:meth:`ClusterActivities._target`)."""

    client: KubeClient
    settings: Settings
    tracking: TrackingConfig
    desired: list[Manifest]
    """The rendered objects as they will be applied, that the project allows."""
    excluded: list[Manifest]
    """Rendered objects of kinds the settings exclude: never applied."""


def _refuse_delete_unless(owned: bool, obj: Manifest, why: str) -> None:
    """A KubeError (the resource fails, the sync reports it) instead of deleting a live object
    the app does not track: a same-named object of another app, or of nobody, is never deleted."""
    if not owned:
        raise KubeError(
            f"{ResourceKey.of(obj).short}: not deleted to {why}: the live object is not tracked by this app",
            retryable=False,
        )


def _raise(exc: KubeError) -> ApplicationError:
    return ApplicationError(str(exc), type="KubeError", non_retryable=not exc.retryable)


class ClusterActivities:
    def __init__(
        self,
        *,
        clusters: ClusterRegistry,
        store: ContentStore,
        projects: ProjectReader | None = None,
        settings: SettingsReader | None = None,
        rerender: Callable[[RenderInput], str] | None = None,
    ) -> None:
        self._clusters = clusters
        self._store = store
        self._rerender = rerender
        """Renders a recipe into this worker's store, returning the digest (``SourceActivities.render_again``)."""
        self._projects = projects
        self._settings_reader = settings
        self._dry_runs: Lru[tuple[str, str, str, str], Manifest] = Lru(DRY_RUN_MEMO_ENTRIES)
        """(cluster, desired digest, live uid, live resourceVersion) → the dry run's predicted object."""
        self._compares: Lru[tuple[str, str], tuple[str, CompareResult, dict[str, str]]] = Lru(COMPARE_MEMO_ENTRIES)
        """(cluster, app) → the :func:`_compare_key`, result and diffs of the app's last compare."""

    def _settings(self) -> Settings:
        """Argo CD's settings (argocd-cm) as they are now; defaults without a management cluster."""
        if self._settings_reader is None:
            return DEFAULT_SETTINGS
        try:
            return self._settings_reader.read()
        except SettingsError as exc:
            raise ApplicationError(str(exc), type="InvalidSettings", non_retryable=True) from None
        except SettingsUnavailable as exc:
            raise ApplicationError(str(exc), type="SettingsUnavailable", non_retryable=not exc.retryable) from None

    def current_settings(self) -> Settings:
        """Argo CD's settings now, for activities outside this class (orphaned resources)."""
        return self._settings()

    def _excluded(self, settings: Settings, destination: Destination) -> Callable[[ResourceKey], bool]:
        """``resource.exclusions`` / ``resource.inclusions`` for this destination cluster."""
        if not settings.exclusions and not settings.inclusions:
            return lambda key: settings.is_excluded(key.group, key.kind)  # only the core exclusions
        try:
            server = destination.server or self._clusters.resolve(destination).server
        except KubeError:
            server = destination.server
        return lambda key: settings.is_excluded(key.group, key.kind, server)

    def _check_project(
        self, project: str, repo_urls: list[str], destination: Destination, desired: list[Manifest]
    ) -> None:
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
                spec,
                repo_urls=repo_urls,
                server=server,
                name=name,
                namespace=destination.namespace,
                objects=[(o, bool(o["metadata"].get("namespace"))) for o in desired],
            )
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            raise ApplicationError(shown, type="ProjectViolation", non_retryable=True)

    # ------------------------------------------------------------------ helpers

    def _client(self, destination: Destination) -> KubeClient:
        try:
            return self._clusters.client(destination)
        except KubeError as exc:
            raise _raise(exc) from None

    def manifests(
        self, digest: str, recipe: RenderInput | None, *, before_render: Callable[[], None] | None = None
    ) -> list[Manifest]:
        """The rendered objects of ``digest``, rendered again from ``recipe`` if this worker's
        store misses them (a compare on another worker, or an evicted blob). ``before_render``
        runs first in that case only: what must hold before the sources are fetched."""
        rerender = self._rerender

        def render_again(recipe: RenderInput, rerender: Callable[[RenderInput], str]) -> str:
            if before_render is not None:
                before_render()
            return rerender(recipe)

        recompute = None if recipe is None or rerender is None else (lambda: render_again(recipe, rerender))
        try:
            objects: list[Manifest] = self._store.get_json_or(digest, recompute)
        except StoreMiss as exc:
            raise ApplicationError(str(exc), type="StoreMiss", non_retryable=True) from None
        return objects

    def _desired(
        self,
        client: KubeClient,
        app: str,
        digest: str,
        namespace: str,
        tracking: TrackingConfig,
        recipe: RenderInput | None = None,
        *,
        before_render: Callable[[], None] | None = None,
    ) -> list[Manifest]:
        """Rendered objects as they will be applied: namespaced and tracked.

        An object of a kind the cluster does not serve yet, whose CRD is in the same sync,
        is namespaced as that CRD's ``scope`` says, so the sync can plan and apply both.
        """
        rendered = self.manifests(digest, recipe, before_render=before_render)
        crd_kinds = defined_kinds(rendered)
        objects: list[Manifest] = []
        for obj in rendered:
            namespaced = _namespaced(client, obj, crd_kinds)
            obj = set_default_namespace(obj, namespace or "default", namespaced=namespaced)
            objects.append(apply_tracking(obj, app, tracking, namespace=namespace))
        return objects

    def _target(self, input: CompareInput | ApplyInput) -> _Target:
        """What a compare or an apply of ``input`` starts from: the destination's client, the
        settings now, and the desired objects (see :meth:`_desired`) once the app's project
        allows them.

        Objects of kinds the settings exclude are left out (into ``excluded``) before the
        project is asked, as Argo CD drops them from the targets first. A render this worker
        misses fetches the sources: sources and destination are checked before it."""
        client = self._client(input.destination)
        settings = self._settings()
        tracking = _tracking_config(settings)
        try:
            desired = self._desired(
                client,
                input.app,
                input.manifests_digest,
                input.destination.namespace,
                tracking,
                input.render,
                before_render=lambda: self._check_project(input.project, input.repo_urls, input.destination, []),
            )
        except KubeError as exc:
            raise _raise(exc) from None
        is_excluded = self._excluded(settings, input.destination)
        kept = [o for o in desired if not is_excluded(ResourceKey.of(o))]
        excluded = [o for o in desired if is_excluded(ResourceKey.of(o))]
        self._check_project(input.project, input.repo_urls, input.destination, kept)
        return _Target(client=client, settings=settings, tracking=tracking, desired=kept, excluded=excluded)

    def _key_now(self, target: _Target, input: CompareInput) -> tuple[CompareInput, LiveCache | None, str | None]:
        """The input as the compare lists it (excluded kinds are never listed, so never tracked
        nor pruned), the live cache it may read, and its :func:`_compare_key` now (None: the
        cache cannot tell)."""
        is_excluded = self._excluded(target.settings, input.destination)
        listed = input.model_copy(
            update={"known_kinds": [k for k in input.known_kinds if not is_excluded(_api_kind_key(k))]}
        )
        cache = _usable_cache(target.client, input, target.settings, target.tracking)
        if cache is None:
            return listed, None, None
        return listed, cache, _compare_key(cache, listed, target.settings, target.tracking, target.desired)

    def unchanged_since(self, input: CompareInput, key: str) -> str:
        """ "" when a compare of ``input`` now would have ``key`` (nothing it depends on
        changed), else why it may not be skipped. Logged as a compare with its API calls."""
        client = self._client(input.destination)
        calls_before = client.api_calls
        target = self._target(input)
        now = self._key_now(target, input)[2]
        if now is None:
            return "the live cache cannot tell yet"
        if now != key:
            return "live objects or settings changed"
        _log_compare(input.app, len(target.desired), client.api_calls - calls_before, "unchanged: checked")
        return ""

    # ------------------------------------------------------------------ compare

    @activity.defn(name="compare")
    @heartbeats
    @metrics.timed_reconcile
    def compare(self, input: CompareInput) -> CompareResult:
        """Desired against live. Live objects come from the cluster's watch cache where it
        is synced (:mod:`activities.livecache`), dry runs are memoised per object and live
        version, and a compare whose inputs and live objects are all unchanged since the
        last one returns that result without any work (see :func:`_compare_key`)."""
        target = self._target(input)
        client, settings, tracking, desired = target.client, target.settings, target.tracking, target.desired
        calls_before = client.api_calls
        diffs: dict[str, str] = {}
        desired_keys = {ResourceKey.of(o) for o in desired}
        listed, cache, key = self._key_now(target, input)
        remembered = self._compares.get((client.name, input.app)) if key is not None else None
        if remembered is not None and remembered[0] == key:
            result = remembered[1].model_copy(deep=True)
            result.diff_digest = self._store.put_json(remembered[2])  # the store may have evicted it
            _log_compare(input.app, len(desired), client.api_calls - calls_before, "unchanged: last result")
            return result

        def compare_one(obj: Manifest) -> ResourceStatus:
            if is_hook(obj):
                return ResourceStatus(
                    key=ResourceKey.of(obj), api_version=obj["apiVersion"], hook=True, sync=SyncCode.SYNCED
                )
            return self._compare_one(client, obj, input, diffs, tracking, settings=settings, cache=cache)

        rows = _in_parallel(compare_one, desired)
        candidates = self._prune_candidates(client, listed, desired, desired_keys, tracking, cache=cache)
        rows += [_extraneous_status(live, settings) for live in candidates]
        result = comparison_result(
            listed, desired, candidates, rows, diff_digest=self._store.put_json(diffs), tracking=tracking
        )
        result.warnings = settings_warnings(settings, desired, target.excluded)
        result.refresh_seconds = settings.reconciliation_seconds
        # Remembered only if nothing changed while it ran (else the key would not describe it).
        if key is not None and cache is not None and key == _compare_key(cache, listed, settings, tracking, desired):
            result.key = key
            self._compares.put((client.name, input.app), (key, result.model_copy(deep=True), dict(diffs)))
        _log_compare(input.app, len(desired), client.api_calls - calls_before, "compared")
        return result

    def _compare_one(
        self,
        client: KubeClient,
        obj: Manifest,
        input: CompareInput,
        diffs: dict[str, str],
        tracking: TrackingConfig,
        *,
        settings: Settings = DEFAULT_SETTINGS,
        cache: LiveCache | None = None,
    ) -> ResourceStatus:
        key = ResourceKey.of(obj)
        try:
            live = client.cached_get(obj) if cache is not None else client.get(obj)
        except UnknownKind as exc:
            return ResourceStatus(
                key=key,
                api_version=obj["apiVersion"],
                sync=SyncCode.OUT_OF_SYNC,
                health=HealthCode.MISSING,
                message=str(exc),
            )
        except KubeError as exc:
            raise _raise(exc) from None
        predicted = None
        message = ""
        if live is not None:
            try:
                predicted = self._dry_run(client, obj, live)
            except KubeError as exc:
                if exc.retryable:
                    raise _raise(exc) from None
                message = str(exc)  # the sync will fail with this message too
        # Tracking written by an older scheme for this same app is no difference (Argo CD's
        # resourceTracking.Normalize); the next apply rewrites it.
        aligned = align_tracking(live, predicted or obj, input.app, tracking) if live is not None else None
        try:
            diff = compare(
                obj,
                aligned,
                predicted,
                ignore=[*input.ignore_differences, *settings.ignore_differences()],
                options=settings.normalize_options(),
                jq=default_runner(),
            )
        except IgnoreRuleError as exc:  # a jqPathExpression past its budget: no diff can be trusted
            raise ApplicationError(
                f"ignoreDifferences: {exc}", type="IgnoreDifferencesError", non_retryable=True
            ) from None
        if diff.unified:
            diffs[str(key)] = diff.unified
        health = _health(live, settings) if live is not None else HealthStatus(status=HealthCode.MISSING)
        return ResourceStatus(
            key=key,
            api_version=obj["apiVersion"],
            sync=SyncCode.OUT_OF_SYNC if message else diff.sync,
            health=health.status if health else None,
            health_message=health.message if health else "",
            changed_paths=list(diff.changed_paths[:20]),
            message=message,
        )

    def _dry_run(self, client: KubeClient, obj: Manifest, live: Manifest) -> Manifest:
        """The server-side dry-run apply of ``obj`` over ``live``, asked of the server only
        when this object's desired or live state changed since the last one."""
        meta = live.get("metadata") or {}
        version = str(meta.get("resourceVersion") or "")
        if not version:
            return client.apply(obj, dry_run=True)
        memo_key = (client.name, object_digest(obj), str(meta.get("uid") or ""), version)
        remembered = self._dry_runs.get(memo_key)
        if remembered is None:
            remembered = strip(client.apply(obj, dry_run=True))  # the diff reads only live's managedFields
            self._dry_runs.put(memo_key, remembered)
        return copy.deepcopy(remembered)

    def _prune_candidates(
        self,
        client: KubeClient,
        input: CompareInput,
        desired: list[Manifest],
        desired_keys: set[ResourceKey],
        tracking: TrackingConfig,
        *,
        cache: LiveCache | None = None,
    ) -> list[Manifest]:
        """The app's live objects that Git no longer holds. From the cluster's watch cache when
        it is synced for the kind; else with the label method the API server selects them by
        label, and with an annotation method every object of each kind is listed and its
        tracking id read (Argo CD reads them from its cluster cache)."""
        selector = tracking.label_selector(input.app)
        found: dict[ResourceKey, Manifest] = {}
        for api_kind in _api_kinds(desired, input.known_kinds):
            api_version, kind = _split_api_kind(api_kind)
            try:
                items = cache.list(api_version, kind, owner=instance_name(input.app)) if cache is not None else None
                if items is None:
                    items = _list_where_permitted(client, api_version, kind, selector, desired, input.destination)
            except UnknownKind:
                continue
            except KubeError as exc:
                raise _raise(exc) from None
            for item in items:
                key = ResourceKey.of(item)
                if key not in desired_keys and is_tracked_by(item, input.app, tracking) and not _owned(item):
                    found[key] = item
        return [found[k] for k in sorted(found, key=str)]

    # ------------------------------------------------------------------ apply

    @activity.defn(name="apply")
    @heartbeats
    def apply(self, input: ApplyInput) -> ApplyResult:
        target = self._target(input)
        client, settings, tracking, desired = target.client, target.settings, target.tracking, target.desired
        excluded_keys = {plan_key(o) for o in target.excluded}
        ignore_rules = as_rules([*input.ignore_differences, *settings.ignore_differences()])
        by_key = {plan_key(o): o for o in desired}
        crd_kinds = defined_kinds(desired)
        app_options = SyncOptions.from_map(input.sync_options)
        if app_options.create_namespace and input.destination.namespace:
            self._ensure_namespace(client, input.destination.namespace, input.namespace_metadata, dry_run=input.dry_run)

        def apply_one(key: ResourceKey) -> ResourceResult:
            obj = by_key.get(key)
            if obj is None and key in excluded_keys:
                return ResourceResult(key=key, status=ResultStatus.SKIPPED, message=EXCLUDED_MESSAGE)
            if obj is None:
                return ResourceResult(key=key, status=ResultStatus.FAILED, message="not in the rendered manifests")
            try:
                options = sync_options(obj, input.sync_options)
                delete_policies(obj)  # read again by _apply_hook: refuse a bad one before any write
            except (SyncOptionError, PlanError) as exc:
                return ResourceResult(key=key, status=ResultStatus.FAILED, message=f"not applied: {exc}")
            try:
                if is_hook(obj):
                    return self._apply_hook(client, obj, input, tracking)
                live = client.get(obj)
                shared = _shared_with(live, input.app, tracking)
                if shared and app_options.fail_on_shared_resource:
                    return ResourceResult(
                        key=key, status=ResultStatus.FAILED, message=f"shared resource: already managed by app {shared}"
                    )
                if live is not None and ignore_rules and app_options.respect_ignore_differences:
                    try:
                        obj = keep_live_values(obj, live, matching_rules(ignore_rules, key), jq=default_runner())
                    except IgnoreRuleError as exc:
                        return ResourceResult(key=key, status=ResultStatus.FAILED, message=f"not applied: {exc}")
                owned = live is None or is_tracked_by(live, input.app, tracking)
                self._write(client, obj, live, options, dry_run=input.dry_run, may_delete=owned)
            except KubeError as exc:
                if exc.retryable:
                    raise _raise(exc) from None
                if input.dry_run and _dry_run_skipped(obj, exc, crd_kinds, options):
                    return ResourceResult(
                        key=key, status=ResultStatus.SKIPPED, dry_run=True, message=f"not validated: {exc}"
                    )
                return ResourceResult(key=key, status=ResultStatus.FAILED, message=str(exc))
            status = ResultStatus.CONFIGURED if live is not None else ResultStatus.CREATED
            return ResourceResult(key=key, status=status, dry_run=input.dry_run)

        # As gitops-engine's runTasks: kind after kind, in plan order (Namespaces and CRDs
        # come first), the objects of one kind in parallel; a CRD's kind is served before
        # anything after it is applied (its ensureCRDReady). Hooks run one by one on this
        # thread (they may wait for an old hook to go, heartbeating). Results keep the order
        # of input.keys.
        by_result: dict[ResourceKey, ResourceResult] = {}
        for same_kind in _kind_runs(input.keys):
            hooks = [k for k in same_kind if k in by_key and is_hook(by_key[k])]
            by_result.update((k, apply_one(k)) for k in hooks)
            others = [k for k in same_kind if k not in by_result]
            by_result.update(zip(others, _in_parallel(apply_one, others), strict=True))
            crds = [by_key[k] for k in others if k in by_key and is_crd(by_key[k]) and by_result[k].status != "failed"]
            if crds and not input.dry_run:
                self._wait_until_served(client, crds)
        results = [by_result[k] for k in input.keys]
        return ApplyResult(results=results)

    @staticmethod
    def _write(
        client: KubeClient,
        obj: Manifest,
        live: Manifest | None,
        options: SyncOptions,
        *,
        dry_run: bool,
        may_delete: bool = False,
    ) -> None:
        """Apply one object the way its sync options ask (Replace, Force, Validate). Force
        deletes the live object first only if ``may_delete`` (the app tracks it): Bosun never
        deletes what is not its own."""
        if options.replace:
            if options.force and live is not None and not dry_run:
                _refuse_delete_unless(may_delete, obj, "replace it (Replace=true,Force=true)")
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
            _refuse_delete_unless(may_delete, obj, "re-create it (Force=true)")
            client.delete(live, propagation_policy="Foreground")
            ClusterActivities._wait_gone(client, obj)
            client.apply(obj, validate=options.validate_schema)

    def _apply_hook(
        self, client: KubeClient, obj: Manifest, input: ApplyInput, tracking: TrackingConfig
    ) -> ResourceResult:
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
            obj = apply_tracking(obj, input.app, tracking, namespace=input.destination.namespace)
        obj["metadata"].setdefault("annotations", {})[OPERATION_ANNOTATION] = input.operation
        key = ResourceKey.of(obj)
        if input.dry_run:
            client.apply(obj, dry_run=True)
            return ResourceResult(key=key, status=ResultStatus.CREATED, dry_run=True, message="hook")
        live = client.get(obj)
        if live is not None:
            if (live["metadata"].get("annotations") or {}).get(OPERATION_ANNOTATION) == input.operation:
                return ResourceResult(
                    key=key, status=ResultStatus.UNCHANGED, message="hook already created by this operation"
                )
            if HookDeletePolicy.BEFORE_HOOK_CREATION not in delete_policies(obj):
                client.apply(obj)
                return ResourceResult(key=key, status=ResultStatus.CONFIGURED, message="hook")
            _refuse_delete_unless(
                is_tracked_by(live, input.app, tracking), obj, "create the hook again (BeforeHookCreation)"
            )
            client.delete(live, propagation_policy="Foreground")
            self._wait_gone(client, obj)
        client.apply(obj)
        return ResourceResult(key=key, status=ResultStatus.CREATED, message="hook")

    @staticmethod
    def _wait_until_served(client: KubeClient, crds: list[Manifest], timeout: float = CRD_READY_SECONDS) -> None:
        """Wait until the cluster serves the kind of each CRD (Established, and listed by
        discovery), so that objects of those kinds can be applied next. A kind not served in
        time is left for the applies of its objects to report, as gitops-engine does."""
        deadline = time.monotonic() + timeout
        pending = crds
        while True:
            try:
                pending = [crd for crd in pending if not _served(client, crd)]
            except KubeError as exc:
                raise _raise(exc) from None
            if not pending or time.monotonic() > deadline:
                return
            activity.heartbeat(
                "waiting until the cluster serves " + ", ".join(ResourceKey.of(crd).name for crd in pending)
            )
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _wait_gone(client: KubeClient, obj: Manifest, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while client.get(obj) is not None:
            if time.monotonic() > deadline:
                raise KubeError(
                    f"{ResourceKey.of(obj).short}: the previous hook was not deleted within {timeout:.0f}s",
                    retryable=True,
                )
            activity.heartbeat(f"waiting for the old {ResourceKey.of(obj).short} to be deleted")
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _ensure_namespace(client: KubeClient, name: str, metadata: dict[str, dict[str, str]], *, dry_run: bool) -> None:
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
            settings = self._settings()
            is_excluded = self._excluded(settings, input.destination)
            statuses = [self._status_of(client, key, settings) for key in input.keys if not is_excluded(key)]
            pending = [s for s in statuses if s.health not in (None, HealthCode.HEALTHY)]
            activity.heartbeat(f"{len(statuses) - len(pending)}/{len(statuses)} healthy")
            if not pending:
                return WaitHealthyResult(healthy=True, statuses=statuses)
            vanished = [s for s in pending if s.key in hooks and s.health is HealthCode.MISSING]
            if vanished:
                return WaitHealthyResult(
                    healthy=False,
                    statuses=statuses,
                    message="; ".join(
                        f"hook {s.key.short} disappeared before it was seen to finish "
                        "(deleted, or removed by ttlSecondsAfterFinished)"
                        for s in vanished
                    ),
                )
            failed_hooks = [s for s in pending if s.key in hooks and s.health is HealthCode.DEGRADED]
            if failed_hooks:
                return WaitHealthyResult(
                    healthy=False, statuses=statuses, message="hook failed: " + _unhealthy_message(failed_hooks)
                )
            degraded = {s.key for s in pending if s.health is HealthCode.DEGRADED}
            if degraded & degraded_before:
                return WaitHealthyResult(
                    healthy=False,
                    statuses=statuses,
                    message=_unhealthy_message(s for s in pending if s.key in degraded),
                )
            degraded_before = degraded
            if time.monotonic() > deadline:
                return WaitHealthyResult(
                    healthy=False,
                    statuses=statuses,
                    message="timed out waiting for health: " + _unhealthy_message(pending),
                )
            time.sleep(POLL_SECONDS)

    def _status_of(self, client: KubeClient, key: ResourceKey, settings: Settings = DEFAULT_SETTINGS) -> ResourceStatus:
        try:
            live = client.get(_probe(client, key))
        except KubeError as exc:
            if exc.retryable:
                raise _raise(exc) from None
            return ResourceStatus(key=key, health=HealthCode.UNKNOWN, health_message=str(exc))
        if live is None:
            return ResourceStatus(key=key, health=HealthCode.MISSING, health_message="not found")
        health = _health(live, settings)
        return ResourceStatus(
            key=key,
            api_version=live.get("apiVersion", ""),
            health=health.status if health else None,
            health_message=health.message if health else "",
        )

    # ------------------------------------------------------------------ read live

    @activity.defn(name="read_live")
    def read_live(self, input: ReadLiveInput) -> ReadLiveResult:
        """The app's live objects for ``bosun app manifests --source live``, into the store."""
        objects = self.live_objects(input)
        return ReadLiveResult(digest=self._store.put_json(objects), count=len(objects))

    def live_objects(self, input: ReadLiveInput) -> list[Manifest]:
        """The live objects of ``input.keys`` that exist (Secrets masked, managedFields dropped)."""
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
                objects.append(mask_secret(live))  # other kinds come back unchanged
        return objects

    # ------------------------------------------------------------------ prune

    @activity.defn(name="prune")
    @heartbeats
    def prune(self, input: PruneInput) -> PruneResult:
        client = self._client(input.destination)
        settings = self._settings()
        tracking = _tracking_config(settings)
        policy = {"foreground": "Foreground", "background": "Background", "orphan": "Orphan"}.get(
            input.propagation_policy.lower(), "Foreground"
        )
        results: list[ResourceResult] = []
        is_excluded = self._excluded(settings, input.destination)
        for key in input.keys:
            activity.heartbeat(str(key))
            if is_excluded(key):
                results.append(ResourceResult(key=key, status=ResultStatus.SKIPPED, message=EXCLUDED_MESSAGE))
                continue
            try:
                live = client.get(_probe(client, key))
                if live is None:
                    results.append(ResourceResult(key=key, status=ResultStatus.PRUNED, message="already gone"))
                elif not is_tracked_by(live, input.app, tracking):
                    results.append(
                        ResourceResult(
                            key=key, status=ResultStatus.SKIPPED, message=f"not tracked by app {input.app}: left alone"
                        )
                    )
                elif input.deleting_app and (kept := _kept_on_app_deletion(live)):
                    results.append(ResourceResult(key=key, status=ResultStatus.SKIPPED, message=kept))
                elif input.dry_run:
                    results.append(ResourceResult(key=key, status=ResultStatus.PRUNED, dry_run=True))
                else:
                    client.delete(live, propagation_policy=policy)
                    results.append(ResourceResult(key=key, status=ResultStatus.PRUNED))
            except KubeError as exc:
                if exc.retryable:
                    raise _raise(exc) from None
                results.append(ResourceResult(key=key, status=ResultStatus.FAILED, message=str(exc)))
        return PruneResult(results=results)


def _usable_cache(
    client: KubeClient, input: CompareInput, settings: Settings, tracking: TrackingConfig
) -> LiveCache | None:
    """The cluster's watch cache, if this compare may read it: not when an ignore rule needs
    the live objects' ``managedFields`` (the cache drops them), nor with the label method on a
    label key the cache does not keep objects by."""
    cache = client.live
    if cache is None:
        return None
    rules = [*input.ignore_differences, *settings.ignore_differences()]
    if any(rule.get("managedFieldsManagers") for rule in rules):
        return None
    if not tracking.uses_annotation and tracking.label_key not in cache.label_keys:
        return None
    return cache


def _compare_key(
    cache: LiveCache, input: CompareInput, settings: Settings, tracking: TrackingConfig, desired: list[Manifest]
) -> str | None:
    """What a compare's result depends on: its input (manifests digest, destination, project,
    ignore rules, options, known kinds), the settings, and the resourceVersion of every live
    object it reads — the desired objects and the objects of its kinds the app tracks. None
    when the cache cannot say for one of them (then the compare runs)."""
    live: list[tuple[str, str]] = []
    for obj in desired:
        version = cache.version(obj)
        if version is None:
            return None
        live.append((str(ResourceKey.of(obj)), version))
    for api_kind in _api_kinds(desired, input.known_kinds):
        api_version, kind = _split_api_kind(api_kind)
        versions = cache.versions(
            api_version, kind, owned=lambda o: is_tracked_by(o, input.app, tracking), owner=instance_name(input.app)
        )
        if versions is None:
            return None
        live += [(f"{api_kind}:{ns}/{name}", version) for (ns, name), version in sorted(versions.items())]
    document = [input.model_dump_json(), repr(settings), repr(tracking), live]
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()


def _log_compare(app: str, objects: int, calls: int, how: str) -> None:
    """One line per compare: what it cost in API requests (counted on the destination's
    client, so requests made meanwhile by other compares of the same cluster count too)."""
    log.info("compare %s: %s, %d objects, %d API calls", app, how, objects, calls)


def _probe(client: KubeClient, key: ResourceKey) -> Manifest:
    """A minimal object naming ``key``, with the apiVersion the cluster prefers."""
    return {
        "apiVersion": client.preferred_api_version(key.group, key.kind),
        "kind": key.kind,
        "metadata": {"name": key.name, "namespace": key.namespace},
    }


def comparison_result(
    input: CompareInput,
    desired: list[Manifest],
    candidates: list[Manifest],
    rows: list[ResourceStatus],
    *,
    diff_digest: str,
    tracking: TrackingConfig | None = None,
) -> CompareResult:
    """The app-level result of a comparison: the sync plan, and sync and health rolled up
    as Argo CD does (hooks left out; health without the objects to prune)."""
    try:
        plan = build_plan(
            desired,
            candidates,
            prune=input.prune,
            app_sync_options=input.sync_options,
            app=input.app,
            tracking=tracking,
        )
    except PlanError as exc:
        raise ApplicationError(str(exc), type="PlanError", non_retryable=True) from None
    counted = [r for r in rows if not r.hook]
    sync = SyncCode.OUT_OF_SYNC if any(r.sync is SyncCode.OUT_OF_SYNC for r in counted) else SyncCode.SYNCED
    overall = app_health(r.health for r in counted if not r.requires_pruning)
    return CompareResult(
        sync=sync,
        health=overall,
        resources=rows,
        plan=plan,
        diff_digest=diff_digest,
        kinds=_api_kinds(desired, input.known_kinds),
    )


def _in_parallel(fn: Callable[[X], T], objects: list[X]) -> list[T]:
    """``fn`` over ``objects`` on a few threads (the API calls dominate), results in order.

    Heartbeats are sent from the activity's own thread as results arrive. The first
    exception is raised once the others have finished. The threads run in the activity's context,
    so the Kubernetes requests they make are counted for its app (``activities/kubeaccess.py``).
    """
    with ThreadPoolExecutor(max_workers=PARALLELISM) as pool:
        futures = [pool.submit(contextvars.copy_context().run, fn, obj) for obj in objects]
        for done, _ in enumerate(as_completed(futures), 1):
            activity.heartbeat(f"{done}/{len(futures)}")
        return [f.result() for f in futures]


def _shared_with(live: Manifest | None, app: str, tracking: TrackingConfig) -> str:
    """The other app this live object is tracked for ("" if none)."""
    owner = tracked_app(live, tracking) if live is not None else None
    return owner if owner and owner != app else ""


def _kind_runs(keys: list[ResourceKey]) -> list[list[ResourceKey]]:
    """``keys`` cut into runs of consecutive keys of one kind, in order."""
    return [list(run) for _, run in groupby(keys, key=lambda k: (k.group, k.kind))]


def _health(live: Manifest, settings: Settings = DEFAULT_SETTINGS) -> HealthStatus | None:
    """Argo CD's health, a custom (Lua) check from the settings first."""
    return assess_health(live, override=settings_health(settings))


def settings_warnings(settings: Settings, desired: list[Manifest], excluded: list[Manifest]) -> dict[str, str]:
    """App conditions the settings cause: excluded resources in Git (Argo CD's
    ExcludedResourceWarning) and settings of the app's kinds Bosun does not act on."""
    warnings: dict[str, str] = {}
    if excluded:
        warnings["ExcludedResourceWarning"] = "; ".join(
            f"Resource {k.group}/{k.kind} {k.name} is excluded in the settings"
            for k in sorted({plan_key(o) for o in excluded}, key=str)
        )
    kinds = sorted({(k.group, k.kind) for k in (ResourceKey.of(o) for o in desired)})
    unsupported = [w for g, k in kinds for w in settings.kind_warnings(g, k)]
    if unsupported:
        warnings["SettingsWarning"] = "; ".join(unsupported)
    return warnings


def _list_where_permitted(
    client: KubeClient,
    api_version: str,
    kind: str,
    selector: str,
    desired: list[Manifest],
    destination: Destination,
) -> list[Manifest]:
    """The objects of a kind (matching ``selector``) across the cluster; when Bosun may not
    list them cluster-wide (403: a namespaced install, Roles only, as Argo CD's
    namespace-install), in each namespace the app deploys to, whose refusal then names it."""
    try:
        return client.list(api_version, kind, label_selector=selector)
    except KubeError as exc:
        if exc.status != 403 or not client.namespaced(api_version, kind):
            raise
    namespaces = sorted(({o["metadata"].get("namespace") or "" for o in desired} | {destination.namespace}) - {""})
    return [item for ns in namespaces for item in client.list(api_version, kind, label_selector=selector, namespace=ns)]


def _api_kinds(desired: list[Manifest], known: Iterable[str]) -> list[str]:
    """``apiVersion/Kind`` of the desired objects and of the kinds the app deployed before,
    sorted (``CompareInput.known_kinds``, ``CompareResult.kinds``)."""
    return sorted({f"{o['apiVersion']}/{o['kind']}" for o in desired} | set(known))


def _split_api_kind(api_kind: str) -> tuple[str, str]:
    """``apps/v1/Deployment`` → (``apps/v1``, ``Deployment``): the inverse of :func:`_api_kinds`."""
    api_version, _, kind = api_kind.rpartition("/")
    return api_version, kind


def _api_kind_key(api_kind: str) -> ResourceKey:
    """A key naming only the group and kind of ``apiVersion/Kind`` (for the exclusion filter)."""
    api_version, kind = _split_api_kind(api_kind)
    return ResourceKey.of({"apiVersion": api_version, "kind": kind})


def _tracking_config(settings: Settings) -> TrackingConfig:
    """``application.resourceTrackingMethod`` and ``application.instanceLabelKey`` of the settings."""
    try:
        return settings.tracking()
    except ValueError as exc:
        raise ApplicationError(str(exc), type="SettingsError", non_retryable=True) from None


def _extraneous_status(live: Manifest, settings: Settings = DEFAULT_SETTINGS) -> ResourceStatus:
    """The row of a live object of the app that Git no longer holds: it requires pruning.

    A hook (say the Job a ``generateName`` PreSync hook created) is left to its delete
    policy: it never requires pruning nor counts toward sync status, as in Argo CD.
    ``IgnoreExtraneous`` keeps an object from counting toward sync status.
    """
    key = ResourceKey.of(live)
    health = _health(live, settings)
    if is_hook(live):
        return ResourceStatus(
            key=key,
            api_version=live["apiVersion"],
            hook=True,
            sync=SyncCode.SYNCED,
            health=health.status if health else None,
            health_message=health.message if health else "",
        )
    message = "no longer in Git: requires pruning"
    try:
        extraneous_ok = compare_options(live).ignore_extraneous
    except CompareOptionError as exc:
        extraneous_ok, message = False, f"{message}; {exc}"
    return ResourceStatus(
        key=key,
        api_version=live["apiVersion"],
        sync=SyncCode.SYNCED if extraneous_ok else SyncCode.OUT_OF_SYNC,
        requires_pruning=True,
        health=health.status if health else None,
        message="ignored extraneous resource" if extraneous_ok else message,
    )


def _served(client: KubeClient, crd: Manifest) -> bool:
    defined = defined_kind(crd)
    if defined is None:
        return True  # defines no kind: nothing can wait for it
    live = client.get(crd)
    return live is not None and is_established(live) and client.serves(defined.group, defined.kind)


def _dry_run_skipped(
    obj: Manifest, exc: KubeError, crd_kinds: Mapping[tuple[str, str], DefinedKind], options: SyncOptions
) -> bool:
    """gitops-engine's rule: the dry run of an object of a kind the cluster does not serve is
    skipped, not failed, when its CRD is in the same sync or it says SkipDryRunOnMissingResource."""
    return isinstance(exc, UnknownKind) and (group_kind(obj) in crd_kinds or options.skip_dry_run_on_missing_resource)


def _kept_on_app_deletion(live: Manifest) -> str:
    """Why deleting the app keeps ``live`` (empty: it does not): ``Delete=false``, or an
    invalid sync-options annotation (whether it was meant to be kept is unknown)."""
    try:
        options = sync_options(live, {})
    except SyncOptionError as exc:
        return f"kept: {exc}"
    return "" if options.delete else "kept: Delete=false"


def _namespaced(client: KubeClient, obj: Manifest, crd_kinds: Mapping[tuple[str, str], DefinedKind]) -> bool:
    """Whether ``obj`` is namespaced: as the cluster serves its kind or, for a kind whose CRD
    is in the same sync and not served yet, as that CRD declares."""
    try:
        return client.namespaced(obj["apiVersion"], obj["kind"])
    except UnknownKind:
        defined = crd_kinds.get(group_kind(obj))
        if defined is None:
            raise
        return defined.namespaced


def _owned(obj: Manifest) -> bool:
    """Created by a controller (e.g. a ReplicaSet of a Deployment): never pruned directly."""
    return bool((obj.get("metadata") or {}).get("ownerReferences"))


def _unhealthy_message(statuses: Iterable[ResourceStatus]) -> str:
    return "; ".join(f"{s.key.short} is {s.health}: {s.health_message}".rstrip(": ") for s in statuses)
