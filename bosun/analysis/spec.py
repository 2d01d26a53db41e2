"""AnalysisTemplates, their args, and the one run spec a rollout's analysis block makes of them.

After Argo Rollouts' ``pkg/apis/rollouts/v1alpha1/analysis_types.go`` (the fields),
``utils/analysis/helpers.go`` (``MergeArgs``, ``NewAnalysisRunFromTemplates``: metrics of all
templates in order, duplicate names refused, rollout args override template args, an arg left
without a value is an error) and ``utils/template/template.go`` (``{{args.<name>}}``
substitution). Defaults as Argo Rollouts' ``utils/defaults``: ``failureLimit`` 0,
``inconclusiveLimit`` 0, ``consecutiveErrorLimit`` 4; a metric without ``count`` and
``interval`` is measured once.

Secret args (``valueFrom.secretKeyRef``) are never resolved here: :func:`substitute_args`
leaves their ``{{args.<name>}}`` in place, and the measuring activity substitutes them after
reading the Secret, so their values never enter a workflow's history.

Errors are :class:`AnalysisSpecError`, naming the template and field. A field Bosun does not
support (another provider, a provider's authentication, …) is refused, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from bosun.models.formats import parse_go_duration

__all__ = [
    "AnalysisSpecError",
    "Argument",
    "Metric",
    "RunSpec",
    "SecretRef",
    "Template",
    "TemplateRef",
    "arg_references",
    "build_run_spec",
    "parse_template",
    "parse_template_refs",
    "substitute_args",
]

PROVIDERS = ("web", "job", "prometheus")
"""The providers Bosun measures; any other key of ``provider`` is refused."""
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
"""Argo Rollouts' ``DefaultConsecutiveErrorLimit``."""

_METRIC_FIELDS = {
    "name",
    "interval",
    "initialDelay",
    "count",
    "successCondition",
    "failureCondition",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
    "provider",
}
_PROVIDER_FIELDS: dict[str, set[str]] = {
    "web": {"url", "method", "headers", "body", "jsonBody", "timeoutSeconds", "jsonPath", "insecure"},
    "job": {"metadata", "spec"},
    "prometheus": {"address", "query", "timeout", "insecure", "headers"},
}
_SPEC_FIELDS = {"metrics", "args", "dryRun", "measurementRetention"}
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.\-]+)\s*\}\}")
_FIELD_PATH = re.compile(r"metadata\.(name|namespace|uid|labels|annotations)(?:\['([^']*)'\])?")


class AnalysisSpecError(ValueError):
    """An analysis template or a rollout's analysis block Bosun cannot run; the message names the field."""


class SecretRef(BaseModel):
    name: str
    key: str


class Argument(BaseModel):
    """An arg: a value, a Secret's key (resolved by the measuring activity only) or a field of the Rollout."""

    name: str
    value: str | None = None
    secret: SecretRef | None = None
    field_path: str | None = None
    pod_template_hash: Literal["Stable", "Latest"] | None = None


class Metric(BaseModel):
    """One metric of a template, its args resolved except Secret ones."""

    name: str
    provider_type: Literal["web", "job", "prometheus"]
    provider: dict[str, Any]
    """The provider's own block (``provider.<type>``), as written."""
    interval_seconds: float | None = None
    initial_delay_seconds: float | None = None
    count: int | None = None
    success_condition: str = ""
    failure_condition: str = ""
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = DEFAULT_CONSECUTIVE_ERROR_LIMIT
    interval: str = ""
    """As written (for the status and people)."""

    def effective_count(self) -> int | None:
        """Argo Rollouts' ``EffectiveCount``: no count (or 0) and no interval → 1;
        no count with an interval → unlimited (None)."""
        if not self.count:
            return 1 if self.interval_seconds is None else None
        return self.count

    def spec(self) -> dict[str, Any]:
        """The metric in Argo Rollouts' YAML shape (the AnalysisRun's ``spec.metrics[]``)."""
        out: dict[str, Any] = {"name": self.name}
        if self.interval:
            out["interval"] = self.interval
        if self.count is not None:
            out["count"] = self.count
        if self.success_condition:
            out["successCondition"] = self.success_condition
        if self.failure_condition:
            out["failureCondition"] = self.failure_condition
        out["failureLimit"] = self.failure_limit
        out["inconclusiveLimit"] = self.inconclusive_limit
        out["consecutiveErrorLimit"] = self.consecutive_error_limit
        out["provider"] = {self.provider_type: self.provider}
        return out


