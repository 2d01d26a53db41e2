"""Compatibility with Argo CD's own CRDs (3.6.0).

For every field path in the OpenAPI schema of an Application or AppProject (spec and
top level; ``status`` and ``operation`` are cluster-written), a document that sets just
that field must parse, and the field must be either *modeled* (reachable through typed
attributes, value preserved by ``to_manifest()``) or *reported* by
``unsupported_fields()``. Conversely every field Bosun models or lists as unsupported
must exist in the CRD, so Bosun never accepts something Argo CD would not.

The schemas come from the committed fixture (:mod:`tests.unit.argocd_fields`), so a
clean clone runs every test; when the upstream CRDs are beside the repository, one more
test checks that the fixture is what they give.
"""

from __future__ import annotations

import copy
import functools
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from bosun.models import (
    Application,
    AppProject,
    ArgoModel,
    parse_application,
    parse_project,
)
from tests.unit import argocd_fields

Schema = dict[str, Any]
Segments = tuple[str, ...]  # "[]" marks an array item


@functools.cache
def load_schema(kind: str) -> Schema:
    return argocd_fields.schema(argocd_fields.load_fixture()[kind])


def test_fixture_is_current() -> None:
    """With the upstream CRDs beside the repository: the fixture is what they give. In a
    clean clone: the fixture is what its own entries give (nothing edited by hand out of form)."""
    reference = argocd_fields.reference_dir()
    if argocd_fields.reference_present(reference):
        expected, origin = argocd_fields.from_reference(reference), f"the CRDs in {reference}"
    else:
        fixture = argocd_fields.load_fixture()
        expected = {kind: argocd_fields.flatten(argocd_fields.schema(f)) for kind, f in fixture.items()}
        origin = "its own entries (upstream CRDs not found; set BOSUN_ARGOCD_REFERENCE to compare with them)"
    assert argocd_fields.render(expected) == argocd_fields.FIXTURE.read_text(), (
        f"{argocd_fields.FIXTURE.name} differs from what {origin} give: "
        "run .venv/bin/python -m tests.unit.argocd_fields"
    )


def leaf_paths(schema: Schema, prefix: Segments = ()) -> Iterator[Segments]:
    """Every path that ends in a scalar, a map, or an object without declared fields."""
    if schema.get("type") == "array":
        yield from leaf_paths(schema.get("items", {}), (*prefix, "[]"))
        return
    props = schema.get("properties")
    if not props:
        yield prefix
        return
    for name, child in props.items():
        if not prefix and name in argocd_fields.CLUSTER_WRITTEN:
            continue
        yield from leaf_paths(child, (*prefix, name))


def dotted(segments: Segments, index: str = "[]") -> str:
    out = ""
    for seg in segments:
        out += index if seg == "[]" else (f".{seg}" if out else seg)
    return out


def params(kind: str) -> list[Any]:
    return [pytest.param(p, id=dotted(p)) for p in leaf_paths(load_schema(kind))]


# --- building a document that sets one field ------------------------------------------

SAMPLES_BY_PATH: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "metadata": {"name": "compat"},
    "spec.syncPolicy.syncOptions[]": "CreateNamespace=true",
    "spec.syncWindows[].kind": "allow",
    "spec.syncWindows[].schedule": "0 22 * * *",
    "spec.syncWindows[].duration": "1h",
    "spec.syncWindows[].timeZone": "Europe/Amsterdam",
    "spec.syncPolicy.retry.backoff.duration": "5s",
    "spec.syncPolicy.retry.backoff.maxDuration": "3m",
}
SAMPLES_BY_NAME: dict[str, Any] = {
    "repoURL": "https://github.com/argoproj/argocd-example-apps.git",
    "server": "https://kubernetes.default.svc",
    "namespace": "compat",
    "name": "compat",
    "kind": "Deployment",
    "targetRevision": "HEAD",
    "jsonPointers": "/spec/replicas",
}


# Fields the CRD leaves optional but Argo CD's validation needs (SyncWindow.Validate).
ALSO_REQUIRED: dict[str, list[str]] = {"spec.syncWindows[]": ["kind", "schedule", "duration"]}


def required(schema: Schema, path: Segments) -> list[str]:
    return [*schema.get("required", []), *ALSO_REQUIRED.get(dotted(path), [])]


def sample(schema: Schema, path: Segments) -> Any:
    """A valid value for the field at ``path`` (``path`` ends in "[]" for array items)."""
    key = dotted(path)
    if key in SAMPLES_BY_PATH:
        return SAMPLES_BY_PATH[key]
    if path == ("kind",):
        return None  # filled in by the caller
    names = [s for s in path if s != "[]"]
    if names and names[-1] in SAMPLES_BY_NAME and schema.get("type") in ("string", None):
        return SAMPLES_BY_NAME[names[-1]]
    if "anyOf" in schema or schema.get("x-kubernetes-int-or-string"):
        return 1
    kind = schema.get("type")
    if kind == "string":
        return "sample"
    if kind == "boolean":
        return True
    if kind == "integer":
        return 1
    if kind == "array":
        return [sample(schema.get("items", {}), (*path, "[]"))]
    if isinstance(schema.get("additionalProperties"), dict):
        return {"key": sample(schema["additionalProperties"], (*path, "key"))}
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return {"key": {"nested": ["value"]}}
    return {name: sample(schema["properties"][name], (*path, name))
            for name in required(schema, path)}  # fmt: skip


