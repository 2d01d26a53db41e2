"""ApplicationWorkflow: one long-running workflow per Application (id ``app:<name>``).

It loops: wait for a trigger (the refresh timer, a ``refresh`` signal, a ``sync``
update), reconcile (resolve the revision → render → compare), decide whether to sync,
and keep the status that the ``status`` query returns. Syncs run as SyncWorkflow
children. The rules it decides by are Argo CD's, and live in pure modules it calls:
:mod:`bosun.autosync` (when an automated sync runs: OutOfSync, a new commit or spec,
``selfHeal`` for drift, no retry of a failed attempt, suspend, windows, the rollback pin),
:mod:`bosun.app_spec` (values derived from the spec), :mod:`bosun.windows`. A failing
fetch or render leaves a condition and changes nothing in the cluster. Activities are
called through :mod:`workflows.activity_calls` (timeouts and retries per family).

Signals: ``refresh`` (RefreshRequest), ``update_spec`` (the Application JSON).
Updates: ``sync`` (SyncRequest → OperationResult), ``sync_async`` (SyncRequest →
SyncStarted, answered once queued), ``refresh_now`` (→ AppStatus), ``delete``
(DeleteRequest), ``orphaned_resources`` (→ ListOrphanedResult), ``edit_spec`` (SpecEdit:
``update_spec`` with the validation errors returned to the caller), ``suspend`` /
``resume`` (automated sync off / on, Flux's ``suspend``: a suspended app is still
compared and synced by hand, never automatically).
Queries: ``status``, ``history``, ``application``.

History stays bounded: the workflow continues-as-new when Temporal suggests it or after
``MAX_HISTORY_EVENTS``, once its handlers have finished, carrying its state and any
pending requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    import workflows.actions as action_flow
    import workflows.activity_calls as calls
    from activities.app_metrics import SyncCountInput
    from activities.contracts import (
        CompareInput,
        CompareResult,
        Destination,
        PruneInput,
        ReadLiveInput,
        RenderInput,
        RenderResult,
        ResolveRevisionInput,
        ShowDiffInput,
        ShowManifestsInput,
        ShownDiff,
        SourceAtCommit,
    )
    from activities.declarative import AppStatusWrite
    from activities.dependencies import DependencyCheckInput
    from activities.destinations import ResolveDestinationInput
    from activities.orphans import ListOrphanedInput, ListOrphanedResult
    from activities.projects import GetProjectInput
    from activities.trigger import AppScheduleInput, RemoveAppScheduleInput
    from activities.unchanged import UnchangedInput
    from bosun import app_spec
    from bosun import search_attributes as sa
    from bosun.app_edits import document_digest
    from bosun.app_spec import SYNC_SCHEDULE_ANNOTATION
    from bosun.autosync import AutoSyncFacts, Rule, decide, failed_attempt_after, pinned_revision
    from bosun.dependencies import DependencyError, cycle_message, depends_on, graph_text, waiting_message
    from bosun.hashing import json_digest
    from bosun.models import Application, ApplicationSource, AppProject, parse_application, parse_project
    from bosun.operation import ConditionType, OperationPhase, ResultStatus
    from bosun.plan import SyncPlan, only_out_of_sync, only_resources
    from bosun.projects import fetch_violations
    from bosun.protocol import (
        AppQuery,
        AppSignal,
        AppUpdate,
        DeleteRequest,
        RefreshRequest,
        WorkflowType,
        sync_workflow_id,
    )
    from bosun.resources import HealthCode, ResourceKey, SyncCode
    from bosun.sync_options import SyncOptions
    from bosun.windows import WindowError, WindowState, window_state
    from workflows.actions import (
        ActionRecord,
        ResourceActionsRequest,
        ResourceActionsResponse,
        RunResourceActionRequest,
    )
    from workflows.state import (
        AppState,
        AppStatus,
        AppWorkflowInput,
        Condition,
        DiffRequest,
        ManifestsContent,
        ManifestsRequest,
        ManifestsResult,
        OperationResult,
        OrphanedResourcesRequest,
        Pin,
        RollbackRequest,
        SpecEdit,
        SpecSource,
        SyncRequest,
        SyncStarted,
        status_digest,
    )
    from workflows.sync import SyncInput, SyncOutcome, SyncWorkflow, cause_message

MAX_HISTORY_EVENTS = 5000
LOCAL_OR_ACTIVITY_ERRORS = (ActivityError, ApplicationError)
"""What a failed activity raises: ActivityError, or for a local activity (resolve_destination)
the activity's own ApplicationError."""

KEYS = {name: SearchAttributeKey.for_keyword(name) for name in sa.KEYWORDS}
LABELS_KEY = SearchAttributeKey.for_keyword_list(sa.LABELS)
LABELS_PATCH = "labels-search-attribute"
"""Histories from before BosunLabels was upserted replay without that upsert."""
REPOS_KEY = SearchAttributeKey.for_keyword_list(sa.REPOS)
REPOS_PATCH = "repos-search-attribute"
"""Histories from before BosunRepos (what git webhooks look apps up by) replay without that upsert."""
LOCAL_READS_PATCH = "local-project-and-resolve"
"""Histories from before get_project and resolve_revision ran as local activities replay them as tasks."""
QUICK_RECONCILE_PATCH = "check-unchanged"
"""Histories from before the check_unchanged local activity replay without it."""
COUNT_SYNC_PATCH = "count-sync-metric"
"""Histories from before argocd_app_sync_total was counted replay without the count_sync marker."""
STATUS_DIGEST_PATCH = "status-digest-search-attribute"
"""Histories from before BosunStatusDigest replay without that upsert."""
ALLOW_EMPTY_PATCH = "autosync-allow-empty"
"""Histories from before the allowEmpty rule (:mod:`bosun.autosync`) replay without it."""
PROJECT_CHECK_PATCH = "project-check-before-fetch"
"""Histories from before sources and destination were checked against the project ahead of
any fetch (:func:`bosun.projects.fetch_violations`) replay without that check. It was asked at
the first fetch, after the get_project local activity, which does not replay when that local
activity outlived its workflow task (seen at 1,000 apps): runs since PROJECT_CHECK_AT_START_PATCH
ask that one at the start instead, and only older runs ask this one where they did."""
PROJECT_CHECK_AT_START_PATCH = "project-check-asked-at-start"
FLEET_STATUS_PATCH = "memo-status-writes-compare-after-sync"
"""One patch (each is a marker in every run's history) for three changes; histories from
before it replay without them:

- the workflow's memo: ``autosync`` (:data:`bosun.search_attributes.AUTOSYNC_MEMO`) and, for a
  declared app, ``writes_status``;
- a declared app writes its own status to its Application resource (the ``write_app_status``
  local activity); the declarative pass queries and writes the status of the others;
- after a sync, the status comes from a compare of what was synced, with no new resolve, project
  read or render (the same recipe renders the same)."""
DEPENDENCIES_PATCH = "app-dependencies"
"""Histories from before ``bosun.dev/depends-on`` (:mod:`bosun.dependencies`) replay without
the dependency check before a sync."""
DEPENDENCY_RECHECK = timedelta(seconds=5)
"""How often an app that waits for its dependencies checks them again, for DEPENDENCY_FAST_WAIT;
then at each refresh. A dependency becoming Healthy lets its dependents sync within this."""
DEPENDENCY_FAST_WAIT = timedelta(minutes=10)
MANUAL_DEPENDENCY_WAIT = timedelta(minutes=10)
"""How long a manual sync waits for the app's dependencies before it fails, naming them."""
SETTINGS_CONDITIONS = (ConditionType.EXCLUDED_RESOURCE_WARNING, ConditionType.SETTINGS_WARNING)
"""Condition types a compare reports from the settings (CompareResult.warnings)."""


