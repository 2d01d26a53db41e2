"""An ``argoproj.io/v1alpha1`` ApplicationSet, parsed and validated as Argo CD reads it.

Argo CD decodes the manifest into Go structs with unknown fields rejected by the CRD's
schema; Bosun does the same here so a typo is a condition naming the field instead of a
generator that silently does nothing. The generators that need the network
(``pullRequest``, ``scmProvider``, ``clusterDecisionResource``, ``plugin``) are refused:
Bosun generates only from what it already holds (its cluster Secrets and Git mirrors).

Every refusal is an :class:`ApplicationSetError` whose text starts with the field path
(``spec.generators[1].pullRequest: ...``), which the workflow shows as the set's
``ErrorOccurred`` condition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "APPLICATIONS_SYNC_POLICIES",
    "DEFAULT_GIT_REQUEUE_SECONDS",
    "ApplicationSet",
    "ApplicationSetError",
    "MatchExpression",
    "RollingStep",
    "RollingSync",
    "parse_applicationset",
]

API_VERSION = "argoproj.io/v1alpha1"
KIND = "ApplicationSet"

APPLICATIONS_SYNC_POLICIES = ("create-only", "create-update", "create-delete", "sync")
"""Argo CD's ``syncPolicy.applicationsSync`` values (``ApplicationsSyncPolicy``)."""

DEFAULT_GIT_REQUEUE_SECONDS = 180
"""Argo CD polls a git generator every 3 minutes unless ``requeueAfterSeconds`` says otherwise
(``DefaultRequeueAfterSeconds`` in ``applicationset/generators/git.go``)."""

NETWORK_GENERATORS = ("pullRequest", "scmProvider", "clusterDecisionResource", "plugin")

_TERMINAL_GENERATORS = ("list", "clusters", "git", *NETWORK_GENERATORS)
_COMBINING_GENERATORS = ("matrix", "merge")

_GENERATOR_FIELDS: dict[str, frozenset[str]] = {
    "list": frozenset({"elements", "elementsYaml", "template"}),
    "clusters": frozenset({"selector", "template", "values", "flatList"}),
    "git": frozenset(
        {
            "repoURL",
            "directories",
            "files",
            "revision",
            "requeueAfterSeconds",
            "template",
            "pathParamPrefix",
            "values",
        }
    ),
    "matrix": frozenset({"generators", "template"}),
    "merge": frozenset({"generators", "mergeKeys", "template"}),
}

_SPEC_FIELDS = frozenset(
    {
        "goTemplate",
        "goTemplateOptions",
        "generators",
        "template",
        "templatePatch",
        "syncPolicy",
        "strategy",
        "preservedFields",
        "applyNestedSelectors",
        "ignoreApplicationDifferences",
    }
)
_TEMPLATE_FIELDS = frozenset({"metadata", "spec"})
_TEMPLATE_METADATA_FIELDS = frozenset({"name", "namespace", "labels", "annotations", "finalizers"})
_GO_TEMPLATE_OPTIONS = re.compile(r"^missingkey=(default|invalid|zero|error)$")
_MATCH_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_STEP_OPERATORS = ("In", "NotIn")
_PERCENT = re.compile(r"^(\d+)%$")


class ApplicationSetError(ValueError):
    """A spec Bosun refuses or cannot generate from; str() names the field path
    (e.g. ``spec.generators[1].pullRequest: not supported by Bosun``)."""


@dataclass(frozen=True)
class MatchExpression:
    """One ``matchExpressions`` entry of a RollingSync step (``In`` or ``NotIn``)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Argo CD's step selection (``buildAppDependencyList``): ``In`` needs the label set
        to one of the values; ``NotIn`` holds when the label is absent or another value."""
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # NotIn


