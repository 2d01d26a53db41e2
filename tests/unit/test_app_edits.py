"""Edits of ``bosun app create|set|unset|patch`` on Application documents (bosun.app_edits)."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.app_edits import (
    AppSettings,
    AppUnsettings,
    EditError,
    apply_settings,
    apply_unsettings,
    document_digest,
    image_name,
    json_patch,
    merge_patch,
)
from bosun.models import ModelError, parse_application


def app(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/web.git", "path": "deploy", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            **spec,
        },
    }


def test_set_changes_source_destination_and_sync_policy_and_leaves_the_input_alone() -> None:
    before = app(syncPolicy={"syncOptions": ["CreateNamespace=true"]})
    after = apply_settings(
        before,
        AppSettings(
            revision="v2",
            path="deploy/prod",
            dest_name="staging",
            dest_namespace="web-prod",
            sync_policy="automated",
            self_heal=True,
            auto_prune=False,
        ),
    )
    assert after["spec"]["source"] == {
        "repoURL": "https://git.example.com/web.git",
        "path": "deploy/prod",
        "targetRevision": "v2",
    }
    assert after["spec"]["destination"] == {"name": "staging", "namespace": "web-prod"}
    assert after["spec"]["syncPolicy"] == {
        "syncOptions": ["CreateNamespace=true"],
        "automated": {"selfHeal": True, "prune": False},
    }
    assert before["spec"]["source"]["targetRevision"] == "HEAD"
    parse_application(after)


def test_sync_policy_none_removes_automated_and_an_empty_policy() -> None:
    automated = app(syncPolicy={"automated": {"prune": True}})
    assert "syncPolicy" not in apply_settings(automated, AppSettings(sync_policy="none"))["spec"]


def test_auto_prune_needs_automated_sync() -> None:
    with pytest.raises(EditError, match="--auto-prune: the app has no automated sync"):
        apply_settings(app(), AppSettings(auto_prune=True))


def test_dest_server_and_dest_name_together_are_refused() -> None:
    with pytest.raises(EditError, match="give one"):
        apply_settings(app(), AppSettings(dest_server="https://x", dest_name="x"))


def test_helm_parameters_replace_by_name_and_values_files_are_added_once() -> None:
    start = app()
    start["spec"]["source"]["helm"] = {
        "parameters": [{"name": "replicaCount", "value": "1"}],
        "valueFiles": ["values.yaml"],
    }
    after = apply_settings(
        start,
        AppSettings(
            helm_set=("replicaCount=3", "image.tag=1.2"),
            helm_set_string=("port=80",),
            values=("values.yaml", "prod.yaml"),
        ),
    )
    helm = after["spec"]["source"]["helm"]
    assert helm["parameters"] == [
        {"name": "replicaCount", "value": "3"},
        {"name": "image.tag", "value": "1.2"},
        {"name": "port", "value": "80", "forceString": True},
    ]
    assert helm["valueFiles"] == ["values.yaml", "prod.yaml"]
    unset = apply_unsettings(after, AppUnsettings(parameters=("image.tag", "port"), values=("prod.yaml",)))
    assert unset["spec"]["source"]["helm"] == {
        "parameters": [{"name": "replicaCount", "value": "3"}],
        "valueFiles": ["values.yaml"],
    }


def test_helm_set_without_equals_names_the_flag() -> None:
    with pytest.raises(EditError, match="--helm-set replicas: expected key=value"):
        apply_settings(app(), AppSettings(helm_set=("replicas",)))


def test_kustomize_images_replace_the_override_for_the_same_image() -> None:
    after = apply_settings(app(), AppSettings(kustomize_images=("nginx:1.25", "ghcr.io/x/api:1")))
    after = apply_settings(after, AppSettings(kustomize_images=("nginx:1.27",)))
    assert after["spec"]["source"]["kustomize"]["images"] == ["ghcr.io/x/api:1", "nginx:1.27"]
    removed = apply_unsettings(after, AppUnsettings(kustomize_images=("nginx",)))
    assert removed["spec"]["source"]["kustomize"]["images"] == ["ghcr.io/x/api:1"]
    with pytest.raises(EditError, match="--kustomize-image redis: not in"):
        apply_unsettings(after, AppUnsettings(kustomize_images=("redis",)))


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("nginx", "nginx"),
        ("nginx:1.27", "nginx"),
        ("registry:5000/team/api:1", "registry:5000/team/api"),
        ("api@sha256:abc", "api"),
        ("old=new:2", "old"),
    ],
)
def test_image_name_is_what_argo_cd_matches_on(image: str, name: str) -> None:
    assert image_name(image) == name


def test_sync_options_are_replaced_by_key_and_removed_with_a_bang() -> None:
    start = app(syncPolicy={"syncOptions": ["CreateNamespace=true", "Prune=false"]})
    after = apply_settings(start, AppSettings(sync_options=("Prune=confirm", "!CreateNamespace", "PruneLast=true")))
    assert after["spec"]["syncPolicy"]["syncOptions"] == ["Prune=confirm", "PruneLast=true"]
    with pytest.raises(EditError, match="no sync option Replace"):
        apply_settings(start, AppSettings(sync_options=("!Replace",)))


def test_a_misspelled_sync_option_is_caught_by_the_model_with_its_field() -> None:
    after = apply_settings(app(), AppSettings(sync_options=("CreateNamespce=true",)))
    with pytest.raises(ModelError, match=r"spec\.syncPolicy\.syncOptions\[0\].*CreateNamespace"):
        parse_application(after)


def test_labels_are_added_to_metadata() -> None:
    after = apply_settings(app(), AppSettings(labels=("team=web", "tier=")))
    assert after["metadata"]["labels"] == {"team": "web", "tier": ""}


def test_source_flags_on_a_multi_source_app_point_to_patch() -> None:
    doc = app()
    doc["spec"]["sources"] = [doc["spec"].pop("source")]
    with pytest.raises(EditError, match="bosun app patch"):
        apply_settings(doc, AppSettings(revision="v2"))
    assert apply_settings(doc, AppSettings(project="other"))["spec"]["project"] == "other"


def test_unset_values_literal_and_name_affixes() -> None:
    doc = app()
    doc["spec"]["source"]["helm"] = {"values": "a: 1"}
    assert "helm" not in apply_unsettings(doc, AppUnsettings(values_literal=True))["spec"]["source"]
    doc["spec"]["source"].pop("helm")
    doc["spec"]["source"]["kustomize"] = {"namePrefix": "p-", "nameSuffix": "-s"}
    assert apply_unsettings(doc, AppUnsettings(nameprefix=True))["spec"]["source"]["kustomize"] == {"nameSuffix": "-s"}


def test_merge_patch_follows_rfc_7386() -> None:
    doc = {"a": {"b": 1, "c": 2}, "list": [1, 2], "keep": True}
    assert merge_patch(doc, {"a": {"b": None, "d": 3}, "list": [3], "new": {"x": None}}) == {
        "a": {"c": 2, "d": 3},
        "list": [3],
        "keep": True,
        "new": {},
    }
    assert doc["a"] == {"b": 1, "c": 2}


def test_json_patch_follows_rfc_6902() -> None:
    doc: dict[str, Any] = {"spec": {"source": {"path": "a"}, "list": ["x", "z"]}, "metadata": {"labels": {"a/b": "1"}}}
    after = json_patch(
        doc,
        [
            {"op": "replace", "path": "/spec/source/path", "value": "b"},
            {"op": "add", "path": "/spec/list/1", "value": "y"},
            {"op": "add", "path": "/spec/list/-", "value": "end"},
            {"op": "remove", "path": "/metadata/labels/a~1b"},
            {"op": "copy", "from": "/spec/source/path", "path": "/spec/copied"},
            {"op": "move", "from": "/spec/copied", "path": "/spec/moved"},
            {"op": "test", "path": "/spec/moved", "value": "b"},
        ],
    )
    assert after == {
        "spec": {"source": {"path": "b"}, "list": ["x", "y", "z", "end"], "moved": "b"},
        "metadata": {"labels": {}},
    }
    assert doc["spec"]["source"]["path"] == "a"


@pytest.mark.parametrize(
    ("operations", "says"),
    [
        ({"op": "add"}, "a list of operations"),
        ([{"op": "replace", "path": "/nope", "value": 1}], "patch operation 0 (replace /nope): no member 'nope'"),
        ([{"op": "test", "path": "/a", "value": 2}], "test failed"),
        ([{"op": "add", "path": "/list/5", "value": 2}], "out of range"),
        ([{"op": "frobnicate", "path": "/a"}], "unknown op"),
        ([{"op": "add", "path": "a", "value": 1}], "not a JSON pointer"),
        ([{"op": "add", "path": "/a"}], "needs 'value'"),
    ],
)
def test_json_patch_errors_name_the_operation(operations: Any, says: str) -> None:
    with pytest.raises(EditError) as raised:
        json_patch({"a": 1, "list": []}, operations)
    assert says in str(raised.value)


def test_document_digest_ignores_key_order() -> None:
    assert document_digest({"a": 1, "b": {"c": 2}}) == document_digest({"b": {"c": 2}, "a": 1})
    assert document_digest({"a": 1}) != document_digest({"a": 2})
