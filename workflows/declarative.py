"""DeclarativeAppsWorkflow: keeps the management cluster's Application resources and the
app workflows in step (id ``declarative-apps:<task queue>``, one per Bosun installation).

A durable loop around one activity, ``reconcile_declared_apps``
(:mod:`activities.declarative`), every ``poll_seconds``: the activity does the work; this
workflow carries what it knows between passes (which spec each app last got, which apps
are being deleted), survives worker restarts, and keeps a history anyone can read in the
Temporal UI. The ``declared`` query returns the last pass: apps, errors.
The worker starts it (if it is not running already) when it starts.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.declarative import DeclaredAppsInput, DeclaredAppsResult
    from workflows.sync import cause_message

PASSES_PER_RUN = 300
"""Passes before continuing as new: keeps the history short (about 7 events a pass)."""


def declarative_workflow_id(task_queue: str) -> str:
    return f"declarative-apps:{task_queue}"


class DeclarativeAppsInput(BaseModel):
    poll_seconds: float = 5.0
    known: dict[str, str] = Field(default_factory=dict)
    deleting: list[str] = Field(default_factory=list)


class DeclaredApps(BaseModel):
    """The ``declared`` query's answer."""

    apps: list[str] = Field(default_factory=list)
    deleting: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)
    """Application name → why it is not acted on; ``""`` → the last pass failed as a whole."""


@workflow.defn(name="DeclarativeAppsWorkflow")
class DeclarativeAppsWorkflow:
    def __init__(self) -> None:
        self._last = DeclaredApps()

    @workflow.query(name="declared")
    def declared(self) -> DeclaredApps:
        return self._last

    @workflow.run
    async def run(self, input: DeclarativeAppsInput) -> None:
        known, deleting = dict(input.known), list(input.deleting)
        for _ in range(PASSES_PER_RUN):
            try:
                # A local activity: a pass is short and runs every few seconds, so it is kept
                # in history as a marker instead of a scheduled task.
                result: DeclaredAppsResult = await workflow.execute_local_activity(
                    "reconcile_declared_apps", DeclaredAppsInput(known=known, deleting=deleting),
                    result_type=DeclaredAppsResult, start_to_close_timeout=timedelta(minutes=1),
                    retry_policy=RetryPolicy(maximum_attempts=2), summary="reconcile declared Applications")
            except (ActivityError, ApplicationError) as exc:  # a local activity's failure is its own error
                # (the management cluster is down, say): try again next pass
                self._last = DeclaredApps(apps=sorted(known), deleting=deleting, errors={"": cause_message(exc)})
            else:
                known, deleting = result.known, result.deleting
                self._last = DeclaredApps(apps=sorted(known), deleting=deleting, errors=result.errors)
            await workflow.sleep(timedelta(seconds=input.poll_seconds), summary="until the next pass")
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(DeclarativeAppsInput(poll_seconds=input.poll_seconds, known=known,
                                                      deleting=deleting))
