"""Argo CD's argocd-cm settings on the real stack: Lua health checks and resource.exclusions.

The ConfigMap ``argocd-cm`` goes into the control namespace (``bosun``) of the devcluster,
where the worker reads it every few seconds; each test removes it again, so the other tests
of the session run with Argo CD's defaults. The custom resources use API groups of their own
(``*.e2e.bosun.dev``), so no other app is touched while a test's settings are in place.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.management import CACHE_SECONDS
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, live, wait_status

HEALTH_GROUP = "health.e2e.bosun.dev"
EXCLUDED_GROUP = "excluded.e2e.bosun.dev"
# kubectl resource names qualified by group: other tests define kinds named Widget too, and
# a bare `kubectl get widget` resolves to whichever group discovery lists first.
WIDGETS = f"widgets.{HEALTH_GROUP}"
GIZMOS = f"gizmos.{EXCLUDED_GROUP}"

WIDGET_HEALTH = """\
hs = {}
if obj.status ~= nil and obj.status.phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "widget " .. obj.metadata.name .. " is ready"
else
  hs.status = "Progressing"
  hs.message = "waiting for widget " .. obj.metadata.name
end
return hs
"""


def crd(group: str, kind: str) -> dict[str, Any]:
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


def custom(group: str, kind: str, name: str, **spec: Any) -> str:
    return json.dumps({"apiVersion": f"{group}/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})


@pytest.fixture(scope="module", autouse=True)
def crds(devcluster_a: Cluster) -> None:
    for group, kind in ((HEALTH_GROUP, "Widget"), (EXCLUDED_GROUP, "Gizmo")):
        kubectl(devcluster_a, "apply", "-f", "-", input=json.dumps(crd(group, kind)))
    for group in (HEALTH_GROUP, EXCLUDED_GROUP):
        eventually(
            lambda g=group: kubectl(devcluster_a, "api-resources", f"--api-group={g}").count("\n") > 1,
            what=f"{group} served",
        )


@pytest.fixture
def argocd_cm(devcluster_a: Cluster, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Path]]:
    """Put ``argocd-cm`` with the given data into the control namespace; returns the file written
    once the worker's settings cache (``CACHE_SECONDS``) can no longer hold the previous content, so
    an app created next is compared with these settings from its first sync."""

    def put(data: dict[str, str]) -> Path:
        doc = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", "namespace": "bosun"},
            "data": data,
        }
        path = tmp_path / f"argocd-cm-{unique('v')}.yaml"
        path.write_text(yaml.safe_dump(doc))
        kubectl(devcluster_a, "apply", "-f", str(path))
        time.sleep(CACHE_SECONDS + 0.5)  # the cache's documented expiry, not a guess at speed
        return path

    yield put
    kubectl(devcluster_a, "-n", "bosun", "delete", "configmap", "argocd-cm", "--ignore-not-found")


def row(status: dict[str, Any], kind: str, name: str) -> dict[str, Any] | None:
    return next((r for r in status["resources"] if r["key"]["kind"] == kind and r["key"]["name"] == name), None)


def cli_health(bosun: Bosun, cluster: Cluster, ns: str, settings: Path, tmp_path: Path) -> dict[str, str]:
    """``bosun health --settings`` on the live Widget, as a user tries a script before installing it."""
    live_file = tmp_path / f"live-{unique('w')}.yaml"
    live_file.write_text(kubectl(cluster, "-n", ns, "get", WIDGETS, "w1", "-o", "yaml"))
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "health", "-f", str(live_file), "--settings", str(settings), "-o", "json"],
        env=bosun.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (entry,) = json.loads(proc.stdout)
    return {"status": entry["status"], "message": entry["message"]}


def test_lua_health_from_argocd_cm_drives_sync_and_app_health_and_is_reread_without_restart(
    bosun: Bosun, devcluster_a: Cluster, argocd_cm: Callable[[dict[str, str]], Path], tmp_path: Path
) -> None:
    assert bosun.worker is not None
    worker_pid = bosun.worker.pid
    settings = argocd_cm({f"resource.customizations.health.{HEALTH_GROUP}_Widget": WIDGET_HEALTH})
    repo = GitRepo.create(
        tmp_path / "repo",
        {"widget.json": custom(HEALTH_GROUP, "Widget", "w1", size=1), "cm.json": configmap("plain", {"a": "b"})},
    )
    app, ns = unique("luahealth"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)

    # The sync waits for the Widget to be healthy, and only Lua knows what that means.
    eventually(lambda: live(devcluster_a, ns, WIDGETS, "w1"), timeout=90, what="widget applied")
    assert bosun.status(app)["operation"] != "idle"
    kubectl(
        devcluster_a,
        "-n",
        ns,
        "patch",
        WIDGETS,
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"phase": "Ready"}}),
    )
    status = wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    widget = row(status, "Widget", "w1")
    assert widget is not None
    assert (widget["health"], widget["health_message"]) == ("Healthy", "widget w1 is ready")
    assert cli_health(bosun, devcluster_a, ns, settings, tmp_path) == {
        "status": "Healthy",
        "message": "widget w1 is ready",
    }

    def widget_health(expected: str) -> dict[str, Any] | None:
        found = row(bosun.status(app), "Widget", "w1")
        return found if found and found["health"] == expected else None

    # The older nested key, changed while the worker runs: read again within seconds.
    settings = argocd_cm(
        {
            "resource.customizations": yaml.safe_dump(
                {
                    f"{HEALTH_GROUP}/Widget": {
                        "health.lua": 'return {status = "Degraded", message = "nested says " .. obj.status.phase}'
                    }
                }
            )
        }
    )
    widget = eventually(lambda: widget_health("Degraded"), timeout=90, what="nested script in effect")
    assert widget["health_message"] == "nested says Ready"
    assert bosun.status(app)["health"] == "Degraded"
    assert cli_health(bosun, devcluster_a, ns, settings, tmp_path) == {
        "status": "Degraded",
        "message": "nested says Ready",
    }

    # A wildcard key whose script never ends: Unknown, and the worker carries on.
    settings = argocd_cm({"resource.customizations": '"*.e2e.bosun.dev/*":\n  health.lua: |\n    while true do end\n'})
    widget = eventually(lambda: widget_health("Unknown"), timeout=90, what="looping script stopped")
    assert widget["health_message"] == "health.lua: exceeded its time budget of 1s"
    assert cli_health(bosun, devcluster_a, ns, settings, tmp_path) == {
        "status": "Unknown",
        "message": "health.lua: exceeded its time budget of 1s",
    }

    # A script error: Unknown with the error.
    settings = argocd_cm(
        {f"resource.customizations.health.{HEALTH_GROUP}_Widget": "return {status = obj.spec.missing.field}"}
    )
    message = "health.lua:1: attempt to index field 'missing' (a nil value)"
    widget = eventually(
        lambda: (w := widget_health("Unknown")) and w["health_message"] == message and w,
        timeout=90,
        what="script error reported",
    )
    assert cli_health(bosun, devcluster_a, ns, settings, tmp_path) == {"status": "Unknown", "message": message}

    assert bosun.worker is not None and bosun.worker.pid == worker_pid and bosun.worker.poll() is None


def test_excluded_kind_is_not_applied_tracked_or_pruned(
    bosun: Bosun, devcluster_a: Cluster, argocd_cm: Callable[[dict[str, str]], Path], tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo", {"g1.json": custom(EXCLUDED_GROUP, "Gizmo", "g1"), "cm.json": configmap("kept", {"a": "b"})}
    )
    app, ns = unique("excluded"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, prune=True)
    status = wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    assert row(status, "Gizmo", "g1") is not None and live(devcluster_a, ns, GIZMOS, "g1") is not None

    argocd_cm({"resource.exclusions": yaml.safe_dump([{"apiGroups": [EXCLUDED_GROUP], "kinds": ["*"]}])})
    # The worker re-reads the settings within seconds; commit only once a compare has used them
    # (g1, still in Git, is then reported as excluded), or auto-prune may act on the old settings.
    eventually(
        lambda: any(c["type"] == "ExcludedResourceWarning" for c in bosun.status(app)["conditions"]),
        timeout=60,
        what="the exclusion seen by a compare",
    )
    commit = repo.write(
        {"g1.json": None, "g2.json": custom(EXCLUDED_GROUP, "Gizmo", "g2"), "cm.json": configmap("kept", {"a": "c"})},
        "drop g1, add g2",
    )

    def settled() -> dict[str, Any] | None:
        status = bosun.status(app)
        done = status["revision"] == commit and status["sync"] == "Synced" and status["operation"] == "idle"
        return status if done else None

    status = eventually(settled, timeout=120, what="new commit synced")
    assert json.loads(kubectl(devcluster_a, "-n", ns, "get", "configmap", "kept", "-o", "json"))["data"] == {"a": "c"}
    assert [r for r in status["resources"] if r["key"]["kind"] == "Gizmo"] == []  # not tracked
    assert live(devcluster_a, ns, GIZMOS, "g1") is not None  # not pruned, though auto-prune is on
    assert live(devcluster_a, ns, GIZMOS, "g2") is None  # not applied
    warning = next(c["message"] for c in status["conditions"] if c["type"] == "ExcludedResourceWarning")
    assert warning == f"Resource {EXCLUDED_GROUP}/Gizmo g2 is excluded in the settings"
