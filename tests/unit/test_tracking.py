"""Resource tracking as Argo CD does it: the three methods, ownership, legacy Bosun ids."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bosun.diff import compare
from bosun.resources import Manifest, ResourceKey, SyncCode
from bosun.tracking import (
    ANNOTATION,
    DEFAULT_LABEL_KEY,
    INSTALLATION_ID_ANNOTATION,
    LEGACY_ANNOTATION,
    TrackingConfig,
    TrackingMethod,
    align_tracking,
    app_of_instance,
    apply_tracking,
    instance_name,
    is_tracked_by,
    label_value,
    parse_tracking_id,
    tracked_app,
    tracking_id,
)

LABEL = TrackingConfig(method=TrackingMethod.LABEL)
BOTH = TrackingConfig(method=TrackingMethod.ANNOTATION_AND_LABEL)
ANNOTATION_ONLY = TrackingConfig()


def obj(kind: str, name: str, namespace: str = "", api_version: str = "v1") -> Manifest:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def annotated(o: Manifest, value: str, name: str = ANNOTATION) -> Manifest:
    o["metadata"].setdefault("annotations", {})[name] = value
    return o


def labelled(o: Manifest, value: str, key: str = DEFAULT_LABEL_KEY) -> Manifest:
    o["metadata"].setdefault("labels", {})[key] = value
    return o


# --------------------------------------------------------------------------- config


def test_defaults_are_argo_cd_3s() -> None:
    config = TrackingConfig()
    assert (config.method, config.label_key, config.installation_id) == (
        TrackingMethod.ANNOTATION,
        "app.kubernetes.io/instance",
        "",
    )
    assert TrackingConfig.from_settings("", "") == config


def test_from_settings_reads_argocd_cm_values() -> None:
    config = TrackingConfig.from_settings("annotation+label", " example.com/app ")
    assert config == TrackingConfig(TrackingMethod.ANNOTATION_AND_LABEL, "example.com/app")


def test_unknown_method_names_the_setting() -> None:
    with pytest.raises(ValueError, match=r"application.resourceTrackingMethod: 'labels' is not one of"):
        TrackingConfig.from_settings("labels")


def test_label_selector_only_for_the_label_method() -> None:
    assert LABEL.label_selector("team-a/web") == "app.kubernetes.io/instance=team-a_web"
    assert ANNOTATION_ONLY.label_selector("web") == ""
    assert BOTH.label_selector("web") == ""


# --------------------------------------------------------------------------- names and ids


@pytest.mark.parametrize(("app", "instance"), [("web", "web"), ("team-a/web", "team-a_web")])
def test_instance_name_round_trips(app: str, instance: str) -> None:
    assert instance_name(app) == instance
    assert app_of_instance(instance) == app


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (ResourceKey(kind="ConfigMap", namespace="shop", name="cfg"), "guestbook:/ConfigMap:shop/cfg"),
        (
            ResourceKey(group="apps", kind="Deployment", namespace="shop", name="web"),
            "guestbook:apps/Deployment:shop/web",
        ),
        (
            ResourceKey(group="rbac.authorization.k8s.io", kind="ClusterRole", name="system:reader"),
            "guestbook:rbac.authorization.k8s.io/ClusterRole:/system:reader",
        ),
    ],
)
def test_tracking_id_format_and_round_trip(key: ResourceKey, expected: str) -> None:
    assert tracking_id("guestbook", key) == expected
    assert parse_tracking_id(expected) == ("guestbook", key)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "guestbook",
        "guestbook:apps/Deployment",
        "g:apps:ns/name",
        "g:a/b/c:ns/n",
        "g:a/K:ns/n/x",
        ":a/K:ns/n",
        "g:a/:ns/n",
        "g:a/K:ns/",
    ],
)
def test_parse_tracking_id_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        parse_tracking_id(value)


@pytest.mark.parametrize(
    ("instance", "label"),
    [
        ("guestbook", "guestbook"),
        ("argocd_guestbook", "argocd_guestbook"),
        ("a" * 63, "a" * 63),
        ("a" * 70, "a" * 63),
        ("a" * 62 + "-b", "a" * 62),
        ("x" * 61 + "._y", "x" * 61),
    ],
)
def test_label_value_is_truncated_as_argo_cd_does(instance: str, label: str) -> None:
    assert label_value(instance) == label


# --------------------------------------------------------------------------- writing


def test_annotation_method_writes_only_the_annotation_to_a_copy() -> None:
    original = labelled(obj("Deployment", "web", "shop", "apps/v1"), "web", key="app")
    before = copy.deepcopy(original)
    tracked = apply_tracking(original, "guestbook")
    assert original == before
    assert tracked["metadata"]["labels"] == {"app": "web"}
    assert tracked["metadata"]["annotations"] == {ANNOTATION: "guestbook:apps/Deployment:shop/web"}


def test_label_method_writes_only_the_label_untruncated() -> None:
    tracked = apply_tracking(obj("ConfigMap", "c", "shop"), "a" * 70, LABEL)
    assert tracked["metadata"]["labels"] == {DEFAULT_LABEL_KEY: "a" * 70}
    assert "annotations" not in tracked["metadata"]


def test_annotation_and_label_writes_both_with_a_truncated_label_and_custom_key() -> None:
    config = TrackingConfig(TrackingMethod.ANNOTATION_AND_LABEL, "example.com/app")
    tracked = apply_tracking(obj("ConfigMap", "c", "shop"), "team-a/" + "w" * 70, config)
    assert tracked["metadata"]["labels"] == {"example.com/app": ("team-a_" + "w" * 70)[:63]}
    assert tracked["metadata"]["annotations"] == {ANNOTATION: "team-a_" + "w" * 70 + ":/ConfigMap:shop/c"}


def test_cluster_scoped_object_records_the_destination_namespace() -> None:
    role = obj("ClusterRole", "reader", api_version="rbac.authorization.k8s.io/v1")
    tracked = apply_tracking(role, "guestbook", namespace="shop")
    expected = "guestbook:rbac.authorization.k8s.io/ClusterRole:shop/reader"
    assert tracked["metadata"]["annotations"][ANNOTATION] == expected
    assert is_tracked_by(tracked, "guestbook")


def test_installation_id_is_written_and_required() -> None:
    config = TrackingConfig(installation_id="prod")
    tracked = apply_tracking(obj("ConfigMap", "c", "shop"), "guestbook", config)
    assert tracked["metadata"]["annotations"][INSTALLATION_ID_ANNOTATION] == "prod"
    assert is_tracked_by(tracked, "guestbook", config)
    assert not is_tracked_by(tracked, "guestbook"), "another installation's object is not ours"
    assert not is_tracked_by(apply_tracking(obj("ConfigMap", "c", "shop"), "guestbook"), "guestbook", config)
    assert INSTALLATION_ID_ANNOTATION not in apply_tracking(tracked, "guestbook")["metadata"]["annotations"]


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("live", "tracked"),
    [
        pytest.param(apply_tracking(obj("ConfigMap", "c", "shop"), "guestbook"), True, id="own object"),
        pytest.param(
            apply_tracking(obj("ClusterRole", "r", api_version="rbac.authorization.k8s.io/v1"), "guestbook"),
            True,
            id="cluster-scoped",
        ),
        pytest.param(
            annotated(
                obj("ClusterRole", "r", api_version="rbac.authorization.k8s.io/v1"),
                "guestbook:rbac.authorization.k8s.io/ClusterRole:shop/r",
            ),
            True,
            id="cluster-scoped with recorded namespace",
        ),
        pytest.param(apply_tracking(obj("ConfigMap", "c", "shop"), "other"), False, id="another app"),
        pytest.param(
            annotated(obj("ConfigMap", "copy", "shop"), "guestbook:/ConfigMap:shop/c"),
            False,
            id="annotation copied to another name",
        ),
        pytest.param(
            annotated(obj("ConfigMap", "c", "other-ns"), "guestbook:/ConfigMap:shop/c"),
            False,
            id="annotation copied to another namespace",
        ),
        pytest.param(
            annotated(obj("Secret", "c", "shop"), "guestbook:/ConfigMap:shop/c"),
            False,
            id="annotation copied to another kind",
        ),
        pytest.param(
            annotated(obj("Deployment", "c", "shop", "apps/v1"), "guestbook:extensions/Deployment:shop/c"),
            False,
            id="another group",
        ),
        pytest.param(labelled(obj("ConfigMap", "c", "shop"), "guestbook"), False, id="label alone"),
        pytest.param(annotated(obj("ConfigMap", "c", "shop"), "garbage"), False, id="malformed id"),
        pytest.param(obj("ConfigMap", "c", "shop"), False, id="untracked"),
        pytest.param(
            annotated(obj("ConfigMap", "c", "shop"), "guestbook:/ConfigMap:shop/c", LEGACY_ANNOTATION),
            True,
            id="Bosun's legacy annotation",
        ),
        pytest.param(
            annotated(
                annotated(obj("ConfigMap", "c", "shop"), "guestbook:/ConfigMap:shop/c", LEGACY_ANNOTATION),
                "other:/ConfigMap:shop/c",
            ),
            False,
            id="Argo CD's annotation wins over the legacy one",
        ),
    ],
)
def test_is_tracked_by_with_the_annotation_method(live: Manifest, tracked: bool) -> None:
    assert is_tracked_by(live, "guestbook") is tracked
    assert is_tracked_by(live, "guestbook", BOTH) is tracked, "annotation+label decides by the annotation too"


def test_an_app_in_another_namespace_is_tracked_by_its_instance_name() -> None:
    live = annotated(obj("ConfigMap", "c", "shop"), "team-a_web:/ConfigMap:shop/c")
    assert is_tracked_by(live, "team-a/web")
    assert not is_tracked_by(live, "web")
    assert tracked_app(live) == "team-a/web"


@pytest.mark.parametrize(
    ("live", "owner"),
    [
        pytest.param(labelled(obj("ConfigMap", "c", "shop"), "guestbook"), "guestbook", id="label"),
        pytest.param(
            labelled(obj("ConfigMap", "copy", "shop"), "guestbook"),
            "guestbook",
            id="a copied label still counts: the label method cannot tell",
        ),
        pytest.param(apply_tracking(obj("ConfigMap", "c", "shop"), "guestbook"), None, id="annotation ignored"),
        pytest.param(labelled(obj("ConfigMap", "c", "shop"), "team-a_web"), "team-a/web", id="namespaced app"),
    ],
)
def test_label_method_reads_only_the_label(live: Manifest, owner: str | None) -> None:
    assert tracked_app(live, LABEL) == owner
    assert is_tracked_by(live, "guestbook", LABEL) is (owner == "guestbook")


def test_label_method_with_a_custom_key() -> None:
    config = TrackingConfig(TrackingMethod.LABEL, "example.com/app")
    live = labelled(labelled(obj("ConfigMap", "c", "shop"), "other"), "guestbook", key="example.com/app")
    assert is_tracked_by(live, "guestbook", config)
    assert apply_tracking(obj("ConfigMap", "c"), "guestbook", config)["metadata"]["labels"] == {
        "example.com/app": "guestbook"
    }


def test_annotation_and_label_ignores_a_label_for_another_app() -> None:
    live = labelled(apply_tracking(obj("ConfigMap", "c", "shop"), "guestbook"), "other")
    assert tracked_app(live, BOTH) == "guestbook"


# --------------------------------------------------------------------------- aligning for the diff


def legacy(o: Manifest, app: str) -> Manifest:
    """As Bosun wrote objects before it used Argo CD's scheme."""
    key = ResourceKey.of(o)
    return labelled(annotated(o, f"{app}:{key.group}/{key.kind}:{key.namespace}/{key.name}", LEGACY_ANNOTATION), app)


