"""The sync plan: which objects a sync applies, prunes and runs as hooks, and in what order.

This is gitops-engine's planning (``pkg/sync/sync_tasks.go``, ``sync_phase.go``,
``syncwaves/``, ``hook/``) as a pure function, so that the sync workflow can decide
replayably and the plan can be summarised into Temporal history (keys, never manifests).

Order
    Tasks run phase by phase (PreSync, Sync, PostSync), and inside a phase wave by wave
    (``argocd.argoproj.io/sync-wave``, default 0, falling back to ``helm.sh/hook-weight``).
    Inside a wave, tasks are sorted by ``KIND_ORDER`` (Namespace first, unknown kinds
    last) and then by name. All of this is data: ``PHASE_ORDER``, ``KIND_ORDER``.
    Then, as in gitops-engine, a Namespace or a CRD that some earlier task needs (a task
    in that namespace, a custom resource of that kind) is moved in front of the first
    such task and into its phase and wave::

        # Namespace "shop" has sync-wave 5 but a Deployment in "shop" has wave 0:
        # the Namespace is applied in wave 0, just before that Deployment.

Hooks
    ``argocd.argoproj.io/hook`` (comma-separated PreSync, Sync, PostSync, SyncFail, Skip)
    or, when no Argo CD hook type is given, ``helm.sh/hook`` (pre-install/pre-upgrade →
    PreSync, post-install/post-upgrade → PostSync; ``crd-install`` is not a hook; other
    Helm hooks such as ``test`` are not run). A hook with several types runs once per
    phase. ``Skip`` alone means "never apply". Delete policies come from
    ``argocd.argoproj.io/hook-delete-policy`` plus ``helm.sh/hook-delete-policy``
    (``DELETE_POLICY_ANNOTATIONS``; an unknown value is a PlanError), default
    BeforeHookCreation. SyncFail hooks are not in ``waves``: they are in
    ``sync_fail_hooks`` and run only when the sync fails.

Pruning
    Objects to prune run in the Sync phase at their own wave, but with the prune waves
    mirrored (the highest prune wave goes first: deletion is creation in reverse).
    Within a wave, prunes run before applies (gitops-engine's ``runTasks``), ordered by
    reverse kind order. ``PruneLast=true`` (app or resource) moves a prune to an extra
    wave after the last Sync wave. ``Prune=false`` and a sync without prune leave the
    object alone and report it in ``skipped``; so does an invalid sync-options annotation
    on a live object (with a warning).

Sync options
    The app's ``syncOptions`` merged with the object's ``argocd.argoproj.io/sync-options``
    annotation, key by key, the annotation winning (:mod:`bosun.sync_options`, the one
    table and parser). An invalid annotation on a desired object is a PlanError naming
    the object and the annotation.

Where Bosun is stricter than gitops-engine: an unparsable sync-wave, sync-options,
compare-options or hook-delete-policy annotation on a desired object is an error naming
the object (gitops-engine silently uses wave 0 and ignores unknown values).

To extend: a new annotation is one parsing function and a field on ``SyncTask``; a new
ordering rule is a change to the data above plus a fixture in
``tests/unit/fixtures/plan/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from bosun.compare_options import ANNOTATION_COMPARE_OPTIONS, CompareOptionError, CompareOptions, parse_compare_options
from bosun.crds import defined_kind
from bosun.resources import Manifest, ResourceKey
from bosun.sync_options import ANNOTATION_SYNC_OPTIONS, SyncOptionError, SyncOptions, check_app_options, merge
from bosun.tracking import TrackingConfig, is_tracked_by

__all__ = [
    "ANNOTATION_COMPARE_OPTIONS",
    "ANNOTATION_HOOK",
    "ANNOTATION_HOOK_DELETE_POLICY",
    "ANNOTATION_SYNC_OPTIONS",
    "ANNOTATION_SYNC_WAVE",
    "DELETE_POLICY_ANNOTATIONS",
    "HELM_ANNOTATION_HOOK",
    "HELM_ANNOTATION_HOOK_DELETE_POLICY",
    "HELM_ANNOTATION_HOOK_WEIGHT",
    "KIND_ORDER",
    "PHASE_ORDER",
    "HookDeletePolicy",
    "HookType",
    "PlanError",
    "SkippedResource",
    "SyncOptions",
    "SyncPhase",
    "SyncPlan",
    "SyncTask",
    "TaskAction",
    "Wave",
    "build_plan",
    "compare_options",
    "delete_policies",
    "hook_types",
    "is_hook",
    "kind_rank",
    "merged_sync_options",
    "plan_key",
    "summarize_wave",
    "sync_options",
    "sync_phases",
    "sync_wave",
]

ANNOTATION_HOOK = "argocd.argoproj.io/hook"
ANNOTATION_HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
ANNOTATION_SYNC_WAVE = "argocd.argoproj.io/sync-wave"
HELM_ANNOTATION_HOOK = "helm.sh/hook"
HELM_ANNOTATION_HOOK_WEIGHT = "helm.sh/hook-weight"
HELM_ANNOTATION_HOOK_DELETE_POLICY = "helm.sh/hook-delete-policy"


class SyncPhase(StrEnum):
    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"


class HookType(StrEnum):
    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"
    SKIP = "Skip"


class HookDeletePolicy(StrEnum):
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"
    BEFORE_HOOK_CREATION = "BeforeHookCreation"


class TaskAction(StrEnum):
    APPLY = "apply"
    PRUNE = "prune"
    HOOK = "hook"


PHASE_ORDER: tuple[SyncPhase, ...] = (
    SyncPhase.PRE_SYNC,
    SyncPhase.SYNC,
    SyncPhase.POST_SYNC,
    SyncPhase.SYNC_FAIL,
)

KIND_ORDER: tuple[str, ...] = (
    # gitops-engine pkg/sync/sync_tasks.go kindOrder (from Helm's kind_sorter.go)
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
)
"""Kinds in apply order; any other kind (custom resources) comes after all of them."""

HELM_HOOK_TYPES: Mapping[str, HookType] = {
    "pre-install": HookType.PRE_SYNC,
    "pre-upgrade": HookType.PRE_SYNC,
    "post-install": HookType.POST_SYNC,
    "post-upgrade": HookType.POST_SYNC,
}

HELM_DELETE_POLICIES: Mapping[str, HookDeletePolicy] = {
    "hook-succeeded": HookDeletePolicy.HOOK_SUCCEEDED,
    "hook-failed": HookDeletePolicy.HOOK_FAILED,
    "before-hook-creation": HookDeletePolicy.BEFORE_HOOK_CREATION,
}

DELETE_POLICY_ANNOTATIONS: Mapping[str, Mapping[str, HookDeletePolicy]] = {
    ANNOTATION_HOOK_DELETE_POLICY: {p.value: p for p in HookDeletePolicy},
    HELM_ANNOTATION_HOOK_DELETE_POLICY: HELM_DELETE_POLICIES,
}
"""The one table of hook delete policies: each annotation and the values it accepts
(an unknown value is a PlanError naming the hook, never a silent fallback to the
default). Every policy is acted on: BeforeHookCreation by the apply activity,
HookSucceeded and HookFailed by the sync workflow."""

_PHASE_INDEX = {phase: i for i, phase in enumerate(PHASE_ORDER)}
_KIND_INDEX = {kind: i for i, kind in enumerate(KIND_ORDER)}
_INTEGER = re.compile(r"[+-]?[0-9]+")


class PlanError(ValueError):
    """The desired objects cannot be planned; the message names the object."""


# --------------------------------------------------------------------------- models


class SyncTask(BaseModel):
    """One step of a sync: apply, prune, or run a hook, for one object in one phase."""

    model_config = ConfigDict(frozen=True)

    key: ResourceKey
    phase: SyncPhase
    wave: int
    action: TaskAction
    hook_type: HookType | None = None
    delete_policies: tuple[HookDeletePolicy, ...] = ()
    sync_options: dict[str, str] = {}
    """App sync options merged with the object's annotation, as written (``Key: value``)."""
    ignore_extraneous: bool = False
    generate_name: bool = False
    """A hook named by ``metadata.generateName``; ``key.name`` is the prefix."""
    requires_confirmation: bool = False
    """A prune held back until the user confirms it. Always false now that ``Prune=confirm``
    is refused (:mod:`bosun.sync_options`); kept so plans in recorded histories still load."""

    @property
    def kind(self) -> str:
        return self.key.kind

    @property
    def options(self) -> SyncOptions:
        return SyncOptions.from_map(self.sync_options)

    @property
    def is_hook(self) -> bool:
        return self.action is TaskAction.HOOK


