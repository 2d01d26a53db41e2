"""Rollout activities: the I/O of Bosun acting as the Argo Rollouts controller.

The RolloutWorkflow (:mod:`workflows.rollout`) decides; these activities read and write
the cluster, on the destination cluster's own task queue (they are registered per
cluster in :mod:`worker.main`). All are idempotent, so Temporal may retry any of them:

- :meth:`RolloutActivities.observe_rollout`: the Rollout and the ReplicaSets it owns
  (matched by ownerReference uid), each with its pod-template hash, revision and counts;
- :meth:`RolloutActivities.ensure_replica_set`: the ReplicaSet of one pod-template hash,
  named ``<rollout>-<hash>`` with the ``rollouts-pod-template-hash`` label in its selector
  and pod template, the ``rollout.argoproj.io/revision`` annotation and an ownerReference
  to the Rollout, as Argo Rollouts' ``rollout/replicaset.go`` creates it; created once,
  then its revision and replicas patched;
- :meth:`RolloutActivities.scale_replica_sets` and :meth:`RolloutActivities.delete_replica_sets`;
- :meth:`RolloutActivities.set_service_selector`: a Service's ``rollouts-pod-template-hash``
  selector, as Argo Rollouts' ``rollout/service.go`` switches canary/stable/active/preview
  Services;
- :meth:`RolloutActivities.write_rollout_status`: ``status`` through the status subresource
  (a merge patch of what changed);
- :meth:`RolloutActivities.wait_replica_sets`: heartbeats until the named ReplicaSets have
  the given replicas available (or a deadline), and returns the new observation;
- :meth:`RolloutActivities.set_traffic_weight`: the canary weight on the traffic router (the
  NGINX canary Ingress, created from the stable Ingress, or the Gateway API HTTPRoute's
  backendRef weights), built by :mod:`bosun.rollouts.traffic`;
- :meth:`RolloutActivities.set_scale_down_deadlines`: the
  ``argo-rollouts.argoproj.io/scale-down-deadline`` annotation of ReplicaSets whose scale-down
  is delayed (``scaleDownDelaySeconds``, ``abortScaleDownDelaySeconds``);
- :meth:`RolloutActivities.sync_ephemeral_metadata`: ``canaryMetadata``/``stableMetadata``
  (``previewMetadata``/``activeMetadata``) on a ReplicaSet's pod template and its pods
  (:mod:`bosun.rollouts.metadata`).

Errors: an unreachable cluster or a 5xx is retryable (Temporal retries); a refused object
is non-retryable with the server's message. A ReplicaSet name taken by an object the
Rollout does not own is a non-retryable ``ReplicaSetCollision`` (Argo would bump its
collisionCount; the workflow reports it as a condition).

To extend (e.g. traffic routing): one input model, one ``@activity.defn`` method here,
the method in ``worker.main``'s per-cluster list, and the fake in the workflow tests.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Destination
from activities.kube import ClusterRegistry, KubeClient, KubeError, UnknownKind
from bosun.resources import Manifest
from bosun.rollouts.metadata import EPHEMERAL_METADATA_ANNOTATION, encode_metadata, metadata_patch, parse_metadata
from bosun.rollouts.spec import GatewayAPITrafficRouting, NginxTrafficRouting, PodMetadata
from bosun.rollouts.traffic import (
    MANAGED_BY_LABEL,
    TrafficRoutingError,
    canary_ingress,
    canary_ingress_name,
    canary_ingress_weight,
    http_route_weights,
    http_route_weights_patch,
)

ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"
HASH_LABEL = "rollouts-pod-template-hash"
REVISION_ANNOTATION = "rollout.argoproj.io/revision"
MANAGED_BY_ANNOTATION = "argo-rollouts.argoproj.io/managed-by-rollouts"
"""What Argo Rollouts puts on a Service whose selector it manages."""
SCALE_DOWN_DEADLINE_ANNOTATION = "argo-rollouts.argoproj.io/scale-down-deadline"
"""When a ReplicaSet whose scale-down is delayed goes to 0 (RFC 3339), as Argo Rollouts marks it."""
INGRESS_API_VERSION = "networking.k8s.io/v1"
HTTP_ROUTE_API_VERSION = "gateway.networking.k8s.io/v1"
POLL_SECONDS = 0.5


# ----------------------------------------------------------------------------- contracts


class RolloutTarget(BaseModel):
    """Which Rollout, on which cluster."""

    destination: Destination
    namespace: str
    name: str


class ReplicaSetObservation(BaseModel):
    name: str
    pod_template_hash: str
    revision: int = 0
    replicas: int = 0
    """``spec.replicas``: what it is scaled to."""
    ready: int = 0
    available: int = 0
    observed: bool = True
    """Whether the ReplicaSet controller has seen its latest spec (observedGeneration)."""
    images: list[str] = Field(default_factory=list)
    """Its pod template's container images (``bosun rollout get`` shows them)."""