@dataclass(frozen=True)
class _Rendered:
    """A render to compare: the commits of the sources, the manifests' digest, how many, and the recipe."""

    commits: list[str]
    manifests_digest: str
    resource_count: int
    recipe: RenderInput


class _ReconcileFailed(Exception):
    """Fetch, render or compare failed; the condition is already recorded."""


@workflow.defn(name=WorkflowType.APPLICATION)
class ApplicationWorkflow:
    @workflow.init
    def __init__(self, input: AppWorkflowInput) -> None:
        self._input = input
        self._app: Application = parse_application(input.application, source_name="workflow input")
        self._state = input.state or AppState(status=AppStatus(name=self._app.metadata.name))
        self._results: dict[int, OperationResult] = {}
        self._delete: DeleteRequest | None = None
        self._deleted = False
        self._last_compare: CompareResult | None = None
        self._refresh_epoch = 0
        self._operation_task: asyncio.Task[SyncOutcome] | None = None
        self._project: AppProject | None = None
        self._local_reads = False
        """get_project and resolve_revision run as local activities (LOCAL_READS_PATCH)."""
        self._quick_reconciles = False
        """A periodic reconcile asks check_unchanged first (QUICK_RECONCILE_PATCH)."""
        self._project_check_at_start = False
        """The project is checked before any fetch (PROJECT_CHECK_AT_START_PATCH)."""
        self._project_digest = ""
        """:func:`json_digest` of the AppProject the last full reconcile read."""
        self._cluster_queue = ""
        self._cluster: tuple[Destination, str, str] | None = None
        """The destination last resolved, and its cluster's server and name."""
        self._window: WindowState | None = None
        self._dependencies = False
        """Syncs wait for ``bosun.dev/depends-on`` (DEPENDENCIES_PATCH)."""
        self._autosync_memo = False
        """The ``autosync`` memo is kept (FLEET_STATUS_PATCH)."""
        self._compare_after_sync = False
        """After a sync, only compare what was synced (FLEET_STATUS_PATCH)."""
        self._writes_status = False
        """A declared app writes its status to its Application resource (FLEET_STATUS_PATCH)."""
        self._status_written = ""
        """:func:`status_digest` of the status last written to the Application resource."""
        self._cancel_dependency_wait = False
        """``terminate_operation`` while a manual sync waits for its dependencies."""
        self._describe_app()

    # ---------------------------------------------------------------- handlers

    @workflow.signal(name=AppSignal.REFRESH)
    def refresh(self, request: RefreshRequest) -> None:
        self._state.refresh_requested = True
        self._state.hard_refresh_requested = self._state.hard_refresh_requested or request.hard

    @workflow.signal(name=AppSignal.UPDATE_SPEC)
    def update_spec(self, application: dict) -> None:  # type: ignore[type-arg]
        try:
            self._use_spec(application, source_name="update_spec")
        except ValueError as exc:
            self._spec_problem(SpecSource.SPEC, str(exc))

    @workflow.update(name=AppUpdate.EDIT_SPEC)
    async def edit_spec(self, edit: SpecEdit) -> str:
        """``update_spec`` for a caller that wants to know: rejected (by the validator) when
        the document is invalid or was edited from a copy that is no longer current."""
        self._use_spec(edit.application, source_name="edit_spec")
        return document_digest(edit.application)

    @edit_spec.validator
    def _validate_edit_spec(self, edit: SpecEdit) -> None:
        if edit.base_digest and edit.base_digest != document_digest(self._input.application):
            raise ValueError(
                f"application {self._app.metadata.name} changed since it was read: read it again and repeat the edit"
            )
        self._check_spec(edit.application, source_name="edit_spec")

    def _check_spec(self, application: dict, *, source_name: str) -> Application:  # type: ignore[type-arg]
        """The Application ``application`` holds; ValueError if invalid or renamed."""
        app = parse_application(application, source_name=source_name)  # ModelError is a ValueError
        if app.metadata.name != self._app.metadata.name:
            raise ValueError(
                f"{source_name} cannot rename an application ({self._app.metadata.name} to {app.metadata.name})"
            )
        return app

    def _use_spec(self, application: dict, *, source_name: str) -> None:  # type: ignore[type-arg]
        self._app = self._check_spec(application, source_name=source_name)
        self._spec_problem(SpecSource.SPEC, "")
        self._input.application = application
        self._describe_app()
        if self._dependencies:
            self._dependency_names()
        self._state.refresh_requested = True

    @workflow.update(name=AppUpdate.SUSPEND)
    async def suspend(self) -> str:
        """Automated sync off until ``resume`` (Flux's ``suspend``)."""
        self._state.status.suspended = True
        self._keep_autosync_memo()
        return f"application {self._app.metadata.name} suspended: no automated sync until resumed"

    @workflow.update(name=AppUpdate.RESUME)
    async def resume(self) -> str:
        self._state.status.suspended = False
        self._keep_autosync_memo()
        self._state.refresh_requested = True  # catch up now, as Flux's resume reconciles
        return f"application {self._app.metadata.name} resumed"

    @workflow.update(name=AppUpdate.SYNC)
    async def sync(self, request: SyncRequest) -> OperationResult:
        return await self._queue_sync(request)

    async def _queue_sync(self, request: SyncRequest) -> OperationResult:
        """Queue a sync for the main loop and wait for its result."""
        op_id = self._state.next_operation_id
        self._state.next_operation_id += 1
        self._state.pending_syncs.append((op_id, request))
        await workflow.wait_condition(lambda: op_id in self._results)
        return self._results.pop(op_id)

    @sync.validator
    def _validate_sync(self, request: SyncRequest) -> None:
        if self._delete is not None:
            raise ValueError(f"application {self._app.metadata.name} is being deleted")

    @workflow.update(name=AppUpdate.SYNC_ASYNC)
    def sync_async(self, request: SyncRequest) -> SyncStarted:
        """Queue a sync and answer at once (``bosun app sync --async``); its result goes to
        the status and history only."""
        op_id = self._next_op_id()
        self._state.pending_syncs.append((op_id, request))
        self._state.detached_syncs.append(op_id)
        return SyncStarted(id=op_id, workflow_id=sync_workflow_id(self._app.metadata.name, op_id))

    @sync_async.validator
    def _validate_sync_async(self, request: SyncRequest) -> None:
        self._validate_sync(request)

    @workflow.update(name=AppUpdate.ORPHANED_RESOURCES)
    async def orphaned_resources(self, request: OrphanedResourcesRequest) -> ListOrphanedResult:
        """The destination namespace's objects that no app tracks (read on the destination
        cluster's task queue; see :mod:`activities.orphans`)."""
        managed = [r.key for r in self._state.status.resources]
        return await calls.list_orphaned(
            ListOrphanedInput(app=self._app.metadata.name, destination=self._destination(), managed=managed),
            task_queue=await self._resolve_destination(),
            summary=f"list orphaned resources in namespace {self._destination().namespace}",
        )

    @workflow.update(name=AppUpdate.ROLLBACK)
    async def rollback(self, request: RollbackRequest) -> OperationResult:
        """Sync the revision of history entry ``id`` again and pin automated sync to it."""
        entry = next((h for h in self._state.history if h.id == request.id), None)
        if entry is None or not entry.revision:
            raise ApplicationError(
                f"no history entry {request.id} with a revision (see `bosun app history`)",
                type="NotFound",
                non_retryable=True,
            )
        return await self._queue_sync(
            SyncRequest(
                revision=entry.revision,
                prune=request.prune,
                trigger=f"rollback to #{request.id}",
                rollback_of=request.id,
            )
        )

    @workflow.signal(name=AppSignal.UNPIN)
    def unpin(self) -> None:
        """Release a rollback pin: automated sync follows the target revision again."""
        self._state.pin = None
        self._state.status.pinned_revision = ""
        self._state.refresh_requested = True

    @workflow.signal(name=AppSignal.TERMINATE_OPERATION)
    def terminate_operation(self) -> None:
        """Stop the running sync: its current step is cancelled and it ends Failed."""
        if self._operation_task is not None and not self._operation_task.done():
            self._operation_task.cancel()
        elif self._dependencies:
            self._cancel_dependency_wait = True  # a manual sync waiting for its dependencies

    @workflow.update(name=AppUpdate.MANIFESTS)
    async def manifests(self, request: ManifestsRequest) -> ManifestsResult:
        """Render a revision (``git``) or read the live objects (``live``) into the store."""
        if request.source == "live":
            keys = [r.key for r in self._state.status.resources if r.health is not HealthCode.MISSING]
            live = await calls.read_live(
                ReadLiveInput(app=self._app.metadata.name, destination=self._destination(), keys=keys),
                task_queue=await self._resolve_destination(),
                summary=f"read {len(keys)} live objects",
            )
            return ManifestsResult(digest=live.digest, count=live.count, revision=self._state.status.revision)
        commits, rendered, _ = await self._render(request.revision or app_spec.target_revision(self._app), hard=False)
        return ManifestsResult(digest=rendered.manifests_digest, count=rendered.resource_count, revision=commits[0])

    @workflow.update(name=AppUpdate.MANIFESTS_CONTENT)
    async def manifests_content(self, request: ManifestsRequest) -> ManifestsContent:
        """``bosun app manifests``: a revision rendered (``git``) or the live objects (``live``),
        the objects themselves, fetched on whichever worker takes the activity."""
        task_queue = await self._resolve_destination()
        if request.source == "live":
            keys = [r.key for r in self._state.status.resources if r.health is not HealthCode.MISSING]
            live = ReadLiveInput(app=self._app.metadata.name, destination=self._destination(), keys=keys)
            shown = await calls.show_manifests(
                ShowManifestsInput(live=live), task_queue=task_queue, summary=f"read {len(keys)} live objects"
            )
            revision = self._state.status.revision
        else:
            commits, rendered, recipe = await self._render(
                request.revision or app_spec.target_revision(self._app), hard=False
            )
            shown = await calls.show_manifests(
                ShowManifestsInput(digest=rendered.manifests_digest, render=recipe),
                task_queue=task_queue,
                summary=f"show {rendered.resource_count} rendered objects",
            )
            revision = commits[0]
        return ManifestsContent(objects=shown.objects, total=shown.total, note=shown.note, revision=revision)

    @workflow.update(name=AppUpdate.DIFF_CONTENT)
    async def diff_content(self, request: DiffRequest) -> ShownDiff:
        """``bosun app diff``: the diff bodies of the last comparison (compared again by a
        worker whose store misses them)."""
        status = self._state.status
        if not status.diff_digest:
            raise ApplicationError(
                "the application has not been compared yet: "
                + ("; ".join(c.message for c in status.conditions) or "refresh it first"),
                type="NotCompared",
                non_retryable=True,
            )
        return await calls.show_diff(
            ShowDiffInput(
                diff_digest=status.diff_digest,
                compare=self._compare_input(status.manifests_digest, self._state.render_recipe),
            ),
            task_queue=await self._resolve_destination(),
            summary="show the diff of the last comparison",
        )

    @workflow.update(name=AppUpdate.RESOURCE_ACTIONS)
    async def resource_actions(self, request: ResourceActionsRequest) -> ResourceActionsResponse:
        """The actions one of the app's resources offers (``bosun app actions list``)."""
        return await action_flow.list_actions(
            app=self._app.metadata.name,
            project=self._app.spec.project,
            destination=self._destination(),
            keys=[r.key for r in self._state.status.resources],
            request=request,
            task_queue=self._resolve_destination,
        )

    @workflow.update(name=AppUpdate.RUN_RESOURCE_ACTION)
    async def run_resource_action(self, request: RunResourceActionRequest) -> ActionRecord:
        """Run an action on one of the app's resources, record it, refresh (``bosun app actions run``)."""

        def record(entry: ActionRecord) -> None:
            self._state.status.last_action = entry
            self._state.actions = [*self._state.actions, entry][-action_flow.ACTION_HISTORY_LIMIT :]
            self._state.refresh_requested = True

        return await action_flow.run_action(
            app=self._app.metadata.name,
            project=self._app.spec.project,
            destination=self._destination(),
            keys=[r.key for r in self._state.status.resources],
            request=request,
            task_queue=self._resolve_destination,
            record=record,
        )

    @workflow.query(name=AppQuery.ACTION_HISTORY)
    def action_history(self) -> list[ActionRecord]:
        return self._state.actions

    @workflow.update(name=AppUpdate.REFRESH_NOW)
    async def refresh_now(self, request: RefreshRequest) -> AppStatus:
        """Reconcile now and return the fresh status (what ``bosun app diff`` uses)."""
        epoch = self._refresh_epoch
        self._state.refresh_requested = True
        self._state.hard_refresh_requested = self._state.hard_refresh_requested or request.hard
        await workflow.wait_condition(lambda: self._refresh_epoch > epoch)
        return self._state.status

    @workflow.update(name=AppUpdate.DELETE)
    async def delete(self, request: DeleteRequest) -> str:
        self._delete = request
        await workflow.wait_condition(lambda: self._deleted)
        return f"application {self._app.metadata.name} deleted" + (" with its resources" if request.cascade else "")

    @workflow.query(name=AppQuery.STATUS)
    def status(self) -> AppStatus:
        return self._state.status

    @workflow.query(name=AppQuery.HISTORY)
    def history(self) -> list[OperationResult]:
        return self._state.history

    @workflow.query(name=AppQuery.APPLICATION)
    def application(self) -> dict:  # type: ignore[type-arg]
        return self._input.application

    # ---------------------------------------------------------------- main loop

    @workflow.run
    async def run(self, input: AppWorkflowInput) -> str:
        # Asked once, before any local activity: a patch first asked after one, in the same
        # workflow task, does not replay (the SDK meets its marker before the code asks).
        self._local_reads = workflow.patched(LOCAL_READS_PATCH)
        self._quick_reconciles = workflow.patched(QUICK_RECONCILE_PATCH)
        self._project_check_at_start = workflow.patched(PROJECT_CHECK_AT_START_PATCH)
        self._dependencies = workflow.patched(DEPENDENCIES_PATCH)
        fleet_status = workflow.patched(FLEET_STATUS_PATCH)
        self._autosync_memo = self._compare_after_sync = fleet_status
        self._writes_status = fleet_status and input.declared
        if self._dependencies:
            self._dependency_names()
        self._upsert_search_attributes()
        trigger = "start"
        while True:
            if self._delete is not None:
                await self._run_delete(self._delete)
                return f"deleted (cascade={self._delete.cascade})"
            await self._keep_schedule()
            if self._state.pending_syncs:
                op_id, request = self._state.pending_syncs.pop(0)
                result = await self._manual_sync(op_id, request)
                if op_id in self._state.detached_syncs:  # sync_async: nobody waits for it
                    self._state.detached_syncs.remove(op_id)
                else:
                    self._results[op_id] = result
            else:
                self._state.refresh_requested = False
                await self._reconcile_and_auto_sync(trigger)
                self._refresh_epoch += 1
            if self._should_continue_as_new():
                # Handlers wait for the loop (a queued sync, a refresh_now): serve them first,
                # continue as new only once nothing is in flight.
                await workflow.wait_condition(lambda: workflow.all_handlers_finished() or self._has_work())
                if not self._has_work():
                    workflow.continue_as_new(
                        AppWorkflowInput(
                            application=self._input.application,
                            refresh_seconds=self._input.refresh_seconds,
                            declared=self._input.declared,
                            state=self._state,
                        )
                    )
            if digest_update := self._status_digest_update():  # what handlers changed meanwhile too
                workflow.upsert_search_attributes(digest_update)
            await self._write_status()
            trigger = await self._wait_for_trigger()

    def _deletion_order(self, keys: list[ResourceKey]) -> list[ResourceKey]:
        """The sync plan's order reversed (namespaces and CRDs last); keys the plan does
        not know (extraneous objects) first."""
        planned = [t.key for t in self._last_compare.plan.tasks] if self._last_compare else []
        rank = {key: i for i, key in enumerate(planned)}
        return sorted(keys, key=lambda k: -rank.get(k, len(planned)))

    def _has_work(self) -> bool:
        return bool(self._state.pending_syncs) or self._state.refresh_requested or self._delete is not None

    def _refresh_seconds(self) -> float:
        """``timeout.reconciliation`` from the settings when they set it, else the app's own interval."""
        configured = self._state.settings_refresh_seconds
        return float(configured) if configured is not None else self._input.refresh_seconds

    async def _wait_for_trigger(self) -> str:
        refresh = self._refresh_seconds()
        jitter = workflow.random().uniform(0, refresh * 0.1)
        # timeout.reconciliation 0: no periodic refresh, only requests (and sync windows) wake the app.
        wait = refresh + jitter if refresh > 0 else math.inf
        summary = "refresh timer"
        since = self._state.dependencies_waiting_since
        fast = since is not None and workflow.now() - since < DEPENDENCY_FAST_WAIT
        if fast and DEPENDENCY_RECHECK.total_seconds() < wait:
            wait, summary = DEPENDENCY_RECHECK.total_seconds(), "check the dependencies again"
        window = self._state.status.sync_window
        if window is not None and not window.automated_allowed and window.next_change is not None:
            until_open = (window.next_change - workflow.now()).total_seconds() + 1
            if until_open < wait:
                wait, summary = max(until_open, 1.0), "until the sync window opens"
        try:
            await workflow.wait_condition(
                lambda: self._state.refresh_requested or bool(self._state.pending_syncs) or self._delete is not None,
                timeout=timedelta(seconds=wait) if math.isfinite(wait) else None,
                timeout_summary=summary,
            )
        except TimeoutError:
            return "timer"
        return "refresh" if self._state.refresh_requested else "request"

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > MAX_HISTORY_EVENTS

    # ---------------------------------------------------------------- reconcile

    async def _reconcile_and_auto_sync(self, trigger: str) -> None:
        try:
            compared = await self._reconcile(await self._effective_revision(), quick=True)
        except _ReconcileFailed:
            return
        status = self._state.status
        facts = AutoSyncFacts(
            automated=self._app.is_automated(),
            sync=compared.sync,
            revision=status.revision,
            revisions=status.revisions,
            manifests_digest=status.manifests_digest,
            synced_revisions=status.synced_revisions,
            synced_manifests_digest=self._state.synced_manifests_digest,
            failed_attempt=self._state.failed_auto_sync,
            self_heal=app_spec.self_heal(self._app),
            prune=app_spec.auto_prune(self._app),
            allow_empty=app_spec.allow_empty(self._app),
            suspended=status.suspended,
            scheduled=bool(app_spec.sync_schedule(self._app)[0]),
            resources=compared.resources,
            window=self._window,  # as _reconcile just evaluated it (None: no windows, or invalid ones)
        )
        decision = decide(facts)
        if decision.rule is Rule.ALLOW_EMPTY and not workflow.patched(ALLOW_EMPTY_PATCH):
            decision = decide(replace(facts, allow_empty=True))  # a history from before the rule
        if decision.condition and decision.condition != self._condition_message(ConditionType.SYNC_ERROR):
            self._set_condition(ConditionType.SYNC_ERROR, decision.condition)
        if not decision.sync:
            if self._dependencies:  # nothing to sync: nothing waits
                self._state.dependencies_waiting_since = None
                self._clear_condition(ConditionType.DEPENDENCY_NOT_READY)
            return  # a closed window: the refresh timer wakes the workflow when it opens
        if self._dependencies:
            blocked, soon = await self._check_dependencies()
            if blocked:
                if not soon:
                    self._state.dependencies_waiting_since = None
                elif self._state.dependencies_waiting_since is None:
                    self._state.dependencies_waiting_since = workflow.now()
                self._upsert_search_attributes()
                return  # checked again on the next timer (every few seconds while it waits)
            self._state.dependencies_waiting_since = None
        result = await self._run_sync(
            self._next_op_id(),
            compared,
            SyncRequest(trigger=decision.trigger, prune=app_spec.auto_prune(self._app)),
        )
        self._state.failed_auto_sync = failed_attempt_after(facts, succeeded=result.phase is OperationPhase.SUCCEEDED)

    async def _effective_revision(self) -> str:
        """The target revision, or the pinned one while a rollback holds and Git has not moved."""
        pin = self._state.pin
        if pin is None:
            return app_spec.target_revision(self._app)
        try:
            head = await self._resolve(app_spec.target_revision(self._app))
        except LOCAL_OR_ACTIVITY_ERRORS as exc:  # ApplicationError: the project forbids the fetch
            self._set_condition(ConditionType.COMPARISON_ERROR, cause_message(exc))
            raise _ReconcileFailed() from None
        outcome = pinned_revision(pinned=pin.revision, pinned_at_target=pin.target_commit, target_commit=head)
        if not outcome.holds:  # a newer commit arrived: automated sync moves forward again
            self._state.pin = None
            self._state.status.pinned_revision = ""
        return outcome.revision

    async def _resolve(self, revision: str, source: ApplicationSource | None = None, *, fresh: bool = False) -> str:
        """The commit ``revision`` names now (``fresh``: a hard refresh, past the worker's cache of
        resolved revisions); a Helm repository chart's version is kept as is."""
        source = source or self._app.sources_list()[0]
        if self._project is not None and (self._project_check_at_start or workflow.patched(PROJECT_CHECK_PATCH)):
            self._check_project_before_fetch(self._project)
        if source.chart:
            return revision
        resolved = await calls.resolve_revision(
            ResolveRevisionInput(repo_url=source.repo_url, revision=revision, fresh=fresh),
            summary=f"resolve {revision or 'HEAD'}",
            local=self._local_reads,
        )
        return resolved.commit

    def _wanted_revisions(self, revision: str) -> list[str]:
        """The revision each source asks for: ``revision`` for the first, targetRevision for the others."""
        return [revision if i == 0 else src.target_revision for i, src in enumerate(self._app.sources_list())]

    def _recipe(self, commits: list[str], *, hard: bool = False) -> RenderInput:
        """What to render: the app's sources now, at ``commits``."""
        sources = self._app.sources_list()
        return RenderInput(
            app=self._app.metadata.name,
            sources=[
                SourceAtCommit(repo_url=src.repo_url, commit=commit, source=src.dump())
                for src, commit in zip(sources, commits, strict=True)
            ],
            destination_namespace=self._app.spec.destination.namespace or "",
            destination=self._destination(),
            hard_refresh=hard,
            source_repos=list(self._project.spec.source_repos) if self._project is not None else None,
        )

    async def _render(self, revision: str, *, hard: bool) -> tuple[list[str], RenderResult, RenderInput]:
        """Resolve every source (``revision`` for the first, targetRevision for the others)
        and render them together; (the commits, the render, what was rendered: the recipe)."""
        sources = self._app.sources_list()
        commits = [
            await self._resolve(wanted, src, fresh=hard)
            for wanted, src in zip(self._wanted_revisions(revision), sources, strict=True)
        ]
        recipe = self._recipe(commits, hard=hard)
        rendered = await calls.render(
            recipe,
            summary=("hard refresh: " if hard else "")
            + "render "
            + ", ".join(
                f"{src.chart or src.path or '.'} at {commit[:12]}"
                for src, commit in zip(sources, commits, strict=True)
                if src.chart or src.path or len(sources) == 1
            ),
        )
        return commits, rendered, recipe.model_copy(update={"hard_refresh": False})

    async def _reconcile(
        self, revision: str, *, prune: bool | None = None, quick: bool = False, rendered: _Rendered | None = None
    ) -> CompareResult:
        """Resolve every source, render them together, compare with the cluster.

        ``revision`` applies to the first source (the only one, usually); the other sources
        of a multi-source app follow their own targetRevision. ``quick``: first ask the
        worker's caches whether anything changed since the last compare (one local
        activity, :mod:`activities.unchanged`), and keep the last result if nothing did.
        ``rendered``: what to compare, rendered already (after a sync, what it synced): only
        the compare runs.
        """
        status = self._state.status
        last = self._last_compare
        # Only after a reconcile that succeeded: a ComparisonError is cleared by a full one.
        failed_before = bool(self._condition_message(ConditionType.COMPARISON_ERROR))
        if quick and last is not None and not failed_before and await self._unchanged(revision, last):
            status.reconciled_at = workflow.now()
            self._window = self._window_state()
            self._upsert_search_attributes()
            return last
        status.operation = "comparing" if status.operation == "idle" else status.operation
        try:
            if rendered is None:
                await self._resolve_destination()
                project = await calls.get_project(
                    GetProjectInput(name=self._app.spec.project),
                    summary=f"read project {self._app.spec.project}",
                    local=self._local_reads,
                )
                self._project = parse_project(project.project, source_name=f"project {self._app.spec.project}")
                self._project_digest = json_digest(project.project)
                commits, render, recipe = await self._render(revision, hard=self._state.hard_refresh_requested)
                rendered = _Rendered(commits, render.manifests_digest, render.resource_count, recipe)
            compared = await calls.compare(
                self._compare_input(rendered.manifests_digest, rendered.recipe, prune=prune),
                task_queue=self._cluster_queue,
                summary=f"compare {rendered.resource_count} resources with the cluster",
            )
        except LOCAL_OR_ACTIVITY_ERRORS as exc:
            self._set_condition(ConditionType.COMPARISON_ERROR, cause_message(exc))
            status.sync = SyncCode.UNKNOWN
            status.operation = "idle" if status.operation == "comparing" else status.operation
            status.reconciled_at = workflow.now()
            self._upsert_search_attributes()
            raise _ReconcileFailed() from None
        self._clear_condition(ConditionType.COMPARISON_ERROR)
        self._settings_conditions(compared.warnings)
        self._state.settings_refresh_seconds = compared.refresh_seconds
        self._state.hard_refresh_requested = False
        self._state.known_kinds = compared.kinds
        status.revision = rendered.commits[0]
        status.revisions = rendered.commits
        status.sync = compared.sync
        status.health = compared.health
        status.resources = compared.resources
        status.manifests_digest = rendered.manifests_digest
        self._state.render_recipe = rendered.recipe
        status.diff_digest = compared.diff_digest
        status.reconciled_at = workflow.now()
        status.operation = "idle" if status.operation == "comparing" else status.operation
        self._last_compare = compared
        self._window = self._window_state()
        self._upsert_search_attributes()
        return compared

    async def _unchanged(self, revision: str, last: CompareResult) -> bool:
        """Whether the worker's caches say a reconcile would find what ``last`` found."""
        recipe = self._state.render_recipe
        if not last.key or recipe is None or not self._project_digest or self._state.hard_refresh_requested:
            return False
        commits = [source.commit for source in recipe.sources]
        if len(commits) != len(self._app.sources_list()) or not self._quick_reconciles:
            return False
        try:
            checked = await calls.check_unchanged(
                UnchangedInput(
                    compare=self._compare_input(self._state.status.manifests_digest, self._recipe(commits)),
                    revisions=self._wanted_revisions(revision),
                    project_digest=self._project_digest,
                    compare_key=last.key,
                ),
                summary="anything changed?",
            )
        except LOCAL_OR_ACTIVITY_ERRORS:
            return False
        return checked.unchanged

    def _compare_input(self, digest: str, recipe: RenderInput | None, *, prune: bool | None = None) -> CompareInput:
        """The comparison of rendered manifests ``digest`` (rendered from ``recipe``) with the cluster."""
        return CompareInput(
            app=self._app.metadata.name,
            manifests_digest=digest,
            destination=self._destination(),
            project=self._app.spec.project,
            repo_urls=[src.repo_url for src in self._app.sources_list()],
            ignore_differences=[d.dump() for d in self._app.spec.ignore_differences or []],
            sync_options=self._app.sync_options(),
            prune=app_spec.auto_prune(self._app) if prune is None else prune,
            known_kinds=self._state.known_kinds,
            render=recipe,
        )

    async def _manual_sync(self, op_id: int, request: SyncRequest) -> OperationResult:
        if self._state.status.suspended and request.trigger.startswith("schedule"):
            now = workflow.now()  # a schedule syncs in place of automated sync: suspended too
            result = OperationResult(
                id=op_id,
                phase=OperationPhase.FAILED,
                trigger=request.trigger,
                started_at=now,
                finished_at=now,
                message="the application is suspended (bosun app resume)",
            )
            self._record(result)
            return result
        window = self._window_state()
        if window is not None and not window.manual_allowed and request.trigger.startswith("manual"):
            now = workflow.now()
            result = OperationResult(
                id=op_id,
                phase=OperationPhase.FAILED,
                trigger=request.trigger,
                started_at=now,
                finished_at=now,
                dry_run=request.dry_run,
                message=f"blocked by sync window: {window.reason}",
            )
            self._record(result)
            return result
        if self._dependencies and not request.dry_run:
            refused = await self._wait_for_dependencies(op_id, request)
            if refused is not None:
                self._record(refused)
                return refused
        revision = request.revision or app_spec.target_revision(self._app)
        prune = request.prune if request.prune is not None else False
        try:
            compared = await self._reconcile(revision, prune=prune)
        except _ReconcileFailed:
            now = workflow.now()
            result = OperationResult(
                id=op_id,
                phase=OperationPhase.ERROR,
                trigger=request.trigger,
                started_at=now,
                finished_at=now,
                dry_run=request.dry_run,
                message=self._condition_message(ConditionType.COMPARISON_ERROR),
            )
            self._record(result)
            return result
        if request.rollback_of is not None:
            target = await self._resolve(app_spec.target_revision(self._app))
            self._state.pin = Pin(
                revision=self._state.status.revision, target_commit=target, operation_id=request.rollback_of
            )
            self._state.status.pinned_revision = self._state.status.revision
        return await self._run_sync(op_id, compared, request.model_copy(update={"prune": prune}))

    # ---------------------------------------------------------------- dependencies (bosun.dev/depends-on)

    def _dependency_names(self) -> tuple[str, ...] | None:
        """The apps the annotation names (kept in the status), or None when it cannot be parsed
        (an InvalidSpecError naming it). An app without the annotation costs nothing here."""
        status = self._state.status
        try:
            names = depends_on(self._app.metadata.annotations, app=self._app.metadata.name)
        except DependencyError as exc:
            self._spec_problem(SpecSource.DEPENDENCIES, str(exc))
            return None
        self._spec_problem(SpecSource.DEPENDENCIES, "")
        if list(names) != status.depends_on:
            status.depends_on = list(names)
            status.dependencies = [d for d in status.dependencies if d.name in names]
        if not names:
            self._spec_problem(SpecSource.DEPENDENCY_CYCLE, "")
            self._clear_condition(ConditionType.DEPENDENCY_NOT_READY)
            self._state.dependencies_waiting_since = None
        return names

    async def _check_dependencies(self) -> tuple[str, bool]:
        """Whether the app may sync now: ("", _) when it may; else why not, and whether to check
        again soon (a dependency not ready yet) or not (an invalid annotation, a cycle: only a
        change of spec helps). Sets the DependencyNotReady condition, or the InvalidSpecError of
        a cycle, and the dependencies' statuses that ``bosun app get`` shows."""
        names = self._dependency_names()
        if names is None:
            return self._state.spec_problems[SpecSource.DEPENDENCIES], False
        if not names:
            return "", False
        status = self._state.status
        try:
            checked = await calls.check_dependencies(
                DependencyCheckInput(app=self._app.metadata.name, depends_on=list(names)),
                summary="check dependencies " + ", ".join(names),
            )
        except LOCAL_OR_ACTIVITY_ERRORS as exc:
            message = f"cannot check the dependencies: {cause_message(exc)}"
            self._condition(ConditionType.DEPENDENCY_NOT_READY, message)
            return message, True
        status.dependencies = checked.dependencies
        if checked.cycle:
            message = cycle_message(checked.cycle)
            self._spec_problem(SpecSource.DEPENDENCY_CYCLE, message)
            self._clear_condition(ConditionType.DEPENDENCY_NOT_READY)
            return message, False
        self._spec_problem(SpecSource.DEPENDENCY_CYCLE, "")
        waiting = waiting_message(checked.dependencies)
        self._condition(ConditionType.DEPENDENCY_NOT_READY, waiting)
        return waiting, True

    async def _wait_for_dependencies(self, op_id: int, request: SyncRequest) -> OperationResult | None:
        """A manual sync waits, as automated sync does, until the app's dependencies are ready
        (checked every DEPENDENCY_RECHECK, for at most MANUAL_DEPENDENCY_WAIT): None when they
        are, else the failed operation (a cycle, the wait too long, terminated, deleted).
        ``--force`` does not skip the wait: it is Argo CD's Force sync option (replace what
        cannot be patched), not a way around the order."""
        status = self._state.status
        started = workflow.now()
        self._cancel_dependency_wait = False
        problem = ""
        while True:
            blocked, soon = await self._check_dependencies()
            if not blocked:
                break
            waited = workflow.now() - started
            if not soon:
                problem = blocked
            elif self._delete is not None:
                problem = "the application is being deleted"
            elif self._cancel_dependency_wait:
                problem = f"operation terminated by user while waiting for dependencies: {blocked}"
            elif waited >= MANUAL_DEPENDENCY_WAIT:
                problem = f"dependencies not ready after {int(waited.total_seconds())}s: {blocked}"
            if problem:
                break
            status.operation = f"waiting for dependencies ({request.trigger}): {blocked}"
            self._upsert_search_attributes()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._delete is not None or self._cancel_dependency_wait,
                    timeout=DEPENDENCY_RECHECK,
                    timeout_summary="check the dependencies again",
                )
        if status.operation.startswith("waiting for dependencies"):
            status.operation = "idle"
        self._cancel_dependency_wait = False
        if not problem:
            return None
        if not self._state.dependencies_waiting_since:  # no automated sync waits either
            self._clear_condition(ConditionType.DEPENDENCY_NOT_READY)
        now = workflow.now()
        return OperationResult(
            id=op_id,
            phase=OperationPhase.FAILED,
            trigger=request.trigger,
            started_at=started,
            finished_at=now,
            message=problem,
        )

    def _condition(self, kind: str, message: str) -> None:
        """Set condition ``kind`` to ``message`` (clear it when ""), leaving it untouched when unchanged."""
        if not message:
            self._clear_condition(kind)
        elif message != self._condition_message(kind):
            self._set_condition(kind, message)

    async def _run_sync(self, op_id: int, compared: CompareResult, request: SyncRequest) -> OperationResult:
        status = self._state.status
        name = self._app.metadata.name
        child_id = sync_workflow_id(name, op_id)
        started = workflow.now()
        status.operation = f"syncing to {status.revision[:12]} ({request.trigger})"
        status.operation_workflow_id = child_id
        self._upsert_search_attributes()
        await self._write_status()  # "Syncing" while it runs, as Argo CD's operationState
        self._operation_task = asyncio.ensure_future(
            workflow.execute_child_workflow(
                SyncWorkflow.run,
                SyncInput(
                    app=name,
                    operation_id=op_id,
                    destination=self._destination(),
                    manifests_digest=status.manifests_digest,
                    render=self._state.render_recipe,
                    plan=self._plan_for(compared, request),
                    sync_options=request.sync_options(self._app.sync_options()),
                    dry_run=request.dry_run,
                    task_queue=self._cluster_queue,
                    namespace_metadata=app_spec.namespace_metadata(self._app),
                    retry=app_spec.operation_retry(self._app),
                    project=self._app.spec.project,
                    repo_urls=[src.repo_url for src in self._app.sources_list()],
                    ignore_differences=[d.dump() for d in self._app.spec.ignore_differences or []],
                ),
                id=child_id,
                static_summary=f"sync {name} to {status.revision[:12]} ({request.trigger})",
            )
        )
        try:
            outcome: SyncOutcome = await self._operation_task
            phase, message, resources = outcome.phase, outcome.message, outcome.resources
        except ChildWorkflowError as exc:
            phase, message, resources = OperationPhase.ERROR, cause_message(exc), []
        except asyncio.CancelledError:
            phase, message, resources = OperationPhase.FAILED, "operation terminated by user", []
        finally:
            self._operation_task = None
            status.operation_workflow_id = ""
        result = OperationResult(
            id=op_id,
            phase=phase,
            message=message,
            revision=status.revision,
            trigger=request.trigger,
            dry_run=request.dry_run,
            started_at=started,
            finished_at=workflow.now(),
            resources=resources,
            workflow_id=child_id,
        )
        if workflow.patched(COUNT_SYNC_PATCH):
            with contextlib.suppress(*LOCAL_OR_ACTIVITY_ERRORS):
                await calls.count_sync(
                    SyncCountInput(
                        app=name,
                        project=self._app.spec.project,
                        dest_server=self._app.spec.destination.server or self._app.spec.destination.name or "",
                        phase=str(phase),
                    )
                )
        partial = bool(request.resources)
        self._record(result, history=not partial)  # Argo CD keeps no history entry of a partial sync
        status.operation = "idle"
        if phase is OperationPhase.SUCCEEDED and not request.dry_run and not partial:
            self._state.failed_auto_sync = ""  # the last attempt at this revision succeeded
            status.synced_revision = status.revision
            status.synced_revisions = list(status.revisions)
            self._state.synced_manifests_digest = status.manifests_digest
            self._clear_condition(ConditionType.SYNC_ERROR)
        elif phase is not OperationPhase.SUCCEEDED:
            self._set_condition(ConditionType.SYNC_ERROR, message)
        with contextlib.suppress(_ReconcileFailed):  # the condition is recorded already
            await self._reconcile(status.revision, rendered=self._synced_render())  # status after the sync
        return result

    def _synced_render(self) -> _Rendered | None:
        """What the sync just applied, to compare again as it is (None: resolve and render anew).
        The recipe names commits, not branches, so it renders the same; a new spec during the sync
        asked for a refresh, which follows, and a hard refresh asked for meanwhile renders anew."""
        recipe, status = self._state.render_recipe, self._state.status
        if not self._compare_after_sync or recipe is None or not status.revisions or not status.manifests_digest:
            return None
        if self._state.hard_refresh_requested:  # asked for during the sync: render anew now
            return None
        count = sum(1 for resource in status.resources if not (resource.hook or resource.requires_pruning))
        return _Rendered(list(status.revisions), status.manifests_digest, count, recipe)

    async def _keep_schedule(self) -> None:
        """Create, update or remove the Temporal Schedule of ``bosun.dev/sync-schedule``."""
        cron, timezone = app_spec.sync_schedule(self._app)
        wanted = f"{cron} {timezone}" if cron else ""
        if wanted == self._state.schedule:
            return
        try:
            if cron:
                await calls.ensure_app_schedule(
                    AppScheduleInput(app=self._app.metadata.name, cron=cron, timezone=timezone),
                    summary=f"schedule syncs at {cron} ({timezone})",
                )
            else:
                await calls.remove_app_schedule(
                    RemoveAppScheduleInput(app=self._app.metadata.name), summary="remove the sync schedule"
                )
        except ActivityError as exc:
            self._spec_problem(SpecSource.SYNC_SCHEDULE, f"{SYNC_SCHEDULE_ANNOTATION}: {cause_message(exc)}")
            return
        self._spec_problem(SpecSource.SYNC_SCHEDULE, "")
        self._state.schedule = wanted

    async def _run_delete(self, request: DeleteRequest) -> None:
        status = self._state.status
        now = workflow.now()
        for op_id, pending in self._state.pending_syncs:  # answered, never left waiting
            self._results[op_id] = OperationResult(
                id=op_id,
                phase=OperationPhase.FAILED,
                trigger=pending.trigger,
                started_at=now,
                finished_at=now,
                message="the application was deleted first",
            )
        self._state.pending_syncs = []
        if self._state.schedule:
            await calls.remove_app_schedule(
                RemoveAppScheduleInput(app=self._app.metadata.name), summary="remove the sync schedule"
            )
        if request.cascade:
            status.operation = "deleting resources"
            keys = self._deletion_order(
                [r.key for r in status.resources if not r.hook and r.health is not HealthCode.MISSING]
            )
            if keys:
                try:
                    result = await calls.prune(
                        PruneInput(
                            app=self._app.metadata.name, destination=self._destination(), keys=keys, deleting_app=True
                        ),
                        task_queue=await self._resolve_destination(),
                        summary=f"delete {len(keys)} resources of {self._app.metadata.name}",
                        retry=calls.CLUSTER_RETRY,
                    )
                    failed = [f"{r.key.short}: {r.message}" for r in result.results if r.status is ResultStatus.FAILED]
                except LOCAL_OR_ACTIVITY_ERRORS as exc:
                    failed = [cause_message(exc)]
                if failed:
                    self._set_condition(ConditionType.DELETION_ERROR, "; ".join(failed))
        status.operation = "deleted"
        self._deleted = True
        await workflow.wait_condition(workflow.all_handlers_finished)

    # ---------------------------------------------------------------- helpers

    async def _resolve_destination(self) -> str:
        """The destination cluster's task queue (its activities run there); ActivityError
        if the cluster is unknown. A local activity: it runs on every reconcile, reads only
        the worker's own cluster list, and so costs a marker in history, not a task."""
        resolved = await calls.resolve_destination(
            ResolveDestinationInput(destination=self._destination()),
            summary=f"find cluster {self._destination().describe()}",
        )
        self._cluster_queue = resolved.task_queue
        self._cluster = (self._destination(), resolved.server, resolved.name)
        return resolved.task_queue

    def _check_project_before_fetch(self, project: AppProject) -> None:
        """Refuse, before any repository is resolved or rendered with stored credentials,
        the sources and destination ``project`` forbids (the compare activity checks again,
        with the rendered objects)."""
        dest = self._destination()
        resolved = self._cluster if self._cluster is not None and self._cluster[0] == dest else None
        server, name = (resolved[1], resolved[2]) if resolved else (dest.server, dest.name)
        problems = fetch_violations(
            project,
            repo_urls=[src.repo_url for src in self._app.sources_list()],
            server=server,
            name=name,
            namespace=dest.namespace,
        )
        if problems:
            raise ApplicationError("; ".join(problems), type="ProjectViolation", non_retryable=True)

    def _window_state(self) -> WindowState | None:
        """The project's sync windows for this app now (kept in the status), or None."""
        project = self._project
        if project is None or not project.spec.sync_windows:
            self._state.status.sync_window = None
            return None
        dest = self._app.spec.destination
        try:
            state = window_state(
                project.spec.sync_windows,
                app=self._app.metadata.name,
                namespace=dest.namespace or "",
                cluster_server=dest.server or "",
                cluster_name=dest.name or "",
                now=workflow.now(),
            )
        except WindowError as exc:
            self._spec_problem(SpecSource.SYNC_WINDOWS, f"project {project.metadata.name}: {exc}")
            return None
        self._spec_problem(SpecSource.SYNC_WINDOWS, "")
        self._state.status.sync_window = state
        return state

    def _plan_for(self, compared: CompareResult, request: SyncRequest) -> SyncPlan:
        """The plan to run: with ApplyOutOfSyncOnly=true (the app's or the request's), applies
        of Synced resources are dropped; a partial sync keeps only the requested resources."""
        plan = compared.plan
        if request.resources:
            plan = only_resources(plan, lambda key: any(r.has_identity(key) for r in request.resources))
        if not SyncOptions.from_map(request.sync_options(self._app.sync_options())).apply_out_of_sync_only:
            return plan
        out_of_sync = {r.key for r in compared.resources if r.sync is not SyncCode.SYNCED}
        return only_out_of_sync(plan, out_of_sync)

    def _next_op_id(self) -> int:
        op_id = self._state.next_operation_id
        self._state.next_operation_id += 1
        return op_id

    def _record(self, result: OperationResult, *, history: bool = True) -> None:
        self._state.status.last_operation = result
        if not history:
            return
        # Older entries keep what Argo CD's history keeps (revision, phase, times, message), not
        # their per-resource results: the history travels in every continue-as-new input, and
        # it must not grow with the app's resources times the history limit.
        older = [entry.model_copy(update={"resources": []}) for entry in self._state.history]
        limit = app_spec.history_limit(self._app)
        self._state.history = [*older, result][-limit:] if limit > 0 else []

    def _destination(self) -> Destination:
        dest = self._app.spec.destination
        return Destination(server=dest.server or "", name=dest.name or "", namespace=dest.namespace or "")

    def _describe_app(self) -> None:
        status = self._state.status
        app = self._app
        source = app.sources_list()[0] if app.sources_list() else None
        status.project = app.spec.project
        status.repo_url = source.repo_url if source else ""
        status.path = (source.path or "") if source else ""
        status.target_revision = app_spec.target_revision(self._app)
        status.destination_server = app.spec.destination.server or app.spec.destination.name or ""
        status.destination_namespace = app.spec.destination.namespace or ""
        status.automated = app.is_automated()
        status.labels = dict(app.metadata.labels or {})
        unsupported = app.unsupported_fields()
        if unsupported:
            self._set_condition(
                ConditionType.UNSUPPORTED_FIELD, "Bosun does not act on these fields yet: " + ", ".join(unsupported)
            )
        else:
            self._clear_condition(ConditionType.UNSUPPORTED_FIELD)

    def _set_condition(self, kind: str, message: str) -> None:
        conditions = [c for c in self._state.status.conditions if c.type != kind]
        conditions.append(Condition(type=str(kind), message=message, at=workflow.now()))
        self._state.status.conditions = conditions

    def _spec_problem(self, source: SpecSource, message: str) -> None:
        """The one place InvalidSpecError is set and cleared: ``message`` is what is wrong
        with the spec as ``source`` reads it ("" when nothing is); the condition lists the
        problems of every source and goes once none is left."""
        problems = {k: v for k, v in self._state.spec_problems.items() if k != source}
        if message:
            problems[source] = message
        self._state.spec_problems = problems
        text = "; ".join(problems.values())
        if not text:
            self._clear_condition(ConditionType.INVALID_SPEC_ERROR)
        elif text != self._condition_message(ConditionType.INVALID_SPEC_ERROR):
            self._set_condition(ConditionType.INVALID_SPEC_ERROR, text)

    def _settings_conditions(self, warnings: dict[str, str]) -> None:
        """Conditions the settings cause (see activities.cluster.settings_warnings), kept as they come."""
        for kind in SETTINGS_CONDITIONS:
            if kind not in warnings:
                self._clear_condition(kind)
            elif self._condition_message(kind) != warnings[kind]:
                self._set_condition(kind, warnings[kind])

    def _clear_condition(self, kind: str) -> None:
        self._state.status.conditions = [c for c in self._state.status.conditions if c.type != kind]

    def _condition_message(self, kind: str) -> str:
        return next((c.message for c in self._state.status.conditions if c.type == kind), "")

    def _status_digest_update(self) -> list[SearchAttributeUpdate[Any]]:
        """``BosunStatusDigest`` set to the status now, if it changed."""
        digest = status_digest(self._state.status)
        key = KEYS[sa.STATUS_DIGEST]
        if digest == workflow.info().typed_search_attributes.get(key) or not workflow.patched(STATUS_DIGEST_PATCH):
            return []
        return [key.value_set(digest)]

    def _keep_autosync_memo(self) -> None:
        """The ``autosync`` memo (``argocd_app_info{autosync_enabled}``) set to whether automated
        sync is on now, if it changed; and ``writes_status`` once, for the declarative pass."""
        if not self._autosync_memo:
            return
        updates: dict[str, bool] = {}
        autosync = self._state.status.automated and not self._state.status.suspended
        if workflow.memo_value(sa.AUTOSYNC_MEMO, None) != autosync:
            updates[sa.AUTOSYNC_MEMO] = autosync
        if self._writes_status and workflow.memo_value(sa.WRITES_STATUS_MEMO, None) is not True:
            updates[sa.WRITES_STATUS_MEMO] = True
        if updates:
            workflow.upsert_memo(updates)

    async def _write_status(self) -> None:
        """A declared app's status, written to its Application resource when it changed (a local
        activity): the resource follows the workflow at once, with no status query from the
        declarative pass. A failed write is tried again at the next change, and the pass writes
        every status at least every few minutes anyway."""
        if not self._writes_status:
            return
        digest = status_digest(self._state.status)
        if digest == self._status_written:
            return
        resource = self._input.application.get("metadata") or {}
        try:
            await calls.write_app_status(
                AppStatusWrite(
                    namespace=str(resource.get("namespace") or ""),
                    name=self._app.metadata.name.rpartition("/")[2],
                    status=self._state.status.model_dump(mode="json"),
                )
            )
        except LOCAL_OR_ACTIVITY_ERRORS:
            return
        self._status_written = digest

    def _upsert_search_attributes(self) -> None:
        status = self._state.status
        values = {
            sa.APP: status.name,
            sa.PROJECT: status.project,
            sa.CLUSTER: status.destination_server,
            sa.NAMESPACE: status.destination_namespace,
            sa.SYNC_STATUS: str(status.sync),
            sa.HEALTH_STATUS: str(status.health),
            sa.REVISION: status.revision or "",
            sa.OPERATION: "idle" if status.operation == "idle" else "running",
        }
        current = workflow.info().typed_search_attributes
        updates: list[SearchAttributeUpdate[Any]] = [
            KEYS[name].value_set(value) for name, value in values.items() if current.get(KEYS[name]) != value
        ]
        labels = sa.label_items(status.labels)
        if labels != (current.get(LABELS_KEY) or []) and workflow.patched(LABELS_PATCH):
            updates.append(LABELS_KEY.value_set(labels))
        repos = sa.repo_items(source.repo_url for source in self._app.sources_list())
        if repos != (current.get(REPOS_KEY) or []) and workflow.patched(REPOS_PATCH):
            updates.append(REPOS_KEY.value_set(repos))
        updates += self._status_digest_update()
        if updates:
            workflow.upsert_search_attributes(updates)
        self._keep_autosync_memo()
        details = f"{status.sync} / {status.health} at {status.revision[:12] or '-'}; {status.operation}"
        if status.dependencies:
            details += "\n" + graph_text(status.name, status.dependencies)
        workflow.set_current_details(details)
