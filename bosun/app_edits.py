"""Edits to an Application document, as ``bosun app create|set|unset|patch`` make them.

Everything here works on the Argo CD JSON of an Application (camelCase, as the app
workflow keeps it and its ``application`` query returns it) and returns a new document;
the caller validates the result with :func:`bosun.models.parse_application`, so a bad
value is reported with its field path. The flags follow ``argocd app set|unset``:

- :class:`AppSettings` / :func:`apply_settings` — ``--repo``, ``--path``, ``--revision``,
  ``--dest-server|--dest-name|--dest-namespace``, ``--project``, ``--sync-policy`` with
  ``--auto-prune`` and ``--self-heal``, ``--helm-set[-string] k=v``, ``--values FILE``
  (a values file in the repository), ``--values-literal-file`` (its text), ``--release-name``,
  ``--kustomize-image IMAGE``, ``--sync-option Key=Value`` (``!Key`` removes it), ``--label k=v``;
- :class:`AppUnsettings` / :func:`apply_unsettings` — ``-p/--parameter NAME``, ``--values FILE``,
  ``--values-literal``, ``--kustomize-image NAME``, ``--nameprefix``, ``--namesuffix``;
- :func:`merge_patch` (RFC 7386) and :func:`json_patch` (RFC 6902) for ``app patch``;
- :func:`document_digest`, which the workflow and the CLI compare so that an edit made
  from a stale copy is refused instead of undoing someone else's.

A flag naming the source (repo, path, Helm, Kustomize) edits ``spec.source``; an app with
``spec.sources`` is edited with ``app patch``. To add a flag, add a field to the
settings class and a few lines to its ``apply_`` function.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

AUTOMATED = ("automated", "automatic", "auto")
MANUAL = ("none", "manual")
SYNC_POLICIES = AUTOMATED + MANUAL
"""``--sync-policy`` values, as ``argocd app set`` accepts them."""


class EditError(ValueError):
    """A flag or patch that cannot be applied; the message names the flag or path."""


@dataclass(frozen=True)
class AppSettings:
    """What ``app set`` (and ``app create``) changes; None / empty means leave alone."""

    repo: str | None = None
    path: str | None = None
    revision: str | None = None
    dest_server: str | None = None
    dest_name: str | None = None
    dest_namespace: str | None = None
    project: str | None = None
    sync_policy: str | None = None
    auto_prune: bool | None = None
    self_heal: bool | None = None
    helm_set: tuple[str, ...] = ()
    helm_set_string: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    values_literal: str | None = None
    release_name: str | None = None
    kustomize_images: tuple[str, ...] = ()
    sync_options: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    def empty(self) -> bool:
        return all(getattr(self, f.name) in (None, ()) for f in fields(self))


@dataclass(frozen=True)
class AppUnsettings:
    """What ``app unset`` removes."""

    parameters: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    values_literal: bool = False
    kustomize_images: tuple[str, ...] = ()
    nameprefix: bool = False
    namesuffix: bool = False

    def empty(self) -> bool:
        return all(getattr(self, f.name) in (False, ()) for f in fields(self))


def apply_settings(document: Mapping[str, Any], settings: AppSettings) -> dict[str, Any]:
    doc = copy.deepcopy(dict(document))
    spec = doc.setdefault("spec", {})
    if settings.project is not None:
        spec["project"] = settings.project
    _set_destination(spec, settings)
    _set_sync_policy(spec, settings)
    if settings.sync_options:
        _set_sync_options(spec, settings.sync_options)
    if settings.labels:
        labels = doc.setdefault("metadata", {}).setdefault("labels", {})
        for item in settings.labels:
            key, value = _pair(item, "--label")
            labels[key] = value
    source_fields = (settings.repo, settings.path, settings.revision, settings.values_literal, settings.release_name)
    if (
        any(v is not None for v in source_fields)
        or settings.helm_set
        or settings.helm_set_string
        or settings.values
        or settings.kustomize_images
    ):
        source = _single_source(spec)
        if settings.repo is not None:
            source["repoURL"] = settings.repo
        if settings.path is not None:
            source["path"] = settings.path
        if settings.revision is not None:
            source["targetRevision"] = settings.revision
        _set_helm(source, settings)
        if settings.kustomize_images:
            images = source.setdefault("kustomize", {}).setdefault("images", [])
            for image in settings.kustomize_images:
                name = image_name(image)
                images[:] = [i for i in images if image_name(i) != name] + [image]
    return doc


def apply_unsettings(document: Mapping[str, Any], unsettings: AppUnsettings) -> dict[str, Any]:
    doc = copy.deepcopy(dict(document))
    spec = doc.setdefault("spec", {})
    if unsettings.empty():
        return doc
    source = _single_source(spec)
    helm = source.get("helm") or {}
    if unsettings.parameters:
        known = {p.get("name") for p in helm.get("parameters") or []}
        for name in unsettings.parameters:
            if name not in known:
                raise EditError(
                    f"-p/--parameter {name}: the app has no Helm parameter {name!r} (spec.source.helm.parameters)"
                )
        helm["parameters"] = [p for p in helm.get("parameters") or [] if p.get("name") not in unsettings.parameters]
    for value_file in unsettings.values:
        if value_file not in (helm.get("valueFiles") or []):
            raise EditError(f"--values {value_file}: not in spec.source.helm.valueFiles")
        helm["valueFiles"] = [f for f in helm["valueFiles"] if f != value_file]
    if unsettings.values_literal:
        helm.pop("values", None)
        helm.pop("valuesObject", None)
    if helm:
        source["helm"] = {k: v for k, v in helm.items() if v not in ([], "", None)}
    kustomize = source.get("kustomize") or {}
    for name in unsettings.kustomize_images:
        images = kustomize.get("images") or []
        if not any(image_name(i) == image_name(name) for i in images):
            raise EditError(f"--kustomize-image {name}: not in spec.source.kustomize.images")
        kustomize["images"] = [i for i in images if image_name(i) != image_name(name)]
    if unsettings.nameprefix:
        kustomize.pop("namePrefix", None)
    if unsettings.namesuffix:
        kustomize.pop("nameSuffix", None)
    if kustomize:
        source["kustomize"] = {k: v for k, v in kustomize.items() if v not in ([], "", None)}
    for tool in ("helm", "kustomize"):
        if source.get(tool) == {}:
            del source[tool]
    return doc


def image_name(image: str) -> str:
    """The image a Kustomize image override is for, as Argo CD matches them:
    ``old=new:tag`` → ``old``; ``repo/name:tag`` or ``name@sha256:…`` → the name."""
    if "=" in image:
        return image.split("=", 1)[0]
    image = image.split("@", 1)[0]
    head, _, last = image.rpartition("/")
    return (head + "/" if head else "") + last.split(":", 1)[0]


# ------------------------------------------------------------------------- patches


def merge_patch(document: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test); EditError names the
    operation (by index) that cannot be applied."""
    if not isinstance(operations, list):
        raise EditError(
            "a JSON patch is a list of operations, e.g. "
            '[{"op": "replace", "path": "/spec/source/path", "value": "web"}]'
        )
    doc = copy.deepcopy(document)
    for index, operation in enumerate(operations):
        where = f"patch operation {index}"
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise EditError(f"{where}: needs 'op' and 'path'")
        op, path = operation["op"], operation["path"]
        try:
            if op in ("add", "replace", "test") and "value" not in operation:
                raise EditError("needs 'value'")
            if op == "add":
                doc = _add(doc, _pointer(path), copy.deepcopy(operation["value"]))
            elif op == "remove":
                doc, _ = _remove(doc, _pointer(path))
            elif op == "replace":
                doc, _ = _remove(doc, _pointer(path))
                doc = _add(doc, _pointer(path), copy.deepcopy(operation["value"]))
            elif op in ("move", "copy"):
                if "from" not in operation:
                    raise EditError("needs 'from'")
                source = _pointer(operation["from"])
                if op == "move":
                    if path.startswith(operation["from"] + "/"):
                        raise EditError("cannot move a value into itself")
                    doc, value = _remove(doc, source)
                else:
                    value = copy.deepcopy(_get(doc, source))
                doc = _add(doc, _pointer(path), value)
            elif op == "test":
                if _get(doc, _pointer(path)) != operation["value"]:
                    raise EditError(f"test failed: {path} is not {json.dumps(operation['value'])}")
            else:
                raise EditError(f"unknown op {op!r} (add, remove, replace, move, copy, test)")
        except EditError as exc:
            raise EditError(f"{where} ({op} {path}): {exc}") from None
    return doc


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise EditError(f"{path!r} is not a JSON pointer (e.g. /spec/source/path)")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]] if path else []