@dataclass(frozen=True)
class RollingStep:
    match_expressions: tuple[MatchExpression, ...]
    max_update: int | str | None
    """An int, a percentage string (``"25%"``) or None (no cap: every app of the step)."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """All expressions hold; a step with none selects every app (Argo CD's default)."""
        return all(e.matches(labels) for e in self.match_expressions)

    def max_updates(self, step_size: int) -> int | None:
        """How many apps of a step of ``step_size`` may be Pending or Progressing at once;
        None when there is no cap.

        Argo CD (``updateApplicationSetApplicationStatusProgress``): no ``maxUpdate``, no cap;
        a percentage of the step's apps rounded down
        (``intstr.GetScaledValueFromIntOrPercent(..., false)``) but at least 1 unless it is
        ``0%``; 0 (or ``0%``) lets no app of the step move at all."""
        if self.max_update is None:
            return None
        if isinstance(self.max_update, int):
            return self.max_update
        percent = int(self.max_update[:-1])
        value = step_size * percent // 100
        if percent > 0 and value < 1:
            value = 1
        return value


@dataclass(frozen=True)
class RollingSync:
    steps: tuple[RollingStep, ...]

    def step_of(self, labels: Mapping[str, str]) -> int | None:
        """The first step (0-based) whose expressions match ``labels``; None when none does."""
        for index, step in enumerate(self.steps):
            if step.matches(labels):
                return index
        return None


@dataclass(frozen=True)
class ApplicationSet:
    """A parsed, validated ApplicationSet."""

    name: str
    namespace: str
    uid: str
    """``metadata.uid``, for the ownerReferences of the generated Applications."""
    raw: dict[str, Any]
    """The manifest as read."""
    go_template: bool
    go_template_options: tuple[str, ...]
    applications_sync: str | None
    """create-only | create-update | create-delete | sync | None (Argo CD's default: sync)."""
    preserve_resources_on_deletion: bool
    rolling_sync: RollingSync | None
    """``strategy.type: RollingSync``, else None (AllAtOnce)."""
    requeue_after_seconds: int | None
    """When to generate again without an event: the smallest ``requeueAfterSeconds`` of the
    generators that poll (git generators default to 180 s as in Argo CD); None when none polls."""
    generators: tuple[dict[str, Any], ...] = ()
    template: dict[str, Any] = field(default_factory=dict)
    template_patch: str | None = None
    preserved_annotations: tuple[str, ...] = ()
    preserved_labels: tuple[str, ...] = ()
    apply_nested_selectors: bool = False
    ignore_application_differences: tuple[dict[str, Any], ...] = ()
    deletion_order: str | None = None

    @property
    def allows_create(self) -> bool:
        return True

    @property
    def allows_update(self) -> bool:
        """Argo CD's ``AllowUpdate``: every policy but create-only and create-delete."""
        return self.applications_sync not in ("create-only", "create-delete")

    @property
    def allows_delete(self) -> bool:
        """Argo CD's ``AllowDelete``: sync (the default) and create-delete."""
        return self.applications_sync in (None, "sync", "create-delete")


def parse_applicationset(manifest: Mapping[str, Any]) -> ApplicationSet:
    """Parse and validate ``manifest``; :class:`ApplicationSetError` names the bad field."""
    if not isinstance(manifest, Mapping):
        raise ApplicationSetError("ApplicationSet: not an object")
    if manifest.get("apiVersion") != API_VERSION or manifest.get("kind") != KIND:
        raise ApplicationSetError(
            f"apiVersion/kind: expected {API_VERSION} {KIND}, got {manifest.get('apiVersion')} {manifest.get('kind')}"
        )
    metadata = _mapping(manifest.get("metadata"), "metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ApplicationSetError("metadata.name: required")
    spec = _mapping(manifest.get("spec"), "spec")
    _known(spec, _SPEC_FIELDS, "spec")

    go_template = _bool(spec.get("goTemplate"), "spec.goTemplate")
    options = tuple(_strings(spec.get("goTemplateOptions"), "spec.goTemplateOptions"))
    for index, option in enumerate(options):
        if not _GO_TEMPLATE_OPTIONS.match(option):
            raise ApplicationSetError(
                f"spec.goTemplateOptions[{index}]: {option!r} is not a template option "
                "(missingkey=default|invalid|zero|error)"
            )

    generators_raw = spec.get("generators")
    if not isinstance(generators_raw, list) or not generators_raw:
        raise ApplicationSetError("spec.generators: at least one generator is required")
    generators = tuple(_generator(g, f"spec.generators[{i}]", depth=0) for i, g in enumerate(generators_raw))

    template = _template(spec.get("template"), "spec.template", required=True)
    template_patch = spec.get("templatePatch")
    if template_patch is not None and not isinstance(template_patch, str):
        raise ApplicationSetError("spec.templatePatch: must be a string (a template of YAML or JSON)")

    sync_policy = _mapping(spec.get("syncPolicy"), "spec.syncPolicy", optional=True)
    _known(sync_policy, frozenset({"applicationsSync", "preserveResourcesOnDeletion"}), "spec.syncPolicy")
    applications_sync = sync_policy.get("applicationsSync")
    if applications_sync is not None and applications_sync not in APPLICATIONS_SYNC_POLICIES:
        raise ApplicationSetError(
            f"spec.syncPolicy.applicationsSync: {applications_sync!r} is not one of "
            + ", ".join(APPLICATIONS_SYNC_POLICIES)
        )
    preserve = _bool(sync_policy.get("preserveResourcesOnDeletion"), "spec.syncPolicy.preserveResourcesOnDeletion")

    rolling, deletion_order = _strategy(spec.get("strategy"))

    preserved = _mapping(spec.get("preservedFields"), "spec.preservedFields", optional=True)
    _known(preserved, frozenset({"annotations", "labels"}), "spec.preservedFields")

    ignore = _ignore_differences(spec.get("ignoreApplicationDifferences"))

    return ApplicationSet(
        name=name,
        namespace=str(metadata.get("namespace") or ""),
        uid=str(metadata.get("uid") or ""),
        raw=dict(manifest),
        go_template=go_template,
        go_template_options=options,
        applications_sync=applications_sync,
        preserve_resources_on_deletion=preserve,
        rolling_sync=rolling,
        requeue_after_seconds=_requeue(generators),
        generators=generators,
        template=template,
        template_patch=template_patch,
        preserved_annotations=tuple(_strings(preserved.get("annotations"), "spec.preservedFields.annotations")),
        preserved_labels=tuple(_strings(preserved.get("labels"), "spec.preservedFields.labels")),
        apply_nested_selectors=_bool(spec.get("applyNestedSelectors"), "spec.applyNestedSelectors"),
        ignore_application_differences=tuple(ignore),
        deletion_order=deletion_order,
    )


def _generator(raw: Any, path: str, *, depth: int) -> dict[str, Any]:
    """One generator: exactly one kind, plus an optional ``selector``.

    Argo CD nests at most two levels of matrix/merge: a top-level matrix's children may be a
    matrix or merge (``ApplicationSetNestedGenerator``), whose children may not
    (``ApplicationSetTerminalGenerator``)."""
    generator = _mapping(raw, path)
    for kind in NETWORK_GENERATORS:
        if kind in generator:
            raise ApplicationSetError(f"{path}.{kind}: not supported by Bosun: no network generators")
    allowed = set(_TERMINAL_GENERATORS) | {"selector"}
    if depth < 2:
        allowed |= set(_COMBINING_GENERATORS)
    unknown = sorted(set(generator) - allowed)
    if unknown:
        what = "a matrix or merge nested this deep" if set(unknown) & set(_COMBINING_GENERATORS) else "unknown field"
        raise ApplicationSetError(f"{path}.{unknown[0]}: {what} (Argo CD does not accept it)")
    kinds = [k for k in generator if k != "selector"]
    if len(kinds) != 1:
        raise ApplicationSetError(
            f"{path}: exactly one generator per entry (found {', '.join(kinds) if kinds else 'none'})"
        )
    kind = kinds[0]
    body = _mapping(generator[kind], f"{path}.{kind}")
    _known(body, _GENERATOR_FIELDS[kind], f"{path}.{kind}")
    if "template" in body:
        _template(body["template"], f"{path}.{kind}.template", required=False)
    if "selector" in generator:
        _label_selector(generator["selector"], f"{path}.selector")
    where = f"{path}.{kind}"
    if kind == "list":
        _list(body, where)
    elif kind == "clusters":
        if "selector" in body:
            _label_selector(body["selector"], f"{where}.selector")
        _string_map(body.get("values"), f"{where}.values")
    elif kind == "git":
        _git(body, where)
    else:
        children = body.get("generators")
        if not isinstance(children, list):
            raise ApplicationSetError(f"{where}.generators: required list")
        if kind == "matrix" and len(children) != 2:
            raise ApplicationSetError(f"{where}.generators: a matrix combines exactly two generators")
        if kind == "merge" and len(children) < 2:
            raise ApplicationSetError(f"{where}.generators: a merge needs at least two generators")
        for index, child in enumerate(children):
            _generator(child, f"{where}.generators[{index}]", depth=depth + 1)
        if kind == "merge":
            keys = _strings(body.get("mergeKeys"), f"{where}.mergeKeys")
            if not keys:
                raise ApplicationSetError(f"{where}.mergeKeys: at least one key is required")
    return dict(generator)


def _list(body: Mapping[str, Any], where: str) -> None:
    elements = body.get("elements")
    if elements is not None and not isinstance(elements, list):
        raise ApplicationSetError(f"{where}.elements: must be a list")
    yaml_text = body.get("elementsYaml")
    if yaml_text is not None and not isinstance(yaml_text, str):
        raise ApplicationSetError(f"{where}.elementsYaml: must be a string")
    for index, element in enumerate(elements or []):
        if not isinstance(element, dict):
            raise ApplicationSetError(f"{where}.elements[{index}]: must be an object")


def _git(body: Mapping[str, Any], where: str) -> None:
    if not isinstance(body.get("repoURL"), str) or not body["repoURL"]:
        raise ApplicationSetError(f"{where}.repoURL: required")
    if "revision" in body and not isinstance(body["revision"], str):
        raise ApplicationSetError(f"{where}.revision: must be a string")
    directories, files = body.get("directories"), body.get("files")
    if directories is None and files is None:
        raise ApplicationSetError(f"{where}: needs directories or files")
    if directories is not None and files is not None:
        raise ApplicationSetError(f"{where}: directories and files cannot be used together")
    entries_name = "directories" if directories is not None else "files"
    entries = directories if directories is not None else files
    if not isinstance(entries, list) or not entries:
        raise ApplicationSetError(f"{where}.{entries_name}: at least one path is required")
    for index, entry in enumerate(entries):
        entry_path = f"{where}.{entries_name}[{index}]"
        item = _mapping(entry, entry_path)
        _known(item, frozenset({"path", "exclude"}), entry_path)
        if not isinstance(item.get("path"), str) or not item["path"]:
            raise ApplicationSetError(f"{entry_path}.path: required")
        _bool(item.get("exclude"), f"{entry_path}.exclude")
    seconds = body.get("requeueAfterSeconds")
    if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0):
        raise ApplicationSetError(f"{where}.requeueAfterSeconds: must be a non-negative integer")
    prefix = body.get("pathParamPrefix")
    if prefix is not None and not isinstance(prefix, str):
        raise ApplicationSetError(f"{where}.pathParamPrefix: must be a string")
    _string_map(body.get("values"), f"{where}.values")


def _strategy(raw: Any) -> tuple[RollingSync | None, str | None]:
    strategy = _mapping(raw, "spec.strategy", optional=True)
    _known(strategy, frozenset({"type", "rollingSync", "deletionOrder"}), "spec.strategy")
    kind = strategy.get("type") or "AllAtOnce"
    deletion_order = strategy.get("deletionOrder")
    if deletion_order is not None and deletion_order not in ("AllAtOnce", "Reverse"):
        raise ApplicationSetError(f"spec.strategy.deletionOrder: {deletion_order!r} is not AllAtOnce or Reverse")
    if kind == "AllAtOnce":
        return None, deletion_order
    if kind != "RollingSync":
        raise ApplicationSetError(f"spec.strategy.type: {kind!r} is not supported (AllAtOnce or RollingSync)")
    rolling = _mapping(strategy.get("rollingSync"), "spec.strategy.rollingSync", optional=True)
    _known(rolling, frozenset({"steps"}), "spec.strategy.rollingSync")
    steps_raw = rolling.get("steps") or []
    if not isinstance(steps_raw, list):
        raise ApplicationSetError("spec.strategy.rollingSync.steps: must be a list")
    steps = []
    for index, raw_step in enumerate(steps_raw):
        where = f"spec.strategy.rollingSync.steps[{index}]"
        step = _mapping(raw_step, where)
        _known(step, frozenset({"matchExpressions", "maxUpdate"}), where)
        expressions = []
        for number, raw_expression in enumerate(step.get("matchExpressions") or []):
            at = f"{where}.matchExpressions[{number}]"
            expression = _mapping(raw_expression, at)
            _known(expression, frozenset({"key", "operator", "values"}), at)
            key, operator = expression.get("key"), expression.get("operator")
            if not isinstance(key, str) or not key:
                raise ApplicationSetError(f"{at}.key: required")
            if operator not in _STEP_OPERATORS:
                raise ApplicationSetError(
                    f"{at}.operator: {operator!r} is not supported in RollingSync steps (In or NotIn, as Argo CD)"
                )
            values = tuple(_strings(expression.get("values"), f"{at}.values"))
            if not values:
                raise ApplicationSetError(f"{at}.values: {operator} needs at least one value")
            expressions.append(MatchExpression(key, operator, values))
        steps.append(RollingStep(tuple(expressions), _max_update(step.get("maxUpdate"), f"{where}.maxUpdate")))
    return RollingSync(tuple(steps)), deletion_order


def _ignore_differences(raw: Any) -> list[dict[str, Any]]:
    """``ignoreApplicationDifferences``: ``name`` (one Application, else all) and
    ``jsonPointers`` into the Application. ``jqPathExpressions`` need jq, which the pure
    planner cannot run: refused rather than silently not applied."""
    where = "spec.ignoreApplicationDifferences"
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ApplicationSetError(f"{where}: must be a list")
    rules = []
    for index, entry in enumerate(raw):
        at = f"{where}[{index}]"
        rule = _mapping(entry, at)
        _known(rule, frozenset({"name", "jsonPointers", "jqPathExpressions"}), at)
        if rule.get("jqPathExpressions"):
            raise ApplicationSetError(f"{at}.jqPathExpressions: not supported by Bosun yet (use jsonPointers)")
        if "name" in rule and not isinstance(rule["name"], str):
            raise ApplicationSetError(f"{at}.name: must be a string")
        for number, pointer in enumerate(_strings(rule.get("jsonPointers"), f"{at}.jsonPointers")):
            if pointer and not pointer.startswith("/"):
                raise ApplicationSetError(f"{at}.jsonPointers[{number}]: {pointer!r} is not a JSON pointer")
        rules.append(rule)
    return rules


def _max_update(raw: Any, where: str) -> int | str | None:
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 0:
            raise ApplicationSetError(f"{where}: must not be negative")
        return raw
    if isinstance(raw, str) and _PERCENT.match(raw):
        return raw
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    raise ApplicationSetError(f"{where}: {raw!r} is neither a number nor a percentage such as '25%'")


def _requeue(generators: tuple[dict[str, Any], ...]) -> int | None:
    found: list[int] = []

    def visit(generator: Mapping[str, Any]) -> None:
        for kind, body in generator.items():
            if kind == "git":
                seconds = body.get("requeueAfterSeconds")
                found.append(DEFAULT_GIT_REQUEUE_SECONDS if seconds is None else seconds)
            elif kind in _COMBINING_GENERATORS:
                for child in body.get("generators", []):
                    visit(child)

    for generator in generators:
        visit(generator)
    return min(found) if found else None


def _template(raw: Any, where: str, *, required: bool) -> dict[str, Any]:
    if raw is None and not required:
        return {}
    template = _mapping(raw, where, optional=not required)
    _known(template, _TEMPLATE_FIELDS, where)
    metadata = _mapping(template.get("metadata"), f"{where}.metadata", optional=True)
    _known(metadata, _TEMPLATE_METADATA_FIELDS, f"{where}.metadata")
    _string_map(metadata.get("labels"), f"{where}.metadata.labels")
    _string_map(metadata.get("annotations"), f"{where}.metadata.annotations")
    _strings(metadata.get("finalizers"), f"{where}.metadata.finalizers")
    _mapping(template.get("spec"), f"{where}.spec", optional=True)
    return dict(template)


def _label_selector(raw: Any, where: str) -> None:
    selector = _mapping(raw, where)
    _known(selector, frozenset({"matchLabels", "matchExpressions"}), where)
    _string_map(selector.get("matchLabels"), f"{where}.matchLabels")
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise ApplicationSetError(f"{where}.matchExpressions: must be a list")
    for index, raw_expression in enumerate(expressions):
        at = f"{where}.matchExpressions[{index}]"
        expression = _mapping(raw_expression, at)
        _known(expression, frozenset({"key", "operator", "values"}), at)
        if expression.get("operator") not in _MATCH_OPERATORS:
            raise ApplicationSetError(
                f"{at}.operator: {expression.get('operator')!r} is not one of {', '.join(_MATCH_OPERATORS)}"
            )
        if not isinstance(expression.get("key"), str) or not expression["key"]:
            raise ApplicationSetError(f"{at}.key: required")
        _strings(expression.get("values"), f"{at}.values")


def _mapping(raw: Any, where: str, *, optional: bool = False) -> dict[str, Any]:
    if raw is None and optional:
        return {}
    if not isinstance(raw, Mapping):
        raise ApplicationSetError(f"{where}: must be an object")
    return dict(raw)


def _known(body: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in body:
        if key not in allowed:
            raise ApplicationSetError(f"{where}.{key}: unknown field (Argo CD does not accept it)")


def _bool(raw: Any, where: str) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise ApplicationSetError(f"{where}: must be true or false")
    return raw


def _strings(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ApplicationSetError(f"{where}: must be a list of strings")
    return list(raw)


def _string_map(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise ApplicationSetError(f"{where}: must be a map of strings")
    return dict(raw)
