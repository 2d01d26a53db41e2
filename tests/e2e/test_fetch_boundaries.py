"""Issue #16, finding 2: one team's render cannot read another team's repository through the
worker's git mirrors.

The attack, as the issue reproduced it: team A's app makes the worker mirror team A's repository
under ``$BOSUN_HOME/cache/git/``; team B commits a kustomization whose remote base is that mirror
(``file:///…/cache/git/<mirror>//app?ref=main``), and its render returned team A's Secret. Here the
test even knows the mirror's real name (a name leaked in a log, say) and the local stack's
``BOSUN_ALLOW_LOCAL_REPOS=true`` lets git use ``file://``: the render must still fail with a
ComparisonError naming the kustomization and the base, and nothing of team B's app is applied.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl_json


def secret(name: str, value: str) -> str:
    return json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"token": value}}
    )


def mirror_holding(home: Path, commit: str) -> Path | None:
    """The worker's mirror that has ``commit`` — found by looking, as a leaked name would be known."""
    cache = home / "cache" / "git"
    for path in sorted(cache.iterdir()) if cache.is_dir() else []:
        if path.is_dir() and (path / "HEAD").exists():
            probe = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=path, capture_output=True)
            if probe.returncode == 0:
                return path
    return None


def test_a_kustomize_remote_base_cannot_read_another_teams_mirror(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    team_a = GitRepo.create(
        tmp_path / "team-a",
        {
            "app/kustomization.yaml": "resources: [secret.json]\n",
            "app/secret.json": secret("team-a-token", "team-a-only"),
        },
    )
    commit = team_a.git("rev-parse", "HEAD")
    app_a, ns_a = unique("team-a"), unique("team-a")
    bosun.create_app(app_a, team_a, path="app", namespace=ns_a, automated=False)
    mirror = eventually(lambda: mirror_holding(bosun.home, commit), timeout=60, what="team A's mirror")

    team_b = GitRepo.create(
        tmp_path / "team-b",
        {"app/kustomization.yaml": f"resources:\n- file://{mirror}//app?ref=main\n"},
    )
    app_b, ns_b = unique("team-b"), unique("team-b")
    bosun.create_app(app_b, team_b, path="app", namespace=ns_b)

    def refusal() -> str | None:
        status = bosun.status(app_b)
        leaked = [r for r in status.get("resources") or [] if r["key"]["name"] == "team-a-token"]
        assert not leaked, f"team B's render returned team A's Secret: {leaked}"
        conditions = status.get("conditions") or []
        return next((c["message"] for c in conditions if c["type"] == "ComparisonError"), None)

    message = eventually(refusal, timeout=60, what="a ComparisonError for the remote base")
    assert "app/kustomization.yaml" in message and "git mirrors" in message and "refused" in message
    namespaces = {n["metadata"]["name"] for n in kubectl_json(devcluster_a, "get", "namespaces")["items"]}
    assert ns_b not in namespaces  # nothing applied


def test_a_worker_without_local_repositories_refuses_a_file_url(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    """The default outside the local stack: ``file://`` repositories are refused with a message
    saying how to enable them, and nothing is applied."""
    worker = bosun.machine(
        tmp_path / "home",
        task_queue=unique("bosun-no-local"),
        BOSUN_ALLOW_LOCAL_REPOS="false",
        BOSUN_WORKER_WATCHES="false",
    )
    worker.start_worker()
    try:
        repo = GitRepo.create(tmp_path / "repo", {"cm.json": secret("local-only", "x")})
        app, ns = unique("no-local"), unique("no-local")
        worker.create_app(app, repo, namespace=ns)

        def refusal() -> str | None:
            conditions = worker.status(app).get("conditions") or []
            return next((c["message"] for c in conditions if c["type"] == "ComparisonError"), None)

        message = eventually(refusal, timeout=60, what="a ComparisonError for the file:// repository")
        assert repo.url in message and "local repositories are disabled" in message
        assert "BOSUN_ALLOW_LOCAL_REPOS=true" in message
        namespaces = {n["metadata"]["name"] for n in kubectl_json(devcluster_a, "get", "namespaces")["items"]}
        assert ns not in namespaces
    finally:
        worker.stop_worker()
