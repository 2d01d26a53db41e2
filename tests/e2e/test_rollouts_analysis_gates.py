"""Rollout analysis gates end to end (issue 13): canary background analysis and blue-green
prePromotionAnalysis, on the real stack with a Web-provider AnalysisTemplate answered by a
loopback JSON server (``web_template`` of the canary test).

After Argo Rollouts' ``rollout/analysis.go``: a background AnalysisRun runs beside the steps
and its failure aborts the rollout (Degraded, the stable ReplicaSet back, a Failed
``AnalysisRun`` labelled ``rollout-type: Background``); a blue-green update's pre-promotion
AnalysisRun (``<rollout>-<hash>-<revision>-pre``) has to pass before the active Service switches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl_json
from tests.e2e.prometheus import JsonServer
from tests.e2e.rollouts import (
    ANALYSIS_RUNS,
    canary,
    canary_repo,
    first_revision,
    live_rollout,
    replica_sets,
    rollout_health,
    rollout_manifest,
    service,
    wait_rollout,
)
from tests.e2e.test_rollouts_bluegreen import bg_rollout, selector_hash
from tests.e2e.test_rollouts_canary import web_template

GATE = {"templates": [{"templateName": "web-health"}]}


def with_background(image: str, steps: list[dict[str, Any]]) -> str:
    return rollout_manifest(image, canary(steps, analysis=GATE), replicas=2)


def with_pre_promotion(image: str) -> str:
    obj = json.loads(bg_rollout(image))
    obj["spec"]["strategy"]["blueGreen"].update({"autoPromotionEnabled": True, "prePromotionAnalysis": GATE})
    return json.dumps(obj)


def analysis_runs(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    return list(kubectl_json(cluster, "-n", ns, "get", ANALYSIS_RUNS)["items"])


def test_canary_background_analysis_that_fails_aborts_and_restores_stable(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path, json_server: JsonServer
) -> None:
    steps = [{"setWeight": 50}, {"pause": {}}]
    repo = canary_repo(tmp_path, steps, replicas=2)
    repo.write({"template.json": web_template(json_server.url), "rollout.json": with_background("web:1", steps)}, "bg")
    app, ns, v1 = first_revision(bosun, devcluster_a, repo, replicas=2)
    assert analysis_runs(devcluster_a, ns) == [], "no background analysis for the first revision"

    json_server.answer = (200, {"data": {"ok": False}})
    repo.write({"rollout.json": with_background("web:2", steps)}, "web:2")
    aborted = wait_rollout(
        devcluster_a, ns, what="v2 aborted by the background analysis", phase="Degraded", abort=True, timeout=180
    )
    v2 = aborted["status"]["currentPodHash"]
    assert v2 != v1
    wait_rollout(devcluster_a, ns, what="stable back", counts={v1: (2, 2), v2: (0, 0)})
    background = aborted["status"]["canary"]["currentBackgroundAnalysisRunStatus"]
    assert background["status"] == "Failed" and background["name"] == f"web-{v2}-2"
    assert f"AnalysisRun 'web-{v2}-2' failed" in aborted["status"]["message"]
    runs = analysis_runs(devcluster_a, ns)
    assert [(r["metadata"]["name"], r["status"]["phase"]) for r in runs] == [(f"web-{v2}-2", "Failed")]
    assert runs[0]["metadata"]["labels"]["rollout-type"] == "Background"
    assert replica_sets(devcluster_a, ns)[v1] == (2, 2)
    eventually(lambda: rollout_health(bosun, app) == "Degraded", timeout=60, what="the app sees the Rollout Degraded")


def test_blue_green_pre_promotion_analysis_that_passes_lets_the_switch_happen(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path, json_server: JsonServer
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "rollout.json": with_pre_promotion("web:1"),
            "service.json": service("web"),
            "preview.json": service("web-preview"),
            "template.json": web_template(json_server.url),
        },
    )
    app, ns = unique("bgpre"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    v1 = wait_rollout(devcluster_a, ns, what="first revision Healthy", phase="Healthy")["status"]["stableRS"]
    assert analysis_runs(devcluster_a, ns) == [], "no pre-promotion analysis for the first revision"

    json_server.answer = (200, {"data": {"ok": True}})
    repo.write({"rollout.json": with_pre_promotion("web:2")}, "web:2")
    v2 = eventually(
        lambda: (
            (live_rollout(devcluster_a, ns).get("status") or {}).get("currentPodHash") not in (None, v1)
            and live_rollout(devcluster_a, ns)["status"]["currentPodHash"]
        ),
        timeout=120,
        what="the update seen",
    )
    done = wait_rollout(devcluster_a, ns, what="switched after the analysis", phase="Healthy", stableRS=v2, timeout=180)
    assert selector_hash(devcluster_a, ns, "web") == v2
    assert done["status"]["blueGreen"]["activeSelector"] == v2
    pre = done["status"]["blueGreen"]["prePromotionAnalysisRunStatus"]
    assert pre == {**pre, "name": f"web-{v2}-2-pre", "status": "Successful"}
    runs = analysis_runs(devcluster_a, ns)
    assert [(r["metadata"]["name"], r["status"]["phase"]) for r in runs] == [(f"web-{v2}-2-pre", "Successful")]
    assert runs[0]["metadata"]["labels"]["rollout-type"] == "PrePromotion"
    assert json_server.requests, "the Web provider asked the server"
    wait_rollout(devcluster_a, ns, what="old scaled down", counts={v1: (0, 0), v2: (2, 2)})
    eventually(lambda: rollout_health(bosun, app) == "Healthy", timeout=60, what="the app sees the Rollout Healthy")