class Template(BaseModel):
    """An AnalysisTemplate or ClusterAnalysisTemplate's ``spec``, metrics not yet arg-resolved."""

    name: str
    cluster_scope: bool = False
    metrics: list[dict[str, Any]] = Field(default_factory=list)
    args: list[Argument] = Field(default_factory=list)
    dry_run: list[str] = Field(default_factory=list)
    """``spec.dryRun[].metricName``: regular expressions (``.*`` for all), as Argo Rollouts."""
    measurement_retention: dict[str, int] = Field(default_factory=dict)


class TemplateRef(BaseModel):
    template_name: str
    cluster_scope: bool = False

    def describe(self) -> str:
        kind = "ClusterAnalysisTemplate" if self.cluster_scope else "AnalysisTemplate"
        return f"{kind} {self.template_name}"


class RunSpec(BaseModel):
    """What an AnalysisRun measures: the merged metrics, args and dry-run rules."""

    metrics: list[Metric]
    args: list[Argument] = Field(default_factory=list)
    dry_run: list[str] = Field(default_factory=list)
    measurement_retention: dict[str, int] = Field(default_factory=dict)

    def is_dry_run(self, metric: str) -> bool:
        """Argo Rollouts matches ``dryRun[].metricName`` as a regular expression (``regexp.MatchString``)."""
        return any(re.search(pattern, metric) for pattern in self.dry_run)

    def retention(self, metric: str) -> int:
        """Measurements kept per metric: ``measurementRetention[].limit`` or Argo Rollouts' default 10."""
        for pattern, limit in self.measurement_retention.items():
            if limit > 0 and re.search(pattern, metric):
                return limit
        return 10

    def secret_args(self) -> list[Argument]:
        return [arg for arg in self.args if arg.secret is not None and arg.value is None]

    def spec(self) -> dict[str, Any]:
        """The AnalysisRun's ``spec`` in Argo Rollouts' shape (Secret args as references only)."""
        args: list[dict[str, Any]] = []
        for arg in self.args:
            if arg.secret is not None and arg.value is None:
                args.append(
                    {"name": arg.name, "valueFrom": {"secretKeyRef": {"name": arg.secret.name, "key": arg.secret.key}}}
                )
            else:
                args.append({"name": arg.name, "value": arg.value or ""})
        out: dict[str, Any] = {"metrics": [m.spec() for m in self.metrics]}
        if args:
            out["args"] = args
        if self.dry_run:
            out["dryRun"] = [{"metricName": p} for p in self.dry_run]
        if self.measurement_retention:
            out["measurementRetention"] = [{"metricName": p, "limit": n} for p, n in self.measurement_retention.items()]
        return out


# ------------------------------------------------------------------------- parsing


def _where(template: str, field: str) -> str:
    return f"{template}: {field}"


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AnalysisSpecError(f"{where} must be an object")
    return dict(value)


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AnalysisSpecError(f"{where} must be a list")
    return value


def _parse_args(raw: Any, where: str, *, rollout: bool) -> list[Argument]:
    args: list[Argument] = []
    for i, item in enumerate(_list(raw, where)):
        at = f"{where}[{i}]"
        item = _mapping(item, at)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise AnalysisSpecError(f"{at}.name is required")
        unknown = set(item) - {"name", "value", "valueFrom"}
        if unknown:
            raise AnalysisSpecError(f"{at} ({name}): fields {sorted(unknown)} are not supported")
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            value = str(value)
        arg = Argument(name=name, value=value)
        value_from = _mapping(item.get("valueFrom"), f"{at}.valueFrom")
        if value_from and value is not None:
            raise AnalysisSpecError(f"{at} ({name}) has both value and valueFrom")
        allowed = {"podTemplateHashValue", "fieldRef"} if rollout else {"secretKeyRef", "fieldRef"}
        unknown = set(value_from) - allowed
        if unknown:
            raise AnalysisSpecError(
                f"{at}.valueFrom ({name}): {sorted(unknown)} not supported (supported: {sorted(allowed)})"
            )
        if "secretKeyRef" in value_from:
            ref = _mapping(value_from["secretKeyRef"], f"{at}.valueFrom.secretKeyRef")
            if not ref.get("name") or not ref.get("key"):
                raise AnalysisSpecError(f"{at}.valueFrom.secretKeyRef ({name}) needs name and key")
            arg.secret = SecretRef(name=str(ref["name"]), key=str(ref["key"]))
        if "fieldRef" in value_from:
            ref = _mapping(value_from["fieldRef"], f"{at}.valueFrom.fieldRef")
            path = ref.get("fieldPath")
            if not isinstance(path, str) or not _FIELD_PATH.fullmatch(path):
                raise AnalysisSpecError(
                    f"{at}.valueFrom.fieldRef.fieldPath ({name}) {path!r} is not supported: "
                    "use metadata.name, metadata.namespace, metadata.uid, metadata.labels['k'] "
                    "or metadata.annotations['k'] of the Rollout"
                )
            arg.field_path = path
        if "podTemplateHashValue" in value_from:
            hash_value = value_from["podTemplateHashValue"]
            if hash_value not in ("Stable", "Latest"):
                raise AnalysisSpecError(f"{at}.valueFrom.podTemplateHashValue ({name}) must be Stable or Latest")
            arg.pod_template_hash = hash_value
        args.append(arg)
    return args


