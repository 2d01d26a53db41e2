"""Fuzzing the manifest parser (bosun.manifests.parse_manifests): whatever Git or a render
tool hands it — YAML or JSON, one document or many, aliases, deep nesting, huge scalars,
documents that are not objects, binary — it returns Kubernetes objects or raises a
ManifestError naming the source, in bounded time. Never another exception, never a hang.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bosun.manifests import ManifestError, parse_manifests
from tests.unit.fuzz_support import FUZZ, JSON_VALUES, TEXT, set_path

pytestmark = pytest.mark.timeout(300)


def parsed_or_error(text: str, source: str = "fuzz.yaml", **kwargs: Any) -> list[dict[str, Any]] | None:
    """The objects, checked to be usable Kubernetes objects, or None for a ManifestError."""
    try:
        objects = parse_manifests(text, source=source, **kwargs)
    except ManifestError as exc:
        assert str(exc).startswith(source)
        return None
    for obj in objects:
        assert isinstance(obj, dict)
        assert isinstance(obj["apiVersion"], str) and obj["apiVersion"]
        assert isinstance(obj["kind"], str) and obj["kind"]
        assert isinstance(obj["metadata"], dict)
        assert obj["metadata"].get("name") or obj["metadata"].get("generateName")
        json.dumps(obj)  # the content store can hold it
    return objects


# -- hostile shapes


@st.composite
def alias_bombs(draw: st.DrawFn) -> str:
    levels = draw(st.integers(1, 12))
    width = draw(st.integers(1, 12))
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data:", "  l0: &l0 [x]"]
    for level in range(1, levels + 1):
        lines.append(f"  l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * width) + "]")
    if draw(st.booleans()):
        lines.append(f"  merged:\n    <<: *l{levels}")
    return "\n".join(lines) + "\n"


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    depth = draw(st.integers(1, 3000))
    shape = draw(st.sampled_from(["flow-seq", "flow-map", "block-seq", "block-map", "json"]))
    if shape == "flow-seq":
        return "[" * depth + "]" * depth
    if shape == "flow-map":
        return "{a: " * depth + "1" + "}" * depth
    if shape == "block-seq":
        return "- " * depth + "x"
    if shape == "block-map":
        return "".join(" " * i + "a:\n" for i in range(min(depth, 400))) + " " * min(depth, 400) + "1\n"
    return '{"a":' * depth + "1" + "}" * depth


@st.composite
def huge_scalars(draw: st.DrawFn) -> str:
    size = draw(st.sampled_from([10, 100, 10_000, 300_000]))
    char = draw(st.sampled_from(["x", "é", "\\n", " "]))
    style = draw(st.sampled_from(["plain", "quoted", "block", "key"]))
    value = char * size
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\n"
    if style == "plain":
        return head + f"data: {{a: {value}}}\n"
    if style == "quoted":
        return head + f'data: {{a: "{value}"}}\n'
    if style == "block":
        return head + "data:\n  a: |\n    " + value + "\n"
    return head + f"data: {{{value}: a}}\n"


ODD_DOCUMENTS = st.sampled_from(
    [
        "42",
        "'a string'",
        "null",
        "~",
        "[]",
        "{}",
        "- 1\n- 2\n",
        "!!binary aGVsbG8=",
        "!!python/object/apply:os.system ['true']",
        "!custom {a: 1}",
        "!!set {a, b}",
        "? [1, 2]\n: complex key\n",
        "? {a: 1}\n: mapping key\n",
        "apiVersion: v1\nkind: List\nitems: {a: 1}\n",
        "apiVersion: v1\nkind: List\nitems: [1, 2]\n",
        "apiVersion: v1\nkind: ConfigMapList\nitems: [{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}]\n",
        "apiVersion: 1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x]}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: {a: 1}}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, annotations: [a]}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {when: 2001-12-14t21:59:43.10-05:00}\n",
        "a: 1\na: 2\n",
        "%YAML 1.1\n---\na: 1\n",
        "%TAG ! tag:example.com,2000:\n---\n!foo 1\n",
        "\ufeffapiVersion: v1\nkind: ConfigMap\nmetadata: {name: bom}\n",
        "...",
        "---",
        "&a a: *a",
        "a: !!int abc",
        "a: !!float abc",
        "a: !!bool maybe",
        "a: !!timestamp x",
        "a: !!timestamp 2001-13-45",
        "a: !!binary '%%%'",
        "*unknown",
        "{",
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}} {"a": 1}',
        '[{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}, 3]',
    ]
)

DOCUMENTS = st.one_of(alias_bombs(), deep_nesting(), huge_scalars(), ODD_DOCUMENTS, TEXT)


@FUZZ
@given(st.lists(DOCUMENTS, min_size=1, max_size=4), st.sampled_from(["fuzz.yaml", "fuzz.json", "helm template x"]))
def test_hostile_streams_parse_or_fail_with_a_manifest_error(documents: list[str], source: str) -> None:
    parsed_or_error("\n---\n".join(documents), source=source)
    parsed_or_error("\n---\n".join(documents), source=source, skip_unrelated=True)


@FUZZ
@given(st.text(max_size=400))
def test_any_text(text: str) -> None:
    parsed_or_error(text)


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_as_a_tool_would_hand_them(data: bytes) -> None:
    parsed_or_error(data.decode("utf-8", errors="replace"))
    parsed_or_error(data.decode("latin-1"))


# -- well-formed objects come back as they were


OBJECTS = st.builds(
    lambda name, data, extra: set_path(
        set_path({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}, ("data",), data),
        ("extra",),
        extra,
    ),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20),
    st.dictionaries(TEXT, TEXT, max_size=5),
    JSON_VALUES,
)


@FUZZ
@given(st.lists(OBJECTS, min_size=1, max_size=4))
def test_objects_round_trip_through_json_and_yaml(objects: list[dict[str, Any]]) -> None:
    assert parsed_or_error(json.dumps(objects), source="x.json") == objects
    assert parsed_or_error("\n".join(json.dumps(o) for o in objects), source="x.json") == objects
    assert parsed_or_error(yaml.safe_dump_all(objects), source="x.yaml") == objects
    as_list = {"apiVersion": "v1", "kind": "List", "items": objects}
    assert parsed_or_error(yaml.safe_dump(as_list), source="x.yaml") == objects


@FUZZ
@given(JSON_VALUES)
def test_any_json_value(value: Any) -> None:
    parsed_or_error(json.dumps(value), source="x.json")
    parsed_or_error(yaml.safe_dump(value), source="x.yaml")
