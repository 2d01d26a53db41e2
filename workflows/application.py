"""ApplicationWorkflow: one long-running workflow per Application (id ``app:<name>``).

It loops: wait for a trigger (the refresh timer, a ``refresh`` signal, a ``sync``
update), reconcile (resolve the revision → render → compare), decide whether to sync,
and keep the status that the ``status`` query returns. Syncs run as SyncWorkflow
children. The rules it decides by are Argo CD's:

- an automated app syncs when it is OutOfSync and the commit differs from the last
  synced one; with ``selfHeal`` it also syncs drift made directly in the cluster;
- an automated sync that failed is not retried for the same commit and manifests
  (``syncPolicy.retry`` retries inside the operation);
- a failing fetch or render leaves a condition and changes nothing in the cluster.

Signals: ``refresh`` (RefreshRequest), ``update_spec`` (the Application JSON).
Updates: ``sync`` (SyncRequest → OperationResult), ``refresh_now`` (→ AppStatus),
``delete`` (DeleteRequest). Queries: ``status``, ``history``.

History stays bounded: the workflow continues-as-new when Temporal suggests it or after
``MAX_HISTORY_EVENTS``, once its handlers have finished, carrying its state and any
pending requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        CompareInput,
        CompareResult,
        Destination,
        PruneInput,
        PruneResult,
        ReadLiveInput,
        ReadLiveResult,
        RenderInput,
        RenderResult,
        ResolveRevisionInput,
        ResolveRevisionResult,
        SourceAtCommit,
    )
    from activities.destinations import ResolveDestinationInput, ResolveDestinationResult
    from activities.projects import GetProjectInput, GetProjectResult
    from activities.trigger import (
        AppScheduleInput,
        AppScheduleResult,
        RemoveAppScheduleInput,
        RemoveAppScheduleResult,
    )
    from bosun import search_attributes as sa
    from bosun.models import (
        Application,
        ApplicationSource,
        AppProject,
        ModelError,
        parse_application,
        parse_backoff_duration,
        parse_project,
    )
    from bosun.plan import SyncPlan, only_out_of_sync
    from bosun.resources import HealthCode, ResourceKey, SyncCode
    from bosun.windows import WindowError, WindowState, window_state
    from workflows.state import (
        AppState,
        AppStatus,
        AppWorkflowInput,
        Condition,
        DeleteRequest,
        ManifestsRequest,
        ManifestsResult,
        OperationResult,
        Pin,
        RefreshRequest,
        RollbackRequest,
        SyncRequest,
    )
    from workflows.sync import RetryStrategy, SyncInput, SyncOutcome, SyncWorkflow, cause_message

MAX_HISTORY_EVENTS = 5000
LOCAL_OR_ACTIVITY_ERRORS = (ActivityError, ApplicationError)
"""What a failed activity raises: ActivityError, or for a local activity (resolve_destination)
the activity's own ApplicationError."""
GIT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=3)
RENDER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
CLUSTER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=20),
                            maximum_attempts=5)

KEYS = {name: SearchAttributeKey.for_keyword(name) for name in sa.ALL}
SYNC_SCHEDULE_ANNOTATION = "bosun.dev/sync-schedule"
"""A cron expression: the app is synced by a Temporal Schedule then, and not on every commit."""
SYNC_SCHEDULE_TIMEZONE_ANNOTATION = "bosun.dev/sync-schedule-timezone"


class _ReconcileFailed(Exception):
    """Fetch, render or compare failed; the condition is already recorded."""


def workflow_id(app: str) -> str:
    return f"app:{app}"


