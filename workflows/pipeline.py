"""PipelineWorkflow: one run of a promotion pipeline (``bosun pipeline run``).

Id :func:`bosun.protocol.pipeline_workflow_id` (``pipeline:<name>``), one run at a time per
name; name :data:`bosun.protocol.PIPELINE_WORKFLOW`. Its input is the Pipeline YAML the CLI
read (:mod:`bosun.pipeline` parses it again here, so a run never starts from a document the
workflow cannot read). There is no Pipeline resource and no controller: this workflow's
state is the pipeline's state (the ``get`` query), and its past runs are Temporal's
visibility (``bosun pipeline history``).

A run:

1. finds each stage's apps (``select_pipeline_apps``) and resolves the revision to a commit
   once (``resolve_revision``), so every stage gets the same commit even if the branch moves;
2. for each stage in order: pins each app to the commit (``promote_app``: the app
   workflow's ``edit_spec`` update, or a patch of its Application resource), syncs it
   (``sync_app``, the app workflow's ``sync`` update), and polls the apps' states on
   durable timers until each is Synced and Healthy at the commit (``timeout`` of the stage);
3. then the stage's gates in order: ``soak`` (a durable timer; the apps are looked at
   meanwhile and one Degraded, Missing or moved fails it, as does one not Healthy at the end), ``analysis`` (a child
   :class:`~workflows.analysis.AnalysisRunWorkflow` on the stage's first app's cluster),
   ``approval`` (the ``approve``/``reject`` updates, recording who and when). A ``window``
   gate is the exception: it says when *this* stage may be promoted, so it runs before step
   2 (waiting, on a timer, until the allow window is open), as a project's sync window
   holds a sync.

A gate or stage that fails, and ``abort`` at any point, stops the run: status Failed with
the reason, the stages after it Skipped and untouched. The run *returns* its status (the
workflow completes; its result and the ``get`` query say Failed and why). Every step is in
the Temporal UI: the current details, each activity's summary, each timer's summary.

A soak's end is computed from its start, which is workflow state: a worker killed during a
soak neither shortens nor restarts it (the timer is the server's; replay restores the start).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    import workflows.activity_calls as calls
    from activities.contracts import ResolveRevisionInput
    from activities.destinations import DestinationActivities, ResolveDestinationInput
    from activities.pipeline import (
        AppInfo,
        AppStatesInput,
        PipelineActivities,
        PromoteInput,
        SelectAppsInput,
        StageApps,
    )
    from activities.trigger import SyncAppInput
    from bosun.pipeline import (
        AppProgress,
        AppState,
        AppStatusLine,
        Gate,
        GateStatus,
        Phase,
        PipelineError,
        PipelineSpec,
        PipelineStatus,
        Stage,
        StageStatus,
        analysis_passed,
        app_progress,
        format_seconds,
        initial_status,
        parse_pipeline,
        short,
        soak_end_problem,
        soak_poll_seconds,
        soak_problem,
        window_wait,
    )
    from bosun.protocol import (
        PIPELINE_WORKFLOW,
        PipelineCommand,
        PipelineQuery,
        PipelineUpdate,
        WorkflowType,
        analysis_run_workflow_id,
    )
    from workflows.analysis import AnalysisRunInput, AnalysisRunResult
    from workflows.sync import cause_message

__all__ = ["PipelineInput", "PipelineWorkflow"]

T = TypeVar("T")

# ---------------------------------------------------------------- the pipeline's activity calls

PIPELINE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=10
)
"""Reading apps and pinning them: Temporal or the management cluster may blink; a refusal
(app not found, several repositories) is non-retryable and stops the run at once."""
READ_TIMEOUT = timedelta(minutes=1)
PROMOTE_TIMEOUT = timedelta(minutes=5)
PROMOTE_HEARTBEAT = timedelta(seconds=30)
SOAK_ENDS_HEALTHY_PATCH = "soak-ends-healthy"
"""A soak passes only if its last look finds every app Healthy (:func:`bosun.pipeline.soak_end_problem`);
runs that passed a soak before this rule replay as they ran. Asked only when the rule would fail one."""
APPROVAL_LOOK_SECONDS = 3600.0
"""An approval waits on a timer of this length, again and again: a wait with a pending timer
is what the Temporal test server handles updates to reliably, and it shows in the UI."""


class PipelineInput(BaseModel):
    """What ``bosun pipeline run`` starts a PipelineWorkflow with."""

    pipeline: dict[str, Any]
    """The Pipeline YAML document (apiVersion bosun.dev/v1alpha1, kind Pipeline)."""
    revision: str
    """Branch, tag or commit; resolved to one commit at the start."""
    started_by: str = ""
    poll_seconds: float = 5.0
    """How often a stage looks at its apps while they sync and become Healthy."""


class _Stop(Exception):
    """The run ends Failed with this message."""


@workflow.defn(name=PIPELINE_WORKFLOW)
class PipelineWorkflow:
    @workflow.init
    def __init__(self, input: PipelineInput) -> None:
        self._input = input
        self._spec: PipelineSpec | None = None
        self._status = PipelineStatus(
            name=str((input.pipeline.get("metadata") or {}).get("name") or ""),
            revision=input.revision,
            started_by=input.started_by,
        )
        self._abort: PipelineCommand | None = None
        self._decision: tuple[str, PipelineCommand] | None = None
        """An approval gate's answer: ("approve" | "reject", who and why)."""
        self._waiting_approval: StageStatus | None = None

    # -- the protocol

    @workflow.query(name=PipelineQuery.GET)
    def get(self) -> PipelineStatus:
        return self._status

    @workflow.update(name=PipelineUpdate.APPROVE)
    def approve(self, command: PipelineCommand) -> str:
        self._decision = ("approve", command)
        stage = self._waiting_approval
        return f"approved stage {stage.name if stage else '?'} of pipeline {self._status.name} as {command.who}"

    @approve.validator
    def _validate_approve(self, command: PipelineCommand) -> None:
        self._check_approval(command, "approve")

    @workflow.update(name=PipelineUpdate.REJECT)
    def reject(self, command: PipelineCommand) -> str:
        self._decision = ("reject", command)
        stage = self._waiting_approval
        return f"rejected stage {stage.name if stage else '?'} of pipeline {self._status.name}"

    @reject.validator
    def _validate_reject(self, command: PipelineCommand) -> None:
        self._check_approval(command, "reject")

    @workflow.update(name=PipelineUpdate.ABORT)
    def abort(self, command: PipelineCommand) -> str:
        self._abort = command
        return f"aborting pipeline {self._status.name}"

    @abort.validator
    def _validate_abort(self, command: PipelineCommand) -> None:
        if self._status.phase in (Phase.SUCCEEDED, Phase.FAILED):
            raise ValueError(f"pipeline {self._status.name} has already ended ({self._status.phase})")
        if self._abort is not None:
            raise ValueError(f"pipeline {self._status.name} is already being aborted")

    def _check_approval(self, command: PipelineCommand, verb: str) -> None:
        stage = self._waiting_approval
        if stage is None or self._decision is not None:
            where, _ = self._status.current()
            at = f" (it is at stage {where.name})" if where is not None else ""
            raise ValueError(f"pipeline {self._status.name} is not waiting for an approval{at}: nothing to {verb}")
        if command.stage and command.stage != stage.name:
            raise ValueError(
                f"pipeline {self._status.name} waits for an approval of stage {stage.name}, not {command.stage}"
            )

    # -- the run

    @workflow.run
    async def run(self, input: PipelineInput) -> PipelineStatus:
        try:
            spec = self._spec = parse_pipeline(input.pipeline, source=f"pipeline {self._status.name or '?'}")
        except PipelineError as exc:
            raise ApplicationError(str(exc), type="InvalidPipeline", non_retryable=True) from None
        self._status = initial_status(spec, input.revision, input.started_by)
        self._status.started_at = workflow.now()
        self._status.phase = Phase.RUNNING
        try:
            self._show(f"finding the apps of {len(spec.stages)} stages")
            selected = await self._guarded(
                workflow.execute_activity_method(
                    PipelineActivities.select_pipeline_apps,
                    SelectAppsInput(
                        pipeline=spec.name,
                        stages=[StageApps(name=s.name, apps=s.apps, selector=s.selector) for s in spec.stages],
                    ),
                    start_to_close_timeout=READ_TIMEOUT,
                    retry_policy=PIPELINE_RETRY,
                    summary="find the apps of " + ", ".join(s.name for s in spec.stages),
                ),
                "finding the apps",
            )
            self._show(f"resolving {input.revision} in {selected.repo_url}")
            resolved = await self._guarded(
                calls.resolve_revision(
                    ResolveRevisionInput(repo_url=selected.repo_url, revision=input.revision, fresh=True),
                    summary=f"resolve {input.revision}",
                ),
                "resolving the revision",
            )
            commit = self._status.commit = resolved.commit
            for stage, status, apps in zip(spec.stages, self._status.stages, selected.stages, strict=True):
                status.apps = [AppStatusLine(name=a.name) for a in apps]
                await self._run_stage(stage, status, apps, commit)
            self._status.phase = Phase.SUCCEEDED
            self._status.message = f"promoted {short(commit)} through " + ", ".join(s.name for s in spec.stages)
        except _Stop as stop:
            self._fail(str(stop))
        self._status.finished_at = workflow.now()
        workflow.set_current_details(f"{self._status.phase}: {self._status.message}")
        return self._status

    async def _run_stage(self, stage: Stage, status: StageStatus, apps: list[AppInfo], commit: str) -> None:
        status.phase = Phase.RUNNING
        status.started_at = workflow.now()
        names = [a.name for a in apps]
        gates = list(zip(stage.gates, status.gates, strict=True))
        for gate, gate_status in gates:  # a window says when this stage may be promoted: before it
            if gate.before_promotion():
                await self._gate(stage, status, gate, gate_status, apps, commit)
        self._show(f"stage {stage.name}: promoting {', '.join(names)} to {short(commit)}")
        # every app's promotion and sync ends before the stage goes on or stops: none is left behind
        outcomes = await asyncio.gather(
            *(self._promote_and_sync(stage, a.name, commit) for a in apps), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        await self._wait_ready(stage, status, names, commit)
        for gate, gate_status in gates:
            if not gate.before_promotion():
                await self._gate(stage, status, gate, gate_status, apps, commit)
        status.phase = Phase.SUCCEEDED
        status.finished_at = workflow.now()
        status.message = f"{', '.join(names)} at {short(commit)}, {len(stage.gates)} gate(s) passed"

    async def _gate(
        self, stage: Stage, status: StageStatus, gate: Gate, gate_status: GateStatus, apps: list[AppInfo], commit: str
    ) -> None:
        gate_status.phase = Phase.RUNNING
        gate_status.started_at = workflow.now()
        await self._run_gate(stage, status, gate, gate_status, apps, commit)
        gate_status.phase = Phase.SUCCEEDED
        gate_status.finished_at = workflow.now()

    async def _promote_and_sync(self, stage: Stage, app: str, commit: str) -> None:
        await self._guarded(
            workflow.execute_activity_method(
                PipelineActivities.promote_app,
                PromoteInput(pipeline=self._status.name, app=app, commit=commit),
                start_to_close_timeout=PROMOTE_TIMEOUT,
                heartbeat_timeout=PROMOTE_HEARTBEAT,
                retry_policy=PIPELINE_RETRY,
                summary=f"stage {stage.name}: pin {app} to {short(commit)}",
            ),
            f"stage {stage.name}: promoting {app}",
        )
        result = await self._guarded(
            calls.sync_app(
                SyncAppInput(app=app, revision=commit, trigger=f"pipeline {self._status.name}"),
                summary=f"stage {stage.name}: sync {app} to {short(commit)}",
            ),
            f"stage {stage.name}: syncing {app}",
        )
        if result.phase != "Succeeded":
            raise _Stop(f"stage {stage.name}: sync of {app} {result.phase}: {result.message}")

    async def _wait_ready(self, stage: Stage, status: StageStatus, apps: list[str], commit: str) -> None:
        """Until every app is Synced and Healthy at ``commit``; a failed app or the stage's
        timeout stops the run."""
        deadline = workflow.now() + timedelta(seconds=stage.timeout_seconds)
        while True:
            states = await self._states(stage, apps, "check Synced/Healthy")
            verdicts = [app_progress(s, commit) for s in states]
            for line, (_, message) in zip(status.apps, verdicts, strict=True):
                line.message = message
            failed = [message for progress, message in verdicts if progress is AppProgress.FAILED]
            if failed:
                raise _Stop(f"stage {stage.name}: {'; '.join(failed)}")
            waiting = [message for progress, message in verdicts if progress is not AppProgress.READY]
            if not waiting:
                return
            if workflow.now() >= deadline:
                raise _Stop(
                    f"stage {stage.name}: not Synced and Healthy at {short(commit)} after "
                    f"{format_seconds(stage.timeout_seconds)}: {'; '.join(waiting)}"
                )
            self._show(f"stage {stage.name}: waiting for {'; '.join(waiting)}")
            await self._sleep(self._input.poll_seconds, f"stage {stage.name}: look at the apps again")

    # -- gates

    async def _run_gate(
        self, stage: Stage, status: StageStatus, gate: Gate, gs: GateStatus, apps: list[AppInfo], commit: str
    ) -> None:
        where = f"stage {stage.name}: {gate.describe()}"
        try:
            if gate.kind == "soak":
                await self._soak(stage, gate, gs, [a.name for a in apps], commit, where)
            elif gate.kind == "approval":
                await self._approval(stage, status, gs, where)
            elif gate.kind == "window":
                await self._window(gate, gs, where)
            else:
                await self._analysis(stage, gate, gs, apps, commit, where)
        except _Stop as stop:
            if not gs.message:
                gs.message = str(stop)
            raise

    async def _soak(self, stage: Stage, gate: Gate, gs: GateStatus, apps: list[str], commit: str, where: str) -> None:
        assert gs.started_at is not None
        end = gs.started_at + timedelta(seconds=gate.soak_seconds)
        poll = soak_poll_seconds(gate.soak_seconds)
        while True:
            remaining = (end - workflow.now()).total_seconds()
            if remaining <= 0:
                gs.message = f"{', '.join(apps)} stayed Healthy for {format_seconds(gate.soak_seconds)}"
                return
            self._show(f"{where}: {format_seconds(remaining)} left")
            gs.message = f"soaking until {end.isoformat()}"
            at_end = remaining <= poll
            await self._sleep(min(poll, remaining), f"{where}: soak until {end.isoformat()}")
            states = await self._states(stage, apps, "soak check")
            problem = soak_problem(states, commit)
            if not problem and at_end and workflow.patched(SOAK_ENDS_HEALTHY_PATCH):
                problem = soak_end_problem(states)
            if problem:
                raise _Stop(f"{where} failed: {problem}")

    async def _approval(self, stage: Stage, status: StageStatus, gs: GateStatus, where: str) -> None:
        gs.phase = Phase.WAITING
        gs.message = f"waiting for `bosun pipeline approve {self._status.name}`"
        self._waiting_approval = status
        self._decision = None
        self._show(f"{where}: waiting for approval (bosun pipeline approve {self._status.name})")
        try:
            while self._decision is None:
                await self._wait(
                    lambda: self._decision is not None, APPROVAL_LOOK_SECONDS, f"{where}: wait for approval"
                )
        finally:
            self._waiting_approval = None
        assert self._decision is not None
        verb, command = self._decision
        self._decision = None
        gs.by = command.who
        gs.finished_at = workflow.now()
        if verb == "reject":
            gs.phase = Phase.FAILED
            reason = f": {command.reason}" if command.reason else ""
            gs.message = f"rejected by {command.who or 'someone'}{reason}"
            raise _Stop(f"stage {stage.name}: approval {gs.message}")
        gs.message = f"approved by {command.who or 'someone'}" + (f": {command.reason}" if command.reason else "")

    async def _window(self, gate: Gate, gs: GateStatus, where: str) -> None:
        while True:
            wait, note = window_wait(gate, workflow.now())
            if wait is None:
                gs.message = f"{note} at {workflow.now().isoformat()}"
                return
            gs.phase = Phase.WAITING
            gs.message = note
            self._show(f"{where}: {note}")
            await self._sleep(max(wait.total_seconds(), 1.0), f"{where}: {note}")

    async def _analysis(
        self, stage: Stage, gate: Gate, gs: GateStatus, apps: list[AppInfo], commit: str, where: str
    ) -> None:
        first = apps[0]
        cluster = await self._guarded(
            workflow.execute_activity_method(
                DestinationActivities.resolve_destination,
                ResolveDestinationInput(destination=first.destination),
                start_to_close_timeout=READ_TIMEOUT,
                retry_policy=PIPELINE_RETRY,
                summary=f"{where}: find the cluster of {first.name}",
            ),
            f"{where}: finding the cluster",
        )
        index = stage.gates.index(gate)
        name = f"{self._status.name}-{stage.name}-{index}-{workflow.info().run_id[:8]}".lower()
        namespace = gate.analysis_namespace or first.destination.namespace or "default"
        self._show(f"{where}: running AnalysisRun {namespace}/{name}")
        gs.message = f"AnalysisRun {namespace}/{name} running"
        handle = await workflow.start_child_workflow(
            WorkflowType.ANALYSIS_RUN,
            AnalysisRunInput(
                name=name,
                namespace=namespace,
                analysis=gate.analysis,
                labels={"bosun.dev/pipeline": self._status.name, "bosun.dev/stage": stage.name},
                annotations={"bosun.dev/revision": commit},
                destination=first.destination,
                task_queue=cluster.task_queue,
            ),
            id=analysis_run_workflow_id(workflow.info().workflow_id, name),
            result_type=AnalysisRunResult,
            static_summary=f"{where} ({name})",
        )
        try:
            result = await self._guarded(handle, where)
        except ChildWorkflowError as exc:
            raise _Stop(f"{where}: AnalysisRun {name} did not finish: {cause_message(exc)}") from None
        if not analysis_passed(result.phase):
            raise _Stop(
                f"{where}: AnalysisRun {name} {result.phase}" + (f": {result.message}" if result.message else "")
            )
        gs.message = f"AnalysisRun {namespace}/{name} Successful"

    # -- waiting, with abort

    async def _states(self, stage: Stage, apps: list[str], what: str) -> list[AppState]:
        result = await self._guarded(
            workflow.execute_activity_method(
                PipelineActivities.pipeline_app_states,
                AppStatesInput(apps=apps),
                start_to_close_timeout=READ_TIMEOUT,
                retry_policy=PIPELINE_RETRY,
                summary=f"stage {stage.name}: {what} of {', '.join(apps)}",
            ),
            f"stage {stage.name}: reading the apps",
        )
        return result.states

    async def _guarded(self, awaitable: Awaitable[T], what: str) -> T:
        """Await an activity or child, unless ``abort`` comes first (then it is cancelled).
        A failed activity stops the run with its message."""
        task: asyncio.Future[T] = asyncio.ensure_future(awaitable)
        try:
            await workflow.wait_condition(lambda: task.done() or self._abort is not None)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ActivityError, ChildWorkflowError):
                    await task
        self._check_abort()
        try:
            return task.result()
        except ActivityError as exc:
            raise _Stop(f"{what}: {cause_message(exc)}") from None

    async def _sleep(self, seconds: float, summary: str) -> None:
        await self._wait(lambda: False, seconds, summary)

    async def _wait(self, condition: Callable[[], bool], seconds: float | None, summary: str) -> None:
        """A durable wait for ``condition`` (or ``seconds``), cut short by ``abort``."""
        with contextlib.suppress(asyncio.TimeoutError):
            await workflow.wait_condition(
                lambda: condition() or self._abort is not None,
                timeout=None if seconds is None else timedelta(seconds=seconds),
                timeout_summary=summary if seconds is not None else None,
            )
        self._check_abort()

    def _check_abort(self) -> None:
        if self._abort is not None:
            reason = f": {self._abort.reason}" if self._abort.reason else ""
            raise _Stop(f"aborted by {self._abort.who or 'someone'}{reason}")

    # -- status

    def _fail(self, message: str) -> None:
        now = workflow.now()
        self._status.phase = Phase.FAILED
        self._status.message = message
        failed = False
        for stage in self._status.stages:
            if failed:
                stage.phase = Phase.SKIPPED
                for gate in stage.gates:
                    gate.phase = Phase.SKIPPED
                continue
            if stage.phase in (Phase.RUNNING, Phase.WAITING):
                stage.phase, stage.message, stage.finished_at = Phase.FAILED, message, now
                for gate in stage.gates:
                    if gate.phase in (Phase.RUNNING, Phase.WAITING):
                        gate.phase, gate.finished_at = Phase.FAILED, now
                        gate.message = gate.message if gate.message.startswith("rejected") else message
                    elif gate.phase is Phase.PENDING:
                        gate.phase = Phase.SKIPPED
                failed = True
            elif stage.phase is Phase.PENDING:
                stage.phase = Phase.SKIPPED
                for gate in stage.gates:
                    gate.phase = Phase.SKIPPED
                failed = True

    def _show(self, details: str) -> None:
        workflow.set_current_details(
            f"{self._status.name} @ {short(self._status.commit or self._status.revision)}: {details}"
        )
