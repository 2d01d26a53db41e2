"""A Rollout's spec, typed, and the one table of what Bosun supports of it.

:func:`parse_rollout` reads an ``argoproj.io/v1alpha1`` ``Rollout`` and returns a
:class:`Rollout` with Argo Rollouts' defaults filled in (``utils/defaults/defaults.go``), or
raises :class:`RolloutSpecError` listing *every* problem with its field path, e.g.
``spec.strategy.canary.steps[2].experiment: not supported by Bosun``. The RolloutWorkflow
writes that message into an ``InvalidSpec`` condition, as the Argo Rollouts controller does.

Validation follows Argo Rollouts' ``pkg/apis/rollouts/validation/validation.go`` (messages
quoted from it where it has one). A field is one of three things:

* **supported**: listed in :data:`SUPPORTED`, modeled below;
* **refused**: an Argo Rollouts field Bosun does not implement (in :data:`ARGO_FIELDS` but
  not :data:`SUPPORTED`) -> "not supported by Bosun", never silently ignored;
* **unknown**: neither -> "unknown field".

To support one more field: add it to :data:`SUPPORTED` under its parent, model it, read it in
the matching ``_read_*`` function, and add a row to ``tests/unit/rollouts/test_spec.py``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from bosun.models.errors import ModelError, Problem
from bosun.rollouts.replicas import DEFAULT_MAX_SURGE, DEFAULT_MAX_UNAVAILABLE, IntOrPercent, resolve_int_or_percent
from bosun.rollouts.steps import DurationError, duration_seconds

API_VERSION: Final = "argoproj.io/v1alpha1"
KIND: Final = "Rollout"

DEFAULT_REPLICAS: Final = 1
DEFAULT_REVISION_HISTORY_LIMIT: Final = 10
DEFAULT_PROGRESS_DEADLINE_SECONDS: Final = 600
DEFAULT_SCALE_DOWN_DELAY_SECONDS: Final = 30
DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS: Final = 30
DEFAULT_NGINX_ANNOTATION_PREFIX: Final = "nginx.ingress.kubernetes.io"
GATEWAY_API_PLUGIN: Final = "argoproj-labs/gatewayAPI"

# Which keys Bosun supports at each place of a Rollout (the one table). Places are named by
# their path with list indexes dropped; "*analysis" is any RolloutAnalysis.
SUPPORTED: Final[Mapping[str, frozenset[str]]] = {
    "spec": frozenset(
        {
            "replicas",
            "selector",
            "template",
            "minReadySeconds",
            "revisionHistoryLimit",
            "progressDeadlineSeconds",
            "progressDeadlineAbort",
            "paused",
            "strategy",
        }
    ),
    "spec.strategy": frozenset({"canary", "blueGreen"}),
    "spec.strategy.canary": frozenset(
        {
            "steps",
            "maxSurge",
            "maxUnavailable",
            "canaryService",
            "stableService",
            "scaleDownDelaySeconds",
            "abortScaleDownDelaySeconds",
            "dynamicStableScale",
            "analysis",
            "canaryMetadata",
            "stableMetadata",
            "trafficRouting",
        }
    ),
    "spec.strategy.canary.steps": frozenset({"setWeight", "pause", "setCanaryScale", "analysis"}),
    "spec.strategy.canary.steps.pause": frozenset({"duration"}),
    "spec.strategy.canary.steps.setCanaryScale": frozenset({"replicas", "weight", "matchTrafficWeight"}),
    "spec.strategy.canary.trafficRouting": frozenset({"nginx", "plugins"}),
    "spec.strategy.canary.trafficRouting.nginx": frozenset(
        {"stableIngress", "annotationPrefix", "additionalIngressAnnotations"}
    ),
    "spec.strategy.canary.trafficRouting.plugins": frozenset({GATEWAY_API_PLUGIN}),
    f"spec.strategy.canary.trafficRouting.plugins.{GATEWAY_API_PLUGIN}": frozenset({"httpRoute", "namespace"}),
    "spec.strategy.blueGreen": frozenset(
        {
            "activeService",
            "previewService",
            "autoPromotionEnabled",
            "autoPromotionSeconds",
            "scaleDownDelaySeconds",
            "abortScaleDownDelaySeconds",
            "previewReplicaCount",
            "prePromotionAnalysis",
            "postPromotionAnalysis",
            "activeMetadata",
            "previewMetadata",
        }
    ),
    "*analysis": frozenset({"templates", "args"}),
    "*analysis.background": frozenset({"templates", "args", "startingStep"}),
    "*analysis.templates": frozenset({"templateName", "clusterScope"}),
    "*analysis.args": frozenset({"name", "value", "valueFrom"}),
    "*analysis.args.valueFrom": frozenset({"podTemplateHashValue", "fieldRef"}),
    "*analysis.args.valueFrom.fieldRef": frozenset({"fieldPath"}),
    "*metadata": frozenset({"labels", "annotations"}),
}

# Argo Rollouts' own fields at the same places (pkg/apis/rollouts/v1alpha1/types.go), so a
# field Bosun lacks is "not supported by Bosun" rather than "unknown".
ARGO_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "spec": SUPPORTED["spec"] | {"workloadRef", "restartAt", "analysis", "rollbackWindow"},
    "spec.strategy": SUPPORTED["spec.strategy"],
    "spec.strategy.canary": SUPPORTED["spec.strategy.canary"]
    | {
        "antiAffinity",
        "scaleDownDelayRevisionLimit",
        "pingPong",
        "minPodsPerReplicaSet",
        "replicaProgressThreshold",
    },
    "spec.strategy.canary.steps": SUPPORTED["spec.strategy.canary.steps"]
    | {"experiment", "setHeaderRoute", "setMirrorRoute", "plugin"},
    "spec.strategy.canary.steps.pause": SUPPORTED["spec.strategy.canary.steps.pause"],
    "spec.strategy.canary.steps.setCanaryScale": SUPPORTED["spec.strategy.canary.steps.setCanaryScale"],
    "spec.strategy.canary.trafficRouting": SUPPORTED["spec.strategy.canary.trafficRouting"]
    | {
        "istio",
        "alb",
        "smi",
        "ambassador",
        "appMesh",
        "traefik",
        "apisix",
        "managedRoutes",
        "maxTrafficWeight",
    },
    "spec.strategy.canary.trafficRouting.nginx": SUPPORTED["spec.strategy.canary.trafficRouting.nginx"]
    | {"stableIngresses", "canaryIngressAnnotations"},
    f"spec.strategy.canary.trafficRouting.plugins.{GATEWAY_API_PLUGIN}": SUPPORTED[
        f"spec.strategy.canary.trafficRouting.plugins.{GATEWAY_API_PLUGIN}"
    ]
    | {"httpRoutes", "grpcRoute", "grpcRoutes", "tcpRoute", "tcpRoutes", "useHeaderRoutes", "configMap"},
    "spec.strategy.blueGreen": SUPPORTED["spec.strategy.blueGreen"]
    | {"maxUnavailable", "scaleDownDelayRevisionLimit", "antiAffinity"},
    "*analysis": SUPPORTED["*analysis"] | {"dryRun", "measurementRetention", "analysisRunMetadata"},
    "*analysis.background": SUPPORTED["*analysis.background"]
    | {"dryRun", "measurementRetention", "analysisRunMetadata"},
    "*analysis.templates": SUPPORTED["*analysis.templates"],
    "*analysis.args": SUPPORTED["*analysis.args"],
    "*analysis.args.valueFrom": SUPPORTED["*analysis.args.valueFrom"],
    "*analysis.args.valueFrom.fieldRef": SUPPORTED["*analysis.args.valueFrom.fieldRef"],
    "*metadata": SUPPORTED["*metadata"],
}

_NOT_SUPPORTED = "not supported by Bosun"
_INVALID_STEP = "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause"


class RolloutSpecError(ModelError):
    """A Rollout Bosun cannot run: ``.problems`` lists each field path and what is wrong."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (RolloutSpecError, (self.source, self.problems))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class PodMetadata(_Frozen):
    """``canaryMetadata`` / ``stableMetadata`` / ``activeMetadata`` / ``previewMetadata``:
    labels and annotations added to that side's pods."""

    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class TemplateRef(_Frozen):
    template_name: str
    cluster_scope: bool = False
    """True: a ``ClusterAnalysisTemplate``; else an ``AnalysisTemplate`` in the Rollout's namespace."""