class Wave(BaseModel):
    """Tasks that run together, in execution order; the next wave waits for them."""

    model_config = ConfigDict(frozen=True)

    phase: SyncPhase
    number: int
    tasks: tuple[SyncTask, ...]


class SkippedResource(BaseModel):
    """An object the sync deliberately leaves alone, and why."""

    model_config = ConfigDict(frozen=True)

    key: ResourceKey
    reason: str


class SyncPlan(BaseModel):
    """Everything a sync will do, in order. JSON-serialisable and small (keys only)."""

    model_config = ConfigDict(frozen=True)

    waves: list[Wave]
    sync_fail_hooks: list[SyncTask] = []
    skipped: list[SkippedResource] = []
    warnings: list[str] = []

    @property
    def tasks(self) -> list[SyncTask]:
        """Every task of the regular phases, in execution order."""
        return [task for wave in self.waves for task in wave.tasks]

    @property
    def needs_prune_confirmation(self) -> bool:
        return any(task.requires_confirmation for task in self.tasks)

    def summary(self) -> list[str]:
        lines = [summarize_wave(wave) for wave in self.waves]
        if self.sync_fail_hooks:
            lines.append("SyncFail (on failure): " + _names(self.sync_fail_hooks, limit=20))
        return lines


# --------------------------------------------------------------------------- annotations


