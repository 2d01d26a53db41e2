"""Resource actions end to end (issue 11): `bosun app actions list|run` on the real stack.

The built-in restart rolls a Deployment's pods and leaves the app Synced (the
restartedAt annotation is not Bosun's field, as it is not Argo CD's); a Lua action from
argocd-cm in the control namespace lists and runs; a failing script, an unknown action
and a resource that is not the app's give clear errors and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"

CONFIGMAP_ACTIONS = """\
discovery.lua: |
  local actions = {}
  actions["set-mode"] = {["params"] = {{["name"] = "mode", ["default"] = obj.data.mode}}}
  actions["broken"] = {}
  actions["frozen"] = {["disabled"] = true}
  return actions
definitions:
- name: set-mode
  action.lua: |
    local mode = actionParams["mode"]
    if mode == nil then
      error("the mode parameter is required", 0)
    end
    obj.data.mode = mode
    return obj
- name: broken
  action.lua: |
    obj.data.mode = obj.spec.nothing.here
    return obj
- name: frozen
  action.lua: |
    obj.data.mode = "frozen"
    return obj
"""


def replicasets(cluster: Cluster, ns: str) -> set[str]:
    out = json.loads(kubectl(cluster, "-n", ns, "get", "replicasets", "-l", "app=web", "-o", "json"))
    return {item["metadata"]["name"] for item in out["items"]}


def reconciled_after(bosun: Bosun, app: str, moment: str, **expected: Any) -> dict[str, Any]:
    """The app's status once a comparison made after ``moment`` shows ``expected``."""
    since = datetime.fromisoformat(moment)

    def check() -> dict[str, Any] | None:
        status = bosun.status(app)
        at = status.get("reconciled_at")
        fresh = at is not None and datetime.fromisoformat(at) > since
        ok = fresh and status["operation"] == "idle" and all(status.get(k) == v for k, v in expected.items())
        return status if ok else None

    return eventually(check, timeout=90, what=f"{app} {expected} after {moment}")  # type: ignore[no-any-return]


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(
        tmp_path / "repo",
        {
            "web.yaml": deployment("web", replicas=2) + "\n",
            "settings.json": configmap("settings", {"mode": "fast"}),
        },
    )


def test_restart_rolls_new_pods_and_the_app_stays_synced(bosun: Bosun, devcluster_a: Cluster, repo: GitRepo) -> None:
    app, ns = unique("restart"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, self_heal=True)
    wait_status(bosun, app, sync="Synced", health="Healthy")

    listed = json.loads(
        bosun.cli("app", "actions", "list", app, "--kind", "Deployment", "--resource-name", "web", "-o", "json").stdout
    )
    assert listed["key"] == {"group": "apps", "kind": "Deployment", "namespace": ns, "name": "web"}
    assert [(a["name"], a["disabled"]) for a in listed["actions"]] == [("restart", False)]
    table = bosun.cli("app", "actions", "list", app, "--kind", "Deployment", "--resource-name", "web").stdout
    assert "restart" in table and "DISABLED" in table

    before = replicasets(devcluster_a, ns)
    assert len(before) == 1
    result = bosun.cli(
        "app", "actions", "run", app, "restart", "--kind", "Deployment", "--resource-name", "web", "--namespace", ns
    )
    assert "Deployment/web configured" in result.stdout

    web = live(devcluster_a, ns, "deployment", "web")
    assert web is not None
    stamp = web["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    shown = json.loads(
        kubectl(devcluster_a, "-n", ns, "get", "deployment", "web", "-o", "json", "--show-managed-fields")
    )
    assert "bosun-action" in {m["manager"] for m in shown["metadata"]["managedFields"]}

    # The Deployment controller rolls out a new ReplicaSet and brings the new pods up.
    def rolled_out() -> bool:
        current = live(devcluster_a, ns, "deployment", "web") or {}
        status = current.get("status") or {}
        return (
            len(replicasets(devcluster_a, ns) - before) == 1
            and status.get("observedGeneration") == current["metadata"]["generation"]
            and status.get("updatedReplicas") == 2
            and status.get("availableReplicas") == 2
            and not status.get("unavailableReplicas")
        )

    eventually(rolled_out, timeout=120, what="new ReplicaSet rolled out")

    # Recorded: who ran what, and how it ended.
    status = bosun.status(app)
    action = status["last_action"]
    assert action["action"] == "restart" and action["phase"] == "Succeeded"
    assert action["key"]["name"] == "web" and "@" in action["initiated_by"]

    # A fresh comparison still finds the app Synced and Healthy (selfHeal is on), and the
    # restart stays: restartedAt is not a field Bosun's sync owns.
    reconciled_after(bosun, app, action["at"], sync="Synced", health="Healthy")
    web = live(devcluster_a, ns, "deployment", "web")
    assert web and web["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == stamp
    assert len(replicasets(devcluster_a, ns)) == 2

    history = json.loads(bosun.cli("app", "actions", "history", app, "-o", "json").stdout)
    assert [(h["action"], h["phase"]) for h in history] == [("restart", "Succeeded")]
    # Actions are not syncs: the sync history is unchanged.
    assert [h["phase"] for h in json.loads(bosun.cli("app", "history", app, "-o", "json").stdout)] == ["Succeeded"]


@pytest.fixture
def argocd_cm(devcluster_a: Cluster) -> Iterator[None]:
    """argocd-cm in Bosun's control namespace with Lua actions for ConfigMaps."""
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "bosun"},
        "data": {"resource.customizations.actions.ConfigMap": CONFIGMAP_ACTIONS},
    }
    kubectl(devcluster_a, "apply", "-f", "-", input=yaml.safe_dump(document))
    try:
        yield
    finally:
        kubectl(devcluster_a, "-n", "bosun", "delete", "configmap", "argocd-cm", "--ignore-not-found")


