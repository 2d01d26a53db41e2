"""DeclarativeAppsWorkflow: keeps the management cluster's Application resources and the
app workflows in step (id ``declarative-apps:<task queue>``, one per Bosun installation).

A durable loop around one activity, ``reconcile_declared_apps``
(:mod:`activities.declarative`): the activity does the work; this workflow carries what it
knows between passes (which spec each app last got, which apps are being deleted), survives
worker restarts, and keeps a history anyone can read in the Temporal UI. The ``declared``
query returns the last pass: apps, errors.

When it runs a pass:

- a full pass (discover, start, update, end apps) at once on the ``poke`` signal, which the
  worker's watch on the Application resources sends on every change (:mod:`worker.app_watch`);
  pokes that arrive during a pass make one more pass, so a burst of changes costs two;
- a full pass every ``poll_seconds`` anyway, a slow safety net for a missed watch event;
- a status pass every ``status_seconds``: only the status of known apps is written back to
  their resources (app workflows change status on their own), and only of those whose
  ``BosunStatusDigest`` moved (or whose status is getting old);
- a pass handles at most ``CALLS_PER_PASS`` apps that need a call to Temporal, so it stays short
  with any number of Applications; when it stopped there, the next pass follows at once.

The worker starts it (if it is not running already) when it starts, with the ``configure``
signal, so a restarted worker's periods apply to the running workflow.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.activity_calls as calls
    from activities.declarative import DeclaredAppsInput
    from bosun.protocol import DeclarativeQuery, DeclarativeSignal, WorkflowType
    from workflows.sync import cause_message

PASSES_PER_RUN = 300
"""Passes before continuing as new: keeps the history short (about 7 events a pass)."""
HISTORY_BYTES_PER_RUN = 4 * 1024 * 1024
"""...or once the history is this big: each pass's marker holds what it knows of every app (a
thousand apps are ~100 KB a pass), and a worker that takes the workflow over replays it all."""


class DeclarativeAppsInput(BaseModel):
    poll_seconds: float = 5.0
    """Full passes at least this often (the watch's safety net)."""
    known: dict[str, str] = Field(default_factory=dict)
    deleting: list[str] = Field(default_factory=list)
    status_seconds: float = 5.0
    """Status write-back at least this often."""


class DeclarativeAppsConfig(BaseModel):
    """The ``configure`` signal: the worker's periods, applied from the next wait."""

    poll_seconds: float
    status_seconds: float


class DeclaredApps(BaseModel):
    """The ``declared`` query's answer."""

    apps: list[str] = Field(default_factory=list)
    deleting: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)
    """Application name → why it is not acted on; ``""`` → the last pass failed as a whole."""


@workflow.defn(name=WorkflowType.DECLARATIVE_APPS)
class DeclarativeAppsWorkflow:
    def __init__(self) -> None:
        self._last = DeclaredApps()
        self._poked = False
        self._config: DeclarativeAppsConfig | None = None

    @workflow.query(name=DeclarativeQuery.DECLARED)
    def declared(self) -> DeclaredApps:
        return self._last

    @workflow.signal(name=DeclarativeSignal.POKE)
    def poke(self) -> None:
        """An Application resource changed: a full pass now."""
        self._poked = True

    @workflow.signal(name=DeclarativeSignal.CONFIGURE)
    def configure(self, config: DeclarativeAppsConfig) -> None:
        self._config = config

    @workflow.run
    async def run(self, input: DeclarativeAppsInput) -> None:
        known, deleting = dict(input.known), list(input.deleting)
        next_full = workflow.now()
        bounded_by_size = workflow.patched("declarative-history-size")
        for _ in range(PASSES_PER_RUN):
            if bounded_by_size and (
                workflow.info().get_current_history_size() > HISTORY_BYTES_PER_RUN
                or workflow.info().is_continue_as_new_suggested()
            ):
                break
            if self._config is not None:  # new periods count from now
                input.poll_seconds, input.status_seconds = self._config.poll_seconds, self._config.status_seconds
                next_full = min(next_full, workflow.now() + timedelta(seconds=input.poll_seconds))
                self._config = None
            full = self._poked or workflow.now() >= next_full
            self._poked = False
            more = False
            try:
                # A local activity: a pass is short and runs every few seconds, so it is kept
                # in history as a marker instead of a scheduled task.
                result = await calls.reconcile_declared_apps(
                    DeclaredAppsInput(known=known, deleting=deleting, discover=full),
                    summary="reconcile declared Applications" if full else "write declared Applications' status",
                )
            except (ActivityError, ApplicationError) as exc:  # a local activity's failure is its own error
                # (the management cluster is down, say): try again next pass
                self._last = DeclaredApps(apps=sorted(known), deleting=deleting, errors={"": cause_message(exc)})
            else:
                known, deleting = result.known, result.deleting
                self._last = DeclaredApps(apps=sorted(known), deleting=deleting, errors=result.errors)
                more = result.more
            if full and not more:
                next_full = workflow.now() + timedelta(seconds=input.poll_seconds)
            wait = min(input.status_seconds, max((next_full - workflow.now()).total_seconds(), 0.0))
            if more:  # the pass stopped at its budget: the rest next, at once, in a workflow task of its own
                self._poked = self._poked or full
                wait = 0.0
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._poked or self._config is not None,
                    timeout=timedelta(seconds=max(wait, 0.1)),
                    timeout_summary="until the next pass",
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            DeclarativeAppsInput(
                poll_seconds=input.poll_seconds, known=known, deleting=deleting, status_seconds=input.status_seconds
            )
        )
