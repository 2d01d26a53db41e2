"""``bosun health -f FILE``, driven through click as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.health_cmd import health

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
    assert all(line[status_at:].split()[0] in {"Progressing", "-", "Healthy", "Suspended"} for line in lines[1:])


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
    assert f"{path}: document 2: YAML syntax error at line " in err
    assert "line " in err


def test_document_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "scalar.yaml"
    path.write_text(MANIFESTS + "---\njust a string\n")
    code, _, err = run(["-f", str(path)])
    assert code == 2
    assert f"{path}: document 5: expected a Kubernetes object (a mapping), got a string" in err


def test_unparseable_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"apiVersion": "v1", "kind": }')
    code, _, err = run(["-f", str(path)])
    assert code == 2
    assert f"{path}: document 1: JSON syntax error at line 1" in err


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


# ---------------------------------------------------------------------- --settings (Lua health)

SETTINGS_CM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  resource.customizations.health.example.com_Widget: |
    hs = {}
    if obj.status ~= nil and obj.status.ready then
      hs.status = "Healthy"
      hs.message = "widget " .. obj.metadata.name .. " is ready"
    else
      hs.status = "Progressing"
      hs.message = "waiting for widget"
    end
    return hs
  resource.customizations.health.example.com_Broken: |
    return {status = obj.status.phase}
  resource.customizations.health.example.com_Spinner: |
    while true do end
  resource.customizations.health.apps_Deployment: |
    return {status = "Suspended", message = "Lua wins over the built-in check"}
  resource.customizations: |
    "*.crossplane.io/*":
      health.lua: |
        return {status = "Degraded", message = "wildcard for " .. obj.kind}
    example.com/Gadget:
      health.lua: |
        return {status = "Healthy", message = "nested key"}
"""

CUSTOM_OBJECTS = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: ready-one, namespace: default}
status: {ready: true}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: waiting-one, namespace: default}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g, namespace: default}
---
apiVersion: s3.aws.crossplane.io/v1beta1
kind: Bucket
metadata: {name: b}
---
apiVersion: example.com/v1
kind: Broken
metadata: {name: x, namespace: default}
---
apiVersion: example.com/v1
kind: Spinner
metadata: {name: s, namespace: default}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: default}
spec: {replicas: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: default}
"""


def test_settings_apply_lua_health_checks_in_input_order(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(SETTINGS_CM)
    (tmp_path / "objects.yaml").write_text(CUSTOM_OBJECTS)
    code, out, _ = run(["-f", str(tmp_path / "objects.yaml"), "--settings", str(tmp_path / "cm.yaml"), "-o", "json"])
    assert code == 0
    rows = [(r["kind"], r["name"], r["status"], r["message"]) for r in json.loads(out)]
    assert rows == [
        ("Widget", "ready-one", "Healthy", "widget ready-one is ready"),
        ("Widget", "waiting-one", "Progressing", "waiting for widget"),
        ("Gadget", "g", "Healthy", "nested key"),
        ("Bucket", "b", "Degraded", "wildcard for Bucket"),
        ("Broken", "x", "Unknown", "health.lua:1: attempt to index field 'status' (a nil value)"),
        ("Spinner", "s", "Unknown", "health.lua: exceeded its time budget of 1s"),
        ("Deployment", "d", "Suspended", "Lua wins over the built-in check"),
        ("ConfigMap", "c", "-", ""),
    ]


def test_without_settings_custom_kinds_have_no_health(tmp_path: Path) -> None:
    (tmp_path / "objects.yaml").write_text(CUSTOM_OBJECTS)
    code, out, _ = run(["-f", str(tmp_path / "objects.yaml"), "-o", "json"])
    assert code == 0
    assert [r["status"] for r in json.loads(out)][:3] == ["-", "-", "-"]


def test_bad_settings_exit_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(
        SETTINGS_CM.replace(
            "resource.customizations.health.apps_Deployment", "resource.customizations.healthy.apps_Deployment"
        )
    )
    (tmp_path / "objects.yaml").write_text(CUSTOM_OBJECTS)
    code, _, err = run(["-f", str(tmp_path / "objects.yaml"), "--settings", str(tmp_path / "cm.yaml")])
    assert code == 2
    assert "resource.customizations.healthy.apps_Deployment" in err


def test_an_object_the_renderers_would_refuse_is_refused_the_same_way(tmp_path: Path) -> None:
    # One parser for rendered output and for this command (bosun.manifests).
    path = tmp_path / "nameless.yaml"
    path.write_text(MANIFESTS + "---\napiVersion: v1\nkind: Service\nmetadata: {namespace: default}\n")
    code, out, err = run(["-f", str(path)])
    assert code == 2
    assert out == ""
    assert f"{path}: document 5 (Service): missing metadata.name" in err
