"""Parsing rendered output and Directory file selection (tracking: test_tracking.py)."""

from __future__ import annotations

import copy
import json

import pytest

from bosun.glob import match as glob_match
from bosun.manifests import (
    ManifestError,
    PatternError,
    parse_manifests,
    select_files,
    set_default_namespace,
)
from bosun.resources import Manifest

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def names(objs: list[Manifest]) -> list[str]:
    return [f"{o['kind']}/{o['metadata'].get('name') or o['metadata'].get('generateName')}" for o in objs]


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(CM.format(name="a"), ["ConfigMap/a"], id="single document"),
        pytest.param(
            "---\n" + CM.format(name="a") + "---\n" + CM.format(name="b") + "---\n",
            ["ConfigMap/a", "ConfigMap/b"],
            id="multi document with leading and trailing separators",
        ),
        pytest.param(
            CM.format(name="a") + "---\n# only a comment\n---\n\n---\n" + CM.format(name="b"),
            ["ConfigMap/a", "ConfigMap/b"],
            id="empty documents are skipped",
        ),
        pytest.param("", [], id="empty text"),
        pytest.param("# nothing here\n", [], id="only comments"),
        pytest.param(
            '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}',
            ["Secret/s"],
            id="JSON object",
        ),
        pytest.param(
            '[{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},'
            ' {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}}]',
            ["Secret/s", "Service/svc"],
            id="JSON list flattens",
        ),
        pytest.param(
            '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}\n'
            '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}\n',
            ["Secret/a", "Secret/b"],
            id="JSON stream",
        ),
        pytest.param(
            "apiVersion: v1\nkind: List\nitems:\n"
            "- apiVersion: v1\n  kind: Service\n  metadata: {name: svc}\n"
            "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web}\n",
            ["Service/svc", "Deployment/web"],
            id="kind List flattens",
        ),
        pytest.param(
            '{"apiVersion": "v1", "kind": "ConfigMapList", "items": ['
            '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}]}',
            ["ConfigMap/x"],
            id="typed JSON list kind flattens",
        ),
        pytest.param("apiVersion: v1\nkind: List\nitems: null\n", [], id="List without items"),
        pytest.param(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n",
            ["Job/migrate-"],
            id="generateName instead of name",
        ),
        pytest.param("\ufeff" + CM.format(name="bom"), ["ConfigMap/bom"], id="byte order mark"),
        pytest.param(
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: flow}}",
            ["ConfigMap/flow"],
            id="YAML flow mapping",
        ),
    ],
)
def test_parse(text: str, expected: list[str]) -> None:
    assert names(parse_manifests(text, source="app.yaml")) == expected


def test_parsed_objects_are_json_like_kubernetes_reads_them() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
        "data:\n  date: 2024-01-31\n  time: 2024-01-31T10:00:00Z\n"
        "  octal: '0755'\n"
        "spec:\n  1: one\n  true: yes\n"
    )
    (obj,) = parse_manifests(text, source="c.yaml")
    assert obj["data"] == {"date": "2024-01-31", "time": "2024-01-31T10:00:00Z", "octal": "0755"}
    assert obj["spec"] == {"1": "one", "true": True}
    json.dumps(obj)


def test_documents_keep_their_order_and_content() -> None:
    text = CM.format(name="a") + "data:\n  k: v\n---\n" + CM.format(name="b")
    a, b = parse_manifests(text, source="x.yaml")
    assert a == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a"},
        "data": {"k": "v"},
    }
    assert b["metadata"]["name"] == "b"