class ArgValueFrom(_Frozen):
    pod_template_hash_value: Literal["Stable", "Latest"] | None = None
    field_path: str | None = None
    """``valueFrom.fieldRef.fieldPath`` of the Rollout, e.g. ``metadata.name``."""


class AnalysisArg(_Frozen):
    name: str
    value: str | None = None
    value_from: ArgValueFrom | None = None


class RolloutAnalysis(_Frozen):
    """An ``analysis`` step, ``prePromotionAnalysis`` or ``postPromotionAnalysis``."""

    templates: tuple[TemplateRef, ...]
    args: tuple[AnalysisArg, ...] = ()


class BackgroundAnalysis(RolloutAnalysis):
    """``canary.analysis``: runs alongside the steps from ``startingStep`` on."""

    starting_step: int | None = None


class Pause(_Frozen):
    duration_seconds: int | None = None
    """None: pause until promoted."""


class SetCanaryScale(_Frozen):
    replicas: int | None = None
    weight: int | None = None
    match_traffic_weight: bool = False


class CanaryStep(_Frozen):
    set_weight: int | None = None
    pause: Pause | None = None
    set_canary_scale: SetCanaryScale | None = None
    analysis: RolloutAnalysis | None = None


class NginxTrafficRouting(_Frozen):
    stable_ingress: str
    annotation_prefix: str = DEFAULT_NGINX_ANNOTATION_PREFIX
    additional_ingress_annotations: dict[str, str] = Field(default_factory=dict)


