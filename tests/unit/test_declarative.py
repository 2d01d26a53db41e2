"""The pure parts of declarative Applications: what a workflow is sent, when, and the status written back."""

from __future__ import annotations

from typing import Any

from activities.declarative import REFRESH_ANNOTATION, argo_status, spec_digest, workflow_manifest
from bosun.models import parse_application


def resource(**metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "guestbook",
            "namespace": "bosun",
            "resourceVersion": "42",
            "uid": "u-1",
            "generation": 3,
            "managedFields": [{"manager": "kubectl"}],
            **metadata,
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/a.git", "path": "guestbook"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
        },
        "status": {"sync": {"status": "Synced"}},
    }


def test_the_workflow_gets_the_spec_without_server_side_metadata_or_status() -> None:
    manifest = workflow_manifest(
        resource(
            finalizers=["resources-finalizer.argocd.argoproj.io"],
            annotations={REFRESH_ANNOTATION: "hard", "team": "web"},
        )
    )
    assert manifest["metadata"] == {
        "name": "guestbook",
        "namespace": "bosun",
        "annotations": {"team": "web"},
        "finalizers": ["resources-finalizer.argocd.argoproj.io"],
    }
    assert "status" not in manifest
    assert parse_application(manifest, source_name="test").metadata.name == "guestbook"


def test_digest_changes_with_spec_labels_annotations_but_not_status_or_refresh() -> None:
    base = spec_digest(resource())
    assert spec_digest({**resource(), "status": {"health": {"status": "Degraded"}}}) == base
    assert spec_digest(resource(resourceVersion="43")) == base
    assert spec_digest(resource(annotations={REFRESH_ANNOTATION: "normal"})) == base
    assert spec_digest(resource(labels={"team": "web"})) != base
    assert spec_digest(resource(annotations={"bosun.dev/sync-schedule": "0 2 * * *"})) != base
    changed = resource()
    changed["spec"]["source"]["path"] = "other"
    assert spec_digest(changed) != base


def test_status_is_written_in_argo_cds_shape() -> None:
    status = argo_status(
        {
            "sync": "OutOfSync",
            "health": "Progressing",
            "revision": "abc123",
            "reconciled_at": "2026-11-26T10:00:00Z",
            "conditions": [{"type": "SyncError", "message": "boom", "at": "2026-11-26T09:59:00Z"}],
            "resources": [
                {
                    "key": {"group": "apps", "kind": "Deployment", "namespace": "web", "name": "web"},
                    "api_version": "apps/v1",
                    "sync": "OutOfSync",
                    "health": "Progressing",
                    "health_message": "1 of 2 updated",
                },
                {
                    "key": {"group": "", "kind": "ConfigMap", "namespace": "web", "name": "old"},
                    "api_version": "v1",
                    "sync": "OutOfSync",
                    "requires_pruning": True,
                },
            ],
            "last_operation": {
                "id": 3,
                "phase": "Failed",
                "message": "boom",
                "revision": "abc123",
                "started_at": "2026-11-26T09:58:00Z",
                "finished_at": "2026-11-26T09:59:00Z",
            },
        }
    )
    assert status["sync"] == {"status": "OutOfSync", "revision": "abc123"}
    assert status["health"] == {"status": "Progressing"}
    assert status["conditions"] == [
        {"type": "SyncError", "message": "boom", "lastTransitionTime": "2026-11-26T09:59:00Z"}
    ]
    assert status["resources"][0] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "namespace": "web",
        "name": "web",
        "status": "OutOfSync",
        "health": {"status": "Progressing", "message": "1 of 2 updated"},
    }
    assert status["resources"][1]["requiresPruning"] is True and "health" not in status["resources"][1]
    assert status["operationState"]["phase"] == "Failed"
    assert status["operationState"]["syncResult"] == {"revision": "abc123"}
    assert argo_status({"sync": "Synced", "health": "Healthy"})["operationState"] is None
    running = argo_status(
        {"sync": "OutOfSync", "operation": "syncing to abc123 (auto)", "operation_workflow_id": "app:web:sync:4"}
    )
    assert running["operationState"] == {"phase": "Running", "message": "syncing to abc123 (auto)"}
