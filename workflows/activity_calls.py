"""Every activity call of the workflows, one function per activity, grouped by family.

Each family (Git and render, project and destination, cluster, schedules, resource
actions, batch trigger, declarative apps) holds its timeouts and retry policy here, so a
workflow says *what* it runs and a person tunes *how* in one place. Activities are named by
their method (``ClusterActivities.compare``), not by string: the SDK takes the registered
name from the ``@activity.defn`` and the result type from the method's annotation, so a
rename or a changed signature is a type error, not a runtime surprise.

Only workflow code calls these (they use ``temporalio.workflow``). The activity names, the
order of calls and their options are part of recorded histories
(``tests/workflows/histories``): change an option freely, but a new or removed call in an
existing workflow needs ``workflow.patched``.

To add an activity: a function in its family's section, with the family's policy, and a
summary argument (what the Temporal UI shows).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.actions import (
        ActionActivities,
        ResourceActionInput,
        ResourceActionsResult,
        RunResourceActionResult,
    )
    from activities.app_metrics import AppMetricActivities, SyncCountInput
    from activities.cluster import ClusterActivities
    from activities.content import ContentActivities
    from activities.contracts import (
        ApplyInput,
        ApplyResult,
        CompareInput,
        CompareResult,
        PruneInput,
        PruneResult,
        ReadLiveInput,
        ReadLiveResult,
        RenderInput,
        RenderResult,
        ResolveRevisionInput,
        ResolveRevisionResult,
        ShowDiffInput,
        ShowManifestsInput,
        ShownDiff,
        ShownManifests,
        WaitHealthyInput,
        WaitHealthyResult,
    )
    from activities.declarative import AppStatusWrite, DeclarativeActivities, DeclaredAppsInput, DeclaredAppsResult
    from activities.dependencies import DependencyActivities, DependencyCheckInput, DependencyCheckResult
    from activities.destinations import DestinationActivities, ResolveDestinationInput, ResolveDestinationResult
    from activities.orphans import ListOrphanedInput, ListOrphanedResult, OrphanActivities
    from activities.projects import GetProjectInput, GetProjectResult, ProjectActivities
    from activities.rollout_trigger import RolloutTriggerActivities, StartRolloutsInput
    from activities.source import SourceActivities
    from activities.trigger import (
        AppScheduleInput,
        AppScheduleResult,
        RemoveAppScheduleInput,
        RemoveAppScheduleResult,
        SyncAppInput,
        SyncAppResult,
        TriggerActivities,
    )
    from activities.unchanged import UnchangedCheck, UnchangedInput, UnchangedResult

# ---------------------------------------------------------------- Git and render

GIT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=3)
RENDER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
SOURCE_HEARTBEAT = timedelta(seconds=30)
"""Both heartbeat while they run (``activities/heartbeat.py``): a worker killed during a
fetch or a render is noticed within this, not after the whole start-to-close timeout."""


async def resolve_revision(input: ResolveRevisionInput, *, summary: str, local: bool = False) -> ResolveRevisionResult:
    """The commit a branch, tag or SHA names now: an ``ls-remote``, answered from the worker's
    shared revision cache most of the time. ``local``: as a local activity (a marker in history,
    no task, no extra workflow task), which is what an app workflow asks for now."""
    if local:
        return await workflow.execute_local_activity_method(
            SourceActivities.resolve_revision,
            input,
            start_to_close_timeout=timedelta(seconds=150),
            retry_policy=GIT_RETRY,
            summary=summary,
        )
    return await workflow.execute_activity_method(
        SourceActivities.resolve_revision,
        input,
        start_to_close_timeout=timedelta(seconds=150),
        heartbeat_timeout=SOURCE_HEARTBEAT,
        retry_policy=GIT_RETRY,
        summary=summary,
    )


async def render(input: RenderInput, *, summary: str) -> RenderResult:
    return await workflow.execute_activity_method(
        SourceActivities.render,
        input,
        start_to_close_timeout=timedelta(seconds=180),
        heartbeat_timeout=SOURCE_HEARTBEAT,
        retry_policy=RENDER_RETRY,
        summary=summary,
    )


# ---------------------------------------------------------------- project and destination

CLUSTER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=20), maximum_attempts=5
)
"""Reads of the management and destination clusters by the ApplicationWorkflow."""


async def get_project(input: GetProjectInput, *, summary: str, local: bool = False) -> GetProjectResult:
    """The app's AppProject; ``local``: as a local activity (see :func:`resolve_revision`)."""
    if local:
        return await workflow.execute_local_activity_method(
            ProjectActivities.get_project,
            input,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=CLUSTER_RETRY,
            summary=summary,
        )
    return await workflow.execute_activity_method(
        ProjectActivities.get_project,
        input,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=CLUSTER_RETRY,
        summary=summary,
    )


