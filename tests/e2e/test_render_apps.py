"""Helm, Kustomize, Jsonnet and multi-source apps reach Synced and Healthy (issue 4)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl_json
from tests.e2e.test_app_lifecycle import live, wait_status

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "values.yaml": "replicas: 1\nimage: nginx:1.27\nmessage: from values.yaml\n",
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}-web}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}-web}}
    spec:
      containers: [{name: web, image: {{ .Values.image | quote }}}]
""",
    "templates/config.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
""",
    "values-production.yaml": "replicas: 3\nmessage: from values-production.yaml\n",
}

KUSTOMIZE = {
    "base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
    "base/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata: {name: kafka-processor}
spec:
  replicas: 1
  selector: {matchLabels: {app: kafka-processor}}
  template:
    metadata: {labels: {app: kafka-processor}}
    spec:
      containers: [{name: processor, image: org/kafka-processor:1.0}]
""",
    "base/service.yaml": """apiVersion: v1
kind: Service
metadata: {name: kafka-processor}
spec:
  selector: {app: kafka-processor}
  ports: [{port: 80, targetPort: 8080}]
""",
    **{
        f"overlays/{env}/kustomization.yaml": (
            f"resources: [../../base]\nnamePrefix: {env[:3]}-\nreplicas: [{{name: kafka-processor, count: {n}}}]\n"
        )
        for env, n in (("development", 1), ("staging", 2), ("production", 3))
    },
}

JSONNET = {
    "app/main.jsonnet": """function(replicas=1, name='jn') {
  local env = std.extVar('environment'),
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: name + '-config'}, data: {environment: env}},
    {apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: name},
     spec: {replicas: replicas, selector: {matchLabels: {app: name}},
            template: {metadata: {labels: {app: name}},
                       spec: {containers: [{name: 'main', image: 'nginx:1.27'}]}}}},
  ],
}
""",
}


def create(bosun: Bosun, name: str, spec: dict[str, Any]) -> None:
    document = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {"syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]}, **spec},
    }
    path = bosun.home / f"{name}.json"
    path.write_text(json.dumps(document))
    bosun.cli("app", "create", "-f", str(path), "--refresh-seconds", "3")


def destination(ns: str) -> dict[str, str]:
    return {"server": "https://kubernetes.default.svc", "namespace": ns}


def test_helm_chart_with_production_values_and_parameters(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "repo", {f"charts/web/{k}": v for k, v in CHART.items()})
    app, ns = unique("helm"), unique("ns")
    create(
        bosun,
        app,
        {
            "source": {
                "repoURL": repo.url,
                "path": "charts/web",
                "targetRevision": "HEAD",
                "helm": {
                    "valueFiles": ["values-production.yaml"],
                    "parameters": [{"name": "message", "value": "from a parameter"}],
                },
            },
            "destination": destination(ns),
        },
    )
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    web = live(devcluster_a, ns, "deployment", f"{app}-web")
    assert web and web["status"]["availableReplicas"] == 3
    config = live(devcluster_a, ns, "configmap", f"{app}-config")
    assert config and config["data"]["message"] == "from a parameter"
    assert config["data"]["kube"].startswith("v1.36")  # --kube-version from the destination


