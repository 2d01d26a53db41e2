"""The schema facts of Argo CD's Application and AppProject CRDs that the compatibility
tests need, kept in the repository as a compact fixture.

The CRDs themselves (``<repo>/../shared/reference/argo-cd/*.yaml``, 400 KB of OpenAPI
with descriptions) are not part of Bosun. :func:`flatten` reduces each one's
``v1alpha1`` schema to one entry per field path — ``spec.sources[].helm.valueFiles[]``
→ ``{"type": "array"}`` — with only what a test reads: the type, the required fields,
the value type of a map, "int-or-string" and "preserve unknown fields". Of ``status``
and ``operation`` (the cluster writes them) only the names are kept. :func:`schema` turns the entries
back into a minimal OpenAPI schema, so tests walk it as they would walk the CRD.

To move to another Argo CD release: put its CRDs in ``../shared/reference/argo-cd`` (or
name the directory with ``BOSUN_ARGOCD_REFERENCE``) and run::

    .venv/bin/python -m tests.unit.argocd_fields

which rewrites :data:`FIXTURE` (update :data:`RELEASE` first). When the reference is
present, ``test_fixture_is_current`` checks the fixture is what it gives.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

RELEASE = "3.6.0"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "argocd" / f"argocd-{RELEASE}-fields.json"
CRD_FILES = {"Application": "application-crd.yaml", "AppProject": "appproject-crd.yaml"}
CLUSTER_WRITTEN = {"status", "operation"}
ROOT = ""
"""The entry of the document itself (its required fields)."""

Schema = dict[str, Any]
Field = dict[str, Any]


def reference_dir() -> Path:
    """Where the upstream CRDs are: ``$BOSUN_ARGOCD_REFERENCE`` or ``<repo>/../shared/reference/argo-cd``."""
    named = os.environ.get("BOSUN_ARGOCD_REFERENCE")
    if named:
        return Path(named)
    return Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "argo-cd"


def crd_schema(path: Path) -> Schema:
    """The ``v1alpha1`` OpenAPI schema of a CRD file."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(path.read_text(), Loader=loader)  # a safe loader
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return dict(version["schema"]["openAPIV3Schema"])


def flatten(schema: Schema) -> dict[str, Field]:
    """One entry per field path (``a.b[].c``; ``""`` is the document), in schema order."""
    fields: dict[str, Field] = {}

    def walk(node: Schema, path: str) -> None:
        entry: Field = {"type": _type_of(node)}
        if node.get("required"):
            entry["required"] = list(node["required"])
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            if values.get("properties") or values.get("items"):
                raise ValueError(f"{path}: a map of objects or arrays is not described by the fixture format")
            entry["values"] = _type_of(values)
        if node.get("x-kubernetes-preserve-unknown-fields"):
            entry["preserveUnknownFields"] = True
        fields[path] = entry
        if "items" in node:
            walk(node["items"], f"{path}[]")
        for name, child in (node.get("properties") or {}).items():
            if path == ROOT and name in CLUSTER_WRITTEN:
                fields[name] = {"type": _type_of(child)}  # there, but what is inside is not ours to check
                continue
            walk(child, f"{path}.{name}" if path else name)

    walk(schema, ROOT)
    return fields


def _type_of(node: Schema) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    return str(node.get("type", "any"))


def schema(fields: dict[str, Field]) -> Schema:
    """The minimal OpenAPI schema the entries describe (the inverse of :func:`flatten`)."""
    nodes: dict[str, Schema] = {}
    for path, entry in fields.items():
        node: Schema = {}
        if entry["type"] == "int-or-string":
            node["x-kubernetes-int-or-string"] = True
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        elif entry["type"] != "any":
            node["type"] = entry["type"]
        if "required" in entry:
            node["required"] = list(entry["required"])
        if "values" in entry:
            node["additionalProperties"] = {"type": entry["values"]}
        if entry.get("preserveUnknownFields"):
            node["x-kubernetes-preserve-unknown-fields"] = True
        nodes[path] = node
        if path == ROOT:
            continue
        if path.endswith("[]"):
            nodes[path[:-2]]["items"] = node
        else:
            parent, _, name = path.rpartition(".")
            nodes[parent].setdefault("properties", {})[name] = node
    return nodes[ROOT]


def load_fixture() -> dict[str, dict[str, Field]]:
    """Kind → field path → entry, as committed."""
    kinds: dict[str, dict[str, Field]] = json.loads(FIXTURE.read_text())["kinds"]
    return kinds


def from_reference(reference: Path) -> dict[str, dict[str, Field]]:
    """Kind → field path → entry, from the CRD files in ``reference``."""
    return {kind: flatten(crd_schema(reference / filename)) for kind, filename in CRD_FILES.items()}


def reference_present(reference: Path) -> bool:
    return all((reference / name).is_file() for name in CRD_FILES.values())


def render(kinds: dict[str, dict[str, Field]]) -> str:
    """The fixture's text (one field per line, for readable diffs)."""
    lines = [
        "{",
        f'  "source": "Argo CD {RELEASE} CRDs (v1alpha1 openAPIV3Schema, status and operation by name only); '
        f'regenerate with python -m tests.unit.argocd_fields",',
        '  "kinds": {',
    ]
    for k, (kind, fields) in enumerate(kinds.items()):
        lines.append(f"    {json.dumps(kind)}: {{")
        for i, (path, entry) in enumerate(fields.items()):
            comma = "," if i < len(fields) - 1 else ""
            lines.append(f"      {json.dumps(path)}: {json.dumps(entry)}{comma}")
        lines.append("    }" + ("," if k < len(kinds) - 1 else ""))
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def main() -> None:
    reference = Path(sys.argv[1]) if len(sys.argv) > 1 else reference_dir()
    if not reference_present(reference):
        sys.exit(f"{reference}: expected {', '.join(CRD_FILES.values())} (Argo CD {RELEASE})")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(render(from_reference(reference)))
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