def test_legacy_bosun_object_is_aligned_and_synced() -> None:
    desired = apply_tracking(obj("ConfigMap", "c", "shop"), "guestbook")
    live = legacy(obj("ConfigMap", "c", "shop"), "guestbook")
    assert compare(desired, live, desired).sync is SyncCode.OUT_OF_SYNC
    aligned = align_tracking(live, desired, "guestbook")
    assert aligned["metadata"]["annotations"] == desired["metadata"]["annotations"]
    assert aligned["metadata"]["labels"] == {}
    assert compare(desired, aligned, desired).sync is SyncCode.SYNCED
    assert LEGACY_ANNOTATION in live["metadata"]["annotations"], "the live object is not modified"


def test_argo_cd_label_tracked_object_is_aligned_after_switching_to_annotations() -> None:
    desired = apply_tracking(obj("ConfigMap", "c", "shop"), "guestbook")
    live = labelled(obj("ConfigMap", "c", "shop"), "guestbook")
    assert compare(desired, align_tracking(live, desired, "guestbook"), desired).sync is SyncCode.SYNCED


@pytest.mark.parametrize(
    "live",
    [
        pytest.param(apply_tracking(obj("ConfigMap", "c", "shop"), "other"), id="annotation of another app"),
        pytest.param(legacy(obj("ConfigMap", "c", "shop"), "other"), id="legacy id of another app"),
        pytest.param(labelled(obj("ConfigMap", "c", "shop"), "other"), id="label of another app"),
    ],
)
def test_an_object_of_another_app_still_differs(live: Manifest) -> None:
    desired = apply_tracking(obj("ConfigMap", "c", "shop"), "guestbook")
    assert align_tracking(live, desired, "guestbook") is live
    assert compare(desired, live, desired).sync is SyncCode.OUT_OF_SYNC