def parse_template(obj: Mapping[str, Any]) -> Template:
    """An AnalysisTemplate or ClusterAnalysisTemplate resource (checked; metrics stay raw until args resolve)."""
    kind = str(obj.get("kind") or "AnalysisTemplate")
    name = str((obj.get("metadata") or {}).get("name") or "")
    where = f"{kind} {name}"
    spec = _mapping(obj.get("spec"), f"{where}: spec")
    unknown = set(spec) - _SPEC_FIELDS
    if unknown:
        raise AnalysisSpecError(f"{where}: spec fields {sorted(unknown)} are not supported")
    metrics = [
        _mapping(m, _where(where, f"spec.metrics[{i}]")) for i, m in enumerate(_list(spec.get("metrics"), where))
    ]
    if not metrics:
        raise AnalysisSpecError(f"{where}: spec.metrics must have at least one metric")
    for i, metric in enumerate(metrics):
        _check_metric_fields(metric, _where(where, f"spec.metrics[{i}]"))
    return Template(
        name=name,
        cluster_scope=kind == "ClusterAnalysisTemplate",
        metrics=metrics,
        args=_parse_args(spec.get("args"), _where(where, "spec.args"), rollout=False),
        dry_run=_parse_dry_run(spec.get("dryRun"), _where(where, "spec.dryRun")),
        measurement_retention=_parse_retention(
            spec.get("measurementRetention"), _where(where, "spec.measurementRetention")
        ),
    )


def _parse_dry_run(raw: Any, where: str) -> list[str]:
    patterns: list[str] = []
    for i, item in enumerate(_list(raw, where)):
        name = _mapping(item, f"{where}[{i}]").get("metricName")
        if not isinstance(name, str) or not name:
            raise AnalysisSpecError(f"{where}[{i}].metricName is required")
        _check_regex(name, f"{where}[{i}].metricName")
        patterns.append(name)
    return patterns


