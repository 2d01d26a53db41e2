"""Promotion pipelines: the ``Pipeline`` YAML, and what each step of a run means.

A pipeline takes one commit through stages (``dev → staging → prod``), each a set of apps
(by name and/or label selector), with gates after each stage::

    apiVersion: bosun.dev/v1alpha1
    kind: Pipeline
    metadata: {name: guestbook}
    spec:
      stages:
      - name: dev
        apps: [guestbook-dev]
        selector: {matchLabels: {env: dev}}
        gates:                      # once dev is Synced and Healthy at the commit
        - soak: 5m                  # stays Healthy this long (a durable timer)
      - name: staging
        apps: [guestbook-staging]
        gates:
        - analysis: {templateName: smoke, args: [{name: host, value: staging.example.com}]}
        - approval: {}              # bosun pipeline approve guestbook --by alice
      - name: prod
        apps: [guestbook-prod]
        gates:                      # a window holds the promotion of its own stage
        - window: {schedule: "0 9 * * 1-5", duration: 8h, timeZone: Europe/Paris}

Design: there is no CRD and no controller. ``bosun pipeline run -f`` submits the YAML as the
input of a ``PipelineWorkflow`` (``pipeline:<name>``); the run's state *is* that workflow
(its ``get`` query, its history, Temporal visibility for past runs), so there is nothing
to keep in step with a resource. Promotion pins each app's ``targetRevision`` to the commit
(no commit to a config repository): the apps already name the repository, a pin is what
``bosun app set --revision`` does, and it is undone the same way.

This module is pure: it parses and checks the YAML (:func:`parse_pipeline`, errors name the
field as ``spec.stages[1].gates[0].soak``), chooses a stage's apps (:meth:`Stage.selects`),
and decides what an app's state means at each step (:func:`app_progress`,
:func:`soak_problem`, :func:`soak_end_problem`, :func:`analysis_passed`, :func:`window_wait`). The workflow
(:mod:`workflows.pipeline`) orders the steps and waits on durable timers; the activities
(:mod:`activities.pipeline`) talk to the app workflows and the management cluster.

Where Argo CD has no equivalent (it has no pipelines), the vocabulary follows its neighbours:
stage apps are Synced and Healthy as ``argocd app wait --sync --health`` means it, windows are
sync windows (:mod:`bosun.windows`), analysis is an Argo Rollouts AnalysisRun.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, Field

from bosun.label_selector import Requirement, Selector, parse_selector
from bosun.models.formats import parse_go_duration
from bosun.models.project import SyncWindow
from bosun.resources import HealthCode, SyncCode
from bosun.windows import WindowError, window_state

API_VERSION: Final = "bosun.dev/v1alpha1"
KIND: Final = "Pipeline"
DEFAULT_STAGE_TIMEOUT: Final = timedelta(minutes=30)
"""How long a stage's apps may take to be Synced and Healthy at the commit (``timeout``)."""
GATE_KINDS: Final = ("soak", "analysis", "approval", "window")

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SELECTOR_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


class PipelineError(ValueError):
    """The pipeline YAML cannot be used; the message names the field."""


# ------------------------------------------------------------------------- the model


class Gate(BaseModel):
    """One gate after a stage; which fields are set depends on ``kind``."""

    kind: str
    """soak, analysis, approval or window."""
    soak_seconds: float = 0.0
    analysis: dict[str, Any] = Field(default_factory=dict)
    """An Argo Rollouts analysis block: ``templates`` (``templateName``, ``clusterScope``), ``args``."""
    analysis_namespace: str = ""
    """Where the templates and the AnalysisRun live; "" means the stage's first app's destination namespace."""
    window: SyncWindow | None = None
    """An allow window (``applications: ["*"]``): promotion waits until it is open."""

    def before_promotion(self) -> bool:
        """A window gates the promotion of its own stage (it is waited for before the stage's
        apps are pinned and synced, as a sync window holds a sync); the other gates run once
        the stage's apps are Synced and Healthy, and so gate the next stage."""
        return self.kind == "window"

    def describe(self) -> str:
        if self.kind == "soak":
            return f"soak {format_seconds(self.soak_seconds)}"
        if self.kind == "analysis":
            names = ", ".join(str(t.get("templateName", "")) for t in self.analysis.get("templates", []))
            return f"analysis {names}"
        if self.kind == "window" and self.window is not None:
            zone = self.window.time_zone or "UTC"
            return f"window {self.window.schedule} for {self.window.duration} ({zone})"
        return self.kind