def _container(doc: Any, parts: list[str]) -> Any:
    target = doc
    for part in parts:
        target = _step(target, part)
    return target


def _step(target: Any, part: str) -> Any:
    if isinstance(target, dict):
        if part not in target:
            raise EditError(f"no member {part!r}")
        return target[part]
    if isinstance(target, list):
        return target[_index(target, part, allow_end=False)]
    raise EditError(f"cannot descend into {json.dumps(target)} with {part!r}")


def _index(target: list[Any], part: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(target)
    if not part.isdigit() or (part != "0" and part.startswith("0")):
        raise EditError(f"{part!r} is not an array index")
    index = int(part)
    if index > len(target) or (index == len(target) and not allow_end):
        raise EditError(f"index {index} is out of range")
    return index


def _get(doc: Any, parts: list[str]) -> Any:
    return _container(doc, parts)


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _container(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise EditError(f"cannot add {last!r} to {json.dumps(parent)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> tuple[Any, Any]:
    if not parts:
        return None, doc
    parent = _container(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise EditError(f"no member {last!r}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, allow_end=False))
    raise EditError(f"cannot remove {last!r} from {json.dumps(parent)}")


def document_digest(document: Mapping[str, Any]) -> str:
    """A short digest of an Application document, the same wherever it is computed."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------- helpers


def _pair(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise EditError(f"{flag} {item}: expected key=value")
    return key, value


def _single_source(spec: dict[str, Any]) -> dict[str, Any]:
    if spec.get("sources"):
        raise EditError(
            "the app has spec.sources (several sources): edit them with "
            "`bosun app patch APP --type json --patch '[...]'`"
        )
    source: dict[str, Any] = spec.setdefault("source", {})
    return source


def _set_destination(spec: dict[str, Any], settings: AppSettings) -> None:
    if settings.dest_server is not None and settings.dest_name is not None:
        raise EditError("--dest-server and --dest-name: give one (a destination is a server URL or a cluster name)")
    dest = spec.setdefault("destination", {})
    if settings.dest_server is not None:
        dest["server"] = settings.dest_server
        dest.pop("name", None)
    if settings.dest_name is not None:
        dest["name"] = settings.dest_name
        dest.pop("server", None)
    if settings.dest_namespace is not None:
        dest["namespace"] = settings.dest_namespace


def _set_sync_policy(spec: dict[str, Any], settings: AppSettings) -> None:
    policy = spec.get("syncPolicy") or {}
    if settings.sync_policy is not None:
        if settings.sync_policy not in SYNC_POLICIES:
            raise EditError(f"--sync-policy {settings.sync_policy}: use one of {', '.join(SYNC_POLICIES)}")
        if settings.sync_policy in AUTOMATED:
            automated = policy.get("automated") or {}
            automated.pop("enabled", None)  # Argo CD 3's enabled: false would keep it off
            policy["automated"] = automated
        else:
            policy.pop("automated", None)
    for flag, key, value in (
        ("--auto-prune", "prune", settings.auto_prune),
        ("--self-heal", "selfHeal", settings.self_heal),
    ):
        if value is None:
            continue
        if "automated" not in policy:
            raise EditError(f"{flag}: the app has no automated sync (add --sync-policy automated)")
        policy["automated"][key] = value
    if policy:
        spec["syncPolicy"] = policy
    else:
        spec.pop("syncPolicy", None)


def _set_sync_options(spec: dict[str, Any], options: tuple[str, ...]) -> None:
    policy = spec.setdefault("syncPolicy", {})
    current: list[str] = list(policy.get("syncOptions") or [])
    for option in options:
        remove = option.startswith("!")
        key = option.lstrip("!").partition("=")[0]
        if not key:
            raise EditError(f"--sync-option {option}: expected Key=Value, or !Key to remove it")
        if remove and not any(o.partition("=")[0] == key for o in current):
            raise EditError(f"--sync-option {option}: the app has no sync option {key}")
        current = [o for o in current if o.partition("=")[0] != key]
        if not remove:
            current.append(option)
    policy["syncOptions"] = current
    if not current:
        del policy["syncOptions"]


def _set_helm(source: dict[str, Any], settings: AppSettings) -> None:
    if not (
        settings.helm_set
        or settings.helm_set_string
        or settings.values
        or settings.values_literal is not None
        or settings.release_name is not None
    ):
        return
    helm = source.setdefault("helm", {})
    parameters: list[dict[str, Any]] = helm.setdefault("parameters", [])
    for flag, items, force in (
        ("--helm-set", settings.helm_set, False),
        ("--helm-set-string", settings.helm_set_string, True),
    ):
        for item in items:
            name, value = _pair(item, flag)
            parameters[:] = [p for p in parameters if p.get("name") != name]
            parameters.append({"name": name, "value": value, **({"forceString": True} if force else {})})
    if not parameters:
        del helm["parameters"]
    for value_file in settings.values:
        files = helm.setdefault("valueFiles", [])
        if value_file not in files:
            files.append(value_file)
    if settings.values_literal is not None:
        helm["values"] = settings.values_literal
        helm.pop("valuesObject", None)
    if settings.release_name is not None:
        helm["releaseName"] = settings.release_name
