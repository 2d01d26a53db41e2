"""Argo CD's ApplicationSet generators: parameter sets from a list, the clusters, Git
directories and files, and their matrix and merge combinations.

Each function ports the Go generator of ``applicationset/generators/`` it is named after,
parameter names and shapes included: with fasttemplate the params are flat string keys
(``path.basename``, ``metadata.labels.env``, ``values.x``), with ``goTemplate`` they are
nested maps (``.path.basename``, ``.metadata.labels.env``, ``.values.x``). A generator's
``selector`` filters its param sets, matched against the flattened params.

I/O is injected: Git through :class:`GitReader` (the activity implements it over Bosun's
mirrors, so the project's repository rules apply there) and the cluster list as given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from posixpath import basename, dirname
from typing import Any, Protocol

import yaml

from bosun.appset.spec import ApplicationSet, ApplicationSetError
from bosun.appset.templating import (
    GoRenderer,
    flatten_params,
    flatten_values,
    go_value,
    render_strings,
    sanitize_name,
)
from bosun.safe_yaml import safe_load

__all__ = [
    "IN_CLUSTER_NAME",
    "IN_CLUSTER_SERVER",
    "ClusterInfo",
    "GeneratedParams",
    "GeneratorContext",
    "GitReader",
    "generate",
    "go_path_match",
    "selector_matches",
]

IN_CLUSTER_NAME = "in-cluster"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"


@dataclass(frozen=True)
class ClusterInfo:
    """One destination cluster as the clusters generator sees it."""

    name: str
    server: str
    labels: dict[str, str]
    annotations: dict[str, str]
    project: str | None = None
    in_cluster: bool = False
    """The local cluster with no Secret behind it: Argo CD lists it with only ``name`` and
    ``server`` params, and leaves it out whenever the generator has a label selector."""


class GitReader(Protocol):
    """I/O is injected: the activity implements it over Bosun's git mirrors (project rules apply)."""

    def directories(self, repo_url: str, revision: str) -> list[str]:
        """Every directory path of the tree at ``revision`` but the root, repo-relative, posix;
        hidden directories (``.git``, ``.github``) and what is under them left out, as Argo
        CD's repo server lists them (``GetGitDirectories``)."""
        ...

    def files(self, repo_url: str, revision: str, glob: str) -> dict[str, bytes]:
        """Path -> content of the files whose repo-relative path matches ``glob`` (Argo CD's
        git file globbing: ``git ls-files`` pathspecs, where ``*`` also crosses ``/``)."""
        ...


@dataclass(frozen=True)
class GeneratorContext:
    clusters: list[ClusterInfo]
    """Bosun's cluster Secrets and the in-cluster one."""
    git: GitReader
    go_render: GoRenderer | None = None
    """Needed only when a ``goTemplate`` set templates ``values`` or interpolates a matrix."""


@dataclass(frozen=True)
class GeneratedParams:
    """The params of one Application and the template it is rendered from: the top-level
    generator's ``template`` merged over the set's (``{}`` when the generator has none)."""

    params: dict[str, Any]
    template: dict[str, Any] = field(default_factory=dict)
    generator_index: int = 0
    """Which of ``spec.generators`` produced it (for error messages)."""


def generate(appset: ApplicationSet, ctx: GeneratorContext) -> list[GeneratedParams]:
    """Every param set of every top-level generator, in order (Argo CD's ``Transform`` per
    generator). The first generator error is raised naming the generator's path."""
    result: list[GeneratedParams] = []
    for index, generator in enumerate(appset.generators):
        where = f"spec.generators[{index}]"
        params = _transform(generator, appset, ctx, where, interpolate_with=None)
        template = _generator_template(generator)
        result.extend(GeneratedParams(p, template, index) for p in params)
    return result


def _generator_template(generator: Mapping[str, Any]) -> dict[str, Any]:
    for kind, body in generator.items():
        if kind != "selector" and isinstance(body, Mapping):
            return dict(body.get("template") or {})
    return {}


