"""AppProject restrictions, evaluated exactly as Argo CD evaluates them: the one home of
project rules.

Argo CD's ``pkg/apis/application/v1alpha1/app_project_types.go`` is the reference; each
function below names the Go function it mirrors, and ``tests/unit/test_project_rules_argocd.py``
runs Argo CD's own test cases against them.

- **Sources** (``IsSourcePermitted``): each ``sourceRepos`` entry and the app's ``repoURL``
  are normalized as ``git.NormalizeGitURL`` does (case, ``.git``, ``ssh://``), then matched as
  gobwas globs with ``/`` as the separator: ``*`` stays inside one path segment, ``**``
  crosses segments, and the lone pattern ``*`` allows every repository. An entry starting
  with ``!`` denies: a repo that a deny entry covers is refused whatever else allows it.
- **Destinations** (``isDestinationMatched``): an entry matches when its server or its name
  matches the cluster and its namespace matches; globs without separators. A ``!`` entry
  field denies, and a deny wins over every allowing entry.
- **Kinds** (``IsGroupKindNamePermitted``): group, kind and (cluster lists only) name are Go
  ``filepath.Match`` patterns; an empty ``name`` covers every object. A cluster-scoped kind
  must be in ``clusterResourceWhitelist`` (empty: none is) and not in the blacklist; a
  namespaced kind must not be in ``namespaceResourceBlacklist`` and, when
  ``namespaceResourceWhitelist`` is given (even empty), must be in it.
- **Application namespaces** (``IsAppNamespacePermitted``): an Application outside the
  control namespace must match ``sourceNamespaces`` (globs, ``/regex/``). Bosun adds one
  rule Argo CD lacks: a ``!`` entry denies (Argo CD reads it as a literal that no namespace
  matches, so ``["*", "!team-b"]`` would let ``team-b`` in).
- **Fields Bosun does not enforce** (:func:`unenforced_restrictions`): a project that asks
  for signed commits, impersonation or project-scoped clusters is refused rather than
  honoured halfway, so its apps never deploy with less protection than the project states.

Every check is also made before anything is fetched (:func:`fetch_violations`, called by
the application workflow before it resolves or renders), so a repository the project
forbids is never cloned with stored credentials.

A violation is a sentence naming the object or the field; an empty list means allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bosun import glob
from bosun.models import AppProject
from bosun.models.project import ClusterResourceRestriction, GroupKind
from bosun.repo_urls import normalize_url
from bosun.resources import Manifest, ResourceKey

DENY = "!"

UNENFORCED = {
    "signatureKeys": "commits must carry a GnuPG signature from these keys; Bosun does not verify signatures",
    "sourceIntegrity": "sources must pass an integrity policy; Bosun does not verify source integrity",
    "destinationServiceAccounts": "syncs must impersonate these service accounts; Bosun does not impersonate",
    "permitOnlyProjectScopedClusters": "only clusters scoped to this project may be used; Bosun has no "
    "project-scoped clusters",
}
"""AppProject fields that narrow what an app may do, which Bosun cannot enforce: a project
setting one is refused (see :func:`unenforced_restrictions`). ``roles`` and
``orphanedResources`` grant API access or only warn, so ignoring them loosens nothing;
they are reported as unsupported fields instead."""


def _is_deny(pattern: str) -> bool:
    return pattern.startswith(DENY)


def _glob_match(pattern: str, value: str, *, allow_negation: bool, separators: str = "") -> bool:
    """Argo CD's ``globMatch``: a deny pattern matches what its glob does not; ``*`` matches all."""
    if allow_negation and _is_deny(pattern):
        return not glob.match(pattern[1:], value, separators=separators)
    if pattern == "*":
        return True
    return glob.match(pattern, value, separators=separators)


def source_permitted(project: AppProject, repo_url: str) -> bool:
    """Argo CD's ``IsSourcePermitted``: one allowing entry matches and no deny entry covers it."""
    return repo_permitted(project.spec.source_repos, repo_url)


def repo_permitted(source_repos: Sequence[str], repo_url: str) -> bool:
    """:func:`source_permitted` given the project's ``sourceRepos`` alone."""
    wanted = normalize_url(repo_url)
    any_matched = False
    for entry in source_repos:
        pattern = DENY + normalize_url(entry[1:]) if _is_deny(entry) else normalize_url(entry)
        if _glob_match(pattern, wanted, allow_negation=True, separators="/"):
            any_matched = True
        elif _is_deny(pattern):
            return False
    return any_matched


def destination_permitted(project: AppProject, *, server: str, name: str, namespace: str) -> bool:
    """Argo CD's ``isDestinationMatched``: one entry matches (server or name, and namespace)
    and no entry's deny field covers the destination. Pass both the cluster's server and
    its name where known: Argo CD resolves one from the other before it asks."""
    any_matched = False
    no_deny_matched = True
    for item in project.spec.destinations:
        name_matched = bool(name) and _glob_match(item.name, name, allow_negation=True)
        server_matched = bool(server) and _glob_match(item.server, server, allow_negation=True)
        namespace_matched = _glob_match(item.namespace, namespace, allow_negation=True)
        if (server_matched or name_matched) and namespace_matched:
            any_matched = True
        elif (
            (not name_matched and _is_deny(item.name))
            or (not server_matched and _is_deny(item.server))
            or (not namespace_matched and _is_deny(item.namespace))
        ):
            no_deny_matched = False
    return any_matched and no_deny_matched


