"""deploy/chart/bosun: `helm lint`, and `helm template` against the kustomize install.

The chart and deploy/install are two spellings of one install: rendered as release ``bosun`` in
namespace ``bosun`` they must hold the same objects with the same RBAC rules, the same env
names, the same security contexts, probes, ports and volumes, and the same Service,
PodDisruptionBudget and NetworkPolicy — only the labels Helm adds may differ. The chart's
values (Temporal TLS and API key, namespaced RBAC, service account) are checked as rendered.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.install_render import (
    CHART,
    INSTALL_YAML,
    NAMESPACE_INSTALL_YAML,
    NAMESPACED_VALUES,
    by_key,
    helm,
    helm_template,
    objects,
    one,
    worker_container,
)

RBAC_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
SAME_SPEC_KINDS = ("Service", "PodDisruptionBudget", "NetworkPolicy")


def test_helm_lint_passes() -> None:
    proc = helm("lint", str(CHART), "--strict")
    assert "0 chart(s) failed" in proc.stdout, proc.stdout


def _comparable(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The objects by (kind, name, namespace); the kustomize install's Namespace is left out (the
    chart installs into the release namespace, made by `helm install --create-namespace`)."""
    return {k: o for k, o in by_key(docs).items() if k[0] != "Namespace"}


def _env_names(docs: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in worker_container(docs)["env"]]


def _without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


@pytest.mark.parametrize(
    ("values", "crds", "kustomized"),
    [([], True, INSTALL_YAML), (NAMESPACED_VALUES, False, NAMESPACE_INSTALL_YAML)],
    ids=["cluster-wide", "namespaced (CRDs apart, as `helm install --skip-crds`)"],
)
def test_helm_template_renders_what_kustomize_renders(values: list[str], crds: bool, kustomized: Any) -> None:
    chart = _comparable(objects(helm_template(*values, crds=crds)))
    install = _comparable(objects(kustomized.read_text()))
    assert sorted(chart) == sorted(install)
    for k, obj in install.items():
        kind = k[0]
        if kind in RBAC_KINDS:
            assert chart[k]["rules"] == obj["rules"], k
        elif kind in BINDING_KINDS:
            assert (chart[k]["roleRef"], chart[k]["subjects"]) == (obj["roleRef"], obj["subjects"]), k
        elif kind in SAME_SPEC_KINDS:
            assert chart[k]["spec"] == obj["spec"], k
        elif kind == "CustomResourceDefinition":
            assert chart[k] == obj, k
    chart_docs, install_docs = list(chart.values()), list(install.values())
    assert _env_names(chart_docs) == _env_names(install_docs)
    chart_pod = one(chart_docs, "Deployment")["spec"]["template"]["spec"]
    install_pod = one(install_docs, "Deployment")["spec"]["template"]["spec"]
    assert _without(chart_pod, "containers") == _without(install_pod, "containers")
    ignored = ("image",)  # the chart's is repository:appVersion
    assert _without(worker_container(chart_docs), *ignored) == _without(worker_container(install_docs), *ignored)
    assert one(chart_docs, "Deployment")["spec"]["replicas"] == one(install_docs, "Deployment")["spec"]["replicas"]


def test_temporal_tls_and_api_key_come_from_existing_secrets() -> None:
    docs = objects(
        helm_template(
            "--set",
            "temporal.tls.enabled=true",
            "--set",
            "temporal.tls.existingSecret=temporal-client",
            "--set",
            "temporal.tls.serverName=temporal.example",
            "--set",
            "temporal.apiKeySecret.name=temporal-api-key",
        )
    )
    container = worker_container(docs)
    env = {e["name"]: e for e in container["env"]}
    assert env["TEMPORAL_TLS"]["value"] == "true"
    assert env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"]["value"] == "/etc/bosun/temporal-tls/ca.crt"
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"]["value"] == "/etc/bosun/temporal-tls/tls.crt"
    assert env["TEMPORAL_TLS_CLIENT_KEY_PATH"]["value"] == "/etc/bosun/temporal-tls/tls.key"
    assert env["TEMPORAL_TLS_SERVER_NAME"]["value"] == "temporal.example"
    # the API key is never a literal in the manifest: a reference to the Secret
    assert env["TEMPORAL_API_KEY"] == {
        "name": "TEMPORAL_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "temporal-api-key", "key": "api-key"}},
    }
    volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "temporal-tls", "secret": {"secretName": "temporal-client"}} in volumes
    assert {"name": "temporal-tls", "mountPath": "/etc/bosun/temporal-tls", "readOnly": True} in container[
        "volumeMounts"
    ]


def test_tls_without_its_secret_is_refused_with_a_message_naming_the_value() -> None:
    proc = helm("template", "bosun", str(CHART), "--set", "temporal.tls.enabled=true", check=False)
    assert proc.returncode != 0
    assert "temporal.tls.existingSecret" in proc.stderr


def test_namespaced_rbac_in_the_listed_namespaces_only() -> None:
    docs = objects(helm_template(*NAMESPACED_VALUES, "--set", "rbac.namespaces={team-a,team-b}"))
    manage = [o for o in docs if o["kind"] == "Role" and o["metadata"]["name"] == "bosun-worker-manage"]
    assert sorted(o["metadata"]["namespace"] for o in manage) == ["team-a", "team-b"]
    assert [o["metadata"]["name"] for o in docs if o["kind"] == "ClusterRole"] == ["bosun-worker-watch"]


def test_values_people_set() -> None:
    docs = objects(
        helm_template(
            "--set",
            "image.repository=registry.example/bosun",
            "--set",
            "image.tag=1.2.3",
            "--set",
            "replicas=3",
            "--set",
            "taskQueue=fleet",
            "--set",
            "controlNamespace=argocd",
            "--set",
            "serviceAccount.name=custom",
            "--set",
            "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::1:role/bosun",
            "--set",
            "extraEnv[0].name=BOSUN_REFRESH_SECONDS",
            "--set-string",
            "extraEnv[0].value=60",
        )
    )
    deployment = one(docs, "Deployment")
    container = worker_container(docs)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"] == "registry.example/bosun:1.2.3"
    assert deployment["spec"]["replicas"] == 3
    assert env["BOSUN_TASK_QUEUE"] == "fleet" and env["BOSUN_CONTROL_NAMESPACE"] == "argocd"
    assert env["BOSUN_REFRESH_SECONDS"] == "60"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "custom"
    account = one(docs, "ServiceAccount", "custom")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/bosun"}
    assert one(docs, "Role")["metadata"]["namespace"] == "argocd"  # the control namespace's Role
    assert one(docs, "ClusterRoleBinding")["subjects"][0]["name"] == "custom"
