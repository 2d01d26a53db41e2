"""Application model: real-world documents parse and round-trip, helpers answer what the
workflow asks, and every invalid document fails with the source, the Argo CD field path
and the problem."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bosun.models import (
    Application,
    ApplicationDestination,
    ApplicationSource,
    ApplicationSpec,
    Backoff,
    ModelError,
    ObjectMeta,
    RetryStrategy,
    SyncPolicy,
    SyncPolicyAutomated,
    load_yaml_documents,
    parse_application,
    parse_application_yaml,
    parse_backoff_duration,
    parse_go_duration,
    parse_sync_options,
    parse_yaml,
)
from bosun.models.formats import check_cron_schedule, check_repo_url

FIXTURES = Path(__file__).parent / "fixtures" / "models"
APP_FIXTURES = sorted(FIXTURES.glob("app-*.yaml"))


def load(name: str) -> Application:
    path = FIXTURES / name
    return parse_application_yaml(path.read_text(), source_name=path.name)


BASE: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "guestbook", "namespace": "argocd"},
    "spec": {
        "project": "default",
        "source": {
            "repoURL": "https://github.com/argoproj/argocd-example-apps.git",
            "targetRevision": "HEAD",
            "path": "guestbook",
        },
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
    },
}

DELETE = object()


def doc_with(changes: dict[str, Any]) -> dict[str, Any]:
    """BASE with dotted paths set (or removed with DELETE); list indexes as ``a.0.b``."""
    doc = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


# --- documents that must parse -------------------------------------------------------


@pytest.mark.parametrize("path", APP_FIXTURES, ids=lambda p: p.stem)
def test_fixture_parses_and_round_trips(path: Path) -> None:
    app = parse_application_yaml(path.read_text(), source_name=path.name)
    manifest = app.to_manifest()
    assert parse_application(manifest) == app
    assert json.loads(json.dumps(manifest)) == manifest
    assert parse_application(manifest).to_manifest() == manifest


def test_guestbook_directory_app() -> None:
    app = load("app-guestbook-directory.yaml")
    assert app.name == "guestbook"
    assert [s.path for s in app.sources_list()] == ["guestbook"]
    assert not app.is_multi_source()
    assert app.is_automated()
    assert app.sync_options() == {
        "CreateNamespace": "true",
        "PrunePropagationPolicy": "foreground",
        "PruneLast": "true",
    }
    assert app.spec.revision_history_limit == 3
    directory = app.sources_list()[0].directory
    assert directory is not None and directory.recurse
    assert directory.jsonnet is not None and directory.jsonnet.tlas[0].code
    assert app.spec.sync_policy is not None
    assert app.spec.sync_policy.managed_namespace_metadata is not None
    assert app.spec.sync_policy.managed_namespace_metadata.labels == {"team": "demo"}
    assert app.unsupported_fields() == []


def test_helm_app() -> None:
    app = load("app-helm-values.yaml")
    source = app.sources_list()[0]
    assert source.repo_url.startswith("git@github.com:")
    assert source.helm is not None
    assert source.helm.value_files == ["values.yaml", "values-production.yaml"]
    assert [(p.name, p.value, p.force_string) for p in source.helm.parameters] == [
        ("service.type", "LoadBalancer", False),
        ("image.tag", "1.2.3", True),
    ]
    assert source.helm.values_object == {
        "replicaCount": 2,
        "resources": {"limits": {"cpu": "500m"}},
    }
    assert app.spec.destination.cluster == "in-cluster"
    assert app.spec.destination.is_in_cluster
    assert not app.is_automated()
    assert app.sync_options() == {}


def test_helm_repo_chart() -> None:
    source = load("app-helm-repo-chart.yaml").sources_list()[0]
    assert source.is_chart and source.chart == "sealed-secrets"
    assert source.target_revision == "1.16.1"


def test_kustomize_app() -> None:
    kustomize = load("app-kustomize-images.yaml").sources_list()[0].kustomize
    assert kustomize is not None
    assert kustomize.images[1] == "my-app=registry.example.com/my-app:1.4.2"
    assert [r.count_int() for r in kustomize.replicas] == [4, 2]
    assert kustomize.patches[0].target is not None
    assert kustomize.patches[0].target.kind == "Deployment"


def test_multi_source_app() -> None:
    app = load("app-multi-source.yaml")
    assert app.is_multi_source()
    sources = app.sources_list()
    assert [s.ref for s in sources] == ["", "values", ""]
    assert sources[0].value_file_refs == ["values"]
    assert sources[2].name == "extras"
    assert app.spec.source is None


def test_ignore_differences_app() -> None:
    app = load("app-ignore-differences.yaml")
    rules = app.spec.ignore_differences
    assert [r.kind for r in rules] == ["Deployment", "ConfigMap", "MutatingWebhookConfiguration"]
    assert rules[0].group == "apps" and rules[0].json_pointers == ["/spec/replicas"]
    assert rules[1].jq_path_expressions[0] == '.data["generated.json"]'
    assert rules[2].managed_fields_managers == ["kube-controller-manager"]
    # automated block present but switched off
    assert not app.is_automated()
    assert app.sync_options() == {"RespectIgnoreDifferences": "true"}


def test_app_from_cluster_keeps_and_strips_cluster_fields() -> None:
    app = load("app-from-cluster.yaml")
    assert app.spec.revision_history_limit == 10
    assert app.status is not None and app.status["sync"]["status"] == "Synced"
    # A pending operation would be acted on by Argo CD; Bosun reports it.
    assert app.unsupported_fields() == ["operation"]
    assert app.to_manifest()["metadata"]["uid"].startswith("6a6b")
    assert app.to_manifest()["metadata"]["creationTimestamp"] == "2025-01-01T10:00:00Z"
    clean = app.to_manifest(cluster_fields=False)
    assert "status" not in clean and "operation" not in clean
    assert set(clean["metadata"]) == {"name", "namespace", "annotations"}


def test_unsupported_fields_are_kept_and_reported() -> None:
    app = load("app-unsupported.yaml")
    assert sorted(app.unsupported_fields()) == [
        "spec.sources[0].plugin",
        "spec.sources[1].kustomize.version",
        "spec.sources[1].tagPrefix",
    ]
    manifest = app.to_manifest()
    assert manifest["spec"]["sources"][0]["plugin"]["name"] == "argocd-vault-plugin"
    assert manifest["spec"]["sources"][1]["tagPrefix"] == "component-b/"


def test_defaults() -> None:
    app = parse_application(doc_with({"spec.project": DELETE, "spec.source.targetRevision": DELETE}))
    assert app.spec.project == "default"
    assert app.sources_list()[0].target_revision == "HEAD"
    assert app.spec.revision_history_limit == 10
    assert app.spec.sync_policy is None and not app.is_automated()
    # Argo CD's CRD requires spec.project, so the manifest always carries it.
    assert app.to_manifest()["spec"]["project"] == "default"
    assert parse_application(doc_with({"spec.project": ""})).spec.project == "default"


def test_null_means_unset() -> None:
    app = parse_application(doc_with({"spec.syncPolicy": None, "spec.revisionHistoryLimit": None}))
    assert app.spec.sync_policy is None
    assert app.spec.revision_history_limit == 10


@pytest.mark.parametrize(
    ("automated", "expected"),
    [
        (None, False),
        ({}, True),
        ({"prune": True}, True),
        ({"enabled": True}, True),
        ({"enabled": False, "selfHeal": True}, False),
    ],
)
def test_is_automated(automated: dict[str, Any] | None, expected: bool) -> None:
    doc = doc_with({"spec.syncPolicy": {} if automated is None else {"automated": automated}})
    assert parse_application(doc).is_automated() is expected


def test_python_construction_with_snake_case() -> None:
    app = Application(
        metadata=ObjectMeta(name="guestbook", namespace="argocd"),
        spec=ApplicationSpec(
            source=ApplicationSource(repo_url="https://example.com/repo.git", path="app"),
            destination=ApplicationDestination(server="https://kubernetes.default.svc"),
            sync_policy=SyncPolicy(automated=SyncPolicyAutomated(self_heal=True), sync_options=["Replace=true"]),
        ),
    )
    manifest = app.to_manifest()
    assert manifest["spec"]["source"] == {"repoURL": "https://example.com/repo.git", "path": "app"}
    assert manifest["spec"]["syncPolicy"]["automated"] == {"selfHeal": True}
    assert parse_application(manifest) == app


def test_json_round_trip_with_python_names() -> None:
    """Payload converters may dump snake_case names; they must load back."""
    app = load("app-unsupported.yaml")
    assert Application.model_validate_json(app.model_dump_json()) == app


def test_models_are_frozen() -> None:
    app = load("app-guestbook-directory.yaml")
    with pytest.raises(ValidationError):
        app.spec.project = "other"


# --- destination ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "cluster", "in_cluster", "text"),
    [
        ({"server": "https://kubernetes.default.svc"}, "https://kubernetes.default.svc", True,
         "https://kubernetes.default.svc"),
        ({"server": "https://kubernetes.default.svc/", "namespace": "a"},
         "https://kubernetes.default.svc/", True, "https://kubernetes.default.svc//a"),
        ({"name": "in-cluster", "namespace": "a"}, "in-cluster", True, "in-cluster/a"),
        ({"name": "prod-eu", "namespace": "a"}, "prod-eu", False, "prod-eu/a"),
        ({"server": "https://10.0.0.1:6443"}, "https://10.0.0.1:6443", False,
         "https://10.0.0.1:6443"),
    ],
)  # fmt: skip
def test_destination_helpers(destination: dict[str, str], cluster: str, in_cluster: bool, text: str) -> None:
    dest = parse_application(doc_with({"spec.destination": destination})).spec.destination
    assert dest.cluster == cluster
    assert dest.is_in_cluster is in_cluster
    assert str(dest) == text


# --- retry ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        (None, [5, 10, 20, 40, 80, 160, 180, 180]),
        ({"duration": "1m", "factor": 3, "maxDuration": "10m"}, [60, 180, 540, 600, 600]),
        ({"duration": "30", "factor": 1}, [30, 30, 30]),
        ({"duration": "1s", "maxDuration": "0"}, [1, 2, 4, 8]),
    ],
)
def test_retry_delays(backoff: dict[str, Any] | None, delays: list[int]) -> None:
    retry = RetryStrategy(limit=3, backoff=None if backoff is None else Backoff(**backoff))
    assert [retry.delay(n) for n in range(len(delays))] == [timedelta(seconds=s) for s in delays]


def test_retry_delay_does_not_overflow() -> None:
    assert RetryStrategy().delay(10_000) == timedelta(minutes=3)


@pytest.mark.parametrize(("limit", "done", "allowed"), [(0, 0, False), (2, 1, True), (2, 2, False),
                                                         (-1, 1000, True)])  # fmt: skip
def test_retry_limit(limit: int, done: int, allowed: bool) -> None:
    assert RetryStrategy(limit=limit).allows_retry(done) is allowed


# --- invalid documents: source, Argo CD path, problem -------------------------------

INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("wrong apiVersion", {"apiVersion": "v1"}, "apiVersion", "must be argoproj.io/v1alpha1"),
    ("missing kind", {"kind": DELETE}, "kind", "must be Application"),
    ("other kind", {"kind": "AppProject"}, "kind", "got 'AppProject'"),
    ("name not DNS", {"metadata.name": "Guest_Book"}, "metadata.name", "DNS-1123 subdomain"),
    ("name missing", {"metadata.name": DELETE}, "metadata.name", "required"),
    ("namespace not DNS", {"metadata.namespace": "Argo.CD"}, "metadata.namespace", "DNS-1123"),
    ("label not string", {"metadata.labels": {"tier": 3}}, "metadata.labels.tier",
     "expected a string, got an integer (quote it in YAML)"),
    ("spec missing", {"spec": DELETE}, "spec", "required field is missing"),
    ("no destination cluster", {"spec.destination": {"namespace": "a"}}, "spec.destination",
     "set server"),
    ("server and name", {"spec.destination.name": "prod"}, "spec.destination.name",
     "not both"),
    ("destination namespace", {"spec.destination.namespace": "Bad_NS"},
     "spec.destination.namespace", "not a valid namespace"),
    ("destination missing", {"spec.destination": DELETE}, "spec.destination", "required"),
    ("source and sources", {"spec.sources": [BASE["spec"]["source"]]}, "spec.sources",
     "not both"),
    ("no source", {"spec.source": DELETE}, "spec.source", "required"),
    ("bad repoURL", {"spec.source.repoURL": "github.com/argoproj/argo-cd"},
     "spec.source.repoURL", "not a repository URL"),
    ("empty repoURL", {"spec.source.repoURL": ""}, "spec.source.repoURL", "required"),
    ("missing repoURL", {"spec.source.repoURL": DELETE}, "spec.source.repoURL", "required"),
    ("bad repoURL in sources", {"spec.source": DELETE, "spec.sources": [
        {"repoURL": "https://a.example/x.git"}, {"repoURL": "ftp://b.example/y"}]},
     "spec.sources[1].repoURL", "not a repository URL"),
    ("two tools", {"spec.source.helm": {"releaseName": "x"}, "spec.source.directory":
                   {"recurse": True}}, "spec.source.helm", "one tool only"),
    ("path is a number", {"spec.source.path": 1.5}, "spec.source.path", "quote it in YAML"),
    ("retry limit string", {"spec.syncPolicy": {"retry": {"limit": "3"}}},
     "spec.syncPolicy.retry.limit", "expected an integer, got a string (remove the quotes)"),
    ("backoff duration", {"spec.syncPolicy": {"retry": {"backoff": {"duration": "5 seconds"}}}},
     "spec.syncPolicy.retry.backoff.duration", "not a duration"),
    ("backoff maxDuration", {"spec.syncPolicy": {"retry": {"backoff": {"maxDuration": "3mins"}}}},
     "spec.syncPolicy.retry.backoff.maxDuration", "not a duration"),
    ("backoff factor", {"spec.syncPolicy": {"retry": {"backoff": {"factor": 0}}}},
     "spec.syncPolicy.retry.backoff.factor", "at least 1"),
    ("selfHeal string", {"spec.syncPolicy": {"automated": {"selfHeal": "true"}}},
     "spec.syncPolicy.automated.selfHeal", "expected true or false"),
    ("unknown sync option", {"spec.syncPolicy": {"syncOptions": ["Validate=false",
                                                                 "CreateNamespaces=true"]}},
     "spec.syncPolicy.syncOptions[1]", "did you mean CreateNamespace?"),
    ("sync option case", {"spec.syncPolicy": {"syncOptions": ["ServerSideApply=True"]}},
     "spec.syncPolicy.syncOptions[0]", "must be one of true, false"),
    ("sync option format", {"spec.syncPolicy": {"syncOptions": ["PruneLast"]}},
     "spec.syncPolicy.syncOptions[0]", "Key=Value"),
    ("sync option conflict", {"spec.syncPolicy": {"syncOptions": ["Prune=false",
                                                                  "Prune=confirm"]}},
     "spec.syncPolicy.syncOptions[1]", "conflicts with Prune=false"),
    ("unknown field", {"spec.source.targetRevison": "main"}, "spec.source.targetRevison",
     "did you mean 'targetRevision'?"),
    ("snake_case field", {"spec.source.target_revision": "main"},
     "spec.source.target_revision", "Argo CD spells it 'targetRevision'"),
    ("unknown top-level field", {"specs": {}}, "specs", "Application has no field 'specs'"),
    ("unknown in syncPolicy", {"spec.syncPolicy": {"automatic": {}}},
     "spec.syncPolicy.automatic", "did you mean 'automated'?"),
    ("negative history", {"spec.revisionHistoryLimit": -1}, "spec.revisionHistoryLimit",
     "at least 0"),
    ("ignoreDifferences kind", {"spec.ignoreDifferences": [{"group": "apps"}]},
     "spec.ignoreDifferences[0].kind", "required"),
    ("json pointer", {"spec.ignoreDifferences": [{"kind": "Deployment",
                                                  "jsonPointers": ["spec/replicas"]}]},
     "spec.ignoreDifferences[0].jsonPointers[0]", "must start with '/'"),
    ("unknown $ref", {"spec.source": DELETE, "spec.sources": [
        {"repoURL": "https://charts.example", "chart": "x",
         "helm": {"valueFiles": ["$vals/values.yaml"]}},
        {"repoURL": "https://git.example/v.git", "ref": "values"}]},
     "spec.sources[0].helm.valueFiles", "$vals refers to no source"),
    ("duplicate ref", {"spec.source": DELETE, "spec.sources": [
        {"repoURL": "https://git.example/a.git", "ref": "v"},
        {"repoURL": "https://git.example/b.git", "ref": "v"}]},
     "spec.sources[0].ref", "used twice"),
    ("replica count", {"spec.source.kustomize": {"replicas": [{"name": "web", "count": "two"}]}},
     "spec.source.kustomize.replicas[0].count", "not a replica count"),
    ("info needs value", {"spec.info": [{"name": "Docs"}]}, "spec.info[0].value", "required"),
    ("sources not a list", {"spec.source": DELETE, "spec.sources": {"repoURL": "x"}},
     "spec.sources", "expected a list"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [pytest.param(c, p, m, id=i) for i, c, p, m in INVALID],
)
def test_invalid_application(changes: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ModelError) as info:
        parse_application(doc_with(changes), source_name="apps/guestbook.yaml")
    err = info.value
    assert err.source == "apps/guestbook.yaml"
    assert path in [p.path for p in err.problems], str(err)
    problem = next(p for p in err.problems if p.path == path)
    assert message in problem.message, str(err)
    assert str(err).startswith("apps/guestbook.yaml: ")
    assert f"{path}: " in str(err)


def test_several_problems_are_reported_together() -> None:
    doc = doc_with(
        {
            "spec.destination.namespace": "Bad_NS",
            "spec.syncPolicy": {"retry": {"limit": "3", "backoff": {"duration": "5x"}}},
        }
    )
    with pytest.raises(ModelError) as info:
        parse_application(doc, source_name="g.yaml")
    assert [p.path for p in info.value.problems] == [
        "spec.destination.namespace",
        "spec.syncPolicy.retry.limit",
        "spec.syncPolicy.retry.backoff.duration",
    ]
    assert str(info.value).startswith("g.yaml: 3 problems\n  - spec.destination.namespace: ")


def test_not_a_mapping() -> None:
    with pytest.raises(ModelError, match=r"^x.yaml: expected a mapping, got list$"):
        parse_application([], source_name="x.yaml")  # type: ignore[arg-type]


# --- YAML text ---------------------------------------------------------------------


def test_yaml_duplicate_key_is_an_error() -> None:
    text = (FIXTURES / "app-helm-repo-chart.yaml").read_text() + "spec: {}\n"
    with pytest.raises(ModelError, match=r"a.yaml: invalid YAML at line \d+.*duplicate key 'spec'"):
        parse_application_yaml(text, source_name="a.yaml")


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(ModelError, match=r"^a.yaml: invalid YAML at line 3, column 7: "):
        parse_application_yaml("kind: Application\nspec: {a: b\nstatus: {}\n", source_name="a.yaml")


def test_yaml_timestamps_stay_strings() -> None:
    assert load_yaml_documents("revision: 2024-01-01\n") == [{"revision": "2024-01-01"}]


def test_yaml_single_document_required() -> None:
    text = (FIXTURES / "app-helm-repo-chart.yaml").read_text()
    with pytest.raises(ModelError, match="expected one document, found 2"):
        parse_application_yaml(text + "---\n" + text)
    with pytest.raises(ModelError, match="expected one document, found 0"):
        parse_application_yaml("# nothing\n")
    with pytest.raises(ModelError, match="document 1 is not a mapping"):
        parse_application_yaml("- a\n")


def test_parse_yaml_stream_dispatches_on_kind() -> None:
    text = "\n---\n".join(
        (FIXTURES / name).read_text() for name in ("project-sync-windows.yaml", "app-helm-repo-chart.yaml")
    )
    project, app = parse_yaml(text, source_name="all.yaml")
    assert (project.kind, project.name) == ("AppProject", "team-a")
    assert (app.kind, app.name) == ("Application", "sealed-secrets")
    with pytest.raises(ModelError, match=r"^all.yaml#3: kind: expected Application or AppProject"):
        parse_yaml(text + "\n---\napiVersion: v1\nkind: ConfigMap\n", source_name="all.yaml")


def test_parse_yaml_names_the_document() -> None:
    good = (FIXTURES / "app-helm-repo-chart.yaml").read_text()
    bad = good.replace("kubeseal", "Kube_Seal")
    with pytest.raises(ModelError, match=r"^s.yaml#2: spec.destination.namespace: "):
        parse_yaml(good + "---\n" + bad, source_name="s.yaml")


# --- formats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/argoproj/argo-cd.git",
        "http://gitea.local:3000/org/repo",
        "git@github.com:argoproj/argo-cd.git",
        "ssh://git@github.com/argoproj/argo-cd.git",
        "file:///tmp/repos/app",
        "oci://ghcr.io/example/charts",
    ],
)
def test_repo_url_accepted(url: str) -> None:
    assert check_repo_url(url) == url
    parse_application(doc_with({"spec.source.repoURL": url}))


@pytest.mark.parametrize("url", ["github.com/argoproj/argo-cd", "ftp://example.com/x", "https://", "https://a b", ""])
def test_repo_url_rejected(url: str) -> None:
    with pytest.raises(ValueError):
        check_repo_url(url)


def test_bare_oci_registry_only_with_chart() -> None:
    assert check_repo_url("registry-1.docker.io/bitnamicharts", chart=True)
    with pytest.raises(ValueError):
        check_repo_url("registry-1.docker.io/bitnamicharts")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5), ("3m", 180), ("1h30m", 5400), ("1.5h", 5400), ("300ms", 0.3), ("0", 0),
     ("-2m", -120), ("2h45m30s", 9930), ("1us", 1e-6)],
)  # fmt: skip
def test_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "5 s", "1d", "h", "1h 30m", "m5", "."])
def test_go_duration_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_go_duration(text)


def test_backoff_duration_allows_plain_seconds() -> None:
    assert parse_backoff_duration("30") == timedelta(seconds=30)
    assert parse_backoff_duration("2m") == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("schedule", "ok"),
    [("0 22 * * *", True), ("*/15 9-17 * * 1-5", True), ("0 0 1 JAN,JUL ?", True),
     ("CRON_TZ=Europe/Paris 0 1 * * *", True), ("* * *", False), ("0 0 0 * * *", False),
     ("@daily", False), ("0 22 * * * extra", False), ("0 2$ * * *", False)],
)  # fmt: skip
def test_cron_schedule(schedule: str, ok: bool) -> None:
    if ok:
        assert check_cron_schedule(schedule) == schedule
    else:
        with pytest.raises(ValueError, match="not a cron schedule"):
            check_cron_schedule(schedule)


def test_sync_options_parse() -> None:
    assert parse_sync_options(["Prune=confirm", "PrunePropagationPolicy=orphan", "Prune=confirm"]) == {
        "Prune": "confirm",
        "PrunePropagationPolicy": "orphan",
    }
    with pytest.raises(ValueError, match="remove the spaces"):
        parse_sync_options(["CreateNamespace = true"])


@pytest.mark.parametrize(
    ("fixture", "index", "tool"),
    [
        ("app-guestbook-directory.yaml", 0, "directory"),
        ("app-helm-values.yaml", 0, "helm"),
        ("app-kustomize-images.yaml", 0, "kustomize"),
        ("app-multi-source.yaml", 1, None),
        ("app-unsupported.yaml", 0, "plugin"),
    ],
)
def test_explicit_tool(fixture: str, index: int, tool: str | None) -> None:
    assert load(fixture).sources_list()[index].explicit_tool() == tool


def test_empty_tool_block_does_not_count() -> None:
    """Argo CD normalizes ``helm: {}`` away, so it does not clash with ``directory``."""
    source = parse_application(
        doc_with({"spec.source.helm": {}, "spec.source.directory": {"recurse": True}})
    ).sources_list()[0]
    assert source.explicit_tool() == "directory"


def test_model_error_pickles() -> None:
    with pytest.raises(ModelError) as info:
        parse_application(doc_with({"metadata.name": "Bad"}), source_name="a.yaml")
    copy_ = pickle.loads(pickle.dumps(info.value))
    assert str(copy_) == str(info.value) and copy_.problems == info.value.problems
