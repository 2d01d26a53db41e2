"""``bosun health -f FILE``, driven through click as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bosun.cli.health_cmd import health

PROGRESSING = "Waiting for rollout to finish: 1 out of 3 new replicas have been updated..."

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: guestbook
  namespace: default
  generation: 2
spec:
  replicas: 3
status:
  observedGeneration: 2
  replicas: 3
  updatedReplicas: 1
  availableReplicas: 3
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: guestbook-config
  namespace: default
data:
  LOG_LEVEL: info
---
apiVersion: v1
kind: Namespace
metadata:
  name: default
status:
  phase: Active
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: paused-one
  namespace: default
spec:
  paused: true
"""


def run(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(health, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(MANIFESTS)
    return path


def test_table(manifest_file: Path) -> None:
    code, out, err = run(["-f", str(manifest_file)])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["KIND", "NAMESPACE", "NAME", "STATUS", "MESSAGE"]
    assert lines[1].split(maxsplit=4) == [
        "Deployment",
        "default",
        "guestbook",
        "Progressing",
        PROGRESSING,
    ]
    assert lines[2].split() == ["ConfigMap", "default", "guestbook-config", "-"]
    assert lines[4].split(maxsplit=4) == [
        "Deployment",
        "default",
        "paused-one",
        "Suspended",
        "Deployment is paused",
    ]
    # Columns line up: every row's STATUS starts where the header's does.
    status_at = lines[0].index("STATUS")
    assert all(
        line[status_at:].split()[0] in {"Progressing", "-", "Healthy", "Suspended"}
        for line in lines[1:]
    )


def test_cluster_scoped_object_has_an_empty_namespace(manifest_file: Path) -> None:
    code, out, _ = run(["-f", str(manifest_file)])
    assert code == 0
    namespace_row = out.splitlines()[3]
    assert namespace_row.split() == ["Namespace", "default", "Healthy"]
    assert namespace_row.startswith("Namespace  ")


def test_json(manifest_file: Path) -> None:
    code, out, err = run(["-f", str(manifest_file), "-o", "json"])
    assert code == 0, err
    rows = json.loads(out)
    assert rows == [
        {
            "group": "apps",
            "kind": "Deployment",
            "namespace": "default",
            "name": "guestbook",
            "status": "Progressing",
            "message": PROGRESSING,
        },
        {
            "group": "",
            "kind": "ConfigMap",
            "namespace": "default",
            "name": "guestbook-config",
            "status": "-",
            "message": "",
        },
        {
            "group": "",
            "kind": "Namespace",
            "namespace": "",
            "name": "default",
            "status": "Healthy",
            "message": "",
        },
        {
            "group": "apps",
            "kind": "Deployment",
            "namespace": "default",
            "name": "paused-one",
            "status": "Suspended",
            "message": "Deployment is paused",
        },
    ]


def test_json_input_with_a_list_from_kubectl(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": "web-0", "namespace": "shop"},
                        "spec": {"restartPolicy": "Always"},
                        "status": {
                            "phase": "Running",
                            "containerStatuses": [
                                {
                                    "name": "web",
                                    "state": {
                                        "waiting": {
                                            "reason": "CrashLoopBackOff",
                                            "message": "back-off 5m0s restarting failed container",
                                        }
                                    },
                                }
                            ],
                        },
                    },
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {"name": "web", "namespace": "shop"},
                        "spec": {"type": "ClusterIP"},
                    },
                ],
            }
        )
    )
    code, out, err = run(["-f", str(path), "-o", "json"])
    assert code == 0, err
    assert [(r["kind"], r["status"], r["message"]) for r in json.loads(out)] == [
        ("Pod", "Degraded", "back-off 5m0s restarting failed container"),
        ("Service", "Healthy", ""),
    ]


def test_reads_stdin() -> None:
    code, out, err = run(["-f", "-", "-o", "json"], stdin=MANIFESTS)
    assert code == 0, err
    assert len(json.loads(out)) == 4


def test_empty_documents_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("---\n# nothing here\n---\n")
    code, out, _ = run(["-f", str(path), "-o", "json"])
    assert code == 0
    assert json.loads(out) == []


def test_unparseable_yaml_names_file_and_document(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(MANIFESTS.split("---")[0] + "---\nkind: Service\nmetadata: {name: [oops\n")
    code, out, err = run(["-f", str(path)])
    assert code == 2
    assert out == ""
    assert f"{path}: document 2: invalid YAML" in err
    assert "line " in err


def test_document_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "scalar.yaml"
    path.write_text(MANIFESTS + "---\njust a string\n")
    code, _, err = run(["-f", str(path)])
    assert code == 2
    assert f"{path}: document 5: expected a Kubernetes object, got str" in err


def test_unparseable_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"apiVersion": "v1", "kind": }')
    code, _, err = run(["-f", str(path)])
    assert code == 2
    assert f"{path}: document 1: invalid JSON" in err


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(["-f", str(tmp_path / "nope.yaml")])
    assert code == 2
    assert "nope.yaml" in err


def test_flow_style_yaml_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("{apiVersion: v1, kind: Service, metadata: {name: web}}\n")
    code, out, err = run(["-f", str(path), "-o", "json"])
    assert code == 0, err
    assert [(r["kind"], r["status"]) for r in json.loads(out)] == [("Service", "Healthy")]