def _parse_retention(raw: Any, where: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, item in enumerate(_list(raw, where)):
        item = _mapping(item, f"{where}[{i}]")
        name, limit = item.get("metricName"), item.get("limit")
        if not isinstance(name, str) or not name or not isinstance(limit, int):
            raise AnalysisSpecError(f"{where}[{i}] needs metricName and an integer limit")
        _check_regex(name, f"{where}[{i}].metricName")
        out[name] = limit
    return out


def _check_regex(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise AnalysisSpecError(f"{where} {pattern!r} is not a regular expression: {exc}") from None


def _check_metric_fields(metric: dict[str, Any], where: str) -> None:
    name = metric.get("name")
    if not isinstance(name, str) or not name:
        raise AnalysisSpecError(f"{where}.name is required")
    where = f"{where} ({name})"
    unknown = set(metric) - _METRIC_FIELDS
    if unknown:
        raise AnalysisSpecError(f"{where}: fields {sorted(unknown)} are not supported")
    provider = _mapping(metric.get("provider"), f"{where}.provider")
    if len(provider) != 1:
        raise AnalysisSpecError(f"{where}.provider must name exactly one provider (supported: {', '.join(PROVIDERS)})")
    ((kind, block),) = provider.items()
    if kind not in PROVIDERS:
        raise AnalysisSpecError(
            f"{where}.provider.{kind} is not supported by Bosun (supported: {', '.join(PROVIDERS)})"
        )
    block = _mapping(block, f"{where}.provider.{kind}")
    unknown = set(block) - _PROVIDER_FIELDS[kind]
    if unknown:
        raise AnalysisSpecError(f"{where}.provider.{kind}: fields {sorted(unknown)} are not supported")


def parse_template_refs(analysis: Mapping[str, Any]) -> list[TemplateRef]:
    """``templates[]`` of a rollout's analysis block."""
    refs: list[TemplateRef] = []
    for i, item in enumerate(_list(analysis.get("templates"), "analysis.templates")):
        item = _mapping(item, f"analysis.templates[{i}]")
        name = item.get("templateName")
        if not isinstance(name, str) or not name:
            raise AnalysisSpecError(f"analysis.templates[{i}].templateName is required")
        refs.append(TemplateRef(template_name=name, cluster_scope=bool(item.get("clusterScope"))))
    if not refs:
        raise AnalysisSpecError("analysis.templates must name at least one template")
    return refs


# ------------------------------------------------------------------------- args


def resolve_field_path(rollout: Mapping[str, Any], path: str) -> str:
    """Kubernetes' ``fieldpath.ExtractFieldPathAsString`` for the Rollout's metadata (what Argo Rollouts reads)."""
    match = _FIELD_PATH.fullmatch(path)
    if match is None:
        raise AnalysisSpecError(f"fieldRef {path!r} is not supported")
    meta = rollout.get("metadata") or {}
    field, key = match.group(1), match.group(2)
    if field in ("labels", "annotations"):
        values = meta.get(field) or {}
        if key is None:
            return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
        return str(values.get(key, ""))
    return str(meta.get(field) or "")


def merge_args(template_args: list[Argument], incoming: list[Argument]) -> list[Argument]:
    """Argo Rollouts' ``MergeArgs``: incoming (rollout) args override a template arg of the same
    name (a value, else its valueFrom); incoming args no template declares are dropped; an arg
    left with neither value nor valueFrom is an error."""
    merged = [arg.model_copy() for arg in template_args]
    for arg in incoming:
        for i, existing in enumerate(merged):
            if existing.name != arg.name:
                continue
            if arg.value is not None:
                merged[i] = Argument(name=arg.name, value=arg.value)
            elif arg.field_path or arg.pod_template_hash or arg.secret:
                merged[i] = arg.model_copy()
    for arg in merged:
        if arg.value is None and arg.secret is None and arg.field_path is None and arg.pod_template_hash is None:
            raise AnalysisSpecError(
                f"args.{arg.name} was not resolved: the template requires it and no value was given"
            )
    return merged


def _combine_template_args(templates: list[Template]) -> list[Argument]:
    """Args of several templates: one of each name; the same name with different values is an error
    (Argo Rollouts' ``validateArgs`` in ``NewAnalysisRunFromTemplates``)."""
    combined: dict[str, Argument] = {}
    for template in templates:
        for arg in template.args:
            seen = combined.get(arg.name)
            if seen is None or (seen.value is None and seen.secret is None and seen.field_path is None):
                combined[arg.name] = arg
            elif arg.value is not None and seen.value is not None and arg.value != seen.value:
                raise AnalysisSpecError(
                    f"args.{arg.name} has different values in the templates ({seen.value!r} and {arg.value!r})"
                )
    return list(combined.values())


def substitute_args(value: Any, values: Mapping[str, str], *, leave: frozenset[str] = frozenset()) -> Any:
    """``{{args.<name>}}`` replaced in every string of ``value`` (Argo Rollouts' ``ResolveArgs``);
    names in ``leave`` (Secret args) stay as they are; any other unknown name is an error."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return values[name]
            if name in leave:
                return match.group(0)
            raise AnalysisSpecError(f"failed to resolve {{{{args.{name}}}}}: no such arg")

        return _ARG.sub(replace, value)
    if isinstance(value, list):
        return [substitute_args(v, values, leave=leave) for v in value]
    if isinstance(value, Mapping):
        return {k: substitute_args(v, values, leave=leave) for k, v in value.items()}
    return value


def arg_references(value: Any) -> set[str]:
    """The arg names ``{{args.<name>}}`` mentions in ``value``."""
    if isinstance(value, str):
        return set(_ARG.findall(value))
    if isinstance(value, list):
        return set().union(*(arg_references(v) for v in value)) if value else set()
    if isinstance(value, Mapping):
        return set().union(*(arg_references(v) for v in value.values())) if value else set()
    return set()


def _int_field(metric: Mapping[str, Any], field: str, where: str, default: int | None) -> int | None:
    raw = metric.get(field)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise AnalysisSpecError(f"{where}.{field} {raw!r} is not an integer") from None


def _duration_field(metric: Mapping[str, Any], field: str, where: str) -> tuple[str, float | None]:
    raw = metric.get(field)
    if raw is None or raw == "":
        return "", None
    try:
        return str(raw), parse_go_duration(str(raw)).total_seconds()
    except ValueError as exc:
        raise AnalysisSpecError(f"{where}.{field}: {exc}") from None


def _metric(raw: Mapping[str, Any], where: str, secret_names: frozenset[str]) -> Metric:
    name = str(raw["name"])
    where = f"{where} ({name})"
    for field in ("interval", "initialDelay", "count", "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit"):
        if arg_references(raw.get(field)) & secret_names:
            raise AnalysisSpecError(f"{where}.{field} may not use a Secret arg")
    ((kind, block),) = dict(raw["provider"]).items()
    interval, interval_seconds = _duration_field(raw, "interval", where)
    _, initial_delay = _duration_field(raw, "initialDelay", where)
    count = _int_field(raw, "count", where, None)
    failure_limit = _int_field(raw, "failureLimit", where, 0) or 0
    inconclusive_limit = _int_field(raw, "inconclusiveLimit", where, 0) or 0
    error_limit = _int_field(raw, "consecutiveErrorLimit", where, DEFAULT_CONSECUTIVE_ERROR_LIMIT) or 0
    # Argo Rollouts' ValidateMetric (utils/analysis/helpers.go)
    if count and count < failure_limit:
        raise AnalysisSpecError(f"{where}: count must be >= failureLimit")
    if count and count < inconclusive_limit:
        raise AnalysisSpecError(f"{where}: count must be >= inconclusiveLimit")
    if count and count > 1 and interval_seconds is None:
        raise AnalysisSpecError(f"{where}: interval must be specified when count > 1")
    for field, value in (
        ("failureLimit", failure_limit),
        ("inconclusiveLimit", inconclusive_limit),
        ("consecutiveErrorLimit", error_limit),
        ("count", count or 0),
    ):
        if value < 0:
            raise AnalysisSpecError(f"{where}: {field} must be >= 0")
    return Metric(
        name=name,
        provider_type=kind,
        provider=dict(block or {}),
        interval=interval,
        interval_seconds=interval_seconds,
        initial_delay_seconds=initial_delay,
        count=count,
        success_condition=str(raw.get("successCondition") or ""),
        failure_condition=str(raw.get("failureCondition") or ""),
        failure_limit=failure_limit,
        inconclusive_limit=inconclusive_limit,
        consecutive_error_limit=error_limit,
    )


def build_run_spec(
    templates: list[Template],
    analysis: Mapping[str, Any],
    *,
    rollout: Mapping[str, Any] | None = None,
    pod_template_hashes: Mapping[str, str] | None = None,
) -> RunSpec:
    """The run spec of a rollout's analysis block (``templates``, ``args``, ``dryRun``,
    ``measurementRetention``) over the loaded ``templates``, as Argo Rollouts'
    ``NewAnalysisRunFromTemplates``: metrics of every template in order (a name twice is an
    error), args merged, every non-Secret arg substituted."""
    unknown = set(analysis) - {"templates", "args", "dryRun", "measurementRetention", "analysisRunMetadata"}
    if unknown:
        raise AnalysisSpecError(f"analysis: fields {sorted(unknown)} are not supported")
    incoming = _parse_args(analysis.get("args"), "analysis.args", rollout=True)
    args = merge_args(_combine_template_args(templates), incoming)
    rollout = rollout or {}
    hashes = pod_template_hashes or {}
    values: dict[str, str] = {}
    for arg in args:
        if arg.value is not None:
            values[arg.name] = arg.value
        elif arg.field_path is not None:
            arg.value = values[arg.name] = resolve_field_path(rollout, arg.field_path)
            arg.field_path = None
        elif arg.pod_template_hash is not None:
            if arg.pod_template_hash not in hashes:
                raise AnalysisSpecError(f"args.{arg.name}: no {arg.pod_template_hash} pod template hash is known")
            arg.value = values[arg.name] = hashes[arg.pod_template_hash]
            arg.pod_template_hash = None
    secrets = frozenset(arg.name for arg in args if arg.value is None and arg.secret is not None)
    metrics: list[Metric] = []
    seen: set[str] = set()
    for template in templates:
        kind = "ClusterAnalysisTemplate" if template.cluster_scope else "AnalysisTemplate"
        for i, raw in enumerate(template.metrics):
            where = f"{kind} {template.name}: spec.metrics[{i}]"
            if raw["name"] in seen:
                raise AnalysisSpecError(f"{where}: two metrics have the same name {raw['name']!r}")
            seen.add(raw["name"])
            metrics.append(_metric(substitute_args(raw, values, leave=secrets), where, secrets))
    dry_run = [p for t in templates for p in t.dry_run] + _parse_dry_run(analysis.get("dryRun"), "analysis.dryRun")
    retention: dict[str, int] = {}
    for template in templates:
        retention.update(template.measurement_retention)
    retention.update(_parse_retention(analysis.get("measurementRetention"), "analysis.measurementRetention"))
    return RunSpec(metrics=metrics, args=args, dry_run=dry_run, measurement_retention=retention)
