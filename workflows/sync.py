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
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        ApplyInput,
        ApplyResult,
        Destination,
        PruneInput,
        PruneResult,
        ResourceResult,
        WaitHealthyInput,
        WaitHealthyResult,
    )
    from bosun.hooks import hook_key
    from bosun.plan import HookDeletePolicy, SyncPhase, SyncPlan, SyncTask, TaskAction, Wave
    from bosun.resources import ResourceKey

ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                             maximum_attempts=10)


class RetryStrategy(BaseModel):
    """Argo CD's ``syncPolicy.retry``; defaults as Argo CD's (5s, factor 2, max 3m)."""

    limit: int = 0
    """Retries after the first attempt; below 0 means no limit (Argo CD)."""
    duration_seconds: float = 5.0
    factor: float = 2.0
    max_duration_seconds: float | None = 180.0
    """The cap of one delay; None: no cap (``maxDuration: "0"``)."""

    def delay(self, attempt: int) -> float:
        delay = self.duration_seconds * self.factor ** (attempt - 1)
        return float(delay if self.max_duration_seconds is None else min(delay, self.max_duration_seconds))

    def allows(self, attempt: int) -> bool:
        """Whether a failed ``attempt`` may be followed by another."""
        return self.limit < 0 or attempt <= self.limit

    def describe(self, attempt: int) -> str:
        return f"retry {attempt} of {self.limit if self.limit >= 0 else 'unlimited'}"


class SyncInput(BaseModel):
    app: str
    operation_id: int
    destination: Destination
    manifests_digest: str
    plan: SyncPlan
    sync_options: dict[str, str] = Field(default_factory=dict)
    namespace_metadata: dict[str, dict[str, str]] = Field(default_factory=dict)
    project: str = "default"
    repo_urls: list[str] = Field(default_factory=list)
    ignore_differences: list[dict[str, Any]] = Field(default_factory=list)
    dry_run: bool = False
    health_timeout_seconds: float = 300.0
    retry: RetryStrategy = Field(default_factory=RetryStrategy)
    task_queue: str = ""
    """The destination cluster's task queue for apply, prune and wait_healthy (empty: the workflow's own)."""


class SyncOutcome(BaseModel):
    phase: str
    """Succeeded or Failed."""
    message: str = ""
    resources: list[ResourceResult] = Field(default_factory=list)
    attempts: int = 1


class _Failed(Exception):
    pass


@workflow.defn(name="SyncWorkflow")
class SyncWorkflow:
    def __init__(self) -> None:
        self._progress = "starting"
        self._results: list[ResourceResult] = []

    @workflow.query(name="progress")
    def progress(self) -> str:
        return self._progress

    @workflow.run
    async def run(self, input: SyncInput) -> SyncOutcome:
        attempt = 1
        while True:
            self._results = []
            operation = f"{workflow.info().workflow_id}#{attempt}"
            try:
                try:
                    await self._run_plan(input, operation)
                except ActivityError as exc:
                    raise _Failed(f"{self._progress}: {cause_message(exc)}") from None
                return SyncOutcome(phase="Succeeded", message=self._success_message(input),
                                   resources=self._results, attempts=attempt)
            except _Failed as failure:
                if not input.retry.allows(attempt) or input.dry_run:
                    note = await self._run_sync_fail_hooks(input, operation)
                    return SyncOutcome(phase="Failed", message=str(failure) + note, resources=self._results,
                                       attempts=attempt)
                delay = input.retry.delay(attempt)
                self._progress = f"{input.retry.describe(attempt)} in {delay:g}s: {failure}"
                await workflow.sleep(timedelta(seconds=delay), summary=f"{input.retry.describe(attempt)} in {delay:g}s")
                attempt += 1

    def _success_message(self, input: SyncInput) -> str:
        applied = sum(1 for r in self._results if r.status.startswith(("created", "configured")))
        pruned = sum(1 for r in self._results if r.status.startswith("pruned"))
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
            pruned: PruneResult = await workflow.execute_activity(
                "prune",
                PruneInput(app=input.app, destination=input.destination, keys=prunes,
                           propagation_policy=input.sync_options.get("PrunePropagationPolicy", "foreground"),
                           dry_run=input.dry_run),
                result_type=PruneResult,
                start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=timedelta(seconds=60),
                retry_policy=ACTIVITY_RETRY, task_queue=input.task_queue or None,
                summary=f"{label}: prune " + _names(prunes),
            )
            self._record(pruned.results, label)
        if not applies:
            return
        hooks = [t for t in applies if t.is_hook]
        verb = "run hooks" if len(hooks) == len(applies) else "apply"
        self._progress = f"{label}: applying {len(applies)}"
        applied: ApplyResult = await workflow.execute_activity(
            "apply",
            ApplyInput(app=input.app, manifests_digest=input.manifests_digest,
                       destination=input.destination, keys=[t.key for t in applies],
                       sync_options=input.sync_options, dry_run=input.dry_run, operation=operation,
                       namespace_metadata=input.namespace_metadata, project=input.project,
                       repo_urls=input.repo_urls, ignore_differences=input.ignore_differences),
            result_type=ApplyResult,
            start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=timedelta(seconds=60),
            retry_policy=ACTIVITY_RETRY, task_queue=input.task_queue or None,
            summary=f"{label}: {verb} " + _names([t.key for t in applies]),
        )
        self._record(applied.results, label)
        if input.dry_run:
            return
        keys = [hook_key(t.key, generate_name=t.generate_name, operation=operation) for t in applies]
        hook_keys = [hook_key(t.key, generate_name=t.generate_name, operation=operation) for t in hooks]
        try:
            await self._wait_healthy(input, keys, hook_keys, label)
        except _Failed:
            await self._delete_hooks(input, hooks, operation, HookDeletePolicy.HOOK_FAILED, label)
            raise
        await self._delete_hooks(input, hooks, operation, HookDeletePolicy.HOOK_SUCCEEDED, label)

    async def _delete_hooks(self, input: SyncInput, hooks: list[SyncTask], operation: str,
                            policy: HookDeletePolicy, label: str) -> None:
        keys = [hook_key(t.key, generate_name=t.generate_name, operation=operation)
                for t in hooks if policy in t.delete_policies]
        if not keys:
            return
        await workflow.execute_activity(
            "prune",
            PruneInput(app=input.app, destination=input.destination, keys=keys, propagation_policy="background"),
            result_type=PruneResult,
            start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=timedelta(seconds=60),
            retry_policy=ACTIVITY_RETRY, task_queue=input.task_queue or None,
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

    async def _wait_healthy(self, input: SyncInput, keys: list[ResourceKey], hooks: list[ResourceKey],
                            label: str) -> None:
        self._progress = f"{label}: waiting for {len(keys)} to be healthy"
        try:
            health: WaitHealthyResult = await workflow.execute_activity(
                "wait_healthy",
                WaitHealthyInput(destination=input.destination, keys=keys, hooks=hooks,
                                 timeout_seconds=input.health_timeout_seconds),
                result_type=WaitHealthyResult,
                start_to_close_timeout=timedelta(seconds=input.health_timeout_seconds + 60),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=ACTIVITY_RETRY, task_queue=input.task_queue or None,
                summary=f"{label}: wait until " + ("hooks finish" if len(hooks) == len(keys) else "healthy"),
            )
        except ActivityError as exc:
            raise _Failed(f"{label}: health check failed: {cause_message(exc)}") from None
        if not health.healthy:
            raise _Failed(f"{label}: {health.message}")

    def _record(self, results: list[ResourceResult], label: str) -> None:
        self._results.extend(results)
        failed = [r for r in results if r.status == "failed"]
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