def build(schema: Schema, path: Segments, rest: Segments) -> Any:
    """The smallest value at ``path`` that sets the field ``rest`` below it."""
    if not rest:
        return sample(schema, path)
    head, tail = rest[0], rest[1:]
    if head == "[]":
        return [build(schema["items"], (*path, "[]"), tail)]
    obj = sample(schema, path) if required(schema, path) else {}
    obj[head] = build(schema["properties"][head], (*path, head), tail)
    return obj


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


BASE_DOCS: dict[str, dict[str, Any]] = {
    "Application": {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "compat", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "compat"},
        },
    },
    "AppProject": {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "compat", "namespace": "argocd"},
        "spec": {},
    },
}


def document_setting(kind: str, schema: Schema, path: Segments) -> dict[str, Any]:
    base = copy.deepcopy(BASE_DOCS[kind])
    # Keep the base valid next to the field under test: one of source/sources, one of
    # destination server/name.
    if path[:2] == ("spec", "sources"):
        del base["spec"]["source"]
    if path == ("spec", "destination", "name"):
        del base["spec"]["destination"]["server"]
    if path == ("kind",):
        return base
    return deep_merge(base, build(schema, (), path))


# --- checking a field is modeled or reported ----------------------------------------------


def typed_lookup(model: ArgoModel, path: Segments) -> Any:
    """Follow ``path`` through declared fields only (never through kept extras)."""
    value: Any = model
    for seg in path:
        if seg == "[]":
            assert isinstance(value, list) and value, f"expected a non-empty list at {seg}"
            value = value[0]
        elif isinstance(value, ArgoModel):
            fields = {f.alias or n: n for n, f in type(value).model_fields.items()}
            assert seg in fields, f"{type(value).__name__} does not model {seg!r}"
            value = getattr(value, fields[seg])
        elif isinstance(value, dict):
            return value  # a map-typed field (labels, valuesObject, options …)
        else:
            raise AssertionError(f"cannot descend into {type(value).__name__} at {seg!r}")
    return value


def manifest_lookup(manifest: Any, path: Segments) -> Any:
    for seg in path:
        manifest = manifest[0] if seg == "[]" else manifest[seg]
    return manifest


def is_under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


def check_field(kind: str, path: Segments) -> None:
    schema = load_schema(kind)
    doc = document_setting(kind, schema, path)
    parse = parse_application if kind == "Application" else parse_project
    obj: Application | AppProject = parse(doc, source_name=f"crd:{dotted(path)}")
    concrete = dotted(path, "[0]")
    if any(is_under(concrete, p) for p in obj.unsupported_fields()):
        return  # reported
    assert obj.unsupported_fields() == [], "only the field under test is set"
    typed_lookup(obj, path)
    assert manifest_lookup(obj.to_manifest(), path) == manifest_lookup(doc, path)


@pytest.mark.parametrize("path", params("Application"))
def test_application_field_is_modeled_or_reported(path: Segments) -> None:
    check_field("Application", path)


@pytest.mark.parametrize("path", params("AppProject"))
def test_project_field_is_modeled_or_reported(path: Segments) -> None:
    check_field("AppProject", path)


# --- nothing Bosun accepts is missing from the CRD -----------------------------------


def nested_models(annotation: Any) -> list[type[ArgoModel]]:
    if isinstance(annotation, type) and issubclass(annotation, ArgoModel):
        return [annotation]
    out: list[type[ArgoModel]] = []
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            out += nested_models(arg)
    return out


def model_paths(model: type[ArgoModel], prefix: Segments = ()) -> Iterator[tuple[Segments, bool]]:
    """(path, is_array) of every field Bosun models or lists as unsupported."""
    for name in sorted(model.argo_only):
        yield (*prefix, name), False
    for name, field in model.model_fields.items():
        alias = field.alias or name
        path = (*prefix, alias)
        yield path, False
        if alias == "metadata":
            continue  # Kubernetes ObjectMeta, not described by Argo CD's CRD
        options = typing.get_args(field.annotation) if isinstance(field.annotation, types.UnionType) else ()
        is_list = any(typing.get_origin(t) is list for t in (field.annotation, *options))  # list[X] | None too
        for sub in nested_models(field.annotation):
            yield from model_paths(sub, (*path, "[]") if is_list else path)


def schema_at(schema: Schema, path: Segments) -> Schema | None:
    node: Schema | None = schema
    for seg in path:
        if node is None:
            return None
        node = node.get("items") if seg == "[]" else (node.get("properties") or {}).get(seg)
    return node


@pytest.mark.parametrize("model", [Application, AppProject], ids=lambda m: m.__name__)
def test_every_bosun_field_exists_in_crd(model: type[ArgoModel]) -> None:
    schema = load_schema(model.__name__)
    missing = [dotted(p) for p, _ in model_paths(model) if schema_at(schema, p) is None]
    assert missing == []


@pytest.mark.parametrize("kind", ["Application", "AppProject"])
def test_walk_covers_the_crd(kind: str) -> None:
    """Guard against a walker that silently finds nothing."""
    paths = [dotted(p) for p in leaf_paths(load_schema(kind))]
    expected = {
        "Application": ["spec.source.helm.valueFiles[]", "spec.sources[].kustomize.images[]",
                        "spec.syncPolicy.retry.backoff.factor", "spec.source.plugin.name"],
        "AppProject": ["spec.syncWindows[].schedule", "spec.roles[].jwtTokens[].iat"],
    }[kind]  # fmt: skip
    assert set(expected) <= set(paths)
    assert len(paths) > (200 if kind == "Application" else 40)