async def resolve_destination(input: ResolveDestinationInput, *, summary: str) -> ResolveDestinationResult:
    """A local activity: it runs on every reconcile and reads only the worker's own cluster
    list, so it costs a marker in history, not a task. Its failure is an ApplicationError."""
    return await workflow.execute_local_activity_method(
        DestinationActivities.resolve_destination,
        input,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=CLUSTER_RETRY,
        summary=summary,
    )


async def check_unchanged(input: UnchangedInput, *, summary: str) -> UnchangedResult:
    """A local activity: whether a reconcile would find nothing new (see
    :mod:`activities.unchanged`). Not retried: a failure only means a full reconcile."""
    return await workflow.execute_local_activity_method(
        UnchangedCheck.check_unchanged,
        input,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_attempts=1),
        summary=summary,
    )


async def count_sync(input: SyncCountInput) -> None:
    """A local activity: ``argocd_app_sync_total`` in the worker's metrics. Not retried: a
    metric missed is better than an operation held up."""
    await workflow.execute_local_activity_method(
        AppMetricActivities.count_sync,
        input,
        start_to_close_timeout=timedelta(seconds=5),
        retry_policy=RetryPolicy(maximum_attempts=1),
        summary=f"count the sync ({input.phase})",
    )


async def write_app_status(input: AppStatusWrite) -> bool:
    """A local activity: a declared app's status to its Application resource, at each change of it.
    Not retried: the next change, or the declarative pass by age, writes it again."""
    return await workflow.execute_local_activity_method(
        DeclarativeActivities.write_app_status,
        input,
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=RetryPolicy(maximum_attempts=1),
        summary=f"write the status of Application {input.namespace}/{input.name}",
    )


# ---------------------------------------------------------------- cluster

SYNC_STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=10
)
"""A step of a sync operation (apply, prune, wait): retried longer than a read, since a
failed step fails the whole sync."""
CLUSTER_HEARTBEAT = timedelta(seconds=20)
"""compare, apply, prune and list_orphaned heartbeat while they run (``activities/heartbeat.py``):
an activity whose worker died is retried within this. A call that hangs is bounded by the
request timeout of every cluster call (``activities/kubeaccess.py``), not by this."""
SYNC_STEP_PRIORITY = Priority(priority_key=2)
"""Steps of a sync that has started (apply, prune, wait) go ahead of reconciles (the default,
3) in their task queue: when a whole fleet starts at once, each app's sync finishes before
more apps are compared, so apps become healthy steadily instead of all at the end. The
server orders the tasks, so this holds across every worker process."""


async def compare(input: CompareInput, *, task_queue: str | None, summary: str) -> CompareResult:
    return await workflow.execute_activity_method(
        ClusterActivities.compare,
        input,
        start_to_close_timeout=timedelta(minutes=5),
        heartbeat_timeout=CLUSTER_HEARTBEAT,
        retry_policy=CLUSTER_RETRY,
        task_queue=task_queue or None,
        summary=summary,
    )


async def show_manifests(input: ShowManifestsInput, *, task_queue: str | None, summary: str) -> ShownManifests:
    return await workflow.execute_activity_method(
        ContentActivities.show_manifests,
        input,
        start_to_close_timeout=timedelta(minutes=3),
        retry_policy=CLUSTER_RETRY,
        task_queue=task_queue or None,
        summary=summary,
    )


async def show_diff(input: ShowDiffInput, *, task_queue: str | None, summary: str) -> ShownDiff:
    return await workflow.execute_activity_method(
        ContentActivities.show_diff,
        input,
        start_to_close_timeout=timedelta(minutes=5),
        retry_policy=CLUSTER_RETRY,
        task_queue=task_queue or None,
        summary=summary,
    )


async def read_live(input: ReadLiveInput, *, task_queue: str | None, summary: str) -> ReadLiveResult:
    return await workflow.execute_activity_method(
        ClusterActivities.read_live,
        input,
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=CLUSTER_RETRY,
        task_queue=task_queue or None,
        summary=summary,
    )


async def list_orphaned(input: ListOrphanedInput, *, task_queue: str | None, summary: str) -> ListOrphanedResult:
    return await workflow.execute_activity_method(
        OrphanActivities.list_orphaned,
        input,
        start_to_close_timeout=timedelta(minutes=2),
        heartbeat_timeout=CLUSTER_HEARTBEAT,
        retry_policy=CLUSTER_RETRY,
        task_queue=task_queue or None,
        summary=summary,
    )


async def apply(input: ApplyInput, *, task_queue: str | None, summary: str) -> ApplyResult:
    return await workflow.execute_activity_method(
        ClusterActivities.apply,
        input,
        start_to_close_timeout=timedelta(minutes=5),
        heartbeat_timeout=CLUSTER_HEARTBEAT,
        retry_policy=SYNC_STEP_RETRY,
        task_queue=task_queue or None,
        priority=SYNC_STEP_PRIORITY,
        summary=summary,
    )