class RolloutObservation(BaseModel):
    exists: bool
    uid: str = ""
    generation: int = 0
    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    replica_sets: list[ReplicaSetObservation] = Field(default_factory=list)
    services: dict[str, str | None] = Field(default_factory=dict)
    """The Services the spec names → the hash their selector is managed at ("" if not managed
    by this Rollout yet, None if the Service is missing); a Service not listed was not read."""

    def replica_set(self, pod_template_hash: str) -> ReplicaSetObservation | None:
        return next((rs for rs in self.replica_sets if rs.pod_template_hash == pod_template_hash), None)


class EnsureReplicaSetInput(BaseModel):
    target: RolloutTarget
    rollout_uid: str
    pod_template_hash: str
    template: dict[str, Any]
    """The Rollout's ``spec.template``; the hash label is added here."""
    selector: dict[str, Any]
    """The Rollout's ``spec.selector``; the hash label is added to ``matchLabels``."""
    revision: int
    replicas: int
    min_ready_seconds: int = 0
    ephemeral: PodMetadata | None = None
    """The ephemeral metadata (``canaryMetadata`` …) a new ReplicaSet's pods start with."""


class ScaleReplicaSetsInput(BaseModel):
    target: RolloutTarget
    replicas: dict[str, int]
    """ReplicaSet name → ``spec.replicas``."""


class DeleteReplicaSetsInput(BaseModel):
    target: RolloutTarget
    names: list[str]


class ServiceSelectorInput(BaseModel):
    target: RolloutTarget
    service: str
    pod_template_hash: str


class ServiceSelectorResult(BaseModel):
    found: bool
    message: str = ""


class WriteStatusInput(BaseModel):
    target: RolloutTarget
    status: dict[str, Any]
    """The fields that changed since the last write (``None``: remove the field)."""


class WriteStatusResult(BaseModel):
    found: bool


class WaitReplicaSetsInput(BaseModel):
    target: RolloutTarget
    available: dict[str, int]
    """ReplicaSet name → the replicas that must be available (and no more scaled)."""
    timeout_seconds: float = 60.0


class WaitReplicaSetsResult(BaseModel):
    reached: bool
    observation: RolloutObservation


class TrafficWeightInput(BaseModel):
    """Set ``weight`` (percent to the canary) on the Rollout's traffic router: exactly one of
    ``nginx`` / ``gateway_api``."""

    target: RolloutTarget
    rollout_uid: str
    canary_service: str
    stable_service: str
    weight: int
    nginx: NginxTrafficRouting | None = None
    gateway_api: GatewayAPITrafficRouting | None = None


class TrafficWeightResult(BaseModel):
    set: bool
    """False: the router's object is missing or cannot carry the canary (see ``message``)."""
    message: str = ""


class EphemeralMetadataInput(BaseModel):
    target: RolloutTarget
    replica_sets: dict[str, PodMetadata | None]
    """ReplicaSet name → the metadata its pods carry (None: remove what Bosun put there)."""
    pods: list[str] = Field(default_factory=list)
    """The ReplicaSets whose existing pods are synced too (Argo: the current and stable ones)."""


class ScaleDownDeadlinesInput(BaseModel):
    target: RolloutTarget
    deadlines: dict[str, str | None]
    """ReplicaSet name → the RFC 3339 deadline, or None to remove the annotation."""


# ----------------------------------------------------------------------------- activities


def _error(exc: KubeError) -> ApplicationError:
    return ApplicationError(str(exc), type="KubeError", non_retryable=not exc.retryable)


def _ref(api_version: str, kind: str, namespace: str, name: str) -> Manifest:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}


