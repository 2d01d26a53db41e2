"""Typed models of Argo CD's ``argoproj.io/v1alpha1`` Application and AppProject.

This package is the pure core's view of what users write: parse a document with
:func:`parse_application` / :func:`parse_project` (or the ``*_yaml`` variants), get
frozen pydantic models with snake_case attributes, or a :class:`ModelError` naming the
source, the field path (``spec.sources[1].repoURL``) and the problem.

Argo CD fields Bosun does not act on yet are kept and listed by
``unsupported_fields()``; fields Argo CD does not have are errors. Modules:

- ``base``: the shared model behaviour (aliases, unknown/unsupported fields, metadata)
- ``source``: ``spec.source(s)`` with directory/Jsonnet, Helm and Kustomize options
- ``sync_policy``: automation, options (parsed by ``bosun.sync_options``), retry/backoff
- ``application``, ``project``: the two kinds; ``parse``: the entry points
- ``formats``: names, repo URLs, Go durations, cron; ``errors``: ModelError
"""

from bosun.models.application import (
    DEFAULT_PROJECT,
    DEFAULT_REVISION_HISTORY_LIMIT,
    IN_CLUSTER_NAME,
    IN_CLUSTER_SERVER,
    Application,
    ApplicationDestination,
    ApplicationSpec,
    Info,
    ResourceIgnoreDifferences,
)
from bosun.models.base import API_GROUP, API_VERSION, ArgoModel, ObjectMeta
from bosun.models.errors import ModelError, Problem
from bosun.models.formats import parse_backoff_duration, parse_go_duration
from bosun.models.parse import (
    load_yaml_documents,
    parse_application,
    parse_application_yaml,
    parse_project,
    parse_project_yaml,
    parse_yaml,
)
from bosun.models.project import (
    AppProject,
    AppProjectSpec,
    ClusterResourceRestriction,
    GroupKind,
    ProjectDestination,
    SyncWindow,
    default_project,
)
from bosun.models.source import (
    ApplicationSource,
    ApplicationSourceDirectory,
    ApplicationSourceHelm,
    ApplicationSourceJsonnet,
    ApplicationSourceKustomize,
    HelmFileParameter,
    HelmParameter,
    JsonnetVar,
    KustomizePatch,
    KustomizeReplica,
    KustomizeSelector,
)
from bosun.models.sync_policy import (
    Backoff,
    ManagedNamespaceMetadata,
    RetryStrategy,
    SyncPolicy,
    SyncPolicyAutomated,
)
from bosun.sync_options import SYNC_OPTIONS, parse_sync_option, parse_sync_options

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "DEFAULT_PROJECT",
    "DEFAULT_REVISION_HISTORY_LIMIT",
    "IN_CLUSTER_NAME",
    "IN_CLUSTER_SERVER",
    "SYNC_OPTIONS",
    "AppProject",
    "AppProjectSpec",
    "Application",
    "ApplicationDestination",
    "ApplicationSource",
    "ApplicationSourceDirectory",
    "ApplicationSourceHelm",
    "ApplicationSourceJsonnet",
    "ApplicationSourceKustomize",
    "ApplicationSpec",
    "ArgoModel",
    "Backoff",
    "ClusterResourceRestriction",
    "GroupKind",
    "HelmFileParameter",
    "HelmParameter",
    "Info",
    "JsonnetVar",
    "KustomizePatch",
    "KustomizeReplica",
    "KustomizeSelector",
    "ManagedNamespaceMetadata",
    "ModelError",
    "ObjectMeta",
    "Problem",
    "ProjectDestination",
    "ResourceIgnoreDifferences",
    "RetryStrategy",
    "SyncPolicy",
    "SyncPolicyAutomated",
    "SyncWindow",
    "default_project",
    "load_yaml_documents",
    "parse_application",
    "parse_application_yaml",
    "parse_backoff_duration",
    "parse_go_duration",
    "parse_project",
    "parse_project_yaml",
    "parse_sync_option",
    "parse_sync_options",
    "parse_yaml",
]
