"""Argo CD's progressive sync (``strategy.type: RollingSync``): which Applications to sync
now, and each one's progressive status, from the set's previous statuses and the apps' own.

A port of ``performProgressiveSyncs`` in ``applicationset/controllers/
applicationset_controller.go``, run once per reconcile:

1. ``buildAppDependencyList``: each step lists the apps whose labels match all of its
   ``matchExpressions`` (``In``; ``NotIn``, which an absent label satisfies); an app's step
   is the first that lists it. Apps no step lists are never synced by the strategy (they
   stay Waiting, with no step).
2. ``updateApplicationSetApplicationStatus``: per app, from its previous entry (none:
   ``Waiting``): an OutOfSync app that is Progressing or Healthy goes back to ``Waiting``;
   ``Pending`` becomes ``Progressing`` once a sync of the recorded revisions Succeeded (or an
   operation is Running / its health is Progressing); ``Waiting`` or ``Progressing`` becomes
   ``Healthy`` once the app is Healthy, not OutOfSync, and its last operation (if any)
   Succeeded. (Bosun also lets a ``Pending`` app that is Synced and Healthy with no
   operation become ``Healthy``: under Argo CD it stays Pending and the rollout stalls.)
3. ``buildAppSyncMap``: the apps of every step up to and including the first step that has
   an app not yet ``Healthy`` (in status and in fact) may sync; later steps may not.
4. ``updateApplicationSetApplicationStatusProgress``: a ``Waiting`` app that may sync becomes
   ``Pending`` while its step has fewer Pending+Progressing apps than ``maxUpdate`` allows.
5. ``syncValidApplications``: the apps to sync are those that may sync, are ``Pending`` and
   OutOfSync. (Argo CD also strips ``syncPolicy.automated`` from the generated apps so only
   the strategy syncs them: :func:`without_automated_sync`.)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bosun.appset.spec import RollingSync

__all__ = ["AppProgress", "RollingDecision", "rolling_sync_plan", "step_lists", "without_automated_sync"]

WAITING, PENDING, PROGRESSING, HEALTHY = "Waiting", "Pending", "Progressing", "Healthy"

# Argo CD's messages of the status entries.
_MSG_NEW = "No Application status found, defaulting status to Waiting."
_MSG_OUTDATED = "Application has pending changes, setting status to Waiting."
_MSG_SYNCED = "Application resource completed a sync successfully, updating status from Pending to Progressing."
_MSG_PROGRESSING = "Application resource became Progressing, updating status from Pending to Progressing."
_MSG_ALREADY_HEALTHY = "Application resource is already Healthy, updating status from Waiting to Healthy."
_MSG_HEALTHY = "Application resource became Healthy, updating status from Progressing to Healthy."
_MSG_SYNCED_NOW = "Application resource has synced, updating status to Progressing"
_MSG_PENDING = "Application moved to Pending status, watching for the Application resource to start Progressing."


@dataclass(frozen=True)
class AppProgress:
    """One Application as the strategy sees it: its live state and its previous entry of the
    set's ``status.applicationStatus`` (``status`` ``""`` when it has none)."""

    name: str
    labels: dict[str, str]
    sync_status: str
    """Synced | OutOfSync | Unknown."""
    health: str
    """Healthy | Progressing | Degraded | Suspended | Missing | Unknown."""
    status: str
    """Argo's per-app progressive status: Waiting | Pending | Progressing | Healthy | ""."""
    step: int | None
    """1-based step (Argo CD's ``step`` field), None when no step selects the app."""
    operation_phase: str = ""
    """The phase of the app's last operation (Running | Succeeded | Failed | Error | "")."""
    revisions: tuple[str, ...] = ()
    """The app's current revisions (``status.sync.revision(s)``, Argo CD's ``GetRevisions``)."""
    synced_revisions: tuple[str, ...] | None = None
    """The revisions of its last sync operation (``status.operationState.syncResult``); None
    when not known: then a Succeeded operation counts whatever it synced (Argo CD before
    ``targetRevisions`` were recorded)."""
    target_revisions: tuple[str, ...] | None = None
    """The ``targetRevisions`` of its previous status entry (None or empty: not recorded);
    in the decision's entries, the revisions the entry now records."""
    message: str = ""


@dataclass(frozen=True)
class RollingDecision:
    to_sync: list[str]
    """Apps to sync now (maxUpdate respected), in step order."""
    statuses: dict[str, AppProgress]
    """The new ``status.applicationStatus`` entries, by app name."""
    current_step: int | None
    """1-based: the first step with an app not yet Healthy; None when every step is done."""
    done: bool
    """Every app of every step is Healthy."""
    changed: tuple[str, ...] = ()
    """Apps whose status changed in this decision (their ``lastTransitionTime`` moves)."""


def step_lists(strategy: RollingSync, apps: list[AppProgress]) -> tuple[list[list[str]], dict[str, int]]:
    """``buildAppDependencyList``: the app names each step selects (an app may be listed by
    several steps) and each app's 0-based step, the first that selects it."""
    lists: list[list[str]] = [[] for _ in strategy.steps]
    step_of: dict[str, int] = {}
    for index, step in enumerate(strategy.steps):
        for app in apps:
            if step.matches(app.labels):
                lists[index].append(app.name)
                step_of.setdefault(app.name, index)
    return lists, step_of


