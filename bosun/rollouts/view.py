"""What ``bosun rollout get`` shows: the ``describe`` query's answer of a RolloutWorkflow.

It is a view for people and tools (``-o json``), built by the workflow from what it
knows; the Rollout's own ``status`` (Argo Rollouts' shape) is in :attr:`RolloutDescription.status`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from bosun.protocol import RolloutRef

StepState = Literal["done", "current", "pending"]
ReplicaSetRole = Literal["stable", "canary", "active", "preview", "old"]


class StepView(BaseModel):
    index: int
    summary: str
    """``setWeight: 20``, ``pause: 10m``, ``pause`` (until promoted), ``analysis: success-rate``."""
    state: StepState


class ReplicaSetView(BaseModel):
    name: str
    pod_template_hash: str
    revision: int
    role: ReplicaSetRole
    replicas: int
    ready: int = 0
    available: int = 0
    images: list[str] = Field(default_factory=list)
    """The pod template's container images (``bosun rollout get`` shows them per role)."""


class MetricView(BaseModel):
    name: str
    phase: str
    """Argo Rollouts' metric phase: Pending, Running, Successful, Failed, Error, Inconclusive."""
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    message: str = ""


class AnalysisRunView(BaseModel):
    name: str
    phase: str
    """Pending, Running, Successful, Failed, Error, Inconclusive."""
    message: str = ""
    metrics: list[MetricView] = Field(default_factory=list)


class RolloutDescription(BaseModel):
    ref: RolloutRef
    strategy: Literal["canary", "blueGreen", ""] = ""
    phase: str = ""
    """Healthy, Progressing, Paused or Degraded, as ``status.phase``."""
    message: str = ""
    current_step_index: int | None = None
    steps: list[StepView] = Field(default_factory=list)
    canary_weight: int | None = None
    """The canary's traffic weight (0–100), or None for blue-green."""
    stable_hash: str = ""
    current_hash: str = ""
    replica_sets: list[ReplicaSetView] = Field(default_factory=list)
    analysis_runs: list[AnalysisRunView] = Field(default_factory=list)
    status: dict[str, Any] = Field(default_factory=dict)
    """The Rollout's ``status`` as last written, in Argo Rollouts' shape."""
