"""Rendered output → Kubernetes objects, resource tracking, and Directory file selection.

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

Tracking
    Every object Bosun applies carries the label ``app.kubernetes.io/instance=<app>``
    (Argo CD's default, so label selectors keep working) and the annotation
    ``bosun.dev/tracking-id: <app>:<group>/<kind>:<namespace>/<name>`` (Argo CD's
    annotation tracking format). Only ``is_tracked_by`` decides whether a live object
    belongs to an app, and therefore whether it may ever be pruned: a label can be
    copied, and an annotation copied onto another object names a different key.

Directory sources
    ``select_files`` applies Argo CD's ``spec.source.directory`` rules (recurse, include,
    exclude) to a list of relative paths. Patterns use the syntax of github.com/gobwas/glob
    as Argo CD compiles them, with no separators: ``*`` also matches ``/``, so ``*.yaml``
    selects files in subdirectories too; ``{a,b}`` are alternatives; ``[abc]``, ``[!abc]``,
    ``[a-z]`` classes; ``\\`` escapes. Unlike Argo CD, which logs an invalid pattern and
    treats it as matching nothing (an include that matches nothing empties the app and a
    sync with prune would delete everything), Bosun raises ``PatternError``.

To extend: a new tracking rule or file rule is one function here plus rows in
``tests/unit/test_manifests.py``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import yaml

from bosun.resources import Manifest, ResourceKey

__all__ = [
    "MANIFEST_EXTENSIONS",
    "TRACKING_ANNOTATION",
    "TRACKING_LABEL",
    "ManifestError",
    "PatternError",
    "glob_match",
    "is_tracked_by",
    "parse_manifests",
    "parse_tracking_id",
    "select_files",
    "set_default_namespace",
    "tracking_id",
    "tracking_label_value",
    "with_tracking",
]

TRACKING_LABEL = "app.kubernetes.io/instance"
TRACKING_ANNOTATION = "bosun.dev/tracking-id"

MANIFEST_EXTENSIONS = (".yaml", ".yml", ".json")
"""File names a Directory source reads (case-sensitive, as Argo CD matches them)."""

_LABEL_MAX_LENGTH = 63
_TRACKING_FORMAT = "<app>:<group>/<kind>:<namespace>/<name>"


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
        _key_string(loader.construct_object(k, deep=True)): loader.construct_object(v, deep=True)
        for k, v in node.value
    }


_KubeYamlLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def parse_manifests(text: str, *, source: str, skip_unrelated: bool = False) -> list[Manifest]:
    """Parse YAML or JSON text into Kubernetes objects, in document order.

    ``skip_unrelated`` applies Argo CD's Directory rule for stray YAML files: when the
    first document is not a Kubernetes object and the text does not mention all of
    ``apiVersion:``, ``kind:`` and ``metadata:``, the file is some other tool's YAML and
    yields no objects instead of an error. A ``.json`` source is never skipped.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    objects: list[Manifest] = []
    try:
        for index, document in _documents(text, source):
            if document is None:
                continue
            objects.extend(_objects_of(document, source=source, document=index))
    except ManifestError:
        unrelated = not source.endswith(".json") and not all(
            word in text for word in ("apiVersion:", "kind:", "metadata:")
        )
        if skip_unrelated and not objects and unrelated:
            return []
        raise
    return objects


