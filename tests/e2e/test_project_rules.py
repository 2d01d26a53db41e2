"""AppProject rules on the real stack (issue #16, finding 3): a ``!`` entry in
``sourceRepos`` keeps the repository from ever being fetched, and ``name`` in a
``clusterResourceWhitelist`` entry limits which objects of the kind an app may create."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from temporalio.client import Client

from bosun.protocol import app_workflow_id
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl_json
from tests.e2e.test_app_lifecycle import configmap, live, wait_status
from tests.e2e.test_projects import crds, create_project  # noqa: F401  (crds: the module's autouse fixture)
from tests.history import activity_types


def comparison_error(bosun: Bosun, app: str) -> str | None:
    return next((c["message"] for c in bosun.status(app)["conditions"] if c["type"] == "ComparisonError"), None)


def scheduled_activity_types(bosun: Bosun, app: str) -> list[str]:
    """The activity types the app's workflow has run so far (tasks and local activities)."""

    async def fetch() -> list[str]:
        client = await Client.connect(bosun.temporal.address)
        return activity_types((await client.get_workflow_handle(app_workflow_id(app)).fetch_history()).events)

    return asyncio.run(fetch())


def namespace_object(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def test_a_denied_repository_gets_a_comparison_error_and_is_never_fetched(bosun: Bosun, tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "secret", {"cm.json": configmap("secret-settings", {"token": "x"})})
    project = unique("deny-repo")
    create_project(
        bosun,
        project,
        {"sourceRepos": ["*", "!" + repo.url], "destinations": [{"server": "*", "namespace": "*"}]},
    )
    app, ns = unique("denied"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, extra_spec={"project": project})

    message = eventually(lambda: comparison_error(bosun, app), timeout=60, what="the sourceRepos refusal")
    assert f"project {project!r} does not permit source repository {repo.url!r} (spec.sourceRepos)" in message
    assert bosun.status(app)["sync"] == "Unknown"
    scheduled = scheduled_activity_types(bosun, app)
    assert "get_project" in scheduled
    assert not {"resolve_revision", "render", "compare"} & set(scheduled), scheduled
    refused = bosun.cli("app", "manifests", app, check=False)  # rendering on request is refused too
    assert refused.returncode != 0 and "spec.sourceRepos" in refused.stdout + refused.stderr
    assert not {"resolve_revision", "render"} & set(scheduled_activity_types(bosun, app))


def test_a_named_cluster_whitelist_entry_permits_matching_names_only(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    refused_name = "kube-system"
    project = unique("named")
    create_project(
        bosun,
        project,
        {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": "team-*"}],
        },
    )
    team = unique("team")
    allowed = GitRepo.create(
        tmp_path / "allowed", {"ns.json": namespace_object(team), "cm.json": configmap("settings", {"a": "b"})}
    )
    app = unique("team-ns")
    bosun.create_app(app, allowed, namespace=team, extra_spec={"project": project})
    wait_status(bosun, app, sync="Synced", timeout=120)
    assert live(devcluster_a, team, "configmap", "settings") is not None

    other_team = unique("team")
    refused = GitRepo.create(
        tmp_path / "refused",
        {"ns.json": namespace_object(refused_name), "cm.json": configmap("settings", {"a": "b"})},
    )
    bad = unique("kube-ns")
    bosun.create_app(bad, refused, namespace=other_team, extra_spec={"project": project})
    message = eventually(lambda: comparison_error(bosun, bad), timeout=60, what="the named whitelist refusal")
    assert f"Namespace/{refused_name}" in message
    assert f"does not permit cluster-scoped core/Namespace named {refused_name!r}" in message
    assert live(devcluster_a, other_team, "configmap", "settings") is None  # nothing of the app applied
    kube_system = kubectl_json(devcluster_a, "get", "namespace", refused_name)
    assert not any(bad in value for value in kube_system["metadata"].get("annotations", {}).values())
