"""ApplicationSets on the real stack (issue 17): a set in the control namespace is run by its
ApplicationSetWorkflow, which generates Applications owned by the set; the declarative
discovery runs them like any Application resource.

List, git-directory, git-files and matrix(clusters × git) sets generate the right apps on
two devclusters; a directory added to Git adds an app, one removed deletes it under
``create-delete`` and keeps it under ``create-update``; a ``goTemplate`` with
``missingkey=error`` on a missing key is a clear condition and creates nothing; deleting a
set deletes its apps (garbage collection through their ownerReferences); a RollingSync over
three steps syncs them in order and holds step 2 while an app of step 1 is Degraded.

Every set here generates again every few seconds (``requeueAfterSeconds``) so a commit is
seen quickly; the stack is the session's.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl, kubectl_json
from tests.e2e.test_app_lifecycle import configmap, live

CONTROL_NAMESPACE = "bosun"
IN_CLUSTER = "https://kubernetes.default.svc"
REQUEUE = 3
LABEL = "bosun.dev/e2e-appset"


# ----------------------------------------------------------------------------- helpers


def apply_set(cluster: Cluster, appset: dict[str, Any]) -> None:
    kubectl(cluster, "-n", CONTROL_NAMESPACE, "apply", "-f", "-", input=json.dumps(appset))


def appset(name: str, generators: list[dict[str, Any]], template: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": CONTROL_NAMESPACE},
        "spec": {"generators": generators, "template": template, **spec},
    }


def app_template(
    name: str,
    repo: GitRepo,
    *,
    path: str,
    namespace: str,
    server: str = IN_CLUSTER,
    automated: bool = True,
    **meta: Any,
) -> dict[str, Any]:
    policy: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
    if automated:
        policy["automated"] = {"prune": True}
    return {
        "metadata": {"name": name, **meta},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url, "path": path, "targetRevision": "HEAD"},
            "destination": {"server": server, "namespace": namespace},
            "syncPolicy": policy,
        },
    }


def get_set(cluster: Cluster, name: str) -> dict[str, Any] | None:
    return live(cluster, CONTROL_NAMESPACE, "applicationsets.argoproj.io", name)


def condition(cluster: Cluster, name: str, kind: str) -> dict[str, Any]:
    found = get_set(cluster, name) or {}
    return next((c for c in (found.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def owned_apps(cluster: Cluster, set_name: str) -> dict[str, dict[str, Any]]:
    """The Applications whose controller is the set ``set_name`` (name → resource)."""
    listed = kubectl_json(cluster, "-n", CONTROL_NAMESPACE, "get", "applications.argoproj.io")["items"]
    return {
        app["metadata"]["name"]: app
        for app in listed
        if any(
            ref.get("kind") == "ApplicationSet" and ref.get("name") == set_name and ref.get("controller")
            for ref in app["metadata"].get("ownerReferences") or []
        )
    }


def app_names(cluster: Cluster, set_name: str) -> set[str]:
    return set(owned_apps(cluster, set_name))


def delete_set(cluster: Cluster, name: str) -> None:
    kubectl(cluster, "-n", CONTROL_NAMESPACE, "delete", "applicationset", name, "--wait=false", check=False)


def add_cluster(bosun: Bosun, management: Cluster, cluster: Cluster, name: str, label: str) -> None:
    """``bosun cluster add`` (the kubeconfig's own credentials), then a label on its Secret for selectors."""
    context = yaml.safe_load(cluster.kubeconfig.read_text())["current-context"]
    bosun.cli(
        "cluster",
        "add",
        context,
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--name",
        name,
        "--use-own-credentials",
        "--upsert",
    )
    secrets = kubectl_json(
        management, "-n", CONTROL_NAMESPACE, "get", "secrets", "-l", "argocd.argoproj.io/secret-type=cluster"
    )["items"]
    (secret,) = [s for s in secrets if base64.b64decode(s["data"]["name"]).decode() == name]
    kubectl(management, "-n", CONTROL_NAMESPACE, "label", "secret", secret["metadata"]["name"], f"{LABEL}={label}")


def never(check: Callable[[], Any], *, seconds: float, what: str) -> None:
    """``check`` stays falsy for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not check(), what
        time.sleep(0.5)


# ----------------------------------------------------------------------------- generators


def test_list_generator_makes_one_owned_app_per_element_and_deleting_the_set_deletes_them(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"web/settings.json": configmap("settings", {"mode": "fast"})})
    name, ns = unique("list"), unique("appset-list")
    apply_set(
        devcluster_a,
        appset(
            name,
            [{"list": {"elements": [{"env": "dev"}, {"env": "qa"}]}}],
            app_template(
                f"{name}-{{{{env}}}}", repo, path="web", namespace=f"{ns}-{{{{env}}}}", labels={"env": "{{env}}"}
            ),
        ),
    )
    eventually(lambda: app_names(devcluster_a, name) == {f"{name}-dev", f"{name}-qa"}, timeout=60, what="two apps")
    apps = owned_apps(devcluster_a, name)
    uid = get_set(devcluster_a, name)["metadata"]["uid"]  # type: ignore[index]
    for env in ("dev", "qa"):
        app = apps[f"{name}-{env}"]
        assert app["metadata"]["labels"] == {"env": env}
        assert app["spec"]["destination"]["namespace"] == f"{ns}-{env}"
        assert [r["uid"] for r in app["metadata"]["ownerReferences"]] == [uid]
        assert "resources-finalizer.argocd.argoproj.io" in app["metadata"]["finalizers"]  # Argo CD adds it
    for env in ("dev", "qa"):
        eventually(
            lambda env=env: live(devcluster_a, f"{ns}-{env}", "configmap", "settings"),  # type: ignore[misc]
            timeout=120,
            what=f"the {env} app synced",
        )
    eventually(lambda: condition(devcluster_a, name, "ResourcesUpToDate").get("status") == "True", what="up to date")
    assert condition(devcluster_a, name, "ErrorOccurred")["status"] == "False"
    assert condition(devcluster_a, name, "ParametersGenerated")["status"] == "True"
    resources = (get_set(devcluster_a, name) or {})["status"]["resources"]
    assert {(r["kind"], r["name"]) for r in resources} == {
        ("Application", f"{name}-dev"),
        ("Application", f"{name}-qa"),
    }

    delete_set(devcluster_a, name)  # garbage collection deletes the apps; their finalizer, their resources
    eventually(lambda: not app_names(devcluster_a, name), timeout=120, what="the apps deleted with the set")
    eventually(lambda: live(devcluster_a, f"{ns}-dev", "configmap", "settings") is None, timeout=60, what="cascade")


def test_git_directories_add_and_remove_apps_by_policy(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "apps/one/cm.json": configmap("one", {"dir": "one"}),
            "apps/two/cm.json": configmap("two", {"dir": "two"}),
            "apps/.hidden/cm.json": configmap("hidden", {}),
            "README.md": "apps\n",
        },
    )
    ns = unique("appset-dirs")
    deleting, keeping = unique("cd"), unique("cu")
    for name, policy in ((deleting, "create-delete"), (keeping, "create-update")):
        apply_set(
            devcluster_a,
            appset(
                name,
                [
                    {
                        "git": {
                            "repoURL": repo.url,
                            "revision": "HEAD",
                            "directories": [{"path": "apps/*"}],
                            "requeueAfterSeconds": REQUEUE,
                        }
                    }
                ],
                app_template(f"{name}-{{{{path.basename}}}}", repo, path="{{path}}", namespace=ns, automated=False),
                syncPolicy={"applicationsSync": policy},
            ),
        )
    for name in (deleting, keeping):
        eventually(
            lambda name=name: app_names(devcluster_a, name) == {f"{name}-one", f"{name}-two"},  # type: ignore[misc]
            timeout=60,
            what=f"{name}: an app per directory",
        )
    assert owned_apps(devcluster_a, deleting)[f"{deleting}-two"]["spec"]["source"]["path"] == "apps/two"

    repo.write({"apps/three/cm.json": configmap("three", {"dir": "three"})}, "a third app")
    for name in (deleting, keeping):
        eventually(
            lambda name=name: f"{name}-three" in app_names(devcluster_a, name),  # type: ignore[misc]
            timeout=60,
            what=f"{name}: the new directory's app",
        )

    repo.write({"apps/one/cm.json": None}, "the first app leaves")
    eventually(
        lambda: app_names(devcluster_a, deleting) == {f"{deleting}-two", f"{deleting}-three"},
        timeout=60,
        what="create-delete deletes the app of the removed directory",
    )
    eventually(lambda: app_names(devcluster_a, keeping) >= {f"{keeping}-one"}, what="create-update keeps it")
    assert app_names(devcluster_a, keeping) == {f"{keeping}-one", f"{keeping}-two", f"{keeping}-three"}

    # Deleting a create-update set that holds Argo CD's finalizer keeps its apps (their
    # ownerReferences are removed first, then the finalizer).
    kept = {f"{keeping}-one", f"{keeping}-two", f"{keeping}-three"}
    finalizer = '{"metadata":{"finalizers":["resources-finalizer.argocd.argoproj.io"]}}'
    kubectl(devcluster_a, "-n", CONTROL_NAMESPACE, "patch", "applicationset", keeping, "--type=merge", "-p", finalizer)
    delete_set(devcluster_a, keeping)
    eventually(lambda: get_set(devcluster_a, keeping) is None, timeout=60, what="the create-update set gone")
    listed = kubectl_json(devcluster_a, "-n", CONTROL_NAMESPACE, "get", "applications.argoproj.io")["items"]
    survivors = {a["metadata"]["name"]: a for a in listed if a["metadata"]["name"] in kept}
    assert set(survivors) == kept, sorted(survivors)
    assert all(not a["metadata"].get("ownerReferences") for a in survivors.values())
    kubectl(devcluster_a, "-n", CONTROL_NAMESPACE, "delete", "applications.argoproj.io", *sorted(kept), "--wait=false")
    delete_set(devcluster_a, deleting)


def test_git_files_generate_an_app_per_file_with_its_fields(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "web/cm.json": configmap("web", {}),
            "config/dev/config.json": json.dumps({"env": "dev", "target": {"namespace": "web-dev"}}),
            "config/qa/config.json": json.dumps({"env": "qa", "target": {"namespace": "web-qa"}}),
            "config/qa/notes.txt": "not a config\n",
        },
    )
    name = unique("files")
    apply_set(
        devcluster_a,
        appset(
            name,
            [{"git": {"repoURL": repo.url, "revision": "HEAD", "files": [{"path": "config/**/config.json"}]}}],
            app_template(
                f"{name}-{{{{env}}}}",
                repo,
                path="web",
                namespace="{{target.namespace}}",
                automated=False,
                annotations={"from": "{{path}}/{{path.filename}}"},
            ),
        ),
    )
    eventually(lambda: app_names(devcluster_a, name) == {f"{name}-dev", f"{name}-qa"}, timeout=60, what="two apps")
    apps = owned_apps(devcluster_a, name)
    assert apps[f"{name}-dev"]["spec"]["destination"]["namespace"] == "web-dev"
    assert apps[f"{name}-qa"]["metadata"]["annotations"]["from"] == "config/qa/config.json"
    delete_set(devcluster_a, name)


def test_matrix_of_clusters_and_git_directories_deploys_each_directory_to_each_cluster(
    bosun: Bosun, devcluster_a: Cluster, devcluster_b: Cluster, tmp_path: Path
) -> None:
    selector = unique("m")
    first, second = unique("first"), unique("second")
    add_cluster(bosun, devcluster_a, devcluster_a, first, selector)
    add_cluster(bosun, devcluster_a, devcluster_b, second, selector)
    files: dict[str, str | None] = {f"apps/{d}/cm.json": configmap(d, {"dir": d}) for d in ("one", "two")}
    repo = GitRepo.create(tmp_path / "repo", files)
    name, ns = unique("matrix"), unique("appset-matrix")
    apply_set(
        devcluster_a,
        appset(
            name,
            [
                {
                    "matrix": {
                        "generators": [
                            {"clusters": {"selector": {"matchLabels": {LABEL: selector}}}},
                            {"git": {"repoURL": repo.url, "revision": "HEAD", "directories": [{"path": "apps/*"}]}},
                        ]
                    }
                }
            ],
            app_template(
                f"{name}-{{{{name}}}}-{{{{path.basename}}}}", repo, path="{{path}}", namespace=ns, server="{{server}}"
            ),
        ),
    )
    wanted = {f"{name}-{cluster}-{d}" for cluster in (first, second) for d in ("one", "two")}
    eventually(lambda: app_names(devcluster_a, name) == wanted, timeout=60, what="cluster × directory apps")
    for cluster in (devcluster_a, devcluster_b):
        for d in ("one", "two"):
            eventually(
                lambda cluster=cluster, d=d: live(cluster, ns, "configmap", d),  # type: ignore[misc]
                timeout=120,
                what=f"{d} on {cluster.name}",
            )
    delete_set(devcluster_a, name)
    eventually(lambda: not app_names(devcluster_a, name), timeout=120, what="the apps deleted with the set")
    bosun.cli("cluster", "rm", first, check=False)
    bosun.cli("cluster", "rm", second, check=False)


def test_go_template_missing_key_is_a_condition_and_creates_nothing(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"web/cm.json": configmap("web", {})})
    name = unique("gotpl")
    apply_set(
        devcluster_a,
        appset(
            name,
            [{"list": {"elements": [{"env": "dev"}]}}],
            app_template(f"{name}-{{{{.env}}}}-{{{{.region}}}}", repo, path="web", namespace="web", automated=False),
            goTemplate=True,
            goTemplateOptions=["missingkey=error"],
        ),
    )
    error = eventually(
        lambda: (
            condition(devcluster_a, name, "ErrorOccurred").get("status") == "True"
            and condition(devcluster_a, name, "ErrorOccurred")
        ),
        timeout=60,
        what="the ErrorOccurred condition",
    )
    assert "region" in error["message"], error
    assert condition(devcluster_a, name, "ResourcesUpToDate")["status"] == "False"
    assert app_names(devcluster_a, name) == set()

    # Fixed: the apps come, the condition goes.
    fixed = appset(
        name,
        [{"list": {"elements": [{"env": "dev", "region": "eu"}]}}],
        app_template(f"{name}-{{{{.env}}}}-{{{{.region}}}}", repo, path="web", namespace="web", automated=False),
        goTemplate=True,
        goTemplateOptions=["missingkey=error"],
    )
    apply_set(devcluster_a, fixed)
    eventually(lambda: app_names(devcluster_a, name) == {f"{name}-dev-eu"}, timeout=60, what="the app once fixed")
    eventually(lambda: condition(devcluster_a, name, "ErrorOccurred").get("status") == "False", what="no error")
    delete_set(devcluster_a, name)


# ----------------------------------------------------------------------------- RollingSync


def failing_pod(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "annotations": {"devcluster.bosun.dev/fail": "true"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
        }
    )


def application_status(cluster: Cluster, name: str) -> dict[str, str]:
    entries = ((get_set(cluster, name) or {}).get("status") or {}).get("applicationStatus") or []
    return {e["application"]: e["status"] for e in entries}


def statuses_when(
    cluster: Cluster, name: str, check: Callable[[dict[str, str]], bool], *, what: str, timeout: float = 60
) -> dict[str, str]:
    """The set's ``status.applicationStatus`` (app → status) once ``check`` holds for it."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = application_status(cluster, name)
        if check(statuses):
            return statuses
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s; last: {statuses}"
        time.sleep(0.5)


def test_rolling_sync_syncs_three_steps_in_order_and_holds_step_two_while_step_one_is_degraded(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "dev-a/cm.json": configmap("dev-a", {}),
            "dev-b-broken/pod.json": failing_pod("broken"),
            "dev-b/cm.json": configmap("dev-b", {}),
            "qa/cm.json": configmap("qa", {}),
            "prod/cm.json": configmap("prod", {}),
        },
    )
    name, ns = unique("rolling"), unique("appset-rolling")
    steps = [{"matchExpressions": [{"key": "env", "operator": "In", "values": [env]}]} for env in ("dev", "qa", "prod")]

    def rolling(dev_b_path: str) -> dict[str, Any]:
        paths = {"dev-a": "dev-a", "dev-b": dev_b_path, "qa": "qa", "prod": "prod"}
        elements = [{"app": a, "env": a.split("-")[0], "path": path} for a, path in paths.items()]
        return appset(
            name,
            [{"list": {"elements": elements}}],
            app_template(
                f"{name}-{{{{app}}}}", repo, path="{{path}}", namespace=f"{ns}-{{{{app}}}}", labels={"env": "{{env}}"}
            ),
            strategy={"type": "RollingSync", "rollingSync": {"steps": steps}},
        )

    apply_set(devcluster_a, rolling("dev-b-broken"))
    apps = {a: f"{name}-{a}" for a in ("dev-a", "dev-b", "qa", "prod")}
    eventually(lambda: app_names(devcluster_a, name) == set(apps.values()), timeout=60, what="four apps")
    for app in owned_apps(devcluster_a, name).values():  # Argo CD: the set syncs them, not their own policy
        assert "automated" not in (app["spec"].get("syncPolicy") or {}), app["spec"]

    # Step 1 is synced; its app dev-b is Degraded (its Pod fails), so step 2 does not start.
    eventually(lambda: live(devcluster_a, f"{ns}-dev-a", "configmap", "dev-a"), timeout=120, what="dev-a synced")
    eventually(lambda: live(devcluster_a, f"{ns}-dev-b", "pod", "broken"), timeout=60, what="dev-b synced")
    eventually(lambda: bosun.status(apps["dev-b"]).get("health") == "Degraded", timeout=90, what="dev-b Degraded")
    held = statuses_when(
        devcluster_a, name, lambda s: s.get(apps["dev-a"]) == "Healthy", what="dev-a Healthy in step 1"
    )
    assert held[apps["dev-b"]] in ("Pending", "Progressing"), held
    assert held[apps["qa"]] == "Waiting" and held[apps["prod"]] == "Waiting", held
    never(
        lambda: live(devcluster_a, f"{ns}-qa", "configmap", "qa"),
        seconds=30,  # three RollingSync polls
        what="step 2 started while an app of step 1 was Degraded",
    )
    assert application_status(devcluster_a, name)[apps["qa"]] == "Waiting"

    # dev-b fixed in the set (another path, same commit): the set syncs it again (pruning the
    # Pod), then step 2, then step 3.
    apply_set(devcluster_a, rolling("dev-b"))
    dev_b = eventually(
        lambda: live(devcluster_a, f"{ns}-dev-b", "configmap", "dev-b"), timeout=120, what="dev-b synced again"
    )
    qa = eventually(lambda: live(devcluster_a, f"{ns}-qa", "configmap", "qa"), timeout=120, what="step 2 synced")
    prod = eventually(lambda: live(devcluster_a, f"{ns}-prod", "configmap", "prod"), timeout=120, what="step 3 synced")
    eventually(lambda: live(devcluster_a, f"{ns}-dev-b", "pod", "broken") is None, what="the Pod pruned")
    created = {k: v["metadata"]["creationTimestamp"] for k, v in (("dev-b", dev_b), ("qa", qa), ("prod", prod))}
    assert created["dev-b"] <= created["qa"] <= created["prod"], created
    statuses_when(devcluster_a, name, lambda s: set(s.values()) == {"Healthy"}, what="every app Healthy", timeout=120)
    eventually(
        lambda: condition(devcluster_a, name, "RolloutProgressing").get("reason") == "ApplicationSetRolloutComplete",
        what="the rollout complete",
    )
    delete_set(devcluster_a, name)