class Stage(BaseModel):
    name: str
    apps: list[str] = Field(default_factory=list)
    selector: str = ""
    """A Kubernetes label selector in text form (from ``matchLabels``/``matchExpressions``)."""
    timeout_seconds: float = DEFAULT_STAGE_TIMEOUT.total_seconds()
    gates: list[Gate] = Field(default_factory=list)

    def selects(self, app: str, labels: Mapping[str, str]) -> bool:
        """Whether ``app`` belongs to this stage: named, or matched by the selector."""
        if app in self.apps:
            return True
        return bool(self.selector) and _parse_selector_text(self.selector).matches(labels)


class PipelineSpec(BaseModel):
    name: str
    stages: list[Stage]


# ------------------------------------------------------------------------- parsing


def parse_pipeline(document: Any, *, source: str = "pipeline") -> PipelineSpec:
    """The pipeline a YAML document describes; :class:`PipelineError` naming the field otherwise."""
    if not isinstance(document, Mapping):
        raise PipelineError(f"{source}: a Pipeline must be a YAML object")
    if document.get("apiVersion") != API_VERSION:
        raise PipelineError(f"{source}: apiVersion must be {API_VERSION!r}, not {document.get('apiVersion')!r}")
    if document.get("kind") != KIND:
        raise PipelineError(f"{source}: kind must be {KIND!r}, not {document.get('kind')!r}")
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 63:
        raise PipelineError(f"{source}: metadata.name must be a DNS label (lower case, digits, '-'), not {name!r}")
    spec = document.get("spec")
    if not isinstance(spec, Mapping):
        raise PipelineError(f"{source}: spec must be an object")
    _no_unknown(spec, ("stages",), f"{source}: spec")
    stages = spec.get("stages")
    if not isinstance(stages, list) or not stages:
        raise PipelineError(f"{source}: spec.stages must be a non-empty list")
    parsed = [_stage(raw, f"{source}: spec.stages[{i}]") for i, raw in enumerate(stages)]
    seen: set[str] = set()
    for i, stage in enumerate(parsed):
        if stage.name in seen:
            raise PipelineError(f"{source}: spec.stages[{i}].name {stage.name!r} is used by an earlier stage")
        seen.add(stage.name)
    return PipelineSpec(name=name, stages=parsed)


def _stage(raw: Any, where: str) -> Stage:
    if not isinstance(raw, Mapping):
        raise PipelineError(f"{where} must be an object")
    _no_unknown(raw, ("name", "apps", "selector", "gates", "timeout"), where)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PipelineError(f"{where}.name must be a DNS label (lower case, digits, '-'), not {name!r}")
    apps = raw.get("apps", [])
    if not isinstance(apps, list) or not all(isinstance(a, str) and a for a in apps):
        raise PipelineError(f"{where}.apps must be a list of application names")
    if len(set(apps)) != len(apps):
        raise PipelineError(f"{where}.apps names an application twice")
    selector = _selector(raw.get("selector"), f"{where}.selector") if raw.get("selector") is not None else ""
    if not apps and not selector:
        raise PipelineError(f"{where} needs apps, a selector, or both")
    timeout = DEFAULT_STAGE_TIMEOUT.total_seconds()
    if raw.get("timeout") is not None:
        timeout = _duration(raw["timeout"], f"{where}.timeout")
    gates_raw = raw.get("gates", [])
    if not isinstance(gates_raw, list):
        raise PipelineError(f"{where}.gates must be a list")
    gates = [_gate(g, f"{where}.gates[{i}]") for i, g in enumerate(gates_raw)]
    return Stage(name=name, apps=list(apps), selector=selector, timeout_seconds=timeout, gates=gates)


