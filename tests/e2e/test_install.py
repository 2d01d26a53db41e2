"""The install on a real API server, and the image's install steps on this machine.

* deploy/install.yaml, deploy/namespace-install.yaml and the chart's `helm template` output
  (default and namespaced values) pass `kubectl apply --server-side --dry-run=server` on the
  devcluster: the API server validates every object (CRD schemas, RBAC, the Deployment, the
  PodDisruptionBudget, the NetworkPolicy) as it would at install, and persists nothing.
* deploy/image/install-steps.sh — what the Containerfile RUNs — installs Bosun's `worker` extra
  into a fresh venv and helm into a fresh tool directory (helm from the devstack cache, no new
  download), then `python -m worker.selfcheck` passes with the tools of that directory.
  pip's byte-compilation is turned off here (PIP_NO_COMPILE) to keep the test short on a
  loaded machine; the image compiles.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.tools import gotemplate as built_gotemplate
from devstack.tools import helm as built_helm
from tests.conftest import Cluster
from tests.e2e.conftest import kubectl
from tests.unit.install_render import (
    INSTALL_YAML,
    NAMESPACE_INSTALL_YAML,
    NAMESPACED_VALUES,
    REPO,
    helm_template,
)

EXTRA_NAMESPACE = "bosun-install-extra"


@pytest.fixture(scope="module")
def cluster(devcluster_a: Cluster) -> Cluster:
    """The devcluster with the namespaces the installs put objects in (a dry run creates none)."""
    for namespace in ("bosun", EXTRA_NAMESPACE):
        if not kubectl(devcluster_a, "get", "namespace", namespace, "--ignore-not-found", "-o", "name").strip():
            kubectl(devcluster_a, "create", "namespace", namespace)
    return devcluster_a


def _dry_run(cluster: Cluster, manifests: str) -> str:
    return kubectl(
        cluster,
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "--field-manager=bosun-install-test",
        "-f",
        "-",
        input=manifests,
    )


def _applied(output: str) -> list[str]:
    """``kind.group/name`` of each object kubectl reports as applied (dry run)."""
    return sorted(line.split()[0] for line in output.splitlines() if line.strip())


def test_install_yaml_passes_a_server_side_dry_run(cluster: Cluster) -> None:
    applied = _applied(_dry_run(cluster, INSTALL_YAML.read_text()))
    assert "deployment.apps/bosun-worker" in applied
    assert "clusterrole.rbac.authorization.k8s.io/bosun-worker" in applied
    assert "networkpolicy.networking.k8s.io/bosun-worker" in applied
    assert "poddisruptionbudget.policy/bosun-worker" in applied
    assert "customresourcedefinition.apiextensions.k8s.io/rollouts.argoproj.io" in applied
    assert "customresourcedefinition.apiextensions.k8s.io/applicationsets.argoproj.io" in applied
    assert len(applied) == 17, applied


def test_namespace_install_yaml_passes_a_server_side_dry_run(cluster: Cluster) -> None:
    applied = _applied(_dry_run(cluster, NAMESPACE_INSTALL_YAML.read_text()))
    assert "role.rbac.authorization.k8s.io/bosun-worker-manage" in applied
    assert "clusterrole.rbac.authorization.k8s.io/bosun-worker-watch" in applied


@pytest.mark.parametrize(
    "values",
    [[], [*NAMESPACED_VALUES, "--set", f"rbac.namespaces={{bosun,{EXTRA_NAMESPACE}}}"]],
    ids=["default", "namespaced"],
)
def test_helm_template_passes_a_server_side_dry_run(cluster: Cluster, values: list[str]) -> None:
    applied = _applied(_dry_run(cluster, helm_template(*values)))
    assert "deployment.apps/bosun-worker" in applied
    if values:
        assert applied.count("role.rbac.authorization.k8s.io/bosun-worker-manage") == 2


def test_the_image_install_steps_make_a_worker_the_selfcheck_accepts(tmp_path: Path) -> None:
    venv, tools = tmp_path / "venv", tmp_path / "tools"
    env = {k: v for k, v in os.environ.items() if k not in ("BOSUN_HELM", "BOSUN_GOTEMPLATE", "VIRTUAL_ENV")}
    env.update(PIP_NO_COMPILE="1", PYTHON=sys.executable, PATH="/usr/local/bin:/usr/bin:/bin")
    proc = subprocess.run(
        [
            str(REPO / "deploy" / "image" / "install-steps.sh"),
            *(str(REPO), str(venv), str(tools), str(built_helm()), str(built_gotemplate())),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("selfcheck: ready"), proc.stdout
    # the tools are the fresh ones, not the dev venv's
    assert any(line.startswith("ok    helm:") and f"({tools}/helm)" in line for line in lines), proc.stdout
    assert any(line.startswith("ok    kubectl:") and f"({venv}/bin/kubectl)" in line for line in lines), proc.stdout
    assert f"ok    bosun-gotemplate: {tools}/bosun-gotemplate" in lines, proc.stdout
    assert (venv / "bin" / "python").exists() and not (REPO / "build").exists()  # the checkout stays clean

    # the same venv without helm on its PATH: the self-check names it and fails
    (tools / "helm").unlink()
    missing = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "worker.selfcheck"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "BOSUN_CACHE": str(tmp_path / "no-cache"), "PATH": f"{tools}:{env['PATH']}"},
        cwd=tmp_path,
    )
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert missing.stdout.splitlines()[-1] == "selfcheck: not ready, 1 problem(s): helm"
