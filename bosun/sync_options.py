"""Argo CD sync options: the one table and the one parser.

Sync options come from two places, in the same ``Key=Value`` form: the app's
``spec.syncPolicy.syncOptions`` and an object's ``argocd.argoproj.io/sync-options``
annotation (comma-separated). Both go through :func:`parse_sync_options`, so a typo is
an error in either place (Argo CD silently ignores it in both, which turns an option
off without a word). The Application model rejects what Argo CD does not know; the
compare (:func:`check_app_options`, via the plan) also rejects what Bosun refuses.
The effective options of one object are the app's, overridden key by key by its
annotation (:func:`merge`), read through the typed :class:`SyncOptions`;
nothing else looks options up by their string key.

To add an option: one :class:`Option` row in :data:`TABLE` (key, accepted values,
typed field, scope), the field on :class:`SyncOptions`, and the code that reads the
field. A value Bosun does not implement goes in ``refused`` with the reason, so the
user gets an error instead of an option that does nothing. ``tests/unit/test_sync_options.py``
checks that every field is read outside this module.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

ANNOTATION_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


class Scope(StrEnum):
    """Where an option may be written."""

    APP = "app"
    """Only in ``spec.syncPolicy.syncOptions`` (it acts on the whole sync)."""
    RESOURCE = "resource"
    """Only in an object's ``argocd.argoproj.io/sync-options`` annotation."""
    BOTH = "both"


@dataclasses.dataclass(frozen=True)
class Option:
    """One row of the table."""

    key: str
    values: tuple[str, ...]
    """The values Bosun accepts (exactly, as Argo CD matches them)."""
    field: str | None
    """The :class:`SyncOptions` field that holds it; ``None`` only for an option whose
    accepted value is what Bosun always does (``note`` says why nothing reads it)."""
    scope: Scope
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Values Argo CD knows that Bosun does not implement, and why."""
    note: str = ""


_BOOL = ("true", "false")
_NO_CONFIRM = (
    "not supported yet: Bosun has no command to confirm a held {what}; "
    "use {key}=false to keep the object, or remove the option"
)

TABLE: tuple[Option, ...] = (
    Option("Prune", _BOOL, "prune", Scope.BOTH, refused={"confirm": _NO_CONFIRM.format(what="prune", key="Prune")}),
    Option(
        "Delete",
        _BOOL,
        "delete",
        Scope.RESOURCE,
        refused={"confirm": _NO_CONFIRM.format(what="deletion", key="Delete")},
    ),
    Option("Validate", _BOOL, "validate_schema", Scope.BOTH),
    Option("SkipDryRunOnMissingResource", _BOOL, "skip_dry_run_on_missing_resource", Scope.BOTH),
    Option("ApplyOutOfSyncOnly", _BOOL, "apply_out_of_sync_only", Scope.APP),
    Option("PrunePropagationPolicy", ("foreground", "background", "orphan"), "prune_propagation_policy", Scope.APP),
    Option("PruneLast", _BOOL, "prune_last", Scope.BOTH),
    Option("Replace", _BOOL, "replace", Scope.BOTH),
    Option("Force", _BOOL, "force", Scope.BOTH),
    Option(
        "ServerSideApply",
        ("true",),
        None,
        Scope.BOTH,
        refused={"false": "not supported: Bosun always applies server-side (there is no client-side apply)"},
        note="Bosun always applies server-side, so true is what it does anyway",
    ),
    Option(
        "ClientSideApplyMigration",
        ("false",),
        None,
        Scope.APP,
        refused={"true": "not supported yet: Bosun does not migrate client-side-apply field managers"},
        note="Bosun never migrates client-side-apply field managers, so false is what it does anyway",
    ),
    Option("FailOnSharedResource", _BOOL, "fail_on_shared_resource", Scope.APP),
    Option("RespectIgnoreDifferences", _BOOL, "respect_ignore_differences", Scope.APP),
    Option("CreateNamespace", _BOOL, "create_namespace", Scope.APP),
)
"""Every sync option Bosun knows: Argo CD's, with the values Bosun accepts."""

BY_KEY: Mapping[str, Option] = {row.key: row for row in TABLE}
SYNC_OPTIONS: Mapping[str, tuple[str, ...]] = {row.key: row.values for row in TABLE}
"""Known option keys and the values Bosun accepts for each."""


