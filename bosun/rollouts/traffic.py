"""Traffic routing for a canary: the NGINX canary Ingress and Gateway API HTTPRoute weights.

No traffic flows through Bosun; it writes the objects a router reads:

* **NGINX** (after Argo Rollouts' ``rollout/trafficrouting/nginx/nginx.go``): a second Ingress
  ``<rollout>-<stableIngress>-canary`` built from the stable Ingress, holding only the rules
  whose backend is the stable Service, pointed at the canary Service, with
  ``<prefix>/canary: "true"`` and ``<prefix>/canary-weight: "<weight>"`` (prefix
  ``nginx.ingress.kubernetes.io`` unless ``annotationPrefix``) and the
  ``additionalIngressAnnotations``. :func:`canary_ingress` builds it, to create or to
  merge-patch (annotations, labels, spec).
* **Gateway API** (after the ``argoproj-labs/gatewayAPI`` plugin's ``httproute.go``): in each
  HTTPRoute rule that has both the canary and the stable Service as ``backendRefs``, the
  canary gets the weight and the stable ``100 - weight``. :func:`http_route_with_weights`
  returns the patched route; :func:`http_route_weights_patch` the merge patch.
* **Which weight** to set now: :func:`desired_traffic_weight` (Argo's ``reconcileTrafficRouting``).

To add a router: a builder here, the spec model in :mod:`bosun.rollouts.spec` (its field moves
from ``ARGO_FIELDS`` to ``SUPPORTED``), and tests in ``tests/unit/rollouts/test_traffic.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from bosun.rollouts.replicas import TrafficWeights
from bosun.rollouts.spec import CanaryStrategy, GatewayAPITrafficRouting, NginxTrafficRouting
from bosun.rollouts.steps import weight_at

INGRESS_CLASS_ANNOTATION: Final = "kubernetes.io/ingress.class"
MANAGED_BY_LABEL: Final = "argo-rollouts.argoproj.io/managed-by-rollouts"
_MAX_NAME: Final = 253
_CANARY_SUFFIX: Final = "-canary"


class TrafficRoutingError(ValueError):
    """The router's object cannot carry the canary (e.g. no rule uses the stable Service)."""


def canary_ingress_name(rollout_name: str, stable_ingress: str) -> str:
    """Argo's ``GetCanaryIngressName``: ``<rollout>-<stableIngress>-canary``, cut to 253 characters."""
    prefix = f"{rollout_name}-{stable_ingress}"[: _MAX_NAME - len(_CANARY_SUFFIX)]
    return prefix + _CANARY_SUFFIX


def canary_ingress(
    stable_ingress: Mapping[str, Any],
    *,
    rollout_name: str,
    nginx: NginxTrafficRouting,
    canary_service: str,
    stable_service: str,
    weight: int,
) -> dict[str, Any]:
    """The canary Ingress (``networking.k8s.io/v1``) for ``stable_ingress`` at ``weight``.

    Keeps TLS, ``ingressClassName`` and the ``kubernetes.io/ingress.class`` annotation of the
    stable Ingress; copies only rules with a path whose backend is ``stable_service``, with those
    backends moved to ``canary_service``. The owner reference is the caller's to add (it needs
    the Rollout's uid). Raises :class:`TrafficRoutingError` if no rule uses the stable Service.
    """
    meta = stable_ingress.get("metadata") or {}
    spec = stable_ingress.get("spec") or {}
    annotations: dict[str, str] = {}
    stable_annotations = meta.get("annotations") or {}
    if INGRESS_CLASS_ANNOTATION in stable_annotations:
        annotations[INGRESS_CLASS_ANNOTATION] = stable_annotations[INGRESS_CLASS_ANNOTATION]
    rules: list[dict[str, Any]] = []
    for rule in spec.get("rules") or []:
        rule = copy.deepcopy(rule)
        uses_stable = False
        for path in (rule.get("http") or {}).get("paths") or []:
            service = (path.get("backend") or {}).get("service") or {}
            if service.get("name") == stable_service:
                uses_stable = True
                service["name"] = canary_service
        if uses_stable:
            rules.append(rule)
    if not rules:
        raise TrafficRoutingError(
            f"ingress `{nginx.stable_ingress}` has no rules using service {stable_service} backend"
        )
    prefix = nginx.annotation_prefix
    for key, value in nginx.additional_ingress_annotations.items():
        annotations[key if key.startswith(prefix) else f"{prefix}/{key}"] = value
    annotations[f"{prefix}/canary"] = "true"
    annotations[f"{prefix}/canary-weight"] = str(weight)
    canary_spec: dict[str, Any] = {"rules": rules}
    if spec.get("tls") is not None:
        canary_spec["tls"] = copy.deepcopy(spec["tls"])
    if spec.get("ingressClassName") is not None:
        canary_spec["ingressClassName"] = spec["ingressClassName"]
    out_meta: dict[str, Any] = {
        "name": canary_ingress_name(rollout_name, nginx.stable_ingress),
        "annotations": annotations,
    }
    if meta.get("namespace"):
        out_meta["namespace"] = meta["namespace"]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": out_meta, "spec": canary_spec}