def _annotations(obj: Manifest) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return {}
    annotations = metadata.get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _csv(obj: Manifest, annotation: str) -> list[str]:
    """Comma-separated annotation values: trimmed, empty ones dropped, deduplicated."""
    raw = _annotations(obj).get(annotation)
    if raw is None:
        return []
    values: list[str] = []
    for part in str(raw).split(","):
        part = part.strip()
        if part and part not in values:
            values.append(part)
    return values


def merged_sync_options(obj: Manifest, app_options: Mapping[str, str]) -> dict[str, str]:
    """App options overridden, key by key, by the object's sync-options annotation.

    SyncOptionError (a ValueError) if the annotation holds an option Bosun refuses; the
    message names the object and the annotation."""
    raw = _annotations(obj).get(ANNOTATION_SYNC_OPTIONS)
    try:
        return merge(app_options, None if raw is None else str(raw))
    except SyncOptionError as exc:
        raise SyncOptionError(f"{_describe(obj)}: annotation {ANNOTATION_SYNC_OPTIONS}: {exc.message}") from None


def sync_options(obj: Manifest, app_options: Mapping[str, str]) -> SyncOptions:
    """The object's effective options: app options overridden by its annotation
    (SyncOptionError as :func:`merged_sync_options`)."""
    return SyncOptions.from_map(merged_sync_options(obj, app_options))


def compare_options(obj: Manifest) -> CompareOptions:
    """``argocd.argoproj.io/compare-options`` (:mod:`bosun.compare_options`);
    CompareOptionError naming the object and the annotation if Bosun refuses it."""
    raw = _annotations(obj).get(ANNOTATION_COMPARE_OPTIONS)
    try:
        return parse_compare_options(None if raw is None else str(raw))
    except CompareOptionError as exc:
        raise CompareOptionError(f"{_describe(obj)}: annotation {ANNOTATION_COMPARE_OPTIONS}: {exc}") from None


def hook_types(obj: Manifest) -> tuple[HookType, ...]:
    """Argo CD hook types; Helm's, mapped, only when no Argo CD type is given."""
    known = {t.value: t for t in HookType}
    types = [known[v] for v in _csv(obj, ANNOTATION_HOOK) if v in known]
    if not types:
        types = [HELM_HOOK_TYPES[v] for v in _csv(obj, HELM_ANNOTATION_HOOK) if v in HELM_HOOK_TYPES]
    return tuple(dict.fromkeys(types))