def test_lua_action_from_argocd_cm_lists_runs_and_fails_cleanly(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo, argocd_cm: None
) -> None:
    app, ns = unique("luaact"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    where = ("--kind", "ConfigMap", "--resource-name", "settings")

    listed = json.loads(bosun.cli("app", "actions", "list", app, *where, "-o", "json").stdout)
    actions = {a["name"]: a for a in listed["actions"]}
    assert sorted(actions) == ["broken", "frozen", "set-mode"]
    assert actions["frozen"]["disabled"] and not actions["set-mode"]["disabled"]
    assert actions["set-mode"]["params"] == [{"name": "mode", "value": "", "type": "", "default": "fast"}]

    before = live(devcluster_a, ns, "configmap", "settings")
    assert before is not None

    # A script error: exit 1 with Lua's message, and nothing changed.
    broken = bosun.cli("app", "actions", "run", app, "broken", *where, check=False)
    assert broken.returncode == 1, broken.stderr
    assert "broken/action.lua" in broken.stderr and "nil" in broken.stderr
    missing_param = bosun.cli("app", "actions", "run", app, "set-mode", *where, check=False)
    assert missing_param.returncode == 1 and "the mode parameter is required" in missing_param.stderr
    after = live(devcluster_a, ns, "configmap", "settings")
    assert after and after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    # Bad input: an unknown or disabled action (2); a resource that is not the app's (3).
    unknown = bosun.cli("app", "actions", "run", app, "explode", *where, check=False)
    assert unknown.returncode == 2 and "no action 'explode'" in unknown.stderr and "set-mode" in unknown.stderr
    frozen = bosun.cli("app", "actions", "run", app, "frozen", *where, check=False)
    assert frozen.returncode == 2 and "disabled" in frozen.stderr
    kubectl(devcluster_a, "-n", ns, "create", "configmap", "stray", "--from-literal=mode=x")
    stray = bosun.cli(
        "app",
        "actions",
        "run",
        app,
        "set-mode",
        "--kind",
        "ConfigMap",
        "--resource-name",
        "stray",
        "--param",
        "mode=y",
        check=False,
    )
    assert stray.returncode == 3 and "not a resource of application" in stray.stderr
    no_app = bosun.cli("app", "actions", "list", unique("nope"), *where, check=False)
    assert no_app.returncode == 3
    bad_param = bosun.cli("app", "actions", "run", app, "set-mode", *where, "--param", "mode", check=False)
    assert bad_param.returncode == 2 and "expected name=value" in bad_param.stderr
    after = live(devcluster_a, ns, "configmap", "settings")
    assert after and after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    # The action runs: the field changes, and the app says it differs from Git, as Argo CD would.
    run = bosun.cli("app", "actions", "run", app, "set-mode", *where, "--param", "mode=slow")
    assert "ConfigMap/settings configured" in run.stdout
    after = live(devcluster_a, ns, "configmap", "settings")
    assert after and after["data"]["mode"] == "slow"
    at = bosun.status(app)["last_action"]["at"]
    status = reconciled_after(bosun, app, at, sync="OutOfSync")
    row = next(r for r in status["resources"] if r["key"]["name"] == "settings")
    assert "/data/mode" in row["changed_paths"]

    history = json.loads(bosun.cli("app", "actions", "history", app, "-o", "json").stdout)
    assert [(h["action"], h["phase"]) for h in history] == [
        ("broken", "Failed"),
        ("set-mode", "Failed"),
        ("explode", "Failed"),
        ("frozen", "Failed"),
        ("set-mode", "Succeeded"),
    ]
    assert "broken/action.lua" in history[0]["message"]
