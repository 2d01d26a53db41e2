"""Helm sources rendered with the real helm binary, on small charts written to tmp dirs."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import http.server
import json
import os
import re
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from activities.credentials import RepoCredentials, StaticCredentialStore
from activities.renderers import RenderError, render_source, tools
from activities.renderers.tools import BuildEnv, ToolRun
from bosun.resources import Manifest
from tests.unit.render_support import one_of_kind as by_kind
from tests.unit.render_support import write_tree

CHART = {
    "Chart.yaml": """
apiVersion: v2
name: web
version: 1.2.0
""",
    "values.yaml": """
replicas: 1
image: nginx:1.27
message: from values.yaml
flag: false
list: []
""",
    "templates/deployment.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
""",
    "templates/config.yaml": """
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
  flag: {{ kindOf .Values.flag | quote }}
  list: {{ .Values.list | join ";" | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
  {{- with .Values.file }}
  file: {{ . | quote }}
  {{- end }}
""",
    "templates/migrate.yaml": """
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: busybox}]
""",
    "templates/tests/smoke.yaml": """
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-smoke
  annotations: {helm.sh/hook: test}
spec:
  containers: [{name: smoke, image: busybox}]
""",
    "crds/widget.yaml": """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true,
              schema: {openAPIV3Schema: {type: object}}}]
""",
    "values-production.yaml": """
replicas: 5
message: from values-production.yaml
""",
}


