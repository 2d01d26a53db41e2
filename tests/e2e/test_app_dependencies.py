"""Dependencies between apps on the real stack (issue #17 item 2): ``bosun.dev/depends-on``.

App ``web`` (the management cluster) depends on app ``db``, which deploys to a second
devcluster and is synced by hand. web waits while db is not synced, then syncs within
seconds of db becoming Synced and Healthy; a cycle of two apps is refused with a clear condition and nothing
of either is applied.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status
from tests.e2e.test_multicluster import add_cluster

DEPENDS_ON = "bosun.dev/depends-on"


def create_app(
    bosun: Bosun,
    name: str,
    repo: GitRepo,
    *,
    namespace: str,
    depends_on: str = "",
    destination: dict[str, str] | None = None,
    automated: bool = True,
) -> None:
    """An app (CreateNamespace) with the depends-on annotation, through ``bosun app create -f``."""
    policy: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
    if automated:
        policy["automated"] = {"prune": False, "selfHeal": False}
    document: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "annotations": {DEPENDS_ON: depends_on} if depends_on else {}},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url, "path": ".", "targetRevision": "HEAD"},
            "destination": destination or {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": policy,
        },
    }
    app_file = bosun.home / f"{name}-{uuid.uuid4().hex[:6]}.json"
    app_file.write_text(json.dumps(document))
    bosun.cli("app", "create", "-f", str(app_file), "--refresh-seconds", "3")


def condition(bosun: Bosun, app: str, kind: str) -> str:
    return next((c["message"] for c in bosun.status(app)["conditions"] if c["type"] == kind), "")


def test_an_app_waits_for_its_dependency_on_another_cluster_then_syncs(
    bosun: Bosun, devcluster_a: Cluster, devcluster_b: Cluster, tmp_path: Path
) -> None:
    other = unique("deps-b")
    add_cluster(bosun, devcluster_b, other)
    ns = unique("deps")
    db_repo = GitRepo.create(tmp_path / "db", {"db.json": deployment("db", replicas=1)})
    web_repo = GitRepo.create(tmp_path / "web", {"web.json": deployment("web", replicas=1)})
    db, web = unique("db"), unique("web")
    create_app(bosun, db, db_repo, namespace=ns, destination={"name": other, "namespace": ns}, automated=False)
    wait_status(bosun, db, sync="OutOfSync", timeout=60)  # compared once: not "Unknown" any more
    create_app(bosun, web, web_repo, namespace=ns, depends_on=db)

    # db is not synced yet: web waits, and says why.
    waiting = eventually(
        lambda: condition(bosun, web, "DependencyNotReady"), timeout=60, what="web's DependencyNotReady condition"
    )
    assert waiting == f"dependency {db!r} is not ready: OutOfSync, not Synced"
    time.sleep(8)  # a few more checks: still nothing of web applied
    assert bosun.status(web)["sync"] == "OutOfSync"
    assert live(devcluster_a, ns, "deployment", "web") is None
    assert "Succeeded" not in bosun.cli("app", "history", web).stdout

    shown = bosun.cli("app", "get", web).stdout
    section = shown.split("Depends on:")[1]
    assert db in section and "OutOfSync" in section and "waiting: OutOfSync, not Synced" in section

    # db is synced by hand on cluster b: it becomes Healthy, and web follows within seconds.
    bosun.cli("app", "sync", db)
    wait_status(bosun, db, sync="Synced", health="Healthy", timeout=60)
    assert live(devcluster_b, ns, "deployment", "db") is not None
    healthy_at = time.monotonic()
    wait_status(bosun, web, sync="Synced", health="Healthy", timeout=60)
    delay = time.monotonic() - healthy_at
    print(f"web synced {delay:.1f}s after its dependency {db} became Synced and Healthy")
    assert delay < 20, delay
    assert live(devcluster_a, ns, "deployment", "web") is not None
    assert condition(bosun, web, "DependencyNotReady") == ""
    section = bosun.cli("app", "get", web).stdout.split("Depends on:")[1]
    assert "Synced" in section and "Healthy" in section and "ready" in section

    bosun.cli("app", "delete", web)
    bosun.cli("app", "delete", db)
    bosun.cli("cluster", "rm", other)


def test_a_cycle_is_refused_with_a_clear_condition_and_nothing_is_applied(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    ns = unique("cycle")
    first, second = unique("first"), unique("second")
    first_repo = GitRepo.create(tmp_path / "first", {"cm.json": configmap("first", {"a": "1"})})
    second_repo = GitRepo.create(tmp_path / "second", {"cm.json": configmap("second", {"b": "2"})})
    create_app(bosun, first, first_repo, namespace=ns, depends_on=second)
    create_app(bosun, second, second_repo, namespace=ns, depends_on=first)

    for app, other in ((first, second), (second, first)):
        message = eventually(
            lambda app=app: condition(bosun, app, "InvalidSpecError"), timeout=60, what=f"{app}'s InvalidSpecError"
        )
        assert message == (
            f"{DEPENDS_ON}: dependency cycle {app} → {other} → {app}; "
            "none of these apps syncs until the cycle is broken"
        )
    time.sleep(5)
    assert live(devcluster_a, ns, "configmap", "first") is None
    assert live(devcluster_a, ns, "configmap", "second") is None

    # A manual sync is refused too, naming the cycle.
    out = bosun.cli("app", "sync", first, check=False)
    assert out.returncode != 0 and "dependency cycle" in out.stdout + out.stderr
    assert live(devcluster_a, ns, "configmap", "first") is None

    bosun.cli("app", "delete", first)
    bosun.cli("app", "delete", second)
