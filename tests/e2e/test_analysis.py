"""Argo Rollouts' analysis on the real stack: AnalysisRunWorkflow started through the Temporal
client against the e2e worker, AnalysisTemplates in the devcluster, and real metric sources
on loopback (a JSON server, a Job the devcluster's kwok completes or fails, Debian's
Prometheus scraping a test exporter). Each provider passes once and fails once; the
``AnalysisRun`` resource carries Argo Rollouts' status; a ``secretKeyRef`` arg reaches the
provider but neither the workflow history nor the AnalysisRun.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.contracts import Destination
from activities.destinations import cluster_task_queue
from bosun.protocol import WorkflowType
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, unique
from tests.e2e.conftest import kubectl, kubectl_json
from tests.e2e.prometheus import Exporter, JsonServer, Prometheus
from workflows.analysis import AnalysisRunInput, AnalysisRunResult

SECRET = "s3cr3t-" + uuid.uuid4().hex
IN_CLUSTER = "https://kubernetes.default.svc"


def namespace(cluster: Cluster) -> str:
    ns = unique("analysis")
    kubectl(cluster, "create", "namespace", ns)
    return ns


def apply(cluster: Cluster, *objects: dict[str, Any]) -> None:
    kubectl(cluster, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def analysis_template(ns: str, name: str, metrics: list[dict[str, Any]], args: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"args": args, "metrics": metrics},
    }


def token_secret(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "metrics-token", "namespace": ns},
        "data": {"token": base64.b64encode(SECRET.encode()).decode()},
    }


TOKEN_ARG = {"name": "token", "valueFrom": {"secretKeyRef": {"name": "metrics-token", "key": "token"}}}


async def run_analysis(
    stack: Bosun,
    ns: str,
    template: str,
    *,
    args: list[dict[str, Any]] | None = None,
    rollout: dict[str, Any] | None = None,
    cluster_scope: bool = False,
) -> tuple[AnalysisRunResult, str]:
    """Start an AnalysisRunWorkflow for ``template`` and wait for it; its result and its history as JSON."""
    client = await Client.connect(stack.temporal.address, data_converter=pydantic_data_converter)
    name = unique("run")
    handle = await client.start_workflow(
        WorkflowType.ANALYSIS_RUN,
        AnalysisRunInput(
            name=name,
            namespace=ns,
            analysis={"templates": [{"templateName": template, "clusterScope": cluster_scope}], "args": args or []},
            rollout=rollout or {"metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}}},
            labels={"rollout-type": "Step"},
            destination=Destination(server=IN_CLUSTER, namespace=ns),
            task_queue=cluster_task_queue(stack.task_queue, "in-cluster"),
        ),
        id=f"e2e-analysis:{ns}/{name}",
        task_queue=stack.task_queue,
        result_type=AnalysisRunResult,
    )
    result = await handle.result()
    history = json.dumps((await handle.fetch_history()).to_json_dict())
    return result, history


def analysis_run(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    return dict(kubectl_json(cluster, "-n", ns, "get", "analysisruns.argoproj.io", name))


def decoded(history: str) -> str:
    """The history with every payload decoded, so a secret in any payload would show."""
    out = [history]
    for blob in re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', history):
        out.append(base64.b64decode(blob).decode("utf-8", "replace"))
    return "\n".join(out)


# ------------------------------------------------------------------------- web


async def test_web_analysis_passes_then_fails(bosun: Bosun, devcluster_a: Cluster, json_server: JsonServer) -> None:
    ns = namespace(devcluster_a)
    metric = {
        "name": "health",
        "interval": "1s",
        "count": 2,
        "successCondition": "result.ok == true && result.rate >= 0.9",
        "provider": {
            "web": {
                "url": f"{json_server.url}/api/{{{{args.service}}}}",
                "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}],
                "jsonPath": "{$.data}",
                "timeoutSeconds": 5,
            }
        },
    }
    apply(
        devcluster_a,
        token_secret(ns),
        analysis_template(ns, "web-health", [metric], [{"name": "service"}, TOKEN_ARG]),
    )
    apply(
        devcluster_a,
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {},
        },
    )
    rollout = kubectl_json(devcluster_a, "-n", ns, "get", "rollouts.argoproj.io", "web")
    json_server.answer = (200, {"data": {"ok": True, "rate": 0.97}})
    result, history = await run_analysis(
        bosun, ns, "web-health", args=[{"name": "service", "value": "checkout"}], rollout=rollout
    )

    assert result.phase == "Successful", result
    run = analysis_run(devcluster_a, ns, result.name)
    assert run["status"]["phase"] == "Successful"
    (metric_result,) = run["status"]["metricResults"]
    assert metric_result["count"] == 2 and metric_result["successful"] == 2
    assert [m["phase"] for m in metric_result["measurements"]] == ["Successful", "Successful"]
    assert json.loads(metric_result["measurements"][0]["value"]) == {"ok": True, "rate": 0.97}
    assert all(m["startedAt"] and m["finishedAt"] for m in metric_result["measurements"])
    assert run["metadata"]["labels"]["rollout-type"] == "Step"
    (owner,) = run["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Rollout", "web", rollout["metadata"]["uid"])
    # the secret reached the provider, and nothing else
    assert json_server.requests[0]["path"] == "/api/checkout"
    assert json_server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in decoded(history)
    assert SECRET not in json.dumps(run)
    assert {"name": "token", "valueFrom": {"secretKeyRef": {"name": "metrics-token", "key": "token"}}} in run["spec"][
        "args"
    ]

    json_server.answer = (200, {"data": {"ok": True, "rate": 0.5}})
    result, _ = await run_analysis(bosun, ns, "web-health", args=[{"name": "service", "value": "checkout"}])
    assert result.phase == "Failed", result
    run = analysis_run(devcluster_a, ns, result.name)
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["message"] == 'Metric "health" assessed Failed due to failed (1) > failureLimit (0)'
    assert [m["phase"] for m in run["status"]["metricResults"][0]["measurements"]] == ["Failed"]


async def test_web_errors_count_toward_consecutive_error_limit_cluster_template(
    bosun: Bosun, devcluster_a: Cluster, json_server: JsonServer
) -> None:
    ns = namespace(devcluster_a)
    metric = {
        "name": "flaky",
        "consecutiveErrorLimit": 0,
        "successCondition": "result == true",
        "provider": {"web": {"url": f"{json_server.url}/ok", "jsonPath": "{$.ok}"}},
    }
    cluster_template = {**analysis_template(ns, unique("flaky"), [metric], []), "kind": "ClusterAnalysisTemplate"}
    del cluster_template["metadata"]["namespace"]
    apply(devcluster_a, cluster_template)
    json_server.answer = (503, {"error": "unavailable"})
    result, _ = await run_analysis(bosun, ns, cluster_template["metadata"]["name"], cluster_scope=True)
    assert result.phase == "Error", result
    run = analysis_run(devcluster_a, ns, result.name)
    (measurement,) = run["status"]["metricResults"][0]["measurements"]
    assert measurement["phase"] == "Error"
    assert "received non 2xx response code: 503" in measurement["message"]
    assert "consecutiveErrors (1) > consecutiveErrorLimit (0)" in run["status"]["message"]


# ------------------------------------------------------------------------- job


def job_metric(name: str, *, fail: bool) -> dict[str, Any]:
    annotations = {"devcluster.bosun.dev/fail": "true"} if fail else {}
    return {
        "name": name,
        "provider": {
            "job": {
                "metadata": {"labels": {"purpose": "smoke"}},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"annotations": annotations},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "check", "image": "busybox", "command": ["true"]}],
                        },
                    },
                },
            }
        },
    }


async def test_job_analysis_passes_then_fails(bosun: Bosun, devcluster_a: Cluster) -> None:
    ns = namespace(devcluster_a)
    apply(
        devcluster_a,
        analysis_template(ns, "smoke", [job_metric("Smoke_Test", fail=False)], []),
        analysis_template(ns, "smoke-fails", [job_metric("smoke", fail=True)], []),
    )
    result, _ = await run_analysis(bosun, ns, "smoke")
    assert result.phase == "Successful", result
    run = analysis_run(devcluster_a, ns, result.name)
    assert run["status"]["phase"] == "Successful"
    (measurement,) = run["status"]["metricResults"][0]["measurements"]
    job_name = measurement["metadata"]["job-name"]
    assert job_name == f"{run['metadata']['uid']}.smoke-test.1"
    job = kubectl_json(devcluster_a, "-n", ns, "get", "job", job_name)
    assert job["metadata"]["labels"]["analysisrun.argoproj.io/uid"] == run["metadata"]["uid"]
    assert job["metadata"]["labels"]["purpose"] == "smoke"
    assert job["metadata"]["annotations"]["analysisrun.argoproj.io/metric-name"] == "Smoke_Test"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "AnalysisRun"

    result, _ = await run_analysis(bosun, ns, "smoke-fails")
    assert result.phase == "Failed", result
    run = analysis_run(devcluster_a, ns, result.name)
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["metricResults"][0]["measurements"][0]["phase"] == "Failed"


# ------------------------------------------------------------------------- prometheus


async def test_prometheus_analysis_passes_then_fails(
    bosun: Bosun, devcluster_a: Cluster, exporter: Exporter, prometheus: Prometheus
) -> None:
    ns = namespace(devcluster_a)
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
    apply(devcluster_a, analysis_template(ns, "success-rate", [metric], [{"name": "service-name"}]))
    args = [{"name": "service-name", "value": ns}]

    exporter.set("bosun_test_success_ratio", 0.99, service=ns)
    prometheus.wait_for(f'bosun_test_success_ratio{{service="{ns}"}}', 0.99)
    result, _ = await run_analysis(bosun, ns, "success-rate", args=args)
    assert result.phase == "Successful", result
    run = analysis_run(devcluster_a, ns, result.name)
    assert run["status"]["phase"] == "Successful"
    measurements = run["status"]["metricResults"][0]["measurements"]
    assert [m["value"] for m in measurements] == ["[0.99]", "[0.99]"]

    exporter.set("bosun_test_success_ratio", 0.5, service=ns)
    prometheus.wait_for(f'bosun_test_success_ratio{{service="{ns}"}}', 0.5)
    result, _ = await run_analysis(bosun, ns, "success-rate", args=args)
    assert result.phase == "Failed", result
    run = analysis_run(devcluster_a, ns, result.name)
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["metricResults"][0]["measurements"][-1]["value"] == "[0.5]"
