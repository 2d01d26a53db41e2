"""Argo CD's ``Application`` (``argoproj.io/v1alpha1``) as typed, validated models.

An Application says: render these sources (``spec.source`` or ``spec.sources``) and keep
that destination (``spec.destination``) equal to the result, under the rules of a
project and a sync policy. Example::

    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata: {name: guestbook, namespace: argocd}
    spec:
      project: default
      source:
        repoURL: https://github.com/argoproj/argocd-example-apps.git
        targetRevision: HEAD
        path: guestbook
      destination: {server: "https://kubernetes.default.svc", namespace: guestbook}
      syncPolicy:
        automated: {prune: true, selfHeal: true}
        syncOptions: [CreateNamespace=true]

Parse documents with :func:`bosun.models.parse_application`; Python code may also
build the models directly with snake_case names. Field support is summarised by
:meth:`Application.unsupported_fields`: what Argo CD has but Bosun does not act on yet.
To add a field, see :mod:`bosun.models.base`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from bosun.models.base import API_VERSION, ArgoModel, ObjectMeta, manifest_of
from bosun.models.errors import FieldProblem
from bosun.models.formats import check_dns1123_label, check_dns1123_subdomain
from bosun.models.source import ApplicationSource
from bosun.models.sync_policy import SyncPolicy

IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
DEFAULT_PROJECT = "default"
DEFAULT_REVISION_HISTORY_LIMIT = 10


class ApplicationDestination(ArgoModel):
    """The target cluster, by API server URL (``server``) or by cluster ``name``, and
    the default namespace for namespaced resources that do not set one."""

    server: str = ""
    name: str = ""
    namespace: str = ""

    @model_validator(mode="after")
    def _check(self) -> ApplicationDestination:
        if self.server and self.name:
            raise FieldProblem("name", "set server or name, not both (Argo CD rejects an Application with both)")
        if not (self.server or self.name):
            raise FieldProblem((), "set server (the API server URL) or name (a cluster name)")
        if self.namespace:
            try:
                check_dns1123_label(self.namespace)
            except ValueError as exc:
                raise FieldProblem("namespace", str(exc)) from None
        return self

    @property
    def cluster(self) -> str:
        """The cluster reference as written: the server URL, else the cluster name."""
        return self.server or self.name

    @property
    def is_in_cluster(self) -> bool:
        """The cluster the worker runs in (Argo CD's ``in-cluster``)."""
        return self.server.rstrip("/") == IN_CLUSTER_SERVER or self.name == IN_CLUSTER_NAME

    def __str__(self) -> str:
        return f"{self.cluster}/{self.namespace}" if self.namespace else self.cluster


class ResourceIgnoreDifferences(ArgoModel):
    """Fields of matching live objects to leave out of the comparison."""

    group: str = ""
    kind: str
    name: str = ""
    namespace: str = ""
    json_pointers: list[str] = []
    jq_path_expressions: list[str] = []
    managed_fields_managers: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> ResourceIgnoreDifferences:
        for i, pointer in enumerate(self.json_pointers):
            if pointer and not pointer.startswith("/"):
                raise FieldProblem(
                    ("jsonPointers", i),
                    f"{pointer!r} is not a JSON pointer: it must start with '/'",
                )
        return self


class Info(ArgoModel):
    name: str
    value: str


class ApplicationSpec(ArgoModel):
    argo_only: ClassVar[frozenset[str]] = frozenset({"sourceHydrator"})

    project: str = DEFAULT_PROJECT
    source: ApplicationSource | None = None
    sources: list[ApplicationSource] = []
    destination: ApplicationDestination
    sync_policy: SyncPolicy | None = None
    ignore_differences: list[ResourceIgnoreDifferences] = []
    info: list[Info] = []
    revision_history_limit: int = Field(default=DEFAULT_REVISION_HISTORY_LIMIT, ge=0)

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        return value or DEFAULT_PROJECT  # Argo CD: "" means the default project

    @model_validator(mode="after")
    def _check(self) -> ApplicationSpec:
        hydrator = "sourceHydrator" in (self.__pydantic_extra__ or {})
        if self.source is not None and self.sources:
            raise FieldProblem("sources", "set source or sources, not both")
        if self.source is None and not self.sources and not hydrator:
            raise FieldProblem("source", "required: set source (or sources for several)")
        refs = {s.ref for s in self.sources if s.ref}
        for i, src in enumerate(self.sources):
            if src.ref and sum(s.ref == src.ref for s in self.sources) > 1:
                raise FieldProblem(("sources", i, "ref"), f"ref {src.ref!r} is used twice")
            for ref in src.value_file_refs:
                if ref not in refs:
                    raise FieldProblem(
                        ("sources", i, "helm", "valueFiles"),
                        f"${ref} refers to no source: add ref: {ref} to one of spec.sources",
                    )
        return self


class ApplicationMeta(ObjectMeta):
    """An Application's metadata. Its ``name`` is the resource's name or, for an app outside
    Bosun's home namespaces, Bosun's qualified app name ``<namespace>/<name>``
    (:mod:`bosun.appnames`), as the app's workflow gets it."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value:
            raise ValueError("required: the object's name")
        namespace, qualified, name = value.rpartition("/")
        if qualified:
            check_dns1123_label(namespace)
        check_dns1123_subdomain(name)
        return value


class Application(ArgoModel):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["Application"] = "Application"
    metadata: ApplicationMeta
    spec: ApplicationSpec
    operation: dict[str, Any] | None = None
    """A pending operation written by Argo CD's API; kept, reported as unsupported."""
    status: dict[str, Any] | None = None
    """Observed state from a cluster; kept for round-trips, otherwise ignored."""

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        if type(value) is ObjectMeta:  # built in Python with the plain metadata type
            return value.model_dump(by_alias=True)
        return value

    @property
    def name(self) -> str:
        return self.metadata.name

    def sources_list(self) -> list[ApplicationSource]:
        """``spec.source`` or ``spec.sources``, as a list (empty for a hydrator-only app)."""
        if self.spec.sources:
            return list(self.spec.sources)
        return [self.spec.source] if self.spec.source is not None else []

    def is_multi_source(self) -> bool:
        return bool(self.spec.sources)

    def is_automated(self) -> bool:
        """Automated sync is configured and not switched off with ``enabled: false``."""
        return self.spec.sync_policy is not None and self.spec.sync_policy.is_automated()

    def sync_options(self) -> dict[str, str]:
        """``spec.syncPolicy.syncOptions`` as ``{"CreateNamespace": "true", ...}``."""
        policy = self.spec.sync_policy
        return policy.options() if policy is not None else {}

    def unsupported_fields(self) -> list[str]:
        """Dotted paths of Argo CD fields set in this Application that Bosun keeps but
        does not act on (e.g. ``spec.source.plugin``); ``status`` is not reported."""
        paths = self.unsupported_paths()
        return ["operation", *paths] if self.operation is not None else paths

    def to_manifest(self, *, cluster_fields: bool = True) -> dict[str, Any]:
        """The Application as Argo CD JSON (camelCase, only what was set).
        ``parse_application(app.to_manifest()) == app``. With ``cluster_fields=False``
        the fields a cluster adds (status, operation, uid, resourceVersion …) are
        left out, giving a manifest fit to apply."""
        out = manifest_of(self, cluster_fields=cluster_fields)
        # Argo CD's CRD requires spec.project, so it is always written, first.
        out["spec"] = {"project": self.spec.project, **out["spec"]}
        return out