def _gate(raw: Any, where: str) -> Gate:
    if not isinstance(raw, Mapping) or len(raw) != 1 or next(iter(raw)) not in GATE_KINDS:
        raise PipelineError(f"{where} must be an object with exactly one of: {', '.join(GATE_KINDS)}")
    kind, value = next(iter(raw.items()))
    where = f"{where}.{kind}"
    if kind == "soak":
        if isinstance(value, Mapping):
            _no_unknown(value, ("duration",), where)
            value = value.get("duration")
        return Gate(kind=kind, soak_seconds=_duration(value, where))
    if kind == "approval":
        if value is not None and (not isinstance(value, Mapping) or value):
            raise PipelineError(f"{where} takes no fields (write `approval: {{}}`)")
        return Gate(kind=kind)
    if kind == "analysis":
        return _analysis_gate(value, where)
    return Gate(kind=kind, window=_window(value, where))


def _analysis_gate(value: Any, where: str) -> Gate:
    """Argo Rollouts' analysis block, with ``templateName`` as a short form of one template."""
    if not isinstance(value, Mapping):
        raise PipelineError(f"{where} must be an object (templateName or templates, args)")
    _no_unknown(value, ("templateName", "clusterScope", "templates", "args", "namespace", "dryRun"), where)
    templates = value.get("templates")
    if value.get("templateName") is not None:
        if templates is not None:
            raise PipelineError(f"{where}: set templateName or templates, not both")
        if not isinstance(value["templateName"], str) or not value["templateName"]:
            raise PipelineError(f"{where}.templateName must be a template's name")
        template: dict[str, Any] = {"templateName": value["templateName"]}
        if value.get("clusterScope") is not None:
            template["clusterScope"] = bool(value["clusterScope"])
        templates = [template]
    if not isinstance(templates, list) or not templates:
        raise PipelineError(f"{where} needs templateName or a non-empty templates list")
    for i, t in enumerate(templates):
        if not isinstance(t, Mapping) or not isinstance(t.get("templateName"), str) or not t["templateName"]:
            raise PipelineError(f"{where}.templates[{i}].templateName must be a template's name")
    args = value.get("args", [])
    if not isinstance(args, list):
        raise PipelineError(f"{where}.args must be a list of {{name, value}}")
    for i, arg in enumerate(args):
        if not isinstance(arg, Mapping) or not isinstance(arg.get("name"), str):
            raise PipelineError(f"{where}.args[{i}] must be an object with a name")
        if "valueFrom" in arg:
            raise PipelineError(f"{where}.args[{i}].valueFrom is not supported in a pipeline (no Rollout): use value")
    namespace = value.get("namespace", "")
    if not isinstance(namespace, str):
        raise PipelineError(f"{where}.namespace must be a namespace name")
    analysis: dict[str, Any] = {"templates": [dict(t) for t in templates], "args": [dict(a) for a in args]}
    if value.get("dryRun") is not None:
        analysis["dryRun"] = value["dryRun"]
    return Gate(kind="analysis", analysis=analysis, analysis_namespace=namespace)


