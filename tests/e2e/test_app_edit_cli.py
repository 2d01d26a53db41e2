"""``bosun app set|unset|patch|suspend|resume``, ``create``'s Argo CD flags, ``-l/--selector``
and ``-p``, and ``delete``'s confirmation, driven through the CLI against the real stack
(issue 11)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bosun.protocol import app_workflow_id, declarative_workflow_id
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, live, wait_status
from tests.e2e.test_declarative_apps import CONTROL_NAMESPACE, application

CHART: dict[str, str | None] = {
    "chart/Chart.yaml": "apiVersion: v2\nname: settings\nversion: 0.1.0\n",
    "chart/values.yaml": "message: default\n",
    "chart/values-prod.yaml": "message: prod\n",
    "chart/templates/config.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
  extra: {{ .Values.extra | default "none" | quote }}
""",
}

KUSTOMIZE: dict[str, str | None] = {
    "kust/kustomization.yaml": "resources: [deployment.yaml]\n",
    "kust/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.25}]
""",
}


def names(bosun: Bosun, *args: str) -> set[str]:
    return {s["name"] for s in json.loads(bosun.cli("app", "list", *args, "-o", "json").stdout)}


def query(bosun: Bosun, workflow: str, name: str) -> Any:
    async def ask() -> Any:
        client = await Client.connect(bosun.temporal.address)
        return await client.get_workflow_handle(workflow).query(name)

    return asyncio.run(ask())


def app_document(bosun: Bosun, app: str) -> dict[str, Any]:
    """What the app workflow holds now, as the CLI reads it (the ``application`` query)."""
    return dict(query(bosun, app_workflow_id(app), "application"))


def data(cluster: Cluster, ns: str, name: str) -> dict[str, str]:
    return dict((live(cluster, ns, "configmap", name) or {}).get("data") or {})


def test_set_unset_and_patch_change_a_running_helm_app(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "repo", CHART)
    app, ns = unique("edit"), unique("ns")
    bosun.cli(
        "app",
        "create",
        app,
        "--repo",
        repo.url,
        "--path",
        "chart",
        "--dest-namespace",
        ns,
        "--sync-policy",
        "automated",
        "--sync-option",
        "CreateNamespace=true",
        "--helm-set",
        "extra=one",
        "--label",
        "team=edit",
        "--refresh-seconds",
        "3",
    )
    config = f"{app}-config"
    eventually(
        lambda: data(devcluster_a, ns, config) == {"message": "default", "extra": "one"},
        timeout=120,
        what="the chart applied with --helm-set extra=one",
    )

    bosun.cli("app", "set", app, "--values", "values-prod.yaml", "--helm-set", "extra=two", "--self-heal")
    eventually(
        lambda: data(devcluster_a, ns, config) == {"message": "prod", "extra": "two"},
        timeout=120,
        what="values-prod.yaml and extra=two applied",
    )
    spec = app_document(bosun, app)["spec"]
    assert spec["source"]["helm"] == {
        "parameters": [{"name": "extra", "value": "two"}],
        "valueFiles": ["values-prod.yaml"],
    }
    assert spec["syncPolicy"]["automated"] == {"prune": False, "selfHeal": True}

    bosun.cli("app", "unset", app, "-p", "extra", "--values", "values-prod.yaml")
    eventually(
        lambda: data(devcluster_a, ns, config) == {"message": "default", "extra": "none"},
        timeout=120,
        what="back to the chart's defaults",
    )

    bosun.cli(
        "app",
        "patch",
        app,
        "--type",
        "json",
        "--patch",
        json.dumps(
            [{"op": "add", "path": "/spec/source/helm", "value": {"parameters": [{"name": "extra", "value": "three"}]}}]
        ),
    )
    eventually(
        lambda: data(devcluster_a, ns, config).get("extra") == "three", timeout=120, what="the JSON patch applied"
    )
    bosun.cli("app", "patch", app, "--patch", '{"metadata": {"labels": {"tier": "back"}}}')
    eventually(
        lambda: bosun.status(app)["labels"] == {"team": "edit", "tier": "back"},
        timeout=60,
        what="the merge patch's label",
    )

    # Bad edits: exit code 2, the field or flag named, nothing sent.
    bad = bosun.cli("app", "set", app, "--sync-option", "CreateNamespce=true", check=False)
    assert bad.returncode == 2 and "spec.syncPolicy.syncOptions" in bad.stderr and "CreateNamespace" in bad.stderr
    bad = bosun.cli("app", "set", app, "--sync-policy", "none", "--auto-prune", check=False)
    assert bad.returncode == 2 and "--auto-prune: the app has no automated sync" in bad.stderr
    bad = bosun.cli("app", "unset", app, "-p", "nope", check=False)
    assert bad.returncode == 2 and "no Helm parameter 'nope'" in bad.stderr
    bad = bosun.cli(
        "app", "patch", app, "--type", "json", "--patch", '[{"op": "remove", "path": "/spec/nope"}]', check=False
    )
    assert bad.returncode == 2 and "patch operation 0 (remove /spec/nope)" in bad.stderr
    bad = bosun.cli("app", "patch", app, "--patch", '{"spec": {"destination": {"server": 7}}}', check=False)
    assert bad.returncode == 2 and "spec.destination.server" in bad.stderr
    assert bosun.cli("app", "set", unique("missing"), "--revision", "v1", check=False).returncode == 3
    assert app_document(bosun, app)["spec"]["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]

    bosun.cli("app", "set", app, "--sync-policy", "none")
    status = bosun.status(app)
    assert status["automated"] is False
    assert "Manual" in bosun.cli("app", "get", app).stdout


def test_create_takes_argo_cd_flags_and_every_document_of_a_file(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path / "repo", KUSTOMIZE)
    batch = unique("batch")
    apps = [(unique("kust"), unique("ns")) for _ in range(2)]
    docs = []
    for app, ns in apps:
        doc = application(app, repo, "kust", ns, namespaced=False)
        del doc["spec"]["destination"]["server"]
        docs.append(json.dumps(doc))
    app_file = tmp_path / "apps.yaml"
    app_file.write_text("\n---\n".join(docs))
    out = bosun.cli(
        "app",
        "create",
        "-f",
        str(app_file),
        "--dest-name",
        "in-cluster",
        "--kustomize-image",
        "nginx:1.27",
        "--label",
        f"batch={batch}",
        "--refresh-seconds",
        "3",
    ).stdout
    assert out.count("created") == 2
    assert names(bosun, "-l", f"batch={batch}") == {app for app, _ in apps}
    for app, ns in apps:
        status = wait_status(bosun, app, sync="Synced", health="Healthy", timeout=180)
        assert status["destination_server"] == "in-cluster"
        web = live(devcluster_a, ns, "deployment", "web")
        assert web and web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"

    # A bad document stops the whole file before anything is created.
    bad = dict(json.loads(docs[0]), metadata={"name": unique("late")})
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(json.dumps(bad) + "\n---\n" + json.dumps({**bad, "spec": {**bad["spec"], "project": 5}}))
    result = bosun.cli("app", "create", "-f", str(bad_file), "--dest-name", "in-cluster", check=False)
    assert result.returncode == 2 and f"{bad_file}#2: spec.project" in result.stderr
    assert bad["metadata"]["name"] not in names(bosun)


def test_suspended_app_is_compared_but_not_synced_until_resumed(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("settings", {"mode": "one"})})
    app, ns = unique("susp"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    assert "suspended" in bosun.cli("app", "suspend", app).stdout
    table = bosun.cli("app", "list").stdout
    assert any(line.startswith(app) and "Suspended" in line for line in table.splitlines()), table
    assert "Sync policy:   Suspended" in bosun.cli("app", "get", app).stdout

    two = repo.write({"cm.json": configmap("settings", {"mode": "two"})}, "two")
    wait_status(bosun, app, sync="OutOfSync", revision=two, timeout=60)
    time.sleep(10)  # three more refreshes: none syncs
    assert data(devcluster_a, ns, "settings") == {"mode": "one"}
    assert bosun.status(app)["suspended"] is True

    bosun.cli("app", "resume", app)
    wait_status(bosun, app, sync="Synced", revision=two, timeout=90)
    assert data(devcluster_a, ns, "settings") == {"mode": "two"}
    assert bosun.status(app)["suspended"] is False

    # A manual sync still runs while suspended.
    bosun.cli("app", "suspend", app)
    three = repo.write({"cm.json": configmap("settings", {"mode": "three"})}, "three")
    wait_status(bosun, app, sync="OutOfSync", revision=three, timeout=60)
    assert "Succeeded" in bosun.cli("app", "sync", app).stdout
    assert data(devcluster_a, ns, "settings") == {"mode": "three"}
    assert bosun.status(app)["suspended"] is True


def test_selector_and_project_choose_apps_for_list_sync_wait_and_delete(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"cm/cm.json": configmap("settings", {"a": "b"})})
    team, other = unique("team"), unique("team")
    a1, a2, a3 = unique("sel"), unique("sel"), unique("sel")
    for app, labels, project in (
        (a1, [f"team={team}", "env=dev"], "default"),
        (a2, [f"team={team}", "env=qa", "legacy=yes"], "default"),
        (a3, [f"team={other}", "env=dev"], "elsewhere"),
    ):
        bosun.cli(
            "app",
            "create",
            app,
            "--repo",
            repo.url,
            "--path",
            "cm",
            "--dest-namespace",
            unique("ns"),
            "--project",
            project,
            "--sync-option",
            "CreateNamespace=true",
            "--refresh-seconds",
            "3",
            *[arg for label in labels for arg in ("-l", label)],
        )
    both = f"team in ({team},{other})"
    assert names(bosun, "-l", f"team={team}") == {a1, a2}
    assert names(bosun, "-l", f"team={team},env in (dev,qa),!legacy") == {a1}
    assert names(bosun, "-l", f"env notin (qa),{both}") == {a1, a3}
    assert names(bosun, "-l", f"{both},legacy!=yes") == {a1, a3}
    assert names(bosun, "-l", both, "-p", "elsewhere") == {a3}
    assert names(bosun, "-p", "elsewhere", "-p", "default", "-l", f"team={other}") == {a3}
    header = bosun.cli("app", "list", "-l", f"team={team}").stdout.splitlines()[0]
    assert "SYNCPOLICY" in header
    bad = bosun.cli("app", "list", "-l", "team in (a", check=False)
    assert bad.returncode == 2 and "'(' without ')'" in bad.stderr

    # Labels changed on a running app are searched by their new values.
    bosun.cli("app", "patch", a2, "--patch", '{"metadata": {"labels": {"legacy": null}}}')
    eventually(
        lambda: names(bosun, "-l", f"team={team},!legacy") == {a1, a2},
        timeout=60,
        what="BosunLabels upserted after the label change",
    )

    synced = bosun.cli("app", "sync", "-l", f"team={team}", timeout=600)
    assert sum(line.startswith("Operation #") and "Succeeded" in line for line in synced.stdout.splitlines()) == 2, (
        synced.stdout
    )
    waited = bosun.cli("app", "wait", "-l", f"team={team}", "--sync", "--timeout", "120")
    assert f"{a1}: Synced" in waited.stdout and f"{a2}: Synced" in waited.stdout
    assert bosun.status(a3)["sync"] != "Synced"
    none = bosun.cli("app", "sync", "-l", f"team={unique('nobody')}", check=False)
    assert none.returncode == 3 and "no application matches" in none.stderr
    both_ways = bosun.cli("app", "sync", a1, "-l", f"team={team}", check=False)
    assert both_ways.returncode == 2

    deleted = bosun.cli("app", "delete", "-l", f"team={team}")  # not a terminal: no question
    assert deleted.stdout.count("deleted") == 2
    eventually(lambda: names(bosun, "-l", both) == {a3}, timeout=30, what="only a3 left")


def run_on_terminal(bosun: Bosun, *args: str, answer: bytes | None, timeout: float = 120) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin and stdout; type ``answer`` once it asks."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args], env=bosun.env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    output, answered = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the CLI exited and closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if answer is not None and not answered and b"[y/n]" in output:
                os.write(leader, answer)
                answered = True
            if proc.poll() is not None and not ready:
                break
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), output.decode(errors="replace")
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()


def test_delete_asks_on_a_terminal_unless_yes(bosun: Bosun, tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("settings", {"a": "b"})})
    app = unique("ask")
    bosun.create_app(app, repo, namespace=unique("ns"), automated=False)
    code, output = run_on_terminal(bosun, "app", "delete", app, answer=b"n\n")
    assert code == 0, output
    assert f"Are you sure you want to delete '{app}' and all its resources? [y/n]" in output
    assert f"The command to delete '{app}' was cancelled." in output
    assert bosun.status(app)["name"] == app

    code, output = run_on_terminal(bosun, "app", "delete", app, "--no-cascade", answer=None)
    assert code == 0 and "[y/n]" not in output and "deleted" in output, output  # nothing deleted in the cluster

    app = unique("ask")
    bosun.create_app(app, repo, namespace=unique("ns"), automated=False)
    code, output = run_on_terminal(bosun, "app", "delete", app, "-y", answer=None)
    assert code == 0 and "[y/n]" not in output and f"application {app} deleted" in output, output


def test_declared_app_is_edited_in_the_cluster_not_with_set(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"one/cm.json": configmap("first", {"a": "b"})})
    app, ns = unique("declared"), unique("ns")
    kubectl(devcluster_a, "apply", "-f", "-", input=json.dumps(application(app, repo, "one", ns)))
    try:
        eventually(
            lambda: app in query(bosun, declarative_workflow_id(bosun.task_queue), "declared")["apps"],
            timeout=60,
            what="the app declared",
        )
        wait_status(bosun, app, sync="Synced", timeout=120)
        for command in (("set", app, "--path", "two"), ("patch", app, "--patch", '{"spec": {"project": "x"}}')):
            refused = bosun.cli("app", *command, check=False)
            assert refused.returncode == 2, refused.stderr
            assert "declared as a resource in the management cluster" in refused.stderr
            assert f"kubectl -n {CONTROL_NAMESPACE} edit application {app}" in refused.stderr
        assert app_document(bosun, app)["spec"]["source"]["path"] == "one"
        # Suspending is workflow state, not spec: it works for a declared app too.
        bosun.cli("app", "suspend", app)
        assert bosun.status(app)["suspended"] is True
        bosun.cli("app", "resume", app)
        assert bosun.status(app)["suspended"] is False
    finally:
        kubectl(devcluster_a, "-n", CONTROL_NAMESPACE, "delete", "application", app, "--ignore-not-found")
