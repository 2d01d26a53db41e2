"""AppProject rules (:mod:`bosun.projects`) on Argo CD's own test cases.

The tables are copied from Argo CD's ``pkg/apis/application/v1alpha1/types_test.go``
(argoproj/argo-cd, the v2.13-era file that holds the negation tests); each table names the
Go test it comes from. Cases that need Argo CD machinery Bosun does not have (the
project-scoped cluster lookup) are left out and said so. Further cases below the Argo CD
tables are Bosun's own, for the rules the issue found failing open.
"""

from __future__ import annotations

from typing import Any

import pytest

from bosun.models import AppProject, parse_project
from bosun.projects import (
    app_namespace_permitted,
    destination_permitted,
    fetch_violations,
    field_notes,
    group_kind_name_permitted,
    project_violations,
    source_permitted,
    unenforced_restrictions,
)


def project(**spec: Any) -> AppProject:
    return parse_project(
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "p"}, "spec": spec}
    )


# --- sources ---------------------------------------------------------------------------

# TestAppProject_IsSourcePermitted: (sourceRepos, app repoURL, permitted)
IS_SOURCE_PERMITTED = [
    (["*"], "https://github.com/argoproj/test.git", True),
    (["https://github.com/argoproj/test.git"], "https://github.com/argoproj/test.git", True),
    (["ssh://git@GITHUB.com:argoproj/test"], "ssh://git@github.com:argoproj/test", True),
    (["https://github.com/argoproj/*"], "https://github.com/argoproj/argoproj.git", True),
    (["https://github.com/test1/test.git", "https://github.com/test2/test.git"],
     "https://github.com/test2/test.git", True),
    (["https://github.com/argoproj/test1.git"], "https://github.com/argoproj/test2.git", False),
    (["https://github.com/argoproj/*.git"], "https://github.com/argoproj1/test2.git", False),
    (["https://github.com/argoproj/foo"], "https://github.com/argoproj/foo1", False),
    (["https://gitlab.com/group/*"], "https://gitlab.com/group/repo/owner", False),
    (["https://gitlab.com/group/*/*"], "https://gitlab.com/group/repo/owner", True),
    (["https://gitlab.com/group/*/*/*"], "https://gitlab.com/group/sub-group/repo/owner", True),
    (["https://gitlab.com/group/**"], "https://gitlab.com/group/sub-group/repo/owner", True),
]  # fmt: skip

# TestAppProject_IsNegatedSourcePermitted
IS_NEGATED_SOURCE_PERMITTED = [
    (["!https://github.com/argoproj/test.git"], "https://github.com/argoproj/test.git", False),
    (["!ssh://git@GITHUB.com:argoproj/test"], "ssh://git@github.com:argoproj/test", False),
    (["!https://github.com/argoproj/*"], "https://github.com/argoproj/argoproj.git", False),
    (["https://github.com/test1/test.git", "!https://github.com/test2/test.git"],
     "https://github.com/test2/test.git", False),
    (["!https://github.com/argoproj/foo*"], "https://github.com/argoproj/foo1", False),
    (["!https://gitlab.com/group/*/*"], "https://gitlab.com/group/repo/owner", False),
    (["!https://gitlab.com/group/*/*/*"], "https://gitlab.com/group/sub-group/repo/owner", False),
    (["!https://gitlab.com/group/**"], "https://gitlab.com/group/sub-group/repo/owner", False),
    (["*"], "https://github.com/argoproj/test.git", True),
    (["https://github.com/argoproj/test1.git", "*"], "https://github.com/argoproj/test2.git", True),
    (["!https://github.com/argoproj/*.git", "*"], "https://github.com/argoproj1/test2.git", True),
]  # fmt: skip

