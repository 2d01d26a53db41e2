"""The diff package's building blocks, one table per rule."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from bosun.diff import (
    LAST_APPLIED_ANNOTATION,
    MASK,
    FieldSet,
    IgnoreDifference,
    NormalizeOptions,
    StatusMode,
    compare,
    mask_secret,
    mask_secrets,
    normalize,
    render_unified,
    to_yaml,
)
from bosun.diff.ignore import as_rules
from bosun.diff.managedfields import PathElement, ignore_owned_differences
from bosun.diff.tree import (
    changed_paths,
    delete_paths,
    json_equal,
    parse_pointer,
    pointer,
    prune_empty,
    remove_pointer,
)
from bosun.glob import match as glob_match
from bosun.resources import ResourceKey, SyncCode
from bosun.tracking import ANNOTATION as TRACKING_ANNOTATION

# --- tree -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        ("1", 1, False),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [2, 1], False),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal


def test_prune_empty_keeps_list_elements_and_falsy_scalars() -> None:
    doc: dict[str, Any] = {
        "a": {},
        "b": [],
        "c": None,
        "d": {"e": {"f": None}},
        "g": [{}, {"h": []}],
        "i": "",
    }
    assert prune_empty(doc) == {"g": [{}, {}], "i": ""}
    assert prune_empty({"x": 0, "y": False}) == {"x": 0, "y": False}


@pytest.mark.parametrize(
    ("ptr", "tokens"),
    [
        ("", []),
        ("/spec/replicas", ["spec", "replicas"]),
        (
            "/metadata/labels/app.kubernetes.io~1name",
            ["metadata", "labels", "app.kubernetes.io/name"],
        ),
        ("/a~0b/~01", ["a~b", "~1"]),
    ],
)
def test_pointer_round_trip(ptr: str, tokens: list[str]) -> None:
    assert parse_pointer(ptr) == tokens
    assert pointer(tokens) == ptr


@pytest.mark.parametrize(
    ("ptr", "removed", "after"),
    [
        ("/spec/replicas", True, {"spec": {"list": [1, 2, 3]}, "a/b": 1}),
        ("/spec/list/1", True, {"spec": {"replicas": 3, "list": [1, 3]}, "a/b": 1}),
        ("/a~1b", True, {"spec": {"replicas": 3, "list": [1, 2, 3]}}),
        ("/spec/list/3", False, None),
        ("/spec/list/01", False, None),
        ("/spec/list/-", False, None),
        ("/spec/missing/x", False, None),
        ("/spec/replicas/x", False, None),
    ],
)
def test_remove_pointer(ptr: str, removed: bool, after: dict[str, Any] | None) -> None:
    doc = {"spec": {"replicas": 3, "list": [1, 2, 3]}, "a/b": 1}
    original = json.loads(json.dumps(doc))
    assert remove_pointer(doc, ptr) is removed
    assert doc == (after if removed else original)


def test_delete_paths_deletes_higher_indices_first() -> None:
    doc = {"items": ["a", "b", "c", "d"], "x": {"y": 1}}
    delete_paths(doc, [["items", 1], ["items", 3], ["x", "y"], ["nope", "z"]])
    assert doc == {"items": ["a", "c"], "x": {}}


def test_changed_paths_stop_where_documents_diverge() -> None:
    live = {"a": {"b": 1, "c": [1, 2]}, "d": [{"e": 1}], "f/g": True, "gone": 1}
    target = {"a": {"b": 2, "c": [1, 2, 3]}, "d": [{"e": 2}], "f/g": 1, "new": {"x": 1}}
    assert list(changed_paths(live, target)) == [
        "/a/b",
        "/a/c",
        "/d/0/e",
        "/f~1g",
        "/gone",
        "/new",
    ]
    assert list(changed_paths(1, 2)) == [""]


# --- ignore rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "match"),
    [
        ("", "", True),
        ("", "apps", False),
        ("apps", "apps", True),
        ("apps", "apps.example.com", False),
        ("*", "", True),
        ("*", "rbac.authorization.k8s.io", True),
        ("*.k8s.io", "rbac.authorization.k8s.io", True),
        ("Deploy?ent", "Deployment", True),
        ("{apps,batch}", "batch", True),
        ("{apps,batch}", "extensions", False),
        ("[CD]*", "ConfigMap", True),
        ("[!CD]*", "ConfigMap", False),
        ("a.b", "axb", False),
        ("\\*", "*", True),
        ("\\*", "x", False),
        ("[", "[", False),
        ("{a,b", "a", False),
    ],
)
def test_glob_match(pattern: str, text: str, match: bool) -> None:
    assert glob_match(pattern, text) is match


def test_ignore_difference_parses_argo_field_names() -> None:
    rule = IgnoreDifference.model_validate(
        {
            "group": "apps",
            "kind": "Deployment",
            "jsonPointers": ["/spec/replicas"],
            "jqPathExpressions": [".spec.template.spec.hostname"],
            "managedFieldsManagers": ["kube-controller-manager"],
            "somethingNew": True,
        }
    )
    assert rule.json_pointers == ("/spec/replicas",)
    assert rule.jq_path_expressions == (".spec.template.spec.hostname",)
    assert rule.managed_fields_managers == ("kube-controller-manager",)
    key = ResourceKey(group="apps", kind="Deployment", namespace="ns", name="web")
    assert rule.matches(key)
    assert not rule.matches(key.model_copy(update={"group": ""}))


def test_entries_from_objects_with_snake_case_attributes() -> None:
    @dataclass
    class Entry:
        kind: str
        group: str = "apps"
        name: str = ""
        namespace: str = ""
        json_pointers: list[str] = field(default_factory=lambda: ["/spec/replicas"])
        jq_path_expressions: list[str] = field(default_factory=list)
        managed_fields_managers: list[str] = field(default_factory=list)

    (rule,) = as_rules([Entry(kind="Deployment")])
    assert rule == IgnoreDifference(group="apps", kind="Deployment", jsonPointers=("/spec/replicas",))


@pytest.mark.parametrize(
    "entry",
    [
        {"kind": "Deployment", "jsonPointers": ["spec/replicas"]},
        {"kind": "Deployment", "jqPathExpressions": [".spec | ["]},
        {"jsonPointers": ["/spec/replicas"]},
    ],
)
def test_invalid_ignore_difference(entry: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        IgnoreDifference.model_validate(entry)


# --- managedFields ----------------------------------------------------------------------


def test_field_set_parses_fields_v1() -> None:
    fields = FieldSet.from_fields_v1(
        {
            "f:spec": {
                "f:replicas": {},
                "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}},
            },
            "f:metadata": {"f:finalizers": {'v:"example.com/x"': {}}},
            "bogus": {},
        }
    )
    spec = fields.children[PathElement("f", "spec")]
    assert spec.children[PathElement("f", "replicas")].is_leaf
    port = spec.children[PathElement("f", "ports")].children[PathElement("k", '{"port":80,"protocol":"TCP"}')]
    assert port.member and not port.is_leaf
    assert len(fields.children) == 2


@pytest.mark.parametrize(
    ("element", "node", "found"),
    [
        (PathElement("f", "a"), {"a": 1}, "a"),
        (PathElement("f", "a"), [1], None),
        (PathElement("k", '{"name":"b"}'), [{"name": "a"}, {"name": "b"}], 1),
        (
            PathElement("k", '{"port":80,"protocol":"TCP"}'),
            [{"port": 80}, {"port": 80, "protocol": "TCP"}],
            1,
        ),
        (PathElement("v", '"x"'), ["w", "x"], 1),
        (PathElement("v", "not json"), ["w"], None),
        (PathElement("i", "1"), ["w", "x"], 1),
        (PathElement("i", "2"), ["w", "x"], None),
    ],
)
def test_path_element_locate(element: PathElement, node: Any, found: str | int | None) -> None:
    assert element.locate(node) == found


def owned(fields_v1: dict[str, Any]) -> FieldSet:
    return FieldSet.from_fields_v1(fields_v1)


def test_owned_leaf_that_differs_is_dropped_from_both_sides() -> None:
    left = {"spec": {"replicas": 2, "paused": False}}
    right = {"spec": {"replicas": 7, "paused": True}}
    ignore_owned_differences(left, right, owned({"f:spec": {"f:replicas": {}}}))
    assert left == {"spec": {"paused": False}}
    assert right == {"spec": {"paused": True}}


def test_owned_leaf_that_is_equal_stays() -> None:
    left = {"spec": {"replicas": 2}}
    right = {"spec": {"replicas": 2}}
    ignore_owned_differences(left, right, owned({"f:spec": {"f:replicas": {}}}))
    assert left == right == {"spec": {"replicas": 2}}


def test_owned_list_element_added_by_the_manager_is_dropped() -> None:
    left = {"metadata": {"finalizers": ["ours"]}}
    right = {"metadata": {"finalizers": ["ours", "theirs"]}}
    fields = owned({"f:metadata": {"f:finalizers": {'v:"theirs"': {}}}})
    ignore_owned_differences(left, right, fields)
    assert right == left == {"metadata": {"finalizers": ["ours"]}}


def test_owned_fields_inside_keyed_elements() -> None:
    left = {"ports": [{"port": 80, "protocol": "TCP", "nodePort": 30001, "name": "http"}]}
    right = {"ports": [{"port": 80, "protocol": "TCP", "nodePort": 31999, "name": "web"}]}
    fields = owned({"f:ports": {'k:{"port":80,"protocol":"TCP"}': {"f:nodePort": {}}}})
    ignore_owned_differences(left, right, fields)
    assert left == {"ports": [{"port": 80, "protocol": "TCP", "name": "http"}]}
    assert right == {"ports": [{"port": 80, "protocol": "TCP", "name": "web"}]}


def test_several_owned_siblings_with_equal_values_are_dropped_by_key() -> None:
    left = {"a": 1, "b": 1, "c": 1}
    right = {"a": 2, "b": 2, "c": 1}
    ignore_owned_differences(left, right, owned({"f:b": {}, "f:c": {}}))
    assert left == {"a": 1, "c": 1}
    assert right == {"a": 2, "c": 1}


def test_managed_fields_are_read_from_live_only() -> None:
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    desired["data"] = {"k": "git"}
    entry = {"manager": "operator", "fieldsV1": {"f:data": {"f:k": {}}}}
    live: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "managedFields": [entry]},
        "data": {"k": "operator"},
    }
    rules = [{"kind": "ConfigMap", "managedFieldsManagers": ["operator"]}]

    assert compare(desired, live, desired, ignore=rules).sync == SyncCode.SYNCED
    assert compare(desired, live, desired).sync == SyncCode.OUT_OF_SYNC
    del live["metadata"]["managedFields"]
    assert compare(desired, live, desired, ignore=rules).sync == SyncCode.OUT_OF_SYNC


# --- normalize --------------------------------------------------------------------------


def deployment(**extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "u",
            "resourceVersion": "1",
            "generation": 2,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "selfLink": "/apis/apps/v1/namespaces/shop/deployments/web",
            "deletionGracePeriodSeconds": 30,
            "managedFields": [{"manager": "bosun"}],
            "annotations": {
                LAST_APPLIED_ANNOTATION: "{}",
                TRACKING_ANNOTATION: "shop:apps/Deployment:shop/web",
            },
        },
        "spec": {"replicas": 1, "template": {"metadata": {"creationTimestamp": None}}},
        "status": {"replicas": 1},
        **extra,
    }


def test_normalize_strips_what_never_counts_and_keeps_tracking() -> None:
    obj = deployment()
    assert normalize(obj) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "annotations": {TRACKING_ANNOTATION: "shop:apps/Deployment:shop/web"},
        },
        "spec": {"replicas": 1},
    }
    assert obj == deployment(), "normalize() must not modify its argument"


@pytest.mark.parametrize(
    ("mode", "kind", "api_version", "kept"),
    [
        (StatusMode.ALL, "Deployment", "apps/v1", False),
        (StatusMode.CRD, "Deployment", "apps/v1", True),
        (StatusMode.CRD, "CustomResourceDefinition", "apiextensions.k8s.io/v1", False),
        (StatusMode.NONE, "CustomResourceDefinition", "apiextensions.k8s.io/v1", True),
    ],
)
def test_status_modes(mode: StatusMode, kind: str, api_version: str, kept: bool) -> None:
    obj = {"apiVersion": api_version, "kind": kind, "status": {"x": 1}}
    assert ("status" in normalize(obj, options=NormalizeOptions(ignore_status=mode))) is kept


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("all", StatusMode.ALL),
        ("CRD", StatusMode.CRD),
        ("off", StatusMode.NONE),
        ("false", StatusMode.NONE),
    ],
)
def test_status_mode_parse(text: str, mode: StatusMode) -> None:
    assert StatusMode.parse(text) is mode


def test_secret_string_data_and_null_values() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "data": {"a": "eA==", "empty": None},
        "stringData": {"b": "y", "a": "z", "n": 5},
    }
    assert normalize(secret)["data"] == {"a": "eg==", "b": "eQ==", "empty": "", "n": 5}
    assert "stringData" not in normalize(secret)
    not_core = {"apiVersion": "example.com/v1", "kind": "Secret", "stringData": {"b": "y"}}
    assert normalize(not_core) == not_core


def test_aggregated_role_rules_ignored_only_when_asked() -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]},
        "rules": [{"verbs": ["get"]}],
    }
    assert "rules" in normalize(role)
    assert "rules" not in normalize(role, options=NormalizeOptions(ignore_aggregated_roles=True))


def test_ignored_labels() -> None:
    obj = {"kind": "ConfigMap", "metadata": {"labels": {"a": "1", "b": "2"}}}
    options = NormalizeOptions(ignore_labels=frozenset({"b"}))
    assert normalize(obj, options=options)["metadata"] == {"labels": {"a": "1"}}


# --- masking ----------------------------------------------------------------------------


def secret(data: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    if data is not None:
        obj["data"] = data
    return obj | extra


def test_masks_show_only_whether_values_differ() -> None:
    left = secret({"same": "c2FtZQ==", "changed": "b2xk", "only-left": "eA=="})
    right = secret({"same": "c2FtZQ==", "changed": "bmV3", "only-right": "eQ=="})

    masked_left, masked_right = mask_secrets(left, right)

    assert masked_left is not None and masked_right is not None
    assert masked_left["data"] == {"same": MASK, "changed": MASK, "only-left": MASK}
    assert masked_right["data"] == {"same": MASK, "changed": MASK + "++++", "only-right": MASK}
    assert left["data"]["same"] == "c2FtZQ==", "the inputs stay untouched"


def test_string_data_masks_like_its_base64_data() -> None:
    left = secret(stringData={"k": "x", "other": 7})
    right = secret({"k": "eA==", "nil": None})

    masked_left, masked_right = mask_secrets(left, right)

    assert masked_left is not None and masked_right is not None
    assert masked_left["stringData"] == {"k": MASK, "other": MASK}
    assert masked_right["data"] == {"k": MASK, "nil": MASK}


def test_last_applied_configuration_of_a_secret_is_masked() -> None:
    applied = {"apiVersion": "v1", "kind": "Secret", "data": {"k": "b2xkLXZhbHVl"}}
    live = secret({"k": "bmV3LXZhbHVl"})
    live["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: json.dumps(applied)}

    masked = mask_secret(live)

    note = json.loads(masked["metadata"]["annotations"][LAST_APPLIED_ANNOTATION])
    assert masked["data"] == {"k": MASK}
    assert note["data"] == {"k": MASK + "++++"}
    assert "b2xk" not in json.dumps(masked)


def test_unparseable_last_applied_is_replaced_by_a_mask() -> None:
    live = secret({"k": "eA=="})
    live["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: "{not json: password"}
    masked = mask_secret(live)
    assert masked["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] == MASK


def test_sensitive_annotations_are_masked_on_secrets() -> None:
    obj = secret({"k": "eA=="})
    obj["metadata"]["annotations"] = {"vault.example.com/token": "tok-123456", "x": "visible"}
    masked = mask_secret(obj, annotations={"vault.example.com/token"})
    assert masked["metadata"]["annotations"] == {"vault.example.com/token": MASK, "x": "visible"}


def test_malformed_secret_sections_are_masked_whole() -> None:
    masked = mask_secret(secret(stringData="password=plain-text-value"))
    assert masked["stringData"] == MASK


def test_other_kinds_are_not_masked() -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}}
    assert mask_secret(config_map) == config_map
    assert mask_secrets(None, config_map) == [None, config_map]


def test_kept_last_applied_annotation_is_masked_in_the_diff() -> None:
    applied = {"apiVersion": "v1", "kind": "Secret", "stringData": {"k": "old-secret-value"}}
    live = secret({"k": "bmV3LXNlY3JldC12YWx1ZQ=="})
    live["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: json.dumps(applied)}
    desired = secret(stringData={"k": "brand-new-secret"})
    options = NormalizeOptions(ignore_annotations=frozenset())

    diff = compare(desired, live, options=options)

    text = render_unified(diff)
    assert diff.sync == SyncCode.OUT_OF_SYNC
    for leaked in ("old-secret-value", "new-secret-value", "brand-new-secret", "bmV3"):
        assert leaked not in text
    assert MASK in text


# --- rendering --------------------------------------------------------------------------


def test_yaml_is_deterministic_and_readable() -> None:
    a = {"b": 1, "a": {"z": "multi\nline\n", "y": [2, 1]}, "long": "x" * 300}
    b = {"long": "x" * 300, "a": {"y": [2, 1], "z": "multi\nline\n"}, "b": 1}
    text = to_yaml(a)
    assert text == to_yaml(b)
    assert text.splitlines()[:5] == ["a:", "  y:", "  - 2", "  - 1", "  z: |"]
    assert "x" * 300 in text
    assert to_yaml(None) == ""


def test_render_of_a_synced_diff_is_empty() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    diff = compare(obj, obj, obj)
    assert diff.sync == SyncCode.SYNCED
    assert render_unified(diff, color=True) == render_unified(diff) == ""


def test_keep_live_values_respects_ignore_differences_on_apply() -> None:
    from bosun.diff.ignore import IgnoreDifference, keep_live_values

    desired = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"a": "1"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "v2"}]}}},
    }
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 7, "template": {"spec": {"containers": [{"name": "web", "image": "v1"}]}}},
    }
    rules = [
        IgnoreDifference.model_validate(
            {
                "group": "apps",
                "kind": "Deployment",
                "jsonPointers": ["/spec/replicas"],
                "jqPathExpressions": [".metadata.labels.a"],
            }
        )
    ]
    kept = keep_live_values(desired, live, rules)
    assert kept["spec"]["replicas"] == 7  # the HPA's value stays
    assert "a" not in kept["metadata"]["labels"]  # live lacks it: not applied either
    assert kept["spec"]["template"]["spec"]["containers"][0]["image"] == "v2"  # not ignored: Git wins
    assert desired["spec"]["replicas"] == 2  # input untouched
