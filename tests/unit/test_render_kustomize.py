"""Kustomize sources rendered with the real ``kubectl kustomize`` on fixture repos in tmp dirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activities.renderers import RenderError, render_source
from activities.renderers.kustomize import parse_image
from bosun.resources import Manifest
from tests.unit.render_support import one_of_kind as get
from tests.unit.render_support import write_tree

REPO = {
    "base/kustomization.yaml": """
resources: [deployment.yaml, service.yaml]
labels:
- pairs: {app: kafka-processor}
  includeSelectors: true
""",
    "base/deployment.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: kafka-processor}
spec:
  replicas: 1
  selector: {matchLabels: {}}
  template:
    metadata: {labels: {}}
    spec:
      containers:
      - name: processor
        image: org/kafka-processor:1.0.0
""",
    "base/service.yaml": """
apiVersion: v1
kind: Service
metadata: {name: kafka-processor}
spec:
  ports: [{port: 8080}]
""",
    "overlays/development/kustomization.yaml": """
resources: [../../base]
namePrefix: dev-
namespace: kafka-dev
""",
    "overlays/staging/kustomization.yml": """
resources: [../../base]
namePrefix: staging-
namespace: kafka-staging
replicas: [{name: kafka-processor, count: 2}]
""",
    "overlays/production/Kustomization": """
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base]
namespace: kafka-prod
replicas: [{name: kafka-processor, count: 5}]
images: [{name: org/kafka-processor, newTag: 1.0.1}]
commonAnnotations: {team: streaming}
""",
    "components/monitoring/kustomization.yaml": """
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources: [monitor.yaml]
""",
    "components/monitoring/monitor.yaml": """
apiVersion: v1
kind: ConfigMap
metadata: {name: monitoring}
data: {scrape: "true"}
""",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", REPO)


def render(checkout: Path, path: str, kustomize: dict[str, Any] | None = None, **kwargs: Any) -> list[Manifest]:
    source: dict[str, Any] = {"repoURL": "https://git.example.com/kafka.git", "path": path}
    if kustomize is not None:
        source["kustomize"] = kustomize
    kwargs.setdefault("app", "kafka")
    kwargs.setdefault("namespace", "kafka")
    return render_source(checkout, source, **kwargs)