class GatewayAPITrafficRouting(_Frozen):
    """The ``argoproj-labs/gatewayAPI`` plugin's configuration: one ``HTTPRoute``."""

    http_route: str
    namespace: str | None = None
    """The HTTPRoute's namespace; None: the Rollout's."""


class TrafficRouting(_Frozen):
    nginx: NginxTrafficRouting | None = None
    gateway_api: GatewayAPITrafficRouting | None = None


class CanaryStrategy(_Frozen):
    steps: tuple[CanaryStep, ...] = ()
    max_surge: IntOrPercent = DEFAULT_MAX_SURGE
    max_unavailable: IntOrPercent = DEFAULT_MAX_UNAVAILABLE
    canary_service: str = ""
    stable_service: str = ""
    scale_down_delay_seconds: int | None = None
    abort_scale_down_delay_seconds: int | None = None
    dynamic_stable_scale: bool = False
    analysis: BackgroundAnalysis | None = None
    canary_metadata: PodMetadata | None = None
    stable_metadata: PodMetadata | None = None
    traffic_routing: TrafficRouting | None = None

    def scale_down_delay(self) -> int:
        """Seconds before the old stable is scaled down after promotion (Argo's
        ``GetScaleDownDelaySecondsOrDefault``): 30 by default with a traffic router, 0 without."""
        if self.traffic_routing is None:
            return 0
        if self.scale_down_delay_seconds is None:
            return DEFAULT_SCALE_DOWN_DELAY_SECONDS
        return self.scale_down_delay_seconds

    def abort_scale_down_delay(self) -> int | None:
        """Seconds before an aborted canary is scaled down (Argo's
        ``GetAbortScaleDownDelaySecondsOrDefault``): 0 without a traffic router; with one 30 by
        default, and None (never) when set to 0."""
        if self.traffic_routing is None:
            return 0
        if self.abort_scale_down_delay_seconds is None:
            return DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
        return self.abort_scale_down_delay_seconds or None


class BlueGreenStrategy(_Frozen):
    active_service: str
    preview_service: str = ""
    auto_promotion_enabled: bool = True
    auto_promotion_seconds: int = 0
    """0: promote as soon as the preview is ready (if auto-promotion is enabled)."""
    scale_down_delay_seconds: int = DEFAULT_SCALE_DOWN_DELAY_SECONDS
    abort_scale_down_delay_seconds: int | None = None
    preview_replica_count: int | None = None
    pre_promotion_analysis: RolloutAnalysis | None = None
    post_promotion_analysis: RolloutAnalysis | None = None
    active_metadata: PodMetadata | None = None
    preview_metadata: PodMetadata | None = None

    def abort_scale_down_delay(self) -> int | None:
        """Seconds before an aborted preview is scaled down: 30 by default, None (never) when
        set to 0 (Argo's ``GetAbortScaleDownDelaySecondsOrDefault``)."""
        if self.abort_scale_down_delay_seconds is None:
            return DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
        return self.abort_scale_down_delay_seconds or None