def _is_skip(obj: Manifest) -> bool:
    return hook_types(obj) == (HookType.SKIP,)


def is_hook(obj: Manifest) -> bool:
    """gitops-engine's ``hook.IsHook``: any Argo CD hook annotation but a lone Skip, or a
    Helm hook annotation other than ``crd-install``."""
    annotations = _annotations(obj)
    if ANNOTATION_HOOK in annotations:
        return not _is_skip(obj)
    helm = annotations.get(HELM_ANNOTATION_HOOK)
    return helm is not None and helm != "crd-install"


def sync_phases(obj: Manifest) -> tuple[SyncPhase, ...]:
    """Phases the object takes part in; empty for Skip and for unsupported hooks."""
    if _is_skip(obj):
        return ()
    if not is_hook(obj):
        return (SyncPhase.SYNC,)
    phases = [SyncPhase(t.value) for t in hook_types(obj) if t is not HookType.SKIP]
    return tuple(sorted(set(phases), key=_PHASE_INDEX.__getitem__))


def delete_policies(obj: Manifest) -> tuple[HookDeletePolicy, ...]:
    """A hook's delete policies (Argo CD's, then Helm's); BeforeHookCreation by default.
    Empty for an object that is not a hook. PlanError naming the hook and the
    annotation for a value :data:`DELETE_POLICY_ANNOTATIONS` does not hold."""
    if not is_hook(obj):
        return ()
    policies: list[HookDeletePolicy] = []
    for annotation, known in DELETE_POLICY_ANNOTATIONS.items():
        for value in _csv(obj, annotation):
            if value not in known:
                raise PlanError(
                    f"{_describe(obj)}: annotation {annotation}: unknown delete policy "
                    f"{value!r}; use {', '.join(known)}"
                )
            policies.append(known[value])
    return tuple(dict.fromkeys(policies)) or (HookDeletePolicy.BEFORE_HOOK_CREATION,)


def _integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return None


def sync_wave(obj: Manifest) -> int:
    """``argocd.argoproj.io/sync-wave``, else ``helm.sh/hook-weight``, else 0.

    An unparsable sync-wave raises ``PlanError`` naming the object; an unparsable Helm
    weight counts as 0, as Helm itself treats it.
    """
    annotations = _annotations(obj)
    if ANNOTATION_SYNC_WAVE in annotations:
        raw = annotations[ANNOTATION_SYNC_WAVE]
        wave = _integer(raw)
        if wave is None:
            raise PlanError(
                f'{_describe(obj)}: invalid {ANNOTATION_SYNC_WAVE} {raw!r}: must be an integer such as "-1", "0" or "5"'
            )
        return wave
    return _integer(annotations.get(HELM_ANNOTATION_HOOK_WEIGHT)) or 0


def kind_rank(kind: str) -> int:
    """Position in ``KIND_ORDER``; every unknown kind shares the last position."""
    return _KIND_INDEX.get(kind, len(KIND_ORDER))


def plan_key(obj: Manifest) -> ResourceKey:
    """The key the sync plan uses for an object: a ``generateName`` hook is keyed by its prefix."""
    key = ResourceKey.of(obj)
    if not key.name:
        metadata = obj.get("metadata") or {}
        key = key.model_copy(update={"name": str(metadata.get("generateName") or "")})
    return key


def _describe(obj: Manifest) -> str:
    return plan_key(obj).described


# --------------------------------------------------------------------------- planning


@dataclass
class _Task:
    obj: Manifest
    key: ResourceKey
    phase: SyncPhase
    wave: int
    action: TaskAction
    option_map: dict[str, str]
    skip_reason: str | None = None
    delete_policies: tuple[HookDeletePolicy, ...] = ()
    ignore_extraneous: bool = False
    generate_name: bool = False

    @property
    def options(self) -> SyncOptions:
        return SyncOptions.from_map(self.option_map)

    def order(self) -> tuple[int, int, int, str, str, str, str]:
        k = self.key
        return (
            _PHASE_INDEX[self.phase],
            self.wave,
            kind_rank(k.kind),
            k.name,
            k.kind,
            k.group,
            k.namespace,
        )


