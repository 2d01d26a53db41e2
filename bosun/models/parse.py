"""Entry points: Argo CD documents (dicts or YAML text) in, validated models out.

Every failure is a :class:`~bosun.models.errors.ModelError` naming the source, the
field path and the problem, e.g.::

    apps/guestbook.yaml: spec.syncPolicy.retry.backoff.duration: '5x' is not a duration ...

YAML is read the way Kubernetes reads it, not the way PyYAML does by default: a key
given twice is an error (PyYAML keeps the last one silently) and timestamps stay
strings. To accept another kind, add a model and a row to :data:`_PARSERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from bosun.limits import InputLimits, LimitExceeded, input_limits
from bosun.models.application import Application
from bosun.models.base import API_VERSION, DOCUMENT_CONTEXT, ArgoModel
from bosun.models.errors import ModelError, Problem, problems_from_validation_error
from bosun.models.project import AppProject
from bosun.safe_yaml import RecursiveAlias, load_yaml_stream


def parse_application(doc: Mapping[str, Any], *, source_name: str = "<input>") -> Application:
    """Validate one ``Application`` document."""
    return _validate(Application, doc, source_name)


def parse_project(doc: Mapping[str, Any], *, source_name: str = "<input>") -> AppProject:
    """Validate one ``AppProject`` document."""
    return _validate(AppProject, doc, source_name)


def parse_application_yaml(text: str, *, source_name: str = "<input>") -> Application:
    """Parse YAML text holding exactly one ``Application``."""
    return parse_application(_single(text, source_name), source_name=source_name)


def parse_project_yaml(text: str, *, source_name: str = "<input>") -> AppProject:
    """Parse YAML text holding exactly one ``AppProject``."""
    return parse_project(_single(text, source_name), source_name=source_name)


def parse_yaml(text: str, *, source_name: str = "<input>") -> list[Application | AppProject]:
    """Parse a (multi-document) YAML stream of Applications and AppProjects, dispatching
    on ``kind``. Document ``n`` (from 1) is reported as ``<source_name>#n``."""
    docs = load_yaml_documents(text, source_name=source_name)
    out: list[Application | AppProject] = []
    for n, doc in enumerate(docs, start=1):
        name = source_name if len(docs) == 1 else f"{source_name}#{n}"
        parser = _PARSERS.get(str(doc.get("kind")))
        if parser is None:
            kinds = " or ".join(_PARSERS)
            raise ModelError(name, [Problem("kind", f"expected {kinds}, got {doc.get('kind')!r}")])
        out.append(parser(doc, source_name=name))
    return out


_PARSERS: dict[str, Callable[..., Application | AppProject]] = {
    "Application": parse_application,
    "AppProject": parse_project,
}


def load_yaml_documents(
    text: str, *, source_name: str = "<input>", limits: InputLimits | None = None
) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML stream; each must be a mapping. The text is
    bounded as manifests are (:mod:`bosun.safe_yaml`): its size (``limits.file_bytes``),
    the nodes its aliases expand to, its depth; past a bound, a ModelError names the limit."""
    limits = input_limits() if limits is None else limits
    if len(text) > limits.file_bytes:
        exc = limits.exceeded("file_bytes", "", f"{len(text):_} characters")
        raise ModelError(source_name, [Problem("", str(exc))])
    try:
        raw = list(load_yaml_stream(text, _KubeYamlLoader, source="", limits=limits))
    except (LimitExceeded, RecursiveAlias) as exc:
        raise ModelError(source_name, [Problem("", str(exc).removeprefix(": "))]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ModelError(source_name, [Problem("", f"invalid YAML{where}: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ModelError(source_name, [Problem("", f"invalid YAML: {exc}")]) from None
    docs = [d for d in raw if d is not None]
    for n, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict):
            raise ModelError(source_name, [Problem("", f"document {n} is not a mapping")])
    return docs


M = TypeVar("M", bound=ArgoModel)


def _single(text: str, source_name: str) -> dict[str, Any]:
    docs = load_yaml_documents(text, source_name=source_name)
    if len(docs) != 1:
        raise ModelError(source_name, [Problem("", f"expected one document, found {len(docs)}")])
    return docs[0]


def _validate(model: type[M], doc: Mapping[str, Any], source_name: str) -> M:
    if not isinstance(doc, Mapping):
        got = type(doc).__name__
        raise ModelError(source_name, [Problem("", f"expected a mapping, got {got}")])
    kind = model.__name__
    problems: list[Problem] = []
    if doc.get("apiVersion") != API_VERSION:
        problems.append(Problem("apiVersion", f"must be {API_VERSION}, got {doc.get('apiVersion')!r}"))
    if doc.get("kind") != kind:
        problems.append(Problem("kind", f"must be {kind}, got {doc.get('kind')!r}"))
    if problems:
        raise ModelError(source_name, problems)
    try:
        return model.model_validate(dict(doc), context=DOCUMENT_CONTEXT)
    except ValidationError as exc:
        raise ModelError(source_name, problems_from_validation_error(exc)) from None


class _KubeYamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that rejects duplicate keys and leaves timestamps as strings."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):
                continue  # SafeLoader itself reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


_KubeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