@pytest.mark.parametrize(
    ("source", "text", "message", "document", "line"),
    [
        pytest.param(
            "charts/web.yaml",
            CM.format(name="ok") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n",
            "charts/web.yaml: document 2: YAML syntax error at line",
            2,
            None,
            id="YAML syntax error names the document",
        ),
        pytest.param(
            "bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   labels: {}\n",
            "bad.yaml: document 1: YAML syntax error at line 5, column",
            1,
            5,
            id="YAML syntax error has line and column",
        ),
        pytest.param(
            "list.yaml",
            "- a\n- b\n",
            "list.yaml: document 1, item 1: expected a Kubernetes object (a mapping), got a string",
            1,
            None,
            id="YAML sequence of strings",
        ),
        pytest.param(
            "s.yaml",
            CM.format(name="a") + "---\njust text\n",
            "s.yaml: document 2: expected a Kubernetes object (a mapping), got a string",
            2,
            None,
            id="scalar document",
        ),
        pytest.param(
            "m.yaml",
            "kind: ConfigMap\nmetadata: {name: a}\n",
            "m.yaml: document 1 (ConfigMap): missing apiVersion",
            1,
            None,
            id="missing apiVersion",
        ),
        pytest.param(
            "m.yaml",
            "apiVersion: v1\nmetadata: {name: a}\n",
            "m.yaml: document 1: missing kind",
            1,
            None,
            id="missing kind",
        ),
        pytest.param(
            "m.yaml",
            CM.format(name="a") + "---\n---\napiVersion: v1\nkind: Service\nmetadata: {labels: {a: b}}\n",
            "m.yaml: document 3 (Service): missing metadata.name",
            3,
            None,
            id="missing name counts empty documents",
        ),
        pytest.param(
            "m.yaml",
            "apiVersion: v1\nkind: Service\n",
            "m.yaml: document 1 (Service): missing metadata.name",
            1,
            None,
            id="missing metadata",
        ),
        pytest.param(
            "m.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: [a]\n",
            "m.yaml: document 1 (Service): metadata must be a mapping",
            1,
            None,
            id="metadata not a mapping",
        ),
        pytest.param(
            "m.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations: {a: 1}\n",
            "m.yaml: document 1 (Service): metadata.annotations['a'] must be a string (quote it)",
            1,
            None,
            id="unquoted annotation value",
        ),
        pytest.param(
            "l.yaml",
            "apiVersion: v1\nkind: List\nitems:\n"
            "- apiVersion: v1\n  kind: Secret\n  metadata: {name: a}\n"
            "- apiVersion: v1\n  kind: Secret\n  metadata: {}\n",
            "l.yaml: document 1, item 2 (Secret): missing metadata.name",
            1,
            None,
            id="bad List item",
        ),
        pytest.param(
            "app.json",
            '{"apiVersion": "v1", "kind": "Secret",\n "metadata": {"name": "s",}}',
            "app.json: document 1: JSON syntax error at line 2, column 27",
            1,
            2,
            id="JSON syntax error",
        ),
        pytest.param(
            "app.json",
            '[{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, 3]',
            "app.json: document 1, item 2: expected a Kubernetes object (a mapping), got a number",
            1,
            None,
            id="JSON list item not an object",
        ),
    ],
)
def test_parse_errors(source: str, text: str, message: str, document: int, line: int | None) -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifests(text, source=source)
    assert str(err.value).startswith(message), str(err.value)
    assert err.value.source == source
    assert err.value.document == document
    if line is not None:
        assert err.value.line == line
        assert err.value.column is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("replicas: 3\nimage: nginx\n", [], id="values file"),
        pytest.param("a: [unclosed\n", [], id="broken unrelated YAML"),
        pytest.param(CM.format(name="a"), ["ConfigMap/a"], id="manifests still parse"),
    ],
)
def test_skip_unrelated_yaml_like_argo_cd_directories(text: str, expected: list[str]) -> None:
    assert names(parse_manifests(text, source="x.yaml", skip_unrelated=True)) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("apiVersion: v1\nkind: Service\nmetadata: {}\n", id="looks like a manifest"),
        pytest.param(CM.format(name="a") + "---\nreplicas: 3\n", id="second document is bad"),
    ],
)
def test_skip_unrelated_still_reports_broken_manifests(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_manifests(text, source="x.yaml", skip_unrelated=True)


def test_skip_unrelated_never_skips_json_files() -> None:
    with pytest.raises(ManifestError):
        parse_manifests('{"apiVersion": "v1", "kind": "Secret"}', source="s.json", skip_unrelated=True)


# --------------------------------------------------------------------------- namespace


@pytest.mark.parametrize(
    ("metadata", "namespaced", "expected"),
    [
        ({"name": "a"}, True, {"name": "a", "namespace": "dest"}),
        ({"name": "a", "namespace": "own"}, True, {"name": "a", "namespace": "own"}),
        ({"name": "a", "namespace": ""}, True, {"name": "a", "namespace": "dest"}),
        ({"name": "a"}, False, {"name": "a"}),
        ({"name": "a", "namespace": "stray"}, False, {"name": "a"}),
    ],
)
def test_set_default_namespace(metadata: dict[str, str], namespaced: bool, expected: dict[str, str]) -> None:
    original: Manifest = {"apiVersion": "v1", "kind": "X", "metadata": metadata}
    before = copy.deepcopy(original)
    result = set_default_namespace(original, "dest", namespaced=namespaced)
    assert result["metadata"] == expected
    assert original == before


# --------------------------------------------------------------------------- directory

FILES = [
    "config.json",
    "deploy.yaml",
    "service.yml",
    "README.md",
    "values.YAML",
    "app.jsonnet",
    "env-usw2/deploy.yaml",
    "env-usw2/nested/extra.yaml",
    "env-euw1/deploy.yaml",
    "a/x.yaml",
    "a.yaml",
]


@pytest.mark.parametrize(
    ("recurse", "include", "exclude", "expected"),
    [
        pytest.param(
            False,
            None,
            None,
            ["a.yaml", "config.json", "deploy.yaml", "service.yml"],
            id="top level only",
        ),
        pytest.param(
            True,
            None,
            None,
            [
                "a/x.yaml",
                "a.yaml",
                "config.json",
                "deploy.yaml",
                "env-euw1/deploy.yaml",
                "env-usw2/deploy.yaml",
                "env-usw2/nested/extra.yaml",
                "service.yml",
            ],
            id="recurse in walk order",
        ),
        pytest.param(
            True,
            "*.yaml",
            None,
            [
                "a/x.yaml",
                "a.yaml",
                "deploy.yaml",
                "env-euw1/deploy.yaml",
                "env-usw2/deploy.yaml",
                "env-usw2/nested/extra.yaml",
            ],
            id="star crosses directories",
        ),
        pytest.param(
            True,
            "{config.json,env-usw2/*}",
            None,
            ["config.json", "env-usw2/deploy.yaml", "env-usw2/nested/extra.yaml"],
            id="argo cd docs include example",
        ),
        pytest.param(
            False,
            None,
            "config.json",
            ["a.yaml", "deploy.yaml", "service.yml"],
            id="exclude one file",
        ),
        pytest.param(
            True,
            "*.yaml",
            "{env-usw2/*,a/*}",
            ["a.yaml", "deploy.yaml", "env-euw1/deploy.yaml"],
            id="exclude wins over include",
        ),
        pytest.param(
            True,
            "env-??w?/deploy.yaml",
            None,
            ["env-euw1/deploy.yaml", "env-usw2/deploy.yaml"],
            id="question marks",
        ),
        pytest.param(
            True,
            "env-[eu]*",
            None,
            ["env-euw1/deploy.yaml", "env-usw2/deploy.yaml", "env-usw2/nested/extra.yaml"],
            id="class",
        ),
        pytest.param(True, "env-[!u]*", None, ["env-euw1/deploy.yaml"], id="negated class"),
        pytest.param(
            False,
            "",
            "",
            ["a.yaml", "config.json", "deploy.yaml", "service.yml"],
            id="empty patterns",
        ),
        pytest.param(False, "nothing", None, [], id="include matching nothing"),
    ],
)
def test_select_files(recurse: bool, include: str | None, exclude: str | None, expected: list[str]) -> None:
    assert select_files(FILES, recurse=recurse, include=include, exclude=exclude) == expected


def test_select_files_normalises_and_deduplicates() -> None:
    assert select_files(["./a.yaml", "a.yaml", "b//c.yaml"], recurse=True, include=None, exclude=None) == [
        "a.yaml",
        "b/c.yaml",
    ]


@pytest.mark.parametrize("path", ["/etc/x.yaml", "../x.yaml", "a/../../x.yaml", ""])
def test_select_files_rejects_paths_outside_the_source(path: str) -> None:
    with pytest.raises(ValueError):
        select_files([path], recurse=True, include=None, exclude=None)


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("*", "a/b/c.yaml", True),
        ("**/*.yaml", "a/b.yaml", True),
        ("**/*.yaml", "b.yaml", False),  # the "/" is literal
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("[abc].yaml", "b.yaml", True),
        ("[abc].yaml", "d.yaml", False),
        ("[!abc].yaml", "d.yaml", True),
        ("[a-c].yaml", "c.yaml", True),
        ("[!a-c].yaml", "c.yaml", False),
        ("[ab-].yaml", "-.yaml", True),  # a list, not a range, after the first character
        ("{a,b{c,d}}.yaml", "bd.yaml", True),
        ("{a,b{c,d}}.yaml", "b.yaml", False),
        ("{*.yaml,*.json}", "x/y.json", True),
        ("a,b.yaml", "a,b.yaml", True),  # a comma outside braces is literal
        ("a}.yaml", "a}.yaml", True),
        ("\\*.yaml", "*.yaml", True),
        ("\\*.yaml", "x.yaml", False),
        ("[\\]].yaml", "].yaml", True),
        ("deploy.yaml", "deploy.yaml", True),
        ("deploy.yaml", "deployxyaml", False),  # "." is literal
        ("deploy.yaml", "sub/deploy.yaml", False),  # the whole path must match
    ],
)
def test_glob_match(pattern: str, text: str, matches: bool) -> None:
    assert glob_match(pattern, text) is matches


@pytest.mark.parametrize("pattern", ["[abc", "[]", "[!]", "{a,b", "[z-a]", "[a-cd]", "[a-"])
def test_invalid_patterns_are_errors(pattern: str) -> None:
    with pytest.raises(PatternError) as err:
        select_files(["a.yaml"], recurse=True, include=pattern, exclude=None)
    assert f"invalid include glob {pattern!r}" in str(err.value)
