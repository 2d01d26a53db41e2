"""RolloutWorkflow: Bosun acting as the Argo Rollouts controller for one ``Rollout``.

One workflow per Rollout a Bosun app deploys, id :func:`bosun.protocol.rollout_workflow_id`
(``rollout:<cluster>:<namespace>/<name>``). A sync that applies the Rollout
signal-with-starts it (``observe``, :mod:`activities.rollout_trigger`); so does the watch
when someone patches the Rollout (``kubectl argo rollouts promote|abort|retry``).

It is a reconcile loop, as Argo Rollouts' controller is (``rollout/canary.go``):

1. ``observe_rollout`` reads the Rollout and the ReplicaSets it owns;
2. what people asked for is taken in: the updates (promote, abort, retry, pause, resume),
   the ``approve`` signal, and the status patches ``kubectl argo rollouts`` makes
   (``status.pauseConditions: null`` promotes, ``status.promoteFull: true`` promotes fully,
   ``status.abort: true|false`` aborts or retries, ``spec.paused`` pauses);
3. the spec is parsed (:func:`bosun.rollouts.spec.parse_rollout`; an error becomes the
   ``InvalidSpec`` condition, phase Degraded, and nothing is scaled), the pod template
   hashed (:func:`bosun.rollouts.hash.pod_template_hash`); a new hash starts the steps;
4. the replica counts of the current step come from Argo's math
   (:func:`bosun.rollouts.replicas.basic_canary_counts`); ReplicaSets are created and
   scaled, the canary and stable Services pointed at their hashes;
5. when the counts are reached and available, the step is taken: ``setWeight`` moves on,
   ``pause`` with a duration is a durable timer, without one it waits for a promotion;
   after the last step the canary becomes stable and the old ReplicaSets go to 0;
6. the status is written in Argo Rollouts' shape (so Argo CD's Rollout health, and the
   app's, follows), search attributes ``BosunRolloutPhase`` / ``BosunRolloutStep`` upserted;
7. it waits: for availability (a heartbeating activity), a pause's timer, or the next
   signal/update, whichever comes first; a signal interrupts the other waits.

Each activity and timer has a summary (``step 2/4: setWeight 20``, ``step 3/4: pause 5s``).
History stays bounded: the workflow continues as new when the history grows long while
nothing is in flight, carrying :class:`RolloutState` over.

An ``analysis`` step runs a child :class:`workflows.analysis.AnalysisRunWorkflow` and waits
for it: Successful moves on, Failed/Error aborts, Inconclusive pauses until promoted.
The other analysis gates (canary background analysis from ``startingStep`` on, blue-green
pre-/postPromotionAnalysis before/after the switch) are child runs too, decided by
:mod:`bosun.rollouts.analysis_gates` (:meth:`RolloutWorkflow._settle_gates` and its neighbours).

A blue-green Rollout takes :meth:`RolloutWorkflow._blue_green` instead of the steps: preview
ReplicaSet and Service, ``BlueGreenPause`` (until promoted, or ``autoPromotionSeconds`` as a
durable timer), the active Service's switch, the old ReplicaSet scaled down after
``scaleDownDelaySeconds``.

With ``trafficRouting`` (NGINX or the Gateway API plugin) the canary gets its weight's share
of pods (:func:`bosun.rollouts.replicas.traffic_routed_counts`), the stable stays full (unless
``dynamicStableScale``), the weight is set on the router (:meth:`RolloutWorkflow._route_traffic`)
and a ReplicaSet leaving service is scaled down only after ``scaleDownDelaySeconds`` (after a
promotion) or ``abortScaleDownDelaySeconds`` (after an abort), annotated with its
``scale-down-deadline`` meanwhile (:meth:`RolloutWorkflow._delay_scale_down`).

What Bosun does not drive (workloadRef, Experiments, some step kinds and fields) is refused
by :mod:`bosun.rollouts.spec` (its ``SUPPORTED`` table) with the ``InvalidSpec`` condition,
never ignored.

Ephemeral metadata (``canaryMetadata``/``stableMetadata``, ``previewMetadata``/``activeMetadata``)
is synced by :meth:`RolloutWorkflow._sync_metadata` when a ReplicaSet's role changes. A
referenced object that is missing (a Service, the stable Ingress, the HTTPRoute or its CRD)
is an ``InvalidSpec`` condition naming it (phase Degraded), retried every
``ROUTER_RETRY_SECONDS`` until it appears (:attr:`RolloutState.missing`). To add a step kind: its decision
in :meth:`RolloutWorkflow._take_step`, its I/O as an activity in :mod:`activities.rollouts`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ChildWorkflowError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.rollout_trigger import TASK_TIMEOUT, RolloutStart
    from activities.rollouts import (
        DeleteReplicaSetsInput,
        EnsureReplicaSetInput,
        EphemeralMetadataInput,
        ReplicaSetObservation,
        RolloutActivities,
        RolloutObservation,
        RolloutTarget,
        ScaleDownDeadlinesInput,
        ScaleReplicaSetsInput,
        ServiceSelectorInput,
        TrafficWeightInput,
        WaitReplicaSetsInput,
        WriteStatusInput,
        replica_set_name,
    )
    from bosun import search_attributes as sa
    from bosun.protocol import (
        RolloutCommand,
        RolloutCommandResult,
        RolloutQuery,
        RolloutSignal,
        RolloutUpdate,
        WorkflowType,
        analysis_run_workflow_id,
    )
    from bosun.rollouts.analysis_gates import (
        Gate,
        Verdict,
        abort_message,
        background_due,
        run_labels,
        run_name,
        verdict,
    )
    from bosun.rollouts.bluegreen import Action, after_switch, before_switch, preview_replica_count
    from bosun.rollouts.hash import pod_template_hash
    from bosun.rollouts.metadata import encode_metadata, wanted_metadata
    from bosun.rollouts.replicas import (
        CanaryCounts,
        CanaryScale,
        ReplicaSetState,
        TrafficWeights,
        at_desired_counts,
        basic_canary_counts,
        canary_scale,
        traffic_routed_counts,
    )
    from bosun.rollouts.spec import (
        BlueGreenStrategy,
        CanaryStep,
        PodMetadata,
        Rollout,
        RolloutSpecError,
        parse_rollout,
    )
    from bosun.rollouts.status import AnalysisRunStatus, PauseCondition, PauseReason, StatusInput, build_status
    from bosun.rollouts.steps import step_summary
    from bosun.rollouts.traffic import desired_traffic_weight
    from bosun.rollouts.view import AnalysisRunView, ReplicaSetRole, ReplicaSetView, RolloutDescription, StepView
    from workflows.analysis import AnalysisRunInput, AnalysisRunResult

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=0
)
"""Cluster I/O is retried until it works (a cluster that is down comes back); refusals are not."""
ACTIVITY_TIMEOUT = timedelta(minutes=2)
QUICK_TIMEOUT = timedelta(seconds=10)
"""For the reads and status writes the loop makes all the time (one or a few API calls each):
one taken by a worker that is then killed is retried after this, not after
``ACTIVITY_TIMEOUT``, so a pause still ends on time (a SIGKILL during ``observe_rollout``
held a 20 s pause two minutes)."""
WAIT_CHUNK_SECONDS = 30.0
"""The longest one ``wait_replica_sets`` runs before the workflow looks again. A signal or
update interrupts the wait at once: the activity is abandoned (it ends by itself within
this time), never cancelled, so an activity that completes as it is interrupted cannot
race a cancellation request."""
SETTLE_POLL_SECONDS = 5.0
"""How soon the workflow looks again when the counts are not at the step's yet and there is
nothing a ``wait_replica_sets`` could wait for (never a busy loop of instant waits)."""
RESYNC_SECONDS = 300.0
"""A Rollout at rest is re-read this often, even with no signal (as Argo's resync)."""
HISTORY_EVENTS = 4000
"""Continue as new past this many events, when nothing is in flight."""
ROUTER_RETRY_SECONDS = 10
"""How soon a router object that was missing (e.g. the stable Ingress not synced yet) is first
tried again; later tries back off (:meth:`RolloutWorkflow._retry_at`)."""
ROUTER_FIELD = "spec.strategy.canary.trafficRouting"


class RolloutState(BaseModel):
    """What the workflow knows beyond the cluster: carried over continue-as-new."""

    stable_hash: str = ""
    current_hash: str = ""
    revision: int = 0
    """The current hash's ``rollout.argoproj.io/revision``."""
    step_index: int = 0
    aborted: bool = False
    aborted_at: datetime | None = None
    abort_message: str = ""
    """Why, when it was not a person (``progressDeadlineAbort``)."""
    pause_started: datetime | None = None
    """When the current ``pause`` step began (the controller's pause condition)."""
    user_paused: bool = False
    """The ``pause`` update (``spec.paused`` is read from the Rollout)."""
    promote_full: bool = False
    progress_at: datetime | None = None
    """When the rollout last made progress (for ``progressDeadlineSeconds``)."""
    deadline_exceeded: bool = False
    invalid: str = ""
    """The InvalidSpec message, or empty."""
    message: str = ""
    services: dict[str, str] = Field(default_factory=dict)
    """Service name → the hash its selector was set to."""
    status: dict[str, Any] = Field(default_factory=dict)
    """The status last written."""
    approvals: list[str] = Field(default_factory=list)
    """Who approved or promoted which step (``alice: step 2 (pause)``)."""
    attempt: int = 0
    """Retries of the current revision (names a retried step's AnalysisRun apart)."""
    analysis_key: str = ""
    """Which step's AnalysisRun :attr:`analysis` is (hash, revision, step, attempt)."""
    analysis: AnalysisRunStatus | None = None
    """The current step's AnalysisRun: ``status.canary.currentStepAnalysisRunStatus``."""
    active_hash: str = ""
    """Blue-green: the hash the active Service is meant to select (``status.blueGreen.activeSelector``)."""
    promoted: bool = False
    """Blue-green: someone promoted the current revision (the ``BlueGreenPause`` cleared)."""
    scale_up_checkpoint: bool = False
    """Blue-green: the preview was scaled to full before the switch (``scaleUpPreviewCheckPoint``)."""
    active_scale_down_at: datetime | None = None
    """Blue-green: when the ReplicaSets that were active before the switch go to 0."""
    weight: int | None = None
    """The canary weight last set on the traffic router (None: not set by this workflow yet)."""
    scale_down_at: dict[str, datetime] = Field(default_factory=dict)
    """ReplicaSet name → when its delayed scale-down happens (annotated ``scale-down-deadline``)."""
    gates: dict[str, AnalysisRunStatus] = Field(default_factory=dict)
    """:class:`~bosun.rollouts.analysis_gates.Gate` → its AnalysisRun for :attr:`gates_key`
    (``status.canary.currentBackgroundAnalysisRunStatus``, ``status.blueGreen.pre/postPromotionAnalysisRunStatus``)."""
    gates_key: str = ""
    """Which revision and attempt :attr:`gates` are for."""
    gate_runs: dict[str, int] = Field(default_factory=dict)
    """AnalysisRun base name → runs started under it (the ``.N`` of a re-run's name)."""
    inconclusive_at: datetime | None = None
    """When a gate's Inconclusive run paused the rollout (``InconclusiveAnalysisRun``)."""
    inconclusive_gate: str = ""
    ephemeral: dict[str, str] = Field(default_factory=dict)
    """ReplicaSet name → the ephemeral metadata last synced to it (encoded; "" for none)."""
    missing: dict[str, str] = Field(default_factory=dict)
    """Referenced objects not found (spec field → message): the InvalidSpec condition names
    them, as Argo's referenced-resource validation does."""
    missing_since: datetime | None = None
    """Since when something in :attr:`missing` is missing (the retries back off from it)."""


class RolloutWorkflowInput(RolloutStart):
    """What :mod:`activities.rollout_trigger` starts the workflow with, and the state a
    continued-as-new run carries over."""

    state: RolloutState | None = None


@dataclass
class _Wait:
    """What the loop waits for after a reconcile."""

    available: dict[str, int] | None = None
    until: datetime | None = None
    summary: str = ""
    again: bool = False
    analysis: bool = False
    """Until the step's AnalysisRun ends."""


@dataclass
class _Pending:
    kind: str
    command: RolloutCommand
    result: RolloutCommandResult | None = None
    """What the command did, once taken in."""
    answer: RolloutCommandResult | None = None
    """The update's answer: the result with the status written after it."""


@workflow.defn(name=WorkflowType.ROLLOUT)
class RolloutWorkflow:
    def __init__(self) -> None:
        self._input: RolloutWorkflowInput | None = None
        self._state = RolloutState()
        self._dirty = True
        self._pending: list[_Pending] = []
        self._taken: list[_Pending] = []
        self._observation: RolloutObservation | None = None
        self._rollout: Rollout | None = None
        self._attributes: tuple[str, int] | None = None
        self._analysis: tuple[str, workflow.ChildWorkflowHandle[Any, AnalysisRunResult]] | None = None
        """The running step AnalysisRun's key and child workflow."""
        self._gate_runs: dict[str, tuple[str, workflow.ChildWorkflowHandle[Any, AnalysisRunResult]]] = {}
        """Gate → its running AnalysisRun's name and child workflow."""
        self._stopping: list[tuple[str, str, workflow.ChildWorkflowHandle[Any, AnalysisRunResult]]] = []
        """Gate runs cancelled and not ended yet (gate, name, child): their end is still
        recorded, and no continue-as-new happens before it."""

    # ------------------------------------------------------------------ signals, updates, query

    @workflow.signal(name=RolloutSignal.OBSERVE)
    def observe(self) -> None:
        self._dirty = True

    @workflow.signal(name=RolloutSignal.APPROVE)
    def approve(self, command: RolloutCommand) -> None:
        self._pending.append(_Pending("approve", command))
        self._dirty = True

    async def _command(self, kind: str, command: RolloutCommand) -> RolloutCommandResult:
        pending = _Pending(kind, command)
        self._pending.append(pending)
        self._dirty = True
        await workflow.wait_condition(lambda: pending.answer is not None)
        assert pending.answer is not None
        return pending.answer

    @workflow.update(name=RolloutUpdate.PROMOTE)
    async def promote(self, command: RolloutCommand) -> RolloutCommandResult:
        return await self._command("promote", command)

    @workflow.update(name=RolloutUpdate.ABORT)
    async def abort(self, command: RolloutCommand) -> RolloutCommandResult:
        return await self._command("abort", command)

    @workflow.update(name=RolloutUpdate.RETRY)
    async def retry(self, command: RolloutCommand) -> RolloutCommandResult:
        return await self._command("retry", command)

    @workflow.update(name=RolloutUpdate.PAUSE)
    async def pause(self, command: RolloutCommand) -> RolloutCommandResult:
        return await self._command("pause", command)

    @workflow.update(name=RolloutUpdate.RESUME)
    async def resume(self, command: RolloutCommand) -> RolloutCommandResult:
        return await self._command("resume", command)

    @workflow.query(name=RolloutQuery.DESCRIBE)
    def describe(self) -> RolloutDescription:
        assert self._input is not None
        s = self._state
        rollout = self._rollout
        steps = list(rollout.canary.steps) if rollout is not None and rollout.canary is not None else []
        status = s.status
        index = status.get("currentStepIndex")
        views = [
            StepView(
                index=i,
                summary=step_summary(step),
                state="done" if index is not None and i < index else ("current" if i == index else "pending"),
            )
            for i, step in enumerate(steps)
        ]
        replica_sets = []
        blue_green = rollout is not None and rollout.blue_green is not None
        for rs in self._observation.replica_sets if self._observation is not None else []:
            role: ReplicaSetRole = "canary" if rs.pod_template_hash == s.current_hash else "old"
            if blue_green and rs.pod_template_hash == s.current_hash:
                role = "active" if s.active_hash == s.current_hash else "preview"
            if rs.pod_template_hash == s.stable_hash:
                role = "stable"
            replica_sets.append(
                ReplicaSetView(
                    name=rs.name,
                    pod_template_hash=rs.pod_template_hash,
                    revision=rs.revision,
                    role=role,
                    replicas=rs.replicas,
                    ready=rs.ready,
                    available=rs.available,
                    images=list(rs.images),
                )
            )
        return RolloutDescription(
            ref=self._input.ref,
            strategy=rollout.strategy if rollout is not None else "",
            phase=str(status.get("phase") or ""),
            message=str(status.get("message") or ""),
            current_step_index=index,
            steps=views,
            canary_weight=self._scale_now().weight if rollout is not None and rollout.canary is not None else None,
            stable_hash=s.stable_hash,
            current_hash=s.current_hash,
            replica_sets=replica_sets,
            analysis_runs=[
                AnalysisRunView(name=run.name, phase=run.status, message=run.message)
                for run in ([s.analysis] if s.analysis is not None else []) + list(s.gates.values())
            ],
            status=status,
        )

    # ------------------------------------------------------------------ the loop

    @workflow.run
    async def run(self, input: RolloutWorkflowInput) -> str:
        self._input = input
        self._state = input.state or RolloutState()
        observation: RolloutObservation | None = None
        while True:
            if observation is None:
                self._dirty = False
                observation = await self._observe()
            self._observation = observation
            if not observation.exists:
                self._answer_pending(accepted=False, message=f"Rollout {self._name()} does not exist")
                if self._state.status:
                    return f"Rollout {self._name()} was deleted"
                observation = await self._idle(RESYNC_SECONDS)
                continue
            self._take_intents(observation)
            wait = await self._reconcile(observation)
            await self._write_status(observation)
            self._answer_taken()
            await self._upsert_attributes()
            if wait.again:
                observation = None
                continue
            running_analysis = (
                (self._analysis is not None and not self._analysis[1].done())
                or bool(self._gate_runs)
                or bool(self._stopping)
            )
            if not self._pending and not running_analysis and self._history_long() and workflow.all_handlers_finished():
                workflow.continue_as_new(
                    RolloutWorkflowInput(
                        ref=input.ref, destination=input.destination, task_queue=input.task_queue, state=self._state
                    ),
                    task_timeout=TASK_TIMEOUT,
                )
            observation = await self._wait(wait)

    def _history_long(self) -> bool:
        info = workflow.info()
        return info.get_current_history_length() > HISTORY_EVENTS or info.is_continue_as_new_suggested()

    def _name(self) -> str:
        assert self._input is not None
        return f"{self._input.ref.namespace}/{self._input.ref.name}"

    def _target(self) -> RolloutTarget:
        assert self._input is not None
        return RolloutTarget(
            destination=self._input.destination, namespace=self._input.ref.namespace, name=self._input.ref.name
        )

    def _options(self, summary: str, *, quick: bool = False) -> dict[str, Any]:
        assert self._input is not None
        return {
            "start_to_close_timeout": QUICK_TIMEOUT if quick else ACTIVITY_TIMEOUT,
            "retry_policy": ACTIVITY_RETRY,
            "task_queue": self._input.task_queue or None,
            "summary": summary,
        }

    async def _observe(self) -> RolloutObservation:
        return await workflow.execute_activity_method(
            RolloutActivities.observe_rollout,
            self._target(),
            **self._options(f"observe Rollout {self._name()}", quick=True),
        )

    async def _idle(self, seconds: float) -> RolloutObservation | None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._dirty or bool(self._pending), timeout=seconds, timeout_summary="resync"
            )
        return None

    async def _wait(self, wait: _Wait) -> RolloutObservation | None:
        """Wait as ``wait`` says, or until a signal or update comes; the observation the wait
        made, if any (None: observe again)."""
        if self._dirty or self._pending:
            return None
        if wait.available is not None:
            remaining = self._deadline_remaining()
            # Past the deadline (already reported) the chunks are full ones again, never 1 s.
            chunk = max(1.0, min(WAIT_CHUNK_SECONDS, remaining)) if remaining > 0 else WAIT_CHUNK_SECONDS
            started = workflow.now()
            handle = workflow.start_activity_method(
                RolloutActivities.wait_replica_sets,
                WaitReplicaSetsInput(target=self._target(), available=wait.available, timeout_seconds=chunk),
                start_to_close_timeout=timedelta(seconds=WAIT_CHUNK_SECONDS + 60),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=ACTIVITY_RETRY,
                task_queue=self._input.task_queue or None if self._input else None,
                summary=wait.summary,
                cancellation_type=ActivityCancellationType.ABANDON,
            )
            await workflow.wait_condition(lambda: handle.done() or self._dirty or bool(self._pending))
            if not handle.done():
                handle.cancel()  # abandoned: resolves at once
                with contextlib.suppress(ActivityError, asyncio.CancelledError):
                    await handle
                return None
            try:
                result = handle.result()
            except (ActivityError, asyncio.CancelledError):
                return None
            if not result.reached:
                # A wait that gave up before its time (it never should) is made up with a
                # timer: whatever the activity does, the loop never spins.
                rest = chunk - (workflow.now() - started).total_seconds()
                if rest > 1:
                    with contextlib.suppress(TimeoutError):
                        await workflow.wait_condition(
                            lambda: self._dirty or bool(self._pending), timeout=rest, timeout_summary=wait.summary
                        )
                if self._deadline_remaining() <= 0:
                    self._state.deadline_exceeded = True
                return None if self._dirty or self._pending or rest > 1 else result.observation
            return result.observation
        if wait.analysis and self._analysis is not None:
            child = self._analysis[1]
            await workflow.wait_condition(lambda: child.done() or self._dirty or bool(self._pending))
            return None
        if wait.until is not None:
            seconds = (wait.until - workflow.now()).total_seconds()
            if seconds > 0:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._dirty or bool(self._pending), timeout=seconds, timeout_summary=wait.summary
                    )
            return None
        return await self._idle(RESYNC_SECONDS)

    def _deadline_remaining(self) -> float:
        rollout, s = self._rollout, self._state
        if rollout is None or s.progress_at is None:
            return WAIT_CHUNK_SECONDS
        end = s.progress_at + timedelta(seconds=rollout.progress_deadline_seconds)
        return (end - workflow.now()).total_seconds()

    # ------------------------------------------------------------------ what people asked for

    def _take_intents(self, observation: RolloutObservation) -> None:
        """The status patches of ``kubectl argo rollouts`` (seen against what this workflow
        last wrote), then the commands sent through Temporal, in order."""
        s = self._state
        live, written = observation.status, s.status
        if live.get("abort") is True and not s.aborted and written.get("abort") is not True:
            self._do("abort", RolloutCommand(who="status.abort patch"))
        elif s.aborted and written.get("abort") is True and live.get("abort") is not True:
            self._do("retry", RolloutCommand(who="status.abort patch"))
        if live.get("promoteFull") is True and not s.promote_full and written.get("promoteFull") is not True:
            self._do("promote", RolloutCommand(full=True, who="status.promoteFull patch"))
        elif (
            (s.pause_started is not None or s.inconclusive_at is not None)
            and written.get("pauseConditions")
            and not live.get("pauseConditions")
        ):
            self._do("promote", RolloutCommand(who="status.pauseConditions patch"))
        pending, self._pending = self._pending, []
        for item in pending:
            item.result = self._do(item.kind, item.command)
            self._taken.append(item)

    def _do(self, kind: str, command: RolloutCommand) -> RolloutCommandResult:
        s = self._state
        in_canary = bool(s.current_hash) and s.current_hash != s.stable_hash
        who = command.who or "someone"
        if kind in ("promote", "approve"):
            if kind == "approve" and s.pause_started is None and s.inconclusive_at is None and not s.user_paused:
                return self._result(False, "nothing to approve: the rollout is not paused")
            if command.full:
                if not in_canary:
                    return self._result(False, "nothing to promote: the rollout is not updating")
                s.promote_full, s.pause_started, s.user_paused = True, None, False
                self._stop_analysis()
                s.approvals.append(f"{who}: promote --full")
                return self._result(True, "promoted fully")
            if s.user_paused:
                s.user_paused = False
                s.approvals.append(f"{who}: resume")
                return self._result(True, "resumed")
            if not in_canary or s.aborted:
                return self._result(False, "nothing to promote: the rollout is not updating")
            if s.inconclusive_at is not None:
                return self._resume_inconclusive(who)
            if self._rollout is not None and self._rollout.blue_green is not None:
                if s.promoted or s.active_hash == s.current_hash:
                    return self._result(False, "nothing to promote: already promoted")
                s.promoted, s.pause_started = True, None
                s.approvals.append(f"{who}: promote")
                return self._result(True, "promoted")
            steps = self._steps()
            if s.step_index >= len(steps):
                return self._result(False, "nothing to promote: every step is done")
            s.approvals.append(f"{who}: step {s.step_index + 1} ({step_summary(steps[s.step_index])})")
            self._stop_analysis()
            s.step_index += 1
            s.pause_started = None
            s.progress_at = workflow.now()
            return self._result(True, f"promoted to step {s.step_index}")
        if kind == "abort":
            if not in_canary or s.aborted:
                return self._result(False, "nothing to abort: the rollout is not updating")
            s.aborted, s.aborted_at, s.pause_started, s.step_index = True, workflow.now(), None, 0
            s.promoted, s.scale_up_checkpoint = False, False
            self._stop_analysis()
            s.approvals.append(f"{who}: abort")
            return self._result(True, "aborted")
        if kind == "retry":
            if not s.aborted:
                return self._result(False, "nothing to retry: the rollout is not aborted")
            s.aborted, s.aborted_at, s.deadline_exceeded, s.step_index = False, None, False, 0
            s.abort_message, s.attempt = "", s.attempt + 1
            s.progress_at = workflow.now()
            s.approvals.append(f"{who}: retry")
            return self._result(True, "retrying")
        if kind == "pause":
            s.user_paused = True
            s.approvals.append(f"{who}: pause")
            return self._result(True, "paused")
        if kind == "resume":
            if not s.user_paused:
                return self._result(False, "not paused by a pause command")
            s.user_paused = False
            s.approvals.append(f"{who}: resume")
            return self._result(True, "resumed")
        return self._result(False, f"unknown command {kind}")

    def _result(self, accepted: bool, message: str) -> RolloutCommandResult:
        return RolloutCommandResult(accepted=accepted, message=message)

    def _answer_taken(self) -> None:
        """Commands are answered once their effect is written: with the status now."""
        for item in self._taken:
            assert item.result is not None
            item.answer = item.result.model_copy(
                update={
                    "phase": str(self._state.status.get("phase") or ""),
                    "current_step_index": self._state.status.get("currentStepIndex"),
                }
            )
        self._taken = []

    def _answer_pending(self, *, accepted: bool, message: str) -> None:
        for item in self._pending:
            item.result = item.answer = RolloutCommandResult(accepted=accepted, message=message)
        self._pending = []

    # ------------------------------------------------------------------ reconcile

    def _steps(self) -> list[CanaryStep]:
        rollout = self._rollout
        return list(rollout.canary.steps) if rollout is not None and rollout.canary is not None else []

    def _scale_now(self) -> CanaryScale:
        """What the canary is scaled to now (Argo's ``GetCanaryReplicasOrWeight``)."""
        s, rollout = self._state, self._rollout
        assert rollout is not None and rollout.canary is not None
        return canary_scale(
            rollout.canary,
            current_step_index=s.step_index,
            current_hash=s.current_hash,
            stable_hash=s.stable_hash,
            promote_full=s.promote_full,
            aborted=s.aborted,
        )

    def _parse(self, observation: RolloutObservation) -> Rollout | str:
        assert self._input is not None
        try:
            rollout = parse_rollout(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Rollout",
                    "metadata": {
                        "name": self._input.ref.name,
                        "namespace": self._input.ref.namespace,
                        "generation": observation.generation,
                    },
                    "spec": observation.spec,
                }
            )
        except RolloutSpecError as exc:
            return str(exc)
        return rollout

    async def _reconcile(self, observation: RolloutObservation) -> _Wait:
        s = self._state
        parsed = self._parse(observation)
        if isinstance(parsed, str):
            s.invalid = parsed
            return _Wait()
        s.invalid = ""
        self._rollout = rollout = parsed
        referenced = set(_service_fields(rollout).values())
        if rollout.canary is not None and rollout.canary.traffic_routing is not None:
            referenced.add(ROUTER_FIELD)
        s.missing = {field: message for field, message in s.missing.items() if field in referenced}
        current = pod_template_hash(rollout.template)
        if current != s.current_hash:
            self._new_revision(current, observation, len(self._steps()))
        self._settle_gates()
        if rollout.blue_green is not None:
            wait = await self._blue_green(rollout, rollout.blue_green, observation)
        elif await self._background_analysis(rollout, observation):
            wait = _Wait(again=True)
        else:
            wait = await self._scale(rollout, observation)
        if s.missing and not (wait.again or wait.available is not None or wait.analysis):
            # A missing Service or router object is looked for again soon, not at the resync.
            retry = self._retry_at()
            if wait.until is None or retry < wait.until:
                wait.until, wait.summary = retry, "look again for " + ", ".join(sorted(s.missing))
        s.missing_since = (s.missing_since or workflow.now()) if s.missing else None
        return wait

    def _retry_at(self) -> datetime:
        """When to look again for a missing object: ``ROUTER_RETRY_SECONDS`` at first, then
        after as long as it has been missing, at most ``RESYNC_SECONDS`` (never a tight loop)."""
        now, since = workflow.now(), self._state.missing_since
        missing_for = (now - since).total_seconds() if since is not None else 0.0
        return now + timedelta(seconds=min(RESYNC_SECONDS, max(float(ROUTER_RETRY_SECONDS), missing_for)))

    def _new_revision(self, current: str, observation: RolloutObservation, steps: int) -> None:
        s = self._state
        self._stop_analysis()
        s.current_hash, s.attempt, s.analysis_key, s.analysis = current, 0, "", None
        s.promoted, s.scale_up_checkpoint = False, False
        s.aborted, s.aborted_at, s.pause_started, s.promote_full, s.deadline_exceeded = False, None, None, False, False
        s.progress_at = workflow.now()
        existing = observation.replica_set(current)
        newest = max((rs.revision for rs in observation.replica_sets), default=0)
        if not s.stable_hash:
            stable = observation.status.get("stableRS")
            # A workflow started afresh for a Rollout it drove before keeps its stable.
            s.stable_hash = stable if isinstance(stable, str) and observation.replica_set(stable) else current
        if s.stable_hash == current:
            s.step_index = steps  # the first revision, or back to the stable one: no steps (as Argo)
        else:
            s.step_index = 0
        if existing is not None and existing.revision == newest and newest:
            s.revision = existing.revision
        else:
            s.revision = newest + 1

    async def _scale(self, rollout: Rollout, observation: RolloutObservation) -> _Wait:
        s = self._state
        assert rollout.canary is not None
        steps = self._steps()
        label = self._step_label()
        canary = observation.replica_set(s.current_hash)
        stable = observation.replica_set(s.stable_hash)
        others = [rs for rs in observation.replica_sets if rs.pod_template_hash not in (s.current_hash, s.stable_hash)]
        routed = rollout.canary.traffic_routing is not None
        if routed:
            counts = traffic_routed_counts(
                replicas=rollout.replicas,
                scale=self._scale_now(),
                dynamic_stable_scale=rollout.canary.dynamic_stable_scale,
                aborted=s.aborted,
                weights=self._weights(),
            )
        else:
            counts = basic_canary_counts(
                replicas=rollout.replicas,
                weight=self._scale_now().weight,
                canary=_state_of(canary),
                stable=_state_of(stable),
                others=[st for st in (_state_of(rs) for rs in others) if st is not None],
                surge=rollout.canary.max_surge,
                unavailable=rollout.canary.max_unavailable,
            )
        desired: dict[str, int] = {rs.name: 0 for rs in others if rs.replicas > 0}
        if stable is not None and stable is not canary:
            desired[stable.name] = counts.stable
        if canary is None or canary.revision != s.revision:
            canary = await workflow.execute_activity_method(
                RolloutActivities.ensure_replica_set,
                EnsureReplicaSetInput(
                    target=self._target(),
                    rollout_uid=observation.uid,
                    pod_template_hash=s.current_hash,
                    template=rollout.template,
                    selector=rollout.selector,
                    revision=s.revision,
                    replicas=counts.canary if canary is None else canary.replicas,
                    min_ready_seconds=rollout.min_ready_seconds,
                    ephemeral=self._wanted_metadata(rollout, [s.current_hash]).get(s.current_hash),
                ),
                **self._options(f"{label}: create ReplicaSet {replica_set_name(rollout.name, s.current_hash)}"),
            )
            return _Wait(again=True)
        desired[canary.name] = counts.canary
        await self._sync_metadata(rollout, observation)
        hold_until = await self._delay_scale_down(rollout, observation, desired) if routed else None
        changes = {name: n for name, n in desired.items() if n != _spec_replicas(observation, name)}
        await self._point_services(rollout, canary is not None)
        if routed:
            blocked = await self._route_traffic(rollout, observation, counts)
            if blocked is not None:
                return blocked
        if changes:
            await workflow.execute_activity_method(
                RolloutActivities.scale_replica_sets,
                ScaleReplicaSetsInput(target=self._target(), replicas=changes),
                **self._options(f"{label}: scale " + ", ".join(f"{k} to {v}" for k, v in sorted(changes.items()))),
            )
            s.progress_at = workflow.now()
            return _Wait(available=desired, summary=f"{label}: wait for " + _describe_counts(desired))
        if s.stable_hash == s.current_hash:
            # At rest (no canary): Argo's controller does not ask AtDesiredReplicaCountsForCanary
            # then; the one ReplicaSet at its count (``settled``) and no older pods is the goal.
            at_desired = routed or sum(rs.available for rs in others) == 0
        else:
            at_desired = at_desired_counts(
                counts,
                canary=_state_of(canary),
                stable=_state_of(stable),
                others=[st for st in (_state_of(rs) for rs in others) if st is not None],
                traffic_routed=routed,
                dynamic_stable_scale=rollout.canary.dynamic_stable_scale,
            )
        settled = all(
            _observed(observation, name) and _available(observation, name) == n for name, n in desired.items()
        )
        if not (at_desired and settled):
            if (aborting := self._deadline_abort(rollout)) is not None:
                return aborting
            wait_for = dict(desired)
            if not routed:
                # Argo's AtDesiredReplicaCountsForCanary also wants no available pods left in
                # older ReplicaSets already scaled to 0 (their pods may still be terminating).
                wait_for.update({rs.name: 0 for rs in others if rs.available > 0 and rs.name not in wait_for})
            if settled and wait_for == desired:
                # The wait activity would return at once: look again after a pause, never spin.
                return _Wait(
                    until=workflow.now() + timedelta(seconds=SETTLE_POLL_SECONDS),
                    summary=f"{label}: wait for the step's replica counts",
                )
            return _Wait(available=wait_for, summary=f"{label}: wait for " + _describe_counts(wait_for))
        s.deadline_exceeded = False
        wait = await self._take_step(rollout, observation, steps)
        if hold_until is not None and not (wait.again or wait.available or wait.analysis):
            # Wake for the delayed scale-down too.
            wait.until = hold_until if wait.until is None else min(wait.until, hold_until)
            wait.summary = wait.summary or f"{label}: scale-down delay"
        return wait

    def _wanted_metadata(self, rollout: Rollout, hashes: list[str]) -> dict[str, PodMetadata | None]:
        s = self._state
        return wanted_metadata(rollout, current_hash=s.current_hash, stable_hash=s.stable_hash, hashes=hashes)

    async def _sync_metadata(self, rollout: Rollout, observation: RolloutObservation) -> None:
        """Ephemeral metadata (``canaryMetadata``/``stableMetadata``, ``previewMetadata``/
        ``activeMetadata``) on the ReplicaSets whose role changed since the last sync, and on
        the current and stable ones' pods (:func:`bosun.rollouts.metadata.wanted_metadata`,
        Argo Rollouts' ``reconcileEphemeralMetadata``). Pods a ReplicaSet creates later get it
        from its template, so nothing is called while the roles stay."""
        s = self._state
        names = {rs.pod_template_hash: rs.name for rs in observation.replica_sets}
        s.ephemeral = {name: value for name, value in s.ephemeral.items() if name in names.values()}
        wanted = self._wanted_metadata(rollout, list(names))
        todo = {
            names[h]: meta
            for h, meta in wanted.items()
            if h in names and s.ephemeral.get(names[h]) != (encode_metadata(meta) or "")
        }
        if not todo:
            return
        pods = sorted({names[h] for h in (s.current_hash, s.stable_hash) if names.get(h) in todo})
        await workflow.execute_activity_method(
            RolloutActivities.sync_ephemeral_metadata,
            EphemeralMetadataInput(target=self._target(), replica_sets=todo, pods=pods),
            **self._options("ephemeral metadata: " + ", ".join(sorted(todo))),
        )
        s.ephemeral.update({name: encode_metadata(meta) or "" for name, meta in todo.items()})

    def _deadline_abort(self, rollout: Rollout) -> _Wait | None:
        """``progressDeadlineAbort``: a rollout past its ``progressDeadlineSeconds`` is aborted
        (Argo Rollouts' ``syncRolloutStatus``: ProgressDeadlineExceeded, then abort), on both
        the canary and the blue-green path."""
        s = self._state
        if s.deadline_exceeded and rollout.progress_deadline_abort and not s.aborted:
            self._do("abort", RolloutCommand(who="progressDeadlineAbort"))
            s.abort_message = "progressDeadlineAbort: the progress deadline was exceeded"
            return _Wait(again=True)
        return None

    def _weights(self) -> TrafficWeights | None:
        w = self._state.weight
        return None if w is None else TrafficWeights(canary=w, stable=100 - w)

    async def _delay_scale_down(
        self, rollout: Rollout, observation: RolloutObservation, desired: dict[str, int]
    ) -> datetime | None:
        """With a traffic router, a ReplicaSet leaving service keeps its pods for a while:
        an old one (the stable before a promotion) ``scaleDownDelaySeconds``, an aborted canary
        ``abortScaleDownDelaySeconds`` (Argo Rollouts' ``scaleDownDelayHelper`` in
        ``rollout/replicaset.go``), annotated ``argo-rollouts.argoproj.io/scale-down-deadline``
        meanwhile. Changes ``desired`` to hold them; the earliest deadline still ahead."""
        s = self._state
        assert rollout.canary is not None
        now = workflow.now()
        annotate: dict[str, str | None] = {}
        holding: list[datetime] = []
        for rs in observation.replica_sets:
            want = desired.get(rs.name)
            shrinking = want is not None and want < rs.replicas
            delay: int | None = None
            start = now
            if shrinking and rs.pod_template_hash not in (s.current_hash, s.stable_hash):
                delay = rollout.canary.scale_down_delay()
            elif shrinking and s.aborted and rs.pod_template_hash == s.current_hash:
                delay = rollout.canary.abort_scale_down_delay()
                start = s.aborted_at or now
            if not delay:
                if rs.name in s.scale_down_at:
                    del s.scale_down_at[rs.name]
                    annotate[rs.name] = None
                continue
            deadline = s.scale_down_at.get(rs.name)
            if deadline is None:
                deadline = s.scale_down_at[rs.name] = start + timedelta(seconds=delay)
                annotate[rs.name] = _timestamp(deadline)
            if now < deadline:
                desired[rs.name] = rs.replicas
                holding.append(deadline)
            else:
                del s.scale_down_at[rs.name]
                annotate[rs.name] = None
        if annotate:
            await workflow.execute_activity_method(
                RolloutActivities.set_scale_down_deadlines,
                ScaleDownDeadlinesInput(target=self._target(), deadlines=annotate),
                **self._options(
                    "scale-down deadlines: " + ", ".join(f"{k} {v or 'removed'}" for k, v in sorted(annotate.items()))
                ),
            )
        return min(holding, default=None)

    async def _route_traffic(
        self, rollout: Rollout, observation: RolloutObservation, counts: CanaryCounts
    ) -> _Wait | None:
        """Set the canary weight on the router (Argo Rollouts' ``reconcileTrafficRouting``, the
        weight from :func:`bosun.rollouts.traffic.desired_traffic_weight`). A router object that
        is missing or unusable stops the steps (message in the status) and is retried."""
        s = self._state
        assert rollout.canary is not None and rollout.canary.traffic_routing is not None
        canary = observation.replica_set(s.current_hash)
        stable = observation.replica_set(s.stable_hash)
        weight = desired_traffic_weight(
            rollout.canary,
            current_step_index=s.step_index,
            fully_promoted=s.current_hash == s.stable_hash,
            aborted=s.aborted,
            canary_available=canary.available if canary is not None else 0,
            at_desired_replicas=at_desired_counts(
                counts,
                canary=_state_of(canary),
                stable=_state_of(stable),
                traffic_routed=True,
                dynamic_stable_scale=rollout.canary.dynamic_stable_scale,
            ),
            promote_full=s.promote_full,
            replicas=rollout.replicas,
            stable_available=stable.available if stable is not None else 0,
            current_weight=s.weight,
        )
        if weight == s.weight:
            return None
        routing = rollout.canary.traffic_routing
        result = await workflow.execute_activity_method(
            RolloutActivities.set_traffic_weight,
            TrafficWeightInput(
                target=self._target(),
                rollout_uid=observation.uid,
                canary_service=rollout.canary.canary_service,
                stable_service=rollout.canary.stable_service,
                weight=weight,
                nginx=routing.nginx,
                gateway_api=routing.gateway_api,
            ),
            **self._options(f"{self._step_label()}: set canary weight {weight}"),
        )
        if not result.set:
            s.message = s.missing[ROUTER_FIELD] = result.message
            return _Wait(until=self._retry_at(), summary=result.message)
        s.missing.pop(ROUTER_FIELD, None)
        s.weight = weight
        return None

    async def _take_step(self, rollout: Rollout, observation: RolloutObservation, steps: list[CanaryStep]) -> _Wait:
        """At the desired counts: move on past the current step if it is done."""
        s = self._state
        if s.aborted or s.inconclusive_at is not None:
            return _Wait()
        if s.current_hash != s.stable_hash and (s.promote_full or s.step_index >= len(steps)):
            # Every step is done: the canary becomes the stable; the old one is scaled down next.
            s.stable_hash, s.promote_full, s.step_index = s.current_hash, False, len(steps)
            s.progress_at = workflow.now()
            return _Wait(again=True)
        if s.current_hash == s.stable_hash:
            await self._trim_history(rollout, observation)
            return _Wait()
        if s.user_paused or rollout.paused:
            return _Wait()
        step = steps[s.step_index]
        if step.analysis is not None:
            return await self._step_analysis(observation)
        if step.pause is not None:
            now = workflow.now()
            if s.pause_started is None:
                s.pause_started = now
            if step.pause.duration_seconds is None:
                return _Wait()  # until promoted
            end = s.pause_started + timedelta(seconds=step.pause.duration_seconds)
            if now < end:
                return _Wait(until=end, summary=self._step_label())
            s.pause_started = None
        s.step_index += 1
        s.progress_at = workflow.now()
        return _Wait(again=True)

    # ------------------------------------------------------------------ blue-green

    async def _blue_green(self, rollout: Rollout, bg: BlueGreenStrategy, observation: RolloutObservation) -> _Wait:
        """Blue-green, after Argo Rollouts' ``rollout/bluegreen.go``: the new ReplicaSet comes up
        behind ``previewService`` (``previewReplicaCount`` pods, or all) while ``activeService``
        keeps selecting the stable hash; the gates before and after the switch are
        :func:`bosun.rollouts.bluegreen.before_switch` / :func:`~bosun.rollouts.bluegreen.after_switch`.
        After the switch the formerly active ReplicaSets go to 0 ``scaleDownDelaySeconds`` later
        (a durable timer); an abort points ``activeService`` back at the stable hash and scales
        the preview down ``abortScaleDownDelaySeconds`` later (never, if 0)."""
        s, now = self._state, workflow.now()
        if s.aborted or not s.active_hash:
            s.active_hash = s.stable_hash
        label = "blue-green abort" if s.aborted else "blue-green"
        timers: list[datetime] = []
        new_count = preview_replica_count(
            bg,
            replicas=rollout.replicas,
            new_is_active=s.active_hash == s.current_hash,
            scale_up_preview_checkpoint=s.scale_up_checkpoint,
        )
        if s.aborted and s.aborted_at is not None and s.current_hash != s.stable_hash:
            delay = bg.abort_scale_down_delay()
            if delay is not None:
                at = s.aborted_at + timedelta(seconds=delay)
                if now >= at:
                    new_count = 0
                else:
                    timers.append(at)
        new = observation.replica_set(s.current_hash)
        if new is None or new.revision != s.revision:
            await workflow.execute_activity_method(
                RolloutActivities.ensure_replica_set,
                EnsureReplicaSetInput(
                    target=self._target(),
                    rollout_uid=observation.uid,
                    pod_template_hash=s.current_hash,
                    template=rollout.template,
                    selector=rollout.selector,
                    revision=s.revision,
                    replicas=new_count if new is None else new.replicas,
                    min_ready_seconds=rollout.min_ready_seconds,
                    ephemeral=self._wanted_metadata(rollout, [s.current_hash]).get(s.current_hash),
                ),
                **self._options(f"{label}: create ReplicaSet {replica_set_name(rollout.name, s.current_hash)}"),
            )
            return _Wait(again=True)
        await self._sync_metadata(rollout, observation)
        desired = {new.name: new_count}
        for rs in observation.replica_sets:
            if rs.name == new.name:
                continue
            if rs.pod_template_hash == s.stable_hash:
                desired[rs.name] = rollout.replicas
            elif rs.replicas > 0:
                # Formerly active: kept until the scale-down delay has passed.
                if s.active_scale_down_at is not None and now < s.active_scale_down_at:
                    desired[rs.name] = rs.replicas
                    timers.append(s.active_scale_down_at)
                else:
                    desired[rs.name] = 0
        wanted = {bg.active_service: s.active_hash}
        if bg.preview_service:
            wanted[bg.preview_service] = s.current_hash
        await self._set_selectors(wanted)
        changes = {name: n for name, n in desired.items() if n != _spec_replicas(observation, name)}
        if changes:
            await workflow.execute_activity_method(
                RolloutActivities.scale_replica_sets,
                ScaleReplicaSetsInput(target=self._target(), replicas=changes),
                **self._options(f"{label}: scale " + ", ".join(f"{k} to {v}" for k, v in sorted(changes.items()))),
            )
            s.progress_at = now
            return _Wait(available=desired, summary=f"{label}: wait for " + _describe_counts(desired))
        if not all(_observed(observation, name) and _available(observation, name) == n for name, n in desired.items()):
            if (aborting := self._deadline_abort(rollout)) is not None:
                return aborting
            return _Wait(available=desired, summary=f"{label}: wait for " + _describe_counts(desired))
        s.deadline_exceeded = False
        later = (
            _Wait(until=min(timers), summary=f"{label}: scale down at {_timestamp(min(timers))}") if timers else _Wait()
        )
        if s.aborted or s.user_paused or rollout.paused:
            return later
        if s.current_hash == s.stable_hash:
            if not timers:
                await self._trim_history(rollout, observation)
            return later
        if s.active_hash != s.current_hash:
            paused = int((now - s.pause_started).total_seconds()) if s.pause_started is not None else None
            decision = before_switch(
                bg,
                preview_ready=True,
                pre_promotion_analysis=self._gate_phase(Gate.PRE_PROMOTION),
                paused_seconds=paused,
                promoted=s.promoted,
                promote_full=s.promote_full,
                scale_up_preview_checkpoint=s.scale_up_checkpoint,
            )
            gated = await self._promotion_gate(decision.action, Gate.PRE_PROMOTION, observation)
            if gated is not None:
                return gated if gated.again else later
            if decision.action == Action.PAUSE:
                if s.pause_started is None:
                    s.pause_started = now
                if decision.pause_seconds is None:
                    return later  # until promoted
                end = s.pause_started + timedelta(seconds=bg.auto_promotion_seconds)
                return _Wait(until=end, summary=f"{label}: autoPromotionSeconds {bg.auto_promotion_seconds}")
            if decision.action == Action.SCALE_UP_PREVIEW:
                s.scale_up_checkpoint = True
                return _Wait(again=True)
            if decision.action == Action.SWITCH_ACTIVE:
                s.active_hash, s.pause_started, s.progress_at = s.current_hash, None, now
                return _Wait(again=True)
            return later
        post = (
            Action.MARK_STABLE
            if s.promote_full
            else after_switch(bg, post_promotion_analysis=self._gate_phase(Gate.POST_PROMOTION)).action
        )
        gated = await self._promotion_gate(post, Gate.POST_PROMOTION, observation)
        if gated is not None:
            return gated if gated.again else later
        if post == Action.MARK_STABLE:
            s.stable_hash, s.promote_full, s.promoted = s.current_hash, False, False
            s.active_scale_down_at = now + timedelta(seconds=bg.scale_down_delay_seconds)
            return _Wait(again=True)
        return later

    async def _set_selectors(self, wanted: dict[str, str]) -> None:
        """Point each Service's ``rollouts-pod-template-hash`` selector at its hash, on every
        reconcile as Argo's controller does: an app sync that re-applies the Service from Git
        replaces its (atomic) selector. A Service the observation read at the right hash costs no
        call; the activity only patches a selector that differs."""
        s = self._state
        fields = _service_fields(self._rollout) if self._rollout is not None else {}
        live = self._observation.services if self._observation is not None else {}
        for service, value in sorted(wanted.items()):
            field = fields.get(service, f"Service {service}")
            if live.get(service) == value:
                # The observation read it selecting this hash already: nothing to call.
                s.missing.pop(field, None)
                s.services[service] = value
                continue
            found = await workflow.execute_activity_method(
                RolloutActivities.set_service_selector,
                ServiceSelectorInput(target=self._target(), service=service, pod_template_hash=value),
                **self._options(f"point Service {service} at {value}"),
            )
            if not found.found:
                s.message = s.missing[field] = found.message
                continue
            s.missing.pop(field, None)
            s.services[service] = value

    # ------------------------------------------------------------------ analysis gates

    def _analysis_input(
        self, name: str, raw: dict[str, Any], observation: RolloutObservation, labels: dict[str, str]
    ) -> AnalysisRunInput:
        """What an AnalysisRunWorkflow for this rollout starts with (step or gate)."""
        assert self._input is not None
        s = self._state
        return AnalysisRunInput(
            name=name,
            namespace=self._input.ref.namespace,
            analysis=raw,
            rollout={
                "metadata": {
                    "name": self._input.ref.name,
                    "namespace": self._input.ref.namespace,
                    "uid": observation.uid,
                    "labels": observation.labels,
                }
            },
            pod_template_hashes={"Stable": s.stable_hash, "Latest": s.current_hash},
            labels=labels,
            annotations={"rollout.argoproj.io/revision": str(s.revision)},
            destination=self._input.destination,
            task_queue=self._input.task_queue,
        )

    def _settle_gates(self) -> None:
        """Before the strategy reconciles: forget the gate runs of an earlier revision or
        attempt, take in the ones that ended, and stop all of them once aborted or promoted
        fully (Argo's ``reconcileAnalysisRuns`` cancels every run then)."""
        s = self._state
        key = f"{s.current_hash}:{s.revision}:{s.attempt}"
        if s.gates_key != key:
            for gate in list(self._gate_runs):
                self._stop_gate(gate)
            prefix = f"{self._input.ref.name if self._input else ''}-{s.current_hash}-{s.revision}"
            s.gate_runs = {k: n for k, n in s.gate_runs.items() if k.startswith(prefix)}
            s.gates_key, s.gates, s.inconclusive_at, s.inconclusive_gate = key, {}, None, ""
        ended = [(gate, name, handle) for gate, (name, handle) in self._gate_runs.items() if handle.done()]
        ended += [item for item in self._stopping if item[2].done()]
        self._stopping = [item for item in self._stopping if not item[2].done()]
        for gate, name, handle in ended:
            if self._gate_runs.get(gate, ("", None))[1] is handle:
                del self._gate_runs[gate]
            phase, message = _outcome(handle)
            run = s.gates.get(gate)
            if run is not None and run.name == name:
                s.gates[gate] = AnalysisRunStatus(name=name, status=phase, message=message)
        held = {name for name, _ in self._gate_runs.values()} | {name for _, name, _ in self._stopping}
        for gate, run in list(s.gates.items()):
            if run.status == "Running" and run.name not in held:
                del s.gates[gate]  # a run this workflow no longer holds (never carried over): start anew
        if s.aborted or s.promote_full:
            for gate in list(self._gate_runs):
                self._stop_gate(gate)
            s.inconclusive_at, s.inconclusive_gate = None, ""

    def _stop_gate(self, gate: str) -> None:
        """Cancel a gate's run: the AnalysisRun ends terminated (Successful unless a metric
        failed, ``workflows/analysis.py``); its end is recorded when it comes."""
        item = self._gate_runs.pop(gate, None)
        if item is not None and not item[1].done():
            item[1].cancel()
            self._stopping.append((gate, *item))

    def _gate_phase(self, gate: Gate) -> str | None:
        run = self._state.gates.get(gate)
        return None if run is None else run.status

    def _wake(self, _: Any) -> None:
        """A gate's run ended: reconcile (it runs beside whatever the loop waits for)."""
        self._dirty = True

    async def _start_gate(self, gate: Gate, raw: dict[str, Any], observation: RolloutObservation) -> None:
        assert self._input is not None
        s = self._state
        base = run_name(self._input.ref.name, s.current_hash, s.revision, gate)
        runs = s.gate_runs.get(base, 0)
        name = run_name(self._input.ref.name, s.current_hash, s.revision, gate, runs)
        s.gate_runs[base] = runs + 1
        analysis = {k: v for k, v in raw.items() if k != "startingStep"}
        handle = await workflow.start_child_workflow(
            WorkflowType.ANALYSIS_RUN,
            self._analysis_input(name, analysis, observation, run_labels(gate, s.current_hash)),
            id=analysis_run_workflow_id(workflow.info().workflow_id, name),
            result_type=AnalysisRunResult,
            static_summary=f"{gate} analysis ({name})",
        )
        handle.add_done_callback(self._wake)
        self._gate_runs[gate] = (name, handle)
        s.gates[gate] = AnalysisRunStatus(name=name, status="Running")

    def _gate_ended(self, gate: Gate) -> Verdict:
        """Act on a gate's run: Failed/Error aborts, Inconclusive pauses (Argo's ``setPauseOrAbort``)."""
        s = self._state
        run = s.gates.get(gate)
        decided = verdict(run.status if run is not None else None)
        if run is not None and decided == Verdict.ABORT and not s.aborted:
            self._do("abort", RolloutCommand(who=f"AnalysisRun {run.name}"))
            s.abort_message = abort_message(run.name, run.status, run.message)
        elif decided == Verdict.PAUSE and s.inconclusive_at is None:
            s.inconclusive_at, s.inconclusive_gate = workflow.now(), str(gate)
        return decided

    def _resume_inconclusive(self, who: str) -> RolloutCommandResult:
        """Promoting an ``InconclusiveAnalysisRun`` pause runs that gate's analysis again
        (Argo's ``needsNewAnalysisRun``)."""
        s = self._state
        gate = s.inconclusive_gate
        s.inconclusive_at, s.inconclusive_gate = None, ""
        s.gates.pop(gate, None)
        s.approvals.append(f"{who}: promote ({gate} analysis inconclusive)")
        return self._result(True, f"promoted: the {gate} analysis runs again")

    async def _background_analysis(self, rollout: Rollout, observation: RolloutObservation) -> bool:
        """``strategy.canary.analysis``: a run beside the steps from ``startingStep`` on
        (:func:`bosun.rollouts.analysis_gates.background_due`); True when its failure aborted
        the rollout. Once the rollout is fully promoted, or the analysis is gone from the spec,
        the run is terminated and leaves the status (Argo's ``reconcileBackgroundAnalysisRun``)."""
        s = self._state
        assert rollout.canary is not None
        due = background_due(
            rollout.canary,
            step_index=s.step_index,
            current_hash=s.current_hash,
            stable_hash=s.stable_hash,
            aborted=s.aborted,
            promote_full=s.promote_full,
        )
        if not due:
            self._stop_gate(Gate.BACKGROUND)
            if not (s.aborted or s.promote_full):
                s.gates.pop(Gate.BACKGROUND, None)
            return False
        if s.inconclusive_at is not None:
            return False
        if self._gate_phase(Gate.BACKGROUND) is None:
            raw = observation.spec["strategy"]["canary"]["analysis"]
            await self._start_gate(Gate.BACKGROUND, raw, observation)
            return False
        return self._gate_ended(Gate.BACKGROUND) == Verdict.ABORT

    async def _promotion_gate(self, action: Action, gate: Gate, observation: RolloutObservation) -> _Wait | None:
        """Blue-green's pre- or post-promotion analysis, as :mod:`bosun.rollouts.bluegreen`
        decided: start it, wait for it, abort or pause on its end. None: go on with ``action``."""
        if action == Action.START_ANALYSIS:
            field = "prePromotionAnalysis" if gate == Gate.PRE_PROMOTION else "postPromotionAnalysis"
            await self._start_gate(gate, observation.spec["strategy"]["blueGreen"][field], observation)
            return _Wait()
        if action == Action.WAIT_FOR_ANALYSIS:
            return _Wait()
        if self._state.promote_full or self._gate_phase(gate) is None:
            return None
        decided = self._gate_ended(gate)
        if decided == Verdict.ABORT:
            return _Wait(again=True)
        if decided == Verdict.PAUSE:
            return _Wait()
        return None

    def _analysis_key(self) -> str:
        s = self._state
        return f"{s.current_hash}:{s.revision}:{s.step_index}:{s.attempt}"

    def _stop_analysis(self) -> None:
        """Cancel the step's AnalysisRun (promoted past, aborted, a new revision): it ends as
        terminated (workflows/analysis.py)."""
        if self._analysis is not None and not self._analysis[1].done():
            self._analysis[1].cancel()
        self._analysis = None

    async def _step_analysis(self, observation: RolloutObservation) -> _Wait:
        """An ``analysis`` step: a child AnalysisRunWorkflow, awaited; Successful moves on,
        Failed or Error aborts, Inconclusive pauses (Argo Rollouts' ``rollout/analysis.go``)."""
        assert self._input is not None
        s, key = self._state, self._analysis_key()
        if s.analysis_key != key:
            self._stop_analysis()
            name = f"{self._input.ref.name}-{s.current_hash}-{s.revision}-{s.step_index}"
            if s.attempt:
                name += f".{s.attempt}"
            raw = observation.spec["strategy"]["canary"]["steps"][s.step_index]["analysis"]
            handle = await workflow.start_child_workflow(
                WorkflowType.ANALYSIS_RUN,
                self._analysis_input(
                    name,
                    raw,
                    observation,
                    {
                        "rollouts-pod-template-hash": s.current_hash,
                        "rollout-type": "Step",
                        "step-index": str(s.step_index),
                    },
                ),
                id=analysis_run_workflow_id(workflow.info().workflow_id, name),
                result_type=AnalysisRunResult,
                static_summary=f"{self._step_label()} ({name})",
            )
            self._analysis = (key, handle)
            s.analysis_key, s.analysis = key, AnalysisRunStatus(name=name, status="Running")
        if s.analysis is not None and s.analysis.status == "Running":
            if self._analysis is None or self._analysis[0] != key:
                # A continued-as-new run never carries a running analysis; start it afresh.
                s.analysis_key = ""
                return _Wait(again=True)
            handle = self._analysis[1]
            if not handle.done():
                return _Wait(analysis=True)
            phase, message = _outcome(handle)
            self._analysis = None
            s.analysis = AnalysisRunStatus(name=s.analysis.name, status=phase, message=message)
        assert s.analysis is not None
        if s.analysis.status == "Successful":
            s.step_index += 1
            s.progress_at = workflow.now()
            return _Wait(again=True)
        if s.analysis.status == "Inconclusive":
            if s.pause_started is None:
                s.pause_started = workflow.now()
            return _Wait()  # until promoted (Argo: an InconclusiveAnalysisRun pause)
        self._do("abort", RolloutCommand(who=f"AnalysisRun {s.analysis.name}"))
        s.abort_message = abort_message(s.analysis.name, s.analysis.status, s.analysis.message)
        return _Wait(again=True)

    async def _point_services(self, rollout: Rollout, canary_exists: bool) -> None:
        """``canaryService`` selects the current hash, ``stableService`` the stable one (Argo's
        ``reconcileStableAndCanaryService``)."""
        s = self._state
        assert rollout.canary is not None
        wanted = {}
        if rollout.canary.stable_service:
            wanted[rollout.canary.stable_service] = s.stable_hash
        if rollout.canary.canary_service and canary_exists:
            wanted[rollout.canary.canary_service] = s.current_hash
        # On every reconcile (as blue-green): a selector someone edited is put back.
        await self._set_selectors(wanted)

    async def _trim_history(self, rollout: Rollout, observation: RolloutObservation) -> None:
        """Delete the oldest ReplicaSets scaled to 0 beyond ``revisionHistoryLimit``."""
        s = self._state
        old = [
            rs
            for rs in observation.replica_sets
            if rs.pod_template_hash not in (s.current_hash, s.stable_hash) and rs.replicas == 0
        ]
        extra = len(old) - rollout.revision_history_limit
        if extra <= 0:
            return
        names = [rs.name for rs in sorted(old, key=lambda rs: rs.revision)[:extra]]
        await workflow.execute_activity_method(
            RolloutActivities.delete_replica_sets,
            DeleteReplicaSetsInput(target=self._target(), names=names),
            **self._options("delete old ReplicaSets " + ", ".join(names)),
        )

    def _step_label(self) -> str:
        s = self._state
        steps = self._steps()
        if s.aborted:
            return "abort"
        if s.current_hash == s.stable_hash or s.step_index >= len(steps):
            return "promote" if s.current_hash != s.stable_hash else "stable"
        step = steps[s.step_index]
        return f"step {s.step_index + 1}/{len(steps)}: {step_summary(step)}"

    # ------------------------------------------------------------------ status

    async def _write_status(self, observation: RolloutObservation) -> None:
        status = self._status(observation)
        before = self._state.status
        changed: dict[str, Any] = {k: v for k, v in status.items() if before.get(k) != v}
        changed.update({k: None for k in before if k not in status})
        if not changed:
            return
        written = await workflow.execute_activity_method(
            RolloutActivities.write_rollout_status,
            WriteStatusInput(target=self._target(), status=changed),
            **self._options(
                f"status: {status.get('phase')}" + (f" ({status['message']})" if status.get("message") else ""),
                quick=True,
            ),
        )
        if written.found:
            self._state.status = status

    def _status(self, observation: RolloutObservation) -> dict[str, Any]:
        """The Rollout's status in Argo Rollouts' shape (:func:`bosun.rollouts.status.build_status`)."""
        assert self._input is not None
        s = self._state
        previous = tuple(c for c in s.status.get("conditions") or [] if isinstance(c, dict))
        now = _timestamp(workflow.now())
        if s.invalid or self._rollout is None:
            # Nothing parsed: a minimal Rollout carries the name and generation.
            rollout = self._rollout or Rollout(
                name=self._input.ref.name,
                namespace=self._input.ref.namespace,
                generation=observation.generation,
                selector={},
                template={},
            )
            return build_status(
                StatusInput(
                    rollout=rollout.model_copy(update={"generation": observation.generation}),
                    now=now,
                    current_pod_hash=s.current_hash,
                    stable_rs=s.stable_hash,
                    invalid_spec=s.invalid or "the Rollout's spec could not be read",
                    previous_conditions=previous,
                )
            )
        rollout = self._rollout
        if s.user_paused:
            rollout = rollout.model_copy(update={"paused": True})
        canary = observation.replica_set(s.current_hash)
        replica_sets = observation.replica_sets
        reason = PauseReason.BLUE_GREEN_PAUSE if rollout.blue_green is not None else PauseReason.CANARY_PAUSE_STEP
        pause: tuple[PauseCondition, ...] = (
            (PauseCondition(reason=reason, start_time=_timestamp(s.pause_started)),)
            if s.pause_started is not None and not s.aborted
            else ()
        )
        if s.inconclusive_at is not None and not s.aborted:
            pause += (
                PauseCondition(reason=PauseReason.INCONCLUSIVE_ANALYSIS, start_time=_timestamp(s.inconclusive_at)),
            )
        steps = self._steps()
        return build_status(
            StatusInput(
                rollout=rollout,
                now=now,
                current_pod_hash=s.current_hash,
                stable_rs=s.stable_hash,
                current_revision=max(s.revision, 1),
                current_step_index=min(s.step_index, len(steps)) if steps else None,
                pause_conditions=pause,
                controller_pause=bool(pause),
                abort=s.aborted,
                promote_full=s.promote_full,
                progress_deadline_exceeded=s.deadline_exceeded,
                abort_message=s.abort_message,
                replicas=sum(rs.replicas for rs in replica_sets),
                updated_replicas=canary.replicas if canary else 0,
                ready_replicas=sum(rs.ready for rs in replica_sets),
                available_replicas=sum(rs.available for rs in replica_sets),
                step_analysis_run=s.analysis if s.analysis_key == self._analysis_key() or s.aborted else None,
                background_analysis_run=s.gates.get(Gate.BACKGROUND),
                pre_promotion_analysis_run=s.gates.get(Gate.PRE_PROMOTION),
                post_promotion_analysis_run=s.gates.get(Gate.POST_PROMOTION),
                active_selector=s.active_hash if rollout.blue_green is not None else "",
                preview_selector=s.services.get(rollout.blue_green.preview_service, "")
                if rollout.blue_green is not None and rollout.blue_green.preview_service
                else "",
                weights=self._weights() if rollout.canary is not None and rollout.canary.traffic_routing else None,
                invalid_spec=_missing_message(rollout.name, s.missing),
                previous_conditions=previous,
            )
        )

    async def _upsert_attributes(self) -> None:
        assert self._input is not None
        phase = str(self._state.status.get("phase") or "")
        step = int(self._state.status.get("currentStepIndex") or 0)
        if self._attributes == (phase, step):
            return
        ref = self._input.ref
        pairs: list[SearchAttributeUpdate[Any]] = [
            SearchAttributeKey.for_keyword(sa.ROLLOUT_PHASE).value_set(phase),
            SearchAttributeKey.for_int(sa.ROLLOUT_STEP).value_set(step),
            SearchAttributeKey.for_keyword(sa.CLUSTER).value_set(ref.cluster),
            SearchAttributeKey.for_keyword(sa.NAMESPACE).value_set(ref.namespace),
        ]
        if ref.app:
            pairs.append(SearchAttributeKey.for_keyword(sa.APP).value_set(ref.app))
        workflow.upsert_search_attributes(pairs)
        self._attributes = (phase, step)


