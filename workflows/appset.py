"""ApplicationSetWorkflow: Bosun acting as Argo CD's ApplicationSet controller for one set.

One workflow per ApplicationSet resource, id :func:`bosun.protocol.appset_workflow_id`
(``appset:<namespace>/<name>``). The worker's watch (:mod:`worker.appset_watch`)
signal-with-starts it with ``changed`` whenever the set's resource changes; it ends when
the resource is gone (Kubernetes' garbage collector then deletes the set's Applications
through their ownerReferences, as with Argo CD).

A generation is one activity, ``reconcile_appset`` (:mod:`activities.appsets`): read the
set, generate, render, create / update / delete the Applications, write the set's
conditions. It runs at the start, on ``changed``, on ``refresh`` and every
``requeueAfterSeconds`` of the set's git / cluster generators (Argo CD's default, 180 s,
when none is set). The Applications themselves are run by the declarative discovery, as
any Application resource.

``strategy.type: RollingSync``: the generated apps have no automated sync, and this
workflow syncs them step by step. Each poll (``rolling_poll_seconds``, a durable timer)
reads the apps' sync and health (``appset_app_progress``), asks
:func:`bosun.appset.rolling.rolling_sync_plan` which apps to sync now (a step's apps only
when every app of the steps before is Healthy; ``maxUpdate`` of them at once), starts those
syncs (``sync_appset_apps``, the app workflow's ``sync_async`` update) and writes
``status.applicationStatus`` (``write_appset_progress``). The current step is the workflow's
current details in the Temporal UI, and each sync activity is summarised with its step.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.appsets import (
        AppProgressInput,
        AppSetActivities,
        AppSetRef,
        AppState,
        ReconcileAppSetResult,
        SyncAppsInput,
        WriteProgressInput,
    )
    from bosun.appset.rolling import AppProgress, RollingDecision, rolling_sync_plan
    from bosun.appset.spec import ApplicationSetError, RollingSync, parse_applicationset
    from bosun.protocol import APPLICATION_SET_WORKFLOW, AppSetQuery, AppSetSignal, AppSetStart, AppSetStatus
    from workflows.sync import cause_message

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
GENERATE_TIMEOUT = timedelta(minutes=5)
"""A generation reads Git (a clone of a large repository, once) and writes the apps."""
QUICK_TIMEOUT = timedelta(seconds=60)
DEFAULT_REQUEUE_SECONDS = 180
"""Argo CD's default ``requeueAfterSeconds`` of the git generator: a generation at least this often."""
ERROR_RETRY_SECONDS = 30
"""A generation that failed on I/O (the management cluster unreachable) is tried again after this."""
GENERATIONS_PER_RUN = 200
POLLS_PER_RUN = 500
"""Continue as new after this many generations or RollingSync polls: keeps the history short."""


class AppSetWorkflowInput(AppSetStart):
    """The start request and the state carried over continue-as-new."""

    application_status: list[dict[str, Any]] = Field(default_factory=list)
    """The RollingSync's ``status.applicationStatus`` entries (Argo CD's shape)."""
    asked: list[str] = Field(default_factory=list)
    """Apps whose sync the last RollingSync poll started: not asked again in the next poll (the
    sync is given one poll to begin); a sync that failed is asked again after that, as Argo CD
    sets the operation again on every reconcile while the app is Pending and OutOfSync."""


class _Progress(BaseModel):
    entries: list[dict[str, Any]] = Field(default_factory=list)
    asked: list[str] = Field(default_factory=list)


