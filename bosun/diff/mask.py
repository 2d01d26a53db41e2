"""Secret masking: no Secret value ever reaches a diff, a status or a log.

Argo CD's approach (gitops-engine ``diff.HideSecretData``): every value of a core
``Secret``'s ``data`` and ``stringData`` is replaced by a run of ``+``. Masks are handed
out per key, across all the objects masked together, in order of first appearance:
the first distinct value gets ``++++++++``, the next ``++++++++++++`` and so on. So a
value that is the same on both sides of a diff shows the same mask (no change), and a
value that differs shows a different mask (changed), and nothing else can be learnt.

A ``stringData`` value counts as its base64 encoding, so ``stringData: {a: x}`` and
``data: {a: eA==}`` get the same mask. The ``kubectl.kubernetes.io/last-applied-configuration``
annotation of a Secret holds another copy of the values: it is parsed, masked together
with the objects, and written back (or replaced by a mask if it does not parse).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection
from typing import Any

from bosun.diff.normalize import LAST_APPLIED_ANNOTATION, b64, is_secret
from bosun.resources import Manifest

MASK = "++++++++"
_MASK_STEP = "++++"


def mask_secret(obj: Manifest, *, annotations: Collection[str] = ()) -> Manifest:
    """A copy of ``obj`` with its Secret values masked (other kinds come back unchanged).

    ``annotations`` names further annotations whose values are masked too (Argo CD's
    ``resource.sensitive.mask.annotations``).
    """
    masked = mask_secrets(obj, annotations=annotations)[0]
    assert masked is not None
    return masked


def mask_secrets(*objs: Manifest | None, annotations: Collection[str] = ()) -> list[Manifest | None]:
    """Mask several objects together, so equal values get equal masks across them."""
    copies = [copy.deepcopy(o) if o is not None else None for o in objs]
    targets: list[Manifest] = []
    embedded: list[tuple[dict[str, Any], Manifest | None]] = []
    for obj in copies:
        if obj is None or not is_secret(obj):
            continue
        targets.append(obj)
        notes = (obj.get("metadata") or {}).get("annotations")
        if isinstance(notes, dict) and isinstance(notes.get(LAST_APPLIED_ANNOTATION), str):
            parsed = _parse_object(notes[LAST_APPLIED_ANNOTATION])
            embedded.append((notes, parsed))
            if parsed is not None:
                targets.append(parsed)

    keys: set[str] = set()
    for obj in targets:
        for section in ("data", "stringData"):
            values = obj.get(section)
            if isinstance(values, dict):
                keys.update(values)
            elif values is not None:  # malformed, but still nobody's business
                obj[section] = MASK
    for key in sorted(keys):
        _mask_key(targets, key, ("data", "stringData"))

    hidden = set(annotations)
    for key in sorted(hidden - {LAST_APPLIED_ANNOTATION}):
        _mask_key(targets, key, ("metadata.annotations",))

    for notes, parsed in embedded:
        if parsed is None or LAST_APPLIED_ANNOTATION in hidden:
            notes[LAST_APPLIED_ANNOTATION] = MASK
        else:
            notes[LAST_APPLIED_ANNOTATION] = json.dumps(parsed, sort_keys=True, separators=(",", ":"))
    return copies


def _parse_object(text: str) -> Manifest | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _section(obj: Manifest, section: str) -> dict[str, Any] | None:
    node: Any = obj
    for part in section.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _comparable(value: Any, section: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return b64(value) if section == "stringData" else value
    return json.dumps(value, sort_keys=True)


def _mask_key(targets: list[Manifest], key: str, sections: tuple[str, ...]) -> None:
    masks: dict[str, str] = {}
    for obj in targets:
        for section in sections:
            values = _section(obj, section)
            if values is None or key not in values:
                continue
            comparable = _comparable(values[key], section)
            if comparable not in masks:
                masks[comparable] = MASK + _MASK_STEP * len(masks)
            values[key] = masks[comparable]