async def prune(
    input: PruneInput, *, task_queue: str | None, summary: str, retry: RetryPolicy = SYNC_STEP_RETRY
) -> PruneResult:
    """Delete objects: a sync step (``SYNC_STEP_RETRY``) or the app's cascade deletion
    (``CLUSTER_RETRY``)."""
    return await workflow.execute_activity_method(
        ClusterActivities.prune,
        input,
        start_to_close_timeout=timedelta(minutes=5),
        heartbeat_timeout=CLUSTER_HEARTBEAT,
        retry_policy=retry,
        task_queue=task_queue or None,
        priority=SYNC_STEP_PRIORITY,
        summary=summary,
    )


async def start_rollout_workflows(input: StartRolloutsInput, *, summary: str) -> list[str]:
    """Signal-with-start each applied Rollout's RolloutWorkflow (main queue): a sync step."""
    return await workflow.execute_activity_method(
        RolloutTriggerActivities.start_rollout_workflows,
        input,
        start_to_close_timeout=timedelta(minutes=1),
        retry_policy=SYNC_STEP_RETRY,
        priority=SYNC_STEP_PRIORITY,
        summary=summary,
    )


async def wait_healthy(input: WaitHealthyInput, *, task_queue: str | None, summary: str) -> WaitHealthyResult:
    """Poll until healthy; it gives up after ``input.timeout_seconds`` itself, the activity
    timeout is a minute more."""
    return await workflow.execute_activity_method(
        ClusterActivities.wait_healthy,
        input,
        start_to_close_timeout=timedelta(seconds=input.timeout_seconds + 60),
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=SYNC_STEP_RETRY,
        task_queue=task_queue or None,
        priority=SYNC_STEP_PRIORITY,
        summary=summary,
    )


# ---------------------------------------------------------------- schedules (bosun.dev/sync-schedule)

SCHEDULE_RETRY = GIT_RETRY
"""A Temporal Schedule call: a few quick retries."""


async def ensure_app_schedule(input: AppScheduleInput, *, summary: str) -> AppScheduleResult:
    return await workflow.execute_activity_method(
        TriggerActivities.ensure_app_schedule,
        input,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=SCHEDULE_RETRY,
        summary=summary,
    )


async def remove_app_schedule(input: RemoveAppScheduleInput, *, summary: str) -> RemoveAppScheduleResult:
    return await workflow.execute_activity_method(
        TriggerActivities.remove_app_schedule,
        input,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=SCHEDULE_RETRY,
        summary=summary,
    )


# ---------------------------------------------------------------- resource actions

ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=5
)


async def resource_actions(input: ResourceActionInput, *, task_queue: str, summary: str) -> ResourceActionsResult:
    return await workflow.execute_activity_method(
        ActionActivities.resource_actions,
        input,
        start_to_close_timeout=timedelta(minutes=1),
        retry_policy=ACTION_RETRY,
        task_queue=task_queue,
        summary=summary,
    )


async def run_resource_action(input: ResourceActionInput, *, task_queue: str, summary: str) -> RunResourceActionResult:
    return await workflow.execute_activity_method(
        ActionActivities.run_resource_action,
        input,
        start_to_close_timeout=timedelta(minutes=1),
        retry_policy=ACTION_RETRY,
        task_queue=task_queue,
        summary=summary,
    )


# ---------------------------------------------------------------- batch syncs

SYNC_APP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(seconds=30), maximum_attempts=5
)
SYNC_APP_TIMEOUT = timedelta(hours=2)
"""One app's sync, health waits included; a stuck sync fails the batch instead of hanging it."""


async def sync_app(input: SyncAppInput, *, summary: str) -> SyncAppResult:
    return await workflow.execute_activity_method(
        TriggerActivities.sync_app,
        input,
        start_to_close_timeout=SYNC_APP_TIMEOUT,
        heartbeat_timeout=timedelta(seconds=60),
        retry_policy=SYNC_APP_RETRY,
        summary=summary,
    )


# ---------------------------------------------------------------- declarative apps


async def reconcile_declared_apps(input: DeclaredAppsInput, *, summary: str) -> DeclaredAppsResult:
    """A local activity: a pass is short and runs every few seconds, so it is kept in
    history as a marker instead of a scheduled task. Its failure is an ApplicationError."""
    return await workflow.execute_local_activity_method(
        DeclarativeActivities.reconcile_declared_apps,
        input,
        start_to_close_timeout=timedelta(minutes=1),
        retry_policy=RetryPolicy(maximum_attempts=2),
        summary=summary,
    )


# ---------------------------------------------------------------- dependencies (bosun.dev/depends-on)


async def check_dependencies(input: DependencyCheckInput, *, summary: str) -> DependencyCheckResult:
    """A local activity: a few queries of other app workflows, asked every few seconds while
    an app waits, so a marker in history rather than a task. Not retried: the app checks again
    on its next timer anyway."""
    return await workflow.execute_local_activity_method(
        DependencyActivities.check_dependencies,
        input,
        start_to_close_timeout=timedelta(minutes=1),
        retry_policy=RetryPolicy(maximum_attempts=1),
        summary=summary,
    )
