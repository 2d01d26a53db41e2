"""Ephemeral pod metadata and a missing traffic router, end to end on the devcluster (issue 13).

A Bosun app deploys a Rollout from Git. With ``canaryMetadata``/``stableMetadata`` the
RolloutWorkflow labels the pods of each side as Argo Rollouts' ``rollout/ephemeralmetadata.go``
does: the stable pods carry the stable metadata, the canary's the canary metadata, and after
the promotion the new stable's pods switch to the stable metadata (the canary annotation
removed); ``bosun rollout get`` shows each side's image. A Rollout whose ``stableIngress``
does not exist is Degraded with an InvalidSpec condition naming the Ingress, and recovers
once a commit adds it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl_json
from tests.e2e.rollouts import canary, live_rollout, patch_status, rollout_manifest, service, wait_rollout
from tests.e2e.test_rollouts_traffic import INGRESS, NGINX
from tests.e2e.test_rollouts_traffic import rollout as routed_rollout

HASH = "rollouts-pod-template-hash"
CANARY_META = {"labels": {"role": "canary"}, "annotations": {"bosun.test/side": "canary"}}
STABLE_META = {"labels": {"role": "stable"}}
STEPS = [{"setWeight": 50}, {"pause": {}}]


def rollout(image: str) -> str:
    return rollout_manifest(
        image,
        canary(STEPS, canaryMetadata=CANARY_META, stableMetadata=STABLE_META),
        revision_history_limit=None,
    )


def pod_sides(cluster: Cluster, ns: str) -> dict[str, set[tuple[str, str]]]:
    """pod-template hash → the (role label, side annotation) of its pods that are not terminating."""
    pods = kubectl_json(cluster, "-n", ns, "get", "pods", "-l", "app=web")["items"]
    sides: dict[str, set[tuple[str, str]]] = {}
    for pod in pods:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        sides.setdefault(labels.get(HASH, ""), set()).add(
            (labels.get("role", ""), annotations.get("bosun.test/side", ""))
        )
    return sides


def wait_sides(cluster: Cluster, ns: str, expected: dict[str, set[tuple[str, str]]], what: str) -> None:
    def check() -> dict[str, Any] | None:
        sides = pod_sides(cluster, ns)
        return sides if {h: sides.get(h) for h in expected} == expected else None

    eventually(check, timeout=120, what=what)


def test_canary_and_stable_metadata_on_pods_switch_after_promotion(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {"rollout.json": rollout("web:1"), "service.json": service("web"), "canary.json": service("web-canary")},
    )
    app, ns = unique("meta"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    v1 = wait_rollout(devcluster_a, ns, what="first revision Healthy", phase="Healthy")["status"]["stableRS"]
    wait_sides(devcluster_a, ns, {v1: {("stable", "")}}, "the first revision's pods carry stableMetadata")
    template = kubectl_json(devcluster_a, "-n", ns, "get", "replicasets.apps", f"web-{v1}")
    assert template["spec"]["template"]["metadata"]["labels"]["role"] == "stable"

    repo.write({"rollout.json": rollout("web:2")}, "web:2")
    paused = wait_rollout(devcluster_a, ns, what="paused at 50%", phase="Paused", currentStepIndex=1)
    v2 = paused["status"]["currentPodHash"]
    wait_sides(
        devcluster_a,
        ns,
        {v1: {("stable", "")}, v2: {("canary", "canary")}},
        "canary pods with canaryMetadata, stable pods with stableMetadata",
    )
    # `bosun rollout get` shows each ReplicaSet's images with its role, as `kubectl argo rollouts get`.
    described = bosun.cli("rollout", "get", "web", "-n", ns).stdout
    assert "web:1 (stable)" in described and "web:2 (canary)" in described, described

    patch_status(devcluster_a, ns, {"pauseConditions": None})  # kubectl argo rollouts promote
    wait_rollout(devcluster_a, ns, what="promoted", phase="Healthy", stableRS=v2)
    # The promoted pods switch to the stable metadata; the canary annotation is removed.
    wait_sides(devcluster_a, ns, {v2: {("stable", "")}}, "the new stable's pods carry stableMetadata")
    rs = kubectl_json(devcluster_a, "-n", ns, "get", "replicasets.apps", f"web-{v2}")
    assert json.loads(rs["metadata"]["annotations"]["rollout.argoproj.io/ephemeral-metadata"]) == STABLE_META


def test_missing_stable_ingress_is_a_condition_naming_it_and_recovers(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "rollout.json": routed_rollout("web:1", NGINX),
            "service.json": service("web"),
            "canary.json": service("web-canary"),
        },
    )
    app, ns = unique("noingress"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)

    def invalid() -> str | None:
        status = live_rollout(devcluster_a, ns).get("status") or {}
        condition = next((c for c in status.get("conditions") or [] if c.get("type") == "InvalidSpec"), None)
        return str(condition["message"]) if condition and status.get("phase") == "Degraded" else None

    message = eventually(invalid, timeout=120, what="an InvalidSpec condition for the missing Ingress")
    assert f"Ingress {ns}/web (stableIngress) not found" in message
    assert "spec.strategy.canary.trafficRouting" in message

    repo.write({"ingress.json": INGRESS}, "add the stable Ingress")
    healthy = wait_rollout(devcluster_a, ns, what="Healthy once the Ingress exists", timeout=240, phase="Healthy")
    assert not any(c["type"] == "InvalidSpec" for c in healthy["status"]["conditions"])
    canary_ingress = kubectl_json(devcluster_a, "-n", ns, "get", "ingresses.networking.k8s.io", "web-web-canary")
    assert canary_ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "0"
