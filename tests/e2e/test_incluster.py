"""Bosun with a ServiceAccount instead of an admin kubeconfig (issue 14, item 2).

(a) A worker run as a pod runs it: no kubeconfig, a bound ServiceAccount token and the CA in a
directory (``BOSUN_SERVICEACCOUNT_DIR``), ``KUBERNETES_SERVICE_HOST/PORT`` pointed at the
devcluster. With the install's cluster-wide RBAC it syncs the example app and a declarative
Application; with namespaced Roles only it syncs into its namespaces and an app outside them
gets a condition naming the namespace and the permission it lacks.

(b) ``bosun cluster add`` installs bosun-manager in devcluster B (ServiceAccount, ClusterRole or
Roles, token Secret), stores only that token, an app syncs there with it, and ``cluster rm``
removes it all again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cluster, TemporalServer
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl, kubectl_json
from tests.e2e.test_app_lifecycle import configmap, live, wait_status

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_SA = "bosun-worker"

INSTALL = REPO_ROOT / "deploy" / "install"


def install_rules(path: str, kind: str) -> list[dict[str, Any]]:
    """The rules of the first ``kind`` in the install's file ``path`` (deploy/install/...): the
    test grants exactly what the install grants, under names of its own."""
    for document in yaml.safe_load_all((INSTALL / path).read_text()):
        if document and document.get("kind") == kind:
            return list(document["rules"])
    raise AssertionError(f"no {kind} in deploy/install/{path}")


def apply(cluster: Cluster, *documents: dict[str, Any]) -> None:
    kubectl(cluster, "apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in documents))


def example_repo(path: Path) -> GitRepo:
    """The example app's manifests (examples/guestbook) in a repository of the test's own."""
    files = {f"guestbook/{p.name}": p.read_text() for p in sorted((REPO_ROOT / "examples" / "guestbook").iterdir())}
    return GitRepo.create(path, files)


def ca_pem(cluster: Cluster) -> str:
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    return base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()


@dataclass
class Pod:
    """What a pod of the worker Deployment would have: a namespace, a ServiceAccount, its token."""

    cluster: Cluster
    namespace: str
    directory: Path

    def write_token(self) -> None:
        """A bound token, as the kubelet projects it into a pod (TokenRequest, expiring)."""
        token = kubectl(self.cluster, "-n", self.namespace, "create", "token", WORKER_SA, "--duration=2h").strip()
        (self.directory / "token").write_text(token)
        (self.directory / "ca.crt").write_text(ca_pem(self.cluster))
        (self.directory / "namespace").write_text(self.namespace)

    def worker(self, temporal: TemporalServer, home: Path) -> Bosun:
        """A Bosun whose worker runs with this ServiceAccount and no kubeconfig at all."""
        stack = Bosun(
            temporal=temporal,
            home=home,
            kubeconfigs=[],
            task_queue=unique("bosun-pod"),
            worker_log=home / "worker.log",
        )
        for name in ("BOSUN_KUBECONFIG", "KUBECONFIG", "BOSUN_SECRETS_NAMESPACE"):
            stack.env.pop(name, None)
        port = self.cluster.server.rsplit(":", 1)[1]
        stack.env.update(
            KUBERNETES_SERVICE_HOST="127.0.0.1",
            KUBERNETES_SERVICE_PORT=port,
            BOSUN_SERVICEACCOUNT_DIR=str(self.directory),
            BOSUN_CONTROL_NAMESPACE=self.namespace,
            BOSUN_APPLICATION_NAMESPACES=self.namespace,
        )
        return stack


@pytest.fixture
def pod(devcluster_a: Cluster, tmp_path: Path) -> Iterator[Pod]:
    namespace = unique("bosun-pod")
    kubectl(devcluster_a, "create", "namespace", namespace)
    kubectl(devcluster_a, "-n", namespace, "create", "serviceaccount", WORKER_SA)
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    yield Pod(devcluster_a, namespace, directory)
    kubectl(devcluster_a, "delete", "namespace", namespace, "--wait=false", check=False)


def grant(cluster: Cluster, pod: Pod, *, namespaces: list[str]) -> list[tuple[str, str]]:
    """The install's RBAC for the worker's ServiceAccount, read from deploy/install: its Role in
    the control namespace (base/role.yaml), then either the cluster-wide ClusterRole
    (cluster-rbac/) or, with ``namespaces``, the namespaced variant's Role in each of them and its
    read-only watch ClusterRole (namespaced/). Returns the cluster-scoped objects to delete."""
    subject = {"kind": "ServiceAccount", "name": WORKER_SA, "namespace": pod.namespace}
    rbac = "rbac.authorization.k8s.io/v1"

    def role(namespace: str, name: str, rules: list[dict[str, Any]]) -> None:
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
        apply(
            cluster,
            {"apiVersion": rbac, "kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules},
            {
                "apiVersion": rbac,
                "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": namespace},
                "roleRef": ref,
                "subjects": [subject],
            },
        )

    def cluster_role(name: str, rules: list[dict[str, Any]]) -> list[tuple[str, str]]:
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
        apply(
            cluster,
            {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules},
            {
                "apiVersion": rbac,
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": ref,
                "subjects": [subject],
            },
        )
        return [
            ("clusterrolebindings.rbac.authorization.k8s.io", name),
            ("clusterroles.rbac.authorization.k8s.io", name),
        ]

    role(pod.namespace, WORKER_SA, install_rules("base/role.yaml", "Role"))
    if not namespaces:
        return cluster_role(
            f"bosun-worker-{pod.namespace}", install_rules("cluster-rbac/clusterrole.yaml", "ClusterRole")
        )
    for namespace in namespaces:
        role(namespace, f"{WORKER_SA}-manage", install_rules("namespaced/manage-role.yaml", "Role"))
    return cluster_role(
        f"bosun-worker-watch-{pod.namespace}", install_rules("namespaced/watch-clusterrole.yaml", "ClusterRole")
    )


def declared_application(name: str, namespace: str, repo: GitRepo, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url, "path": "declared", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": target},
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    }


def resource_status(cluster: Cluster, namespace: str, name: str) -> tuple[str, str]:
    found = live(cluster, namespace, "applications.argoproj.io", name) or {}
    status = found.get("status") or {}
    return (status.get("sync") or {}).get("status", ""), (status.get("health") or {}).get("status", "")


def test_a_worker_with_the_install_service_account_syncs_the_example_and_declared_apps(
    temporal_server: TemporalServer, devcluster_a: Cluster, pod: Pod, tmp_path: Path
) -> None:
    kubectl(devcluster_a, "apply", "-f", str(REPO_ROOT / "deploy" / "crds"))
    cleanup = grant(devcluster_a, pod, namespaces=[])
    pod.write_token()
    stack = pod.worker(temporal_server, tmp_path / "home")
    repo = example_repo(tmp_path / "repo")
    repo.write({"declared/cm.json": configmap("declared", {"from": "an Application resource"})})
    example, declared = unique("guestbook"), unique("declared")
    example_ns, declared_ns = unique("guestbook"), unique("declared")
    stack.home.mkdir()
    stack.start_worker()
    try:
        log = stack.worker_log.read_text()
        assert "in-cluster" in log, log[-2000:]
        stack.create_app(example, repo, path="guestbook", namespace=example_ns)
        status = wait_status(stack, example, sync="Synced", health="Healthy", timeout=180)
        assert status["revision"] == repo.git("rev-parse", "HEAD")
        web = live(devcluster_a, example_ns, "deployment", "guestbook-ui")
        assert web is not None and web["status"].get("readyReplicas") == web["spec"]["replicas"]

        apply(devcluster_a, declared_application(declared, pod.namespace, repo, declared_ns))
        eventually(
            lambda: resource_status(devcluster_a, pod.namespace, declared) == ("Synced", "Healthy"),
            timeout=180,
            what="the declared Application's status Synced/Healthy",
        )
        assert (live(devcluster_a, declared_ns, "configmap", "declared") or {}).get("data") == {
            "from": "an Application resource"
        }
        stack.cli("app", "delete", example)
        kubectl(devcluster_a, "-n", pod.namespace, "delete", "applications.argoproj.io", declared, "--wait=false")
    finally:
        stack.stop_worker()
        for kind, name in cleanup:
            kubectl(devcluster_a, "delete", kind, name, "--ignore-not-found", check=False)
        for ns in (example_ns, declared_ns):
            kubectl(devcluster_a, "delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def test_a_namespaced_install_is_refused_outside_its_namespaces(
    temporal_server: TemporalServer, devcluster_a: Cluster, pod: Pod, tmp_path: Path
) -> None:
    allowed, denied = unique("allowed"), unique("denied")
    for ns in (allowed, denied):
        kubectl(devcluster_a, "create", "namespace", ns)
    cleanup = grant(devcluster_a, pod, namespaces=[pod.namespace, allowed])
    pod.write_token()
    stack = pod.worker(temporal_server, tmp_path / "home")
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("settings", {"mode": "namespaced"})})
    inside, outside = unique("inside"), unique("outside")
    no_namespace_creation = {"syncPolicy": {"automated": {"prune": False, "selfHeal": False}}}
    stack.home.mkdir()
    stack.start_worker()
    try:
        stack.create_app(inside, repo, namespace=allowed, extra_spec=no_namespace_creation)
        wait_status(stack, inside, sync="Synced", health="Healthy", timeout=180)
        assert (live(devcluster_a, allowed, "configmap", "settings") or {}).get("data") == {"mode": "namespaced"}

        stack.create_app(outside, repo, namespace=denied, extra_spec=no_namespace_creation)

        def refused() -> str:
            status = stack.status(outside)
            text = json.dumps(status.get("conditions") or []) + json.dumps(status.get("message") or "")
            return text if "forbidden" in text else ""

        message = eventually(refused, timeout=180, what=f"{outside} refused in namespace {denied}")
        # The API server's words: who (the ServiceAccount), what it cannot do, and where.
        assert f"system:serviceaccount:{pod.namespace}:{WORKER_SA}" in message
        assert "cannot" in message and "configmaps" in message and denied in message
        assert live(devcluster_a, denied, "configmap", "settings") is None
        stack.cli("app", "delete", inside)
        stack.cli("app", "delete", outside, check=False)
    finally:
        stack.stop_worker()
        for kind, name in cleanup:
            kubectl(devcluster_a, "delete", kind, name, "--ignore-not-found", check=False)
        for ns in (allowed, denied):
            kubectl(devcluster_a, "delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


# ----------------------------------------------------------------------------- (b) cluster add


def manager_objects(cluster: Cluster) -> dict[str, bool]:
    def exists(*args: str) -> bool:
        return bool(kubectl(cluster, "get", *args, "--ignore-not-found", "-o", "name").strip())

    return {
        "serviceaccount": exists("-n", "kube-system", "serviceaccount", "bosun-manager"),
        "token": exists("-n", "kube-system", "secret", "bosun-manager-long-lived-token"),
        "clusterrole": exists("clusterroles.rbac.authorization.k8s.io", "bosun-manager-role"),
        "binding": exists("clusterrolebindings.rbac.authorization.k8s.io", "bosun-manager-role-binding"),
    }


def test_cluster_add_installs_bosun_manager_and_an_app_syncs_with_its_token(
    bosun: Bosun, devcluster_a: Cluster, devcluster_b: Cluster, tmp_path: Path
) -> None:
    name = unique("managed")
    context = yaml.safe_load(devcluster_b.kubeconfig.read_text())["current-context"]
    added = bosun.cli("cluster", "add", context, "--kubeconfig", str(devcluster_b.kubeconfig), "--name", name)
    assert "installed ServiceAccount kube-system/bosun-manager with ClusterRole bosun-manager-role" in added.stderr
    assert manager_objects(devcluster_b) == dict.fromkeys(("serviceaccount", "token", "clusterrole", "binding"), True)
    token_secret = kubectl_json(devcluster_b, "-n", "kube-system", "get", "secret", "bosun-manager-long-lived-token")
    assert token_secret["type"] == "kubernetes.io/service-account-token"

    [secret] = [
        s
        for s in kubectl_json(
            devcluster_a, "-n", "bosun", "get", "secrets", "-l", "argocd.argoproj.io/secret-type=cluster"
        )["items"]
        if base64.b64decode(s["data"]["name"]).decode() == name
    ]
    config = json.loads(base64.b64decode(secret["data"]["config"]))
    # The bosun-manager token and the CA: never the operator's client certificate.
    assert config["bearerToken"] == base64.b64decode(token_secret["data"]["token"]).decode()
    assert set(config["tlsClientConfig"]) == {"insecure", "caData"}
    assert secret["metadata"]["annotations"] == {
        "bosun.dev/manager": "kube-system/bosun-manager",
        "bosun.dev/manager-context": context,
    }
    listed = json.loads(bosun.cli("cluster", "list", "-o", "json").stdout)
    assert next(c for c in listed if c["name"] == name)["auth"] == "token"

    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("managed", {"via": "bosun-manager"})})
    app, ns = unique("managed"), unique("managed")
    bosun.create_app(app, repo, namespace=ns, server="", extra_spec={"destination": {"name": name, "namespace": ns}})
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=180)
    assert (live(devcluster_b, ns, "configmap", "managed") or {}).get("data") == {"via": "bosun-manager"}
    bosun.cli("app", "delete", app)

    removed = bosun.cli("cluster", "rm", name, "--kubeconfig", str(devcluster_b.kubeconfig))
    assert "ServiceAccount kube-system/bosun-manager" in removed.stdout and f"removed {name}" in removed.stdout
    assert manager_objects(devcluster_b) == dict.fromkeys(("serviceaccount", "token", "clusterrole", "binding"), False)
    kubectl(devcluster_b, "delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def test_cluster_add_with_namespaces_gives_bosun_manager_roles_there_only(
    bosun: Bosun, devcluster_b: Cluster, tmp_path: Path
) -> None:
    name, web, other = unique("web-only"), unique("web"), unique("other")
    for ns in (web, other):
        kubectl(devcluster_b, "create", "namespace", ns)
    context = yaml.safe_load(devcluster_b.kubeconfig.read_text())["current-context"]
    try:
        added = bosun.cli(
            "cluster", "add", context, "--kubeconfig", str(devcluster_b.kubeconfig), "--name", name, "--namespace", web
        )
        assert f"installed ServiceAccount kube-system/bosun-manager with Roles in {web}" in added.stderr
        assert manager_objects(devcluster_b)["clusterrole"] is False
        can_i = ["auth", "can-i", "create", "configmaps", "--as=system:serviceaccount:kube-system:bosun-manager"]
        assert kubectl(devcluster_b, *can_i, "-n", web).strip() == "yes"
        assert kubectl(devcluster_b, *can_i, "-n", other, check=False).strip() == "no"

        repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("scoped", {"in": "web"})})
        app = unique("scoped")
        no_namespace_creation = {"syncPolicy": {"automated": {"prune": False, "selfHeal": False}}}
        bosun.create_app(
            app,
            repo,
            namespace=web,
            server="",
            extra_spec={"destination": {"name": name, "namespace": web}, **no_namespace_creation},
        )
        wait_status(bosun, app, sync="Synced", health="Healthy", timeout=180)
        assert live(devcluster_b, web, "configmap", "scoped") is not None
        bosun.cli("app", "delete", app)
    finally:
        bosun.cli("cluster", "rm", name, "--kubeconfig", str(devcluster_b.kubeconfig), check=False)
        for ns in (web, other):
            kubectl(devcluster_b, "delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
    assert kubectl(devcluster_b, "-n", web, "get", "roles.rbac.authorization.k8s.io", "-o", "name").strip() == ""
    assert manager_objects(devcluster_b)["serviceaccount"] is False


def test_an_exec_context_installs_bosun_manager_and_is_refused_with_own_credentials(
    bosun: Bosun, devcluster_b: Cluster, tmp_path: Path
) -> None:
    """An EKS/GKE-style context: its user is an ``exec`` plugin (here one printing B's admin
    client certificate as an ExecCredential). Its short-lived output cannot be stored, but
    it can install bosun-manager, whose token can."""
    config = yaml.safe_load(devcluster_b.kubeconfig.read_text())
    admin = config["users"][0]["user"]
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {
            "clientCertificateData": base64.b64decode(admin["client-certificate-data"]).decode(),
            "clientKeyData": base64.b64decode(admin["client-key-data"]).decode(),
        },
    }
    (tmp_path / "credential.json").write_text(json.dumps(credential))
    plugin = tmp_path / "credential-plugin"
    plugin.write_text(f"#!/bin/sh\nexec cat {tmp_path / 'credential.json'}\n")
    plugin.chmod(0o700)
    config["users"][0]["user"] = {
        "exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}
    }
    path = tmp_path / "exec-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    context, name = config["current-context"], unique("exec")

    refused = bosun.cli("cluster", "add", context, "--kubeconfig", str(path), "--use-own-credentials", check=False)
    assert refused.returncode == 2, refused.stderr
    assert "authenticates with exec" in refused.stderr
    assert "let Bosun install its bosun-manager ServiceAccount there" in refused.stderr

    added = bosun.cli("cluster", "add", context, "--kubeconfig", str(path), "--name", name)
    assert "installed ServiceAccount kube-system/bosun-manager" in added.stderr
    listed = json.loads(bosun.cli("cluster", "list", "-o", "json").stdout)
    assert next(c for c in listed if c["name"] == name)["auth"] == "token"
    bosun.cli("cluster", "rm", name, "--kubeconfig", str(path))
    assert manager_objects(devcluster_b)["serviceaccount"] is False
