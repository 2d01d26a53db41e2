"""Benchmark: Bosun's render activity, cold and cached, against the tools it wraps.

In one process, for a Helm chart and for a Kustomize overlay:
  baseline  ``helm template`` / ``kubectl kustomize`` on the same directory;
  cold      Bosun's render activity with an empty content store (git export, tool run,
            parsing, storing);
  cached    the same render again (an unchanged revision: the cache answers, no tool runs).
Ratios are Bosun / baseline. Run: .venv/bin/python bench/bench_render.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from activities.contracts import RenderInput  # noqa: E402
from activities.gitrepo import GitCache  # noqa: E402
from activities.source import SourceActivities  # noqa: E402
from activities.store import ContentStore  # noqa: E402
from devstack import tools  # noqa: E402

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "values.yaml": "replicas: 2\n",
    **{
        f"templates/cm-{i}.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{i}\n"
        f"data:\n  replicas: {{{{ .Values.replicas | quote }}}}\n"
        for i in range(20)
    },
    "templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
    "spec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: web}}\n  template:\n"
    "    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n",
}
KUSTOMIZE = {
    "base/kustomization.yaml": "resources:\n" + "".join(f"- cm-{i}.yaml\n" for i in range(20)),
    **{
        f"base/cm-{i}.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  i: '{i}'\n"
        for i in range(20)
    },
    "overlays/production/kustomization.yaml": "resources: [../../base]\nnamePrefix: prod-\n"
    "commonLabels: {env: production}\n",
}


def make_repo(path: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()


def timed(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_case(label: str, files: dict[str, str], path: str, baseline_cmd: list[str], work: Path, rounds: int) -> str:
    """One line: the baseline tool, Bosun's cold render and its cached render of one source."""
    repo = work / label.replace(" ", "-")
    commit = make_repo(repo, files)
    env = {**os.environ, "HOME": str(work)}
    baseline = timed(lambda: subprocess.run(baseline_cmd, cwd=repo, env=env, check=True, capture_output=True), rounds)

    def render(store_dir: Path) -> int:
        activities = SourceActivities(
            git=GitCache(work / "git", allow_local=True), store=ContentStore(store_dir), workdir=work / "renders"
        )
        result = activities.render(
            RenderInput(
                app="bench",
                repo_url=f"file://{repo}",
                commit=commit,
                source={"repoURL": f"file://{repo}", "path": path},
            )
        )
        return result.resource_count

    counter = iter(range(10_000))
    cold = timed(lambda: render(work / f"store-cold-{label}-{next(counter)}"), rounds)
    warm_store = work / f"store-warm-{label}"
    count = render(warm_store)
    assert count >= 20, f"{label}: rendered {count} objects"
    cached = timed(lambda: render(warm_store), rounds)
    name = "kubectl kustomize" if "kustomize" in label else "helm template"
    return (
        f"{label} ({count} objects): baseline {name} {baseline * 1000:7.1f} ms | "
        f"bosun cold {cold * 1000:7.1f} ms ({cold / baseline:5.2f}x) | "
        f"bosun cached {cached * 1000:6.1f} ms ({cached / baseline:5.3f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bosun-bench-render-"))
    helm = str(tools.helm())
    kubectl = str(tools.venv_tool("kubectl"))
    os.environ["BOSUN_HELM"] = helm
    cases = {
        "helm chart": (CHART, ".", [helm, "template", "bench", "."]),
        "kustomize overlay": (KUSTOMIZE, "overlays/production", [kubectl, "kustomize", "overlays/production"]),
    }
    try:
        for label, (files, path, baseline_cmd) in cases.items():
            print(bench_case(label, files, path, baseline_cmd, work, args.rounds))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