@pytest.fixture(scope="module")
def chart_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Helm chart repository on loopback: ``helm package`` + ``helm repo index`` over HTTP."""
    from devstack import tools

    helm = str(tools.helm())
    work = tmp_path_factory.mktemp("chart-repo")
    served = work / "served"
    (served / "charts").mkdir(parents=True)
    source = work / "web"
    for name, text in {**CHART, "Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.4.2\n"}.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    env = {"HOME": str(work), "PATH": os.environ["PATH"]}
    subprocess.run(
        [helm, "package", str(source), "-d", str(served / "charts")], env=env, check=True, capture_output=True
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/charts"
    subprocess.run(
        [helm, "repo", "index", str(served / "charts"), "--url", url], env=env, check=True, capture_output=True
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url
    server.shutdown()


def test_chart_pulled_from_a_helm_repository_by_name_and_version(
    bosun: Bosun, devcluster_a: Cluster, chart_repository: str
) -> None:
    app, ns = unique("chart"), unique("ns")
    create(
        bosun,
        app,
        {
            "source": {"repoURL": chart_repository, "chart": "web", "targetRevision": "1.4.2"},
            "destination": destination(ns),
        },
    )
    status = wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    assert status["revision"] == "1.4.2"
    assert live(devcluster_a, ns, "deployment", f"{app}-web") is not None


def test_chart_with_a_vendored_dependency(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    files = {f"umbrella/charts/web/{k}": v for k, v in CHART.items()}
    files["umbrella/Chart.yaml"] = (
        "apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n- name: web\n  version: 0.1.0\n"
    )
    files["umbrella/values.yaml"] = "web:\n  replicas: 2\n"
    repo = GitRepo.create(tmp_path / "repo", files)
    app, ns = unique("umbrella"), unique("ns")
    create(
        bosun,
        app,
        {"source": {"repoURL": repo.url, "path": "umbrella", "targetRevision": "HEAD"}, "destination": destination(ns)},
    )
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    web = live(devcluster_a, ns, "deployment", f"{app}-web")
    assert web and web["spec"]["replicas"] == 2


def test_kustomize_base_with_three_overlays_and_an_images_override(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path / "repo", KUSTOMIZE)
    ns = unique("ns")
    apps = {env: unique(f"kafka-{env[:3]}") for env in ("development", "staging", "production")}
    for env, app in apps.items():
        create(
            bosun,
            app,
            {
                "source": {
                    "repoURL": repo.url,
                    "path": f"overlays/{env}",
                    "targetRevision": "HEAD",
                    "kustomize": {"images": ["org/kafka-processor:latest"]},
                },
                "destination": destination(f"{ns}-{env[:3]}"),
            },
        )
    for env, app in apps.items():
        wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
        deployment = live(devcluster_a, f"{ns}-{env[:3]}", "deployment", f"{env[:3]}-kafka-processor")
        assert deployment, env
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "org/kafka-processor:latest"
        assert deployment["spec"]["replicas"] == {"development": 1, "staging": 2, "production": 3}[env]


def test_jsonnet_app_with_tlas_and_ext_vars(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "repo", JSONNET)
    app, ns = unique("jsonnet"), unique("ns")
    create(
        bosun,
        app,
        {
            "source": {
                "repoURL": repo.url,
                "path": "app",
                "targetRevision": "HEAD",
                "directory": {
                    "jsonnet": {
                        "tlas": [
                            {"name": "replicas", "value": "2", "code": True},
                            {"name": "name", "value": "reports"},
                        ],
                        "extVars": [{"name": "environment", "value": "production"}],
                    }
                },
            },
            "destination": destination(ns),
        },
    )
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    deployment = live(devcluster_a, ns, "deployment", "reports")
    assert deployment and deployment["status"]["availableReplicas"] == 2
    config = live(devcluster_a, ns, "configmap", "reports-config")
    assert config and config["data"]["environment"] == "production"


def test_two_source_app_takes_values_from_a_second_repository(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    pipeline = GitRepo.create(tmp_path / "pipeline", {f"charts/web/{k}": v for k, v in CHART.items()})
    environments = GitRepo.create(
        tmp_path / "environments", {"envs/prod/values.yaml": "replicas: 2\nmessage: from the environments repository\n"}
    )
    app, ns = unique("multi"), unique("ns")
    create(
        bosun,
        app,
        {
            "sources": [
                {
                    "repoURL": pipeline.url,
                    "path": "charts/web",
                    "targetRevision": "HEAD",
                    "helm": {"valueFiles": ["$values/envs/prod/values.yaml"]},
                },
                {"repoURL": environments.url, "targetRevision": "HEAD", "ref": "values"},
            ],
            "destination": destination(ns),
        },
    )
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    config = live(devcluster_a, ns, "configmap", f"{app}-config")
    assert config and config["data"]["message"] == "from the environments repository"
    commit = environments.write({"envs/prod/values.yaml": "replicas: 3\nmessage: changed\n"}, "prod: 3")
    eventually(
        lambda: (live(devcluster_a, ns, "deployment", f"{app}-web") or {}).get("spec", {}).get("replicas") == 3,
        timeout=90,
        what="a commit to the values repository applied",
    )
    assert commit in bosun.status(app)["revisions"]


@pytest.mark.parametrize(
    ("files", "source", "named"),
    [
        (
            {"ok/cm.json": '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}'},
            {"path": "../.."},
            "'../..'",
        ),
        (
            {f"charts/web/{k}": v for k, v in CHART.items()},
            {"path": "charts/web", "helm": {"valueFiles": ["../../../../etc/passwd"]}},
            "../../../../etc/passwd",
        ),
    ],
)
def test_path_escapes_are_refused_with_a_message_naming_the_path(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path, files: dict[str, str], source: dict[str, Any], named: str
) -> None:
    repo = GitRepo.create(tmp_path / "repo", files)
    app, ns = unique("escape"), unique("ns")
    create(
        bosun,
        app,
        {"source": {"repoURL": repo.url, "targetRevision": "HEAD", **source}, "destination": destination(ns)},
    )

    def condition() -> str | None:
        return next((c["message"] for c in bosun.status(app)["conditions"] if c["type"] == "ComparisonError"), None)

    message = eventually(condition, timeout=60, what="a refusal")
    assert named in message and "outside the repository" in message
    namespaces = {n["metadata"]["name"] for n in kubectl_json(devcluster_a, "get", "namespaces")["items"]}
    assert ns not in namespaces  # nothing applied


def test_symlink_out_of_the_repository_is_refused(bosun: Bosun, tmp_path: Path) -> None:
    repo = GitRepo.create(
        tmp_path / "repo", {"app/cm.json": '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}'}
    )
    (repo.path / "app" / "secrets").symlink_to("/etc")
    repo.write({}, "add a link out")
    app, ns = unique("symlink"), unique("ns")
    create(
        bosun,
        app,
        {"source": {"repoURL": repo.url, "path": "app", "targetRevision": "HEAD"}, "destination": destination(ns)},
    )

    def condition() -> str | None:
        return next((c["message"] for c in bosun.status(app)["conditions"] if c["type"] == "ComparisonError"), None)

    message = eventually(condition, timeout=60, what="a refusal")
    assert "app/secrets" in message and "outside the repository" in message
