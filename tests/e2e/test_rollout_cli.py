"""``bosun rollout`` and the Rollout watch end to end (issue 13, items 5 and 6).

On the real stack (Temporal dev server, devcluster, the Bosun worker, a Bosun app whose
Rollout comes from a real git repo), with a *minimal stand-in* RolloutWorkflow registered
by this test on its own task queue: it answers ``describe`` with a fixed canary, keeps the
search attributes, answers the updates as the protocol says and counts ``observe``
signals. What is proven is the CLI and the watch against that protocol: ``list`` finds the
workflow through visibility, ``get`` (text, ``-o json``, ``--app``) renders its answer,
``promote --full``/``abort``/``retry``/``pause``/``resume`` reach it with who = the OS user, a
refusal and a rejection exit 1 with the workflow's reason, an unknown rollout exits 3;
and a ``kubectl patch … --subresource=status`` of ``status.pauseConditions: null`` (what
``kubectl argo rollouts promote`` sends) reaches the workflow as ``observe`` with no
Temporal call, while a replica-count write does not. The real RolloutWorkflow's own
behaviour is rolloutflow's tests' (tests/e2e/test_rollouts_canary.py).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bosun import search_attributes as sa
from bosun.protocol import (
    RolloutCommand,
    RolloutCommandResult,
    RolloutQuery,
    RolloutRef,
    RolloutSignal,
    RolloutUpdate,
    WorkflowType,
    rollout_workflow_id,
)
from bosun.rollouts.view import ReplicaSetView, RolloutDescription, StepView
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl, kubectl_json
from tests.e2e.rollouts import ROLLOUTS, patch_status, rollout_manifest
from tests.e2e.test_app_lifecycle import wait_status

STEPS = ["setWeight: 20", "pause", "setWeight: 60", "pause: 5s"]

MINIMAL_ROLLOUT_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": ROLLOUTS},
    "spec": {
        "group": "argoproj.io",
        "names": {"kind": "Rollout", "listKind": "RolloutList", "plural": "rollouts", "singular": "rollout"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}
"""Installed only when ``deploy/crds`` has no Rollout CRD yet (Bosun's own comes with issue 13)."""


# ------------------------------------------------------------------------- the stand-in workflow


@workflow.defn(name=WorkflowType.ROLLOUT, sandboxed=False)
class StandInRolloutWorkflow:
    """Speaks :class:`RolloutUpdate`/:class:`RolloutSignal`/:class:`RolloutQuery` over a canary
    paused at step 1 of 4; drives nothing."""

    def __init__(self) -> None:
        self.ref = RolloutRef(cluster="", namespace="", name="")
        self.phase = "Paused"
        self.step = 1
        self.aborted = False
        self.observed = 0
        self.commands: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, ref: RolloutRef) -> None:
        self.ref = ref
        self._publish()
        await workflow.wait_condition(lambda: self.done)

    def _publish(self) -> None:
        workflow.upsert_search_attributes(
            [
                SearchAttributeKey.for_keyword(sa.ROLLOUT_PHASE).value_set(self.phase),
                SearchAttributeKey.for_int(sa.ROLLOUT_STEP).value_set(self.step),
                SearchAttributeKey.for_keyword(sa.APP).value_set(self.ref.app),
            ]
        )

    def _result(self, message: str = "") -> RolloutCommandResult:
        self._publish()
        return RolloutCommandResult(accepted=True, message=message, phase=self.phase, current_step_index=self.step)

    @workflow.signal(name=RolloutSignal.OBSERVE)
    def observe(self) -> None:
        self.observed += 1

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.done = True

    @workflow.query(name="observed")
    def observed_count(self) -> int:
        return self.observed

    @workflow.query(name="commands")
    def command_log(self) -> list[str]:
        return self.commands

    @workflow.query(name=RolloutQuery.DESCRIBE)
    def describe(self) -> RolloutDescription:
        return RolloutDescription(
            ref=self.ref,
            strategy="canary",
            phase=self.phase,
            message="CanaryPauseStep" if self.phase == "Paused" else "",
            current_step_index=self.step,
            steps=[
                StepView(
                    index=i,
                    summary=summary,
                    state="done" if i < self.step else "current" if i == self.step else "pending",
                )
                for i, summary in enumerate(STEPS)
            ],
            canary_weight=20,
            stable_hash="aaa",
            current_hash="bbb",
            replica_sets=[
                ReplicaSetView(
                    name=f"{self.ref.name}-bbb",
                    pod_template_hash="bbb",
                    revision=2,
                    role="canary",
                    replicas=1,
                    ready=1,
                    available=1,
                ),
                ReplicaSetView(
                    name=f"{self.ref.name}-aaa",
                    pod_template_hash="aaa",
                    revision=1,
                    role="stable",
                    replicas=4,
                    ready=4,
                    available=4,
                ),
            ],
            status={
                "phase": self.phase,
                "replicas": 5,
                "updatedReplicas": 1,
                "readyReplicas": 5,
                "availableReplicas": 5,
            },
        )

    @workflow.update(name=RolloutUpdate.PROMOTE)
    def promote(self, command: RolloutCommand) -> RolloutCommandResult:
        self.commands.append(f"promote full={command.full} who={command.who} reason={command.reason}")
        if self.phase != "Paused":
            return RolloutCommandResult(accepted=False, message=f"not paused ({self.phase})", phase=self.phase)
        self.step, self.phase = (len(STEPS), "Healthy") if command.full else (self.step + 1, "Progressing")
        return self._result("fully promoted" if command.full else "")

    @workflow.update(name=RolloutUpdate.ABORT)
    def abort(self, command: RolloutCommand) -> RolloutCommandResult:
        self.commands.append(f"abort who={command.who}")
        self.aborted, self.phase, self.step = True, "Degraded", 0
        return self._result("stable back to full")

    @workflow.update(name=RolloutUpdate.RETRY)
    def retry(self, command: RolloutCommand) -> RolloutCommandResult:
        self.commands.append(f"retry who={command.who}")
        if not self.aborted:
            raise ApplicationError("nothing to retry: the rollout is not aborted", type="NotAborted")
        self.aborted, self.phase = False, "Progressing"
        return self._result()

    @workflow.update(name=RolloutUpdate.PAUSE)
    def pause(self, command: RolloutCommand) -> RolloutCommandResult:
        self.commands.append(f"pause who={command.who}")
        self.phase = "Paused"
        return self._result()

    @workflow.update(name=RolloutUpdate.RESUME)
    def resume(self, command: RolloutCommand) -> RolloutCommandResult:
        self.commands.append(f"resume who={command.who}")
        self.phase = "Progressing"
        return self._result()