def _in_list(rules: Sequence[GroupKind], group: str, kind: str, name: str) -> bool:
    """Argo CD's ``isResourceInList`` / ``isNamedResourceInList``: ``filepath.Match`` on kind,
    group and, where a cluster rule sets one, the object's name."""
    for rule in rules:
        if not (glob.path_match(rule.kind, kind) and glob.path_match(rule.group, group)):
            continue
        rule_name = rule.name if isinstance(rule, ClusterResourceRestriction) else ""
        if not rule_name or glob.path_match(rule_name, name):
            return True
    return False


def group_kind_name_permitted(project: AppProject, *, group: str, kind: str, name: str, namespaced: bool) -> bool:
    """Argo CD's ``IsGroupKindNamePermitted``."""
    spec = project.spec
    if namespaced:
        whitelist = spec.namespace_resource_whitelist
        white = whitelist is None or (len(whitelist) != 0 and _in_list(whitelist, group, kind, name))
        black = _in_list(spec.namespace_resource_blacklist, group, kind, name)
        return white and not black
    white = _in_list(spec.cluster_resource_whitelist, group, kind, name)
    black = _in_list(spec.cluster_resource_blacklist, group, kind, name)
    return white and not black


def app_namespace_permitted(project: AppProject, *, app_namespace: str, control_namespace: str) -> bool:
    """Argo CD's ``IsAppNamespacePermitted``, plus deny entries (see the module docstring)."""
    if not app_namespace or app_namespace == control_namespace:
        return True
    entries = project.spec.source_namespaces
    denies = [e[1:] for e in entries if _is_deny(e)]
    if denies and glob.match_string_in_list(denies, app_namespace, mode=glob.ListMode.REGEXP):
        return False
    allows = [e for e in entries if not _is_deny(e)]
    return glob.match_string_in_list(allows, app_namespace, mode=glob.ListMode.REGEXP)


def app_namespace_violation(project: AppProject, *, app_namespace: str, name: str, control_namespace: str) -> str:
    """Why the Application ``name`` in ``app_namespace`` may not use ``project`` ("" if it may)."""
    if app_namespace_permitted(project, app_namespace=app_namespace, control_namespace=control_namespace):
        return ""
    return (
        f"application {name!r} in namespace {app_namespace!r} is not allowed to use project "
        f"{project.metadata.name!r}: add {app_namespace!r} to the project's spec.sourceNamespaces"
    )


def unenforced_restrictions(project: AppProject) -> list[str]:
    """The restrictions ``project`` sets that Bosun cannot enforce, one sentence each."""
    extra = project.spec.model_extra or {}
    return [
        f"project {project.metadata.name!r} sets spec.{field} ({why}); remove it or use Argo CD for this project"
        for field, why in UNENFORCED.items()
        if extra.get(field) not in (None, False, [], {})
    ]


def field_notes(project: AppProject) -> list[str]:
    """What someone writing ``project`` should be told (``bosun proj create``/``get``): the
    restrictions for which its apps are refused, and the other Argo CD fields Bosun ignores
    (``roles``, ``orphanedResources``: they grant API access or only warn)."""
    refused = [f"{problem}; until then its applications are not synced" for problem in unenforced_restrictions(project)]
    ignored = [p for p in project.unsupported_fields() if p.removeprefix("spec.") not in UNENFORCED]
    return refused + ([f"Bosun does not act on {', '.join(ignored)}"] if ignored else [])


def _where(project: AppProject) -> str:
    return f"project {project.metadata.name!r}"


def _destination_problem(project: AppProject, *, server: str, name: str, namespace: str) -> str:
    if destination_permitted(project, server=server, name=name, namespace=namespace):
        return ""
    return (
        f"{_where(project)} does not permit destination {server or name or '(no cluster)'} "
        f"namespace {namespace or '(none)'!r} (spec.destinations)"
    )


def fetch_violations(
    project: AppProject, *, repo_urls: Iterable[str], server: str, name: str, namespace: str
) -> list[str]:
    """What ``project`` forbids that can be known before any repository is fetched: the
    restrictions Bosun cannot enforce, the sources, and the destination. Pure, so the
    application workflow calls it before it resolves or renders anything."""
    problems = unenforced_restrictions(project)
    problems += [
        f"{_where(project)} does not permit source repository {url!r} (spec.sourceRepos)"
        for url in repo_urls
        if not source_permitted(project, url)
    ]
    dest = _destination_problem(project, server=server, name=name, namespace=namespace)
    return problems + ([dest] if dest else [])


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
    problems = fetch_violations(project, repo_urls=repo_urls, server=server, name=name, namespace=namespace)
    where = _where(project)
    for obj, namespaced in objects:
        key = ResourceKey.of(obj)
        gk = f"{key.group or 'core'}/{key.kind}"
        if not group_kind_name_permitted(project, group=key.group, kind=key.kind, name=key.name, namespaced=namespaced):
            what = f"{gk} in namespaces" if namespaced else f"cluster-scoped {gk} named {key.name!r}"
            lists = "namespaceResourceWhitelist/Blacklist" if namespaced else "clusterResourceWhitelist/Blacklist"
            problems.append(f"{key.short}: {where} does not permit {what} (spec.{lists})")
        if (
            namespaced
            and key.namespace != namespace
            and not destination_permitted(project, server=server, name=name, namespace=key.namespace)
        ):
            problems.append(f"{key.short}: {where} does not permit namespace {key.namespace!r} (spec.destinations)")
    return problems