@workflow.defn(name="ApplicationWorkflow")
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
        self._cluster_queue = ""
        self._describe_app()

    # ---------------------------------------------------------------- handlers

    @workflow.signal(name="refresh")
    def refresh(self, request: RefreshRequest) -> None:
        self._state.refresh_requested = True
        self._state.hard_refresh_requested = self._state.hard_refresh_requested or request.hard

    @workflow.signal(name="update_spec")
    def update_spec(self, application: dict) -> None:  # type: ignore[type-arg]
        try:
            app = parse_application(application, source_name="update_spec")
        except ModelError as exc:
            self._set_condition("InvalidSpecError", str(exc))
            return
        if app.metadata.name != self._app.metadata.name:
            self._set_condition("InvalidSpecError", "update_spec cannot rename an application")
            return
        self._app = app
        self._input.application = application
        self._describe_app()
        self._state.refresh_requested = True

    @workflow.update(name="sync")
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

    @workflow.update(name="rollback")
    async def rollback(self, request: RollbackRequest) -> OperationResult:
        """Sync the revision of history entry ``id`` again and pin automated sync to it."""
        entry = next((h for h in self._state.history if h.id == request.id), None)
        if entry is None or not entry.revision:
            raise ApplicationError(f"no history entry {request.id} with a revision (see `bosun app history`)",
                                   type="NotFound", non_retryable=True)
        return await self._queue_sync(SyncRequest(revision=entry.revision, prune=request.prune,
                                                  trigger=f"rollback to #{request.id}", rollback_of=request.id))

    @workflow.signal(name="unpin")
    def unpin(self) -> None:
        """Release a rollback pin: automated sync follows the target revision again."""
        self._state.pin = None
        self._state.status.pinned_revision = ""
        self._state.refresh_requested = True

    @workflow.signal(name="terminate_operation")
    def terminate_operation(self) -> None:
        """Stop the running sync: its current step is cancelled and it ends Failed."""
        if self._operation_task is not None and not self._operation_task.done():
            self._operation_task.cancel()

    @workflow.update(name="manifests")
    async def manifests(self, request: ManifestsRequest) -> ManifestsResult:
        """Render a revision (``git``) or read the live objects (``live``) into the store."""
        if request.source == "live":
            keys = [r.key for r in self._state.status.resources if r.health is not HealthCode.MISSING]
            live: ReadLiveResult = await workflow.execute_activity(
                "read_live", ReadLiveInput(app=self._app.metadata.name, destination=self._destination(), keys=keys),
                result_type=ReadLiveResult, start_to_close_timeout=timedelta(minutes=2), retry_policy=CLUSTER_RETRY,
                task_queue=await self._resolve_destination(), summary=f"read {len(keys)} live objects")
            return ManifestsResult(digest=live.digest, count=live.count, revision=self._state.status.revision)
        commits, rendered = await self._render(request.revision or self._target_revision(), hard=False)
        return ManifestsResult(digest=rendered.manifests_digest, count=rendered.resource_count, revision=commits[0])

    @workflow.update(name="refresh_now")
    async def refresh_now(self, request: RefreshRequest) -> AppStatus:
        """Reconcile now and return the fresh status (what ``bosun app diff`` uses)."""
        epoch = self._refresh_epoch
        self._state.refresh_requested = True
        self._state.hard_refresh_requested = self._state.hard_refresh_requested or request.hard
        await workflow.wait_condition(lambda: self._refresh_epoch > epoch)
        return self._state.status

    @workflow.update(name="delete")
    async def delete(self, request: DeleteRequest) -> str:
        self._delete = request
        await workflow.wait_condition(lambda: self._deleted)
        return f"application {self._app.metadata.name} deleted" + (" with its resources" if request.cascade else "")

    @workflow.query(name="status")
    def status(self) -> AppStatus:
        return self._state.status

    @workflow.query(name="history")
    def history(self) -> list[OperationResult]:
        return self._state.history

    @workflow.query(name="application")
    def application(self) -> dict:  # type: ignore[type-arg]
        return self._input.application

    # ---------------------------------------------------------------- main loop

    @workflow.run
    async def run(self, input: AppWorkflowInput) -> str:
        self._upsert_search_attributes()
        trigger = "start"
        while True:
            if self._delete is not None:
                await self._run_delete(self._delete)
                return f"deleted (cascade={self._delete.cascade})"
            await self._keep_schedule()
            if self._state.pending_syncs:
                op_id, request = self._state.pending_syncs.pop(0)
                self._results[op_id] = await self._manual_sync(op_id, request)
            else:
                self._state.refresh_requested = False
                await self._reconcile_and_auto_sync(trigger)
                self._refresh_epoch += 1
            if self._should_continue_as_new():
                # Handlers wait for the loop (a queued sync, a refresh_now): serve them first,
                # continue as new only once nothing is in flight.
                await workflow.wait_condition(lambda: workflow.all_handlers_finished() or self._has_work())
                if not self._has_work():
                    workflow.continue_as_new(AppWorkflowInput(
                        application=self._input.application, refresh_seconds=self._input.refresh_seconds,
                        state=self._state))
            trigger = await self._wait_for_trigger()

    def _deletion_order(self, keys: list[ResourceKey]) -> list[ResourceKey]:
        """The sync plan's order reversed (namespaces and CRDs last); keys the plan does
        not know (extraneous objects) first."""
        planned = [t.key for t in self._last_compare.plan.tasks] if self._last_compare else []
        rank = {key: i for i, key in enumerate(planned)}
        return sorted(keys, key=lambda k: -rank.get(k, len(planned)))

    def _has_work(self) -> bool:
        return bool(self._state.pending_syncs) or self._state.refresh_requested or self._delete is not None

    async def _wait_for_trigger(self) -> str:
        jitter = workflow.random().uniform(0, self._input.refresh_seconds * 0.1)
        wait = self._input.refresh_seconds + jitter
        summary = "refresh timer"
        window = self._state.status.sync_window
        if window is not None and not window.automated_allowed and window.next_change is not None:
            until_open = (window.next_change - workflow.now()).total_seconds() + 1
            if until_open < wait:
                wait, summary = max(until_open, 1.0), "until the sync window opens"
        try:
            await workflow.wait_condition(
                lambda: self._state.refresh_requested or bool(self._state.pending_syncs) or self._delete is not None,
                timeout=timedelta(seconds=wait),
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
            compared = await self._reconcile(await self._effective_revision())
        except _ReconcileFailed:
            return
        if self._app.is_automated() and compared.sync is SyncCode.OUT_OF_SYNC and not self._sync_schedule()[0]:
            await self._maybe_auto_sync(compared)

    async def _effective_revision(self) -> str:
        """The target revision, or the pinned one while a rollback holds and Git has not moved."""
        pin = self._state.pin
        if pin is None:
            return self._target_revision()
        try:
            head = await self._resolve(self._target_revision())
        except ActivityError as exc:
            self._set_condition("ComparisonError", cause_message(exc))
            raise _ReconcileFailed() from None
        if head == pin.target_commit:
            return pin.revision
        self._state.pin = None  # a newer commit arrived: automated sync moves forward again
        self._state.status.pinned_revision = ""
        return head

    async def _resolve(self, revision: str, source: ApplicationSource | None = None) -> str:
        """The commit ``revision`` names now; a Helm repository chart's version is kept as is."""
        source = source or self._app.sources_list()[0]
        if source.chart:
            return revision
        resolved: ResolveRevisionResult = await workflow.execute_activity(
            "resolve_revision", ResolveRevisionInput(repo_url=source.repo_url, revision=revision),
            result_type=ResolveRevisionResult, start_to_close_timeout=timedelta(seconds=150),
            retry_policy=GIT_RETRY, summary=f"resolve {revision or 'HEAD'}",
        )
        return resolved.commit

    async def _render(self, revision: str, *, hard: bool) -> tuple[list[str], RenderResult]:
        """Resolve every source (``revision`` for the first, targetRevision for the others)
        and render them together; (the commits, the render)."""
        sources = self._app.sources_list()
        commits = [await self._resolve(revision if i == 0 else src.target_revision, src)
                   for i, src in enumerate(sources)]
        rendered: RenderResult = await workflow.execute_activity(
            "render", RenderInput(
                app=self._app.metadata.name,
                sources=[SourceAtCommit(repo_url=src.repo_url, commit=commit, source=src.dump())
                         for src, commit in zip(sources, commits, strict=True)],
                destination_namespace=self._app.spec.destination.namespace or "",
                destination=self._destination(), hard_refresh=hard),
            result_type=RenderResult, start_to_close_timeout=timedelta(seconds=180), retry_policy=RENDER_RETRY,
            summary=("hard refresh: " if hard else "") + "render " + ", ".join(
                f"{src.chart or src.path or '.'} at {commit[:12]}"
                for src, commit in zip(sources, commits, strict=True)
                if src.chart or src.path or len(sources) == 1),
        )
        return commits, rendered

    async def _reconcile(self, revision: str, *, prune: bool | None = None) -> CompareResult:
        """Resolve every source, render them together, compare with the cluster.

        ``revision`` applies to the first source (the only one, usually); the other sources
        of a multi-source app follow their own targetRevision.
        """
        status = self._state.status
        sources = self._app.sources_list()
        status.operation = "comparing" if status.operation == "idle" else status.operation
        try:
            await self._resolve_destination()
            project: GetProjectResult = await workflow.execute_activity(
                "get_project", GetProjectInput(name=self._app.spec.project), result_type=GetProjectResult,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=CLUSTER_RETRY,
                summary=f"read project {self._app.spec.project}")
            self._project = parse_project(project.project, source_name=f"project {self._app.spec.project}")
            commits, rendered = await self._render(revision, hard=self._state.hard_refresh_requested)
            compared: CompareResult = await workflow.execute_activity(
                "compare", CompareInput(
                    app=self._app.metadata.name, manifests_digest=rendered.manifests_digest,
                    destination=self._destination(), project=self._app.spec.project,
                    repo_urls=[src.repo_url for src in sources],
                    ignore_differences=[d.dump() for d in self._app.spec.ignore_differences or []],
                    sync_options=self._app.sync_options(),
                    prune=self._auto_prune() if prune is None else prune,
                    known_kinds=self._state.known_kinds),
                result_type=CompareResult, start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(seconds=60), retry_policy=CLUSTER_RETRY, task_queue=self._cluster_queue,
                summary=f"compare {rendered.resource_count} resources with the cluster",
            )
        except LOCAL_OR_ACTIVITY_ERRORS as exc:
            self._set_condition("ComparisonError", cause_message(exc))
            status.sync = SyncCode.UNKNOWN
            status.operation = "idle" if status.operation == "comparing" else status.operation
            status.reconciled_at = workflow.now()
            self._upsert_search_attributes()
            raise _ReconcileFailed() from None
        self._clear_condition("ComparisonError")
        self._state.hard_refresh_requested = False
        self._state.known_kinds = compared.kinds
        status.revision = commits[0]
        status.revisions = commits
        status.sync = compared.sync
        status.health = compared.health
        status.resources = compared.resources
        status.manifests_digest = rendered.manifests_digest
        status.diff_digest = compared.diff_digest
        status.reconciled_at = workflow.now()
        status.operation = "idle" if status.operation == "comparing" else status.operation
        self._last_compare = compared
        self._window_state()
        self._upsert_search_attributes()
        return compared

    async def _maybe_auto_sync(self, compared: CompareResult) -> None:
        status = self._state.status
        attempt = f"{status.revision}@{status.manifests_digest}"
        if attempt == self._state.failed_auto_sync:
            return  # Argo CD: never auto-retry the same failed revision
        # Argo CD syncs a new commit, and also a changed spec (another path, other Helm
        # values): whatever changes the desired manifests since the last successful sync.
        new_commit = (status.revisions != status.synced_revisions
                      or status.manifests_digest != self._state.synced_manifests_digest)
        drift = not new_commit and self._self_heal() and any(
            r.sync is SyncCode.OUT_OF_SYNC and not r.requires_pruning for r in compared.resources)
        if not (new_commit or drift):
            return
        window = self._window_state()
        if window is not None and not window.automated_allowed:
            return  # the refresh timer wakes the workflow when the window opens
        result = await self._run_sync(self._next_op_id(), compared, SyncRequest(
            trigger="automated (self-heal)" if drift else "automated", prune=self._auto_prune()))
        self._state.failed_auto_sync = "" if result.phase == "Succeeded" else attempt

    async def _manual_sync(self, op_id: int, request: SyncRequest) -> OperationResult:
        window = self._window_state()
        if window is not None and not window.manual_allowed and request.trigger.startswith("manual"):
            now = workflow.now()
            result = OperationResult(id=op_id, phase="Failed", trigger=request.trigger, started_at=now,
                                     finished_at=now, dry_run=request.dry_run,
                                     message=f"blocked by sync window: {window.reason}")
            self._record(result)
            return result
        revision = request.revision or self._target_revision()
        prune = request.prune if request.prune is not None else False
        try:
            compared = await self._reconcile(revision, prune=prune)
        except _ReconcileFailed:
            now = workflow.now()
            result = OperationResult(id=op_id, phase="Error", trigger=request.trigger, started_at=now,
                                     finished_at=now, dry_run=request.dry_run,
                                     message=self._condition_message("ComparisonError"))
            self._record(result)
            return result
        if request.rollback_of is not None:
            target = await self._resolve(self._target_revision())
            self._state.pin = Pin(revision=self._state.status.revision, target_commit=target,
                                  operation_id=request.rollback_of)
            self._state.status.pinned_revision = self._state.status.revision
        return await self._run_sync(op_id, compared, request.model_copy(update={"prune": prune}))

    async def _run_sync(self, op_id: int, compared: CompareResult, request: SyncRequest) -> OperationResult:
        status = self._state.status
        name = self._app.metadata.name
        child_id = f"{workflow_id(name)}:sync:{op_id}"
        started = workflow.now()
        status.operation = f"syncing to {status.revision[:12]} ({request.trigger})"
        status.operation_workflow_id = child_id
        self._upsert_search_attributes()
        self._operation_task = asyncio.ensure_future(workflow.execute_child_workflow(
            SyncWorkflow.run,
            SyncInput(app=name, operation_id=op_id, destination=self._destination(),
                      manifests_digest=status.manifests_digest, plan=self._plan_for(compared),
                      sync_options=self._app.sync_options(), dry_run=request.dry_run, task_queue=self._cluster_queue,
                      namespace_metadata=self._namespace_metadata(), retry=self._retry_strategy(),
                      project=self._app.spec.project, repo_urls=[src.repo_url for src in self._app.sources_list()],
                      ignore_differences=[d.dump() for d in self._app.spec.ignore_differences or []]),
            id=child_id,
            static_summary=f"sync {name} to {status.revision[:12]} ({request.trigger})",
        ))
        try:
            outcome: SyncOutcome = await self._operation_task
            phase, message, resources = outcome.phase, outcome.message, outcome.resources
        except ChildWorkflowError as exc:
            phase, message, resources = "Error", cause_message(exc), []
        except asyncio.CancelledError:
            phase, message, resources = "Failed", "operation terminated by user", []
        finally:
            self._operation_task = None
            status.operation_workflow_id = ""
        result = OperationResult(id=op_id, phase=phase, message=message, revision=status.revision,
                                 trigger=request.trigger, dry_run=request.dry_run, started_at=started,
                                 finished_at=workflow.now(), resources=resources, workflow_id=child_id)
        self._record(result)
        status.operation = "idle"
        if phase == "Succeeded" and not request.dry_run:
            self._state.failed_auto_sync = ""  # the last attempt at this revision succeeded
            status.synced_revision = status.revision
            status.synced_revisions = list(status.revisions)
            self._state.synced_manifests_digest = status.manifests_digest
            self._clear_condition("SyncError")
        elif phase != "Succeeded":
            self._set_condition("SyncError", message)
        with contextlib.suppress(_ReconcileFailed):  # the condition is recorded already
            await self._reconcile(status.revision)  # status after the sync
        return result

    def _sync_schedule(self) -> tuple[str, str]:
        annotations = self._app.metadata.annotations or {}
        return (annotations.get(SYNC_SCHEDULE_ANNOTATION, "").strip(),
                annotations.get(SYNC_SCHEDULE_TIMEZONE_ANNOTATION, "UTC").strip() or "UTC")

    async def _keep_schedule(self) -> None:
        """Create, update or remove the Temporal Schedule of ``bosun.dev/sync-schedule``."""
        cron, timezone = self._sync_schedule()
        wanted = f"{cron} {timezone}" if cron else ""
        if wanted == self._state.schedule:
            return
        try:
            if cron:
                await workflow.execute_activity(
                    "ensure_app_schedule", AppScheduleInput(app=self._app.metadata.name, cron=cron, timezone=timezone),
                    result_type=AppScheduleResult, start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=GIT_RETRY, summary=f"schedule syncs at {cron} ({timezone})")
            else:
                await workflow.execute_activity(
                    "remove_app_schedule", RemoveAppScheduleInput(app=self._app.metadata.name),
                    result_type=RemoveAppScheduleResult, start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=GIT_RETRY, summary="remove the sync schedule")
        except ActivityError as exc:
            self._set_condition("InvalidSpecError", f"{SYNC_SCHEDULE_ANNOTATION}: {cause_message(exc)}")
            return
        self._clear_condition("InvalidSpecError")
        self._state.schedule = wanted

    async def _run_delete(self, request: DeleteRequest) -> None:
        status = self._state.status
        now = workflow.now()
        for op_id, pending in self._state.pending_syncs:  # answered, never left waiting
            self._results[op_id] = OperationResult(id=op_id, phase="Failed", trigger=pending.trigger, started_at=now,
                                                   finished_at=now, message="the application was deleted first")
        self._state.pending_syncs = []
        if self._state.schedule:
            await workflow.execute_activity(
                "remove_app_schedule", RemoveAppScheduleInput(app=self._app.metadata.name),
                result_type=RemoveAppScheduleResult, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=GIT_RETRY, summary="remove the sync schedule")
        if request.cascade:
            status.operation = "deleting resources"
            keys = self._deletion_order([r.key for r in status.resources
                                         if not r.hook and r.health is not HealthCode.MISSING])
            if keys:
                try:
                    result: PruneResult = await workflow.execute_activity(
                        "prune", PruneInput(app=self._app.metadata.name, destination=self._destination(),
                                            keys=keys, deleting_app=True),
                        result_type=PruneResult, start_to_close_timeout=timedelta(minutes=5),
                        heartbeat_timeout=timedelta(seconds=60), retry_policy=CLUSTER_RETRY,
                        task_queue=await self._resolve_destination(),
                        summary=f"delete {len(keys)} resources of {self._app.metadata.name}",
                    )
                    failed = [f"{r.key.short}: {r.message}" for r in result.results if r.status == "failed"]
                except LOCAL_OR_ACTIVITY_ERRORS as exc:
                    failed = [cause_message(exc)]
                if failed:
                    self._set_condition("DeletionError", "; ".join(failed))
        status.operation = "deleted"
        self._deleted = True
        await workflow.wait_condition(workflow.all_handlers_finished)

    # ---------------------------------------------------------------- helpers

    async def _resolve_destination(self) -> str:
        """The destination cluster's task queue (its activities run there); ActivityError
        if the cluster is unknown. A local activity: it runs on every reconcile, reads only
        the worker's own cluster list, and so costs a marker in history, not a task."""
        resolved: ResolveDestinationResult = await workflow.execute_local_activity(
            "resolve_destination", ResolveDestinationInput(destination=self._destination()),
            result_type=ResolveDestinationResult, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=CLUSTER_RETRY, summary=f"find cluster {self._destination().describe()}")
        self._cluster_queue = resolved.task_queue
        return resolved.task_queue

    def _window_state(self) -> WindowState | None:
        """The project's sync windows for this app now (kept in the status), or None."""
        project = self._project
        if project is None or not project.spec.sync_windows:
            self._state.status.sync_window = None
            return None
        dest = self._app.spec.destination
        try:
            state = window_state(project.spec.sync_windows, app=self._app.metadata.name,
                                 namespace=dest.namespace or "", cluster_server=dest.server or "",
                                 cluster_name=dest.name or "", now=workflow.now())
        except WindowError as exc:
            self._set_condition("InvalidSpecError", f"project {project.metadata.name}: {exc}")
            return None
        self._state.status.sync_window = state
        return state

    def _plan_for(self, compared: CompareResult) -> SyncPlan:
        """The plan to run: with ApplyOutOfSyncOnly=true, applies of Synced resources are dropped."""
        if self._app.sync_options().get("ApplyOutOfSyncOnly", "").lower() != "true":
            return compared.plan
        out_of_sync = {r.key for r in compared.resources if r.sync is not SyncCode.SYNCED}
        return only_out_of_sync(compared.plan, out_of_sync)

    def _namespace_metadata(self) -> dict[str, dict[str, str]]:
        policy = self._app.spec.sync_policy
        managed = policy.managed_namespace_metadata if policy else None
        if managed is None:
            return {}
        return {"labels": dict(managed.labels), "annotations": dict(managed.annotations)}

    def _target_revision(self) -> str:
        sources = self._app.sources_list()
        return sources[0].target_revision if sources else "HEAD"

    def _next_op_id(self) -> int:
        op_id = self._state.next_operation_id
        self._state.next_operation_id += 1
        return op_id

    def _record(self, result: OperationResult) -> None:
        self._state.status.last_operation = result
        self._state.history.append(result)
        limit = self._app.spec.revision_history_limit
        limit = 10 if limit is None else limit
        self._state.history = self._state.history[-limit:] if limit > 0 else []

    def _destination(self) -> Destination:
        dest = self._app.spec.destination
        return Destination(server=dest.server or "", name=dest.name or "", namespace=dest.namespace or "")

    def _auto_prune(self) -> bool:
        policy = self._app.spec.sync_policy
        return bool(policy and policy.automated and policy.automated.prune)

    def _self_heal(self) -> bool:
        policy = self._app.spec.sync_policy
        return bool(policy and policy.automated and policy.automated.self_heal)

    def _retry_strategy(self) -> RetryStrategy:
        policy = self._app.spec.sync_policy
        retry = policy.retry if policy else None
        if retry is None:
            return RetryStrategy()
        backoff = retry.backoff
        strategy = RetryStrategy(limit=retry.limit if retry.limit is not None else 0)
        if backoff is not None:
            if backoff.duration:
                strategy.duration_seconds = parse_backoff_duration(backoff.duration).total_seconds()
            if backoff.factor:
                strategy.factor = float(backoff.factor)
            if backoff.max_duration:
                cap = parse_backoff_duration(backoff.max_duration).total_seconds()
                strategy.max_duration_seconds = cap if cap > 0 else None  # Argo CD: 0 means no cap
        return strategy

    def _describe_app(self) -> None:
        status = self._state.status
        app = self._app
        source = app.sources_list()[0] if app.sources_list() else None
        status.project = app.spec.project
        status.repo_url = source.repo_url if source else ""
        status.path = (source.path or "") if source else ""
        status.target_revision = self._target_revision()
        status.destination_server = app.spec.destination.server or app.spec.destination.name or ""
        status.destination_namespace = app.spec.destination.namespace or ""
        status.automated = app.is_automated()
        unsupported = app.unsupported_fields()
        if unsupported:
            self._set_condition("UnsupportedField", "Bosun does not act on these fields yet: " + ", ".join(unsupported))
        else:
            self._clear_condition("UnsupportedField")

    def _set_condition(self, kind: str, message: str) -> None:
        conditions = [c for c in self._state.status.conditions if c.type != kind]
        conditions.append(Condition(type=kind, message=message, at=workflow.now()))
        self._state.status.conditions = conditions

    def _clear_condition(self, kind: str) -> None:
        self._state.status.conditions = [c for c in self._state.status.conditions if c.type != kind]

    def _condition_message(self, kind: str) -> str:
        return next((c.message for c in self._state.status.conditions if c.type == kind), "")

    def _upsert_search_attributes(self) -> None:
        status = self._state.status
        values = {
            sa.APP: status.name, sa.PROJECT: status.project, sa.CLUSTER: status.destination_server,
            sa.NAMESPACE: status.destination_namespace, sa.SYNC_STATUS: str(status.sync),
            sa.HEALTH_STATUS: str(status.health), sa.REVISION: status.revision or "",
            sa.OPERATION: "idle" if status.operation == "idle" else "running",
        }
        current = workflow.info().typed_search_attributes
        updates = [KEYS[name].value_set(value) for name, value in values.items()
                   if current.get(KEYS[name]) != value]
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(
            f"{status.sync} / {status.health} at {status.revision[:12] or '-'}; {status.operation}")