@dataclass
class StandIn:
    """The stand-in's worker, on its own loop in a thread; calls run there."""

    client: Client
    loop: asyncio.AbstractEventLoop
    task_queue: str

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def start(self, ref: RolloutRef) -> None:
        self.call(
            self.client.start_workflow(
                StandInRolloutWorkflow.run, ref, id=ref.workflow_id(), task_queue=self.task_queue
            )
        )

    def query(self, ref: RolloutRef, name: str) -> Any:
        return self.call(self.client.get_workflow_handle(ref.workflow_id()).query(name))

    def finish(self, ref: RolloutRef) -> None:
        self.call(self.client.get_workflow_handle(ref.workflow_id()).signal("finish"))


@pytest.fixture(scope="module")
def stand_in(bosun: Bosun) -> Iterator[StandIn]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="stand-in-rollout-worker", daemon=True)
    thread.start()
    task_queue = f"stand-in-rollouts-{uuid.uuid4().hex[:6]}"
    client = asyncio.run_coroutine_threadsafe(
        Client.connect(bosun.temporal.address, data_converter=pydantic_data_converter), loop
    ).result(timeout=60)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[StandInRolloutWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    running: Future[None] = asyncio.run_coroutine_threadsafe(worker.run(), loop)
    try:
        yield StandIn(client, loop, task_queue)
    finally:
        asyncio.run_coroutine_threadsafe(worker.shutdown(), loop).result(timeout=60)
        running.result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def rollout_crd(devcluster_a: Cluster) -> None:
    if kubectl(devcluster_a, "get", "crd", ROLLOUTS, check=False).strip():
        return  # deploy/crds has it (the bosun fixture applied it)
    kubectl(devcluster_a, "apply", "-f", "-", input=json.dumps(MINIMAL_ROLLOUT_CRD))
    kubectl(devcluster_a, "wait", "--for=condition=Established", f"crd/{ROLLOUTS}", "--timeout=60s")


def stand_in_rollout() -> str:
    """Five replicas and the canary steps of :data:`STEPS`; no Services (the stand-in points none)."""
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "5s"}}]
    return rollout_manifest(
        "nginx:1.25", {"canary": {"steps": steps}}, replicas=5, container="web", revision_history_limit=None
    )