# Bosun's: the cases of issue #16 finding 3, and deny order independence.
BOSUN_SOURCE_CASES = [
    (["*", "!https://git.example.com/secret/*"], "https://git.example.com/secret/db.git", False),
    (["!https://git.example.com/secret/*", "*"], "https://git.example.com/secret/db.git", False),
    (["*", "!https://git.example.com/secret/*"], "https://git.example.com/team/app.git", True),
    (["*", "!https://GIT.example.com/Secret/*"], "https://git.example.com/secret/db", False),
    # `*` stays inside a path segment; `**` crosses them.
    (["https://git.example.com/team/*"], "https://git.example.com/team/../secret/db", False),
    (["https://git.example.com/*"], "https://git.example.com/secret/db.git", False),
    (["https://git.example.com/**"], "https://git.example.com/secret/db.git", True),
    ([], "https://git.example.com/team/app.git", False),
    # As in Argo CD, a deny entry allows what it does not deny: a list of denies alone is
    # "everything but these".
    (["!https://git.example.com/secret/*"], "https://git.example.com/team/app.git", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("repos", "url", "permitted"),
    [
        *[pytest.param(*c, id=f"IsSourcePermitted-{i}") for i, c in enumerate(IS_SOURCE_PERMITTED)],
        *[pytest.param(*c, id=f"IsNegatedSourcePermitted-{i}") for i, c in enumerate(IS_NEGATED_SOURCE_PERMITTED)],
        *[pytest.param(*c, id=f"bosun-{i}") for i, c in enumerate(BOSUN_SOURCE_CASES)],
    ],
)
def test_source_permitted(repos: list[str], url: str, permitted: bool) -> None:
    assert source_permitted(project(sourceRepos=repos), url) is permitted


# --- destinations ----------------------------------------------------------------------

K8S = "https://kubernetes.default.svc"


def dest(server: str = "", namespace: str = "", name: str = "") -> dict[str, str]:
    return {k: v for k, v in {"server": server, "namespace": namespace, "name": name}.items() if v}


# TestAppProject_IsDestinationPermitted: (project destinations, app destination, permitted)
IS_DESTINATION_PERMITTED = [
    ([dest(K8S, "default")], dest(K8S, "default"), True),
    ([dest(K8S, "default")], dest(K8S, "kube-system"), False),
    ([dest("https://my-cluster", "default")], dest(K8S, "default"), False),
    ([dest(K8S, "*")], dest(K8S, "kube-system"), True),
    ([dest("https://*.default.svc", "default")], dest(K8S, "default"), True),
    ([dest("https://team1-*", "default")], dest("https://test2-dev-cluster", "default"), False),
    ([dest(K8S, "test-*")], dest(K8S, "test-foo"), True),
    ([dest(K8S, "test-*")], dest(K8S, "test"), False),
    ([dest("*", "*")], dest(K8S, "test"), True),
    ([dest("", "*", "test")], dest(namespace="test", name="test"), True),
    ([dest("", "*", "test2")], dest(namespace="test", name="test"), False),
]  # fmt: skip

# TestAppProject_IsNegatedDestinationPermitted
IS_NEGATED_DESTINATION_PERMITTED = [
    ([dest("!" + K8S, "default")], dest(K8S, "default"), False),
    ([dest(K8S, "!default")], dest(K8S, "kube-system"), True),
    ([dest("!https://my-cluster", "default")], dest(K8S, "default"), True),
    ([dest("!" + K8S, "*")], dest(K8S, "kube-system"), False),
    ([dest("!https://*.default.svc", "default")], dest(K8S, "default"), False),
    ([dest("!https://team1-*", "default")], dest("https://test2-dev-cluster", "default"), True),
    ([dest(K8S, "!test-*")], dest(K8S, "test-foo"), False),
    ([dest(K8S, "!test-*")], dest(K8S, "test"), True),
    ([dest("", "*", "!test")], dest(namespace="test", name="test"), False),
    ([dest("", "*", "!test2")], dest(namespace="test", name="test"), True),
    ([dest("*", "kube-system"), dest("*", "!kube-system")], dest(K8S, "kube-system"), False),
    ([dest("*", "*"), dest("*", "!kube-system")], dest(K8S, "kube-system"), False),
    ([dest(K8S, "*"), dest("!" + K8S, "*")], dest(K8S, "kube-system"), False),
    ([dest("*", "*"), dest("!" + K8S, "kube-system")], dest(K8S, "kube-system"), False),
    ([dest("*", "*"), dest("!" + K8S, "kube-system"), dest("*", "!kube-system")], dest(K8S, "kube-system"), False),
    ([dest("*", "*"), dest("!" + K8S, "kube-system"), dest("*", "!kube-system")], dest(K8S, "default"), False),
    ([dest("*", "*"), dest("!" + K8S, "kube-system"), dest("*", "!kube-system")],
     dest("https://test-dev-cluster", "kube-system"), False),
    ([dest("", "*", "test"), dest("", "*", "!test")], dest(namespace="test", name="test"), False),
]  # fmt: skip
# TestAppProject_IsDestinationPermitted_PermitOnlyProjectScopedClusters is left out: Bosun
# has no project-scoped clusters and refuses permitOnlyProjectScopedClusters (see below).

BOSUN_DESTINATION_CASES = [
    # issue #16: `!kube-system` next to `*` must not permit kube-system
    ([dest("*", "*"), dest("*", "!kube-system")], dest(K8S, "team-a"), True),
    ([dest("*", "!kube-system")], dest(K8S, "kube-system"), False),
    # destinations are matched without separators: `*` spans `/` and `.`
    ([dest("https://*", "*")], dest("https://a.b/c", "x"), True),
    ([], dest(K8S, "default"), False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("destinations", "app_dest", "permitted"),
    [
        *[pytest.param(*c, id=f"IsDestinationPermitted-{i}") for i, c in enumerate(IS_DESTINATION_PERMITTED)],
        *[
            pytest.param(*c, id=f"IsNegatedDestinationPermitted-{i}")
            for i, c in enumerate(IS_NEGATED_DESTINATION_PERMITTED)
        ],
        *[pytest.param(*c, id=f"bosun-{i}") for i, c in enumerate(BOSUN_DESTINATION_CASES)],
    ],
)
def test_destination_permitted(destinations: list[dict[str, str]], app_dest: dict[str, str], permitted: bool) -> None:
    proj = project(destinations=destinations)
    got = destination_permitted(
        proj, server=app_dest.get("server", ""), name=app_dest.get("name", ""), namespace=app_dest.get("namespace", "")
    )
    assert got is permitted


# --- group/kind/name -------------------------------------------------------------------


def gk(group: str, kind: str, name: str = "") -> dict[str, str]:
    return {"group": group, "kind": kind, **({"name": name} if name else {})}


# TestAppProject_IsGroupKindPermitted: (spec, group, kind, namespaced, permitted)
RS_NOT_DEPLOY = {"namespaceResourceWhitelist": [gk("apps", "ReplicaSet")],
                 "namespaceResourceBlacklist": [gk("apps", "Deployment")]}  # fmt: skip

IS_GROUP_KIND_PERMITTED: list[tuple[dict[str, Any], str, str, bool, bool]] = [
    ({"namespaceResourceWhitelist": [], "namespaceResourceBlacklist": [gk("apps", "Deployment")]},
     "apps", "ReplicaSet", True, False),
    ({"namespaceResourceWhitelist": [], "namespaceResourceBlacklist": [gk("apps", "Deployment")]},
     "apps", "Deployment", True, False),
    (RS_NOT_DEPLOY, "apps", "ReplicaSet", True, True),
    (RS_NOT_DEPLOY, "apps", "Action", True, False),
    ({"clusterResourceBlacklist": [gk("", "Namespace")]}, "", "Namespace", False, False),
    ({"clusterResourceWhitelist": [gk("*", "*")], "clusterResourceBlacklist": [gk("*", "*")]},
     "", "Namespace", False, False),
    ({"clusterResourceWhitelist": [gk("*", "*")], "clusterResourceBlacklist": [gk("*", "*")]},
     "apps", "Action", True, True),
    ({"clusterResourceWhitelist": [], "namespaceResourceWhitelist": [gk("*", "*")]}, "", "Namespace", False, False),
    ({"clusterResourceWhitelist": [], "namespaceResourceWhitelist": [gk("*", "*")]}, "apps", "Action", True, True),
    ({}, "", "Namespace", False, False),
    ({}, "apps", "Action", True, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "group", "kind", "namespaced", "permitted"),
    [pytest.param(*c, id=f"IsGroupKindPermitted-{i}") for i, c in enumerate(IS_GROUP_KIND_PERMITTED)],
)
def test_group_kind_permitted(spec: dict[str, Any], group: str, kind: str, namespaced: bool, permitted: bool) -> None:
    got = group_kind_name_permitted(project(**spec), group=group, kind=kind, name="anything", namespaced=namespaced)
    assert got is permitted


# Names in cluster lists (Argo CD's ClusterResourceRestrictionItem.name: Go filepath.Match,
# empty matches every name): Bosun's cases, issue #16's first.
NAMED: list[tuple[dict[str, Any], str, bool]] = [
    ({"clusterResourceWhitelist": [gk("", "Namespace", "team-*")]}, "team-a", True),
    ({"clusterResourceWhitelist": [gk("", "Namespace", "team-*")]}, "kube-system", False),
    ({"clusterResourceWhitelist": [gk("", "Namespace")]}, "kube-system", True),
    ({"clusterResourceWhitelist": [gk("", "Namespace")], "clusterResourceBlacklist": [gk("", "Namespace", "kube-*")]},
     "kube-system", False),
    ({"clusterResourceWhitelist": [gk("", "Namespace")], "clusterResourceBlacklist": [gk("", "Namespace", "kube-*")]},
     "team-a", True),
    ({"clusterResourceWhitelist": [gk("", "Namespace", "team-[ab]")]}, "team-c", False),
    ({"clusterResourceWhitelist": [gk("", "Namespace", "[")]}, "[", False),  # bad pattern: no match
]  # fmt: skip


@pytest.mark.parametrize(("spec", "name", "permitted"), NAMED)
def test_cluster_lists_match_names(spec: dict[str, Any], name: str, permitted: bool) -> None:
    got = group_kind_name_permitted(project(**spec), group="", kind="Namespace", name=name, namespaced=False)
    assert got is permitted


# --- application namespaces ------------------------------------------------------------

# IsAppNamespacePermitted (Argo CD's TestAppProject_IsAppNamespacePermitted is in
# app_project_types_test.go): (sourceNamespaces, app namespace, permitted); control ns "argocd".
APP_NAMESPACES = [
    ([], "argocd", True),
    ([], "", True),
    ([], "team-a", False),
    (["team-a"], "team-a", True),
    (["team-*"], "team-b", True),
    (["/^team-[a-c]$/"], "team-c", True),
    (["/^team-[a-c]$/"], "team-d", False),
    (["*"], "kube-system", True),
    # Bosun's deny entries (Argo CD reads "!team-b" as a literal that matches nothing)
    (["*", "!team-b"], "team-b", False),
    (["!team-b", "*"], "team-a", True),
    (["*", "!/^kube-/"], "kube-system", False),
]  # fmt: skip


@pytest.mark.parametrize(("entries", "namespace", "permitted"), APP_NAMESPACES)
def test_app_namespace_permitted(entries: list[str], namespace: str, permitted: bool) -> None:
    got = app_namespace_permitted(
        project(sourceNamespaces=entries), app_namespace=namespace, control_namespace="argocd"
    )
    assert got is permitted


# --- what Bosun does not enforce, and the before-fetch check ---------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("signatureKeys", [{"keyID": "4AEE18F83AFDEB23"}]),
        ("destinationServiceAccounts", [{"server": "*", "namespace": "*", "defaultServiceAccount": "deployer"}]),
        ("permitOnlyProjectScopedClusters", True),
        ("sourceIntegrity", {"git": {"policies": []}}),
    ],
)
def test_unenforced_restrictions_are_refused(field: str, value: object) -> None:
    proj = project(sourceRepos=["*"], destinations=[dest("*", "*")], **{field: value})
    (problem,) = unenforced_restrictions(proj)
    assert f"spec.{field}" in problem and "'p'" in problem
    assert problem in fetch_violations(proj, repo_urls=["https://x/y"], server=K8S, name="in-cluster", namespace="a")