def _transform(
    generator: Mapping[str, Any],
    appset: ApplicationSet,
    ctx: GeneratorContext,
    where: str,
    *,
    interpolate_with: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """Argo CD's ``Transform``: interpolate the generator with the params of a matrix's first
    child (when given), generate, then keep the sets its ``selector`` matches."""
    if interpolate_with:
        generator = _interpolate(generator, interpolate_with, appset, ctx, where)
    kind = next(k for k in generator if k != "selector")
    body = generator[kind]
    at = f"{where}.{kind}"
    if kind == "list":
        params = _list(body, appset, at)
    elif kind == "clusters":
        params = _clusters(body, appset, ctx, at)
    elif kind == "git":
        params = _git(body, appset, ctx, at)
    elif kind == "matrix":
        params = _matrix(body, appset, ctx, at)
    elif kind == "merge":
        params = _merge(body, appset, ctx, at)
    else:  # refused by parse_applicationset already
        raise ApplicationSetError(f"{at}: not supported by Bosun")
    selector = generator.get("selector")
    if selector:
        params = [p for p in params if selector_matches(selector, flatten_params(p))]
    return params


def _interpolate(
    generator: Mapping[str, Any], params: Mapping[str, Any], appset: ApplicationSet, ctx: GeneratorContext, where: str
) -> dict[str, Any]:
    """Argo CD's ``InterpolateGenerator``: the child generator's strings rendered with the
    first child's params (Argo CD renders the generator's JSON text as one template; Bosun
    renders each string, which is the same for every template that stays inside a string)."""
    [rendered] = render_strings(
        [(dict(generator), params)],
        go_template=appset.go_template,
        options=appset.go_template_options,
        go_render=ctx.go_render,
        where=where,
    )
    return dict(rendered)


# --- list -------------------------------------------------------------------------------


def _list(body: Mapping[str, Any], appset: ApplicationSet, where: str) -> list[dict[str, Any]]:
    """``list.go``: with goTemplate each element as is; else every value must be a string,
    except ``values``, a map of strings that becomes ``values.<key>``. ``elementsYaml``
    (a YAML list of objects) is appended as is."""
    result: list[dict[str, Any]] = []
    for index, element in enumerate(body.get("elements") or []):
        if appset.go_template:
            result.append(dict(element))
            continue
        params: dict[str, Any] = {}
        for key, value in element.items():
            if key == "values":
                if not isinstance(value, Mapping):
                    raise ApplicationSetError(f"{where}.elements[{index}].values: error parsing values map")
                for name, item in value.items():
                    if not isinstance(item, str):
                        raise ApplicationSetError(
                            f"{where}.elements[{index}].values.{name}: error parsing value as string {item!r}"
                        )
                    params[f"values.{name}"] = item
            elif isinstance(value, str):
                params[key] = value
            else:
                raise ApplicationSetError(
                    f"{where}.elements[{index}].{key}: error parsing value as string {value!r} "
                    "(without goTemplate every list element value must be a string)"
                )
        result.append(params)
    text = body.get("elementsYaml")
    if text:
        try:
            elements = safe_load(text, source=f"{where}.elementsYaml")
        except yaml.YAMLError as error:
            raise ApplicationSetError(f"{where}.elementsYaml: not YAML: {error}") from None
        if elements is None:
            elements = []
        if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
            raise ApplicationSetError(f"{where}.elementsYaml: must be a YAML list of objects")
        result.extend(_json_shaped(e) for e in elements)
    return result


# --- clusters ---------------------------------------------------------------------------


def _clusters(
    body: Mapping[str, Any], appset: ApplicationSet, ctx: GeneratorContext, where: str
) -> list[dict[str, Any]]:
    """``cluster.go``: one param set per cluster whose Secret's labels match ``selector``;
    the in-cluster one (no Secret) only when there is no selector. ``values`` are templated
    with each cluster's params. ``flatList`` gives one set ``{"clusters": [...]}``."""
    selector = body.get("selector") or {}
    has_selector = bool(selector.get("matchLabels") or selector.get("matchExpressions"))
    sets: list[dict[str, Any]] = []
    for cluster in ctx.clusters:
        if cluster.in_cluster:
            if has_selector:
                continue
            params: dict[str, Any] = {
                "name": cluster.name,
                "nameNormalized": cluster.name,
                "server": cluster.server,
                "project": "",
            }
        else:
            if has_selector and not selector_matches(selector, cluster.labels):
                continue
            params = _cluster_params(cluster, appset.go_template)
        sets.append(params)
    _append_values(sets, body.get("values") or {}, appset, ctx, f"{where}.values")
    if body.get("flatList"):
        return [{"clusters": sets}] if sets else []
    return sets


def _cluster_params(cluster: ClusterInfo, go_template: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": cluster.name,
        "nameNormalized": sanitize_name(cluster.name),
        "server": cluster.server,
        "project": cluster.project or "",
    }
    if go_template:
        metadata: dict[str, Any] = {}
        if cluster.annotations:
            metadata["annotations"] = dict(cluster.annotations)
        if cluster.labels:
            metadata["labels"] = dict(cluster.labels)
        params["metadata"] = metadata
    else:
        for key, value in cluster.annotations.items():
            params[f"metadata.annotations.{key}"] = value
        for key, value in cluster.labels.items():
            params[f"metadata.labels.{key}"] = value
    return params


def _append_values(
    sets: list[dict[str, Any]], values: Mapping[str, str], appset: ApplicationSet, ctx: GeneratorContext, where: str
) -> None:
    """Argo CD's ``appendTemplatedValues``: each value rendered with the set's params (which
    do not yet hold ``values``, so values cannot refer to each other), then added as
    ``values.<key>`` (fasttemplate) or ``values: {key: ...}`` (goTemplate)."""
    if not values or not sets:
        return
    rendered = render_strings(
        [(dict(values), params) for params in sets],
        go_template=appset.go_template,
        options=appset.go_template_options,
        go_render=ctx.go_render,
        where=where,
    )
    for params, result in zip(sets, rendered, strict=True):
        if appset.go_template:
            params["values"] = dict(result)
        else:
            params.update({f"values.{key}": value for key, value in result.items()})


# --- git --------------------------------------------------------------------------------


def _git(body: Mapping[str, Any], appset: ApplicationSet, ctx: GeneratorContext, where: str) -> list[dict[str, Any]]:
    repo_url = body["repoURL"]
    revision = body.get("revision") or "HEAD"
    prefix = body.get("pathParamPrefix") or ""
    if body.get("directories") is not None:
        paths = filter_directories(body["directories"], ctx.git.directories(repo_url, revision))
        sets = [_directory_params(path, prefix, appset.go_template) for path in paths]
    else:
        sets = _files_params(body["files"], repo_url, revision, prefix, appset, ctx, where)
    _append_values(sets, body.get("values") or {}, appset, ctx, f"{where}.values")
    return sets


def filter_directories(entries: Sequence[Mapping[str, Any]], directories: Sequence[str]) -> list[str]:
    """Argo CD's ``filterApps``: a directory is kept when some non-exclude entry's ``path``
    matches it (Go's ``path.Match``: ``*`` stops at ``/``) and no exclude entry matches it,
    whatever the order of the entries."""
    result = []
    for directory in directories:
        include = exclude = False
        for entry in entries:
            if go_path_match(entry["path"], directory):
                if entry.get("exclude"):
                    exclude = True
                else:
                    include = True
        if include and not exclude:
            result.append(directory)
    return result


def _path_segments(path: str, name: str) -> dict[str, str]:
    return {f"{name}[{index}]": segment for index, segment in enumerate(path.split("/")) if segment}


def _directory_params(path: str, prefix: str, go_template: bool) -> dict[str, Any]:
    """``generateParamsFromApps``: ``path``, ``path.basename``, ``path.basenameNormalized``,
    ``path[n]`` (fasttemplate) or ``.path.path``, ``.path.basename``,
    ``.path.basenameNormalized``, ``.path.segments`` (goTemplate); under ``pathParamPrefix``
    when one is set."""
    name = f"{prefix}.path" if prefix else "path"
    if go_template:
        nested = {
            "path": path,
            "basename": basename(path),
            "basenameNormalized": sanitize_name(basename(path)),
            "segments": path.split("/"),
        }
        return {prefix: {"path": nested}} if prefix else {"path": nested}
    params: dict[str, Any] = {
        name: path,
        f"{name}.basename": basename(path),
        f"{name}.basenameNormalized": sanitize_name(basename(path)),
    }
    params.update(_path_segments(path, name))
    return params


def _files_params(
    entries: Sequence[Mapping[str, Any]],
    repo_url: str,
    revision: str,
    prefix: str,
    appset: ApplicationSet,
    ctx: GeneratorContext,
    where: str,
) -> list[dict[str, Any]]:
    """``generateParamsForGitFiles``: the files of the include globs minus those of the
    exclude globs, in path order; each file gives one param set, or one per element when it
    holds a list."""
    contents: dict[str, bytes] = {}
    for entry in entries:
        if not entry.get("exclude"):
            contents.update(ctx.git.files(repo_url, revision, entry["path"]))
    for entry in entries:
        if entry.get("exclude"):
            for path in ctx.git.files(repo_url, revision, entry["path"]):
                contents.pop(path, None)
    result = []
    for path in sorted(contents):
        for item in _file_objects(contents[path], f"{where}: {repo_url} {path}"):
            result.append(_file_params(item, path, prefix, appset.go_template))
    return result


def _file_objects(content: bytes, where: str) -> list[dict[str, Any]]:
    """A YAML or JSON file as one object (an empty file is an empty object) or a list of
    objects, as ``generateParamsFromGitFile`` reads it; bounded as all YAML from Git is
    (:func:`bosun.safe_yaml.safe_load`: size, node count, depth)."""
    try:
        value = safe_load(content.decode("utf-8"), source="the file")
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ApplicationSetError(f"{where}: unable to parse file: {error}") from None
    if value is None:
        return [{}]
    if isinstance(value, dict):
        return [_json_shaped(value)]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return [_json_shaped(item) for item in value]
    raise ApplicationSetError(f"{where}: unable to parse file: not an object or a list of objects")


def _file_params(item: Mapping[str, Any], path: str, prefix: str, go_template: bool) -> dict[str, Any]:
    directory = dirname(path) or "."
    filename = basename(path)
    if go_template:
        params = dict(item)
        nested = {
            "path": directory,
            "basename": basename(directory),
            "filename": filename,
            "basenameNormalized": sanitize_name(basename(directory)),
            "filenameNormalized": sanitize_name(filename),
            "segments": directory.split("/"),
        }
        if prefix:
            params[prefix] = {"path": nested}
        else:
            params["path"] = nested
        return params
    params = {key: go_value(value) for key, value in flatten_values(item).items()}
    name = f"{prefix}.path" if prefix else "path"
    params[name] = directory
    params[f"{name}.basename"] = basename(directory)
    params[f"{name}.filename"] = filename
    params[f"{name}.basenameNormalized"] = sanitize_name(basename(directory))
    params[f"{name}.filenameNormalized"] = sanitize_name(filename)
    params.update(_path_segments(directory, name))
    return params


def _json_shaped(value: Any) -> Any:
    """YAML read as Go reads it through JSON (sigs.k8s.io/yaml): keys become strings, dates
    and other YAML-only scalars become their text."""
    return json.loads(json.dumps(value, default=str))


# --- matrix and merge -------------------------------------------------------------------


def _matrix(body: Mapping[str, Any], appset: ApplicationSet, ctx: GeneratorContext, where: str) -> list[dict[str, Any]]:
    """``matrix.go``: every set of the first child combined with every set the second child
    generates once interpolated with it. fasttemplate: a key both sides give with different
    values is an error; goTemplate: the first child's values win, maps merged deeply."""
    first, second = body["generators"]
    result = []
    for left in _transform(first, appset, ctx, f"{where}.generators[0]", interpolate_with=None):
        for right in _transform(second, appset, ctx, f"{where}.generators[1]", interpolate_with=left):
            if appset.go_template:
                result.append(_deep_merge_override(_deep_merge_override({}, right), left))
            else:
                result.append(_combine_string_maps(left, right, where))
    return result


def _combine_string_maps(left: Mapping[str, Any], right: Mapping[str, Any], where: str) -> dict[str, Any]:
    combined = dict(left)
    for key, value in right.items():
        if key in combined and combined[key] != value:
            raise ApplicationSetError(
                f"{where}: found duplicate key {key} with different value, a: {combined[key]} ,b: {value}"
            )
        combined[key] = value
    return combined


def _deep_merge_override(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``mergo.Merge(&base, override, mergo.WithOverride)`` on JSON-shaped maps: nested maps
    merged key by key, anything else replaced by the override's non-empty value."""
    for key, value in override.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            base[key] = _deep_merge_override(dict(current), value)
        elif isinstance(value, Mapping):
            base[key] = _deep_merge_override({}, value)
        elif value not in ("", None, 0, False, []) or key not in base:
            base[key] = value
    return base


def _merge(body: Mapping[str, Any], appset: ApplicationSet, ctx: GeneratorContext, where: str) -> list[dict[str, Any]]:
    """``merge.go``: the first child's sets, each overridden by the set of every later child
    that has the same values for all ``mergeKeys``; sets of later children that match no
    base set are dropped. The first child may give several sets with one merge key (each is
    overridden); a later child may not (Argo CD's ``ErrNonUniqueParamSets``)."""
    keys = list(dict.fromkeys(body["mergeKeys"]))
    children = [
        _transform(child, appset, ctx, f"{where}.generators[{index}]", interpolate_with=None)
        for index, child in enumerate(body["generators"])
    ]
    base = [(_merge_identity(keys, params), dict(params)) for params in children[0]]
    for index, sets in enumerate(children[1:], start=1):
        overrides: dict[str, dict[str, Any]] = {}
        for params in sets:
            identity = _merge_identity(keys, params)
            if identity in overrides:
                raise ApplicationSetError(
                    f"{where}.generators[{index}]: the parameters from a generator were not unique by the given "
                    f"mergeKeys, Merge requires all param sets to be unique. Duplicate key was {identity}"
                )
            overrides[identity] = params
        for position, (identity, params) in enumerate(base):
            override = overrides.get(identity)
            if override is None:
                continue
            if appset.go_template:
                base[position] = (identity, _deep_merge_override(params, override))
            else:
                base[position] = (identity, {**params, **override})
    return [params for _, params in base]


def _merge_identity(keys: list[str], params: Mapping[str, Any]) -> str:
    return json.dumps({key: _lookup(params, key) for key in sorted(keys)}, sort_keys=True)


def _lookup(params: Mapping[str, Any], key: str) -> Any:
    """A merge key: the flat key itself (Argo CD looks up only that), else a dotted path into
    nested maps (goTemplate params; under Argo CD such a key is always null)."""
    if key in params:
        return params[key]
    value: Any = params
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


# --- selectors and path matching --------------------------------------------------------


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes ``LabelSelector`` (``matchLabels`` and ``matchExpressions``) over
    ``labels``; Argo CD accepts any label value here (params are not label-shaped)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def go_path_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match``: ``*`` any run of non-``/`` characters, ``?`` one of them,
    ``[...]`` a class (``[^...]`` negated, ranges ``a-z``), ``\\`` escapes. A malformed
    pattern matches nothing (Argo CD logs and skips it)."""
    regex = _GO_PATTERNS.get(pattern)
    if regex is None:
        translated = _translate(pattern)
        regex = re.compile(translated) if translated is not None else None
        _GO_PATTERNS[pattern] = regex if regex is not None else False
    return bool(regex) and bool(regex.fullmatch(name))  # type: ignore[union-attr]


_GO_PATTERNS: dict[str, Any] = {}


def _translate(pattern: str) -> str | None:
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            index += 1
            if index >= len(pattern):
                return None
            out.append(re.escape(pattern[index]))
        elif char == "[":
            end = index + 1
            negate = end < len(pattern) and pattern[end] == "^"
            if negate:
                end += 1
            body = []
            first = True
            while end < len(pattern) and (pattern[end] != "]" or first):
                if pattern[end] == "]" and first:
                    return None  # Go: an empty class is malformed
                first = False
                if pattern[end] == "\\":
                    end += 1
                    if end >= len(pattern):
                        return None
                body.append(re.escape(pattern[end]) if pattern[end] not in "-" else "-")
                end += 1
            if end >= len(pattern) or not body:
                return None
            out.append(f"[{'^' if negate else ''}{''.join(body)}]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)