class Rollout(_Frozen):
    """A Rollout's identity and spec, defaults applied."""

    name: str
    namespace: str = ""
    generation: int = 0
    replicas: int = DEFAULT_REPLICAS
    selector: dict[str, Any]
    """The label selector as written (``matchLabels`` / ``matchExpressions``)."""
    template: dict[str, Any]
    """The pod template as written; :func:`bosun.rollouts.hash.pod_template_hash` hashes it."""
    min_ready_seconds: int = 0
    revision_history_limit: int = DEFAULT_REVISION_HISTORY_LIMIT
    progress_deadline_seconds: int = DEFAULT_PROGRESS_DEADLINE_SECONDS
    progress_deadline_abort: bool = False
    paused: bool = False
    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None

    @property
    def strategy(self) -> Literal["canary", "blueGreen"]:
        return "canary" if self.canary is not None else "blueGreen"


def parse_rollout(obj: Mapping[str, Any]) -> Rollout:
    """Read a Rollout object (as applied or as read from the cluster; ``status`` is not
    looked at). Raises :class:`RolloutSpecError` with every problem found."""
    r = _Reader()
    meta = r.mapping(obj.get("metadata"), "metadata") or {}
    name = r.string(meta, "name", "metadata", required=True) or ""
    namespace = r.string(meta, "namespace", "metadata") or ""
    generation = r.integer(meta, "generation", "metadata", default=0)
    source = f"Rollout {namespace}/{name}" if namespace else f"Rollout {name or '(unnamed)'}"
    if obj.get("apiVersion") != API_VERSION or obj.get("kind") != KIND:
        r.problem("", f"not an {API_VERSION} {KIND} (apiVersion {obj.get('apiVersion')!r}, kind {obj.get('kind')!r})")
    spec = r.mapping(obj.get("spec"), "spec", required=True) or {}
    r.keys(spec, "spec", "spec")
    replicas = r.integer(spec, "replicas", "spec", default=DEFAULT_REPLICAS)
    selector = r.mapping(spec.get("selector"), "spec.selector", required=True) or {}
    if (
        selector is not None
        and "selector" in spec
        and not (selector.get("matchLabels") or selector.get("matchExpressions"))
    ):
        r.problem("spec.selector", "empty selector is invalid for deployment")
    template = r.mapping(spec.get("template"), "spec.template", required=True) or {}
    min_ready = r.integer(spec, "minReadySeconds", "spec", default=0)
    history = r.integer(spec, "revisionHistoryLimit", "spec", default=DEFAULT_REVISION_HISTORY_LIMIT)
    deadline = r.integer(spec, "progressDeadlineSeconds", "spec", default=DEFAULT_PROGRESS_DEADLINE_SECONDS)
    if deadline <= min_ready:  # as Argo, also for the default 600
        r.problem("spec.progressDeadlineSeconds", "must be greater than minReadySeconds")
    deadline_abort = r.boolean(spec, "progressDeadlineAbort", "spec")
    paused = r.boolean(spec, "paused", "spec")

    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None
    strategy = r.mapping(spec.get("strategy"), "spec.strategy") or {}
    r.keys(strategy, "spec.strategy", "spec.strategy")
    has_canary, has_bg = strategy.get("canary") is not None, strategy.get("blueGreen") is not None
    if has_canary and has_bg:
        r.problem("spec.strategy", "Multiple Strategies can not be listed")
    elif not has_canary and not has_bg:
        r.problem("spec.strategy", "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'")
    elif has_canary:
        canary = _read_canary(r, strategy["canary"])
    else:
        blue_green = _read_blue_green(r, strategy["blueGreen"])

    if r.problems:
        raise RolloutSpecError(source, r.problems)
    return Rollout(
        name=name,
        namespace=namespace,
        generation=generation,
        replicas=replicas,
        selector=dict(selector),
        template=dict(template),
        min_ready_seconds=min_ready,
        revision_history_limit=history,
        progress_deadline_seconds=deadline,
        progress_deadline_abort=deadline_abort,
        paused=paused,
        canary=canary,
        blue_green=blue_green,
    )


