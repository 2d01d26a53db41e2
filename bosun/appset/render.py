"""Applications from an ApplicationSet's template and generated params, as Argo CD's
``generateApplications`` and ``Render.RenderTemplateParams`` build them.

For each param set: the generator's ``template`` merged over the set's (generator fields
win; Argo CD's ``mergo.Merge`` fills only the fields the generator leaves empty), every
string value rendered with the params (fasttemplate, or Go templates through the injected
:data:`GoRenderer`), the resources finalizer added unless the template names finalizers or
``preserveResourcesOnDeletion`` is set, then ``templatePatch`` rendered with the same params
and merged over the result (Kubernetes' strategic merge patch, which for an Application —
no list merge keys — merges maps, replaces lists and deletes keys set to null). The
Application's namespace is always the set's own (Argo CD's security boundary).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import yaml

from bosun.appset.generators import GeneratedParams
from bosun.appset.spec import API_VERSION, ApplicationSet, ApplicationSetError
from bosun.appset.templating import GoRenderer, render_strings
from bosun.safe_yaml import safe_load

__all__ = [
    "RESOURCES_FINALIZER",
    "GoRenderer",
    "merge_templates",
    "render_applications",
]

RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
"""``argoappsv1.ResourcesFinalizerName``: deleting the Application deletes its resources."""

_METADATA_FIELDS = ("name", "namespace", "labels", "annotations", "finalizers")


def render_applications(
    appset: ApplicationSet, generated: list[GeneratedParams], go_render: GoRenderer | None
) -> list[dict[str, Any]]:
    """Full Application manifests (apiVersion, kind, metadata, spec) in generation order.

    Raises :class:`ApplicationSetError` on a template error (naming the field, from the Go
    renderer), a templatePatch that is not YAML, an Application without a name, or two
    param sets that give the same Application name (Argo CD refuses the whole set then)."""
    templates = [merge_templates(g.template, appset.template) for g in generated]
    # Argo CD returns the template as it is for an empty param set (nothing is rendered)
    rendered = render_strings(
        [(template if g.params else {}, g.params) for template, g in zip(templates, generated, strict=True)],
        go_template=appset.go_template,
        options=appset.go_template_options,
        go_render=go_render,
        where="spec.template",
    )
    if appset.template_patch is not None:
        patches = render_strings(
            [(appset.template_patch, g.params) for g in generated],
            go_template=appset.go_template,
            options=appset.go_template_options,
            go_render=go_render,
            where="spec.templatePatch",
        )
    else:
        patches = [None] * len(generated)

    applications = []
    seen: dict[str, int] = {}
    for index, (template, patch, params) in enumerate(zip(rendered, patches, generated, strict=True)):
        if not params.params:
            template = templates[index]
        application = _application(appset, template, empty_params=not params.params)
        if patch is not None:
            application = _apply_patch(application, patch, index)
            application["metadata"]["namespace"] = appset.namespace
        name = application["metadata"].get("name")
        if not isinstance(name, str) or not name:
            raise ApplicationSetError(
                f"spec.template.metadata.name: the Application of param set {index} "
                f"(spec.generators[{params.generator_index}]) has no name"
            )
        if name in seen:
            raise ApplicationSetError(
                f"spec.template.metadata.name: ApplicationSet {appset.name} contains applications with "
                f"duplicate name: {name} (param sets {seen[name]} and {index})"
            )
        seen[name] = index
        applications.append(application)
    return applications


def merge_templates(generator_template: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """``mergeGeneratorTemplate``: ``mergo.Merge(generatorTemplate, setTemplate)`` — every
    field the generator's template leaves empty (absent, ``""``, ``0``, ``false``, empty map
    or list) is taken from the set's template; maps are merged key by key."""
    return _fill(copy.deepcopy(dict(generator_template)), base)


def _fill(dest: dict[str, Any], src: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in src.items():
        current = dest.get(key)
        if isinstance(current, dict) and current and isinstance(value, Mapping):
            dest[key] = _fill(current, value)
        elif _empty(current):
            dest[key] = copy.deepcopy(value)
    return dest


def _empty(value: Any) -> bool:
    return value is None or value is False or value == "" or value == 0 or value == {} or value == []


def _application(appset: ApplicationSet, template: Mapping[str, Any], *, empty_params: bool) -> dict[str, Any]:
    """The Application of one rendered template (``GetTempApplication`` and the finalizer rule
    of ``RenderTemplateParams``: Argo CD returns the template untouched when the params are
    empty, without adding the finalizer)."""
    metadata_in = template.get("metadata") or {}
    metadata: dict[str, Any] = {}
    for key in _METADATA_FIELDS:
        if metadata_in.get(key):
            metadata[key] = copy.deepcopy(metadata_in[key])
    if not empty_params and not appset.preserve_resources_on_deletion and not metadata.get("finalizers"):
        metadata["finalizers"] = [RESOURCES_FINALIZER]
    metadata["namespace"] = appset.namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": metadata,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _apply_patch(application: dict[str, Any], patch_text: str, index: int) -> dict[str, Any]:
    try:
        patch = safe_load(patch_text, source=f"spec.templatePatch (param set {index})")
    except yaml.YAMLError as error:
        raise ApplicationSetError(
            f"spec.templatePatch: the patch rendered for param set {index} is not YAML: {error}"
        ) from None
    if patch is None:
        return application
    if not isinstance(patch, dict):
        raise ApplicationSetError(f"spec.templatePatch: the patch rendered for param set {index} is not an object")
    patch = json.loads(json.dumps(patch, default=str))
    for key in ("apiVersion", "kind"):
        patch.pop(key, None)
    merged: dict[str, Any] = _merge_patch(application, patch)
    for key in list(merged.get("metadata", {})):
        if key not in _METADATA_FIELDS:
            del merged["metadata"][key]
    return merged


def _merge_patch(target: Any, patch: Any) -> Any:
    """A merge patch: maps merged, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result
