"""SyncWorkflow: one sync operation, as its own workflow (id ``app:<name>:sync:<n>``).

A child of the ApplicationWorkflow, so each deployment has its own page and history
in the Temporal UI. It walks the plan wave by wave — prunes of the wave, then
applies, then a wait until the wave is healthy — and stops at the first failure.
A failed sync is retried per ``syncPolicy.retry`` on durable timers, whose summaries
say which retry it is. Every activity carries a summary a person can read
("wave 1: apply Deployment/web, Service/web").
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.activity_calls as calls
    from activities.contracts import (
        ApplyInput,
        PruneInput,
        ResourceResult,
        WaitHealthyInput,
    )
    from activities.rollout_trigger import ROLLOUT_GROUP, ROLLOUT_KIND, RolloutName, StartRolloutsInput
    from bosun.hooks import hook_key
    from bosun.operation import OperationPhase, ResultStatus
    from bosun.plan import HookDeletePolicy, SyncPhase, SyncTask, TaskAction, Wave
    from bosun.protocol import SyncQuery, WorkflowType
    from bosun.resources import ResourceKey
    from bosun.sync_options import SyncOptions
    from workflows.sync_models import SyncInput as SyncInput  # re-exported: the sync's interface
    from workflows.sync_models import SyncOutcome as SyncOutcome


CONTINUE_AS_NEW_PATCH = "sync-continue-as-new"
"""Histories of syncs that retried longer before this rule replay without continuing as new."""
ATTEMPTS_PER_RUN = 20
"""Failed attempts of one sync before its workflow continues as new (``retry.limit: -1`` retries
for ever; the parent waits on the whole chain of runs as on one child)."""


class _Failed(Exception):
    pass


@workflow.defn(name=WorkflowType.SYNC)
class SyncWorkflow:
    def __init__(self) -> None:
        self._progress = "starting"
        self._results: list[ResourceResult] = []

    @workflow.query(name=SyncQuery.PROGRESS)
    def progress(self) -> str:
        return self._progress

    @workflow.run
    async def run(self, input: SyncInput) -> SyncOutcome:
        attempt = input.first_attempt
        while True:
            self._results = []
            operation = f"{workflow.info().workflow_id}#{attempt}"
            try:
                try:
                    await self._run_plan(input, operation)
                except ActivityError as exc:
                    raise _Failed(f"{self._progress}: {cause_message(exc)}") from None
                return SyncOutcome(
                    phase=OperationPhase.SUCCEEDED,
                    message=self._success_message(input),
                    resources=self._results,
                    attempts=attempt,
                )
            except _Failed as failure:
                if not input.retry.allows(attempt) or input.dry_run:
                    note = await self._run_sync_fail_hooks(input, operation)
                    return SyncOutcome(
                        phase=OperationPhase.FAILED,
                        message=str(failure) + note,
                        resources=self._results,
                        attempts=attempt,
                    )
                delay = input.retry.delay(attempt)
                self._progress = f"{input.retry.describe(attempt)} in {delay:g}s: {failure}"
                await workflow.sleep(timedelta(seconds=delay), summary=f"{input.retry.describe(attempt)} in {delay:g}s")
                attempt += 1
                long_run = (
                    attempt - input.first_attempt >= ATTEMPTS_PER_RUN or workflow.info().is_continue_as_new_suggested()
                )
                if long_run and workflow.patched(CONTINUE_AS_NEW_PATCH):
                    workflow.continue_as_new(input.model_copy(update={"first_attempt": attempt}))

    def _success_message(self, input: SyncInput) -> str:
        applied = sum(1 for r in self._results if r.status.applied)
        pruned = sum(1 for r in self._results if r.status is ResultStatus.PRUNED)
        return f"successfully synced: {applied} applied, {pruned} pruned" + (" (dry run)" if input.dry_run else "")

    async def _run_plan(self, input: SyncInput, operation: str) -> None:
        for wave in input.plan.waves:
            await self._run_wave(input, wave, operation)

    async def _run_wave(self, input: SyncInput, wave: Wave, operation: str) -> None:
        label = f"{wave.phase} wave {wave.number}"
        prunes = [t.key for t in wave.tasks if t.action is TaskAction.PRUNE and not t.requires_confirmation]
        applies = [t for t in wave.tasks if t.action is not TaskAction.PRUNE]
        if prunes:
            self._progress = f"{label}: pruning {len(prunes)}"
            pruned = await calls.prune(
                PruneInput(
                    app=input.app,
                    destination=input.destination,
                    keys=prunes,
                    propagation_policy=SyncOptions.from_map(input.sync_options).prune_propagation_policy,
                    dry_run=input.dry_run,
                ),
                task_queue=input.task_queue,
                summary=f"{label}: prune " + _names(prunes),
            )
            self._record(pruned.results, label)
        if not applies:
            return
        hooks = [t for t in applies if t.is_hook]
        verb = "run hooks" if len(hooks) == len(applies) else "apply"
        self._progress = f"{label}: applying {len(applies)}"
        applied = await calls.apply(
            ApplyInput(
                app=input.app,
                manifests_digest=input.manifests_digest,
                render=input.render,
                destination=input.destination,
                keys=[t.key for t in applies],
                sync_options=input.sync_options,
                dry_run=input.dry_run,
                operation=operation,
                namespace_metadata=input.namespace_metadata,
                project=input.project,
                repo_urls=input.repo_urls,
                ignore_differences=input.ignore_differences,
            ),
            task_queue=input.task_queue,
            summary=f"{label}: {verb} " + _names([t.key for t in applies]),
        )
        self._record(applied.results, label)
        if input.dry_run:
            return
        rollouts = [t.key for t in applies if (t.key.group, t.key.kind) == (ROLLOUT_GROUP, ROLLOUT_KIND)]
        driven: set[ResourceKey] = set()
        if rollouts and workflow.patched("start-rollout-workflows"):
            await self._start_rollouts(input, rollouts, label)
            if input.plan.waves and wave is input.plan.waves[-1]:
                # As gitops-engine: the last wave's objects do not hold the sync for their health
                # ("successful EVEN if those objects subsequently degraded"); a Rollout's steps and
                # pauses belong to its RolloutWorkflow, not to this operation.
                driven = set(rollouts)
        keys = [
            hook_key(t.key, generate_name=t.generate_name, operation=operation)
            for t in applies
            if t.is_hook or t.key not in driven
        ]
        if not keys:
            return
        hook_keys = [hook_key(t.key, generate_name=t.generate_name, operation=operation) for t in hooks]
        try:
            await self._wait_healthy(input, keys, hook_keys, label)
        except _Failed:
            await self._delete_hooks(input, hooks, operation, HookDeletePolicy.HOOK_FAILED, label)
            raise
        await self._delete_hooks(input, hooks, operation, HookDeletePolicy.HOOK_SUCCEEDED, label)

    async def _start_rollouts(self, input: SyncInput, keys: list[ResourceKey], label: str) -> None:
        """Bosun is the Rollout controller: each applied Rollout's workflow observes it now."""
        await calls.start_rollout_workflows(
            StartRolloutsInput(
                app=input.app,
                destination=input.destination,
                rollouts=[RolloutName(namespace=k.namespace, name=k.name) for k in keys],
            ),
            summary=f"{label}: start the rollout of " + _names(keys),
        )

    async def _delete_hooks(
        self, input: SyncInput, hooks: list[SyncTask], operation: str, policy: HookDeletePolicy, label: str
    ) -> None:
        keys = [
            hook_key(t.key, generate_name=t.generate_name, operation=operation)
            for t in hooks
            if policy in t.delete_policies
        ]
        if not keys:
            return
        await calls.prune(
            PruneInput(app=input.app, destination=input.destination, keys=keys, propagation_policy="background"),
            task_queue=input.task_queue,
            summary=f"{label}: delete hooks ({policy}) " + _names(keys),
        )

    async def _run_sync_fail_hooks(self, input: SyncInput, operation: str) -> str:
        """Run the SyncFail hooks after a failure; returns a note for the result message."""
        if not input.plan.sync_fail_hooks or input.dry_run:
            return ""
        wave = Wave(phase=SyncPhase.SYNC_FAIL, number=0, tasks=tuple(input.plan.sync_fail_hooks))
        try:
            await self._run_wave(input, wave, operation)
        except (_Failed, ActivityError) as exc:
            return f"; SyncFail hooks failed too: {exc if isinstance(exc, _Failed) else cause_message(exc)}"
        return "; SyncFail hooks ran"

    async def _wait_healthy(
        self, input: SyncInput, keys: list[ResourceKey], hooks: list[ResourceKey], label: str
    ) -> None:
        self._progress = f"{label}: waiting for {len(keys)} to be healthy"
        try:
            health = await calls.wait_healthy(
                WaitHealthyInput(
                    destination=input.destination, keys=keys, hooks=hooks, timeout_seconds=input.health_timeout_seconds
                ),
                task_queue=input.task_queue,
                summary=f"{label}: wait until " + ("hooks finish" if len(hooks) == len(keys) else "healthy"),
            )
        except ActivityError as exc:
            raise _Failed(f"{label}: health check failed: {cause_message(exc)}") from None
        if not health.healthy:
            raise _Failed(f"{label}: {health.message}")

    def _record(self, results: list[ResourceResult], label: str) -> None:
        self._results.extend(results)
        failed = [r for r in results if r.status is ResultStatus.FAILED]
        if failed:
            raise _Failed(f"{label}: " + "; ".join(f"{r.key.short}: {r.message}" for r in failed))


def cause_message(exc: BaseException) -> str:
    """The innermost failure's message: what the activity said, not "Activity task failed"."""
    while exc.__cause__ is not None or getattr(exc, "cause", None) is not None:
        exc = getattr(exc, "cause", None) or exc.__cause__  # type: ignore[assignment]
    return str(exc)


def _names(keys: list, limit: int = 6) -> str:  # type: ignore[type-arg]
    shown = ", ".join(k.short for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
