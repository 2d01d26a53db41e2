"""Applications in any namespace: which namespaces are discovered, what an app there is
called, and whether its project lets it be there (Argo CD's application.namespaces and
sourceNamespaces)."""

from __future__ import annotations

from typing import Any

import pytest

from activities.declarative import workflow_manifest
from bosun.appnames import (
    AppNamespaces,
    app_workflow_id,
    home_conflict,
    instance_name,
    split_app_name,
)
from bosun.glob import ListMode, match_string_in_list
from bosun.models import AppProject, ModelError, parse_application, parse_project
from bosun.projects import app_namespace_violation
from bosun.tracking import label_value
from worker.app_watch import change_digest
from worker.config import WorkerConfig


@pytest.mark.parametrize(
    ("patterns", "namespace", "matches"),
    [
        (["argocd"], "argocd", True),
        (["argocd"], "argocd-2", False),
        (["team-*"], "team-a", True),
        (["team-*"], "teams", False),
        (["*"], "anything", True),
        (["team-?"], "team-b", True),
        (["team-[ab]"], "team-c", False),
        (["/^team-(a|b)$/"], "team-b", True),
        (["/^team-(a|b)$/"], "team-c", False),
        (["/eam/"], "steam", True),  # a regex is searched, not anchored (Argo CD's regexp2 MatchString)
        (["/[/"], "[", False),  # an invalid pattern matches nothing
        ([], "argocd", False),
    ],
)
def test_namespace_patterns_follow_argo_cds_match_string_in_list(
    patterns: list[str], namespace: str, matches: bool
) -> None:
    assert match_string_in_list(patterns, namespace, mode=ListMode.REGEXP) is matches


def test_by_default_the_control_namespace_and_argocd_are_discovered_and_home() -> None:
    namespaces = AppNamespaces.configure("bosun", None)
    assert namespaces.home == ("bosun", "argocd")
    assert namespaces.discovers("bosun") and namespaces.discovers("argocd")
    assert not namespaces.discovers("team-a")
    assert namespaces.app_name("argocd", "guestbook") == "guestbook"
    assert namespaces.app_name("bosun", "guestbook") == "guestbook"


def test_configured_namespaces_replace_the_default_and_their_apps_get_qualified_names() -> None:
    namespaces = AppNamespaces.configure("bosun", " team-*, /^ops$/ ,")
    assert namespaces.patterns == ("team-*", "/^ops$/")
    assert namespaces.home == ("bosun",)
    assert namespaces.discovers("bosun") and namespaces.discovers("team-a") and namespaces.discovers("ops")
    assert not namespaces.discovers("argocd")
    assert namespaces.app_name("team-a", "web") == "team-a/web"
    assert namespaces.app_name("bosun", "web") == "web"
    # Listed explicitly, argocd is a namespace like any other (Argo CD: only the control namespace is home).
    assert AppNamespaces.configure("bosun", "argocd").app_name("argocd", "web") == "argocd/web"
    assert AppNamespaces.configure("argocd", None).home == ("argocd",)


def test_worker_config_reads_application_namespaces_and_the_safety_net_period() -> None:
    default = WorkerConfig.from_env({})
    assert default.app_namespaces == AppNamespaces.configure("bosun", None)
    assert default.discovery_seconds == 60.0 and default.status_seconds == 5.0
    configured = WorkerConfig.from_env(
        {"BOSUN_APPLICATION_NAMESPACES": "team-*", "BOSUN_CONTROL_NAMESPACE": "cd", "BOSUN_DISCOVERY_SECONDS": "120"}
    )
    assert configured.app_namespaces == AppNamespaces(control="cd", patterns=("team-*",), argocd_is_home=False)
    assert configured.discovery_seconds == 120.0


def test_names_ids_and_instance_names() -> None:
    assert app_workflow_id("web") == "app:web"
    assert app_workflow_id("team-a/web") == "app:team-a/web"
    assert split_app_name("team-a/web") == ("team-a", "web")
    assert split_app_name("web") == ("", "web")
    assert instance_name("team-a/web") == "team-a_web"
    assert instance_name("web") == "web"
    assert label_value(instance_name("team-a/web")) == "team-a_web"  # a valid label value


def test_the_control_namespace_wins_a_name_both_home_namespaces_hold() -> None:
    namespaces = AppNamespaces.configure("bosun", None)
    refused = home_conflict(namespaces, [("argocd", "web"), ("bosun", "web"), ("argocd", "api"), ("team-a", "web")])
    assert list(refused) == [("argocd", "web")]
    assert "'bosun'" in refused[("argocd", "web")] and "rename" in refused[("argocd", "web")]


def test_a_qualified_name_is_a_valid_application_name_and_a_malformed_one_is_not() -> None:
    resource = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "team-a", "resourceVersion": "7"},
        "spec": {
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "source": {"repoURL": "https://git.example.com/a.git", "path": "."},
        },
    }
    manifest = workflow_manifest(resource, "team-a/web")
    assert manifest["metadata"] == {"name": "team-a/web", "namespace": "team-a"}
    assert parse_application(manifest, source_name="test").name == "team-a/web"
    for bad in ("Team-A/web", "team-a/", "/web", "a/b/c"):
        with pytest.raises(ModelError):
            parse_application({**manifest, "metadata": {"name": bad}}, source_name="test")


def project(source_namespaces: list[str]) -> AppProject:
    return parse_project(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "team", "namespace": "bosun"},
            "spec": {"sourceNamespaces": source_namespaces},
        },
        source_name="test",
    )


@pytest.mark.parametrize(
    ("source_namespaces", "app_namespace", "allowed"),
    [
        ([], "bosun", True),  # the control namespace always may
        ([], "team-a", False),
        (["team-a"], "team-a", True),
        (["team-*"], "team-b", True),
        (["/^team-[a-c]$/"], "team-d", False),
        (["*"], "anywhere", True),
    ],
)
def test_source_namespaces_are_enforced_outside_the_control_namespace(
    source_namespaces: list[str], app_namespace: str, allowed: bool
) -> None:
    why = app_namespace_violation(
        project(source_namespaces), app_namespace=app_namespace, name="web", control_namespace="bosun"
    )
    assert (why == "") is allowed
    if not allowed:
        assert f"namespace '{app_namespace}'" in why and "sourceNamespaces" in why and "'team'" in why


def test_the_watch_pokes_for_spec_metadata_operation_and_deletion_but_not_status() -> None:
    app: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "bosun", "resourceVersion": "1"},
        "spec": {"project": "a"},
        "status": {"sync": {"status": "Synced"}},
    }
    base = change_digest(app)
    assert change_digest({**app, "status": {"sync": {"status": "OutOfSync"}}}) == base
    assert change_digest({**app, "metadata": {**app["metadata"], "resourceVersion": "2"}}) == base
    assert change_digest({**app, "spec": {"project": "b"}}) != base
    assert change_digest({**app, "operation": {"sync": {}}}) != base
    assert change_digest({**app, "metadata": {**app["metadata"], "deletionTimestamp": "now"}}) != base
    assert change_digest({**app, "metadata": {**app["metadata"], "finalizers": ["f"]}}) != base
