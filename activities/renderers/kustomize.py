"""Kustomize sources: ``kubectl kustomize`` with Argo CD's ``spec.source.kustomize`` options.

Argo CD applies the options by running ``kustomize edit`` in the app's directory of
its throw-away checkout, then ``kustomize build``. ``kubectl`` embeds kustomize's
build but not its ``edit`` command, so :func:`apply_options` makes the same edits to
the kustomization file, in Argo CD's order (namePrefix, nameSuffix, images, replicas,
commonLabels, commonAnnotations, namespace, patches, components), and the file is put
back after the build. Each edit follows the ``kustomize edit`` command it stands for
(``set image`` merges by image name and sorts; ``add label`` refuses to overwrite
unless forced …).

The build uses kustomize's default load restrictor (``LoadRestrictionsRootOnly``):
files a kustomization reads must be inside its directory, other directories are
referenced as kustomizations (the ``base/`` + ``overlays/<env>/`` layout). Local
components are confined to the checkout; symlinks leaving it are refused before any
tool runs (:func:`.refuse_links_out`).

Before the build, :func:`check_references` walks the kustomizations of the checkout that the
build will read and refuses, naming the kustomization file and the entry: a local base or
component outside the checkout (another render's sources, the worker's files), and a remote
base whose URL Bosun would not fetch itself (a user or password in it, a leading ``-``, a
``file://`` repository where local repositories are disabled, or one inside the worker's git
mirrors, :class:`.tools.FetchPolicy`), or one the app's project does not permit
(``sourceRepos``). What kustomize then clones runs under the render's
``GIT_ALLOW_PROTOCOL``, without any credentials.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from activities.renderers.paths import RenderError, inside
from activities.renderers.tools import ToolRun, find_tool
from bosun import safe_yaml
from bosun.manifests import ManifestError, parse_manifests
from bosun.models.source import ApplicationSourceKustomize, KustomizePatch
from bosun.repo_urls import RepoURLError, parse_repo_url
from bosun.resources import Manifest

__all__ = ["KUSTOMIZATION_NAMES", "apply_options", "check_references", "find_kustomization", "render_kustomize"]

_REFERENCES = ("resources", "bases", "components", "generators", "transformers", "validators")
"""The kustomization fields whose entries may name other kustomizations, local or remote."""

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def find_kustomization(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def render_kustomize(
    checkout: Path, root: Path, options: ApplicationSourceKustomize | None, run: ToolRun
) -> list[Manifest]:
    """``kubectl kustomize`` of ``root`` (inside ``checkout``), after applying ``options``."""
    kustomization = find_kustomization(root)
    if kustomization is None:
        raise RenderError(f"{run.show(root)}: no kustomization.yaml, kustomization.yml or Kustomization")
    kubectl = find_tool("kubectl")
    original = kustomization.read_bytes()
    try:
        if options is not None:
            apply_options(checkout, kustomization, options, run)
        check_references(checkout, root, run)
        out = run.run([str(kubectl), "kustomize", str(root)], what=f"kustomize build {run.show(root)}", cwd=checkout)
    finally:
        if kustomization.read_bytes() != original:  # leave the checkout as it was
            kustomization.write_bytes(original)
    try:
        return parse_manifests(out, source=f"kustomize build {run.show(root)}")
    except ManifestError as exc:
        raise RenderError(str(exc)) from None


def check_references(checkout: Path, root: Path, run: ToolRun) -> None:
    """RenderError for a base or component the build of ``root`` must not read (module docstring).

    Local kustomizations are followed from ``root``; a remote one is checked by its URL only
    (kustomize clones it, under the render's ``GIT_ALLOW_PROTOCOL``)."""
    top = checkout.resolve()
    pending, seen = [root.resolve()], set()
    while pending:
        directory = pending.pop()
        kustomization = find_kustomization(directory)
        if directory in seen or kustomization is None:
            continue
        seen.add(directory)
        doc = _read_strictly(kustomization, run)
        for field in _REFERENCES:
            entries = doc.get(field)
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, str) or not entry.strip():
                    continue
                where = f"{run.show(kustomization)}: {field} entry {entry!r}"
                local = _local_reference(directory, entry.strip())
                if local is None:
                    _check_remote(entry.strip(), where, run)
                    continue
                if local != top and top not in local.parents:
                    raise RenderError(f"{where} resolves outside the repository: refused")
                if local.is_dir():
                    pending.append(local)


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice: a reader keeping the first and another the last
    would check one list and build the other."""


def _no_duplicate_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key, deep=True) for key, _ in node.value]
    for key in keys:
        if isinstance(key, str) and keys.count(key) > 1:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", node.start_mark)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def _read_strictly(kustomization: Path, run: ToolRun) -> dict[str, Any]:
    """The kustomization as a mapping; RenderError if it cannot be read as one — failing closed,
    since what is not read here cannot be checked, and kustomize's YAML reader may accept it."""
    shown = run.show(kustomization)
    try:
        doc = yaml.load(kustomization.read_text(), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise RenderError(f"{shown}: not valid YAML, refused before kustomize runs: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise RenderError(f"{shown}: expected a mapping")
    return doc


def _local_reference(directory: Path, entry: str) -> Path | None:
    """The resolved path a local entry names; None for a remote one (kustomize's rule: what is
    not a local file or directory is read as a URL)."""
    if "://" in entry or re.match(r"^[\w.-]+@[\w.-]+:", entry):
        return None
    candidate = directory / entry
    if os.path.lexists(candidate) or not ("?" in entry or "//" in entry or re.match(r"^[\w-]+\.[\w.-]+/", entry)):
        return candidate.resolve()
    return None


def _check_remote(entry: str, where: str, run: ToolRun) -> None:
    url = entry.split("?", 1)[0]
    scheme, sep, rest = url.partition("://")
    if scheme.lower() == "file" and sep:
        if not run.fetch.allow_local:
            raise RenderError(
                f"{where} is a local repository, and local repositories are disabled on this worker: refused"
            )
        repo = Path(rest.split("//", 1)[0] or "/").resolve()
        for private in run.fetch.private:
            private = private.resolve()
            if repo == private or private in repo.parents:
                raise RenderError(f"{where} is inside the worker's git mirrors, which no source may read: refused")
        run.fetch.check_source(f"file://{repo}", where)
        return
    if sep:
        repo_url = f"{scheme}://{rest.split('//', 1)[0]}"
    elif re.match(r"^[\w.-]+@[\w.-]+:", url):
        repo_url = url.split("//", 1)[0]
    else:  # kustomize's scheme-less form (github.com/org/repo/path): https, no userinfo possible
        repo_url = "https://" + _scheme_less_repo(url.split("//", 1)[0])
    try:
        parse_repo_url(repo_url)
    except RepoURLError as exc:
        raise RenderError(f"{where}: {exc}") from None
    run.fetch.check_source(repo_url, where)


_ORG_REPO_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")


def _scheme_less_repo(url: str) -> str:
    """The repository part of ``host/org/repo/path`` as kustomize reads it: up to ``.git`` or
    ``_git/<repo>``, two segments on GitHub, GitLab and Bitbucket, else the whole path."""
    segments = url.strip("/").split("/")
    for index, segment in enumerate(segments):
        if segment.endswith(".git"):
            return "/".join(segments[: index + 1])
        if segment == "_git" and index + 1 < len(segments):
            return "/".join(segments[: index + 2])
    if segments[0].lower() in _ORG_REPO_HOSTS:
        return "/".join(segments[:3])
    return "/".join(segments)


def apply_options(checkout: Path, kustomization: Path, options: ApplicationSourceKustomize, run: ToolRun) -> None:
    """Edit ``kustomization`` as Argo CD's ``kustomize edit`` commands would."""
    if not options.model_dump(exclude_defaults=True):
        return
    shown = run.show(kustomization)
    try:
        doc = safe_yaml.safe_load(kustomization.read_text(), source=shown) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RenderError(f"{shown}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise RenderError(f"{shown}: expected a mapping")
    subst = run.build_env.subst
    if options.name_prefix:
        doc["namePrefix"] = options.name_prefix
    if options.name_suffix:
        doc["nameSuffix"] = options.name_suffix
    if options.images:
        _set_images(doc, [subst(image) for image in options.images])
    if options.replicas:
        _set_replicas(doc, {r.name: r.count_int() for r in options.replicas})
    if options.common_labels:
        labels = {k: subst(v) for k, v in options.common_labels.items()}
        if options.label_without_selector:
            _add_labels_without_selector(
                doc, labels, force=options.force_common_labels, templates=options.label_include_templates, shown=shown
            )
        else:
            _add_to_map(doc, "commonLabels", labels, force=options.force_common_labels, kind="label", shown=shown)
    if options.common_annotations:
        # Argo CD substitutes here only with commonAnnotationsEnvsubst (kept as an Argo-only field).
        _add_to_map(
            doc,
            "commonAnnotations",
            dict(options.common_annotations),
            force=options.force_common_annotations,
            kind="annotation",
            shown=shown,
        )
    if options.namespace:
        doc["namespace"] = options.namespace
    if options.patches:
        existing = doc.get("patches") or []
        if not isinstance(existing, list):
            raise RenderError(f"{shown}: 'patches' must be a list")
        doc["patches"] = existing + [_patch(p) for p in options.patches]
    if options.components:
        _add_components(checkout, kustomization.parent, doc, options, run)
    kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))


_TAG = re.compile(r"^(.*):([a-zA-Z0-9._-]*|\*)$")


def parse_image(arg: str) -> dict[str, str]:
    """``kustomize edit set image`` syntax: ``name[=newName][:tag|@digest]``."""
    if len(parts := arg.split("=")) == 2:
        name, (new_name, tag, digest) = parts[0], _overwrite(parts[1], allow_bare=True, arg=arg)
    else:
        new_name = ""
        name, tag, digest = _overwrite(arg, allow_bare=False, arg=arg)
    image = {"name": name, "newName": new_name, "newTag": tag, "digest": digest}
    return {k: v for k, v in image.items() if v}


def _overwrite(text: str, *, allow_bare: bool, arg: str) -> tuple[str, str, str]:
    if "@" in text:
        name, _, digest = text.partition("@")
        return name, "", digest.split("@")[0]
    if match := _TAG.match(text):
        return match.group(1), match.group(2), ""
    if text and allow_bare:
        return text, "", ""
    raise RenderError(
        f"kustomize image {arg!r} is not valid: use name:tag, name@digest, name=newName, "
        "name=newName:tag or name=newName@digest"
    )


def _set_images(doc: dict[str, Any], args: list[str]) -> None:
    wanted: dict[str, dict[str, str]] = {}
    for arg in args:
        image = parse_image(arg)
        wanted[image["name"]] = image
    for existing in doc.get("images") or []:
        if not isinstance(existing, dict):
            continue
        name = str(existing.get("name", ""))
        if name in wanted:
            for key in ("newName", "newTag", "digest"):  # "*" keeps what the file says
                if wanted[name].get(key) == "*":
                    wanted[name][key] = str(existing.get(key, ""))
        else:
            wanted[name] = existing
    images = []
    for name in sorted(wanted):
        image = {k: v for k, v in wanted[name].items() if v != "*" and v != ""}
        images.append(image)
    doc["images"] = images


def _set_replicas(doc: dict[str, Any], counts: dict[str, int]) -> None:
    replicas = [r for r in doc.get("replicas") or [] if isinstance(r, dict)]
    for entry in replicas:
        if entry.get("name") in counts:
            entry["count"] = counts.pop(str(entry["name"]))
    replicas += [{"name": name, "count": count} for name, count in counts.items()]
    doc["replicas"] = replicas


def _add_to_map(doc: dict[str, Any], field: str, values: dict[str, str], *, force: bool, kind: str, shown: str) -> None:
    current = doc.get(field) or {}
    if not isinstance(current, dict):
        raise RenderError(f"{shown}: {field!r} must be a mapping")
    for key, value in values.items():
        if key in current and not force:
            option = "forceCommonLabels" if kind == "label" else "forceCommonAnnotations"
            raise RenderError(f"{shown}: {kind} {key!r} is already in the kustomization; set {option} to override it")
        current[key] = value
    doc[field] = current


def _add_labels_without_selector(
    doc: dict[str, Any], values: dict[str, str], *, force: bool, templates: bool, shown: str
) -> None:
    labels = [entry for entry in doc.get("labels") or [] if isinstance(entry, dict)]
    for key, value in values.items():
        present = False
        for entry in labels:
            pairs = entry.get("pairs") or {}
            if key in pairs:
                if not force:
                    raise RenderError(
                        f"{shown}: label {key!r} is already in the kustomization; set forceCommonLabels to override it"
                    )
                pairs[key] = value
                present = True
        if not present:
            entry = {"pairs": {key: value}, "includeSelectors": False}
            if templates:
                entry["includeTemplates"] = True
            labels.append(entry)
    doc["labels"] = labels


def _patch(patch: KustomizePatch) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if patch.path:
        out["path"] = patch.path
    if patch.patch:
        out["patch"] = patch.patch
    if patch.target is not None:
        out["target"] = patch.target.model_dump(by_alias=True, exclude_defaults=True)
    if patch.options:
        out["options"] = dict(patch.options)
    return out


def _add_components(
    checkout: Path, directory: Path, doc: dict[str, Any], options: ApplicationSourceKustomize, run: ToolRun
) -> None:
    components = [c for c in doc.get("components") or [] if isinstance(c, str)]
    relative_dir = directory.resolve().relative_to(checkout.resolve())
    for component in options.components:
        if "://" not in component and not component.startswith("git@"):
            try:
                path = inside(checkout, (relative_dir / component).as_posix(), what="component")
            except RenderError:
                raise RenderError(
                    f"kustomize component {component!r} resolves outside the repository: refused"
                ) from None
            if not path.exists():
                if options.ignore_missing_components:
                    continue
                raise RenderError(f"kustomize component {component!r} does not exist in {run.show(directory)}")
        if component not in components:
            components.append(component)
    doc["components"] = components
