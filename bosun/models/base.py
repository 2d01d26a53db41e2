"""The base class of every Argo CD model, and Kubernetes ``metadata``.

:class:`ArgoModel` gives each model three behaviours:

* **Argo CD spelling.** Fields are snake_case in Python and camelCase in documents
  (``target_revision`` <-> ``targetRevision``); :data:`_ALIAS_OVERRIDES` holds the few
  names Argo CD does not spell by the camelCase rule (``repoURL``, ``keyID``).
* **Unknown fields are errors.** A key that Argo CD does not have is rejected with the
  field's path and a "did you mean" hint, like ``kubectl --validate=strict`` would.
* **Valid but unsupported fields are kept and reported.** A model lists in
  ``argo_only`` the Argo CD fields that Bosun accepts but does not act on yet; their
  values are kept verbatim (so ``to_manifest()`` round-trips) and
  :meth:`ArgoModel.unsupported_paths` reports where they were set.

To support a field that is in ``argo_only``: remove it from ``argo_only``, add a typed
field, and the CRD compatibility test keeps proving that every Argo CD field is either
modeled or reported.

Values are validated strictly (a YAML ``1`` is not a string, ``"true"`` is not a
boolean), as the Kubernetes API server would; ``null`` means "not set", as in Go.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from bosun.models.errors import FieldProblem
from bosun.models.formats import check_dns1123_label, check_dns1123_subdomain

API_GROUP: Final = "argoproj.io"
API_VERSION: Final = "argoproj.io/v1alpha1"

DOCUMENT_CONTEXT = {"document": True}
"""Validation context for parsing a user's document: only Argo CD's spelling is
accepted there. Python code (and JSON round-trips) may also use the snake_case names."""

_ALIAS_OVERRIDES = {"repo_url": "repoURL", "key_id": "keyID"}


def argo_alias(name: str) -> str:
    return _ALIAS_OVERRIDES.get(name) or to_camel(name)


def _join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


class ArgoModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=argo_alias,
        populate_by_name=True,
        strict=True,
        extra="allow",
        frozen=True,
    )

    argo_only: ClassVar[frozenset[str]] = frozenset()
    """Argo CD fields of this object that Bosun keeps but does not act on."""

    open_extras: ClassVar[bool] = False
    """True where any extra key is legitimate and ignored (Kubernetes metadata)."""

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if v is not None}
        if cls.open_extras:
            return data
        aliases = {f.alias or n: n for n, f in cls.model_fields.items()}
        document = bool(info.context and info.context.get("document"))
        for key in data:
            if key in aliases or key in cls.argo_only:
                continue
            if key in cls.model_fields:
                if not document:
                    continue
                spelled = cls.model_fields[key].alias or key
                raise FieldProblem(key, f"unknown field; Argo CD spells it {spelled!r}")
            known = sorted([*aliases, *cls.argo_only])
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise FieldProblem(
                str(key),
                f"unknown field: Argo CD's {cls.argo_kind()} has no field {key!r}{hint}",
            )
        return data

    @classmethod
    def argo_kind(cls) -> str:
        """The Go type name in Argo CD, for messages."""
        return cls.__name__

    def unsupported_paths(self, prefix: str = "") -> list[str]:
        """Dotted paths, under ``prefix``, of Argo CD fields set here that Bosun does not
        act on."""
        out: list[str] = []
        for name, field in type(self).model_fields.items():
            out += _unsupported_in(getattr(self, name), _join(prefix, field.alias or name))
        if not self.open_extras:
            out += [_join(prefix, key) for key in self.__pydantic_extra__ or {}]
        return out

    def dump(self) -> dict[str, Any]:
        """This object as Argo CD JSON: camelCase, only what was set, unsupported fields
        included verbatim."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _unsupported_in(value: object, path: str) -> list[str]:
    if isinstance(value, ArgoModel):
        return value.unsupported_paths(path)
    if isinstance(value, list):
        out: list[str] = []
        for i, item in enumerate(value):
            out += _unsupported_in(item, _join(path, i))
        return out
    return []


class ObjectMeta(ArgoModel):
    """Kubernetes ``metadata``. Bosun reads name, namespace, labels, annotations and
    finalizers; anything else the API server adds (uid, resourceVersion, managedFields …)
    is accepted, kept for round-trips, and ignored."""

    open_extras: ClassVar[bool] = True

    name: str
    namespace: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    finalizers: list[str] = []

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value:
            raise ValueError("required: the object's name")
        return check_dns1123_subdomain(value)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_dns1123_label(value) if value else value


SERVER_SET_METADATA = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)
"""Metadata the API server maintains; dropped by ``to_manifest(cluster_fields=False)``."""


def manifest_of(obj: ArgoModel, *, cluster_fields: bool) -> dict[str, Any]:
    """A top-level object as a Kubernetes manifest: apiVersion and kind first, then what
    was set. Without ``cluster_fields``, status, operation and server-set metadata are
    dropped."""
    out: dict[str, Any] = {"apiVersion": API_VERSION, "kind": type(obj).__name__}
    out.update(obj.dump())
    if not cluster_fields:
        out.pop("status", None)
        out.pop("operation", None)
        meta = out.get("metadata")
        if isinstance(meta, dict):
            for key in SERVER_SET_METADATA:
                meta.pop(key, None)
    return out
