"""Argo CD's ``AppProject`` (``argoproj.io/v1alpha1``): the guard rails of a group of
Applications.

A project limits where an Application may come from (``sourceRepos``), where it may
deploy (``destinations``), which kinds it may create (cluster- and namespace-scoped
white/blacklists) and when it may sync (``syncWindows``). Example::

    apiVersion: argoproj.io/v1alpha1
    kind: AppProject
    metadata: {name: team-a, namespace: argocd}
    spec:
      sourceRepos: ["https://github.com/example/*"]
      destinations: [{server: "https://kubernetes.default.svc", namespace: "team-a-*"}]
      clusterResourceWhitelist: [{group: "", kind: Namespace}]
      syncWindows:
        - {kind: deny, schedule: "0 22 * * 5", duration: 60h, applications: ["*"]}

The matching rules themselves (globs, ``!`` negation, window activity) live with the
code that enforces them (:mod:`bosun.projects`); this module only types and validates the
document. Roles, signature keys, orphaned-resource monitoring, impersonation,
project-scoped clusters and source integrity are valid Argo CD fields Bosun does not
implement yet: they are kept and reported by :meth:`AppProject.unsupported_fields`, and
:func:`bosun.projects.unenforced_restrictions` refuses a project that sets one of those
that would narrow what its apps may do. To support one, see :mod:`bosun.models.base`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import model_validator

from bosun.models.base import API_VERSION, ArgoModel, ObjectMeta, manifest_of
from bosun.models.errors import FieldProblem
from bosun.models.formats import check_cron_schedule, parse_go_duration

DEFAULT_PROJECT_NAME = "default"


class ProjectDestination(ArgoModel):
    """An allowed destination; each field is a glob (``*``) and may be negated (``!``)."""

    server: str = ""
    name: str = ""
    namespace: str = ""


class GroupKind(ArgoModel):
    """A resource kind; ``group`` is "" for the core API group, ``*`` matches any."""

    group: str = ""
    kind: str


class ClusterResourceRestriction(GroupKind):
    """A cluster-scoped kind, optionally narrowed to object names matching ``name``."""

    name: str = ""


class SyncWindow(ArgoModel):
    kind: Literal["allow", "deny"]
    schedule: str
    duration: str
    applications: list[str] = []
    namespaces: list[str] = []
    clusters: list[str] = []
    manual_sync: bool = False
    time_zone: str = ""
    """IANA zone of ``schedule``; "" means UTC."""
    and_operator: bool = False
    description: str = ""
    sync_overrun: bool = False

    @model_validator(mode="after")
    def _check(self) -> SyncWindow:
        try:
            check_cron_schedule(self.schedule)
        except ValueError as exc:
            raise FieldProblem("schedule", str(exc)) from None
        try:
            parse_go_duration(self.duration)
        except ValueError as exc:
            raise FieldProblem("duration", str(exc)) from None
        return self


class AppProjectSpec(ArgoModel):
    argo_only: ClassVar[frozenset[str]] = frozenset(
        {
            "roles",
            "signatureKeys",
            "orphanedResources",
            "destinationServiceAccounts",
            "permitOnlyProjectScopedClusters",
            "sourceIntegrity",
        }
    )

    description: str = ""
    source_repos: list[str] = []
    source_namespaces: list[str] = []
    destinations: list[ProjectDestination] = []
    cluster_resource_whitelist: list[ClusterResourceRestriction] = []
    cluster_resource_blacklist: list[ClusterResourceRestriction] = []
    namespace_resource_whitelist: list[GroupKind] | None = None
    """None (absent): every namespaced kind; a list, even an empty one, names the allowed
    kinds, as Argo CD tells a nil list from an empty one here."""
    namespace_resource_blacklist: list[GroupKind] = []
    sync_windows: list[SyncWindow] = []

    @model_validator(mode="after")
    def _check_patterns(self) -> AppProjectSpec:
        """Argo CD's ``ValidateProject``: ``!*`` would deny everything, and is refused."""
        for i, repo in enumerate(self.source_repos):
            if repo == "!*":
                raise FieldProblem(("sourceRepos", i), "'!*' denies every repository; remove the entry")
        for i, dest in enumerate(self.destinations):
            for field in ("server", "name", "namespace"):
                if getattr(dest, field) == "!*":
                    raise FieldProblem(("destinations", i, field), f"'!*' is not a valid {field} pattern")
        return self


class AppProject(ArgoModel):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["AppProject"] = "AppProject"
    metadata: ObjectMeta
    spec: AppProjectSpec
    status: dict[str, Any] | None = None
    """Observed state from a cluster; kept for round-trips, otherwise ignored."""

    @property
    def name(self) -> str:
        return self.metadata.name

    def unsupported_fields(self) -> list[str]:
        """Dotted paths of Argo CD fields set here that Bosun does not act on."""
        return self.unsupported_paths()

    def to_manifest(self, *, cluster_fields: bool = True) -> dict[str, Any]:
        """The AppProject as Argo CD JSON; ``parse_project(p.to_manifest()) == p``."""
        return manifest_of(self, cluster_fields=cluster_fields)


def default_project(*, namespace: str = "") -> AppProject:
    """Argo CD's built-in ``default`` project: any repo, any destination, any kind."""
    meta = ObjectMeta(name=DEFAULT_PROJECT_NAME)
    if namespace:
        meta = ObjectMeta(name=DEFAULT_PROJECT_NAME, namespace=namespace)
    return AppProject(
        metadata=meta,
        spec=AppProjectSpec(
            description="Default project: allows every source, destination and kind",
            source_repos=["*"],
            destinations=[ProjectDestination(server="*", name="*", namespace="*")],
            cluster_resource_whitelist=[ClusterResourceRestriction(group="*", kind="*")],
        ),
    )
