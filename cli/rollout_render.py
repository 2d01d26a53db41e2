"""Text for ``bosun rollout get`` and ``bosun rollout list``: pure functions of what the
RolloutWorkflow answers (:class:`bosun.rollouts.view.RolloutDescription`) and of what
Temporal's visibility lists, so they are table-tested without a server.

The layout follows ``kubectl argo rollouts get rollout`` (Argo Rollouts'
``pkg/kubectl-argo-rollouts/info/rollout_info.go`` and ``cmd/get``): a header with the
status and its icon, the strategy with ``Step k/n``, ``SetWeight`` and ``ActualWeight``,
the images per role, the replica counts; then what Bosun adds: the step list with
done/current/pending marks, one row per ReplicaSet (role, revision, replicas, ready,
available) and one per AnalysisRun with its metrics. To show a new field, add it to the
view (optional, with a default) and a line here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bosun.rollouts.view import AnalysisRunView, ReplicaSetView, RolloutDescription
from cli.output import paint, table

ICONS = {
    "Progressing": "◌",
    "Paused": "॥",
    "Healthy": "✔",
    "Degraded": "✖",
    "InvalidSpec": "⚠",
    "Error": "⚠",
    "Unknown": "?",
}
"""Argo Rollouts' status icons (``info.rolloutIcon``)."""

STEP_MARKS = {"done": "✔", "current": "►", "pending": "○"}
STRATEGY_NAMES = {"canary": "Canary", "blueGreen": "BlueGreen"}
_LABEL_WIDTH = 16


def status_text(description: RolloutDescription) -> str:
    """The STATUS Argo Rollouts' CLI prints: ``InvalidSpec`` while a condition says so,
    else the phase (``info.RolloutStatusString`` reads the same conditions first)."""
    for condition in _conditions(description.status):
        if condition.get("type") == "InvalidSpec":
            return "InvalidSpec"
    return description.phase or "Unknown"


def step_text(description: RolloutDescription) -> str:
    """``k/n`` (currentStepIndex of the steps), or empty without steps or an index."""
    if description.current_step_index is None or not description.steps:
        return ""
    return f"{description.current_step_index}/{len(description.steps)}"


def actual_weight(description: RolloutDescription) -> int:
    """The weight the canary gets now, after ``info.NewRolloutInfo``: 100 past the last step;
    with a traffic router the weight it reports (``status.canary.weights.canary.weight``);
    without one the canary's share of the available pods."""
    if description.current_step_index is not None and description.current_step_index >= len(description.steps):
        return 100
    available = _int(description.status.get("availableReplicas"))
    if available <= 0:
        return 0
    routed = ((description.status.get("canary") or {}).get("weights") or {}).get("canary") or {}
    if "weight" in routed:
        return _int(routed.get("weight"))
    canary = [rs for rs in description.replica_sets if rs.role == "canary"]
    return sum(rs.available for rs in canary) * 100 // available if canary else 0


def images(replica_sets: Sequence[ReplicaSetView]) -> list[tuple[str, list[str]]]:
    """Each image that runs (a ReplicaSet with replicas) and the roles it runs as, sorted
    by image (``RolloutInfo.Images``)."""
    roles: dict[str, set[str]] = {}
    for rs in replica_sets:
        if rs.replicas > 0:
            for image in rs.images:
                roles.setdefault(image, set()).add(rs.role)
    return [(image, sorted(found)) for image, found in sorted(roles.items())]