def _read_canary(r: _Reader, value: Any) -> CanaryStrategy | None:
    path = "spec.strategy.canary"
    c = r.mapping(value, path)
    if c is None:
        return None
    r.keys(c, path, path)
    traffic = _read_traffic_routing(r, c.get("trafficRouting"), f"{path}.trafficRouting")
    max_surge = r.int_or_percent(c, "maxSurge", path, DEFAULT_MAX_SURGE)
    max_unavailable = r.int_or_percent(c, "maxUnavailable", path, DEFAULT_MAX_UNAVAILABLE)
    if _percent_or_int_value(max_surge) == 0 and _percent_or_int_value(max_unavailable) == 0:
        r.problem(f"{path}.maxSurge", "MaxSurge and MaxUnavailable both can not be zero")
    canary_service = r.string(c, "canaryService", path) or ""
    stable_service = r.string(c, "stableService", path) or ""
    if canary_service and canary_service == stable_service:
        r.problem(
            f"{path}.stableService",
            "This rollout uses the same service for the stable and canary services, "
            "but two different services are required.",
        )
    scale_down = r.optional_integer(c, "scaleDownDelaySeconds", path)
    abort_scale_down = r.optional_integer(c, "abortScaleDownDelaySeconds", path)
    dynamic = r.boolean(c, "dynamicStableScale", path)
    if "trafficRouting" in c and c["trafficRouting"] is not None:
        if not stable_service:
            r.problem(
                f"{path}.stableService", "Canary service and Stable service must to be set to use Traffic Routing"
            )
        if not canary_service:
            r.problem(
                f"{path}.canaryService", "Canary service and Stable service must to be set to use Traffic Routing"
            )
        if scale_down is not None and dynamic:
            r.problem(
                f"{path}.dynamicStableScale", "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds"
            )
    else:
        if scale_down is not None:
            r.problem(
                f"{path}.scaleDownDelaySeconds", "Canary scaleDownDelaySeconds can only be used with traffic routing"
            )
        if dynamic:
            r.problem(f"{path}.dynamicStableScale", "Canary dynamicStableScale can only be used with traffic routing")
    steps: list[CanaryStep] = []
    for i, raw in enumerate(r.items(c.get("steps"), f"{path}.steps")):
        step = _read_step(r, raw, f"{path}.steps[{i}]", traffic_routed=c.get("trafficRouting") is not None)
        if step is not None:
            steps.append(step)
    analysis_value = c.get("analysis")
    background = None
    if analysis_value is not None:
        background = _read_analysis(r, analysis_value, f"{path}.analysis", background=True)
    return CanaryStrategy(
        steps=tuple(steps),
        max_surge=max_surge,
        max_unavailable=max_unavailable,
        canary_service=canary_service,
        stable_service=stable_service,
        scale_down_delay_seconds=scale_down,
        abort_scale_down_delay_seconds=abort_scale_down,
        dynamic_stable_scale=dynamic,
        analysis=background if isinstance(background, BackgroundAnalysis) else None,
        canary_metadata=_read_metadata(r, c.get("canaryMetadata"), f"{path}.canaryMetadata"),
        stable_metadata=_read_metadata(r, c.get("stableMetadata"), f"{path}.stableMetadata"),
        traffic_routing=traffic,
    )


def _percent_or_int_value(value: IntOrPercent) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(value.strip().rstrip("%"))
    except ValueError:
        return -1