def canary_ingress_weight(ingress: Mapping[str, Any], annotation_prefix: str) -> int | None:
    """The ``canary-weight`` a canary Ingress carries now, or None."""
    value = ((ingress.get("metadata") or {}).get("annotations") or {}).get(f"{annotation_prefix}/canary-weight")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _rules_with_both(route: Mapping[str, Any], canary_service: str, stable_service: str) -> list[int]:
    hits = []
    for i, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        names = {ref.get("name") for ref in rule.get("backendRefs") or [] if isinstance(ref, Mapping)}
        if canary_service in names and stable_service in names:
            hits.append(i)
    return hits


def http_route_with_weights(
    route: Mapping[str, Any],
    *,
    gateway: GatewayAPITrafficRouting,
    canary_service: str,
    stable_service: str,
    weight: int,
) -> dict[str, Any]:
    """A copy of ``route`` whose rules send ``weight``% to the canary Service and the rest to
    the stable one. Raises :class:`TrafficRoutingError` if no rule has both as backendRefs."""
    hits = _rules_with_both(route, canary_service, stable_service)
    if not hits:
        raise TrafficRoutingError(
            f"HTTPRoute `{gateway.http_route}` has no rule with backendRefs to both "
            f"{canary_service} and {stable_service}"
        )
    out = copy.deepcopy(dict(route))
    rules = out["spec"]["rules"]
    for i in hits:
        for ref in rules[i]["backendRefs"]:
            if ref.get("name") == canary_service:
                ref["weight"] = weight
            elif ref.get("name") == stable_service:
                ref["weight"] = 100 - weight
    return out


def http_route_weights_patch(
    route: Mapping[str, Any],
    *,
    gateway: GatewayAPITrafficRouting,
    canary_service: str,
    stable_service: str,
    weight: int,
) -> dict[str, Any]:
    """The JSON merge patch (``{"spec": {"rules": [...]}}``; a merge patch replaces lists
    whole) that sets the weights of :func:`http_route_with_weights`."""
    patched = http_route_with_weights(
        route, gateway=gateway, canary_service=canary_service, stable_service=stable_service, weight=weight
    )
    return {"spec": {"rules": patched["spec"]["rules"]}}


def http_route_weights(route: Mapping[str, Any], canary_service: str, stable_service: str) -> TrafficWeights | None:
    """The weights the first rule with both Services carries now (a backendRef without
    ``weight`` has Gateway API's default 1), or None if no rule has both."""
    hits = _rules_with_both(route, canary_service, stable_service)
    if not hits:
        return None
    canary = stable = 0
    for ref in route["spec"]["rules"][hits[0]]["backendRefs"]:
        w = ref.get("weight", 1)
        if ref.get("name") == canary_service:
            canary = w
        elif ref.get("name") == stable_service:
            stable = w
    return TrafficWeights(canary=canary, stable=stable)


def desired_traffic_weight(
    canary: CanaryStrategy,
    *,
    current_step_index: int | None,
    fully_promoted: bool,
    aborted: bool,
    canary_available: int,
    at_desired_replicas: bool,
    promote_full: bool = False,
    replicas: int = 1,
    stable_available: int = 0,
    current_weight: int | None = None,
) -> int:
    """The canary weight to set on the router now (Argo's ``reconcileTrafficRouting`` in
    ``rollout/trafficrouting.go``):

    * 0 once fully promoted (the stable *is* the new version);
    * when aborted 0, or with ``dynamicStableScale`` the share the stable cannot carry yet
      (``100 - 100 * stable_available // replicas``);
    * 0 while no canary pod is available;
    * on ``promoteFull``: with ``dynamicStableScale`` the share the canary's available pods
      carry, else the weight set now (``current_weight``) until the stable switches;
    * with no steps 0; while the canary has not reached its step's replica counts
      (``at_desired_replicas``, Argo's ``AtDesiredReplicaCountsForCanary``) the last
      ``setWeight`` *before* the current step; at them the current step's weight; past the
      last step 100.
    """
    if fully_promoted:
        return 0
    if aborted:
        if canary.dynamic_stable_scale and replicas > 0:
            return max(0, 100 - (100 * stable_available) // replicas)
        return 0
    if canary_available == 0:
        return 0
    if promote_full:
        if canary.dynamic_stable_scale and replicas > 0:
            return min(100, (100 * canary_available) // replicas)
        return current_weight or 0
    if current_step_index is None and not canary.steps:
        return 0
    index = current_step_index or 0
    if not at_desired_replicas:
        for step in reversed(canary.steps[:index]):
            if step.set_weight is not None:
                return step.set_weight
        return 0
    if index >= len(canary.steps):
        return 100
    return weight_at(canary.steps, index)
