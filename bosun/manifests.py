"""Rendered output → Kubernetes objects, and Directory file selection.

Everything here is pure: callers read files and walk directories, this module only
looks at strings.

Parsing
    ``parse_manifests(text, source=...)`` accepts what ``helm template``, ``kustomize
    build``, jsonnet and plain directories produce: multi-document YAML, a JSON object,
    a JSON list, or a stream of JSON objects. A ``kind: List`` (or ``FooList``) object
    with ``items`` is flattened into its items; empty documents are skipped. Anything
    unusable raises ``ManifestError`` naming the source, the document (1-based, counting
    every ``---`` section, empty ones included) and the problem::

        charts/web.yaml: document 3: YAML syntax error at line 41, column 7: ...
        app.json: document 1, item 2 (Service): missing metadata.name

    YAML is read like Kubernetes reads it (``sigs.k8s.io/yaml``): timestamps stay strings
    and mapping keys become strings, so every parsed object is JSON-serialisable.

    Input is bounded (:mod:`bosun.limits`, :mod:`bosun.safe_yaml`): the text's size, the
    nodes a YAML stream expands to (aliases counted at every use: "billion laughs"), the
    nesting depth and the number of objects. Past a bound, ``ManifestLimitError`` (a
    ``ManifestError``, never skipped as an unrelated file) names the source and the limit::

        big.yaml: document 1: the YAML expands to too many nodes (aliases are counted at
        every use) (limit 4_000_000, BOSUN_MAX_YAML_NODES)

Directory sources
    ``select_files`` applies Argo CD's ``spec.source.directory`` rules (recurse, include,
    exclude) to a list of relative paths. Patterns are Argo CD's globs (:mod:`bosun.glob`)
    with no separators, as Argo CD compiles them: ``*`` also matches ``/``, so ``*.yaml``
    selects files in subdirectories too. Unlike Argo CD, which logs an invalid pattern and
    treats it as matching nothing (an include that matches nothing empties the app and a
    sync with prune would delete everything), Bosun raises ``PatternError``.

To extend: a new file rule is one function here plus rows in
``tests/unit/test_manifests.py``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import yaml

from bosun.glob import Glob, GlobError, compile_glob
from bosun.limits import InputLimits, LimitExceeded, input_limits
from bosun.resources import Manifest
from bosun.safe_yaml import RecursiveAlias, check_depth, load_yaml_stream

__all__ = [
    "MANIFEST_EXTENSIONS",
    "ManifestError",
    "ManifestLimitError",
    "PatternError",
    "parse_manifests",
    "select_files",
    "set_default_namespace",
]

MANIFEST_EXTENSIONS = (".yaml", ".yml", ".json")
"""File names a Directory source reads (case-sensitive, as Argo CD matches them)."""


class ManifestError(ValueError):
    """A rendered document cannot be used as a Kubernetes object.

    ``document`` is 1-based and counts every YAML document (or JSON value) in the
    source, empty ones included; ``item`` is the 1-based index inside a list.
    ``line``/``column`` are 1-based positions in the whole source, when known.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str,
        document: int | None = None,
        item: int | None = None,
        kind: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.document = document
        self.item = item
        self.kind = kind
        self.line = line
        self.column = column
        where = source
        if document is not None:
            where += f": document {document}"
            if item is not None:
                where += f", item {item}"
            if kind:
                where += f" ({kind})"
        super().__init__(f"{where}: {problem}")


class ManifestLimitError(ManifestError):
    """The source is past one of :mod:`bosun.limits`' bounds; the message names the limit."""

    def __init__(self, exc: LimitExceeded, *, source: str) -> None:
        super().__init__(str(exc).removeprefix(f"{source}: "), source=source)
        self.limit = exc.limit


class PatternError(ValueError):
    """An include/exclude glob pattern cannot be compiled."""


# --------------------------------------------------------------------------- parsing


