"""Fuzzing the Application and AppProject parser (bosun.models.parse): any document, and
valid specs with any field replaced by any JSON value, come back as a model or as a
ModelError naming the source; YAML text, hostile or not, likewise. Never another
exception, never a hang.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bosun.models.application import Application
from bosun.models.errors import ModelError
from bosun.models.parse import parse_application, parse_project, parse_yaml
from bosun.models.project import AppProject
from tests.unit.fuzz_support import FUZZ, JSON_VALUES, TEXT, set_path

pytestmark = pytest.mark.timeout(300)

APPLICATION: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "guestbook", "namespace": "argocd", "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
    "spec": {
        "project": "default",
        "source": {
            "repoURL": "https://github.com/argoproj/argocd-example-apps.git",
            "targetRevision": "HEAD",
            "path": "guestbook",
            "helm": {"valueFiles": ["values.yaml"], "parameters": [{"name": "a", "value": "1"}]},
        },
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": True},
            "syncOptions": ["CreateNamespace=true"],
            "retry": {"limit": 5, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}},
        },
        "ignoreDifferences": [
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"], "jqPathExpressions": [".a"]}
        ],
        "info": [{"name": "url", "value": "https://example.com"}],
    },
}

PROJECT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AppProject",
    "metadata": {"name": "team-a", "namespace": "argocd"},
    "spec": {
        "sourceRepos": ["https://github.com/example/*"],
        "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "team-a-*"}],
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
        "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}],
        "syncWindows": [{"kind": "deny", "schedule": "0 22 * * 5", "duration": "60h", "applications": ["*"]}],
        "roles": [{"name": "ci", "policies": ["p, proj:team-a:ci, applications, sync, team-a/*, allow"]}],
    },
}

APPLICATION_PATHS = [
    ("metadata",),
    ("metadata", "name"),
    ("metadata", "namespace"),
    ("metadata", "finalizers"),
    ("metadata", "annotations"),
    ("spec",),
    ("spec", "project"),
    ("spec", "source"),
    ("spec", "sources"),
    ("spec", "source", "repoURL"),
    ("spec", "source", "path"),
    ("spec", "source", "targetRevision"),
    ("spec", "source", "helm"),
    ("spec", "source", "helm", "parameters"),
    ("spec", "source", "helm", "values"),
    ("spec", "source", "helm", "valuesObject"),
    ("spec", "source", "kustomize"),
    ("spec", "source", "directory"),
    ("spec", "source", "directory", "jsonnet"),
    ("spec", "source", "plugin"),
    ("spec", "source", "chart"),
    ("spec", "destination"),
    ("spec", "destination", "server"),
    ("spec", "syncPolicy"),
    ("spec", "syncPolicy", "automated"),
    ("spec", "syncPolicy", "syncOptions"),
    ("spec", "syncPolicy", "retry"),
    ("spec", "syncPolicy", "retry", "limit"),
    ("spec", "syncPolicy", "retry", "backoff", "duration"),
    ("spec", "syncPolicy", "retry", "backoff", "factor"),
    ("spec", "syncPolicy", "managedNamespaceMetadata"),
    ("spec", "ignoreDifferences"),
    ("spec", "info"),
    ("spec", "revisionHistoryLimit"),
    ("operation",),
    ("status",),
]

PROJECT_PATHS = [
    ("metadata",),
    ("spec",),
    ("spec", "sourceRepos"),
    ("spec", "sourceNamespaces"),
    ("spec", "destinations"),
    ("spec", "clusterResourceWhitelist"),
    ("spec", "clusterResourceBlacklist"),
    ("spec", "namespaceResourceWhitelist"),
    ("spec", "namespaceResourceBlacklist"),
    ("spec", "syncWindows"),
    ("spec", "roles"),
    ("spec", "signatureKeys"),
    ("spec", "orphanedResources"),
    ("spec", "description"),
]

#: Values that have broken parsers before: wrong types, odd numbers, odd strings.
ODD_VALUES = st.sampled_from(
    [None, "", "*", "!", "-x", "0", -1, 2**64, 1e308, -0.0, True, [], {}, [None], {"": None}, "5x", "P1D", " ", "\x00"]
)


def model_or_error(parse: Any, doc: Any) -> None:
    try:
        model = parse(doc, source_name="fuzz.yaml")
    except ModelError as exc:
        assert str(exc).startswith("fuzz.yaml")
        return
    models = model if isinstance(model, list) else [model]
    assert models and all(isinstance(m, Application | AppProject) for m in models)


@FUZZ
@given(st.sampled_from(APPLICATION_PATHS), st.one_of(ODD_VALUES, JSON_VALUES))
def test_an_application_with_any_field_replaced(path: tuple[str, ...], value: Any) -> None:
    doc = set_path(copy.deepcopy(APPLICATION), path, value)
    model_or_error(parse_application, doc)
    model_or_error(parse_yaml, yaml.safe_dump(doc))


@FUZZ
@given(st.sampled_from(PROJECT_PATHS), st.one_of(ODD_VALUES, JSON_VALUES))
def test_a_project_with_any_field_replaced(path: tuple[str, ...], value: Any) -> None:
    doc = set_path(copy.deepcopy(PROJECT), path, value)
    model_or_error(parse_project, doc)
    model_or_error(parse_yaml, yaml.safe_dump(doc))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(APPLICATION_PATHS), st.one_of(ODD_VALUES, JSON_VALUES)), max_size=5))
def test_an_application_with_several_fields_replaced(changes: list[tuple[tuple[str, ...], Any]]) -> None:
    doc = copy.deepcopy(APPLICATION)
    for path, value in changes:
        doc = set_path(doc, path, value)
    model_or_error(parse_application, doc)


@FUZZ
@given(JSON_VALUES)
def test_any_document(value: Any) -> None:
    model_or_error(parse_application, value)
    model_or_error(parse_project, value)


@FUZZ
@given(
    st.one_of(
        st.text(max_size=300),
        TEXT.map(lambda s: f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {s!r}}}\n"),
        st.integers(1, 3000).map(lambda n: "spec: " + "[" * n + "]" * n),
        st.integers(1, 12).map(
            lambda n: (
                "a: &a0 [x]\n" + "".join(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, n))
            )
        ),
        st.just("a: &a [*a]\n"),
        st.just("a: 1\na: 2\n"),
        st.sampled_from(["a: !!int abc", "a: !!bool maybe", "a: !!timestamp x", "a: !!float abc"]),
    )
)
def test_any_yaml_text(text: str) -> None:
    try:
        parse_yaml(text, source_name="fuzz.yaml")
    except ModelError as exc:
        assert str(exc).startswith("fuzz.yaml")