# ---------------------------------------------------------------------------- helpers


def _outcome(handle: workflow.ChildWorkflowHandle[Any, AnalysisRunResult]) -> tuple[str, str]:
    """The phase and message of a finished AnalysisRun child (step or gate run): its result, or
    Error when the child failed or was cancelled."""
    try:
        result = handle.result()
    except ChildWorkflowError as exc:
        return "Error", str(exc.cause or exc)
    except asyncio.CancelledError:
        return "Error", "cancelled"
    return result.phase, result.message


def _service_fields(rollout: Rollout) -> dict[str, str]:
    """Service name → the spec field naming it (for the InvalidSpec message of a missing one)."""
    fields: dict[str, str] = {}
    if rollout.canary is not None:
        for field, name in (
            ("stableService", rollout.canary.stable_service),
            ("canaryService", rollout.canary.canary_service),
        ):
            if name:
                fields.setdefault(name, f"spec.strategy.canary.{field}")
    if rollout.blue_green is not None:
        for field, name in (
            ("activeService", rollout.blue_green.active_service),
            ("previewService", rollout.blue_green.preview_service),
        ):
            if name:
                fields.setdefault(name, f"spec.strategy.blueGreen.{field}")
    return fields


def _missing_message(name: str, missing: dict[str, str]) -> str:
    """Argo's message for referenced resources that fail validation, e.g. ``The Rollout "web"
    is invalid: spec.strategy.canary.trafficRouting: Ingress shop/web (stableIngress) not found``."""
    if not missing:
        return ""
    return f'The Rollout "{name}" is invalid: ' + "; ".join(f"{k}: {v}" for k, v in sorted(missing.items()))


def _state_of(rs: ReplicaSetObservation | None) -> ReplicaSetState | None:
    return None if rs is None else ReplicaSetState(name=rs.name, replicas=rs.replicas, available=rs.available)


def _spec_replicas(observation: RolloutObservation, name: str) -> int:
    return next((rs.replicas for rs in observation.replica_sets if rs.name == name), 0)


def _available(observation: RolloutObservation, name: str) -> int:
    return next((rs.available for rs in observation.replica_sets if rs.name == name), 0)


def _observed(observation: RolloutObservation, name: str) -> bool:
    return next((rs.observed for rs in observation.replica_sets if rs.name == name), False)


def _describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n} available" for name, n in sorted(counts.items()))


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["RolloutState", "RolloutWorkflow", "RolloutWorkflowInput"]