def _window(value: Any, where: str) -> SyncWindow:
    if not isinstance(value, Mapping):
        raise PipelineError(f"{where} must be an object (schedule, duration, timeZone)")
    _no_unknown(value, ("schedule", "duration", "timeZone"), where)
    for key in ("schedule", "duration"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise PipelineError(f"{where}.{key} is required")
    try:
        window = SyncWindow.model_validate(
            {
                "kind": "allow",
                "schedule": value["schedule"],
                "duration": value["duration"],
                "timeZone": value.get("timeZone", ""),
                "applications": ["*"],
            }
        )
        window_state([window], app="pipeline", namespace="", cluster_server="", cluster_name="", now=_EPOCH)
    except (ValueError, WindowError) as exc:
        raise PipelineError(f"{where}: {_first_line(exc)}") from None
    return window


def _selector(value: Any, where: str) -> str:
    """A LabelSelector object (``matchLabels``, ``matchExpressions``) as selector text."""
    if not isinstance(value, Mapping):
        raise PipelineError(f"{where} must be an object (matchLabels, matchExpressions)")
    _no_unknown(value, ("matchLabels", "matchExpressions"), where)
    requirements: list[Requirement] = []
    labels = value.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        raise PipelineError(f"{where}.matchLabels must be an object of label: value")
    for key, label in labels.items():
        requirements.append(Requirement(str(key), "=", (str(label),)))
    expressions = value.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise PipelineError(f"{where}.matchExpressions must be a list")
    for i, expression in enumerate(expressions):
        here = f"{where}.matchExpressions[{i}]"
        if not isinstance(expression, Mapping) or not isinstance(expression.get("key"), str):
            raise PipelineError(f"{here} must be an object with key, operator, values")
        operator = _SELECTOR_OPERATORS.get(str(expression.get("operator")))
        if operator is None:
            raise PipelineError(f"{here}.operator must be one of {', '.join(_SELECTOR_OPERATORS)}")
        values = expression.get("values") or []
        if not isinstance(values, list):
            raise PipelineError(f"{here}.values must be a list")
        if operator in ("in", "notin") and not values:
            raise PipelineError(f"{here}.values must not be empty for {expression['operator']}")
        if operator in ("exists", "!") and values:
            raise PipelineError(f"{here}.values must be empty for {expression['operator']}")
        requirements.append(Requirement(expression["key"], operator, tuple(str(v) for v in values)))
    if not requirements:
        raise PipelineError(f"{where} selects nothing: give matchLabels or matchExpressions")
    text = str(Selector(tuple(requirements)))
    try:
        _parse_selector_text(text)
    except ValueError as exc:
        raise PipelineError(f"{where}: {exc}") from None
    return text


def _parse_selector_text(text: str) -> Selector:
    return parse_selector(text)


def _duration(value: Any, where: str) -> float:
    if not isinstance(value, str):
        raise PipelineError(f"{where} must be a duration such as 30s, 5m or 1h30m, not {value!r}")
    try:
        seconds = parse_go_duration(value).total_seconds()
    except ValueError as exc:
        raise PipelineError(f"{where}: {exc}") from None
    if seconds <= 0:
        raise PipelineError(f"{where} must be longer than 0")
    return seconds


def _no_unknown(value: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise PipelineError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(known)})")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_EPOCH = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