def _service_names(spec: dict[str, Any]) -> list[str]:
    """The Services a Rollout's strategy names (canary/stable, active/preview)."""
    strategy = spec.get("strategy") or {}
    names = []
    for kind, keys in (
        ("canary", ("canaryService", "stableService")),
        ("blueGreen", ("activeService", "previewService")),
    ):
        part = strategy.get(kind) if isinstance(strategy, dict) else None
        if isinstance(part, dict):
            names += [part[k] for k in keys if isinstance(part.get(k), str) and part[k]]
    return sorted(set(names))


def replica_set_name(rollout: str, pod_template_hash: str) -> str:
    """``<rollout>-<hash>``, as Argo Rollouts names a Rollout's ReplicaSets."""
    return f"{rollout}-{pod_template_hash}"


def _observe_replica_set(obj: Manifest) -> ReplicaSetObservation:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    try:
        revision = int((meta.get("annotations") or {}).get(REVISION_ANNOTATION) or 0)
    except ValueError:
        revision = 0
    generation = int(meta.get("generation") or 0)
    return ReplicaSetObservation(
        name=str(meta.get("name") or ""),
        pod_template_hash=str((meta.get("labels") or {}).get(HASH_LABEL) or ""),
        revision=revision,
        replicas=int(spec["replicas"]) if spec.get("replicas") is not None else 1,
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        observed=int(status.get("observedGeneration") or 0) >= generation,
        images=[
            str(c.get("image") or "")
            for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            if isinstance(c, dict)
        ],
    )