def render_description(description: RolloutDescription) -> str:
    """What ``bosun rollout get NAME`` prints."""
    ref = description.ref
    status = status_text(description)
    lines = [
        _field("Name", ref.name),
        _field("Namespace", ref.namespace),
        _field("Cluster", ref.cluster),
    ]
    if ref.app:
        lines.append(_field("App", ref.app))
    lines.append(_field("Status", f"{ICONS.get(status, ' ')} {paint(status)}"))
    if description.message:
        lines.append(_field("Message", description.message))
    lines += [_field("Error", message) for message in error_conditions(description)]
    if description.strategy:
        lines.append(_field("Strategy", STRATEGY_NAMES[description.strategy]))
    if description.strategy == "canary":
        if step := step_text(description):
            lines.append(_field("  Step", step))
        if description.canary_weight is not None:
            lines.append(_field("  SetWeight", str(description.canary_weight)))
        lines.append(_field("  ActualWeight", str(actual_weight(description))))
    if description.strategy == "blueGreen":
        blue_green = description.status.get("blueGreen") or {}
        lines.append(_field("  Active", str(blue_green.get("activeSelector") or "-")))
        lines.append(_field("  Preview", str(blue_green.get("previewSelector") or "-")))
    for index, (image, roles) in enumerate(images(description.replica_sets)):
        lines.append(_field("Images" if index == 0 else "", f"{image} ({', '.join(roles)})"))
    lines.append("Replicas:")
    for label, key in (("Current", "replicas"), ("Updated", "updatedReplicas"), ("Ready", "readyReplicas")):
        lines.append(_field(f"  {label}", str(_int(description.status.get(key)))))
    lines.append(_field("  Available", str(_int(description.status.get("availableReplicas")))))
    if description.steps:
        lines += ["", "Steps:"]
        lines += [
            f"  {STEP_MARKS[step.state]} {step.index:>2}  {step.summary}"
            + ("   (current)" if step.state == "current" else "")
            for step in description.steps
        ]
    if description.replica_sets:
        lines += ["", replica_set_table(description.replica_sets)]
    if description.analysis_runs:
        lines += ["", analysis_run_table(description.analysis_runs)]
    return "\n".join(lines)


def replica_set_table(replica_sets: Sequence[ReplicaSetView]) -> str:
    """One row per ReplicaSet, newest revision first."""
    rows = [
        [
            rs.name,
            rs.revision,
            rs.role,
            rs.pod_template_hash,
            rs.replicas,
            rs.ready,
            rs.available,
        ]
        for rs in sorted(replica_sets, key=lambda rs: rs.revision, reverse=True)
    ]
    return table(["REPLICASET", "REVISION", "ROLE", "HASH", "REPLICAS", "READY", "AVAILABLE"], rows)


def analysis_run_table(runs: Sequence[AnalysisRunView]) -> str:
    """One row per AnalysisRun and one indented row per metric (``✔ successful ✖ failed``
    as Argo's CLI shows measurements)."""
    rows: list[list[Any]] = []
    for run in runs:
        rows.append([run.name, run.phase, "", run.message])
        for metric in run.metrics:
            counts = f"✔ {metric.successful}, ✖ {metric.failed}"
            if metric.inconclusive:
                counts += f", ? {metric.inconclusive}"
            if metric.error:
                counts += f", ⚠ {metric.error}"
            rows.append([f"  └─ {metric.name}", metric.phase, f"{counts} of {metric.count}", metric.message])
    return table(["ANALYSISRUN", "PHASE", "MEASUREMENTS", "MESSAGE"], rows)


def error_conditions(description: RolloutDescription) -> list[str]:
    """Messages of InvalidSpec conditions (``info.RolloutErrorConditions``)."""
    return [
        str(condition.get("message") or "")
        for condition in _conditions(description.status)
        if condition.get("type") == "InvalidSpec"
    ]


# ------------------------------------------------------------------------- list


@dataclass(frozen=True)
class RolloutRow:
    """One running RolloutWorkflow as visibility lists it."""

    workflow_id: str
    cluster: str
    namespace: str
    name: str
    app: str = ""
    phase: str = ""
    step: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "cluster": self.cluster,
            "app": self.app,
            "phase": self.phase,
            "step": self.step,
            "workflowId": self.workflow_id,
        }


def render_list(rows: Sequence[RolloutRow]) -> str:
    return table(
        ["NAME", "NAMESPACE", "CLUSTER", "APP", "STATUS", "STEP"],
        [
            [row.name, row.namespace, row.cluster, row.app, row.phase, "" if row.step is None else row.step]
            for row in sorted(rows, key=lambda row: (row.cluster, row.namespace, row.name))
        ],
    )


# ------------------------------------------------------------------------- helpers


def _field(label: str, value: str) -> str:
    return f"{label + ':' if label else '':<{_LABEL_WIDTH}}{value}".rstrip()


def _conditions(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