def format_seconds(seconds: float) -> str:
    """``20s``, ``5m``, ``1h30m``: a duration as it is written in the YAML."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


# ------------------------------------------------------------------------- a run's status


class Phase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    WAITING = "Waiting"
    """A gate waits for a person (approval) or a window."""
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    """A stage or gate after the one that failed: never touched."""


class AppState(BaseModel):
    """What a stage needs to know of one app (from its workflow's ``status`` query)."""

    name: str
    found: bool = True
    sync: str = SyncCode.UNKNOWN
    health: str = HealthCode.UNKNOWN
    revision: str = ""
    """The commit the app's last comparison was made against."""
    target_revision: str = ""
    operation: str = "idle"
    message: str = ""
    """Why the app is not where it should be (a failed comparison's condition)."""


class AppProgress(StrEnum):
    WAITING = "waiting"
    READY = "ready"
    FAILED = "failed"


def app_progress(state: AppState, commit: str) -> tuple[AppProgress, str]:
    """Where one promoted app is: ready (Synced and Healthy at ``commit``, no operation
    running), failed (gone, or Degraded at ``commit``), else waiting; with a reason."""
    if not state.found:
        return AppProgress.FAILED, f"application {state.name!r} not found"
    at = f"{state.sync}/{state.health} at {short(state.revision) or 'no revision'}"
    if state.revision != commit:
        return AppProgress.WAITING, f"{state.name}: {at}, waiting for {short(commit)}"
    if state.health == HealthCode.DEGRADED and state.operation == "idle" and state.sync == SyncCode.SYNCED:
        return AppProgress.FAILED, f"{state.name} is Degraded at {short(commit)}" + (
            f": {state.message}" if state.message else ""
        )
    if state.sync == SyncCode.SYNCED and state.health == HealthCode.HEALTHY and state.operation == "idle":
        return AppProgress.READY, f"{state.name}: Synced/Healthy at {short(commit)}"
    return AppProgress.WAITING, f"{state.name}: {at}"


def soak_problem(states: Sequence[AppState], commit: str) -> str:
    """Why a soak fails now ("" if it holds): an app gone, Degraded or Missing, or moved off ``commit``."""
    for state in states:
        if not state.found:
            return f"application {state.name!r} not found"
        if state.revision and state.revision != commit:
            return f"{state.name} moved to {short(state.revision)} during the soak"
        if state.health in (HealthCode.DEGRADED, HealthCode.MISSING):
            return f"{state.name} became {state.health} during the soak" + (
                f": {state.message}" if state.message else ""
            )
    return ""


def soak_end_problem(states: Sequence[AppState]) -> str:
    """Why a soak's last look fails it ("" if every app is Healthy). During a soak a
    Progressing app is tolerated (a scale-up, a restart); at its end the apps must be Healthy:
    pods that crash after their rollout was marked complete never time out into Degraded, and
    Argo CD shows such a Deployment Progressing ("0 of 1 updated replicas are available") for good."""
    for state in states:
        if state.health != HealthCode.HEALTHY:
            return f"{state.name} is {state.health} at the end of the soak" + (
                f": {state.message}" if state.message else ""
            )
    return ""


def soak_poll_seconds(soak_seconds: float) -> float:
    """How often a soak looks at its apps: every 5 s for short soaks, at most ~120 looks in
    all for long ones (each look is an activity in history)."""
    return max(5.0, min(60.0, soak_seconds / 120))


ANALYSIS_PASSED: Final = "Successful"


def analysis_passed(phase: str) -> bool:
    """An AnalysisRun passes the gate only when Successful; Failed, Error and Inconclusive stop
    the pipeline (a rollout would pause on Inconclusive; a pipeline has no one to ask)."""
    return phase == ANALYSIS_PASSED


def window_wait(gate: Gate, now: datetime) -> tuple[timedelta | None, str]:
    """How long until the gate's allow window opens (None: it is open now), and a note."""
    assert gate.window is not None
    state = window_state([gate.window], app="pipeline", namespace="", cluster_server="", cluster_name="", now=now)
    if state.automated_allowed:
        return None, "window open"
    if state.next_change is None:
        return timedelta(hours=1), "window closed; no opening found soon, looking again in 1h"
    return state.next_change - now, f"window closed until {state.next_change.isoformat()}"


def short(commit: str) -> str:
    return commit[:8] if re.fullmatch(r"[0-9a-f]{40}", commit) else commit


class GateStatus(BaseModel):
    kind: str
    description: str
    phase: Phase = Phase.PENDING
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    by: str = ""
    """Who approved or rejected (an approval gate)."""


class AppStatusLine(BaseModel):
    name: str
    message: str = ""


class StageStatus(BaseModel):
    name: str
    phase: Phase = Phase.PENDING
    message: str = ""
    apps: list[AppStatusLine] = Field(default_factory=list)
    gates: list[GateStatus] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class PipelineStatus(BaseModel):
    """A run of a pipeline: what ``bosun pipeline get`` shows and the workflow returns."""

    name: str
    revision: str
    commit: str = ""
    phase: Phase = Phase.PENDING
    message: str = ""
    stages: list[StageStatus] = Field(default_factory=list)
    started_by: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def current(self) -> tuple[StageStatus | None, GateStatus | None]:
        """The stage and gate the run is at (the first not finished)."""
        for stage in self.stages:
            if stage.phase in (Phase.RUNNING, Phase.WAITING):
                gate = next((g for g in stage.gates if g.phase in (Phase.RUNNING, Phase.WAITING)), None)
                return stage, gate
        return None, None


def initial_status(spec: PipelineSpec, revision: str, started_by: str) -> PipelineStatus:
    return PipelineStatus(
        name=spec.name,
        revision=revision,
        started_by=started_by,
        stages=[
            StageStatus(
                name=stage.name,
                gates=[GateStatus(kind=g.kind, description=g.describe()) for g in stage.gates],
            )
            for stage in spec.stages
        ],
    )
