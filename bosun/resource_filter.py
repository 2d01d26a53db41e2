"""Resource selectors of a partial sync: Argo CD's ``argocd app sync --resource``.

A selector is written ``GROUP:KIND:NAME`` or ``GROUP:KIND:NAMESPACE/NAME``; the core
group is the empty string (``:Service:web``). Fields may be ``*``, and a leading ``!``
excludes what it matches (Argo CD 2.12+). As in Argo CD, the command line turns the
patterns into the app's concrete resources (:func:`select_keys`, Argo CD's
``filterAppResources``) and the sync request carries those as :class:`SyncResource`
items, matched exactly by :meth:`SyncResource.has_identity` (Argo CD's ``HasIdentity``).
An empty namespace in a selector matches any namespace.

To extend (labels, say): a new way of choosing keys is one more function returning
``list[ResourceKey]``; the request format stays the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from bosun.resources import ResourceKey

WILDCARD = "*"
EXCLUDE = "!"


class SelectorError(ValueError):
    """A ``--resource`` value that is not ``GROUP:KIND:NAME``; the message quotes it."""


class ResourceSelector(BaseModel):
    """One ``--resource`` pattern."""

    model_config = ConfigDict(frozen=True)

    group: str
    kind: str
    name: str
    namespace: str = ""
    exclude: bool = False

    def matches(self, key: ResourceKey) -> bool:
        """Argo CD's ``SyncOperationResource.Compare``: ``*`` matches anything; an
        empty namespace matches every namespace."""
        return (
            (self.group == WILDCARD or self.group == key.group)
            and (self.kind == WILDCARD or self.kind == key.kind)
            and (self.name == WILDCARD or self.name == key.name)
            and (self.namespace in ("", WILDCARD) or self.namespace == key.namespace)
        )


class SyncResource(BaseModel):
    """One resource a partial sync is limited to (a concrete key; namespace optional)."""

    model_config = ConfigDict(frozen=True)

    group: str = ""
    kind: str
    name: str
    namespace: str = ""

    @classmethod
    def of(cls, key: ResourceKey) -> SyncResource:
        return cls(group=key.group, kind=key.kind, name=key.name, namespace=key.namespace)

    def has_identity(self, key: ResourceKey) -> bool:
        return (
            self.group == key.group
            and self.kind == key.kind
            and self.name == key.name
            and (not self.namespace or self.namespace == key.namespace)
        )


def parse_selector(text: str) -> ResourceSelector:
    """``[!]GROUP:KIND:NAME`` or ``[!]GROUP:KIND:NAMESPACE/NAME`` → a selector."""
    raw = text.strip()
    exclude = raw.startswith(EXCLUDE)
    body = raw[1:] if exclude else raw
    fields = body.split(":")
    if len(fields) != 3:
        raise SelectorError(
            f"--resource {text!r}: expected GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME "
            "(the core group is empty, e.g. ':Service:web')"
        )
    group, kind, name = fields
    namespace = ""
    if "/" in name:
        parts = name.split("/")
        if len(parts) != 2:
            raise SelectorError(f"--resource {text!r}: expected GROUP:KIND:NAMESPACE/NAME")
        namespace, name = parts
    if not kind or not name:
        raise SelectorError(f"--resource {text!r}: KIND and NAME may not be empty (use '*' for any)")
    return ResourceSelector(group=group, kind=kind, name=name, namespace=namespace, exclude=exclude)


def included(key: ResourceKey, selectors: Iterable[ResourceSelector]) -> bool:
    """Argo CD's ``IncludeResource``: included by any include pattern (or by all, when
    there are only exclusions), then dropped by any exclusion."""
    selectors = list(selectors)
    includes = [s for s in selectors if not s.exclude]
    if includes and not any(s.matches(key) for s in includes):
        return False
    return not any(s.matches(key) for s in selectors if s.exclude)


def select_keys(keys: Iterable[ResourceKey], patterns: Iterable[str]) -> list[ResourceKey]:
    """The keys (an app's resources) that ``patterns`` select, in their order, each once."""
    selectors = [parse_selector(p) for p in patterns]
    return list(dict.fromkeys(k for k in keys if included(k, selectors)))