def _healthy(app: AppProgress) -> bool:
    """``isApplicationHealthy``."""
    return app.health == HEALTHY and app.sync_status != "OutOfSync" and app.operation_phase in ("Succeeded", "")


def rolling_sync_plan(strategy: RollingSync, apps: list[AppProgress]) -> RollingDecision:
    """The next moves of the strategy over ``apps`` (the set's current Applications)."""
    lists, step_of = step_lists(strategy, apps)

    def step_number(name: str) -> int | None:
        return step_of[name] + 1 if name in step_of else None

    # 2. updateApplicationSetApplicationStatus
    statuses: dict[str, AppProgress] = {}
    changed: set[str] = set()
    for app in apps:
        if app.status:
            status, message = app.status, app.message
            target = tuple(app.target_revisions) if app.target_revisions else tuple(app.revisions)
        else:
            status, message = WAITING, _MSG_NEW
            target = tuple(app.revisions)
            changed.add(app.name)
        if app.status and app.revisions and target != tuple(app.revisions):
            # Argo CD 3.x: the app's revisions moved since the entry recorded them (a new commit):
            # Waiting for the new ones; one that already synced to them is Progressing or Healthy.
            # Kept Pending, it would wait for a sync of the old revisions for ever.
            status, message, target = WAITING, _MSG_OUTDATED, tuple(app.revisions)
            changed.add(app.name)
            if app.sync_status == "Synced" and not _healthy(app):
                status, message = PROGRESSING, _MSG_SYNCED_NOW
        if app.sync_status == "OutOfSync" and status not in (WAITING, PENDING):
            status, message = WAITING, _MSG_OUTDATED
            target = tuple(app.revisions)
            changed.add(app.name)
        if status == PENDING:
            if app.operation_phase == "Succeeded":
                if app.synced_revisions is None or target == tuple(app.synced_revisions):
                    status, message = (
                        PROGRESSING,
                        (_MSG_SYNCED),
                    )
                    changed.add(app.name)
            elif app.operation_phase == "Running" or app.health == PROGRESSING:
                status, message = (
                    PROGRESSING,
                    (_MSG_PROGRESSING),
                )
                changed.add(app.name)
        if status == PENDING and app.operation_phase == "" and _healthy(app):
            # Bosun, not Argo CD: a Pending app that needs no sync (Synced, no operation) and is
            # Healthy would stay Pending for ever under Argo CD, and hold every later step.
            status, message = HEALTHY, _MSG_ALREADY_HEALTHY
            changed.add(app.name)
        if status == WAITING and _healthy(app):
            status, message = (
                HEALTHY,
                _MSG_ALREADY_HEALTHY,
            )
            changed.add(app.name)
        if status == PROGRESSING and _healthy(app):
            status, message = (
                HEALTHY,
                _MSG_HEALTHY,
            )
            changed.add(app.name)
        statuses[app.name] = replace(
            app, status=status, message=message, step=step_number(app.name), target_revisions=target
        )

    # 3. buildAppSyncMap
    by_name = {app.name: app for app in apps}
    may_sync: dict[str, bool] = {}
    enabled = True
    current_step: int | None = None
    for index, names in enumerate(lists):
        for name in names:
            may_sync[name] = enabled
        for name in names:
            entry = statuses.get(name)
            enabled = entry is not None and _healthy(by_name[name]) and entry.status == HEALTHY
            if not enabled:
                if current_step is None:
                    current_step = index + 1
                break

    # 4. updateApplicationSetApplicationStatusProgress
    totals = [0] * len(strategy.steps)
    updating = [0] * len(strategy.steps)
    for name, entry in statuses.items():
        index = step_of.get(name, 0)  # Argo CD counts unselected apps in step 1 (Go's zero value)
        if not totals:
            break
        totals[index] += 1
        if entry.status in (PENDING, PROGRESSING):
            updating[index] += 1
    for name, entry in statuses.items():
        if name not in step_of or not totals:
            continue
        index = step_of[name]
        cap = strategy.steps[index].max_updates(totals[index])
        allowed = cap is None or updating[index] < cap
        if entry.status == WAITING and may_sync.get(name, False) and allowed:
            statuses[name] = replace(
                entry,
                status=PENDING,
                message=_MSG_PENDING,
            )
            changed.add(name)
            updating[index] += 1

    # 5. syncValidApplications. Argo CD reads the statuses from the start of the reconcile here,
    # so an app made Pending above is synced on its next reconcile; Bosun syncs it now. An app
    # whose operation is still Running is not given another one.
    to_sync = [
        name
        for names in lists
        for name in names
        if may_sync.get(name)
        and statuses[name].status == PENDING
        and by_name[name].sync_status == "OutOfSync"
        and by_name[name].operation_phase != "Running"
    ]
    to_sync = list(dict.fromkeys(to_sync))
    done = current_step is None
    return RollingDecision(
        to_sync=to_sync,
        statuses=statuses,
        current_step=current_step,
        done=done,
        changed=tuple(sorted(changed)),
    )


def without_automated_sync(application: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The Application without ``spec.syncPolicy.automated`` (a RollingSync set syncs its apps
    itself, as Argo CD's ``syncValidApplications`` does) and whether automated sync had
    ``prune`` on — the strategy's sync then prunes."""
    result = copy.deepcopy(dict(application))
    policy = (result.get("spec") or {}).get("syncPolicy") or {}
    automated = policy.pop("automated", None)
    prune = bool(isinstance(automated, Mapping) and automated.get("prune"))
    return result, prune
