"""argocd-cm parsing (bosun.settings) and custom Lua health (bosun.health.custom)."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.diff import compare
from bosun.diff.normalize import StatusMode
from bosun.health import assess_health
from bosun.health.custom import settings_health
from bosun.resources import HealthCode, SyncCode
from bosun.settings import (
    DEFAULT_SETTINGS,
    Settings,
    SettingsError,
    parse_config_map,
    parse_go_duration,
    parse_settings,
)

CERT_HEALTH = """
hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for i, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message
      return hs
    end
    if condition.type == "Ready" and condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for certificate"
return hs
"""

NESTED = """
"*.crossplane.io/*":
  health.lua: |
    return {status = "Suspended", message = "wildcard " .. obj.kind}
example.com/Widget:
  health.lua: |
    return {status = obj.spec.wanted, message = "nested"}
  ignoreDifferences: |
    jsonPointers:
    - /spec/replicas
  actions: |
    discovery.lua: |
      actions = {}
      actions["bump"] = {}
      return actions
    definitions:
    - name: bump
      action.lua: |
        obj.spec.replicas = obj.spec.replicas + 1
        return obj
"""

SPLIT_ACTIONS = """
discovery.lua: |
  actions = {}
  actions["restart"] = {["disabled"] = false}
  return actions
definitions:
- name: restart
  action.lua: |
    return obj
