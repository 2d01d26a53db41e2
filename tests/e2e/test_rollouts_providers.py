"""Analysis inside a canary Rollout, with the Job and Prometheus providers, end to end (issue 13).

"Done when": analyses that pass let the rollout finish; ones that fail abort it, restore the
stable ReplicaSet and leave a Failed ``AnalysisRun``. A Bosun app deploys from Git a canary
(``setWeight: 50`` then an ``analysis`` step naming an AnalysisTemplate from the same repo);
each update is a git commit. The Web provider's case is
``test_rollouts_canary.py::test_analysis_step_that_passes_completes_and_one_that_fails_aborts``.

- **Job** (Argo Rollouts' ``metricproviders/job``): the devcluster's kwok runs the Job's pod
  for ``devcluster.bosun.dev/run-ms`` and completes it, or fails it when annotated
  ``devcluster.bosun.dev/fail`` (see ``deploy/devcluster/stages.yaml``). The passing Job runs
  long enough to see the app Progressing during the analysis, as Argo CD shows a Rollout
  whose ``status.phase`` is Progressing.
- **Prometheus**: Debian's Prometheus scraping a loopback exporter (:mod:`tests.e2e.prometheus`);
  the template's query takes the service label from the step's ``args``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl_json
from tests.e2e.prometheus import Exporter, Prometheus
from tests.e2e.rollouts import (
    ANALYSIS_RUNS,
    canary,
    canary_repo,
    first_revision,
    live_rollout,
    rollout_manifest,
    wait_app_health,
    wait_rollout,
)

JOB_RUN_MS = 30000
"""How long the passing Job's pod runs: the analysis step (and the app's Progressing) lasts that long;
long enough for the app to show it after a few refreshes on a loaded CI machine."""


def template(name: str, metrics: list[dict[str, Any]], args: list[dict[str, Any]] | None = None) -> str:
    return json.dumps(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": {"name": name},
            "spec": {"args": args or [], "metrics": metrics},
        }
    )


def analysis_step(template_name: str, args: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    analysis: dict[str, Any] = {"templates": [{"templateName": template_name}]}
    if args:
        analysis["args"] = args
    return [{"setWeight": 50}, {"analysis": analysis}]


def analysis_runs(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    """The namespace's AnalysisRuns, oldest first."""
    items = kubectl_json(cluster, "-n", ns, "get", ANALYSIS_RUNS)["items"]
    return sorted(items, key=lambda r: r["metadata"]["creationTimestamp"])


def passes_then_fails(
    bosun: Bosun,
    cluster: Cluster,
    repo: GitRepo,
    app: str,
    ns: str,
    v1: str,
    *,
    passing: list[dict[str, Any]],
    failing: list[dict[str, Any]],
    while_passing: Any = None,
    before_failing: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """web:2 with the ``passing`` steps completes; web:3 with the ``failing`` steps is aborted,
    the stable (web:2) back at 2 pods. The AnalysisRuns (passing, failing)."""
    repo.write({"rollout.json": rollout_manifest("web:2", canary(passing))}, "web:2")
    if while_passing is not None:
        while_passing()
    done = wait_rollout(
        cluster, ns, what="v2 completed after a passing analysis", phase="Healthy", counts={v1: (0, 0)}, timeout=180
    )
    v2 = done["status"]["stableRS"]
    assert v2 != v1 and done["status"]["currentStepIndex"] == 2
    assert done["status"]["canary"].get("currentStepAnalysisRunStatus") is None
    (passed,) = analysis_runs(cluster, ns)
    assert passed["status"]["phase"] == "Successful", passed["status"]
    wait_app_health(bosun, app, "Healthy", what="completed after a passing analysis")

    if before_failing is not None:
        before_failing()
    repo.write({"rollout.json": rollout_manifest("web:3", canary(failing))}, "web:3")
    aborted = wait_rollout(
        cluster, ns, what="v3 aborted by a failing analysis", phase="Degraded", abort=True, timeout=180
    )
    v3 = aborted["status"]["currentPodHash"]
    assert v3 not in (v1, v2) and aborted["status"]["stableRS"] == v2
    assert "AnalysisRun" in aborted["status"]["message"], aborted["status"]["message"]
    assert aborted["status"]["canary"]["currentStepAnalysisRunStatus"]["status"] == "Failed"
    wait_rollout(cluster, ns, what="stable back", counts={v2: (2, 2), v3: (0, 0)})
    runs = analysis_runs(cluster, ns)
    assert [r["status"]["phase"] for r in runs] == ["Successful", "Failed"]
    wait_app_health(bosun, app, "Degraded", what="aborted by a failing analysis")
    return passed, runs[1]


# ------------------------------------------------------------------------- job


def job_metric(*, fail: bool) -> dict[str, Any]:
    annotations = {"devcluster.bosun.dev/fail": "true"} if fail else {"devcluster.bosun.dev/run-ms": str(JOB_RUN_MS)}
    return {
        "name": "smoke",
        "provider": {
            "job": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"annotations": annotations},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "check", "image": "busybox", "command": ["true"]}],
                        },
                    },
                }
            }
        },
    }


