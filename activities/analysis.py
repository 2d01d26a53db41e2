"""Analysis activities (on the destination cluster's task queue): measure a metric, read
AnalysisTemplates, write the AnalysisRun resource.

Providers, after Argo Rollouts' ``metricproviders/``:

- **web** (``web/web.go``): an HTTP request (``method``, ``headers``, ``body``/``jsonBody``,
  ``timeoutSeconds`` default 10, ``insecure``); a non-2xx answer is an Error measurement; the
  JSON body's ``jsonPath`` (a JSONPath subset: ``{$.data.ok}``, ``{$.items[0].v}``, ``{$}``)
  is the value the conditions see as ``result``;
- **prometheus** (``prometheus/prometheus.go``): ``<address>/api/v1/query``; a vector is
  ``result`` as an array of floats (value ``[0.99]``), a scalar a float;
- **job** (``job/job.go``): a Job from ``provider.job`` in the run's namespace, named
  ``<run uid>.<metric>.<n>`` (DNS-safe), labelled ``analysisrun.argoproj.io/uid`` and annotated
  with the run and metric names, owned by the AnalysisRun; Complete → Successful, Failed →
  Failed. The activity waits for it, heartbeating; cancelled (the run terminated), it deletes
  the Job and the measurement is Successful ("metric terminated"), as Argo Rollouts.

A provider's failure (unreachable, bad JSON, a condition that does not evaluate) is an Error
*measurement*, not a failed activity: Argo Rollouts' ``consecutiveErrorLimit`` counts them.

**Secrets.** The workflow sends Secret args as references (:class:`MeasureInput.secret_args`);
this activity reads the Secret, substitutes ``{{args.<name>}}`` itself and redacts the values
from the measurement's message and value, so no secret value enters the workflow's history.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Destination
from activities.kube import ClusterRegistry, KubeClient, KubeError, UnknownKind
from bosun.analysis.expr import ConditionError, evaluate_result
from bosun.analysis.run import Measurement, Phase
from bosun.analysis.spec import AnalysisSpecError, Argument, Metric, TemplateRef, substitute_args

__all__ = [
    "ANALYSIS_API_VERSION",
    "AnalysisActivities",
    "LoadTemplatesInput",
    "LoadTemplatesResult",
    "MeasureInput",
    "WriteAnalysisRunInput",
    "WriteAnalysisRunResult",
    "job_name",
    "json_path",
]

ANALYSIS_API_VERSION = "argoproj.io/v1alpha1"
JOB_POLL_SECONDS = 1.0
RUN_UID_LABEL = "analysisrun.argoproj.io/uid"
RUN_NAME_ANNOTATION = "analysisrun.argoproj.io/name"
METRIC_NAME_ANNOTATION = "analysisrun.argoproj.io/metric-name"
REDACTED = "*****"


class MeasureInput(BaseModel):
    destination: Destination
    namespace: str
    run_name: str
    run_uid: str = ""
    metric: Metric
    """Its args resolved except Secret ones, whose ``{{args.<name>}}`` this activity substitutes."""
    secret_args: list[Argument] = Field(default_factory=list)
    """References only (``secret.name``/``secret.key``), never values."""
    job_index: int = 1
    """The Job's number for this metric: measurements taken so far + 1 (Argo Rollouts' ``getJobIDSuffix``)."""


class WriteAnalysisRunInput(BaseModel):
    destination: Destination
    namespace: str
    name: str
    spec: dict[str, Any]
    status: dict[str, Any]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner: dict[str, Any] | None = None
    """An ownerReference (the Rollout), set when the AnalysisRun is created."""


class WriteAnalysisRunResult(BaseModel):
    uid: str


class LoadTemplatesInput(BaseModel):
    destination: Destination
    namespace: str
    templates: list[TemplateRef]


class LoadTemplatesResult(BaseModel):
    templates: list[dict[str, Any]]
    """The AnalysisTemplate / ClusterAnalysisTemplate resources, in the order asked."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _kube_error(exc: KubeError) -> ApplicationError:
    return ApplicationError(str(exc), type="KubeError", non_retryable=not exc.retryable)


# ------------------------------------------------------------------------- JSONPath