"""


def cert(ready: str | None, message: str = "") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "c", "namespace": "default"},
    }
    if ready is not None:
        obj["status"] = {"conditions": [{"type": "Ready", "status": ready, "message": message}]}
    return obj


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": spec,
    }


def health(settings: Settings, obj: dict[str, Any]) -> tuple[HealthCode | None, str]:
    status = assess_health(obj, override=settings_health(settings))
    return (status.status, status.message) if status else (None, "")


# ---------------------------------------------------------------------- defaults and plain keys


def test_empty_data_is_argo_cd_defaults() -> None:
    settings = parse_settings({}, source="test")
    assert settings.tracking_method == "annotation"
    assert settings.instance_label_key == "app.kubernetes.io/instance"
    assert settings.reconciliation_seconds is None
    assert settings.overrides == {}
    assert settings.compare_options.ignore_resource_status_field is StatusMode.ALL
    assert DEFAULT_SETTINGS.tracking_method == "annotation"


def test_plain_keys() -> None:
    settings = parse_settings(
        {
            "application.resourceTrackingMethod": "annotation+label",
            "application.instanceLabelKey": "argocd.argoproj.io/instance",
            "timeout.reconciliation": "3m",
            "url": "https://argocd.example.com",  # not Bosun's: left alone
        },
        source="test",
    )
    assert settings.tracking_method == "annotation+label"
    assert settings.instance_label_key == "argocd.argoproj.io/instance"
    assert settings.reconciliation_seconds == 180


@pytest.mark.parametrize(
    ("text", "seconds"), [("180s", 180), ("0", 0), ("0s", 0), ("1h30m", 5400), ("1.5m", 90), ("500ms", 1)]
)
def test_reconciliation_timeout(text: str, seconds: int) -> None:
    assert parse_settings({"timeout.reconciliation": text}, source="t").reconciliation_seconds == seconds


def test_go_durations() -> None:
    assert parse_go_duration("2h45m30.5s") == 2 * 3600 + 45 * 60 + 30.5
    with pytest.raises(ValueError):
        parse_go_duration("10")


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"timeout.reconciliation": "soon"}, "timeout.reconciliation"),
        ({"timeout.reconciliation": "-5s"}, "timeout.reconciliation"),
        ({"application.resourceTrackingMethod": "annotations"}, "application.resourceTrackingMethod"),
        ({"application.instanceLabelKey": "not a label"}, "application.instanceLabelKey"),
        ({"resource.exclusions": "apiGroups: [x]"}, "resource.exclusions"),
        ({"resource.exclusions": "- apiGroup: [x]"}, "resource.exclusions[0]"),
        ({"resource.inclusions": "- kinds: Deployment"}, "resource.inclusions[0].kinds"),
        ({"resource.compareoptions": "ignoreResourceStatusField: some"}, "ignoreResourceStatusField"),
        ({"resource.compareoptions": "ignoreAggregatedRole: true"}, "resource.compareoptions"),
        ({"resource.customizations": "- not a map"}, "resource.customizations"),
        ({"resource.customizations": "apps/Deployment:\n  health.luaa: x"}, "health.luaa"),
        ({"resource.customizations.healthz.apps_Deployment": "x"}, "resource.customizations.healthz.apps_Deployment"),
        ({"resource.customizations.health.a_b_c": "x"}, "resource.customizations.health.a_b_c"),
        ({"resource.customizations.useOpenLibs.apps_Deployment": "yes please"}, "useOpenLibs.apps_Deployment"),
        (
            {"resource.customizations.ignoreDifferences.apps_Deployment": "jsonPointers: [spec]"},
            "ignoreDifferences.apps_Deployment",
        ),
        ({"resource.customizations.ignoreDifferences.all": "jqPathExpressions: ['.[[']"}, "ignoreDifferences.all"),
        ({"resource.customizations.actions.apps_Deployment": "definitions: [{name: x}]"}, "action.lua"),
        ({"resource.customizations.knownTypeFields.apps_Deployment": "field: x"}, "knownTypeFields"),
    ],
)
def test_bad_values_name_the_key(data: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings(data, source="ConfigMap bosun/argocd-cm")
    assert names in str(err.value)
    assert "ConfigMap bosun/argocd-cm" in str(err.value)


# ---------------------------------------------------------------------- custom health


def test_split_key_health_overrides_the_kind() -> None:
    settings = parse_settings({"resource.customizations.health.cert-manager.io_Certificate": CERT_HEALTH}, source="t")
    assert health(settings, cert("True", "issued")) == (HealthCode.HEALTHY, "issued")
    assert health(settings, cert("False", "expired")) == (HealthCode.DEGRADED, "expired")
    assert health(settings, cert(None)) == (HealthCode.PROGRESSING, "Waiting for certificate")
    assert health(DEFAULT_SETTINGS, cert("True")) == (None, "")  # no built-in check for Certificates


def test_core_kind_key_and_override_of_a_built_in_check() -> None:
    settings = parse_settings(
        {
            "resource.customizations.health.Service": 'return {status = "Degraded"}',
            "resource.customizations.health.apps_Deployment": 'return {status = "Suspended"}',
        },
        source="t",
    )
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}
    assert health(settings, service) == (HealthCode.DEGRADED, "")
    assert health(settings, deployment) == (HealthCode.SUSPENDED, "")
    assert health(DEFAULT_SETTINGS, service) == (HealthCode.HEALTHY, "")


def test_nested_key_and_wildcard() -> None:
    settings = parse_settings({"resource.customizations": NESTED}, source="t")
    assert health(settings, widget(wanted="Healthy")) == (HealthCode.HEALTHY, "nested")
    bucket = {"apiVersion": "s3.aws.crossplane.io/v1", "kind": "Bucket", "metadata": {"name": "b"}}
    assert health(settings, bucket) == (HealthCode.SUSPENDED, "wildcard Bucket")
    other = {"apiVersion": "crossplane.io/v1", "kind": "Bucket", "metadata": {"name": "b"}}
    assert health(settings, other) == (None, "")


def test_exact_key_wins_over_a_wildcard() -> None:
    settings = parse_settings(
        {
            "resource.customizations": '"*.example.com/*":\n  health.lua: return {status = "Degraded"}\n',
            "resource.customizations.health.a.example.com_Thing": 'return {status = "Healthy"}',
        },
        source="t",
    )
    thing = {"apiVersion": "a.example.com/v1", "kind": "Thing", "metadata": {"name": "t"}}
    other = {"apiVersion": "b.example.com/v1", "kind": "Thing", "metadata": {"name": "t"}}
    assert health(settings, thing)[0] is HealthCode.HEALTHY
    assert health(settings, other)[0] is HealthCode.DEGRADED


@pytest.mark.parametrize(
    ("script", "status", "message"),
    [
        ("error('no status yet')", HealthCode.UNKNOWN, "health.lua:1: no status yet"),
        ("while true do end", HealthCode.UNKNOWN, "health.lua: exceeded its time budget of 1s"),
        ('return {status = "Fine"}', HealthCode.UNKNOWN, "Lua returned an invalid health status"),
        ("return {}", HealthCode.UNKNOWN, "Lua returned an invalid health status"),
        ("return 'Healthy'", HealthCode.UNKNOWN, "expect table output from Lua script, not string"),
        ("return obj.status.phase", HealthCode.UNKNOWN, "health.lua:1: attempt to index field 'status' (a nil value)"),
        ('return {status = "Missing", message = "gone"}', HealthCode.MISSING, "gone"),
    ],
)
def test_script_failures_are_unknown_with_the_message(script: str, status: HealthCode, message: str) -> None:
    settings = parse_settings({"resource.customizations.health.example.com_Widget": script}, source="t")
    assert health(settings, widget()) == (status, message)


def test_use_open_libs() -> None:
    script = 'return {status = "Healthy", message = string.upper(obj.metadata.name)}'
    closed = parse_settings({"resource.customizations.health.example.com_Widget": script}, source="t")
    opened = parse_settings(
        {
            "resource.customizations.health.example.com_Widget": script,
            "resource.customizations.useOpenLibs.example.com_Widget": "true",
        },
        source="t",
    )
    assert health(closed, widget())[0] is HealthCode.UNKNOWN
    assert health(opened, widget()) == (HealthCode.HEALTHY, "W")


def test_deletion_timestamp_comes_before_the_custom_check() -> None:
    settings = parse_settings(
        {"resource.customizations.health.example.com_Widget": 'return {status="Healthy"}'}, source="t"
    )
    obj = widget()
    obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert health(settings, obj) == (HealthCode.PROGRESSING, "Pending deletion")


# ---------------------------------------------------------------------- actions, ignoreDifferences, filters


def test_action_scripts_from_both_key_forms() -> None:
    nested = parse_settings({"resource.customizations": NESTED}, source="t").action_scripts("example.com", "Widget")
    assert nested is not None
    assert list(nested.definitions) == ["bump"]
    assert "obj.spec.replicas + 1" in nested.definitions["bump"]
    assert 'actions["bump"]' in nested.discovery_lua
    split = parse_settings(
        {
            "resource.customizations.actions.apps_Deployment": SPLIT_ACTIONS,
            "resource.customizations.useOpenLibs.apps_Deployment": "true",
        },
        source="t",
    ).action_scripts("apps", "Deployment")
    assert split is not None and split.key == "apps/Deployment" and split.use_open_libs
    assert DEFAULT_SETTINGS.action_scripts("apps", "Deployment") is None


def test_ignore_differences_customizations_apply_like_the_apps_own() -> None:
    settings = parse_settings(
        {
            "resource.customizations": NESTED,
            "resource.customizations.ignoreDifferences.all": "managedFieldsManagers:\n- kube-controller-manager\n",
            "resource.customizations.ignoreDifferences.ConfigMap": "jqPathExpressions:\n- .data.generated\n",
        },
        source="t",
    )
    entries = settings.ignore_differences()
    assert {"group": "*", "kind": "*", "managedFieldsManagers": ["kube-controller-manager"]} in entries
    assert {"group": "", "kind": "ConfigMap", "jqPathExpressions": [".data.generated"]} in entries
    desired, live = widget(replicas=1), widget(replicas=3)
    assert compare(desired, live, ignore=entries).sync is SyncCode.SYNCED
    assert compare(desired, live).sync is SyncCode.OUT_OF_SYNC


def test_exclusions_and_inclusions_follow_argo_cd() -> None:
    settings = parse_settings(
        {
            "resource.exclusions": """