def _read_step(r: _Reader, value: Any, path: str, *, traffic_routed: bool) -> CanaryStep | None:
    s = r.mapping(value, path)
    if s is None:
        return None
    r.keys(s, path, "spec.strategy.canary.steps")
    kinds = [k for k in ("setWeight", "pause", "experiment", "analysis") if s.get(k) is not None]
    if len(kinds) > 1:
        r.problem(path, f"{_INVALID_STEP} (found {', '.join(kinds)})")
    if not any(s.get(k) is not None for k in ARGO_FIELDS["spec.strategy.canary.steps"]):
        r.problem(path, _INVALID_STEP)
    weight = r.optional_integer(s, "setWeight", path)
    if weight is not None and not 0 <= weight <= 100:
        r.problem(f"{path}.setWeight", "SetWeight needs to be between 0 and 100")
    pause = None
    if "pause" in s and s["pause"] is not None:
        p = r.mapping(s["pause"], f"{path}.pause")
        if p is not None:
            r.keys(p, f"{path}.pause", "spec.strategy.canary.steps.pause")
            seconds = None
            if p.get("duration") is not None:
                seconds = r.duration(p["duration"], f"{path}.pause.duration")
            pause = Pause(duration_seconds=seconds)
    scale = None
    if s.get("setCanaryScale") is not None:
        sp = f"{path}.setCanaryScale"
        sc = r.mapping(s["setCanaryScale"], sp)
        if sc is not None:
            r.keys(sc, sp, "spec.strategy.canary.steps.setCanaryScale")
            scale = SetCanaryScale(
                replicas=r.optional_integer(sc, "replicas", sp),
                weight=r.optional_integer(sc, "weight", sp),
                match_traffic_weight=r.boolean(sc, "matchTrafficWeight", sp),
            )
            if scale.weight is not None and not 0 <= scale.weight <= 100:
                r.problem(f"{sp}.weight", "must be between 0 and 100")
            if (
                sum(
                    x is not None and x is not False for x in (scale.replicas, scale.weight, scale.match_traffic_weight)
                )
                != 1
            ):
                r.problem(sp, "set exactly one of replicas, weight or matchTrafficWeight")
        if not traffic_routed:
            r.problem("spec.strategy.canary.trafficRouting", "SetCanaryScale requires TrafficRouting to be set")
    analysis = None
    if s.get("analysis") is not None:
        analysis = _read_analysis(r, s["analysis"], f"{path}.analysis", background=False)
    return CanaryStep(set_weight=weight, pause=pause, set_canary_scale=scale, analysis=analysis)


def _read_analysis(r: _Reader, value: Any, path: str, *, background: bool) -> RolloutAnalysis | None:
    a = r.mapping(value, path)
    if a is None:
        return None
    r.keys(a, path, "*analysis.background" if background else "*analysis")
    templates: list[TemplateRef] = []
    raw_templates = r.items(a.get("templates"), f"{path}.templates")
    if not raw_templates:
        r.problem(f"{path}.templates", "at least one template is required")
    for i, raw in enumerate(raw_templates):
        tp = f"{path}.templates[{i}]"
        t = r.mapping(raw, tp)
        if t is None:
            continue
        r.keys(t, tp, "*analysis.templates")
        tname = r.string(t, "templateName", tp, required=True) or ""
        templates.append(TemplateRef(template_name=tname, cluster_scope=r.boolean(t, "clusterScope", tp)))
    args: list[AnalysisArg] = []
    for i, raw in enumerate(r.items(a.get("args"), f"{path}.args")):
        ap = f"{path}.args[{i}]"
        arg = r.mapping(raw, ap)
        if arg is None:
            continue
        r.keys(arg, ap, "*analysis.args")
        aname = r.string(arg, "name", ap, required=True) or ""
        avalue = r.string(arg, "value", ap)
        value_from = None
        if arg.get("valueFrom") is not None:
            vp = f"{ap}.valueFrom"
            vf = r.mapping(arg["valueFrom"], vp) or {}
            r.keys(vf, vp, "*analysis.args.valueFrom")
            hash_value = r.string(vf, "podTemplateHashValue", vp)
            if hash_value is not None and hash_value not in ("Stable", "Latest"):
                r.problem(f"{vp}.podTemplateHashValue", "must be Stable or Latest")
                hash_value = None
            field_path = None
            if vf.get("fieldRef") is not None:
                fp = f"{vp}.fieldRef"
                fr = r.mapping(vf["fieldRef"], fp) or {}
                r.keys(fr, fp, "*analysis.args.valueFrom.fieldRef")
                field_path = r.string(fr, "fieldPath", fp, required=True)
            if (hash_value is None) == (field_path is None):
                r.problem(vp, "set exactly one of podTemplateHashValue or fieldRef")
            value_from = ArgValueFrom(
                pod_template_hash_value=hash_value,  # type: ignore[arg-type]
                field_path=field_path,
            )
        args.append(AnalysisArg(name=aname, value=avalue, value_from=value_from))
    if background:
        starting = r.optional_integer(a, "startingStep", path)
        return BackgroundAnalysis(templates=tuple(templates), args=tuple(args), starting_step=starting)
    return RolloutAnalysis(templates=tuple(templates), args=tuple(args))


