"""Argo CD's ``argocd-cm`` settings, read unchanged: :func:`parse_settings` builds :class:`Settings`.

The worker reads the ConfigMap ``argocd-cm`` (and ``bosun-cm``) of its control namespace
(:mod:`activities.settings`); ``bosun health --settings FILE`` reads a file. Both hand the
ConfigMap's ``data`` to :func:`parse_settings`, which is pure and checks every key it knows:
a bad value is a :class:`SettingsError` naming the key. Keys it does not know (``url``,
``dex.config`` …) are left alone, as they belong to other parts of Argo CD.

Keys read (Argo CD's ``util/settings``):

``resource.customizations.<type>.<group>_<kind>`` (``<kind>`` alone for the core group;
``resource.customizations.ignoreDifferences.all`` for every kind), ``<type>`` one of
``health`` (a Lua script), ``useOpenLibs`` (``true``: the script gets Lua's ``string`` and
``math``), ``actions`` (YAML: ``discovery.lua`` and ``definitions`` with ``action.lua``),
``ignoreDifferences`` and ``ignoreResourceUpdates`` (YAML: ``jsonPointers``,
``jqPathExpressions``, ``managedFieldsManagers``) and ``knownTypeFields`` (a YAML list of
``field``/``type``). The older ``resource.customizations`` holds the same per kind as one YAML
map keyed ``group/Kind`` (``health.lua``, ``health.lua.useOpenLibs``, ``actions``,
``ignoreDifferences``, ``ignoreResourceUpdates``, ``knownTypeFields``); there the key may be a
glob, ``"*.example.com/*"``. A split key adds to, and wins over, the nested entry of its kind.

``resource.exclusions`` / ``resource.inclusions``: YAML lists of ``apiGroups``, ``kinds``,
``clusters`` (globs; an empty list matches everything). ``resource.compareoptions``:
``ignoreAggregatedRoles``, ``ignoreResourceStatusField`` (``all``, the Argo CD 3 default,
``crd``, or ``none``/``off``/``false``), ``ignoreDifferencesOnResourceUpdates``.
``timeout.reconciliation`` (a Go duration, ``180s``; ``0`` turns the periodic refresh off),
``application.resourceTrackingMethod`` and ``application.instanceLabelKey``.

Lookups follow Argo CD: a kind's key is ``group/Kind`` (``Kind`` for the core group); health
takes the exact key first, then a glob key (Argo CD takes "the first" of its unordered map;
Bosun takes the first in sorted order, so the choice is stable). ignoreDifferences entries of
every matching key apply, the way the Application's own ``ignoreDifferences`` do.

What Bosun does not do is said, not skipped: ``knownTypeFields`` are parsed and reported in
:attr:`Settings.warnings` (Bosun compares with the API server's server-side-apply dry run, so
the server already normalises what it knows about typed fields). ``ignoreResourceUpdates``,
``resource.ignoreResourceUpdatesEnabled`` and ``ignoreDifferencesOnResourceUpdates`` are
checked and need nothing more: they keep a resource update from triggering a refresh, and Bosun
refreshes on a timer, never on resource updates. To read a new key: add a field, parse it in
:func:`parse_settings` with an error naming the key, and test it in
``tests/unit/test_settings.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from bosun import glob
from bosun.diff.ignore import IgnoreDifference
from bosun.diff.normalize import NormalizeOptions, StatusMode
from bosun.tracking import DEFAULT_LABEL_KEY, TrackingConfig, TrackingMethod

CUSTOMIZATIONS_KEY = "resource.customizations"
EXCLUSIONS_KEY = "resource.exclusions"
INCLUSIONS_KEY = "resource.inclusions"
COMPARE_OPTIONS_KEY = "resource.compareoptions"
RECONCILIATION_KEY = "timeout.reconciliation"
TRACKING_METHOD_KEY = "application.resourceTrackingMethod"
INSTANCE_LABEL_KEY = "application.instanceLabelKey"

DEFAULT_TRACKING_METHOD = TrackingMethod.ANNOTATION.value
TRACKING_METHODS = tuple(m.value for m in TrackingMethod)
DEFAULT_INSTANCE_LABEL_KEY = DEFAULT_LABEL_KEY

_CUSTOMIZATION_TYPES = (
    "health",
    "useOpenLibs",
    "actions",
    "ignoreDifferences",
    "ignoreResourceUpdates",
    "knownTypeFields",
)
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_LABEL_NAME}")


class SettingsError(ValueError):
    """A settings value Bosun cannot use; the message names the ConfigMap and the key."""


@dataclass(frozen=True)
class IgnoreRules:
    """An ``ignoreDifferences`` (or ``ignoreResourceUpdates``) customization of one kind."""

    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.json_pointers or self.jq_path_expressions or self.managed_fields_managers)


@dataclass(frozen=True)
class KnownTypeField:
    field: str
    type: str


@dataclass(frozen=True)
class ActionDefinition:
    name: str
    action_lua: str


@dataclass(frozen=True)
class ActionScripts:
    """The resource actions configured for one kind (Argo CD's ``ResourceActions``).

    ``discovery_lua`` returns the table of available actions (``actions["restart"] = {}``, with
    optional ``disabled``/``iconClass``/``displayName``/``params``); ``definitions`` maps each
    action's name to its ``action.lua`` source, in the order given. ``use_open_libs`` is the
    kind's ``useOpenLibs`` setting, to pass to ``run_script(..., open_libs=...)``;
    ``merge_builtin_actions`` is Argo CD's ``mergeBuiltinActions``; ``key`` the settings key
    (``group/Kind`` or a glob) that supplied them.
    """

    key: str
    discovery_lua: str
    definitions: Mapping[str, str]
    use_open_libs: bool = False
    merge_builtin_actions: bool = False


@dataclass(frozen=True)
class HealthScript:
    """A custom health check: the Lua source, its ``useOpenLibs`` flag and its settings key."""

    key: str
    lua: str
    use_open_libs: bool = False


@dataclass(frozen=True)
class ResourceOverride:
    """Everything customized for one settings key (Argo CD's ``ResourceOverride``)."""

    health_lua: str = ""
    use_open_libs: bool = False
    actions: ActionScripts | None = None
    ignore_differences: IgnoreRules = IgnoreRules()
    ignore_resource_updates: IgnoreRules = IgnoreRules()
    known_type_fields: tuple[KnownTypeField, ...] = ()


@dataclass(frozen=True)
class FilteredResource:
    """One entry of ``resource.exclusions`` / ``resource.inclusions``: globs; empty matches all."""

    api_groups: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()

    def matches(self, group: str, kind: str, cluster: str) -> bool:
        return _any_glob(self.api_groups, group) and _any_glob(self.kinds, kind) and _any_glob(self.clusters, cluster)


CORE_EXCLUSIONS = (
    FilteredResource(api_groups=("events.k8s.io", "metrics.k8s.io")),
    FilteredResource(api_groups=("",), kinds=("Event",)),
)
"""Always excluded, as in Argo CD: events and metrics are never an app's resources."""


@dataclass(frozen=True)
class CompareOptions:
    """``resource.compareoptions``."""

    ignore_aggregated_roles: bool = False
    ignore_resource_status_field: StatusMode = StatusMode.ALL
    ignore_differences_on_resource_updates: bool = False


@dataclass(frozen=True)
class Settings:
    """Argo CD's settings as Bosun uses them. ``Settings()`` is what an absent ConfigMap means."""

    source: str = "defaults"
    """Where they came from (``ConfigMap bosun/argocd-cm``, a file name), for messages."""
    tracking_method: str = DEFAULT_TRACKING_METHOD
    instance_label_key: str = DEFAULT_INSTANCE_LABEL_KEY
    reconciliation_seconds: int | None = None
    """``timeout.reconciliation`` in seconds; None when not set (the worker's default applies),
    0 when the periodic refresh is turned off."""
    overrides: Mapping[str, ResourceOverride] = field(default_factory=dict)
    """Customizations by Argo CD key: ``group/Kind``, ``Kind`` (core group) or a glob; ``*/*`` is ``.all``."""
    exclusions: tuple[FilteredResource, ...] = ()
    inclusions: tuple[FilteredResource, ...] = ()
    compare_options: CompareOptions = CompareOptions()
    warnings: tuple[str, ...] = ()
    """Settings Bosun read but does not act on, one sentence each, for an app condition."""

    # ------------------------------------------------------------------ lookups

    def health_script(self, group: str, kind: str) -> HealthScript | None:
        """The custom health check for a kind: the exact key's, else the first glob key's."""
        found = self._lookup(group, kind, lambda o: bool(o.health_lua))
        if found is None:
            return None
        key, override = found
        return HealthScript(key=key, lua=override.health_lua, use_open_libs=override.use_open_libs)

    def action_scripts(self, group: str, kind: str) -> ActionScripts | None:
        """The Lua resource actions configured for a kind, or None (then only built-in actions exist).

        Lookup as for health: the exact ``group/Kind`` key, else the first matching glob key.
        Run ``discovery_lua`` and an action's ``definitions[name]`` with
        :func:`bosun.lua_sandbox.run_script` (``obj`` = the live object, ``open_libs=use_open_libs``;
        an action gets ``actionParams`` as an extra global when it takes parameters), and pass
        an action's result through :func:`bosun.lua_sandbox.restore_empty_maps` as Argo CD does.
        """
        found = self._lookup(group, kind, lambda o: o.actions is not None)
        if found is None:
            return None
        return found[1].actions

    def tracking(self) -> TrackingConfig:
        """How resources are marked as the app's (``application.resourceTrackingMethod`` and
        ``application.instanceLabelKey``); ValueError for a method Argo CD does not know."""
        return TrackingConfig.from_settings(self.tracking_method, self.instance_label_key)

    def ignore_differences(self) -> list[dict[str, Any]]:
        """The ``ignoreDifferences`` customizations as entries shaped like an Application's
        ``spec.ignoreDifferences`` (group and kind taken from the key, globs kept): append
        them to the app's own entries and match them the same way."""
        entries: list[dict[str, Any]] = []
        for key in sorted(self.overrides):
            rules = self.overrides[key].ignore_differences
            if not rules:
                continue
            group, kind = split_key(key)
            entry: dict[str, Any] = {"group": group, "kind": kind}
            if rules.json_pointers:
                entry["jsonPointers"] = list(rules.json_pointers)
            if rules.jq_path_expressions:
                entry["jqPathExpressions"] = list(rules.jq_path_expressions)
            if rules.managed_fields_managers:
                entry["managedFieldsManagers"] = list(rules.managed_fields_managers)
            entries.append(entry)
        return entries

    def is_excluded(self, group: str, kind: str, cluster: str = "") -> bool:
        """Argo CD's ``IsExcludedResource``: excluded (core exclusions included) wins; with
        inclusions, what none of them matches is excluded too. ``cluster`` is the API server URL."""
        if any(f.matches(group, kind, cluster) for f in (*CORE_EXCLUSIONS, *self.exclusions)):
            return True
        if any(f.matches(group, kind, cluster) for f in self.inclusions):
            return False
        return bool(self.inclusions)

    def kind_warnings(self, group: str, kind: str) -> tuple[str, ...]:
        """The :attr:`warnings` that concern one kind (its exact key, as Argo CD matches knownTypeFields)."""
        key = override_key(group, kind)
        override = self.overrides.get(key)
        if override is None or not override.known_type_fields:
            return ()
        return (_known_type_fields_warning(key, self.source),)

    def normalize_options(self) -> NormalizeOptions:
        """What diff normalization strips, from ``resource.compareoptions``."""
        return NormalizeOptions(
            ignore_status=self.compare_options.ignore_resource_status_field,
            ignore_aggregated_roles=self.compare_options.ignore_aggregated_roles,
        )

    def _lookup(self, group: str, kind: str, wanted: Any) -> tuple[str, ResourceOverride] | None:
        key = override_key(group, kind)
        exact = self.overrides.get(key)
        if exact is not None and wanted(exact):
            return key, exact
        for pattern in sorted(self.overrides):
            if glob.is_glob(pattern) and wanted(self.overrides[pattern]) and glob.match(pattern, key):
                return pattern, self.overrides[pattern]
        return None


DEFAULT_SETTINGS = Settings()


def override_key(group: str, kind: str) -> str:
    """Argo CD's settings key of a kind: ``group/Kind``, or ``Kind`` for the core group."""
    return f"{group}/{kind}" if group else kind


def split_key(key: str) -> tuple[str, str]:
    """``group/Kind`` → (group, Kind); ``Kind`` → ("", Kind)."""
    group, _, kind = key.rpartition("/")
    return group, kind


# ---------------------------------------------------------------------- parsing


def parse_settings(data: Mapping[str, str], *, source: str) -> Settings:
    """Settings from a ConfigMap's ``data``; ``source`` names it in errors. Raises :class:`SettingsError`."""
    ctx = _Context(source)
    overrides: dict[str, dict[str, Any]] = {}
    nested = data.get(CUSTOMIZATIONS_KEY)
    if nested and nested.strip():
        for key, raw in ctx.yaml_map(CUSTOMIZATIONS_KEY, nested).items():
            overrides[str(key)] = ctx.nested_override(str(key), raw)
    for name in sorted(data):
        if name.startswith(CUSTOMIZATIONS_KEY + ".") and name.count(".") >= 3:
            ctx.split_override(name, data[name], overrides)

    built: dict[str, ResourceOverride] = {}
    for key, fields in overrides.items():
        if fields.get("actions") is not None:  # the kind's useOpenLibs holds for its actions too
            fields["actions"] = replace(fields["actions"], use_open_libs=fields.get("use_open_libs", False))
        built[key] = ResourceOverride(**fields)
    warnings = [_known_type_fields_warning(key, source) for key in sorted(built) if built[key].known_type_fields]
    compare = ctx.compare_options(data.get(COMPARE_OPTIONS_KEY, ""))
    return Settings(
        source=source,
        tracking_method=ctx.tracking_method(data.get(TRACKING_METHOD_KEY, "")),
        instance_label_key=ctx.instance_label_key(data.get(INSTANCE_LABEL_KEY, "")),
        reconciliation_seconds=ctx.duration_seconds(RECONCILIATION_KEY, data.get(RECONCILIATION_KEY)),
        overrides=built,
        exclusions=ctx.filtered(EXCLUSIONS_KEY, data.get(EXCLUSIONS_KEY, "")),
        inclusions=ctx.filtered(INCLUSIONS_KEY, data.get(INCLUSIONS_KEY, "")),
        compare_options=compare,
        warnings=tuple(warnings),
    )


def parse_config_map(doc: Mapping[str, Any], *, source: str) -> Settings:
    """Settings from a whole ConfigMap object (``kind: ConfigMap`` with ``data``)."""
    if doc.get("kind") != "ConfigMap":
        raise SettingsError(f"{source}: expected a ConfigMap, got kind {doc.get('kind')!r}")
    data = doc.get("data") or {}
    if not isinstance(data, Mapping):
        raise SettingsError(f"{source}: data must be a map of strings")
    bad = [str(k) for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise SettingsError(f"{source}: data values must be strings (quote them): {', '.join(sorted(bad))}")
    name = (doc.get("metadata") or {}).get("name") or "ConfigMap"
    return parse_settings(data, source=f"{source} ({name})")


class _Context:
    """Parsing helpers that put the source and the key into every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, message: str) -> SettingsError:
        return SettingsError(f"{self.source}: {key}: {message}")

    def yaml(self, key: str, text: str) -> Any:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise self.error(key, f"invalid YAML: {exc}") from None

    def yaml_map(self, key: str, text: str) -> dict[Any, Any]:
        value = self.yaml(key, text)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"expected a YAML map, got {type(value).__name__}")
        return value

    # -- customizations

    def nested_override(self, key: str, raw: Any) -> dict[str, Any]:
        where = f"{CUSTOMIZATIONS_KEY}[{key!r}]"
        if key.count("/") > 1:
            raise self.error(where, "a key is group/Kind or Kind")
        if not isinstance(raw, dict):
            raise self.error(
                where, f"expected a map of health.lua, actions, ignoreDifferences …, got {type(raw).__name__}"
            )
        fields: dict[str, Any] = {}
        for name, value in raw.items():
            item = f"{where}.{name}"
            if name == "health.lua":
                fields["health_lua"] = self.text(item, value)
            elif name in ("health.lua.useOpenLibs", "useOpenLibs"):
                fields["use_open_libs"] = self.boolean(item, value)
            elif name == "actions":
                fields["actions"] = self.actions(item, key, value)
            elif name in ("ignoreDifferences", "ignoreResourceUpdates"):
                target = "ignore_differences" if name == "ignoreDifferences" else "ignore_resource_updates"
                fields[target] = self.ignore_rules(item, value)
            elif name == "knownTypeFields":
                fields["known_type_fields"] = self.known_type_fields(item, value)
            else:
                raise self.error(
                    item,
                    "unknown field (expected health.lua, health.lua.useOpenLibs, actions, "
                    "ignoreDifferences, ignoreResourceUpdates, knownTypeFields)",
                )
        return fields

    def split_override(self, name: str, value: str, overrides: dict[str, dict[str, Any]]) -> None:
        _, _, kind_type, group_kind = name.split(".", 3)
        if kind_type not in _CUSTOMIZATION_TYPES:
            raise self.error(
                name,
                f"resource customization type {kind_type!r} is not supported (expected one of "
                f"{', '.join(_CUSTOMIZATION_TYPES)})",
            )
        parts = group_kind.split("_")
        if group_kind == "all":
            key = "*/*"
        elif len(parts) == 2 and all(parts):
            key = f"{parts[0]}/{parts[1]}"
        elif len(parts) == 1 and group_kind:
            key = group_kind
        else:
            raise self.error(
                name, "expected resource.customizations.<type>.<group>_<kind> or resource.customizations.<type>.<kind>"
            )
        fields = overrides.setdefault(key, {})
        if kind_type == "health":
            fields["health_lua"] = value
        elif kind_type == "useOpenLibs":
            fields["use_open_libs"] = self.boolean(name, value)
        elif kind_type == "actions":
            fields["actions"] = self.actions(name, key, value)
        elif kind_type == "ignoreDifferences":
            fields["ignore_differences"] = self.ignore_rules(name, value)
        elif kind_type == "ignoreResourceUpdates":
            fields["ignore_resource_updates"] = self.ignore_rules(name, value)
        else:
            fields["known_type_fields"] = self.known_type_fields(name, value)

    def text(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {type(value).__name__}")
        return value

    def boolean(self, key: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("true", "1", "t"):
            return True
        if lowered in ("false", "0", "f", ""):
            return False
        raise self.error(key, f"expected true or false, got {value!r}")

    def ignore_rules(self, key: str, value: Any) -> IgnoreRules:
        raw = self.yaml_map(key, value) if isinstance(value, str) else value
        if raw is None:
            return IgnoreRules()
        if not isinstance(raw, dict):
            raise self.error(
                key,
                f"expected a map of jsonPointers, jqPathExpressions, managedFieldsManagers, got {type(raw).__name__}",
            )
        unknown = set(raw) - {"jsonPointers", "jqPathExpressions", "managedFieldsManagers"}
        if unknown:
            raise self.error(
                key,
                f"unknown field(s) {', '.join(sorted(map(str, unknown)))} (expected jsonPointers, "
                "jqPathExpressions, managedFieldsManagers)",
            )
        lists = {
            name: self.string_list(f"{key}.{name}", raw.get(name))
            for name in ("jsonPointers", "jqPathExpressions", "managedFieldsManagers")
        }
        try:  # the same checks as an Application's ignoreDifferences: pointers and jq must compile
            IgnoreDifference.model_validate({"kind": "*", **lists})
        except ValueError as exc:
            raise self.error(key, _first_error(exc)) from None
        return IgnoreRules(
            json_pointers=lists["jsonPointers"],
            jq_path_expressions=lists["jqPathExpressions"],
            managed_fields_managers=lists["managedFieldsManagers"],
        )

    def known_type_fields(self, key: str, value: Any) -> tuple[KnownTypeField, ...]:
        raw = self.yaml(key, value) if isinstance(value, str) else value
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.error(key, "expected a list of {field, type}")
        fields = []
        for i, item in enumerate(raw):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("field"), str)
                or not isinstance(item.get("type"), str)
            ):
                raise self.error(f"{key}[{i}]", "expected {field: <path>, type: <group/version/Kind>}")
            fields.append(KnownTypeField(field=item["field"], type=item["type"]))
        return tuple(fields)

    def actions(self, key: str, override_key: str, value: Any) -> ActionScripts:
        raw = self.yaml_map(key, value) if isinstance(value, str) else value
        if not isinstance(raw, dict):
            raise self.error(key, "expected a map with discovery.lua and definitions")
        unknown = set(raw) - {"discovery.lua", "definitions", "mergeBuiltinActions"}
        if unknown:
            raise self.error(
                key,
                f"unknown field(s) {', '.join(sorted(map(str, unknown)))} (expected "
                "discovery.lua, definitions, mergeBuiltinActions)",
            )
        discovery = raw.get("discovery.lua") or ""
        if not isinstance(discovery, str):
            raise self.error(f"{key}.discovery.lua", "expected a Lua script (a string)")
        definitions: dict[str, str] = {}
        items = raw.get("definitions") or []
        if not isinstance(items, list):
            raise self.error(f"{key}.definitions", "expected a list of {name, action.lua}")
        for i, item in enumerate(items):
            where = f"{key}.definitions[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise self.error(where, "expected {name: <action>, action.lua: <script>}")
            script = item.get("action.lua")
            if not isinstance(script, str):
                raise self.error(f"{where}.action.lua", "expected a Lua script (a string)")
            if item["name"] in definitions:
                raise self.error(where, f"action {item['name']!r} is defined twice")
            definitions[item["name"]] = script
        return ActionScripts(
            key=override_key,
            discovery_lua=discovery,
            definitions=definitions,
            merge_builtin_actions=self.boolean(f"{key}.mergeBuiltinActions", raw.get("mergeBuiltinActions", False)),
        )

    def string_list(self, key: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "expected a list of strings")
        return tuple(value)

    # -- the other keys

    def filtered(self, key: str, text: str) -> tuple[FilteredResource, ...]:
        if not text.strip():
            return ()
        raw = self.yaml(key, text)
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.error(key, "expected a YAML list of {apiGroups, kinds, clusters}")
        entries = []
        for i, item in enumerate(raw):
            where = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise self.error(where, "expected a map of apiGroups, kinds, clusters")
            unknown = set(item) - {"apiGroups", "kinds", "clusters"}
            if unknown:
                raise self.error(
                    where,
                    f"unknown field(s) {', '.join(sorted(map(str, unknown)))} (expected apiGroups, kinds, clusters)",
                )
            entries.append(
                FilteredResource(
                    api_groups=self.globs(f"{where}.apiGroups", item.get("apiGroups")),
                    kinds=self.globs(f"{where}.kinds", item.get("kinds")),
                    clusters=self.globs(f"{where}.clusters", item.get("clusters")),
                )
            )
        return tuple(entries)

    def globs(self, key: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "expected a list of strings (globs)")
        return tuple(value)

    def compare_options(self, text: str) -> CompareOptions:
        if not text.strip():
            return CompareOptions()
        raw = self.yaml_map(COMPARE_OPTIONS_KEY, text)
        known = {"ignoreAggregatedRoles", "ignoreResourceStatusField", "ignoreDifferencesOnResourceUpdates"}
        unknown = set(raw) - known
        if unknown:
            raise self.error(
                COMPARE_OPTIONS_KEY,
                f"unknown option(s) {', '.join(sorted(map(str, unknown)))} (expected {', '.join(sorted(known))})",
            )
        status_raw = raw.get("ignoreResourceStatusField")
        status = StatusMode.ALL
        if status_raw not in (None, ""):
            # YAML reads a bare `off` or `false` as the boolean false.
            spelled = "none" if status_raw is False else str(status_raw)
            try:
                status = StatusMode.parse(spelled)
            except ValueError:
                raise self.error(
                    f"{COMPARE_OPTIONS_KEY}.ignoreResourceStatusField",
                    f"expected all, crd or none (off), got {status_raw!r}",
                ) from None
        return CompareOptions(
            ignore_aggregated_roles=self.boolean(
                f"{COMPARE_OPTIONS_KEY}.ignoreAggregatedRoles", raw.get("ignoreAggregatedRoles", False)
            ),
            ignore_resource_status_field=status,
            ignore_differences_on_resource_updates=self.boolean(
                f"{COMPARE_OPTIONS_KEY}.ignoreDifferencesOnResourceUpdates",
                raw.get("ignoreDifferencesOnResourceUpdates", False),
            ),
        )

    def duration_seconds(self, key: str, value: str | None) -> int | None:
        if value is None or not value.strip():
            return None
        try:
            seconds = parse_go_duration(value.strip())
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if seconds < 0:
            raise self.error(key, f"must not be negative, got {value!r}")
        return 0 if seconds == 0 else max(1, math.ceil(seconds))

    def tracking_method(self, value: str) -> str:
        method = value.strip()
        if not method:
            return DEFAULT_TRACKING_METHOD
        if method not in TRACKING_METHODS:
            raise self.error(TRACKING_METHOD_KEY, f"expected one of {', '.join(TRACKING_METHODS)}, got {method!r}")
        return method

    def instance_label_key(self, value: str) -> str:
        label = value.strip()
        if not label:
            return DEFAULT_INSTANCE_LABEL_KEY
        if not _LABEL_KEY.fullmatch(label) or len(label.split("/")[0]) > 253:
            raise self.error(INSTANCE_LABEL_KEY, f"{label!r} is not a valid label key")
        return label


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` (``180s``, ``1h30m``, ``0``), in seconds."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            raise ValueError(f"invalid duration {text!r} (expected e.g. 180s, 3m, 1h30m or 0)")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 180s, 3m, 1h30m or 0)")
    return sign * total


def _known_type_fields_warning(key: str, source: str) -> str:
    return (
        f"knownTypeFields of {key} in {source} are not supported by Bosun and have no effect: Bosun diffs "
        "against the API server's server-side-apply dry run, which normalises what the server knows; "
        "use ignoreDifferences for the rest"
    )


def _any_glob(patterns: tuple[str, ...], value: str) -> bool:
    return not patterns or any(glob.match(p, value) for p in patterns)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            return str(found[0].get("msg", exc)).removeprefix("Value error, ")
    return str(exc)
