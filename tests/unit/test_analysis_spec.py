"""AnalysisTemplates and the run spec a rollout's analysis block makes of them (after Argo
Rollouts' ``utils/analysis/helpers.go`` and its tests)."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.analysis.spec import (
    AnalysisSpecError,
    build_run_spec,
    parse_template,
    parse_template_refs,
    substitute_args,
)


def template(name: str, metrics: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {"metrics": metrics, **spec},
    }


def prom(name: str = "success-rate", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": {"prometheus": {"address": "http://prom:9090", "query": 'sum(x{service="{{args.service-name}}"})'}},
        **fields,
    }


SUCCESS_RATE = template(
    "success-rate",
    [prom(interval="5m", count=3, successCondition="result[0] >= 0.95", failureLimit=1)],
    args=[{"name": "service-name"}, {"name": "api-token", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "t"}}}],
)


def test_docs_example_merges_rollout_args() -> None:
    spec = build_run_spec(
        [parse_template(SUCCESS_RATE)],
        {"templates": [{"templateName": "success-rate"}], "args": [{"name": "service-name", "value": "guestbook"}]},
    )
    (metric,) = spec.metrics
    assert metric.provider["query"] == 'sum(x{service="guestbook"})'
    assert (metric.interval_seconds, metric.count, metric.failure_limit) == (300.0, 3, 1)
    assert metric.consecutive_error_limit == 4  # Argo Rollouts' default
    assert metric.effective_count() == 3
    assert [a.name for a in spec.secret_args()] == ["api-token"]
    assert spec.spec()["args"][1] == {"name": "api-token", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "t"}}}


def test_missing_required_arg_is_an_error() -> None:
    with pytest.raises(AnalysisSpecError, match="args.service-name was not resolved"):
        build_run_spec([parse_template(SUCCESS_RATE)], {"templates": [{"templateName": "success-rate"}]})


def test_secret_placeholders_stay_for_the_activity() -> None:
    t = template(
        "web",
        [{"name": "ok", "provider": {"web": {"url": "http://x/{{args.token}}", "jsonPath": "{$.ok}"}}}],
        args=[{"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    )
    spec = build_run_spec([parse_template(t)], {"templates": [{"templateName": "web"}]})
    assert spec.metrics[0].provider["url"] == "http://x/{{args.token}}"
    assert substitute_args(spec.metrics[0].provider, {"token": "s3cret"})["url"] == "http://x/s3cret"


def test_field_ref_and_pod_template_hash_from_the_rollout() -> None:
    t = template(
        "t",
        [{"name": "m", "provider": {"web": {"url": "http://x/{{args.app}}/{{args.hash}}/{{args.ns}}"}}}],
        args=[{"name": "app"}, {"name": "hash"}, {"name": "ns"}],
    )
    spec = build_run_spec(
        [parse_template(t)],
        {
            "templates": [{"templateName": "t"}],
            "args": [
                {"name": "app", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
                {"name": "ns", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            ],
        },
        rollout={"metadata": {"name": "r", "namespace": "prod", "labels": {"app": "web"}}},
        pod_template_hashes={"Stable": "abc", "Latest": "def"},
    )
    assert spec.metrics[0].provider["url"] == "http://x/web/def/prod"


def test_field_ref_outside_metadata_is_refused() -> None:
    with pytest.raises(AnalysisSpecError, match=r"fieldPath \(app\) 'spec.replicas' is not supported"):
        build_run_spec(
            [parse_template(SUCCESS_RATE)],
            {"templates": [], "args": [{"name": "app", "valueFrom": {"fieldRef": {"fieldPath": "spec.replicas"}}}]},
        )


def test_templates_merge_in_order_and_refuse_duplicate_metrics() -> None:
    a = template("a", [prom("one")], args=[{"name": "service-name", "value": "x"}])
    b = template("b", [prom("two")], args=[{"name": "service-name", "value": "x"}])
    spec = build_run_spec([parse_template(a), parse_template(b)], {"templates": [{"templateName": "a"}]})
    assert [m.name for m in spec.metrics] == ["one", "two"]
    with pytest.raises(AnalysisSpecError, match="two metrics have the same name 'one'"):
        build_run_spec([parse_template(a), parse_template(a)], {})
    c = template("c", [prom("three")], args=[{"name": "service-name", "value": "y"}])
    with pytest.raises(AnalysisSpecError, match="different values"):
        build_run_spec([parse_template(a), parse_template(c)], {})


def test_dry_run_regexes_and_retention() -> None:
    t = template(
        "t", [prom("a"), prom("b")], args=[{"name": "service-name", "value": "x"}], dryRun=[{"metricName": "a"}]
    )
    spec = build_run_spec(
        [parse_template(t)],
        {"dryRun": [{"metricName": "^z.*"}], "measurementRetention": [{"metricName": ".*", "limit": 3}]},
    )
    assert spec.is_dry_run("a") and not spec.is_dry_run("b") and spec.is_dry_run("zed")
    assert spec.retention("b") == 3
    assert build_run_spec([parse_template(t)], {}).retention("b") == 10


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({"name": "m", "provider": {"datadog": {"query": "x"}}}, r"provider.datadog is not supported by Bosun"),
        ({"name": "m", "provider": {"web": {"url": "u", "authentication": {}}}}, r"fields \['authentication'\]"),
        ({"name": "m", "provider": {}}, "exactly one provider"),
        ({"name": "m", "provider": {"web": {"url": "u"}}, "successfulLimit": 1}, r"fields \['successfulLimit'\]"),
        ({"provider": {"web": {"url": "u"}}}, r"spec.metrics\[0\].name is required"),
    ],
)
def test_unsupported_fields_are_refused_naming_them(metric: dict[str, Any], message: str) -> None:
    with pytest.raises(AnalysisSpecError, match=message) as info:
        parse_template(template("tpl", [metric]))
    assert "AnalysisTemplate tpl" in str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"count": 2}, "interval must be specified when count > 1"),
        ({"count": 1, "failureLimit": 2}, "count must be >= failureLimit"),
        ({"failureLimit": -1}, "failureLimit must be >= 0"),
        ({"interval": "5"}, "missing unit"),
        ({"count": "many"}, "not an integer"),
    ],
)
def test_metric_validation_as_argo(fields: dict[str, Any], message: str) -> None:
    t = template("t", [prom(**fields)], args=[{"name": "service-name", "value": "x"}])
    with pytest.raises(AnalysisSpecError, match=message):
        build_run_spec([parse_template(t)], {})


def test_count_from_an_arg() -> None:
    t = template(
        "t", [prom(count="{{args.n}}", interval="1m")], args=[{"name": "n"}, {"name": "service-name", "value": "x"}]
    )
    spec = build_run_spec([parse_template(t)], {"args": [{"name": "n", "value": "4"}]})
    assert spec.metrics[0].count == 4


def test_unlimited_and_single_measurements() -> None:
    t = template("t", [prom("a", interval="1m"), prom("b")], args=[{"name": "service-name", "value": "x"}])
    a, b = build_run_spec([parse_template(t)], {}).metrics
    assert a.effective_count() is None
    assert b.effective_count() == 1


def test_template_refs() -> None:
    refs = parse_template_refs({"templates": [{"templateName": "a"}, {"templateName": "b", "clusterScope": True}]})
    assert [(r.template_name, r.cluster_scope) for r in refs] == [("a", False), ("b", True)]
    with pytest.raises(AnalysisSpecError, match="at least one template"):
        parse_template_refs({})
