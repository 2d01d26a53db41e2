"""AppProject model: the documented project shape parses and round-trips, the default
project allows everything, and invalid projects name the field at fault."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bosun.models import (
    AppProject,
    ModelError,
    default_project,
    parse_project,
    parse_project_yaml,
)

FIXTURES = Path(__file__).parent / "fixtures" / "models"


def load() -> AppProject:
    path = FIXTURES / "project-sync-windows.yaml"
    return parse_project_yaml(path.read_text(), source_name=path.name)


def test_project_fixture() -> None:
    project = load()
    spec = project.spec
    assert project.name == "team-a"
    assert spec.source_repos[1].startswith("!")
    assert [(d.server, d.name, d.namespace) for d in spec.destinations] == [
        ("https://kubernetes.default.svc", "", "team-a-*"),
        ("", "staging", "*"),
    ]
    assert [(r.group, r.kind, r.name) for r in spec.cluster_resource_whitelist] == [
        ("", "Namespace", ""),
        ("rbac.authorization.k8s.io", "ClusterRole", "team-a-*"),
    ]
    assert spec.namespace_resource_blacklist[0].kind == "ResourceQuota"
    allow, deny = spec.sync_windows
    assert (allow.kind, allow.schedule, allow.duration, allow.manual_sync) == (
        "allow",
        "10 1 * * *",
        "1h",
        True,
    )
    assert allow.time_zone == "Europe/Amsterdam"
    assert (deny.kind, deny.and_operator, deny.sync_overrun) == ("deny", True, True)
    assert deny.clusters == ["in-cluster"]
    assert spec.source_namespaces == ["team-a-apps"]


def test_project_unsupported_fields_are_reported() -> None:
    project = load()
    assert project.unsupported_fields() == ["spec.roles", "spec.orphanedResources"]
    assert project.to_manifest()["spec"]["roles"][0]["name"] == "ci"


def test_project_round_trip() -> None:
    project = load()
    manifest = project.to_manifest()
    assert parse_project(manifest) == project
    assert manifest["kind"] == "AppProject"
    assert manifest["spec"]["syncWindows"][1]["andOperator"] is True


def test_default_project_allows_everything() -> None:
    project = default_project()
    spec = project.spec
    assert project.name == "default"
    assert spec.source_repos == ["*"]
    assert [(d.server, d.name, d.namespace) for d in spec.destinations] == [("*", "*", "*")]
    assert [(g.group, g.kind) for g in spec.cluster_resource_whitelist] == [("*", "*")]
    assert spec.cluster_resource_blacklist == spec.namespace_resource_blacklist == []
    assert spec.namespace_resource_whitelist is None  # absent: every namespaced kind
    assert spec.sync_windows == []
    assert project.unsupported_fields() == []
    assert parse_project(project.to_manifest()) == project
    assert default_project(namespace="argocd").metadata.namespace == "argocd"


def test_empty_spec_is_valid() -> None:
    project = parse_project(
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
         "metadata": {"name": "empty"}, "spec": {}}
    )  # fmt: skip
    assert project.spec.source_repos == [] and project.spec.destinations == []


BASE: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AppProject",
    "metadata": {"name": "team-a", "namespace": "argocd"},
    "spec": {
        "sourceRepos": ["*"],
        "destinations": [{"server": "*", "namespace": "*"}],
        "syncWindows": [{"kind": "deny", "schedule": "0 22 * * *", "duration": "1h"}],
    },
}


def window(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["spec"]["syncWindows"][0].update(changes)
    for key, value in changes.items():
        if value is None:
            del doc["spec"]["syncWindows"][0][key]
    return doc


def spec(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["spec"].update(changes)
    return doc


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("window kind", window(kind="block"), "spec.syncWindows[0].kind",
     "must be 'allow' or 'deny'"),
    ("window schedule fields", window(schedule="0 22 *"), "spec.syncWindows[0].schedule",
     "expected 5 fields"),
    ("window schedule seconds", window(schedule="0 0 22 * * *"),
     "spec.syncWindows[0].schedule", "expected 5 fields"),
    ("window descriptor", window(schedule="@daily"), "spec.syncWindows[0].schedule",
     "not a cron schedule"),
    ("window duration", window(duration="1 hour"), "spec.syncWindows[0].duration",
     "not a duration"),
    ("window duration missing", window(duration=None), "spec.syncWindows[0].duration",
     "required"),
    ("window schedule missing", window(schedule=None), "spec.syncWindows[0].schedule",
     "required"),
    ("window manualSync", window(manualSync="yes"), "spec.syncWindows[0].manualSync",
     "expected true or false"),
    ("window unknown field", window(timezone="UTC"), "spec.syncWindows[0].timezone",
     "did you mean 'timeZone'?"),
    ("restriction needs kind", spec(clusterResourceWhitelist=[{"group": ""}]),
     "spec.clusterResourceWhitelist[0].kind", "required"),
    ("namespaced restriction has no name",
     spec(namespaceResourceBlacklist=[{"group": "", "kind": "Secret", "name": "x"}]),
     "spec.namespaceResourceBlacklist[0].name", "GroupKind has no field 'name'"),
    ("sourceRepos not a list", spec(sourceRepos="*"), "spec.sourceRepos", "expected a list"),
    ("unknown spec field", spec(sourceRepositories=["*"]), "spec.sourceRepositories",
     "did you mean 'sourceRepos'?"),
    ("sourceRepos denies all", spec(sourceRepos=["!*"]), "spec.sourceRepos[0]", "denies every repository"),
    ("destination server denies all", spec(destinations=[{"server": "!*", "namespace": "*"}]),
     "spec.destinations[0].server", "'!*' is not a valid server pattern"),
    ("destination namespace denies all", spec(destinations=[{"server": "*", "namespace": "!*"}]),
     "spec.destinations[0].namespace", "'!*' is not a valid namespace pattern"),
    ("project name", {**BASE, "metadata": {"name": "Team A"}}, "metadata.name", "DNS-1123"),
    ("project kind", {**BASE, "kind": "Application"}, "kind", "must be AppProject"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "path", "message"), [pytest.param(d, p, m, id=i) for i, d, p, m in INVALID])
def test_invalid_project(doc: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ModelError) as info:
        parse_project(doc, source_name="projects/team-a.yaml")
    err = info.value
    assert err.source == "projects/team-a.yaml"
    matching = [p for p in err.problems if p.path == path]
    assert matching, str(err)
    assert message in matching[0].message, str(err)


def test_namespace_whitelist_keeps_absent_apart_from_empty() -> None:
    """Argo CD permits every namespaced kind when the whitelist is absent and none when it
    is an empty list; the model keeps the two apart, and both round-trip."""
    absent = parse_project(spec())
    empty = parse_project(spec(namespaceResourceWhitelist=[]))
    assert absent.spec.namespace_resource_whitelist is None
    assert empty.spec.namespace_resource_whitelist == []
    assert "namespaceResourceWhitelist" not in absent.to_manifest()["spec"]
    assert parse_project(empty.to_manifest()) == empty