@dataclass
class Deployed:
    app: str
    namespace: str
    ref: RolloutRef


@pytest.fixture
def deployed(
    bosun: Bosun, stand_in: StandIn, rollout_crd: None, devcluster_a: Cluster, tmp_path: Path
) -> Iterator[Deployed]:
    """A Bosun app whose git repo holds a Rollout, synced; the stand-in workflow for that Rollout."""
    app, namespace = unique("ro-cli"), unique("ro-cli")
    ref = RolloutRef(cluster="in-cluster", namespace=namespace, name="web", app=app)
    stand_in.start(ref)
    repo = GitRepo.create(tmp_path / "repo", {"rollout.yaml": stand_in_rollout()})
    bosun.create_app(app, repo, namespace=namespace)
    # No Rollout controller here: the test writes the status one would, so the sync
    # (which waits for health) completes.
    live = eventually(
        lambda: (
            kubectl_json(devcluster_a, "-n", namespace, "get", f"{ROLLOUTS}/web", "--ignore-not-found")
            if kubectl(devcluster_a, "-n", namespace, "get", f"{ROLLOUTS}/web", "--ignore-not-found").strip()
            else None
        ),
        timeout=120,
        what="the app's Rollout applied",
    )
    healthy = {"observedGeneration": str(live["metadata"]["generation"]), "phase": "Healthy", "message": ""}
    patch_status(devcluster_a, namespace, healthy)
    status = wait_status(bosun, app, sync="Synced", timeout=120)
    assert ("Rollout", "web") in {(r["key"]["kind"], r["key"]["name"]) for r in status["resources"]}
    try:
        yield Deployed(app, namespace, ref)
    finally:
        stand_in.finish(ref)


def who() -> str:
    return getpass.getuser()


def test_list_get_and_commands_through_the_cli(bosun: Bosun, stand_in: StandIn, deployed: Deployed) -> None:
    ns, app = deployed.namespace, deployed.app

    listed = eventually(
        lambda: [
            row
            for row in json.loads(bosun.cli("rollout", "list", "-n", ns, "-o", "json").stdout)
            if row["phase"] == "Paused"
        ],
        timeout=60,
        what="the rollout in visibility with its search attributes",
    )
    assert listed == [
        {
            "name": "web",
            "namespace": ns,
            "cluster": "in-cluster",
            "app": app,
            "phase": "Paused",
            "step": 1,
            "workflowId": rollout_workflow_id("in-cluster", ns, "web"),
        }
    ]
    table = bosun.cli("rollout", "list", "--app", app).stdout.splitlines()
    assert table[0].split() == ["NAME", "NAMESPACE", "CLUSTER", "APP", "STATUS", "STEP"]
    assert table[1].split() == ["web", ns, "in-cluster", app, "Paused", "1"]

    # get, by namespace and by app; -o json parses into the view
    text = bosun.cli("rollout", "get", "web", "-n", ns).stdout
    assert "Status:         ॥ Paused" in text and "  Step:         1/4" in text and "  ActualWeight: 20" in text
    assert "  ►  1  pause   (current)" in text
    assert bosun.cli("rollout", "get", "web", "--app", app).stdout == text
    described = RolloutDescription.model_validate_json(
        bosun.cli("rollout", "get", "web", "-n", ns, "-o", "json").stdout
    )
    assert described.ref.app == app and described.current_step_index == 1 and len(described.steps) == 4
    assert [rs.role for rs in described.replica_sets] == ["canary", "stable"]

    # promote --full, with who and reason; the answer is printed
    out = bosun.cli("rollout", "promote", "web", "--app", app, "--full", "--reason", "looks good").stdout
    assert out.strip() == "rollout 'web' promote --full: accepted (Healthy, step 4): fully promoted"
    # a second promote is refused by the workflow: exit 1 with its message
    refused = bosun.cli("rollout", "promote", "web", "-n", ns, check=False)
    assert refused.returncode == 1
    assert "rollout 'web' promote refused: not paused (Healthy)" in refused.stdout
    # retry when nothing was aborted: the workflow rejects the update
    rejected = bosun.cli("rollout", "retry", "web", "-n", ns, check=False)
    assert rejected.returncode == 1
    assert "retry web rejected: nothing to retry: the rollout is not aborted" in rejected.stderr
    assert "accepted (Degraded, step 0): stable back to full" in bosun.cli("rollout", "abort", "web", "-n", ns).stdout
    result = RolloutCommandResult.model_validate_json(
        bosun.cli("rollout", "retry", "web", "-n", ns, "-o", "json").stdout
    )
    assert result.accepted and result.phase == "Progressing"
    assert "accepted (Paused" in bosun.cli("rollout", "pause", "web", "-n", ns).stdout
    assert "accepted (Progressing" in bosun.cli("rollout", "resume", "web", "-n", ns).stdout

    commands = stand_in.query(deployed.ref, "commands")
    assert [c.split(" who=")[0] for c in commands] == [
        "promote full=True",
        "promote full=False",
        "retry",
        "abort",
        "retry",
        "pause",
        "resume",
    ]
    assert commands[0].endswith(" reason=looks good")
    assert all(f"who={who()}@" in c for c in commands)

    listed_after = eventually(
        lambda: [
            r
            for r in json.loads(bosun.cli("rollout", "list", "--app", app, "-o", "json").stdout)
            if r["phase"] == "Progressing"
        ],
        timeout=60,
        what="visibility following the commands",
    )
    assert listed_after[0]["step"] == 0