@pytest.fixture(scope="module", autouse=True)
def helm_binary() -> Iterator[Path]:
    """The helm the local stack builds (built here if missing); found via BOSUN_HELM."""
    from devstack import tools

    path = tools.helm()
    previous = os.environ.get("BOSUN_HELM")
    os.environ["BOSUN_HELM"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("BOSUN_HELM", None)
    else:
        os.environ["BOSUN_HELM"] = previous


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    checkout = tmp_path / "repo"
    write_tree(checkout / "charts" / "web", CHART)
    write_tree(checkout, {"envs/prod/values.yaml": "message: from envs/prod\n", "files/banner.txt": "hello, file\n"})
    return checkout


def render(checkout: Path, helm: dict[str, Any] | None = None, **kwargs: Any) -> list[Manifest]:
    source: dict[str, Any] = {"repoURL": "https://git.example.com/app.git", "path": "charts/web"}
    if helm is not None:
        source["helm"] = helm
    kwargs.setdefault("app", "shop")
    kwargs.setdefault("namespace", "prod")
    return render_source(checkout, source, **kwargs)


def config(objects: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = by_kind(objects, "ConfigMap")["data"]
    return data


def test_chart_detected_release_named_after_app_namespace_from_destination(repo: Path) -> None:
    objects = render(repo)
    deployment = by_kind(objects, "Deployment")
    assert deployment["metadata"] == {"name": "shop-web", "namespace": "prod"}
    assert deployment["spec"]["replicas"] == 1
    assert config(objects)["message"] == "from values.yaml"
    # CRDs from crds/ are included (Argo CD passes --include-crds), hooks keep their annotations.
    assert by_kind(objects, "CustomResourceDefinition")["metadata"]["name"] == "widgets.example.com"
    job = by_kind(objects, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert by_kind(objects, "Pod")["metadata"]["annotations"] == {"helm.sh/hook": "test"}


def test_release_name_and_namespace_options(repo: Path) -> None:
    objects = render(repo, {"releaseName": "blue", "namespace": "shop-blue"})
    assert by_kind(objects, "Deployment")["metadata"] == {"name": "blue-web", "namespace": "shop-blue"}


def test_value_files_then_values_then_parameters(repo: Path) -> None:
    objects = render(
        repo,
        {
            "valueFiles": ["values-production.yaml", "/envs/prod/values.yaml"],
            "values": "image: nginx:1.28\n",
            "parameters": [
                {"name": "replicas", "value": "7"},
                {"name": "flag", "value": "true", "forceString": True},
                {"name": "list", "value": "{a,b}"},
            ],
        },
    )
    assert by_kind(objects, "Deployment")["spec"]["replicas"] == 7
    assert by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"] == ("nginx:1.28")
    data = config(objects)
    assert data["message"] == "from envs/prod"  # later value files win; "/" is the repo root
    assert data["flag"] == "string"  # forceString → --set-string
    assert data["list"] == "a;b"  # {a,b} stays a Helm list


def test_values_object_wins_over_values(repo: Path) -> None:
    objects = render(
        repo, {"values": "message: from values\n", "valuesObject": {"message": "from valuesObject", "replicas": 2}}
    )
    assert config(objects)["message"] == "from valuesObject"
    assert by_kind(objects, "Deployment")["spec"]["replicas"] == 2


def test_parameter_commas_are_escaped_and_build_env_substituted(repo: Path) -> None:
    parameter = {"name": "message", "value": "a,b for $ARGOCD_APP_NAME"}
    objects = render(repo, {"parameters": [parameter]})
    assert config(objects)["message"] == "a,b for shop"


def test_file_parameters(repo: Path) -> None:
    objects = render(repo, {"fileParameters": [{"name": "file", "path": "../../files/banner.txt"}]})
    assert config(objects)["file"] == "hello, file\n"


def test_ignore_missing_value_files(repo: Path) -> None:
    with pytest.raises(RenderError, match="value file 'values-staging.yaml' not found"):
        render(repo, {"valueFiles": ["values-staging.yaml"]})
    objects = render(
        repo, {"valueFiles": ["values-staging.yaml", "values-production.yaml"], "ignoreMissingValueFiles": True}
    )
    assert by_kind(objects, "Deployment")["spec"]["replicas"] == 5


def test_kube_version_and_api_versions_from_the_cluster_or_the_source(repo: Path) -> None:
    data = config(render(repo, kube_version="v1.31.2", api_versions=["monitoring.coreos.com/v1"]))
    assert (data["kube"], data["monitoring"]) == ("v1.31.2", "true")
    data = config(
        render(
            repo,
            {"kubeVersion": "1.29.0", "apiVersions": ["batch/v1"]},
            kube_version="v1.31.2",
            api_versions=["monitoring.coreos.com/v1"],
        )
    )
    assert (data["kube"], data["monitoring"]) == ("v1.29.0", "false")


def test_chart_kube_version_constraint_error_quotes_helm(repo: Path) -> None:
    chart = repo / "charts" / "web" / "Chart.yaml"
    chart.write_text(chart.read_text() + "kubeVersion: '>=1.40.0-0'\n")
    with pytest.raises(RenderError, match=r"helm template charts/web: .*incompatible"):
        render(repo, kube_version="1.36.4")


def test_skip_crds_and_skip_tests(repo: Path) -> None:
    kinds = {o["kind"] for o in render(repo, {"skipCrds": True, "skipTests": True})}
    assert "CustomResourceDefinition" not in kinds
    assert "Pod" not in kinds
    assert {"Deployment", "ConfigMap", "Job"} <= kinds


def test_template_error_quotes_helm_with_repo_relative_paths(repo: Path) -> None:
    (repo / "charts/web/templates/broken.yaml").write_text("{{ .Values.nope.deeper }}\n")
    with pytest.raises(RenderError) as info:
        render(repo)
    message = str(info.value)
    assert "helm template charts/web" in message and "nil pointer" in message
    assert str(repo) not in message


# -- dependencies


SUBCHART = {
    "Chart.yaml": "apiVersion: v2\nname: cache\nversion: 0.3.0\n",
    "values.yaml": "size: 1\n",
    "templates/cm.yaml": """
apiVersion: v1
kind: ConfigMap
metadata: {name: "{{ .Release.Name }}-cache"}
data: {size: "{{ .Values.size }}"}
""",
}


def add_dependency(chart: Path, repository: str) -> None:
    text = (chart / "Chart.yaml").read_text()
    line = f"    repository: {repository}\n" if repository else ""
    (chart / "Chart.yaml").write_text(text + f"dependencies:\n  - name: cache\n    version: 0.3.0\n{line}")


def test_vendored_dependency(repo: Path) -> None:
    chart = repo / "charts" / "web"
    write_tree(chart / "charts" / "cache", SUBCHART)
    add_dependency(chart, "")
    objects = render(repo, {"parameters": [{"name": "cache.size", "value": "3"}]})
    assert {o["metadata"]["name"]: o.get("data") for o in objects if o["kind"] == "ConfigMap"}["shop-cache"] == {
        "size": "3"
    }


def test_dependency_from_a_local_directory_is_built(repo: Path) -> None:
    write_tree(repo / "charts" / "cache", SUBCHART)
    add_dependency(repo / "charts" / "web", "file://../cache")
    names = {o["metadata"]["name"] for o in render(repo)}
    assert "shop-cache" in names


def test_dependency_from_an_unreachable_repository_names_chart_and_repository(repo: Path) -> None:
    add_dependency(repo / "charts" / "web", "http://127.0.0.1:9/charts")
    with pytest.raises(RenderError) as info:
        render(repo)
    message = str(info.value)
    assert "chart 'web'" in message
    assert "cache 0.3.0 from http://127.0.0.1:9/charts" in message
    assert "connection refused" in message


def test_dependency_outside_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "elsewhere" / "cache", SUBCHART)
    add_dependency(repo / "charts" / "web", "file://../../../elsewhere/cache")
    with pytest.raises(RenderError, match="'file://../../../elsewhere/cache', outside the repo"):
        render(repo)


# -- paths that try to leave the repository (CVE-2022-24348 / CVE-2022-24730 class)


@pytest.mark.parametrize(
    ("helm", "message"),
    [
        (
            {"valueFiles": ["../../../etc/passwd"]},
            "value file '../../../etc/passwd' resolves outside the repository: refused",
        ),
        (
            {"valueFiles": ["../../../../../../../../etc/passwd"], "ignoreMissingValueFiles": True},
            "resolves outside the repository: refused",
        ),
        (
            {"fileParameters": [{"name": "file", "path": "../../../../etc/hostname"}]},
            "file parameter '../../../../etc/hostname' resolves outside the repository: refused",
        ),
        # Argo CD: a leading "/" is the repository root, never the worker's file system.
        ({"valueFiles": ["/etc/passwd"]}, "value file '/etc/passwd' not found in the repository"),
        ({"valueFiles": ["https://example.com/values.yaml"]}, "is a URL; remote value files are not"),
        ({"valueFiles": ["$values/envs/prod.yaml"]}, "which no source of this app declares"),
    ],
)
def test_paths_outside_the_repository_are_refused(repo: Path, helm: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message.replace("$", r"\$").replace("(", r"\(")):
        render(repo, helm)


def test_value_file_symlink_out_of_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("message: stolen\n")
    (repo / "charts/web/values-leak.yaml").symlink_to(secret)
    with pytest.raises(RenderError, match="charts/web/values-leak.yaml is a link to .*outside"):
        render(repo, {"valueFiles": ["values-leak.yaml"]})


def test_template_symlinked_to_a_host_file_is_refused(repo: Path) -> None:
    (repo / "charts/web/templates/passwd.yaml").symlink_to("/etc/passwd")
    with pytest.raises(RenderError, match="charts/web/templates/passwd.yaml is a link to '/etc/passwd'"):
        render(repo)


def test_source_path_outside_the_repository_is_refused(repo: Path) -> None:
    with pytest.raises(RenderError, match="source path '../..' resolves outside the repository"):
        render_source(repo, {"repoURL": "https://git.example.com/a.git", "path": "../..", "helm": {"releaseName": "x"}})


# -- charts from a Helm repository on loopback


@pytest.fixture(scope="module")
def chart_repository(tmp_path_factory: pytest.TempPathFactory, helm_binary: Path) -> Iterator[str]:
    """``helm package`` + ``helm repo index``, served by http.server on 127.0.0.1."""
    work = tmp_path_factory.mktemp("chartrepo")
    served = work / "served"
    served.mkdir()
    env = {"HOME": str(work), "PATH": "/usr/bin:/bin"}
    for version, message in (("1.2.0", "one-two"), ("1.3.0", "one-three")):
        source = write_tree(
            work / f"web-{version}",
            {
                **CHART,
                "Chart.yaml": f"apiVersion: v2\nname: web\nversion: {version}\n",
                "values.yaml": CHART["values.yaml"].replace("from values.yaml", message),
            },
        )
        subprocess.run(
            [str(helm_binary), "package", str(source), "-d", str(served)], env=env, check=True, capture_output=True
        )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(served)))
    url = f"http://127.0.0.1:{server.server_address[1]}/charts"
    (served / "charts").mkdir()
    for archive in served.glob("*.tgz"):
        archive.rename(served / "charts" / archive.name)
    subprocess.run(
        [str(helm_binary), "repo", "index", str(served / "charts"), "--url", url],
        env=env,
        check=True,
        capture_output=True,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_chart_from_a_helm_repository_by_name_and_version(chart_repository: str, tmp_path: Path) -> None:
    source = {
        "repoURL": chart_repository,
        "chart": "web",
        "targetRevision": "1.2.0",
        "helm": {"valueFiles": ["values-production.yaml"]},
    }
    objects = render_source(tmp_path, source, app="shop", namespace="prod")
    assert config(objects)["message"] == "from values-production.yaml"
    assert by_kind(objects, "Deployment")["spec"]["replicas"] == 5
    latest = render_source(
        tmp_path, {"repoURL": chart_repository, "chart": "web", "targetRevision": "1.*"}, app="shop", namespace="prod"
    )
    assert config(latest)["message"] == "one-three"


def test_chart_version_not_in_the_repository(chart_repository: str, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"helm pull web 9\.9\.9 from http://127\.0\.0\.1:\d+/charts"):
        render_source(tmp_path, {"repoURL": chart_repository, "chart": "web", "targetRevision": "9.9.9"}, app="shop")


def test_chart_repository_value_file_cannot_leave_the_chart(chart_repository: str, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="value file '../../../etc/passwd' resolves outside"):
        render_source(
            tmp_path,
            {
                "repoURL": chart_repository,
                "chart": "web",
                "targetRevision": "1.2.0",
                "helm": {"valueFiles": ["../../../etc/passwd"]},
            },
            app="shop",
        )


# -- charts from an OCI registry on loopback


class _Registry(http.server.BaseHTTPRequestHandler):
    """A read-only OCI distribution API (what ``helm pull`` uses) over ``blobs`` and ``tags``."""

    blobs: dict[str, tuple[str, bytes]] = {}
    tags: dict[str, dict[str, str]] = {}

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        path = self.path.split("?")[0]
        found: tuple[str, bytes] | None = None
        if path == "/v2/":
            found = ("application/json", b"{}")
        elif m := re.fullmatch(r"/v2/(.+)/tags/list", path):
            if m.group(1) in self.tags:
                found = (
                    "application/json",
                    json.dumps({"name": m.group(1), "tags": sorted(self.tags[m.group(1)])}).encode(),
                )
        elif m := re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", path):
            reference = m.group(3)
            digest = self.tags.get(m.group(1), {}).get(reference, reference)
            found = self.blobs.get(digest)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        media_type, data = found
        self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _blob(media_type: str, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _Registry.blobs[digest] = (media_type, data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


@pytest.fixture(scope="module")
def oci_registry(tmp_path_factory: pytest.TempPathFactory, helm_binary: Path) -> Iterator[str]:
    work = tmp_path_factory.mktemp("oci")
    env = {"HOME": str(work), "PATH": "/usr/bin:/bin"}
    for version, message in (("2.0.0", "two-oh"), ("2.1.0", "two-one")):
        source = write_tree(
            work / f"web-{version}",
            {
                **CHART,
                "Chart.yaml": f"apiVersion: v2\nname: web\nversion: {version}\n",
                "values.yaml": CHART["values.yaml"].replace("from values.yaml", message),
            },
        )
        subprocess.run(
            [str(helm_binary), "package", str(source), "-d", str(work)], env=env, check=True, capture_output=True
        )
        chart = (work / f"web-{version}.tgz").read_bytes()
        config = json.dumps({"apiVersion": "v2", "name": "web", "version": version}).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": _blob("application/vnd.cncf.helm.config.v1+json", config),
                "layers": [_blob("application/vnd.cncf.helm.chart.content.v1.tar+gzip", chart)],
            }
        ).encode()
        digest = _blob("application/vnd.oci.image.manifest.v1+json", manifest)["digest"]
        _Registry.tags.setdefault("charts/web", {})[version] = digest
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"oci://127.0.0.1:{server.server_address[1]}/charts"
    server.shutdown()


def test_chart_from_an_oci_registry(oci_registry: str, tmp_path: Path) -> None:
    objects = render_source(
        tmp_path, {"repoURL": oci_registry, "chart": "web", "targetRevision": "2.0.0"}, app="shop", namespace="prod"
    )
    assert config(objects)["message"] == "two-oh"
    assert by_kind(objects, "Deployment")["metadata"] == {"name": "shop-web", "namespace": "prod"}
    # Argo CD also accepts the registry without the oci:// scheme.
    bare = oci_registry.removeprefix("oci://")
    objects = render_source(tmp_path, {"repoURL": bare, "chart": "web", "targetRevision": "2.1.0"}, app="shop")
    assert config(objects)["message"] == "two-one"
    objects = render_source(tmp_path, {"repoURL": oci_registry, "chart": "web", "targetRevision": "~2.0"}, app="shop")
    assert config(objects)["message"] == "two-oh"


@pytest.mark.parametrize("chart", ["--untardir=/tmp", "../web", "a/b", ""])
def test_chart_name_must_be_a_name(chart_repository: str, tmp_path: Path, chart: str) -> None:
    with pytest.raises(RenderError, match="is not a chart name"):
        render_source(
            tmp_path, {"repoURL": chart_repository, "chart": chart or " ", "targetRevision": "1.2.0"}, app="shop"
        )


def test_values_that_look_like_flags_stay_values(repo: Path) -> None:
    objects = render(repo, {"parameters": [{"name": "message", "value": "--kube-version=0.1"}]})
    assert config(objects)["message"] == "--kube-version=0.1"
    with pytest.raises(RenderError, match='release name "--debug": invalid release name'):
        render(repo, {"releaseName": "--debug"})


# -- private Helm repositories and OCI registries (Argo CD's `type: helm` repository Secrets)


USER, PASSWORD = "deploy", "pw-9f2c41d7e0b8a635"


def _authorized(handler: http.server.BaseHTTPRequestHandler) -> bool:
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return hmac.compare_digest(handler.headers.get("Authorization", ""), expected)


def _refuse(handler: http.server.BaseHTTPRequestHandler) -> None:
    handler.send_response(401)
    handler.send_header("WWW-Authenticate", 'Basic realm="charts"')
    handler.send_header("Content-Length", "0")
    handler.end_headers()


class _PrivateHandler(_QuietHandler):
    """Static files behind Basic auth, as a private chart repository serves them."""

    def do_GET(self) -> None:
        if not _authorized(self):
            _refuse(self)
            return
        super().do_GET()


class _PrivateRegistry(_Registry):
    def _serve(self, *, body: bool) -> None:
        if not _authorized(self):
            _refuse(self)
            return
        super()._serve(body=body)


def helm_store(url: str, *, password: str = PASSWORD, **fields: Any) -> StaticCredentialStore:
    return StaticCredentialStore(
        [
            RepoCredentials(
                url=url, repo_type="helm", secret="private-charts", username=USER, password=password, **fields
            )
        ]
    )


@pytest.fixture(scope="module")
def private_chart_repository(tmp_path_factory: pytest.TempPathFactory, helm_binary: Path) -> Iterator[str]:
    """``web`` 1.2.0 and the ``cache`` subchart, served only to ``deploy:PASSWORD``."""
    work = tmp_path_factory.mktemp("private-charts")
    served = work / "served"
    (served / "charts").mkdir(parents=True)
    env = {"HOME": str(work), "PATH": "/usr/bin:/bin"}
    for name, files in (
        (
            "web",
            {**CHART, "values.yaml": CHART["values.yaml"].replace("from values.yaml", "from a private repository")},
        ),
        ("cache", SUBCHART),
    ):
        source = write_tree(work / name, files)
        subprocess.run(
            [str(helm_binary), "package", str(source), "-d", str(served / "charts")],
            env=env,
            check=True,
            capture_output=True,
        )
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_PrivateHandler, directory=str(served))
    )
    url = f"http://127.0.0.1:{server.server_address[1]}/charts"
    subprocess.run(
        [str(helm_binary), "repo", "index", str(served / "charts"), "--url", url],
        env=env,
        check=True,
        capture_output=True,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def private_oci_registry(oci_registry: str) -> Iterator[str]:
    """The charts of ``oci_registry``, behind Basic auth."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PrivateRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"oci://127.0.0.1:{server.server_address[1]}/charts"
    server.shutdown()


@dataclass
class Spawned:
    argv: list[str]
    stdin: bytes | None
    private_dirs: list[int]
    """The mode of each directory a ``--repository-config`` / ``--registry-config`` names."""


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[Spawned]:
    """Every process the renderers start: what any user could read in ``/proc``."""
    seen: list[Spawned] = []
    real = tools._run

    def record(argv: list[str], **kwargs: Any) -> Any:
        modes = [
            stat.S_IMODE(Path(a.split("=", 1)[1]).parent.stat().st_mode)
            for a in argv
            if a.startswith(("--repository-config=", "--registry-config="))
        ]
        seen.append(Spawned(list(argv), kwargs.get("stdin"), modes))
        return real(argv, **kwargs)

    monkeypatch.setattr(tools, "_run", record)
    return seen


def chart_source(url: str, **extra: Any) -> dict[str, Any]:
    return {"repoURL": url, "chart": "web", "targetRevision": "1.2.0", **extra}


def test_private_chart_is_pulled_with_the_password_on_stdin_only(
    private_chart_repository: str, tmp_path: Path, spawned: list[Spawned]
) -> None:
    objects = render_source(
        tmp_path,
        chart_source(private_chart_repository),
        app="shop",
        namespace="prod",
        credentials=helm_store(private_chart_repository),
    )
    assert config(objects)["message"] == "from a private repository"
    assert not [s.argv for s in spawned if any(PASSWORD in a for a in s.argv)]
    helm = [s.argv[1:3] for s in spawned]
    assert helm[:2] == [["repo", "add"], ["pull", "--untar"]]
    login = spawned[0]
    assert login.stdin == PASSWORD.encode() and f"--username={USER}" in login.argv
    assert "--password-stdin" in login.argv and "--password" not in login.argv
    assert {mode for s in spawned[:2] for mode in s.private_dirs} == {0o700}
    assert [s.stdin for s in spawned[1:]] == [None] * (len(spawned) - 1)


def test_private_chart_without_credentials_names_the_repository(
    private_chart_repository: str, tmp_path: Path, spawned: list[Spawned]
) -> None:
    with pytest.raises(RenderError) as info:
        render_source(tmp_path, chart_source(private_chart_repository), app="shop")
    message = str(info.value)
    assert message.startswith(
        f"Helm repository {private_chart_repository} requires credentials and none are configured for it"
    )
    assert "bosun repo add" in message and "401" in message
    # without credentials helm runs exactly as before: one pull straight from the URL
    assert [s.argv[1:3] for s in spawned] == [["pull", "--untar"]]
    assert f"--repo={private_chart_repository}" in spawned[0].argv


def test_wrong_password_is_refused_clearly_and_never_shown(private_chart_repository: str, tmp_path: Path) -> None:
    wrong = "wrong-5b0c2e7d19a4f386"
    with pytest.raises(RenderError) as info:
        render_source(
            tmp_path,
            chart_source(private_chart_repository),
            app="shop",
            credentials=helm_store(private_chart_repository, password=wrong),
        )
    message = str(info.value)
    assert message.startswith(
        f"Helm repository {private_chart_repository} refused the credentials from "
        "Secret private-charts: they are missing or wrong"
    )
    assert wrong not in message and PASSWORD not in message


def test_credentials_of_other_types_or_repositories_are_not_used(private_chart_repository: str, tmp_path: Path) -> None:
    git_type = StaticCredentialStore([RepoCredentials(url=private_chart_repository, username=USER, password=PASSWORD)])
    other = helm_store(private_chart_repository + "-other")
    for store in (git_type, other):
        with pytest.raises(RenderError, match="none are configured for it"):
            render_source(tmp_path, chart_source(private_chart_repository), app="shop", credentials=store)


def test_secret_values_helm_prints_are_scrubbed(tmp_path: Path) -> None:
    with ToolRun.open(BuildEnv()) as run:
        run.hide(PASSWORD)
        with pytest.raises(RenderError) as info:
            run.run(
                ["/bin/sh", "-c", f"echo 'bad auth for {USER}:{PASSWORD} at $HOME' >&2; exit 1"],
                what="helm repo add",
                cwd=tmp_path,
            )
    assert str(info.value) == f"helm repo add: bad auth for {USER}:*** at $HOME"


def test_a_password_without_a_username_is_refused_before_helm_runs(
    private_chart_repository: str, tmp_path: Path, spawned: list[Spawned]
) -> None:
    store = StaticCredentialStore(
        [RepoCredentials(url=private_chart_repository, repo_type="helm", secret="token-only", password=PASSWORD)]
    )
    with pytest.raises(RenderError, match="Secret token-only has a password but no username"):
        render_source(tmp_path, chart_source(private_chart_repository), app="shop", credentials=store)
    assert spawned == []


def test_private_dependency_of_a_chart_in_git_is_built_with_its_credentials(
    private_chart_repository: str, repo: Path, spawned: list[Spawned]
) -> None:
    add_dependency(repo / "charts" / "web", private_chart_repository)
    with pytest.raises(RenderError) as info:
        render(repo)
    assert f"Helm repository {private_chart_repository} requires credentials" in str(info.value)
    assert "chart 'web': could not fetch its dependencies" in str(info.value)
    objects = render(repo, credentials=helm_store(private_chart_repository))
    assert "shop-cache" in {o["metadata"]["name"] for o in objects}
    assert not [s.argv for s in spawned if any(PASSWORD in a for a in s.argv)]
    assert ["dependency", "build"] in [s.argv[1:3] for s in spawned]


def test_private_oci_registry_login_with_the_password_on_stdin(
    private_oci_registry: str, tmp_path: Path, spawned: list[Spawned]
) -> None:
    with pytest.raises(RenderError, match=f"Helm repository {private_oci_registry} requires credentials"):
        render_source(tmp_path, chart_source(private_oci_registry, targetRevision="2.0.0"), app="shop")
    spawned.clear()
    # Argo CD writes an OCI repository Secret's url without the scheme: it matches too.
    store = helm_store(private_oci_registry.removeprefix("oci://"))
    objects = render_source(
        tmp_path, chart_source(private_oci_registry, targetRevision="2.0.0"), app="shop", credentials=store
    )
    assert config(objects)["message"] == "two-oh"
    assert [s.argv[1:3] for s in spawned][:2] == [["registry", "login"], ["pull", "--untar"]]
    assert spawned[0].stdin == PASSWORD.encode()
    assert not [s.argv for s in spawned if any(PASSWORD in a for a in s.argv)]
    wrong = "wrong-77c1d0a9e3f2b541"
    with pytest.raises(RenderError) as info:
        render_source(
            tmp_path,
            chart_source(private_oci_registry, targetRevision="2.0.0"),
            app="shop",
            credentials=helm_store(private_oci_registry, password=wrong),
        )
    assert "refused the credentials from Secret private-charts" in str(info.value)
    assert wrong not in str(info.value)
