"""AppProject restrictions: may this app deploy these objects from these sources there?

Argo CD's rules (``AppProject.IsSourcePermitted``, ``IsDestinationPermitted``,
``IsGroupKindPermitted``), as one pure function the activities call before anything is
compared or applied:

- every source's ``repoURL`` matches a ``sourceRepos`` glob;
- the destination (server or name, and namespace) matches a ``destinations`` entry, and
  so does the namespace of every namespaced object;
- a cluster-scoped object's group/kind is in ``clusterResourceWhitelist`` (empty: none
  allowed) and not in ``clusterResourceBlacklist``;
- a namespaced object's group/kind is not in ``namespaceResourceBlacklist`` and, when
  ``namespaceResourceWhitelist`` is set, is in it;
- an Application outside the control namespace may use the project only if its namespace
  matches ``sourceNamespaces`` (``IsAppNamespacePermitted``, :func:`app_namespace_violation`).

A violation is a sentence naming the object or the field; an empty list means allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bosun import glob
from bosun.models import AppProject
from bosun.models.project import GroupKind
from bosun.resources import Manifest, ResourceKey


def _match(pattern: str, value: str) -> bool:
    """Argo CD's ``globMatch`` for sourceRepos and destinations: a gobwas glob."""
    return glob.match(pattern, value)


def _permits(rules: Sequence[GroupKind], key: ResourceKey) -> bool:
    """Argo CD's ``isResourceInList``: group and kind are Go ``filepath.Match`` patterns."""
    return any(glob.path_match(r.group, key.group) and glob.path_match(r.kind, key.kind) for r in rules)


def destination_permitted(project: AppProject, *, server: str, name: str, namespace: str) -> bool:
    for d in project.spec.destinations:
        cluster_ok = (d.server and server and _match(d.server, server)) or (d.name and name and _match(d.name, name))
        if cluster_ok and _match(d.namespace or "*", namespace):
            return True
    return False


def app_namespace_violation(project: AppProject, *, app_namespace: str, name: str, control_namespace: str) -> str:
    """Why the Application ``name`` in ``app_namespace`` may not use ``project`` ("" if it may):
    Argo CD's ``IsAppNamespacePermitted`` — the control namespace always may; another one
    must match ``spec.sourceNamespaces`` (globs, ``/regex/``)."""
    if not app_namespace or app_namespace == control_namespace:
        return ""
    if glob.match_string_in_list(project.spec.source_namespaces, app_namespace, mode=glob.ListMode.REGEXP):
        return ""
    return (
        f"application {name!r} in namespace {app_namespace!r} is not allowed to use project "
        f"{project.metadata.name!r}: add {app_namespace!r} to the project's spec.sourceNamespaces"
    )


def project_violations(
    project: AppProject,
    *,
    repo_urls: Iterable[str],
    server: str,
    name: str,
    namespace: str,
    objects: Iterable[tuple[Manifest, bool]] = (),
) -> list[str]:
    """Everything ``project`` forbids about this deployment; ``objects`` are (object,
    namespaced) pairs as they will be applied (namespaces defaulted)."""
    where = f"project {project.metadata.name!r}"
    problems = [
        f"{where} does not permit source repository {url!r} (spec.sourceRepos)"
        for url in repo_urls
        if not any(_match(p, url) for p in project.spec.source_repos)
    ]
    cluster = server or name
    if not destination_permitted(project, server=server, name=name, namespace=namespace):
        problems.append(
            f"{where} does not permit destination {cluster} namespace {namespace or '(none)'!r} (spec.destinations)"
        )
    for obj, namespaced in objects:
        key = ResourceKey.of(obj)
        if namespaced:
            if key.namespace != namespace and not destination_permitted(
                project, server=server, name=name, namespace=key.namespace
            ):
                problems.append(f"{key.short}: {where} does not permit namespace {key.namespace!r}")
            blacklisted = _permits(project.spec.namespace_resource_blacklist, key)
            whitelist = project.spec.namespace_resource_whitelist
            if blacklisted or (whitelist and not _permits(whitelist, key)):
                problems.append(
                    f"{key.short}: {where} does not permit {key.group or 'core'}/{key.kind} "
                    "in namespaces (namespaceResourceWhitelist/Blacklist)"
                )
        else:
            allowed = _permits(project.spec.cluster_resource_whitelist, key)
            denied = _permits(project.spec.cluster_resource_blacklist, key)
            if denied or not allowed:
                problems.append(
                    f"{key.short}: {where} does not permit cluster-scoped {key.group or 'core'}/{key.kind} "
                    "(clusterResourceWhitelist/Blacklist)"
                )
    return problems