def test_informational_fields_and_false_flags_are_not_refused() -> None:
    proj = project(
        sourceRepos=["*"],
        destinations=[dest("*", "*")],
        permitOnlyProjectScopedClusters=False,
        orphanedResources={"warn": True},
        roles=[{"name": "ci"}],
    )
    assert unenforced_restrictions(proj) == []
    assert sorted(proj.unsupported_fields()) == [
        "spec.orphanedResources",
        "spec.permitOnlyProjectScopedClusters",
        "spec.roles",
    ]


def test_fetch_violations_name_the_rule() -> None:
    proj = project(sourceRepos=["*", "!https://git.example.com/secret/*"], destinations=[dest("*", "!kube-system")])
    problems = fetch_violations(
        proj,
        repo_urls=["https://git.example.com/secret/db.git"],
        server=K8S,
        name="in-cluster",
        namespace="kube-system",
    )
    assert problems == [
        "project 'p' does not permit source repository 'https://git.example.com/secret/db.git' (spec.sourceRepos)",
        f"project 'p' does not permit destination {K8S} namespace 'kube-system' (spec.destinations)",
    ]


def test_project_violations_check_named_cluster_objects_and_namespaces() -> None:
    proj = project(
        sourceRepos=["*"],
        destinations=[dest("*", "team-*")],
        clusterResourceWhitelist=[gk("", "Namespace", "team-*")],
    )
    objects = [
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}, False),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}, False),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "kube-system"}}, True),
    ]
    problems = project_violations(
        proj, repo_urls=[], server=K8S, name="in-cluster", namespace="team-a", objects=objects
    )
    assert len(problems) == 2, problems
    assert "Namespace/kube-system" in problems[0] and "cluster-scoped core/Namespace named 'kube-system'" in problems[0]
    assert "namespace 'kube-system'" in problems[1]


def test_field_notes_tell_refused_restrictions_from_ignored_fields() -> None:
    proj = project(
        sourceRepos=["*"],
        destinationServiceAccounts=[{"server": "*", "namespace": "*", "defaultServiceAccount": "deployer"}],
        permitOnlyProjectScopedClusters=False,
        roles=[{"name": "ci"}],
    )
    refused, ignored = field_notes(proj)
    assert refused.startswith("project 'p' sets spec.destinationServiceAccounts (syncs must impersonate")
    assert ignored == "Bosun does not act on spec.roles"