def build_plan(
    desired: list[Manifest],
    prune_candidates: list[Manifest],
    *,
    prune: bool,
    app_sync_options: Mapping[str, str],
    app: str | None = None,
    tracking: TrackingConfig | None = None,
) -> SyncPlan:
    """Plan a sync of ``desired`` (rendered, namespaced, tracked objects and hooks).

    ``prune_candidates`` are live objects of the app that are no longer desired (the
    caller finds them with :mod:`bosun.tracking`; objects that are desired after all are
    ignored). ``prune`` is the sync's prune flag. When ``app`` is given, a candidate that
    is not tracked by it under ``tracking`` (default: Argo CD 3's) is never pruned.
    """
    try:
        check_app_options(app_sync_options)
    except SyncOptionError as exc:
        raise PlanError(f"spec.syncPolicy.syncOptions: {exc.message}") from None
    warnings: list[str] = []
    skipped: list[SkippedResource] = []
    tasks: list[_Task] = []

    unique: dict[ResourceKey, Manifest] = {}
    for obj in desired:
        key = plan_key(obj)
        if key in unique:
            warnings.append(f"{_describe(obj)} is defined more than once; the last one is used")
        unique[key] = obj

    for key, obj in unique.items():
        phases = sync_phases(obj)
        if not phases:
            skipped.append(SkippedResource(key=key, reason=_why_not_synced(obj)))
            continue
        wave = sync_wave(obj)
        hook = is_hook(obj)
        try:
            options = merged_sync_options(obj, app_sync_options)
            ignore_extraneous = compare_options(obj).ignore_extraneous
        except (SyncOptionError, CompareOptionError) as exc:
            raise PlanError(str(exc)) from None
        for phase in phases:
            tasks.append(
                _Task(
                    obj,
                    key,
                    phase,
                    wave,
                    TaskAction.HOOK if hook else TaskAction.APPLY,
                    options,
                    delete_policies=delete_policies(obj),
                    ignore_extraneous=ignore_extraneous,
                    generate_name=bool(hook and not (obj.get("metadata") or {}).get("name")),
                )
            )

    tasks += _prune_tasks(unique, prune_candidates, prune, app_sync_options, app, tracking, skipped, warnings)
    _mirror_prune_waves(tasks)
    _move_prune_last(tasks)

    tasks.sort(key=_Task.order)
    _hoist(tasks, _namespace_dependency, _namespace_reference)
    _hoist(tasks, _crd_dependency, _crd_reference)

    for task in tasks:
        if task.skip_reason is not None:
            skipped.append(SkippedResource(key=task.key, reason=task.skip_reason))
    runnable = [t for t in tasks if t.skip_reason is None]
    sync_fail = [_public(t) for t in runnable if t.phase is SyncPhase.SYNC_FAIL]
    regular = [t for t in runnable if t.phase is not SyncPhase.SYNC_FAIL]
    return SyncPlan(
        waves=_waves(regular),
        sync_fail_hooks=sync_fail,
        skipped=skipped,
        warnings=warnings,
    )


def _why_not_synced(obj: Manifest) -> str:
    annotations = _annotations(obj)
    if _is_skip(obj):
        return f"{ANNOTATION_HOOK}: Skip"
    if ANNOTATION_HOOK in annotations:
        return f"{ANNOTATION_HOOK} {annotations[ANNOTATION_HOOK]!r} names no sync phase"
    helm = annotations.get(HELM_ANNOTATION_HOOK)
    return f"{HELM_ANNOTATION_HOOK} {helm!r} has no Argo CD equivalent; not run by a sync"