class SyncOptionError(ValueError):
    """An option Bosun will not act on; ``index`` is its position in the list parsed."""

    def __init__(self, message: str, *, index: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.index = index


class SyncOptions(BaseModel):
    """Effective sync options (app ``syncOptions``, overridden by an object's annotation).

    Defaults are Argo CD's. Built from an already parsed map by :meth:`from_map`."""

    model_config = ConfigDict(frozen=True)

    prune: bool = True
    delete: bool = True
    validate_schema: bool = True
    skip_dry_run_on_missing_resource: bool = False
    apply_out_of_sync_only: bool = False
    prune_propagation_policy: str = "foreground"
    prune_last: bool = False
    replace: bool = False
    force: bool = False
    fail_on_shared_resource: bool = False
    respect_ignore_differences: bool = False
    create_namespace: bool = False

    @classmethod
    def from_map(cls, options: Mapping[str, str]) -> SyncOptions:
        """Typed options from ``{key: value}`` (parsed by :func:`parse_sync_options`).

        A boolean is what its default is not only when spelled so (``Prune`` is off only
        for ``false``, ``Replace`` on only for ``true``), as before the table existed, so
        maps recorded in old workflow histories read the same."""
        values: dict[str, object] = {}
        for row in TABLE:
            if row.field is None or row.key not in options:
                continue
            default = cls.model_fields[row.field].default
            raw = options[row.key]
            if isinstance(default, bool):
                flag = raw.strip().lower()
                values[row.field] = flag != "false" if default else flag == "true"
            elif raw:
                values[row.field] = raw
        return cls.model_validate(values)


def parse_sync_option(option: str, *, scope: Scope | None = None) -> tuple[str, str]:
    """``"CreateNamespace=true"`` -> ``("CreateNamespace", "true")``; SyncOptionError if the
    key or value is not one Argo CD knows.

    With a ``scope`` (where the option is used: the compare, the sync, an annotation) a
    value Bosun refuses or an option written in the wrong place is an error too. Without
    one it is the Application model's check, which must not tighten: a workflow parses
    its recorded input again on replay, and a spec it accepted then must still parse.
    """
    key, sep, value = option.partition("=")
    if not sep:
        raise SyncOptionError(f"{option!r} is not a sync option: use Key=Value, e.g. CreateNamespace=true")
    if key != key.strip() or value != value.strip():
        raise SyncOptionError(f"{option!r}: remove the spaces around '=' (Argo CD matches exactly)")
    row = BY_KEY.get(key)
    if row is None:
        raise SyncOptionError(f"{option!r}: unknown sync option {key!r}{_suggest(key)}")
    known = (*row.values, *row.refused)  # what Argo CD knows; refused values say why below
    if value not in known:
        raise SyncOptionError(f"{option!r}: {key} must be one of {', '.join(known)}")
    if scope is None:
        return key, value
    if value in row.refused:
        raise SyncOptionError(f"{option!r}: {row.refused[value]}")
    if scope is Scope.RESOURCE and row.scope is Scope.APP:
        raise SyncOptionError(
            f"{option!r}: {key} acts on the whole sync; set it in the app's "
            "spec.syncPolicy.syncOptions, not on a resource"
        )
    if scope is Scope.APP and row.scope is Scope.RESOURCE:
        raise SyncOptionError(
            f"{option!r}: {key} is a per-resource option; set it in the resource's {ANNOTATION_SYNC_OPTIONS} annotation"
        )
    return key, value


def parse_sync_options(options: Iterable[str], *, scope: Scope | None = None) -> dict[str, str]:
    """Parse options into ``{key: value}`` (``scope`` as :func:`parse_sync_option`); two
    different values for one key is an error (which would win is not obvious to a
    reader). The error's ``index`` names the entry."""
    out: dict[str, str] = {}
    for index, option in enumerate(options):
        try:
            key, value = parse_sync_option(option, scope=scope)
        except SyncOptionError as exc:
            raise SyncOptionError(exc.message, index=index) from None
        if out.get(key, value) != value:
            raise SyncOptionError(f"{option!r} conflicts with {key}={out[key]}", index=index)
        out[key] = value
    return out


def check_app_options(options: Mapping[str, str]) -> None:
    """The app's parsed options, as used by a compare: SyncOptionError for a value Bosun
    refuses or a per-resource option (the model let them through, see
    :func:`parse_sync_option`)."""
    parse_sync_options([f"{key}={value}" for key, value in options.items()], scope=Scope.APP)


def parse_annotation(value: str) -> dict[str, str]:
    """The ``argocd.argoproj.io/sync-options`` annotation: comma-separated options, each
    trimmed (Argo CD trims them too), parsed as a resource's options."""
    entries = [entry.strip() for entry in value.split(",")]
    return parse_sync_options([e for e in entries if e], scope=Scope.RESOURCE)


def merge(app_options: Mapping[str, str], annotation: str | None) -> dict[str, str]:
    """The app's options overridden, key by key, by the object's annotation (Argo CD
    documents this for Prune, Delete and ServerSideApply; Bosun applies it to every
    option). SyncOptionError if the annotation is invalid."""
    merged = dict(app_options)
    if annotation is not None:
        merged.update(parse_annotation(annotation))
    return merged


def with_overrides(
    app_options: Mapping[str, str], *, force: bool = False, replace: bool = False, apply_out_of_sync_only: bool = False
) -> dict[str, str]:
    """The app's options with one operation's flags (``--force``, ``--replace``,
    ``--apply-out-of-sync-only``) switched on, keyed through the table."""
    options = dict(app_options)
    for wanted, name in ((force, "force"), (replace, "replace"), (apply_out_of_sync_only, "apply_out_of_sync_only")):
        if wanted:
            options[key_of(name)] = "true"
    return options


def key_of(field_name: str) -> str:
    """The option key of a :class:`SyncOptions` field."""
    for row in TABLE:
        if row.field == field_name:
            return row.key
    raise KeyError(field_name)


def _suggest(key: str) -> str:
    for known in BY_KEY:
        if known.lower() == key.strip().lower():
            return f" (keys are case-sensitive: {known})"
    close = difflib.get_close_matches(key, list(BY_KEY), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