def _read_metadata(r: _Reader, value: Any, path: str) -> PodMetadata | None:
    if value is None:
        return None
    m = r.mapping(value, path)
    if m is None:
        return None
    r.keys(m, path, "*metadata")
    return PodMetadata(
        labels=r.string_map(m.get("labels"), f"{path}.labels"),
        annotations=r.string_map(m.get("annotations"), f"{path}.annotations"),
    )


def _read_traffic_routing(r: _Reader, value: Any, path: str) -> TrafficRouting | None:
    if value is None:
        return None
    t = r.mapping(value, path)
    if t is None:
        return None
    r.keys(t, path, "spec.strategy.canary.trafficRouting")
    nginx = None
    if t.get("nginx") is not None:
        np_ = f"{path}.nginx"
        n = r.mapping(t["nginx"], np_)
        if n is not None:
            r.keys(n, np_, "spec.strategy.canary.trafficRouting.nginx")
            nginx = NginxTrafficRouting(
                stable_ingress=r.string(n, "stableIngress", np_, required=True) or "",
                annotation_prefix=r.string(n, "annotationPrefix", np_) or DEFAULT_NGINX_ANNOTATION_PREFIX,
                additional_ingress_annotations=r.string_map(
                    n.get("additionalIngressAnnotations"), f"{np_}.additionalIngressAnnotations"
                ),
            )
    gateway = None
    if t.get("plugins") is not None:
        pp = f"{path}.plugins"
        plugins = r.mapping(t["plugins"], pp)
        if plugins is not None:
            for key in plugins:
                if key != GATEWAY_API_PLUGIN:
                    r.problem(f'{pp}["{key}"]', f"{_NOT_SUPPORTED} (supported plugins: {GATEWAY_API_PLUGIN})")
            if plugins.get(GATEWAY_API_PLUGIN) is not None:
                gp = f'{pp}["{GATEWAY_API_PLUGIN}"]'
                g = r.mapping(plugins[GATEWAY_API_PLUGIN], gp)
                if g is not None:
                    r.keys(g, gp, f"spec.strategy.canary.trafficRouting.plugins.{GATEWAY_API_PLUGIN}")
                    gateway = GatewayAPITrafficRouting(
                        http_route=r.string(g, "httpRoute", gp, required=True) or "",
                        namespace=r.string(g, "namespace", gp),
                    )
    if not any(key in t for key in ARGO_FIELDS["spec.strategy.canary.trafficRouting"]):
        r.problem(path, f"no traffic router set (supported: nginx, plugins.{GATEWAY_API_PLUGIN})")
    return TrafficRouting(nginx=nginx, gateway_api=gateway)


def _read_blue_green(r: _Reader, value: Any) -> BlueGreenStrategy | None:
    path = "spec.strategy.blueGreen"
    b = r.mapping(value, path)
    if b is None:
        return None
    r.keys(b, path, path)
    active = r.string(b, "activeService", path, required=True) or ""
    preview = r.string(b, "previewService", path) or ""
    if active and active == preview:
        r.problem(
            f"{path}.activeService",
            "This rollout uses the same service for the active and preview services, "
            "but two different services are required.",
        )
    pre = post = None
    if b.get("prePromotionAnalysis") is not None:
        pre = _read_analysis(r, b["prePromotionAnalysis"], f"{path}.prePromotionAnalysis", background=False)
    if b.get("postPromotionAnalysis") is not None:
        post = _read_analysis(r, b["postPromotionAnalysis"], f"{path}.postPromotionAnalysis", background=False)
    return BlueGreenStrategy(
        active_service=active,
        preview_service=preview,
        auto_promotion_enabled=r.boolean(b, "autoPromotionEnabled", path, default=True),
        auto_promotion_seconds=r.integer(b, "autoPromotionSeconds", path, default=0),
        scale_down_delay_seconds=r.integer(b, "scaleDownDelaySeconds", path, default=DEFAULT_SCALE_DOWN_DELAY_SECONDS),
        abort_scale_down_delay_seconds=r.optional_integer(b, "abortScaleDownDelaySeconds", path),
        preview_replica_count=r.optional_integer(b, "previewReplicaCount", path),
        pre_promotion_analysis=pre,
        post_promotion_analysis=post,
        active_metadata=_read_metadata(r, b.get("activeMetadata"), f"{path}.activeMetadata"),
        preview_metadata=_read_metadata(r, b.get("previewMetadata"), f"{path}.previewMetadata"),
    )


