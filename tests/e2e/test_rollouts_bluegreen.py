"""Blue-green Rollouts end to end: a Bosun app deploys an Argo Rollouts blue-green ``Rollout``
from Git and the RolloutWorkflow drives it on the devcluster (issue 13).

As Argo Rollouts' blue-green docs describe it: an update brings up the preview ReplicaSet
behind ``previewService`` while ``activeService`` keeps selecting the old hash; with
``autoPromotionEnabled: false`` the Rollout pauses (the app is Suspended) until promoted
(``kubectl argo rollouts promote``: the status patch ``pauseConditions: null``); then the
active Service switches and the old ReplicaSet goes to 0 ``scaleDownDelaySeconds`` later.
Helpers (manifest, status patch, waits) are :mod:`tests.e2e.rollouts`'.
"""

from __future__ import annotations

import time
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import kubectl_json
from tests.e2e.rollouts import (
    blue_green,
    event_summary,
    patch_status,
    rollout_history,
    rollout_manifest,
    service,
    wait_app_health,
    wait_rollout,
)


def bg_rollout(image: str) -> str:
    return rollout_manifest(image, blue_green(autoPromotionEnabled=False, scaleDownDelaySeconds=5))


def selector_hash(cluster: Cluster, ns: str, name: str) -> str:
    return str(
        kubectl_json(cluster, "-n", ns, "get", "service", name)["spec"]["selector"].get("rollouts-pod-template-hash")
    )


def timer_summaries(bosun: Bosun, ns: str) -> list[str]:
    """The summaries of the RolloutWorkflow's timers (its durable waits)."""
    events = rollout_history(bosun, ns)
    return [event_summary(e) for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]


def test_blue_green_preview_pause_promotion_and_delayed_scale_down(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {"rollout.json": bg_rollout("web:1"), "service.json": service("web"), "preview.json": service("web-preview")},
    )
    app, ns = unique("bluegreen"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    first = wait_rollout(devcluster_a, ns, what="first revision Healthy", phase="Healthy")
    v1 = first["status"]["stableRS"]
    wait_rollout(devcluster_a, ns, what="v1 available", counts={v1: (2, 2)})
    assert selector_hash(devcluster_a, ns, "web") == v1 and selector_hash(devcluster_a, ns, "web-preview") == v1
    assert first["status"]["blueGreen"]["activeSelector"] == v1
    wait_app_health(bosun, app, "Healthy", what="first revision")

    repo.write({"rollout.json": bg_rollout("web:2")}, "web:2")
    paused = wait_rollout(devcluster_a, ns, what="preview up and paused", phase="Paused", timeout=180)
    v2 = paused["status"]["currentPodHash"]
    assert v2 != v1 and paused["status"]["pauseConditions"][0]["reason"] == "BlueGreenPause"
    wait_rollout(devcluster_a, ns, what="both ReplicaSets up", counts={v1: (2, 2), v2: (2, 2)})
    assert selector_hash(devcluster_a, ns, "web-preview") == v2
    assert selector_hash(devcluster_a, ns, "web") == v1, "the active Service keeps the old hash while paused"
    assert paused["status"]["blueGreen"] == {
        **paused["status"]["blueGreen"],
        "activeSelector": v1,
        "previewSelector": v2,
    }
    wait_app_health(bosun, app, "Suspended", what="paused before promotion")
    time.sleep(3)  # a paused blue-green stays paused
    assert selector_hash(devcluster_a, ns, "web") == v1

    patch_status(devcluster_a, ns, {"pauseConditions": None})  # kubectl argo rollouts promote
    promoted = wait_rollout(devcluster_a, ns, what="switched", phase="Healthy", stableRS=v2)
    assert selector_hash(devcluster_a, ns, "web") == v2
    assert promoted["status"]["blueGreen"]["activeSelector"] == v2
    wait_rollout(devcluster_a, ns, what="old scaled down after the delay", counts={v1: (0, 0), v2: (2, 2)})
    assert any("scale down at" in s for s in timer_summaries(bosun, ns)), "scaleDownDelaySeconds is a durable timer"
    wait_app_health(bosun, app, "Healthy", what="promoted and scaled down")
