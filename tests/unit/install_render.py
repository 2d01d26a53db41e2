"""Shared helpers of the install tests: render deploy/install (kustomize) and deploy/chart/bosun (helm).

Both renders use the tools a worker uses (:func:`activities.renderers.tools.find_tool`: the
venv's kubectl with its kustomize, the helm of ``python -m devstack.tools``), so the committed
deploy/install.yaml is compared with what the pinned kustomize makes of deploy/install.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from activities.renderers.tools import find_tool

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "install"
CHART = REPO / "deploy" / "chart" / "bosun"
INSTALL_YAML = REPO / "deploy" / "install.yaml"
NAMESPACE_INSTALL_YAML = REPO / "deploy" / "namespace-install.yaml"

NAMESPACED_VALUES = ["--set", "rbac.namespaced=true"]


def run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def kustomize(directory: Path) -> str:
    return run([str(find_tool("kubectl")), "kustomize", str(directory)]).stdout


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([str(find_tool("helm")), *args], check=check)


def helm_template(*values: str, crds: bool = True) -> str:
    """The chart rendered as release ``bosun`` in namespace ``bosun`` (with its CRDs, as
    `helm install` installs them, unless ``crds`` is false: `helm install --skip-crds`)."""
    flags = ["--include-crds"] if crds else []
    return helm("template", "bosun", str(CHART), "--namespace", "bosun", *flags, *values).stdout


def objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return (obj["kind"], meta["name"], meta.get("namespace", ""))


def by_key(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {key(o): o for o in docs}


def one(docs: list[dict[str, Any]], kind: str, name: str = "bosun-worker") -> dict[str, Any]:
    found = [o for o in docs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"want one {kind} {name}, have {[key(o) for o in docs]}"
    return found[0]


def worker_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["worker"]
    return dict(containers[0])
