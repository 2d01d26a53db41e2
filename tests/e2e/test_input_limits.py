"""Issue #16, finding 4 on the real stack: a few bytes in Git no longer take the worker down.

An app whose repository gains a 441-byte "billion laughs" file gets a ComparisonError naming
the file and the limit; nothing is applied or pruned; the worker stays up (the same
process) and another app still syncs. An app whose ignoreDifferences runs an endless jq
program gets a ComparisonError naming the expression and the time budget.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually
from tests.e2e.test_app_lifecycle import configmap, deployment, live, service, wait_status
from tests.unit.test_input_limits import BILLION_LAUGHS


def comparison_error(bosun: Bosun, app: str) -> str | None:
    conditions = bosun.status(app)["conditions"]
    return next((c["message"] for c in conditions if c["type"] == "ComparisonError"), None)


def test_a_billion_laughs_file_is_a_comparison_error_and_the_worker_stays_up(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    assert bosun.worker is not None
    worker_pid = bosun.worker.pid
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "web.yaml": deployment("web", replicas=2) + "\n",
            "svc.yaml": service("web"),
            "settings.json": configmap("settings", {"mode": "fast"}),
        },
    )
    app, ns = unique("lol"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, prune=True)
    wait_status(bosun, app, sync="Synced", health="Healthy")

    repo.write(
        {"lol.yaml": BILLION_LAUGHS, "web.yaml": deployment("web", replicas=5), "svc.yaml": None},
        "441 bytes of aliases, a scale-up and a removal",
    )
    message = eventually(lambda: comparison_error(bosun, app), timeout=90, what="ComparisonError")
    assert "lol.yaml" in message and "BOSUN_MAX_YAML_NODES" in message, message

    time.sleep(6)  # two refresh periods: the error stays, nothing moved
    assert comparison_error(bosun, app)
    web = live(devcluster_a, ns, "deployment", "web")
    assert web and web["spec"]["replicas"] == 2  # nothing applied
    assert live(devcluster_a, ns, "service", "web") is not None  # nothing pruned
    assert bosun.worker.poll() is None and bosun.worker.pid == worker_pid

    other_repo = GitRepo.create(tmp_path / "other", {"settings.json": configmap("other", {"ok": "yes"})})
    other, other_ns = unique("other"), unique("ns")
    bosun.create_app(other, other_repo, namespace=other_ns)
    wait_status(bosun, other, sync="Synced", health="Healthy")
    assert live(devcluster_a, other_ns, "configmap", "other") is not None

    repo.write({"lol.yaml": None}, "the bomb is gone")
    eventually(lambda: comparison_error(bosun, app) is None, timeout=90, what="the condition cleared")
    wait_status(bosun, app, sync="Synced", health="Healthy")
    web = live(devcluster_a, ns, "deployment", "web")
    assert web and web["spec"]["replicas"] == 5
    assert bosun.worker.poll() is None and bosun.worker.pid == worker_pid


def test_an_endless_jq_expression_is_a_comparison_error(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    assert bosun.worker is not None
    worker_pid = bosun.worker.pid
    repo = GitRepo.create(tmp_path / "repo", {"settings.json": configmap("settings", {"mode": "fast"})})
    app, ns = unique("jq"), unique("ns")
    ignore = [{"group": "", "kind": "ConfigMap", "jqPathExpressions": [".data | last(repeat(.))"]}]
    bosun.create_app(app, repo, namespace=ns, extra_spec={"ignoreDifferences": ignore})
    message = eventually(lambda: comparison_error(bosun, app), timeout=90, what="ComparisonError")
    assert ".data | last(repeat(.))" in message and "BOSUN_JQ_TIMEOUT_SECONDS" in message, message
    assert bosun.worker.poll() is None and bosun.worker.pid == worker_pid
