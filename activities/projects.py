"""The project activity: read an app's AppProject from the management cluster.

AppProjects are ``argoproj.io/v1alpha1`` resources in the management cluster (the
worker's in-cluster destination), in the control namespace (``bosun`` by default), as
Argo CD keeps them in ``argocd``. The ``default`` project allows everything when it
does not exist, as in Argo CD. The workflow gets the project's JSON — small, no
credentials — and evaluates sync windows from it deterministically.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Destination
from activities.kube import IN_CLUSTER_NAME, ClusterRegistry, KubeError, UnknownKind
from bosun.models import ModelError, default_project, parse_project


class GetProjectInput(BaseModel):
    name: str


class GetProjectResult(BaseModel):
    project: dict[str, object] = Field(default_factory=dict)
    """The AppProject as Argo CD JSON."""
    built_in: bool = False
    """True for the implicit ``default`` project (no AppProject resource exists)."""


class ProjectActivities:
    def __init__(self, *, clusters: ClusterRegistry, namespace: str) -> None:
        self._clusters = clusters
        self._namespace = namespace

    @activity.defn(name="get_project")
    def get_project(self, input: GetProjectInput) -> GetProjectResult:
        probe = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                 "metadata": {"name": input.name, "namespace": self._namespace}}
        try:
            live = self._clusters.client(Destination(name=IN_CLUSTER_NAME)).get(probe)
        except UnknownKind:
            live = None  # no AppProject CRD installed: only the default project exists
        except KubeError as exc:
            raise ApplicationError(f"reading project {input.name!r}: {exc}", type="KubeError",
                                   non_retryable=not exc.retryable) from None
        if live is None:
            if input.name == "default":
                return GetProjectResult(project=default_project().to_manifest(cluster_fields=False), built_in=True)
            raise ApplicationError(
                f"project {input.name!r} does not exist in namespace {self._namespace!r} of the management "
                "cluster (create it with `bosun proj create -f FILE`)", type="ProjectNotFound", non_retryable=True)
        try:
            project = parse_project(live, source_name=f"AppProject {input.name}")
        except ModelError as exc:
            raise ApplicationError(str(exc), type="InvalidProject", non_retryable=True) from None
        return GetProjectResult(project=project.to_manifest(cluster_fields=False))
