"""The project activity: read an app's AppProject from the management cluster.

AppProjects are ``argoproj.io/v1alpha1`` resources in the management cluster (the
worker's in-cluster destination), in the control namespace (``bosun`` by default), as
Argo CD keeps them in ``argocd``. The ``default`` project allows everything when it
does not exist, as in Argo CD. The workflow gets the project's JSON — small, no
credentials — and evaluates sync windows from it deterministically.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Destination
from activities.kube import IN_CLUSTER_NAME, ClusterRegistry, KubeError, UnknownKind
from bosun.models import AppProject, ModelError, default_project, parse_project

NO_CRD_RECHECK_SECONDS = 30.0


class GetProjectInput(BaseModel):
    name: str


class GetProjectResult(BaseModel):
    project: dict[str, object] = Field(default_factory=dict)
    """The AppProject as Argo CD JSON."""
    built_in: bool = False
    """True for the implicit ``default`` project (no AppProject resource exists)."""


class ProjectReader:
    """Reads AppProjects from the management cluster; shared by the activities that need
    one (the project activity, and compare/apply, which check the rules themselves)."""

    def __init__(self, *, clusters: ClusterRegistry, namespace: str) -> None:
        self._clusters = clusters
        self._namespace = namespace
        self._no_crd_since = -NO_CRD_RECHECK_SECONDS

    def read(self, name: str) -> tuple[AppProject, bool]:
        """(the project, whether it is the built-in default); ApplicationError if missing."""
        probe = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": name, "namespace": self._namespace},
        }
        live = None
        # Without the CRD only "default" exists; asking for another project always looks again.
        if name != "default" or time.monotonic() - self._no_crd_since > NO_CRD_RECHECK_SECONDS:
            try:
                live = self._clusters.client(Destination(name=IN_CLUSTER_NAME)).cached_get(probe, keep_all=True)
            except UnknownKind:
                # No AppProject CRD: only the default project exists. Look again later, not
                # on every reconcile (each miss costs a discovery refresh).
                self._no_crd_since = time.monotonic()
            except KubeError as exc:
                raise ApplicationError(
                    f"reading project {name!r}: {exc}", type="KubeError", non_retryable=not exc.retryable
                ) from None
        if live is None:
            if name == "default":
                return default_project(), True
            raise ApplicationError(
                f"project {name!r} does not exist in namespace {self._namespace!r} of the management "
                "cluster (create it with `bosun proj create -f FILE`)",
                type="ProjectNotFound",
                non_retryable=True,
            )
        try:
            return parse_project(live, source_name=f"AppProject {name}"), False
        except ModelError as exc:
            raise ApplicationError(str(exc), type="InvalidProject", non_retryable=True) from None


class ProjectActivities:
    def __init__(self, *, reader: ProjectReader) -> None:
        self._reader = reader

    @activity.defn(name="get_project")
    def get_project(self, input: GetProjectInput) -> GetProjectResult:
        project, built_in = self._reader.read(input.name)
        return GetProjectResult(project=project.to_manifest(cluster_fields=False), built_in=built_in)