def image(objects: list[Manifest]) -> str:
    return str(get(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.parametrize(
    ("overlay", "name", "namespace", "replicas", "tag"),
    [
        ("overlays/development", "dev-kafka-processor", "kafka-dev", 1, "1.0.0"),
        ("overlays/staging", "staging-kafka-processor", "kafka-staging", 2, "1.0.0"),
        ("overlays/production", "kafka-processor", "kafka-prod", 5, "1.0.1"),
    ],
)
def test_base_and_three_overlays(repo: Path, overlay: str, name: str, namespace: str, replicas: int, tag: str) -> None:
    objects = render(repo, overlay)
    deployment = get(objects, "Deployment")
    assert deployment["metadata"]["name"] == name
    assert deployment["metadata"]["namespace"] == namespace
    assert deployment["spec"]["replicas"] == replicas
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "kafka-processor"}
    assert image(objects) == f"org/kafka-processor:{tag}"
    assert get(objects, "Service")["metadata"]["name"] == name


@pytest.mark.parametrize("overlay", ["overlays/development", "overlays/staging", "overlays/production"])
def test_images_override(repo: Path, overlay: str) -> None:
    objects = render(repo, overlay, {"images": ["org/kafka-processor:latest"]})
    assert image(objects) == "org/kafka-processor:latest"


def test_image_override_keeps_new_name_with_star_and_substitutes_build_env(repo: Path) -> None:
    objects = render(
        repo, "overlays/production", {"images": ["org/kafka-processor=registry.local/kafka:${ARGOCD_APP_NAME}-1"]}
    )
    assert image(objects) == "registry.local/kafka:kafka-1"
    objects = render(repo, "overlays/production", {"images": ["org/kafka-processor=*:2.0"]})
    assert image(objects) == "org/kafka-processor:2.0"


def test_all_options(repo: Path) -> None:
    objects = render(
        repo,
        "overlays/staging",
        {
            "namePrefix": "blue-",
            "nameSuffix": "-v2",
            "commonLabels": {"tier": "backend"},
            "commonAnnotations": {"owner": "streaming"},
            "namespace": "kafka-blue",
            "replicas": [{"name": "kafka-processor", "count": 4}],
            "patches": [
                {
                    "target": {"kind": "Service"},
                    "patch": "- op: add\n  path: /metadata/annotations/patched\n  value: 'yes'\n",
                }
            ],
            "components": ["../../components/monitoring"],
        },
    )
    deployment = get(objects, "Deployment")
    # Argo CD's namePrefix replaces the overlay's (kustomize edit set nameprefix).
    assert deployment["metadata"]["name"] == "blue-kafka-processor-v2"
    assert deployment["metadata"]["namespace"] == "kafka-blue"
    assert deployment["metadata"]["labels"] == {"app": "kafka-processor", "tier": "backend"}
    assert deployment["metadata"]["annotations"] == {"owner": "streaming"}
    assert deployment["spec"]["replicas"] == 4
    service = get(objects, "Service")
    assert service["metadata"]["annotations"] == {"owner": "streaming", "patched": "yes"}
    assert get(objects, "ConfigMap")["metadata"]["name"] == "blue-monitoring-v2"


def test_common_labels_without_selector(repo: Path) -> None:
    objects = render(repo, "overlays/development", {"commonLabels": {"tier": "backend"}, "labelWithoutSelector": True})
    deployment = get(objects, "Deployment")
    assert deployment["metadata"]["labels"]["tier"] == "backend"
    assert "tier" not in deployment["spec"]["selector"]["matchLabels"]


def test_existing_annotation_needs_force(repo: Path) -> None:
    with pytest.raises(
        RenderError, match="annotation 'team' is already in the kustomization; set forceCommonAnnotations"
    ):
        render(repo, "overlays/production", {"commonAnnotations": {"team": "other"}})
    objects = render(
        repo, "overlays/production", {"commonAnnotations": {"team": "other"}, "forceCommonAnnotations": True}
    )
    assert get(objects, "Deployment")["metadata"]["annotations"] == {"team": "other"}


def test_missing_component(repo: Path) -> None:
    with pytest.raises(RenderError, match="kustomize component '../../components/nope' does not"):
        render(repo, "overlays/development", {"components": ["../../components/nope"]})
    objects = render(
        repo, "overlays/development", {"components": ["../../components/nope"], "ignoreMissingComponents": True}
    )
    assert {o["kind"] for o in objects} == {"Deployment", "Service"}


def test_kustomize_error_quotes_kustomize(repo: Path) -> None:
    (repo / "overlays/development/kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(RenderError) as info:
        render(repo, "overlays/development")
    message = str(info.value)
    assert message.startswith("kustomize build overlays/development: error: ")
    assert "missing.yaml" in message
    assert str(repo) not in message


# -- confinement


def test_load_restrictor_keeps_files_inside_the_kustomization_root(repo: Path) -> None:
    (repo / "overlays/development/kustomization.yaml").write_text("resources: [../../base/deployment.yaml]\n")
    with pytest.raises(RenderError, match="is not in or below"):
        render(repo, "overlays/development")


def test_component_outside_the_repository_is_refused(repo: Path) -> None:
    with pytest.raises(RenderError, match="component '../../../../etc' resolves outside the repo"):
        render(repo, "overlays/development", {"components": ["../../../../etc"]})


def test_resource_symlinked_out_of_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    outside = write_tree(
        tmp_path / "outside", {"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n"}
    )
    (repo / "base/secret.yaml").symlink_to(outside / "secret.yaml")
    (repo / "base/kustomization.yaml").write_text("resources: [deployment.yaml, secret.yaml]\n")
    with pytest.raises(RenderError, match="base/secret.yaml is a link to .*outside the repository"):
        render(repo, "overlays/development")


def test_directory_symlinked_to_etc_is_refused(repo: Path) -> None:
    (repo / "overlays/host").symlink_to("/etc")
    with pytest.raises(RenderError, match="overlays/host is a link to '/etc'"):
        render(repo, "overlays/development")


# -- the `kustomize edit set image` syntax


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("org/kafka-processor:latest", {"name": "org/kafka-processor", "newTag": "latest"}),
        ("nginx=registry.local/nginx:1.27", {"name": "nginx", "newName": "registry.local/nginx", "newTag": "1.27"}),
        ("nginx=registry.local/nginx", {"name": "nginx", "newName": "registry.local/nginx"}),
        ("alpine@sha256:abc", {"name": "alpine", "digest": "sha256:abc"}),
        ("app=registry:5000/app@sha256:abc", {"name": "app", "newName": "registry:5000/app", "digest": "sha256:abc"}),
        ("app=*:2.0", {"name": "app", "newName": "*", "newTag": "2.0"}),
    ],
)
def test_parse_image(arg: str, expected: dict[str, str]) -> None:
    assert parse_image(arg) == expected


def test_parse_image_rejects_a_bare_name() -> None:
    with pytest.raises(RenderError, match="kustomize image 'nginx' is not valid"):
        parse_image("nginx")
