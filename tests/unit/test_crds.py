"""The kinds an app's CRDs define (bosun.crds): scope, and readiness of a live CRD."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.crds import DefinedKind, defined_kind, defined_kinds, is_crd, is_established


def crd(
    group: Any = "example.com",
    kind: Any = "Widget",
    scope: str | None = "Namespaced",
    api_version: str = "apiextensions.k8s.io/v1",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"group": group, "names": {"kind": kind, "plural": "widgets"}}
    if scope is not None:
        spec["scope"] = scope
    return {
        "apiVersion": api_version,
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (crd(), DefinedKind("example.com", "Widget", namespaced=True)),
        (crd(scope="Cluster"), DefinedKind("example.com", "Widget", namespaced=False)),
        (crd(scope=None), DefinedKind("example.com", "Widget", namespaced=True)),
        (crd(api_version="apiextensions.k8s.io/v1beta1"), DefinedKind("example.com", "Widget", namespaced=True)),
        (crd(group=""), None),
        (crd(kind=None), None),
        (crd(group=7), None),
        ({**crd(), "spec": "not a mapping"}, None),
        ({**crd(), "apiVersion": "example.com/v1"}, None),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, None),
    ],
)
def test_the_kind_a_crd_defines(obj: dict[str, Any], expected: DefinedKind | None) -> None:
    assert defined_kind(obj) == expected


def test_defined_kinds_by_group_and_kind_ignore_other_objects() -> None:
    objects = [
        crd(),
        crd(group="ops.example.com", kind="Gadget", scope="Cluster"),
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    ]
    assert defined_kinds(objects) == {
        ("example.com", "Widget"): DefinedKind("example.com", "Widget", namespaced=True),
        ("ops.example.com", "Gadget"): DefinedKind("ops.example.com", "Gadget", namespaced=False),
    }
    assert [is_crd(o) for o in objects] == [True, True, False]


@pytest.mark.parametrize(
    ("conditions", "established"),
    [
        (None, False),
        ([], False),
        ([{"type": "NamesAccepted", "status": "True"}], False),
        ([{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "False"}], False),
        ([{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}], True),
        (["garbage", {"type": "Established", "status": "True"}], True),
    ],
)
def test_a_live_crd_is_established_by_its_condition(conditions: Any, established: bool) -> None:
    live = crd()
    if conditions is not None:
        live["status"] = {"conditions": conditions}
    assert is_established(live) is established