class RolloutActivities:
    def __init__(self, *, clusters: ClusterRegistry) -> None:
        self._clusters = clusters

    def _client(self, destination: Destination) -> KubeClient:
        try:
            return self._clusters.client(destination)
        except KubeError as exc:
            raise _error(exc) from None

    def _observe(self, client: KubeClient, target: RolloutTarget) -> RolloutObservation:
        rollout = client.get(_ref(ROLLOUT_API_VERSION, "Rollout", target.namespace, target.name))
        if rollout is None:
            return RolloutObservation(exists=False)
        meta = rollout.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        owned = [
            _observe_replica_set(rs)
            for rs in client.list("apps/v1", "ReplicaSet", namespace=target.namespace)
            if any(ref.get("uid") == uid for ref in (rs.get("metadata") or {}).get("ownerReferences") or [])
        ]
        spec = dict(rollout.get("spec") or {})
        services: dict[str, str | None] = {}
        for name in _service_names(spec):
            live = client.get(_ref("v1", "Service", target.namespace, name))
            if live is None:
                services[name] = None
                continue
            managed = ((live.get("metadata") or {}).get("annotations") or {}).get(MANAGED_BY_ANNOTATION)
            selector = (live.get("spec") or {}).get("selector") or {}
            services[name] = str(selector.get(HASH_LABEL) or "") if managed else ""
        return RolloutObservation(
            exists=True,
            uid=uid,
            generation=int(meta.get("generation") or 0),
            spec=spec,
            status=dict(rollout.get("status") or {}),
            labels=dict(meta.get("labels") or {}),
            replica_sets=sorted(owned, key=lambda rs: rs.revision),
            services=services,
        )

    @activity.defn(name="observe_rollout")
    def observe_rollout(self, input: RolloutTarget) -> RolloutObservation:
        """The Rollout (spec, status) and its ReplicaSets; ``exists=False`` once it is deleted."""
        client = self._client(input.destination)
        try:
            return self._observe(client, input)
        except KubeError as exc:
            raise _error(exc) from None

    @activity.defn(name="ensure_replica_set")
    def ensure_replica_set(self, input: EnsureReplicaSetInput) -> ReplicaSetObservation:
        """Create the ReplicaSet of ``pod_template_hash`` if it is missing; else set its
        revision annotation and replicas. Its template is never changed once created."""
        target = input.target
        client = self._client(target.destination)
        name = replica_set_name(target.name, input.pod_template_hash)
        try:
            live = client.get(_ref("apps/v1", "ReplicaSet", target.namespace, name))
            if live is None:
                return _observe_replica_set(client.create(self._replica_set(input, name)))
            owners = (live.get("metadata") or {}).get("ownerReferences") or []
            if not any(ref.get("uid") == input.rollout_uid for ref in owners):
                raise ApplicationError(
                    f"ReplicaSet {target.namespace}/{name} exists and is not owned by Rollout {target.name}",
                    type="ReplicaSetCollision",
                    non_retryable=True,
                )
            patched = client.merge_patch(
                live,
                {
                    "metadata": {"annotations": {REVISION_ANNOTATION: str(input.revision)}},
                    "spec": {"replicas": input.replicas},
                },
            )
            return _observe_replica_set(patched or live)
        except KubeError as exc:
            raise _error(exc) from None

    def _replica_set(self, input: EnsureReplicaSetInput, name: str) -> Manifest:
        target = input.target
        template = copy.deepcopy(input.template)
        pod_meta = template.setdefault("metadata", {})
        pod_meta["labels"] = {**(pod_meta.get("labels") or {}), HASH_LABEL: input.pod_template_hash}
        rs_labels = dict(pod_meta["labels"])
        annotations = {REVISION_ANNOTATION: str(input.revision)}
        if input.ephemeral is not None:
            pod_meta["labels"] = {**pod_meta["labels"], **input.ephemeral.labels}
            if input.ephemeral.annotations:
                pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), **input.ephemeral.annotations}
            annotations[EPHEMERAL_METADATA_ANNOTATION] = encode_metadata(input.ephemeral) or ""
        selector = copy.deepcopy(input.selector)
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: input.pod_template_hash}
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": target.namespace,
                "labels": rs_labels,
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": ROLLOUT_API_VERSION,
                        "kind": "Rollout",
                        "name": target.name,
                        "uid": input.rollout_uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "replicas": input.replicas,
                "minReadySeconds": input.min_ready_seconds,
                "selector": selector,
                "template": template,
            },
        }

    @activity.defn(name="scale_replica_sets")
    def scale_replica_sets(self, input: ScaleReplicaSetsInput) -> list[ReplicaSetObservation]:
        """Set ``spec.replicas`` of each named ReplicaSet (one that is gone is skipped)."""
        target = input.target
        client = self._client(target.destination)
        scaled = []
        try:
            for name, replicas in sorted(input.replicas.items()):
                patched = client.merge_patch(
                    _ref("apps/v1", "ReplicaSet", target.namespace, name), {"spec": {"replicas": replicas}}
                )
                if patched is not None:
                    scaled.append(_observe_replica_set(patched))
        except KubeError as exc:
            raise _error(exc) from None
        return scaled

    @activity.defn(name="delete_replica_sets")
    def delete_replica_sets(self, input: DeleteReplicaSetsInput) -> list[str]:
        """Delete the named ReplicaSets (beyond ``revisionHistoryLimit``); the names deleted now."""
        target = input.target
        client = self._client(target.destination)
        deleted = []
        try:
            for name in input.names:
                if client.delete(
                    _ref("apps/v1", "ReplicaSet", target.namespace, name), propagation_policy="Background"
                ):
                    deleted.append(name)
        except KubeError as exc:
            raise _error(exc) from None
        return deleted

    @activity.defn(name="set_service_selector")
    def set_service_selector(self, input: ServiceSelectorInput) -> ServiceSelectorResult:
        """Point a Service at one pod-template hash (its ``rollouts-pod-template-hash`` selector)."""
        target = input.target
        client = self._client(target.destination)
        ref = _ref("v1", "Service", target.namespace, input.service)
        try:
            live = client.get(ref)
            if live is None:
                return ServiceSelectorResult(
                    found=False, message=f"Service {target.namespace}/{input.service} not found"
                )
            selector = (live.get("spec") or {}).get("selector") or {}
            annotations = (live.get("metadata") or {}).get("annotations") or {}
            if selector.get(HASH_LABEL) == input.pod_template_hash and annotations.get(MANAGED_BY_ANNOTATION):
                return ServiceSelectorResult(found=True)
            client.merge_patch(
                ref,
                {
                    "metadata": {"annotations": {MANAGED_BY_ANNOTATION: target.name}},
                    "spec": {"selector": {HASH_LABEL: input.pod_template_hash}},
                },
            )
        except KubeError as exc:
            raise _error(exc) from None
        return ServiceSelectorResult(found=True)

    @activity.defn(name="write_rollout_status")
    def write_rollout_status(self, input: WriteStatusInput) -> WriteStatusResult:
        """Merge-patch the Rollout's ``status`` (status subresource) with ``input.status``, which
        holds only what changed (``null`` removes a field): like Argo's controller, which
        patches the difference, so a person's patch to another field is never overwritten."""
        target = input.target
        client = self._client(target.destination)
        ref = _ref(ROLLOUT_API_VERSION, "Rollout", target.namespace, target.name)
        try:
            written = client.merge_patch(ref, {"status": input.status}, subresource="status")
        except KubeError as exc:
            raise _error(exc) from None
        return WriteStatusResult(found=written is not None)

    @activity.defn(name="wait_replica_sets")
    def wait_replica_sets(self, input: WaitReplicaSetsInput) -> WaitReplicaSetsResult:
        """Poll until each named ReplicaSet is scaled to and has exactly its number of
        available replicas, or ``timeout_seconds`` pass; heartbeats as it goes."""
        target = input.target
        client = self._client(target.destination)
        deadline = time.monotonic() + input.timeout_seconds
        while True:
            try:
                observation = self._observe(client, target)
            except KubeError as exc:
                if not exc.retryable:
                    raise _error(exc) from None
                activity.heartbeat(f"cluster unreachable: {exc}")
                time.sleep(POLL_SECONDS)
                continue
            by_name = {rs.name: rs for rs in observation.replica_sets}
            pending = [
                f"{name} {by_name[name].available if name in by_name else 0}/{want}"
                for name, want in sorted(input.available.items())
                if name not in by_name
                or by_name[name].available != want
                or by_name[name].replicas != want
                or not by_name[name].observed
            ]
            if not observation.exists or not pending:
                return WaitReplicaSetsResult(reached=observation.exists, observation=observation)
            activity.heartbeat("waiting for " + ", ".join(pending))
            if time.monotonic() > deadline:
                return WaitReplicaSetsResult(reached=False, observation=observation)
            time.sleep(POLL_SECONDS)

    @activity.defn(name="set_traffic_weight")
    def set_traffic_weight(self, input: TrafficWeightInput) -> TrafficWeightResult:
        """The canary weight on the router; does nothing when it is already set.

        NGINX (Argo Rollouts' ``rollout/trafficrouting/nginx/nginx.go``): the canary Ingress
        ``<rollout>-<stableIngress>-canary`` is created from the stable Ingress, owned by the
        Rollout, or merge-patched (annotations, spec) to the weight. Gateway API (the
        ``argoproj-labs/gatewayAPI`` plugin): the HTTPRoute's rules with both Services get
        the weights. A missing object or one without the stable Service is ``set=False``
        with a message naming it (the workflow reports it), not an error Temporal retries."""
        target = input.target
        client = self._client(target.destination)
        try:
            if input.nginx is not None:
                return self._set_nginx_weight(client, input, input.nginx)
            if input.gateway_api is not None:
                return self._set_http_route_weight(client, input, input.gateway_api)
        except UnknownKind as exc:
            # e.g. the Gateway API CRDs are not installed: reported like a missing object.
            return TrafficWeightResult(set=False, message=str(exc))
        except KubeError as exc:
            raise _error(exc) from None
        except TrafficRoutingError as exc:
            return TrafficWeightResult(set=False, message=str(exc))
        return TrafficWeightResult(set=False, message="no traffic router configured")

    def _set_nginx_weight(
        self, client: KubeClient, input: TrafficWeightInput, nginx: NginxTrafficRouting
    ) -> TrafficWeightResult:
        target = input.target
        stable = client.get(_ref(INGRESS_API_VERSION, "Ingress", target.namespace, nginx.stable_ingress))
        if stable is None:
            return TrafficWeightResult(
                set=False, message=f"Ingress {target.namespace}/{nginx.stable_ingress} (stableIngress) not found"
            )
        desired = canary_ingress(
            stable,
            rollout_name=target.name,
            nginx=nginx,
            canary_service=input.canary_service,
            stable_service=input.stable_service,
            weight=input.weight,
        )
        desired["metadata"]["namespace"] = target.namespace
        desired["metadata"]["labels"] = {MANAGED_BY_LABEL: target.name}
        name = canary_ingress_name(target.name, nginx.stable_ingress)
        live = client.get(_ref(INGRESS_API_VERSION, "Ingress", target.namespace, name))
        if live is None:
            desired["metadata"]["ownerReferences"] = [
                {
                    "apiVersion": ROLLOUT_API_VERSION,
                    "kind": "Rollout",
                    "name": target.name,
                    "uid": input.rollout_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
            client.create(desired)
            return TrafficWeightResult(set=True)
        live_meta = live.get("metadata") or {}
        if (live_meta.get("labels") or {}).get(MANAGED_BY_LABEL) != target.name:
            return TrafficWeightResult(
                set=False,
                message=f"Ingress {target.namespace}/{name} exists and is not managed by Rollout {target.name}",
            )
        annotations = live_meta.get("annotations") or {}
        if (
            canary_ingress_weight(live, nginx.annotation_prefix) == input.weight
            and all(annotations.get(k) == v for k, v in desired["metadata"]["annotations"].items())
            and live.get("spec", {}).get("rules") == desired["spec"]["rules"]
        ):
            return TrafficWeightResult(set=True)
        client.merge_patch(
            live, {"metadata": {"annotations": desired["metadata"]["annotations"]}, "spec": desired["spec"]}
        )
        return TrafficWeightResult(set=True)

    def _set_http_route_weight(
        self, client: KubeClient, input: TrafficWeightInput, gateway: GatewayAPITrafficRouting
    ) -> TrafficWeightResult:
        target = input.target
        namespace = gateway.namespace or target.namespace
        ref = _ref(HTTP_ROUTE_API_VERSION, "HTTPRoute", namespace, gateway.http_route)
        route = client.get(ref)
        if route is None:
            return TrafficWeightResult(set=False, message=f"HTTPRoute {namespace}/{gateway.http_route} not found")
        now = http_route_weights(route, input.canary_service, input.stable_service)
        if now is not None and now.canary == input.weight and now.stable == 100 - input.weight:
            return TrafficWeightResult(set=True)
        patch = http_route_weights_patch(
            route,
            gateway=gateway,
            canary_service=input.canary_service,
            stable_service=input.stable_service,
            weight=input.weight,
        )
        client.merge_patch(ref, patch)
        return TrafficWeightResult(set=True)

    @activity.defn(name="set_scale_down_deadlines")
    def set_scale_down_deadlines(self, input: ScaleDownDeadlinesInput) -> list[str]:
        """Set (or, for None, remove) each ReplicaSet's ``scale-down-deadline`` annotation; the
        names found."""
        target = input.target
        client = self._client(target.destination)
        found = []
        try:
            for name, deadline in sorted(input.deadlines.items()):
                patched = client.merge_patch(
                    _ref("apps/v1", "ReplicaSet", target.namespace, name),
                    {"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: deadline}}},
                )
                if patched is not None:
                    found.append(name)
        except KubeError as exc:
            raise _error(exc) from None
        return found

    @activity.defn(name="sync_ephemeral_metadata")
    def sync_ephemeral_metadata(self, input: EphemeralMetadataInput) -> list[str]:
        """Put each ReplicaSet's ephemeral metadata on its pod template, then (for those in
        ``pods``, scaled above 0) on its existing pods, removing what was put there before and
        is no longer wanted (Argo Rollouts' ``syncEphemeralMetadata``: the ReplicaSet first, so
        pods it creates meanwhile carry the new metadata). The ReplicaSets changed."""
        target = input.target
        client = self._client(target.destination)
        changed = []
        try:
            for name, desired in sorted(input.replica_sets.items()):
                rs = client.get(_ref("apps/v1", "ReplicaSet", target.namespace, name))
                if rs is None:
                    continue
                meta = rs.get("metadata") or {}
                recorded = (meta.get("annotations") or {}).get(EPHEMERAL_METADATA_ANNOTATION)
                existing = parse_metadata(recorded)
                pod_meta = ((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}
                patch = metadata_patch(pod_meta.get("labels"), pod_meta.get("annotations"), existing, desired)
                encoded = encode_metadata(desired)
                if patch is not None or recorded != encoded:
                    body: dict[str, Any] = {"metadata": {"annotations": {EPHEMERAL_METADATA_ANNOTATION: encoded}}}
                    if patch is not None:
                        body["spec"] = {"template": {"metadata": patch}}
                    client.merge_patch(rs, body)
                    changed.append(name)
                replicas = (rs.get("spec") or {}).get("replicas")
                if name not in input.pods or replicas == 0 or (patch is None and existing is None):
                    continue
                uid = meta.get("uid")
                for pod in client.list("v1", "Pod", namespace=target.namespace):
                    pmeta = pod.get("metadata") or {}
                    if not any(ref.get("uid") == uid for ref in pmeta.get("ownerReferences") or []):
                        continue
                    pod_patch = metadata_patch(pmeta.get("labels"), pmeta.get("annotations"), existing, desired)
                    if pod_patch is not None:
                        client.merge_patch(pod, {"metadata": pod_patch})
        except KubeError as exc:
            raise _error(exc) from None
        return changed
