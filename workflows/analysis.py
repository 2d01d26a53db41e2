"""AnalysisRunWorkflow: one Argo Rollouts AnalysisRun, as its own workflow.

Id :func:`bosun.protocol.analysis_run_workflow_id` (``<rollout workflow id>:analysis:<run name>``),
name :attr:`bosun.protocol.WorkflowType.ANALYSIS_RUN`. It loads the AnalysisTemplates the
rollout's ``analysis`` block names, merges them and their args (after Argo Rollouts'
``utils/analysis/helpers.go``), measures each metric on durable timers (``initialDelay``,
``interval``), writes the ``AnalysisRun`` resource after every measurement and ends on Argo
Rollouts' rules (``analysis/analysis.go``, kept pure in :mod:`bosun.analysis.run`).

How a RolloutWorkflow uses it (as a child workflow, on the rollout's own task queue):

- **inline step analysis** (``steps[].analysis``): ``await workflow.execute_child_workflow(
  WorkflowType.ANALYSIS_RUN, AnalysisRunInput(...), id=analysis_run_workflow_id(...),
  result_type=AnalysisRunResult)`` and act on ``result.phase`` (Successful: next step;
  Failed/Error: abort; Inconclusive: pause, as Argo Rollouts).
- **background analysis** (``strategy.canary.analysis``): ``handle = await
  workflow.start_child_workflow(...)``; when the rollout completes (or is aborted),
  ``await handle.signal(AnalysisRunSignal.TERMINATE)`` and ``await handle``: a terminated run
  ends Successful unless a metric already failed (Argo Rollouts' ``terminate``). While it
  runs, check ``handle`` for completion: a background run that ends Failed aborts the rollout.
- cancelling the workflow (or closing its parent with ``ParentClosePolicy.REQUEST_CANCEL``)
  also ends the run as terminated: the AnalysisRun is written so before the workflow ends cancelled;
- the query :attr:`AnalysisRunQuery.STATUS` answers the AnalysisRun's current ``status``
  (Argo Rollouts' shape) at any time.

Secret args (``valueFrom.secretKeyRef``) enter this workflow only as references; the
measuring activity reads the Secret and substitutes the value itself, so no secret value
is in the history.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.analysis import (
        AnalysisActivities,
        LoadTemplatesInput,
        MeasureInput,
        WriteAnalysisRunInput,
        job_name,
    )
    from activities.contracts import Destination
    from bosun.analysis.expr import ConditionError
    from bosun.analysis.run import (
        Measurement,
        Phase,
        RunState,
        assess,
        is_terminating,
        progress,
        record,
        seconds_until_due,
    )
    from bosun.analysis.spec import (
        AnalysisSpecError,
        Metric,
        RunSpec,
        build_run_spec,
        parse_template,
        parse_template_refs,
    )
    from bosun.protocol import AnalysisRunQuery, AnalysisRunSignal, WorkflowType

__all__ = [
    "AnalysisRunInput",
    "CarriedRun",
    "AnalysisRunQuery",
    "AnalysisRunResult",
    "AnalysisRunSignal",
    "AnalysisRunWorkflow",
    "WorkflowType",
]

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=5
)
"""Retries of the cluster activities (reading templates, writing the run, a measurement's
infrastructure); a provider's own failure is an Error measurement, not a retry."""
MEASURE_TIMEOUT = timedelta(minutes=5)
"""A web or prometheus measurement (their own HTTP timeouts are shorter)."""
JOB_TIMEOUT = timedelta(hours=6)
"""A job measurement: the Job runs as long as it runs; heartbeats show the activity is alive."""
JOB_HEARTBEAT = timedelta(seconds=10)
"""The job activity heartbeats every poll; the SDK sends one at most every 0.8 × this, and a
cancellation (the run terminated) reaches the activity with the next one."""


class AnalysisRunInput(BaseModel):
    """What starts an AnalysisRunWorkflow."""

    name: str
    """The AnalysisRun's name (Argo Rollouts: ``<rollout>-<pod hash>-<revision>[-<step>]``)."""
    namespace: str
    """The Rollout's namespace: the AnalysisRun, its Jobs and the namespaced templates live there."""
    analysis: dict[str, Any]
    """The Rollout's analysis block as written in its YAML (a step's ``analysis``,
    ``strategy.canary.analysis``, ``blueGreen.prePromotionAnalysis``…): ``templates``
    (``templateName``, ``clusterScope``), ``args`` (``value``, ``valueFrom.fieldRef``,
    ``valueFrom.podTemplateHashValue``), ``dryRun``, ``measurementRetention``,
    ``analysisRunMetadata``."""
    rollout: dict[str, Any] = Field(default_factory=dict)
    """The Rollout (at least its ``metadata``: name, uid, labels, annotations): args'
    ``valueFrom.fieldRef`` read it, and the AnalysisRun gets an ownerReference to it when it has a uid."""
    pod_template_hashes: dict[str, str] = Field(default_factory=dict)
    """``{"Stable": <hash>, "Latest": <hash>}`` for args' ``valueFrom.podTemplateHashValue``."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of the AnalysisRun (Argo Rollouts: ``rollouts-pod-template-hash``, ``rollout-type``
    Step/Background/PrePromotion/PostPromotion, ``step-index``)."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of the AnalysisRun (Argo Rollouts: ``rollout.argoproj.io/revision``)."""
    destination: Destination
    """The cluster the Rollout is on (its activities' cluster)."""
    task_queue: str = ""
    """The destination cluster's task queue for the analysis activities (empty: the workflow's own)."""
    history_limit: int = 10_000
    """History events after which a long (background) run continues as new, carrying its state."""
    carried: CarriedRun | None = None
    """Set by the run itself when it continues as new: starters leave it empty."""