_JSON_PATH_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+|\*)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def json_path(document: Any, path: str) -> Any:
    """The subset of Kubernetes' JSONPath Argo Rollouts' docs use: ``{$.data.ok}``, ``{$.a[0].b}``,
    ``{$.a['b-c']}``, ``{$.items[*].v}`` (a list), ``{$}``; an absent field is an error."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    elif text.startswith("."):
        pass
    elif text:
        text = "." + text
    values: list[Any] = [document]
    many = False
    pos = 0
    while pos < len(text):
        match = _JSON_PATH_STEP.match(text, pos)
        if match is None:
            raise ValueError(f"jsonPath {path!r}: cannot parse at {text[pos:]!r}")
        pos = match.end()
        field, index, quoted, dquoted = match.groups()
        key = field if field is not None else quoted if quoted is not None else dquoted
        found: list[Any] = []
        for value in values:
            if key is not None:
                if not isinstance(value, dict) or key not in value:
                    raise ValueError(f"jsonPath {path!r}: {key} is not found")
                found.append(value[key])
            elif index == "*":
                many = True
                if isinstance(value, list):
                    found.extend(value)
                elif isinstance(value, dict):
                    found.extend(value.values())
            else:
                if not isinstance(value, list) or int(index) >= len(value):
                    raise ValueError(f"jsonPath {path!r}: array index {index} is out of bounds")
                found.append(value[int(index)])
        values = found
    return values if many else values[0]


def _json_text(value: Any) -> str:
    """How Kubernetes' JSONPath prints a value: scalars bare, objects and arrays as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return _number_text(value)
    return json.dumps(value, separators=(",", ":"))