def _documents(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """Yield (1-based index, parsed value) for every document; None for empty ones."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            values = list(_json_values(text))
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
    stream = yaml.load_all(text, Loader=_KubeYamlLoader)
    while True:
        try:
            value = next(stream)
        except StopIteration:
            return
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
        return [
            _validated(item, source=source, document=document, item=i)
            for i, item in enumerate(value, start=1)
        ]
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
        return [
            _validated(item, source=source, document=document, item=i)
            for i, item in enumerate(items, start=1)
        ]
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


# --------------------------------------------------------------------------- tracking


def tracking_id(app: str, key: ResourceKey) -> str:
    """``<app>:<group>/<kind>:<namespace>/<name>``, Argo CD's annotation tracking value."""
    return f"{app}:{key.group}/{key.kind}:{key.namespace}/{key.name}"


def parse_tracking_id(value: str) -> tuple[str, ResourceKey]:
    """Split a tracking id into (app, key); ``ValueError`` if it is not one.

    Names may contain ``:`` (RBAC objects such as ``system:auth-delegator``), so only
    the first two colons separate fields, as in Argo CD.
    """
    parts = value.split(":", 2)
    if len(parts) != 3:
        raise ValueError(f"not a tracking id ({_TRACKING_FORMAT}): {value!r}")
    app, group_kind, namespace_name = parts
    group_parts = group_kind.split("/")
    ns_parts = namespace_name.split("/")
    if len(group_parts) != 2 or len(ns_parts) != 2:
        raise ValueError(f"not a tracking id ({_TRACKING_FORMAT}): {value!r}")
    group, kind = group_parts
    namespace, name = ns_parts
    if not app or not kind or not name:
        raise ValueError(f"tracking id lacks an app, kind or name: {value!r}")
    return app, ResourceKey(group=group, kind=kind, namespace=namespace, name=name)


def tracking_label_value(app: str) -> str:
    """The ``app.kubernetes.io/instance`` value: at most 63 characters, ending alphanumeric."""
    value = app[:_LABEL_MAX_LENGTH]
    while value and not (value[-1].isascii() and value[-1].isalnum()):
        value = value[:-1]
    return value


def with_tracking(obj: Manifest, app: str) -> Manifest:
    """Return a copy labelled and annotated as belonging to ``app``.

    Set the namespace first (``set_default_namespace``): the tracking id records the
    object's key as it will exist in the cluster.
    """
    result = copy.deepcopy(obj)
    metadata = result.setdefault("metadata", {})
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    labels[TRACKING_LABEL] = tracking_label_value(app)
    annotations[TRACKING_ANNOTATION] = tracking_id(app, ResourceKey.of(result))
    metadata["labels"] = labels
    metadata["annotations"] = annotations
    return result


def is_tracked_by(obj: Manifest, app: str) -> bool:
    """True only if the tracking annotation names ``app`` and this very object.

    The label alone never counts, and an annotation copied onto another object (a
    different kind, name or namespace) does not either. A cluster-scoped object has no
    namespace, so its id matches whatever namespace it records (Argo CD's rule).
    """
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return False
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        return False
    value = annotations.get(TRACKING_ANNOTATION)
    if not isinstance(value, str):
        return False
    try:
        owner, recorded = parse_tracking_id(value)
    except ValueError:
        return False
    actual = ResourceKey.of(obj)
    return (
        owner == app
        and recorded.group == actual.group
        and recorded.kind == actual.kind
        and recorded.name == actual.name
        and (recorded.namespace == actual.namespace or actual.namespace == "")
    )


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
    include_rx = _compile_glob(include, "include") if include else None
    exclude_rx = _compile_glob(exclude, "exclude") if exclude else None
    selected: set[str] = set()
    for raw in relative_paths:
        path = _normalized(raw)
        if not recurse and "/" in path:
            continue
        if not path.rsplit("/", 1)[-1].endswith(MANIFEST_EXTENSIONS):
            continue
        if exclude_rx is not None and exclude_rx.fullmatch(path):
            continue
        if include_rx is not None and not include_rx.fullmatch(path):
            continue
        selected.add(path)
    return sorted(selected, key=lambda p: p.split("/"))


def _normalized(path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or ".." in parts or not parts:
        raise ValueError(f"expected a file path relative to the source directory: {path!r}")
    return "/".join(parts)


def glob_match(pattern: str, text: str) -> bool:
    """Match ``text`` against an Argo CD (gobwas/glob, no separators) pattern."""
    return _compile_glob(pattern, "pattern").fullmatch(text) is not None


@lru_cache(maxsize=256)
def _compile_glob(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(_glob_regex(pattern), re.DOTALL)
    except PatternError as err:
        raise PatternError(f"invalid {what} glob {pattern!r}: {err}") from None


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    depth = 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            while i < n and pattern[i] == "*":
                i += 1
            out.append(".*")
            continue
        if c == "?":
            out.append(".")
        elif c == "[":
            i, cls = _glob_class(pattern, i + 1)
            out.append(cls)
            continue
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "," and depth:
            out.append("|")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "\\":
            i += 1
            if i < n:
                out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise PatternError("unclosed '{'")
    return "".join(out)


def _glob_class(pattern: str, i: int) -> tuple[int, str]:
    """Parse after ``[``: either one ``lo-hi`` range or a list of characters."""
    n = len(pattern)
    negate = i < n and pattern[i] == "!"
    if negate:
        i += 1
    caret = "^" if negate else ""
    if i + 1 < n and pattern[i + 1] == "-":
        if i + 3 >= n:
            raise PatternError("unclosed '['")
        lo, hi = pattern[i], pattern[i + 2]
        if hi < lo:
            raise PatternError(f"range {lo}-{hi} is reversed")
        if pattern[i + 3] != "]":
            raise PatternError("a character range must be a single lo-hi pair")
        return i + 4, f"[{caret}{_class_char(lo)}-{_class_char(hi)}]"
    chars: list[str] = []
    while i < n and pattern[i] != "]":
        if pattern[i] == "\\" and i + 1 < n:
            i += 1
        chars.append(pattern[i])
        i += 1
    if i >= n:
        raise PatternError("unclosed '['")
    if not chars:
        raise PatternError("empty character class")
    return i + 1, f"[{caret}{''.join(_class_char(c) for c in chars)}]"


def _class_char(c: str) -> str:
    return "\\" + c if c in "\\]^-[" else c