def progress_entries(decision: RollingDecision, previous: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """``status.applicationStatus`` in Argo CD's shape (``ApplicationSetApplicationStatus``): a
    ``lastTransitionTime`` that moves only when the plan changed an app's status, its step as a
    string (Argo CD writes ``fmt.Sprint(step)``), the revisions it was last seen at."""
    before = {str(e.get("application")): e for e in previous}
    entries = []
    for name in sorted(decision.statuses):
        progress = decision.statuses[name]
        old = before.get(name)
        moved = old is None or name in decision.changed or old.get("status") != progress.status
        entry: dict[str, Any] = {
            "application": name,
            "status": progress.status,
            "message": progress.message,
            "lastTransitionTime": now if moved or old is None else old.get("lastTransitionTime", now),
            "targetRevisions": list(progress.target_revisions or ()),
        }
        if progress.step is not None:
            entry["step"] = str(progress.step)
        entries.append(entry)
    return entries


@workflow.defn(name=APPLICATION_SET_WORKFLOW)
class ApplicationSetWorkflow:
    def __init__(self) -> None:
        self._wake = False
        self._status = AppSetStatus(namespace="", name="")

    @workflow.signal(name=AppSetSignal.CHANGED)
    def changed(self) -> None:
        """The set's resource changed or went away: generate again now."""
        self._wake = True

    @workflow.signal(name=AppSetSignal.REFRESH)
    def refresh(self) -> None:
        self._wake = True

    @workflow.query(name=AppSetQuery.STATUS)
    def status(self) -> AppSetStatus:
        return self._status

    @workflow.run
    async def run(self, input: AppSetWorkflowInput) -> str:
        ref = AppSetRef(namespace=input.namespace, name=input.name)
        self._status = AppSetStatus(namespace=input.namespace, name=input.name)
        progress = _Progress(entries=list(input.application_status), asked=list(input.asked))
        polls = 0
        for _ in range(GENERATIONS_PER_RUN):
            self._wake = False
            try:
                result = await workflow.execute_activity_method(
                    AppSetActivities.reconcile_appset,
                    ref,
                    start_to_close_timeout=GENERATE_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                    summary=f"generate the Applications of {ref.namespace}/{ref.name}",
                )
            except ActivityError as exc:
                self._status.error = cause_message(exc)
                workflow.set_current_details(
                    f"generation failed: {self._status.error}; again in {ERROR_RETRY_SECONDS}s"
                )
                await self._sleep(ERROR_RETRY_SECONDS)
                continue
            if not result.found:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return f"ApplicationSet {ref.namespace}/{ref.name} is gone"
            self._generated(result)
            strategy = self._strategy(result)
            if strategy is not None:
                while not self._wake and polls < POLLS_PER_RUN:
                    polls += 1
                    try:
                        progress, done = await self._roll(ref, strategy, result, progress)
                    except ActivityError as exc:  # the cluster or Temporal did not answer: next poll
                        workflow.set_current_details(f"RollingSync: {cause_message(exc)}; again shortly")
                        done = False
                    if done:
                        break
                    await self._sleep(input.rolling_poll_seconds)
            elif not result.error:  # no RollingSync (any more): its statuses go
                progress = _Progress()
            requeue = result.requeue_after_seconds or DEFAULT_REQUEUE_SECONDS
            if not self._wake and polls < POLLS_PER_RUN:
                await self._sleep(requeue)
            if polls >= POLLS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            AppSetWorkflowInput(
                **input.model_dump(exclude={"application_status", "asked"}),
                application_status=progress.entries,
                asked=progress.asked,
            )
        )

    async def _sleep(self, seconds: float) -> None:
        """Until ``seconds`` pass or a signal asks for a generation (a durable timer)."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._wake, timeout=timedelta(seconds=max(seconds, 0.1)))

    def _generated(self, result: ReconcileAppSetResult) -> None:
        self._status.applications = result.applications
        self._status.error = result.error
        self._status.generations += 1
        if result.error:
            workflow.set_current_details(f"nothing generated: {result.error}")
        else:
            workflow.set_current_details(
                f"{len(result.applications)} Applications up to date"
                + (f" (created {', '.join(result.created)})" if result.created else "")
                + (f" (deleted {', '.join(result.deleted)})" if result.deleted else "")
            )

    def _strategy(self, result: ReconcileAppSetResult) -> RollingSync | None:
        if result.error or not result.manifest:
            return None
        try:
            return parse_applicationset(result.manifest).rolling_sync
        except ApplicationSetError:  # the activity parsed it a moment ago; a set it refused has no plan
            return None

    async def _roll(
        self, ref: AppSetRef, strategy: RollingSync, result: ReconcileAppSetResult, progress: _Progress
    ) -> tuple[_Progress, bool]:
        """One RollingSync poll: read the apps, plan, start the syncs the plan allows, write
        ``status.applicationStatus``. True when every step is done."""
        states: list[AppState] = await workflow.execute_activity_method(
            AppSetActivities.appset_app_progress,
            AppProgressInput(namespace=ref.namespace, applications=result.applications),
            start_to_close_timeout=QUICK_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            summary="read the sync and health of the generated Applications",
        )
        before = {str(e.get("application")): e for e in progress.entries}
        apps = [_app_progress(state, before.get(state.name) or {}) for state in states]
        decision = rolling_sync_plan(strategy, apps)
        to_sync = [name for name in decision.to_sync if name not in progress.asked]  # asked last poll: give it time
        asked: list[str] = []
        step = decision.current_step
        self._status.rolling_step = step
        self._status.rolling_done = decision.done
        if to_sync:
            workflow.set_current_details(f"RollingSync step {step}: syncing {', '.join(to_sync)}")
            started: list[str] = await workflow.execute_activity_method(
                AppSetActivities.sync_appset_apps,
                SyncAppsInput(namespace=ref.namespace, applications=to_sync, prune=result.prune, step=step),
                start_to_close_timeout=QUICK_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                summary=f"RollingSync step {step}: sync {', '.join(to_sync)}",
            )
            asked = sorted(started)
        now = workflow.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        entries = progress_entries(decision, progress.entries, now)
        if [_comparable(e) for e in entries] != [_comparable(e) for e in progress.entries] or not progress.entries:
            await workflow.execute_activity_method(
                AppSetActivities.write_appset_progress,
                WriteProgressInput(
                    namespace=ref.namespace, name=ref.name, application_status=entries, done=decision.done
                ),
                start_to_close_timeout=QUICK_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                summary=f"RollingSync step {step}: write status.applicationStatus",
            )
        if decision.done:
            workflow.set_current_details(f"RollingSync done: {len(entries)} Applications Healthy")
        elif not to_sync:
            waiting = sorted(name for name, p in decision.statuses.items() if p.status in ("Pending", "Progressing"))
            workflow.set_current_details(
                f"RollingSync step {step}: waiting for {', '.join(waiting) or 'the step'} to become Healthy"
            )
        return _Progress(entries=entries, asked=asked), decision.done


def _app_progress(state: AppState, entry: dict[str, Any]) -> AppProgress:
    """An app for the plan: its state now and its previous ``status.applicationStatus`` entry."""
    raw_step = entry.get("step")
    recorded = entry.get("targetRevisions")
    return AppProgress(
        name=state.name,
        labels=state.labels,
        sync_status=state.sync_status,
        health=state.health,
        status=str(entry.get("status") or ""),
        step=int(raw_step) if isinstance(raw_step, str | int) and str(raw_step).isdigit() else None,
        operation_phase=state.operation_phase,
        revisions=tuple(state.revisions),
        synced_revisions=tuple(state.synced_revisions),
        target_revisions=tuple(str(r) for r in recorded) if isinstance(recorded, list) else None,
        message=str(entry.get("message") or ""),
    )


def _comparable(entry: dict[str, Any]) -> tuple[Any, ...]:
    return (entry.get("application"), entry.get("status"), entry.get("step"))