- apiGroups: ["*.example.com"]
  kinds: ["*"]
  clusters: ["https://prod.*"]
- apiGroups: [""]
  kinds: [ConfigMap]
"""
        },
        source="t",
    )
    assert settings.is_excluded("a.example.com", "Widget", "https://prod.example.com")
    assert not settings.is_excluded("a.example.com", "Widget", "https://kubernetes.default.svc")
    assert settings.is_excluded("", "ConfigMap")
    assert not settings.is_excluded("apps", "Deployment")
    assert settings.is_excluded("", "Event") and settings.is_excluded("events.k8s.io", "Event")
    included = parse_settings({"resource.inclusions": "- apiGroups: [apps]\n  kinds: ['*']\n"}, source="t")
    assert not included.is_excluded("apps", "Deployment")
    assert included.is_excluded("", "ConfigMap")


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("all", StatusMode.ALL),
        ("crd", StatusMode.CRD),
        ("none", StatusMode.NONE),
        ("off", StatusMode.NONE),
        ("'false'", StatusMode.NONE),
    ],
)
def test_compare_options(value: str, mode: StatusMode) -> None:
    settings = parse_settings(
        {"resource.compareoptions": f"ignoreAggregatedRoles: true\nignoreResourceStatusField: {value}\n"}, source="t"
    )
    assert settings.normalize_options().ignore_status is mode
    assert settings.normalize_options().ignore_aggregated_roles


def test_known_type_fields_are_read_and_reported() -> None:
    settings = parse_settings(
        {
            "resource.customizations.knownTypeFields.argoproj.io_Rollout": (
                "- field: spec.template.spec\n  type: core/v1/PodSpec\n"
            )
        },
        source="t",
    )
    assert settings.overrides["argoproj.io/Rollout"].known_type_fields[0].type == "core/v1/PodSpec"
    assert len(settings.warnings) == 1 and "knownTypeFields of argoproj.io/Rollout" in settings.warnings[0]


def test_config_map_documents() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm"},
        "data": {"timeout.reconciliation": "60s"},
    }
    assert parse_config_map(doc, source="cm.yaml").reconciliation_seconds == 60
    with pytest.raises(SettingsError, match="quote them"):
        parse_config_map({**doc, "data": {"resource.customizations.useOpenLibs.x_Y": True}}, source="cm.yaml")
    with pytest.raises(SettingsError, match="expected a ConfigMap"):
        parse_config_map({"kind": "Secret"}, source="cm.yaml")