def test_job_analysis_step_passes_then_fails(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    passing, failing = analysis_step("smoke"), analysis_step("smoke-fails")
    repo = canary_repo(
        tmp_path,
        passing,
        replicas=2,
        extra={
            "smoke.json": template("smoke", [job_metric(fail=False)]),
            "smoke-fails.json": template("smoke-fails", [job_metric(fail=True)]),
        },
    )
    app, ns, v1 = first_revision(bosun, devcluster_a, repo, replicas=2, prefix="job-analysis")
    wait_app_health(bosun, app, "Healthy", what="first revision")

    def progressing() -> None:
        """The Job runs JOB_RUN_MS: the Rollout, at the analysis step, is Progressing and so is the app."""

        def running() -> bool:
            status = live_rollout(devcluster_a, ns).get("status") or {}
            run = (status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}
            return (status.get("phase"), status.get("currentStepIndex"), run.get("status")) == (
                "Progressing",
                1,
                "Running",
            )

        eventually(running, timeout=120, what="the Rollout Progressing at a Running analysis step")
        wait_app_health(bosun, app, "Progressing", what="analysis running", timeout=JOB_RUN_MS / 1000)

    passed, failed = passes_then_fails(
        bosun, devcluster_a, repo, app, ns, v1, passing=passing, failing=failing, while_passing=progressing
    )
    for run, phase in ((passed, "Successful"), (failed, "Failed")):
        (measurement,) = run["status"]["metricResults"][0]["measurements"]
        assert measurement["phase"] == phase
        job = kubectl_json(devcluster_a, "-n", ns, "get", "jobs.batch", measurement["metadata"]["job-name"])
        assert job["metadata"]["ownerReferences"][0]["kind"] == "AnalysisRun"
        assert job["metadata"]["ownerReferences"][0]["name"] == run["metadata"]["name"]
    assert passed["metadata"]["labels"]["rollout-type"] == "Step"
    assert passed["metadata"]["ownerReferences"][0]["kind"] == "Rollout"


# ------------------------------------------------------------------------- prometheus


def test_prometheus_analysis_step_passes_then_fails(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path, exporter: Exporter, prometheus: Prometheus
) -> None:
    service_name = unique("checkout")
    query = f'bosun_test_success_ratio{{service="{service_name}"}}'
    metric = {
        "name": "success-rate",
        "interval": "2s",
        "count": 2,
        "successCondition": "result[0] >= 0.95",
        "failureLimit": 0,
        "provider": {
            "prometheus": {
                "address": prometheus.url,
                "query": 'bosun_test_success_ratio{service="{{args.service-name}}"}',
            }
        },
    }
    steps = analysis_step("success-rate", [{"name": "service-name", "value": service_name}])
    repo = canary_repo(
        tmp_path,
        steps,
        replicas=2,
        extra={"template.json": template("success-rate", [metric], [{"name": "service-name"}])},
    )
    exporter.set("bosun_test_success_ratio", 0.99, service=service_name)
    prometheus.wait_for(query, 0.99)
    app, ns, v1 = first_revision(bosun, devcluster_a, repo, replicas=2, prefix="prom-analysis")

    def degrade() -> None:
        exporter.set("bosun_test_success_ratio", 0.5, service=service_name)
        prometheus.wait_for(query, 0.5)

    passed, failed = passes_then_fails(
        bosun, devcluster_a, repo, app, ns, v1, passing=steps, failing=steps, before_failing=degrade
    )
    assert [m["value"] for m in passed["status"]["metricResults"][0]["measurements"]] == ["[0.99]", "[0.99]"]
    assert failed["status"]["metricResults"][0]["measurements"][-1]["value"] == "[0.5]"
    assert failed["status"]["message"] == 'Metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)'
    assert {"name": "service-name", "value": service_name} in failed["spec"]["args"]