def _prune_tasks(
    desired: Mapping[ResourceKey, Manifest],
    candidates: list[Manifest],
    prune: bool,
    app_sync_options: Mapping[str, str],
    app: str | None,
    tracking: TrackingConfig | None,
    skipped: list[SkippedResource],
    warnings: list[str],
) -> list[_Task]:
    """Prune tasks for live objects no longer desired.

    Prunes the sync will not perform (no prune, ``Prune=false``) stay in the list with a
    ``skip_reason``: in gitops-engine they are tasks too and take part in the wave
    arithmetic. Hooks, Skip objects and objects of another app are never tasks.
    """
    loose = {(k.group, k.kind, k.name): k.namespace for k in desired}
    tasks: list[_Task] = []
    seen: set[ResourceKey] = set()
    for live in candidates:
        key = ResourceKey.of(live)
        if key in seen or key in desired:
            continue
        seen.add(key)
        desired_ns = loose.get((key.group, key.kind, key.name))
        if desired_ns is not None and "" in (desired_ns, key.namespace):
            continue  # the same object; one side just lacks the defaulted namespace
        if app is not None and not is_tracked_by(live, app, tracking):
            reason = f"not pruned: its tracking id does not name app {app!r} and this object"
            skipped.append(SkippedResource(key=key, reason=reason))
            continue
        if is_hook(live):
            reason = "not pruned: a hook is removed by its delete policy, not by pruning"
            skipped.append(SkippedResource(key=key, reason=reason))
            continue
        if not sync_phases(live):
            skipped.append(SkippedResource(key=key, reason=f"not pruned: {_why_not_synced(live)}"))
            continue
        try:
            option_map = merged_sync_options(live, app_sync_options)
        except SyncOptionError as exc:
            # Whether the object was meant to be kept is unknown: never prune it.
            warnings.append(f"{exc}; not pruned")
            skipped.append(SkippedResource(key=key, reason=f"not pruned: invalid {ANNOTATION_SYNC_OPTIONS}"))
            continue
        options = SyncOptions.from_map(option_map)
        try:
            ignore_extraneous = compare_options(live).ignore_extraneous
        except CompareOptionError as exc:
            warnings.append(str(exc))  # recorded only: IgnoreExtraneous never stops a prune
            ignore_extraneous = False
        try:
            wave = sync_wave(live)
        except PlanError as err:
            warnings.append(f"{err}; pruning it in wave 0")
            wave = 0
        skip_reason: str | None = None
        if not prune:
            skip_reason = "not pruned: the sync does not prune (requires pruning)"
        elif not options.prune:
            skip_reason = "not pruned: Prune=false"
        tasks.append(
            _Task(
                live,
                key,
                SyncPhase.SYNC,
                wave,
                TaskAction.PRUNE,
                option_map,
                skip_reason,
                ignore_extraneous=ignore_extraneous,
            )
        )
    return tasks


def _mirror_prune_waves(tasks: list[_Task]) -> None:
    """Deletion in reverse: the lowest prune wave swaps with the highest, and so on."""
    prunes = [t for t in tasks if t.action is TaskAction.PRUNE]
    waves = sorted({t.wave for t in prunes})
    mirrored = dict(zip(waves, reversed(waves), strict=True))
    for task in prunes:
        task.wave = mirrored[task.wave]


def _move_prune_last(tasks: list[_Task]) -> None:
    """PruneLast prunes go to one wave after every Sync-phase wave (at least wave 1)."""
    last = max([0] + [t.wave for t in tasks if t.phase is SyncPhase.SYNC]) + 1
    for task in tasks:
        if task.action is TaskAction.PRUNE and task.options.prune_last:
            task.wave = last


def _hoist(
    tasks: list[_Task],
    dependency: Callable[[Manifest], str | None],
    reference: Callable[[Manifest], str | None],
) -> None:
    """Move each dependency (Namespace, CRD) in front of the first task that needs it,
    into that task's phase and wave (gitops-engine's ``syncTasks.adjustDeps``)."""
    first_use: dict[str, int] = {}
    for i in range(len(tasks)):
        task = tasks[i]
        if task.action is TaskAction.PRUNE:
            continue
        dep = dependency(task.obj)
        if dep is not None:
            index = first_use.get(dep)
            if index is None:
                continue
            task.phase, task.wave = tasks[index].phase, tasks[index].wave
            tasks.insert(index, tasks.pop(i))
            for name, at in first_use.items():
                if at >= index:
                    first_use[name] = at + 1
            continue
        ref = reference(task.obj)
        if ref is not None and ref not in first_use:
            first_use[ref] = i


def _namespace_dependency(obj: Manifest) -> str | None:
    key = ResourceKey.of(obj)
    return key.name if key.kind == "Namespace" and key.group == "" else None


def _namespace_reference(obj: Manifest) -> str | None:
    return ResourceKey.of(obj).namespace or None