class _KubeYamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that leaves timestamps as strings, as sigs.k8s.io/yaml does."""


_KubeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    # Keys become strings while building the dict: in Python 1 == True, so `1:` and
    # `true:` would otherwise collide.
    loader.flatten_mapping(node)
    return {
        _key_string(loader.construct_object(k, deep=True)): loader.construct_object(v, deep=True) for k, v in node.value
    }


_KubeYamlLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def parse_manifests(
    text: str, *, source: str, skip_unrelated: bool = False, limits: InputLimits | None = None
) -> list[Manifest]:
    """Parse YAML or JSON text into Kubernetes objects, in document order.

    ``skip_unrelated`` applies Argo CD's Directory rule for stray YAML files: when the
    first document is not a Kubernetes object and the text does not mention all of
    ``apiVersion:``, ``kind:`` and ``metadata:``, the file is some other tool's YAML and
    yields no objects instead of an error. A ``.json`` source is never skipped, and
    neither is a source past a limit (``ManifestLimitError``); ``limits`` default to the
    environment's (:func:`bosun.limits.input_limits`).
    """
    limits = input_limits() if limits is None else limits
    if len(text) > limits.render_bytes:
        raise ManifestLimitError(
            limits.exceeded("render_bytes", source, f"{len(text):_} characters of manifests"), source=source
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    objects: list[Manifest] = []
    try:
        for index, document in _documents(text, source, limits):
            if document is None:
                continue
            objects.extend(_objects_of(document, source=source, document=index))
            if len(objects) > limits.render_objects:
                raise ManifestLimitError(
                    limits.exceeded("render_objects", f"{source}: document {index}", "too many objects"), source=source
                )
    except ManifestLimitError:
        raise
    except ManifestError:
        unrelated = not source.endswith(".json") and not all(
            word in text for word in ("apiVersion:", "kind:", "metadata:")
        )
        if skip_unrelated and not objects and unrelated:
            return []
        raise
    return objects


def _documents(text: str, source: str, limits: InputLimits) -> Iterator[tuple[int, Any]]:
    """Yield (1-based index, parsed value) for every document; None for empty ones."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            values = list(_json_values(text))
            for index, value in enumerate(values, start=1):
                check_depth(value, limits=limits, where=f"{source}: document {index}")
        except RecursionError:  # the JSON decoder's own bound, below ours only when set higher
            raise ManifestLimitError(
                limits.exceeded("manifest_depth", source, "JSON nesting is too deep"), source=source
            ) from None
        except LimitExceeded as err:
            raise ManifestLimitError(err, source=source) from None
        except json.JSONDecodeError as err:
            if source.endswith(".json"):
                raise ManifestError(
                    f"JSON syntax error at line {err.lineno}, column {err.colno}: {err.msg}",
                    source=source,
                    document=getattr(err, "document", 1),
                    line=err.lineno,
                    column=err.colno,
                ) from err
            # YAML flow style can also start with "{" or "["; let the YAML parser judge.
        else:
            yield from enumerate(values, start=1)
            return
    index = 0
    stream = load_yaml_stream(text, _KubeYamlLoader, source=source, limits=limits)
    while True:
        try:
            value = next(stream)
        except StopIteration:
            return
        except LimitExceeded as err:
            raise ManifestLimitError(err, source=source) from None
        except RecursiveAlias as err:
            raise ManifestError(
                str(err).removeprefix(f"{source}: document {index + 1}: "), source=source, document=index + 1
            ) from None
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            problem = ": ".join(p for p in (err.context, err.problem) if p) or "invalid YAML"
            line = mark.line + 1 if mark else None
            column = mark.column + 1 if mark else None
            at = f" at line {line}, column {column}" if mark else ""
            raise ManifestError(
                f"YAML syntax error{at}: {problem}",
                source=source,
                document=index + 1,
                line=line,
                column=column,
            ) from err
        except yaml.YAMLError as err:
            raise ManifestError(f"YAML error: {err}", source=source, document=index + 1) from err
        index += 1
        yield index, _jsonable(value)


def _json_values(text: str) -> Iterator[Any]:
    """Successive JSON values separated by whitespace (a JSON stream)."""
    decoder = json.JSONDecoder()
    position, count = 0, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return
        count += 1
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as err:
            err.document = count  # type: ignore[attr-defined]
            raise
        yield value


