"""BatchSyncWorkflow: sync several Applications as one deployment (what a Schedule starts).

Every Bosun schedule's action starts one of these — a cron sync of one app is a batch
of one. With ``in_order`` the apps are synced one after another: each sync must end
Succeeded (a sync waits wave by wave until its resources are healthy) before the next
starts, and the batch stops at the first failure, naming the app and its message; the
apps after it are reported ``Skipped``. Without ``in_order`` all apps sync at once and
each is reported.

Each app's sync is one ``sync_app`` activity (the app workflow's ``sync`` update),
summarised "sync app b (2 of 3)" in the Temporal UI; the sync itself has its own page,
``app:<name>:sync:<n>``, linked from the result. The batch *returns* its outcome (it
does not fail the workflow), so a schedule keeps running after a failed night; the
phase, the failed app and its message are in the result and the current details.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.activity_calls as calls
    from activities.trigger import BatchSyncInput, SyncAppInput
    from bosun.operation import OperationPhase
    from bosun.protocol import BatchQuery, WorkflowType
    from workflows.sync import cause_message


class AppPhase(StrEnum):
    """Where one app of a batch is: an operation's phases, and the batch's own Pending and Skipped."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    """The sync could not run (the ``sync_app`` activity failed)."""
    SKIPPED = "Skipped"


FAILED_PHASES = (AppPhase.FAILED, AppPhase.ERROR)


class AppOutcome(BaseModel):
    app: str
    phase: AppPhase = AppPhase.PENDING
    message: str = ""
    revision: str = ""
    operation_id: int = 0
    workflow_id: str = ""
    """The sync's own workflow, ``app:<name>:sync:<n>``."""


class BatchSyncResult(BaseModel):
    phase: OperationPhase
    """Succeeded when every app's sync succeeded; otherwise Failed."""
    message: str = ""
    failed_app: str = ""
    """In order: the app the batch stopped at. Concurrently: the first app that failed."""
    apps: list[AppOutcome] = Field(default_factory=list)


@workflow.defn(name=WorkflowType.BATCH_SYNC)
class BatchSyncWorkflow:
    @workflow.init
    def __init__(self, input: BatchSyncInput) -> None:
        self._input = input
        self._outcomes = [AppOutcome(app=app) for app in input.apps]

    @workflow.query(name=BatchQuery.PROGRESS)
    def progress(self) -> BatchSyncResult:
        return self._result()

    @workflow.run
    async def run(self, input: BatchSyncInput) -> BatchSyncResult:
        if not input.apps:
            raise ApplicationError("a batch needs at least one app", type="InvalidBatch", non_retryable=True)
        if input.in_order:
            for outcome in self._outcomes:
                await self._sync(outcome)
                if outcome.phase is not AppPhase.SUCCEEDED:
                    for later in self._outcomes:
                        if later.phase is AppPhase.PENDING:
                            later.phase = AppPhase.SKIPPED
                            later.message = f"not synced: {outcome.app} failed"
                    break
        else:
            await asyncio.gather(*(self._sync(o) for o in self._outcomes))
        result = self._result()
        workflow.set_current_details(result.message)
        return result

    async def _sync(self, outcome: AppOutcome) -> None:
        position = f"{self._outcomes.index(outcome) + 1} of {len(self._outcomes)}"
        outcome.phase = AppPhase.RUNNING
        self._show()
        try:
            result = await calls.sync_app(
                SyncAppInput(app=outcome.app, trigger=self._input.trigger),
                summary=f"sync app {outcome.app} ({position})",
            )
        except ActivityError as exc:
            outcome.phase, outcome.message = AppPhase.ERROR, cause_message(exc)
        else:
            outcome.phase, outcome.message = AppPhase(result.phase), result.message
            outcome.revision, outcome.operation_id = result.revision, result.id
            outcome.workflow_id = result.workflow_id
        self._show()

    def _show(self) -> None:
        done = sum(1 for o in self._outcomes if o.phase not in (AppPhase.PENDING, AppPhase.RUNNING))
        running = [o.app for o in self._outcomes if o.phase is AppPhase.RUNNING]
        failed = [o.app for o in self._outcomes if o.phase in FAILED_PHASES]
        details = f"{done} of {len(self._outcomes)} done"
        if running:
            details += "; syncing " + ", ".join(running)
        if failed:
            details += "; failed: " + ", ".join(failed)
        workflow.set_current_details(details)

    def _result(self) -> BatchSyncResult:
        failed = next((o for o in self._outcomes if o.phase in FAILED_PHASES), None)
        total = len(self._outcomes)
        if failed is not None:
            succeeded = sum(1 for o in self._outcomes if o.phase is AppPhase.SUCCEEDED)
            return BatchSyncResult(
                phase=OperationPhase.FAILED,
                failed_app=failed.app,
                apps=self._outcomes,
                message=f"{failed.app} failed ({succeeded} of {total} synced): {failed.message}",
            )
        if all(o.phase is AppPhase.SUCCEEDED for o in self._outcomes):
            return BatchSyncResult(
                phase=OperationPhase.SUCCEEDED,
                apps=self._outcomes,
                message=f"synced {total} app{'s' if total != 1 else ''}: " + ", ".join(o.app for o in self._outcomes),
            )
        return BatchSyncResult(
            phase=OperationPhase.RUNNING,
            apps=self._outcomes,
            message=f"{sum(o.phase is AppPhase.SUCCEEDED for o in self._outcomes)} of {total} synced",
        )