class _Reader:
    """Reads fields leniently and records a :class:`Problem` for each bad one, so that one
    error lists everything wrong."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def keys(self, obj: Mapping[str, Any], path: str, place: str) -> None:
        """Refuse each key at ``place`` that Bosun does not support (see :data:`SUPPORTED`)."""
        supported = SUPPORTED[place]
        known = ARGO_FIELDS.get(place, supported)
        for key in obj:
            if key in supported:
                continue
            where = f"{path}.{key}"
            if key in known:
                self.problem(where, _NOT_SUPPORTED)
            else:
                hint = difflib.get_close_matches(key, sorted(known), n=1)
                self.problem(where, "unknown field" + (f" (did you mean {hint[0]!r}?)" if hint else ""))

    def mapping(self, value: Any, path: str, *, required: bool = False) -> Mapping[str, Any] | None:
        if value is None:
            if required:
                self.problem(path, "required")
            return None
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a mapping, not {type(value).__name__}")
            return None
        return value

    def items(self, value: Any, path: str) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(path, f"must be a list, not {type(value).__name__}")
            return ()
        return value

    def string(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
        value = obj.get(key)
        if value is None or value == "":
            if required:
                self.problem(f"{path}.{key}", "required")
            return None
        if not isinstance(value, str):
            self.problem(f"{path}.{key}", f"must be a string, not {type(value).__name__}")
            return None
        return value

    def string_map(self, value: Any, path: str) -> dict[str, str]:
        m = self.mapping(value, path)
        if m is None:
            return {}
        out: dict[str, str] = {}
        for k, v in m.items():
            if not isinstance(v, str):
                self.problem(f'{path}["{k}"]', f"must be a string, not {type(v).__name__}")
            else:
                out[str(k)] = v
        return out

    def optional_integer(self, obj: Mapping[str, Any], key: str, path: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(f"{path}.{key}", f"must be an integer, not {type(value).__name__}")
            return None
        if value < 0:
            self.problem(f"{path}.{key}", "must be greater than or equal to 0")
            return None
        return value

    def integer(self, obj: Mapping[str, Any], key: str, path: str, *, default: int) -> int:
        value = self.optional_integer(obj, key, path)
        return default if value is None else value

    def boolean(self, obj: Mapping[str, Any], key: str, path: str, *, default: bool = False) -> bool:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(f"{path}.{key}", f"must be true or false, not {type(value).__name__}")
            return default
        return value

    def int_or_percent(self, obj: Mapping[str, Any], key: str, path: str, default: IntOrPercent) -> IntOrPercent:
        value = obj.get(key)
        if value is None:
            return default
        try:
            if not isinstance(value, int | str):
                raise ValueError(f"must be an integer or a percentage like '25%', not {type(value).__name__}")
            resolve_int_or_percent(value, 100, round_up=True)
        except ValueError as e:
            self.problem(f"{path}.{key}", str(e))
            return default
        if isinstance(value, int) and value < 0:
            self.problem(f"{path}.{key}", "must be greater than or equal to 0")
            return default
        return value

    def duration(self, value: Any, path: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.problem(path, f"must be seconds or a duration like '30s', not {type(value).__name__}")
            return None
        try:
            seconds = duration_seconds(value)
        except DurationError as e:
            self.problem(path, str(e))
            return None
        if seconds < 0:
            self.problem(path, "Duration needs to be greater than 0")
            return None
        return seconds