def test_unknown_rollouts_exit_3(bosun: Bosun, deployed: Deployed) -> None:
    missing = bosun.cli("rollout", "get", "web", "-n", "no-such-namespace", check=False)
    assert missing.returncode == 3
    assert "rollout no-such-namespace/web on cluster in-cluster not found" in missing.stderr
    not_in_app = bosun.cli("rollout", "promote", "api", "--app", deployed.app, check=False)
    assert not_in_app.returncode == 3
    assert f"application {deployed.app!r} has no Rollout 'api'" in not_in_app.stderr
    wrong_cluster = bosun.cli("rollout", "get", "web", "--app", deployed.app, "--cluster", "elsewhere", check=False)
    assert wrong_cluster.returncode == 3
    assert "no RolloutWorkflow runs for it" in wrong_cluster.stderr


def test_get_watch_prints_each_change(bosun: Bosun, deployed: Deployed) -> None:
    ns = deployed.namespace
    proc = bosun.cli("rollout", "get", "web", "-n", ns, "--watch", "--timeout", "3", "-o", "yaml", timeout=60)
    documents = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert len(documents) == 1  # nothing changed in 3 s: shown once
    assert documents[0]["phase"] == "Paused" and documents[0]["ref"]["namespace"] == ns


def test_status_patch_promote_reaches_the_workflow_without_temporal(
    bosun: Bosun, stand_in: StandIn, deployed: Deployed, devcluster_a: Cluster
) -> None:
    """`kubectl argo rollouts promote` is a status merge patch; the watch signals observe."""
    ns, ref = deployed.namespace, deployed.ref
    observed = eventually(lambda: stand_in.query(ref, "observed"), timeout=60, what="the first observe")

    paused = {
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-12-02T01:00:00Z"}],
        "currentStepIndex": 1,
    }
    patch_status(devcluster_a, ns, paused)
    observed = eventually(
        lambda: (n := stand_in.query(ref, "observed")) > observed and n, timeout=60, what="observe after the pause"
    )
    patch_status(devcluster_a, ns, {"pauseConditions": None})  # what `kubectl argo rollouts promote web` sends
    observed = eventually(
        lambda: (n := stand_in.query(ref, "observed")) > observed and n, timeout=60, what="observe after the promote"
    )
    live = kubectl_json(devcluster_a, "-n", ns, "get", f"{ROLLOUTS}/web")
    assert "pauseConditions" not in live["status"] and live["status"]["currentStepIndex"] == 1

    # what a controller writes besides the controls (counts, phase) is no reason to observe
    patch_status(devcluster_a, ns, {"replicas": 5, "availableReplicas": 5, "phase": "Progressing"})
    time.sleep(5)
    assert stand_in.query(ref, "observed") == observed


# ------------------------------------------------------------------------- the real RolloutWorkflow


def canary_rollout(image: str) -> str:
    """Two replicas, ``setWeight: 50`` then ``pause: {}`` (until promoted)."""
    steps = [{"setWeight": 50}, {"pause": {}}]
    return rollout_manifest(image, {"canary": {"steps": steps}}, container="web", revision_history_limit=None)


