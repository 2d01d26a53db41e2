"""Resource identity: the one apiVersion split and the one plan key."""

from __future__ import annotations

import pytest

from bosun.crds import is_crd
from bosun.plan import plan_key
from bosun.resources import Manifest, ResourceKey, api_group, group_kind


@pytest.mark.parametrize(
    ("api_version", "group"),
    [
        ("v1", ""),
        ("apps/v1", "apps"),
        ("apiextensions.k8s.io/v1", "apiextensions.k8s.io"),
        ("argoproj.io/v1alpha1", "argoproj.io"),
        ("", ""),
    ],
)
def test_api_group_is_the_part_before_the_version(api_version: str, group: str) -> None:
    assert api_group(api_version) == group


def test_group_kind_and_resource_key_read_an_object_alike() -> None:
    obj: Manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    assert group_kind(obj) == ("apps", "Deployment")
    assert ResourceKey.of(obj) == ResourceKey(group="apps", kind="Deployment", namespace="shop", name="web")
    assert group_kind({}) == ("", "")


def test_is_crd_uses_the_group_not_the_version() -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"}}
    assert is_crd(crd)
    assert is_crd({**crd, "apiVersion": "apiextensions.k8s.io/v1beta1"})
    assert not is_crd({**crd, "apiVersion": "example.com/v1"})


def test_plan_key_names_a_generate_name_hook_by_its_prefix() -> None:
    job: Manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": "migrate-", "namespace": "a"},
    }
    assert plan_key(job) == ResourceKey(group="batch", kind="Job", namespace="a", name="migrate-")
    named = {**job, "metadata": {"name": "migrate", "generateName": "ignored-", "namespace": "a"}}
    assert plan_key(named) == ResourceKey.of(named)


def test_a_key_described_for_a_person_names_the_namespace_when_it_has_one() -> None:
    assert ResourceKey(kind="Service", namespace="shop", name="web").described == "Service/web in namespace shop"
    assert ResourceKey(kind="Namespace", name="shop").described == "Namespace/shop"