def _jsonable(value: Any) -> Any:
    """Make a YAML value JSON-shaped: string keys, no dates or bytes."""
    if isinstance(value, dict):
        return {_key_string(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _key_string(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _objects_of(value: Any, *, source: str, document: int) -> list[Manifest]:
    if isinstance(value, list):
        return [_validated(item, source=source, document=document, item=i) for i, item in enumerate(value, start=1)]
    obj = _validated(value, source=source, document=document, item=None)
    if _is_list_kind(obj):
        items = obj.get("items")
        if items is None:
            return []
        if not isinstance(items, list):
            raise ManifestError(
                "items of a List must be a sequence",
                source=source,
                document=document,
                kind=str(obj.get("kind")),
            )
        return [_validated(item, source=source, document=document, item=i) for i, item in enumerate(items, start=1)]
    return [obj]


def _is_list_kind(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("kind"), str)
        and value["kind"].endswith("List")
        and "items" in value
    )


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a sequence"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _validated(value: Any, *, source: str, document: int, item: int | None) -> Manifest:
    def fail(problem: str, kind: str | None = None) -> ManifestError:
        return ManifestError(problem, source=source, document=document, item=item, kind=kind)

    if not isinstance(value, dict):
        raise fail(f"expected a Kubernetes object (a mapping), got {_describe(value)}")
    if _is_list_kind(value) and item is None:
        return value  # flattened by the caller
    kind = value.get("kind")
    kind_label = kind if isinstance(kind, str) and kind else None
    api_version = value.get("apiVersion")
    if api_version is None or api_version == "":
        raise fail("missing apiVersion", kind_label)
    if not isinstance(api_version, str):
        raise fail("apiVersion must be a string", kind_label)
    if kind is None or kind == "":
        raise fail("missing kind")
    if not isinstance(kind, str):
        raise fail("kind must be a string")
    metadata = value.get("metadata")
    if metadata is None:
        raise fail("missing metadata.name", kind)
    if not isinstance(metadata, dict):
        raise fail("metadata must be a mapping", kind)
    name = metadata.get("name")
    generate_name = metadata.get("generateName")
    if (name is None or name == "") and not generate_name:
        raise fail("missing metadata.name", kind)
    if name is not None and not isinstance(name, str):
        raise fail("metadata.name must be a string", kind)
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise fail("metadata.namespace must be a string", kind)
    for field in ("labels", "annotations"):
        entries = metadata.get(field)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise fail(f"metadata.{field} must be a mapping", kind)
        for k, v in entries.items():
            if not isinstance(v, str):
                raise fail(f"metadata.{field}[{k!r}] must be a string (quote it)", kind)
    return value


# --------------------------------------------------------------------------- namespace


def set_default_namespace(obj: Manifest, namespace: str, *, namespaced: bool) -> Manifest:
    """Return a copy with the namespace an apply will use.

    A namespaced object without ``metadata.namespace`` gets ``namespace``; a
    cluster-scoped object loses any namespace it was given (Argo CD ignores it too).
    """
    result = copy.deepcopy(obj)
    metadata = result.setdefault("metadata", {})
    if namespaced:
        if not metadata.get("namespace"):
            metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    return result


# --------------------------------------------------------------------------- directory


def select_files(
    relative_paths: list[str],
    *,
    recurse: bool,
    include: str | None,
    exclude: str | None,
) -> list[str]:
    """The manifest files a Directory source reads, in Argo CD's walk order.

    ``relative_paths`` are files relative to the source path, ``/``-separated. Without
    ``recurse`` only top-level files count. ``exclude`` wins over ``include``; an empty
    pattern is no pattern. The order is a depth-first walk with entries sorted by name
    (``a/x.yaml`` before ``a.yaml``), as ``filepath.Walk`` visits them.
    """
    include_glob = _compile(include, "include") if include else None
    exclude_glob = _compile(exclude, "exclude") if exclude else None
    selected: set[str] = set()
    for raw in relative_paths:
        path = _normalized(raw)
        if not recurse and "/" in path:
            continue
        if not path.rsplit("/", 1)[-1].endswith(MANIFEST_EXTENSIONS):
            continue
        if exclude_glob is not None and exclude_glob.match(path):
            continue
        if include_glob is not None and not include_glob.match(path):
            continue
        selected.add(path)
    return sorted(selected, key=lambda p: p.split("/"))


def _normalized(path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or ".." in parts or not parts:
        raise ValueError(f"expected a file path relative to the source directory: {path!r}")
    return "/".join(parts)


def _compile(pattern: str, what: str) -> Glob:
    try:
        return compile_glob(pattern)
    except GlobError as err:
        raise PatternError(f"invalid {what} glob {pattern!r}: {err.reason}") from None