def _crd_dependency(obj: Manifest) -> str | None:
    defined = defined_kind(obj)
    return f"{defined.group}/{defined.kind}" if defined is not None else None


def _crd_reference(obj: Manifest) -> str | None:
    key = ResourceKey.of(obj)
    return f"{key.group}/{key.kind}"


def _public(task: _Task) -> SyncTask:
    hook = task.action is TaskAction.HOOK
    return SyncTask(
        key=task.key,
        phase=task.phase,
        wave=task.wave,
        action=task.action,
        hook_type=HookType(task.phase.value) if hook else None,
        delete_policies=task.delete_policies,
        sync_options=task.option_map,
        ignore_extraneous=task.ignore_extraneous,
        generate_name=task.generate_name,
    )


def _waves(tasks: list[_Task]) -> list[Wave]:
    """Group sorted tasks by (phase, wave); inside a wave prunes go first, in reverse
    kind order, then applies and hooks in kind order."""
    groups: dict[tuple[SyncPhase, int], list[_Task]] = {}
    for task in tasks:
        groups.setdefault((task.phase, task.wave), []).append(task)
    waves: list[Wave] = []
    for (phase, number), members in groups.items():
        prunes = sorted(
            (t for t in members if t.action is TaskAction.PRUNE),
            key=lambda t: (-kind_rank(t.key.kind), *t.order()[3:]),
        )
        others = [t for t in members if t.action is not TaskAction.PRUNE]
        waves.append(Wave(phase=phase, number=number, tasks=tuple(_public(t) for t in prunes + others)))
    return waves


# --------------------------------------------------------------------------- summaries


def _names(tasks: Iterable[SyncTask], *, limit: int) -> str:
    names = [task.key.short + (" (needs confirmation)" if task.requires_confirmation else "") for task in tasks]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return ", ".join(names)


def summarize_wave(wave: Wave, *, limit: int = 20) -> str:
    """One line for a person: ``"Sync wave 1: prune ConfigMap/old; apply Service/web"``.

    A wave of hooks only lists them (``"PreSync wave 0: Job/migrate"``); otherwise each
    action is named: prune, apply, run (hooks). At most ``limit`` names per action.
    """
    header = f"{wave.phase.value} wave {wave.number}"
    if not wave.tasks:
        return f"{header}: nothing to do"
    if all(task.is_hook for task in wave.tasks):
        return f"{header}: {_names(wave.tasks, limit=limit)}"
    parts = []
    for action, verb in (
        (TaskAction.PRUNE, "prune"),
        (TaskAction.APPLY, "apply"),
        (TaskAction.HOOK, "run"),
    ):
        members = [task for task in wave.tasks if task.action is action]
        if members:
            parts.append(f"{verb} {_names(members, limit=limit)}")
    return f"{header}: {'; '.join(parts)}"


def only_out_of_sync(plan: SyncPlan, out_of_sync: set[ResourceKey]) -> SyncPlan:
    """``ApplyOutOfSyncOnly=true``: the plan without applies of resources already Synced.

    Hooks and prunes stay; waves left empty are dropped.
    """
    waves = []
    for wave in plan.waves:
        tasks = tuple(t for t in wave.tasks if t.action is not TaskAction.APPLY or t.key in out_of_sync)
        if tasks:
            waves.append(wave.model_copy(update={"tasks": tasks}))
    return plan.model_copy(update={"waves": waves})


def only_resources(plan: SyncPlan, selected: Callable[[ResourceKey], bool]) -> SyncPlan:
    """A partial sync (Argo CD's ``--resource``): only the applies and prunes of the
    selected resources. Hooks do not run, SyncFail hooks included: Argo CD skips hooks
    in a partial sync (``WithOperationSettings(..., skipHooks=len(resources) > 0)``).
    Waves left empty are dropped; ``skipped`` is kept.
    """
    waves = []
    for wave in plan.waves:
        tasks = tuple(t for t in wave.tasks if t.action is not TaskAction.HOOK and selected(t.key))
        if tasks:
            waves.append(wave.model_copy(update={"tasks": tasks}))
    return plan.model_copy(update={"waves": waves, "sync_fail_hooks": []})