def _number_text(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` for the usual cases (Prometheus' ``SampleValue.String``)."""
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


# ------------------------------------------------------------------------- names


def job_name(run_uid: str, metric: str, index: int) -> str:
    """Argo Rollouts' ``newJobName``: ``<run uid>.<metric>.<n>``, made a DNS-1123 subdomain."""
    safe_metric = re.sub(r"[^a-z0-9.\-]+", "-", metric.lower()).strip("-.") or "metric"
    name = f"{run_uid}.{safe_metric}.{index}"
    if len(name) > 253:
        name = f"{run_uid}.{safe_metric[: 253 - len(run_uid) - len(str(index)) - 2].rstrip('-.')}.{index}"
    return name


class _Redactor:
    def __init__(self, secrets: list[str]) -> None:
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


# ------------------------------------------------------------------------- activities


class AnalysisActivities:
    def __init__(self, *, clusters: ClusterRegistry) -> None:
        self._clusters = clusters

    def _client(self, destination: Destination) -> KubeClient:
        try:
            return self._clusters.client(destination)
        except KubeError as exc:
            raise _kube_error(exc) from None

    # -- templates

    @activity.defn(name="load_analysis_templates")
    def load_analysis_templates(self, input: LoadTemplatesInput) -> LoadTemplatesResult:
        """Read the AnalysisTemplates (in ``namespace``) and ClusterAnalysisTemplates named."""
        client = self._client(input.destination)
        found: list[dict[str, Any]] = []
        for ref in input.templates:
            kind = "ClusterAnalysisTemplate" if ref.cluster_scope else "AnalysisTemplate"
            meta: dict[str, Any] = {"name": ref.template_name}
            if not ref.cluster_scope:
                meta["namespace"] = input.namespace
            try:
                obj = client.get({"apiVersion": ANALYSIS_API_VERSION, "kind": kind, "metadata": meta})
            except UnknownKind:
                raise ApplicationError(
                    f"the cluster does not serve {kind} ({ANALYSIS_API_VERSION}): are Argo Rollouts' CRDs installed?",
                    type="AnalysisTemplateNotFound",
                    non_retryable=True,
                ) from None
            except KubeError as exc:
                raise _kube_error(exc) from None
            if obj is None:
                where = "" if ref.cluster_scope else f" in namespace {input.namespace}"
                raise ApplicationError(
                    f"{kind} {ref.template_name!r} not found{where}",
                    type="AnalysisTemplateNotFound",
                    non_retryable=True,
                )
            found.append({"apiVersion": ANALYSIS_API_VERSION, "kind": kind, **obj})
        return LoadTemplatesResult(templates=found)

    # -- the AnalysisRun resource

    @activity.defn(name="write_analysis_run")
    def write_analysis_run(self, input: WriteAnalysisRunInput) -> WriteAnalysisRunResult:
        """Create the AnalysisRun (spec, labels, annotations, ownerReference) if it is not
        there, then set its ``status`` through the status subresource."""
        client = self._client(input.destination)
        ref: dict[str, Any] = {
            "apiVersion": ANALYSIS_API_VERSION,
            "kind": "AnalysisRun",
            "metadata": {"name": input.name, "namespace": input.namespace},
        }
        try:
            live = client.get(ref)
            if live is None:
                meta: dict[str, Any] = {"name": input.name, "namespace": input.namespace}
                if input.labels:
                    meta["labels"] = dict(input.labels)
                if input.annotations:
                    meta["annotations"] = dict(input.annotations)
                if input.owner:
                    meta["ownerReferences"] = [input.owner]
                live = client.create({**ref, "metadata": meta, "spec": input.spec})
            patched = client.merge_patch(ref, {"status": input.status}, subresource="status")
            if patched is None:  # a CRD without the status subresource
                client.merge_patch(ref, {"status": input.status})
        except UnknownKind:
            raise ApplicationError(
                f"the cluster does not serve AnalysisRun ({ANALYSIS_API_VERSION}): are Argo Rollouts' CRDs installed?",
                type="UnknownKind",
                non_retryable=True,
            ) from None
        except KubeError as exc:
            raise _kube_error(exc) from None
        return WriteAnalysisRunResult(uid=str((live.get("metadata") or {}).get("uid") or ""))

    # -- measurements

    @activity.defn(name="measure")
    async def measure(self, input: MeasureInput) -> Measurement:
        """One measurement of ``input.metric`` (see the module docstring per provider).

        Async, its blocking calls in threads: a Job that runs for minutes holds none of the
        cluster's activity threads (compare, apply of other apps) while it waits."""
        started = _now()
        redact = _Redactor([])
        try:
            needs_client = bool(input.secret_args) or input.metric.provider_type == "job"
            client = await asyncio.to_thread(self._client, input.destination) if needs_client else None
            values = {}
            if client is not None and input.secret_args:
                values = await asyncio.to_thread(self._secret_values, client, input)
            redact = _Redactor(list(values.values()))
            metric = input.metric.model_copy(
                update={
                    "success_condition": substitute_args(input.metric.success_condition, values),
                    "failure_condition": substitute_args(input.metric.failure_condition, values),
                }
            )
            provider = substitute_args(metric.provider, values)
            if metric.provider_type == "web":
                measurement = await asyncio.to_thread(self._web, provider, metric)
            elif metric.provider_type == "prometheus":
                measurement = await asyncio.to_thread(self._prometheus, provider, metric)
            else:
                assert client is not None
                measurement = await self._job(client, provider, input)
        except (ConditionError, AnalysisSpecError, _MeasureError) as exc:
            measurement = Measurement(phase=Phase.ERROR, message=str(exc))
        measurement.started_at = measurement.started_at or started
        measurement.finished_at = measurement.finished_at or _now()
        measurement.message = redact(measurement.message)
        measurement.value = redact(measurement.value)
        return measurement

    def _secret_values(self, client: KubeClient, input: MeasureInput) -> dict[str, str]:
        values: dict[str, str] = {}
        for arg in input.secret_args:
            assert arg.secret is not None
            try:
                secret = client.get(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": arg.secret.name, "namespace": input.namespace},
                    }
                )
            except KubeError as exc:
                raise _MeasureError(f"args.{arg.name}: reading Secret {arg.secret.name}: {exc}") from None
            data = (secret or {}).get("data") or {}
            if secret is None or arg.secret.key not in data:
                raise _MeasureError(
                    f"args.{arg.name}: Secret {input.namespace}/{arg.secret.name} has no key {arg.secret.key!r}"
                )
            values[arg.name] = base64.b64decode(data[arg.secret.key]).decode("utf-8", "replace")
        return values

    def _web(self, provider: dict[str, Any], metric: Metric) -> Measurement:
        url = str(provider.get("url") or "")
        if not url:
            raise _MeasureError("provider.web.url is required")
        method = str(provider.get("method") or "GET").upper()
        if method not in ("GET", "POST", "PUT"):
            raise _MeasureError(f"provider.web.method {method!r} is not supported (GET, POST, PUT)")
        headers = {str(h.get("key")): str(h.get("value")) for h in provider.get("headers") or []}
        body: bytes | None = None
        if provider.get("jsonBody") is not None:
            body = json.dumps(provider["jsonBody"]).encode()
            headers.setdefault("Content-Type", "application/json")
        elif provider.get("body"):
            body = str(provider["body"]).encode()
        timeout = float(provider.get("timeoutSeconds") or 10)
        document = _json_document(
            _http(
                url, method=method, headers=headers, body=body, timeout=timeout, insecure=bool(provider.get("insecure"))
            )
        )
        try:
            result = json_path(document, str(provider.get("jsonPath") or "{$}"))
        except ValueError as exc:
            raise _MeasureError(f"Could not find JSONPath in body: {exc}") from None
        phase = evaluate_result(result, metric.success_condition, metric.failure_condition)
        return Measurement(phase=Phase(phase), value=_json_text(result))

    def _prometheus(self, provider: dict[str, Any], metric: Metric) -> Measurement:
        address = str(provider.get("address") or "").rstrip("/")
        query = str(provider.get("query") or "")
        if not address or not query:
            raise _MeasureError("provider.prometheus needs address and query")
        headers = {str(h.get("key")): str(h.get("value")) for h in provider.get("headers") or []}
        timeout = float(provider.get("timeout") or 30)
        url = f"{address}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        answer = _json_document(
            _http(
                url, method="GET", headers=headers, body=None, timeout=timeout, insecure=bool(provider.get("insecure"))
            )
        )
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise _MeasureError(f"prometheus query failed: {error}")
        data = answer.get("data") or {}
        kind = data.get("resultType")
        if kind == "vector":
            results = [_sample(s.get("value")) for s in data.get("result") or []]
            value = "[" + ",".join(_number_text(v) for v in results) + "]"
            outcome: Any = results
        elif kind == "scalar":
            outcome = _sample(data.get("result"))
            value = _number_text(outcome)
        else:
            raise _MeasureError(f"Prometheus metric type not supported: {kind}")
        phase = evaluate_result(outcome, metric.success_condition, metric.failure_condition)
        return Measurement(phase=Phase(phase), value=value)

    async def _job(self, client: KubeClient, provider: dict[str, Any], input: MeasureInput) -> Measurement:
        started = _now()
        name = job_name(input.run_uid or input.run_name, input.metric.name, input.job_index)
        template_meta = provider.get("metadata") or {}
        labels = {**(template_meta.get("labels") or {}), RUN_UID_LABEL: input.run_uid}
        annotations = {
            **(template_meta.get("annotations") or {}),
            RUN_NAME_ANNOTATION: input.run_name,
            METRIC_NAME_ANNOTATION: input.metric.name,
        }
        meta: dict[str, Any] = {
            "name": name,
            "namespace": input.namespace,
            "labels": labels,
            "annotations": annotations,
        }
        if input.run_uid:
            meta["ownerReferences"] = [
                {
                    "apiVersion": ANALYSIS_API_VERSION,
                    "kind": "AnalysisRun",
                    "name": input.run_name,
                    "uid": input.run_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": provider.get("spec") or {}}
        try:
            if await asyncio.to_thread(client.get, job) is None:  # a retried activity finds the Job it created
                await asyncio.to_thread(client.create, job)
        except KubeError as exc:
            if exc.retryable:
                raise _kube_error(exc) from None
            raise _MeasureError(f"job create {name} failed: {exc}") from None
        metadata = {"job-name": name, "job-namespace": input.namespace}
        try:
            while True:
                try:
                    live = await asyncio.to_thread(client.get, job)
                except KubeError as exc:
                    if not exc.retryable:
                        raise _MeasureError(f"job {name}: {exc}") from None
                    live = {}
                if live is None:
                    raise _MeasureError(f"job {name} was deleted")
                for condition in (live.get("status") or {}).get("conditions") or []:
                    if condition.get("status") != "True":
                        continue
                    if condition.get("type") == "Complete":
                        return Measurement(phase=Phase.SUCCESSFUL, started_at=started, metadata=metadata)
                    if condition.get("type") == "Failed":
                        message = str(condition.get("message") or condition.get("reason") or "")
                        return Measurement(phase=Phase.FAILED, message=message, started_at=started, metadata=metadata)
                activity.heartbeat(f"job {name} running")
                await asyncio.sleep(JOB_POLL_SECONDS)
        except asyncio.CancelledError:  # the run terminated: Argo Rollouts' job Terminate deletes the Job
            try:
                await asyncio.to_thread(client.delete, job, propagation_policy="Foreground")
                activity.logger.info(f"analysis job {input.namespace}/{name} deleted: the run terminated")
            except KubeError as exc:
                activity.logger.warning(f"analysis job {input.namespace}/{name} not deleted: {exc}")
            raise


class _MeasureError(Exception):
    """A provider's failure: the measurement is an Error (Argo Rollouts counts it toward consecutiveErrorLimit)."""


def _sample(pair: Any) -> float:
    try:
        return float(pair[1])
    except (TypeError, ValueError, IndexError):
        raise _MeasureError(f"unexpected prometheus sample {pair!r}") from None


def _json_document(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _MeasureError(f"Could not parse JSON body: {exc}") from None


def _http(url: str, *, method: str, headers: dict[str, str], body: bytes | None, timeout: float, insecure: bool) -> str:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    context = None
    if insecure and url.startswith("https"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            return str(response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        raise _MeasureError(f"received non 2xx response code: {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _MeasureError(f"{method} {urllib.parse.urlsplit(url)._replace(query='').geturl()}: {exc}") from None