def test_cli_and_watch_drive_the_real_rollout_workflow(
    bosun: Bosun, rollout_crd: None, devcluster_a: Cluster, tmp_path: Path
) -> None:
    """A Bosun app's canary, updated by git commits: get/list follow it; abort, retry and
    promote go through the CLI; then a status patch alone promotes the next update."""
    app, ns = unique("ro-real"), unique("ro-real")
    repo = GitRepo.create(tmp_path / "repo", {"rollout.yaml": canary_rollout("nginx:1.24")})
    bosun.create_app(app, repo, namespace=ns)

    def described() -> RolloutDescription | None:
        proc = bosun.cli("rollout", "get", "web", "--app", app, "-o", "json", check=False)
        return RolloutDescription.model_validate_json(proc.stdout) if proc.returncode == 0 else None

    def reaches(what: str, phase: str, step: int | None, timeout: float = 180) -> RolloutDescription:
        return eventually(  # type: ignore[no-any-return]
            lambda: (d := described()) is not None and d.phase == phase and d.current_step_index == step and d,
            timeout=timeout,
            what=what,
        )

    def counts(d: RolloutDescription) -> dict[str, int]:
        return {rs.role: rs.replicas for rs in d.replica_sets if rs.replicas}

    first = reaches("the first revision Healthy", "Healthy", 2)
    assert first.ref == RolloutRef(cluster="in-cluster", namespace=ns, name="web", app=app)

    repo.write({"rollout.yaml": canary_rollout("nginx:1.25")}, "nginx 1.25")
    paused = reaches("the update paused at step 1", "Paused", 1)
    assert counts(paused) == {"canary": 1, "stable": 1}
    text = bosun.cli("rollout", "get", "web", "-n", ns).stdout
    for line in ("Status:         ॥ Paused", "  Step:         1/2", "  SetWeight:    50", "  ActualWeight: 50"):
        assert line in text, text
    assert "  ✔  0  setWeight: 50" in text and "  ►  1  pause   (current)" in text
    rows = eventually(
        lambda: [
            r
            for r in json.loads(bosun.cli("rollout", "list", "--app", app, "-o", "json").stdout)
            if r["phase"] == "Paused"
        ],
        timeout=60,
        what="list showing the pause",
    )
    assert (rows[0]["name"], rows[0]["namespace"], rows[0]["step"]) == ("web", ns, 1)

    aborted = bosun.cli("rollout", "abort", "web", "-n", ns, "--reason", "e2e")
    assert "rollout 'web' abort: accepted (Degraded" in aborted.stdout, aborted.stdout
    degraded = eventually(
        lambda: (d := described()) is not None and d.phase == "Degraded" and counts(d) == {"stable": 2} and d,
        timeout=120,
        what="the stable pods back after the abort",
    )
    assert degraded.status.get("abort") is True
    refused = bosun.cli("rollout", "promote", "web", "-n", ns, check=False)
    assert refused.returncode == 1 and "promote refused" in refused.stdout

    assert "accepted" in bosun.cli("rollout", "retry", "web", "-n", ns).stdout
    reaches("paused again after the retry", "Paused", 1)
    promoted = bosun.cli("rollout", "promote", "web", "--app", app)
    assert "rollout 'web' promote: accepted" in promoted.stdout, promoted.stdout
    done = eventually(
        lambda: (d := described()) is not None and d.phase == "Healthy" and counts(d) == {"stable": 2} and d,
        timeout=180,
        what="Healthy with the old ReplicaSet at 0 after the promotion",
    )
    assert done.current_step_index == 2

    # kubectl argo rollouts promote, as the status patch it sends: the watch signals observe
    repo.write({"rollout.yaml": canary_rollout("nginx:1.26")}, "nginx 1.26")
    reaches("the next update paused", "Paused", 1)
    patch_status(devcluster_a, ns, {"pauseConditions": None})
    eventually(
        lambda: (d := described()) is not None and d.phase == "Healthy" and counts(d) == {"stable": 2} and d,
        timeout=180,
        what="Healthy after the status-patch promotion (no Temporal call)",
    )
    live = kubectl_json(devcluster_a, "-n", ns, "get", f"{ROLLOUTS}/web")
    assert live["status"]["phase"] == "Healthy" and live["status"]["currentStepIndex"] == 2