class CarriedRun(BaseModel):
    """What a run hands to its continuation: the merged spec (templates are not re-read, as
    Argo Rollouts keeps the spec in the AnalysisRun), the state so far, the AnalysisRun's uid."""

    spec: RunSpec
    state: RunState
    uid: str = ""


class AnalysisRunResult(BaseModel):
    """How an AnalysisRunWorkflow ended."""

    name: str
    phase: str
    """Argo Rollouts' AnalysisPhase: Successful, Failed, Error or Inconclusive."""
    message: str = ""
    status: dict[str, Any] = Field(default_factory=dict)
    """The AnalysisRun's final ``status`` (phase, message, startedAt, metricResults, dryRunSummary)."""


def _cause(exc: BaseException) -> str:
    """The innermost message of an activity's failure (the ApplicationError the activity raised)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc.message if isinstance(exc, ApplicationError) else exc)


@workflow.defn(name=WorkflowType.ANALYSIS_RUN)
class AnalysisRunWorkflow:
    def __init__(self) -> None:
        self._state = RunState()
        self._spec: RunSpec | None = None
        self._input: AnalysisRunInput | None = None
        self._uid = ""
        self._created = False
        self._continuing = False
        self._lock = asyncio.Lock()

    @workflow.signal(name=AnalysisRunSignal.TERMINATE)
    def terminate(self) -> None:
        """End the run: no further measurements; Successful unless a metric already failed."""
        self._state.terminate = True

    @workflow.query(name=AnalysisRunQuery.STATUS)
    def status(self) -> dict[str, Any]:
        return self._state.status()

    @workflow.run
    async def run(self, input: AnalysisRunInput) -> AnalysisRunResult:
        self._input = input
        if input.carried is not None:
            spec = self._spec = input.carried.spec
            self._state = input.carried.state
            self._uid = input.carried.uid
            self._created = True
        else:
            self._state.started_at = workflow.now()
            self._state.phase = Phase.RUNNING
            try:
                spec = await self._load_spec(input)
            except _SpecInvalid as invalid:
                return await self._end(Phase.ERROR, str(invalid))
            self._spec = spec
            if not await self._write():
                return await self._end(Phase.ERROR, self._state.message)
        try:
            await asyncio.gather(*(self._measure_metric(metric) for metric in spec.metrics))
        except asyncio.CancelledError:
            # cancelled (the parent rollout went away): record the run as terminated, then end cancelled
            self._state.terminate = True
            assess(spec, self._state, now=workflow.now())
            await self._write()
            raise
        assess(spec, self._state, now=workflow.now())
        if self._continuing and not self._state.phase.completed:
            carried = CarriedRun(spec=spec, state=self._state, uid=self._uid)
            workflow.continue_as_new(input.model_copy(update={"carried": carried}))
        if not self._state.phase.completed:
            return await self._end(Phase.ERROR, "analysis ended without a result for every metric")
        await self._write()
        return self._result()

    # -- spec

    async def _load_spec(self, input: AnalysisRunInput) -> RunSpec:
        try:
            refs = parse_template_refs(input.analysis)
        except AnalysisSpecError as exc:
            raise _SpecInvalid(f"analysis spec invalid: {exc}") from None
        try:
            loaded = await workflow.execute_activity_method(
                AnalysisActivities.load_analysis_templates,
                LoadTemplatesInput(destination=input.destination, namespace=input.namespace, templates=refs),
                task_queue=input.task_queue or None,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=ACTIVITY_RETRY,
                summary="load " + ", ".join(ref.describe() for ref in refs),
            )
        except ActivityError as exc:
            raise _SpecInvalid(_cause(exc)) from None
        try:
            templates = [parse_template(obj) for obj in loaded.templates]
            return build_run_spec(
                templates, input.analysis, rollout=input.rollout, pod_template_hashes=input.pod_template_hashes
            )
        except (AnalysisSpecError, ConditionError) as exc:
            raise _SpecInvalid(f"analysis spec invalid: {exc}") from None

    # -- measurements

    async def _measure_metric(self, metric: Metric) -> None:
        """One metric's loop: wait until its next measurement is due (a durable timer that a
        terminating run cuts short), measure, record, assess, write; until it is done."""
        spec = self._spec
        assert spec is not None
        while True:
            delay = seconds_until_due(metric, self._state, now=workflow.now())
            if delay is None:
                return
            if self._history_full():
                self._continuing = True  # every metric stops here; the run continues as new
                return
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: is_terminating(self._state),
                        timeout=timedelta(seconds=delay),
                        timeout_summary=f"analysis {progress(metric, self._state)}, next in {delay:.0f}s",
                    )
                continue
            measurement = await self._measure(metric)
            result = self._state.result_for(metric.name, dry_run=spec.is_dry_run(metric.name))
            record(result, measurement, keep=spec.retention(metric.name))
            assess(spec, self._state, now=workflow.now())
            await self._write()

    def _history_full(self) -> bool:
        assert self._input is not None
        info = workflow.info()
        return (
            self._continuing
            or info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.history_limit
        )

    async def _measure(self, metric: Metric) -> Measurement:
        input = self._input
        spec = self._spec
        assert input is not None and spec is not None
        result = self._state.result(metric.name)
        taken = (result.count + result.error) if result is not None else 0
        is_job = metric.provider_type == "job"
        handle = workflow.start_activity_method(
            AnalysisActivities.measure,
            MeasureInput(
                destination=input.destination,
                namespace=input.namespace,
                run_name=input.name,
                run_uid=self._uid,
                metric=metric,
                secret_args=spec.secret_args(),
                job_index=taken + 1,
            ),
            task_queue=input.task_queue or None,
            start_to_close_timeout=JOB_TIMEOUT if is_job else MEASURE_TIMEOUT,
            heartbeat_timeout=JOB_HEARTBEAT if is_job else None,
            retry_policy=ACTIVITY_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"analysis {progress(metric, self._state)}, measuring ({metric.provider_type})",
        )
        started = workflow.now()
        if is_job:
            self._state.in_flight[metric.name] = Measurement(
                phase=Phase.RUNNING,
                started_at=started,
                metadata={"job-name": job_name(self._uid or input.name, metric.name, taken + 1)},
            )
            await self._write()
            try:
                await workflow.wait_condition(lambda: handle.done() or is_terminating(self._state))
            finally:
                self._state.in_flight.pop(metric.name, None)
            if not handle.done():
                handle.cancel()
                with contextlib.suppress(ActivityError, asyncio.CancelledError):
                    await handle
                # Argo Rollouts' job Terminate: the Job is deleted, the measurement Successful
                return Measurement(
                    phase=Phase.SUCCESSFUL,
                    message="metric terminated",
                    started_at=started,
                    finished_at=workflow.now(),
                )
        try:
            measurement: Measurement = await handle
        except ActivityError as exc:
            measurement = Measurement(phase=Phase.ERROR, message=_cause(exc))
        # the workflow's clock, not the activity's: the next interval is timed from it
        measurement.started_at = started
        measurement.finished_at = workflow.now()
        return measurement

    # -- the AnalysisRun resource

    def _owner(self) -> dict[str, Any] | None:
        assert self._input is not None
        meta = self._input.rollout.get("metadata") or {}
        if not meta.get("uid") or not meta.get("name"):
            return None
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    async def _write(self) -> bool:
        """Write the AnalysisRun with the current status; False if it could not be written."""
        input = self._input
        assert input is not None
        metadata = input.analysis.get("analysisRunMetadata") or {}
        async with self._lock:
            try:
                written = await workflow.execute_activity_method(
                    AnalysisActivities.write_analysis_run,
                    WriteAnalysisRunInput(
                        destination=input.destination,
                        namespace=input.namespace,
                        name=input.name,
                        spec=self._spec.spec() if self._spec is not None else {"metrics": []},
                        status=self._state.status(),
                        labels={**(metadata.get("labels") or {}), **input.labels},
                        annotations={**(metadata.get("annotations") or {}), **input.annotations},
                        owner=self._owner(),
                    ),
                    task_queue=input.task_queue or None,
                    start_to_close_timeout=timedelta(minutes=1),
                    retry_policy=ACTIVITY_RETRY,
                    summary=f"AnalysisRun {input.name}: {self._state.phase.value}",
                )
            except ActivityError as exc:
                message = f"writing AnalysisRun {input.namespace}/{input.name}: {_cause(exc)}"
                workflow.logger.warning(message)
                if not self._created:
                    self._state.message = message
                return False
        self._created = True
        self._uid = written.uid
        return True

    async def _end(self, phase: Phase, message: str) -> AnalysisRunResult:
        self._state.phase = phase
        self._state.message = message
        await self._write()
        return self._result()

    def _result(self) -> AnalysisRunResult:
        assert self._input is not None
        return AnalysisRunResult(
            name=self._input.name,
            phase=self._state.phase.value,
            message=self._state.message,
            status=self._state.status(),
        )


class _SpecInvalid(Exception):
    """The templates could not be loaded or merged: the run ends Error with this message."""
