"""``bosun app diff APP --local DIR``: the pull-request preview, with no worker.

CI runs this on a checkout of a branch: "what would change in the cluster if this were
merged". Everything happens in the command's own process, so nothing but the cluster
(and, without ``-f``, the Temporal server) has to be reachable:

1. **The app**: ``-f app.yaml`` (fully local), else the app's workflow in Temporal —
   its ``application`` query when a worker answers within a few seconds, else its
   event history (the run's input plus later ``update_spec`` signals), which the
   Temporal server serves with no worker at all.
2. **Render**: DIR takes the place of the source path, rendered as the app's source
   says (Helm, Kustomize, Jsonnet, directory) by the worker's own renderers
   (:func:`activities.renderers.render_source`), for the destination cluster's
   Kubernetes and API versions. ``--local-repo-root`` is the repository root that
   paths (Kustomize bases, Helm value files) may reach into; by default DIR itself.
3. **Compare**: the worker's ``compare`` activity itself, run in this process under
   ``temporalio.testing.ActivityEnvironment`` (which only supplies the activity context
   it heartbeats into), with the user's kubeconfig (``--kubeconfig``/``$KUBECONFIG``):
   a server-side dry-run apply predicts the live state, Secrets are masked, objects the
   app tracks that DIR lacks are listed as to be pruned. So a local diff and the
   worker's comparison cannot drift apart.

The destination cluster is found in the kubeconfig as the worker finds it (the current
context is ``https://kubernetes.default.svc``; every context is a cluster by name and
server URL); ``--context`` picks one outright. Exit code 1 when anything differs.
A multi-source app is refused, as ``argocd app diff --local`` refuses it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from bosun.models import Application, ModelError, load_yaml_documents, parse_application
from bosun.paths import default_kubeconfig
from bosun.protocol import AppQuery, AppSignal

SPEC_QUERY_SECONDS = 3.0
"""How long the ``application`` query may wait for a worker before the history is read."""


def local_diff_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--context",
        "kube_context",
        default=None,
        help="With --local: the kubeconfig context of the destination cluster.",
    )(fn)
    fn = click.option(
        "--kubeconfig",
        "kubeconfig",
        envvar="KUBECONFIG",
        default=None,
        help="With --local: kubeconfig file(s), ':'-separated (env KUBECONFIG; default ~/.kube/config).",
    )(fn)
    fn = click.option(
        "-f",
        "--file",
        "app_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="With --local: read the Application from this YAML, not from Temporal.",
    )(fn)
    fn = click.option(
        "--local-repo-root",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="With --local: the repository root DIR lies in (default: DIR).",
    )(fn)
    return click.option(
        "--local",
        "local",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Diff this local directory, rendered as the app's source, against the live cluster (no worker needed).",
    )(fn)


async def run_local_diff(
    name: str,
    *,
    local: Path,
    local_repo_root: Path | None,
    app_file: Path | None,
    kubeconfig: str | None,
    kube_context: str | None,
    address: str | None,
    temporal_namespace: str | None,
) -> int:
    """Print the diff; the exit code (0 same, 1 differs)."""
    application = _from_file(app_file, name) if app_file else await _from_temporal(name, address, temporal_namespace)
    diffs, pruned, out_of_sync = compare_local(
        application, local=local, repo_root=local_repo_root, kubeconfigs=_kubeconfigs(kubeconfig), context=kube_context
    )
    from bosun.diff.render import colorize

    color = sys.stdout.isatty()
    for key in sorted(diffs):
        click.echo(colorize(diffs[key]) if color else diffs[key], nl=not diffs[key].endswith("\n"))
    for key in pruned:
        click.echo(f"=== {key} would be pruned (not in {local})")
    return 1 if out_of_sync else 0


def compare_local(
    application: Application, *, local: Path, repo_root: Path | None, kubeconfigs: list[Path], context: str | None
) -> tuple[dict[str, str], list[str], bool]:
    """(diff per resource, resources to prune, out of sync?) of DIR against the live cluster."""
    from temporalio.testing import ActivityEnvironment

    from activities.cluster import ClusterActivities
    from activities.contracts import CompareInput, CompareResult, Destination
    from activities.kube import ClusterRegistry, KubeError
    from activities.kubeaccess import KubeconfigAccess
    from activities.renderers import RenderError, render_source
    from activities.store import ContentStore
    from cli.app import EXIT_FAILED, EXIT_USAGE, CliError

    sources = application.sources_list()
    if len(sources) != 1:
        raise CliError("--local works on single-source apps only (as argocd app diff --local)", EXIT_USAGE)
    root = (repo_root or local).resolve()
    directory = local.resolve()
    if directory != root and root not in directory.parents:
        raise CliError(f"--local {local} is not inside --local-repo-root {repo_root}", EXIT_USAGE)
    source = {k: v for k, v in sources[0].dump().items() if k not in ("chart", "ref")}
    source["path"] = directory.relative_to(root).as_posix() if directory != root else "."
    dest = application.spec.destination
    namespace = dest.namespace or ""
    destination = (
        Destination(name=context, namespace=namespace)
        if context
        else Destination(server=dest.server or "", name=dest.name or "", namespace=namespace)
    )
    name = application.metadata.name
    registry = ClusterRegistry(KubeconfigAccess.of(kubeconfigs))
    try:
        kube_version, api_versions = registry.client(destination).server_info()
        objects = render_source(
            root,
            source,
            app=name,
            namespace=namespace,
            revision="local",
            kube_version=kube_version,
            api_versions=api_versions,
        )
    except KubeError as exc:
        raise CliError(f"destination cluster: {exc}", EXIT_FAILED) from None
    except RenderError as exc:
        raise CliError(f"{local}: {exc}", EXIT_FAILED) from None
    with tempfile.TemporaryDirectory(prefix="bosun-local-diff-") as scratch:
        store = ContentStore(Path(scratch))
        compare = ClusterActivities(clusters=registry, store=store).compare
        request = CompareInput(
            app=name,
            manifests_digest=store.put_json(objects),
            destination=destination,
            project=application.spec.project,
            repo_urls=[sources[0].repo_url],
            ignore_differences=[d.dump() for d in application.spec.ignore_differences or []],
            sync_options=application.sync_options(),
        )
        try:
            compared: CompareResult = ActivityEnvironment().run(compare, request)
        except Exception as exc:  # noqa: BLE001 - the activity's own error (ApplicationError): say it
            raise CliError(f"compare with the cluster failed: {exc}", EXIT_FAILED) from None
        diffs: dict[str, str] = store.get_json(compared.diff_digest)
    pruned = [str(r.key) for r in compared.resources if r.requires_pruning and r.sync.value == "OutOfSync"]
    return diffs, pruned, compared.sync.value == "OutOfSync"


def _kubeconfigs(value: str | None) -> list[Path]:
    paths = [Path(p).expanduser() for p in (value or "").split(os.pathsep) if p]
    return [p for p in paths if p.exists()] or [default_kubeconfig()]


def _from_file(path: Path, name: str) -> Application:
    """The Application named ``name`` in ``path`` (the only one, or one of several documents)."""
    from cli.app import EXIT_USAGE, CliError

    try:
        documents = load_yaml_documents(path.read_text(), source_name=str(path))
        apps = [parse_application(d, source_name=str(path)) for d in documents if d.get("kind") == "Application"]
    except ModelError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    named = [a for a in apps if a.metadata.name == name] or (apps if len(apps) == 1 else [])
    if not named:
        raise CliError(f"{path}: no Application named {name!r}", EXIT_USAGE)
    return named[0]


async def _from_temporal(name: str, address: str | None, temporal_namespace: str | None) -> Application:
    """The app's spec: its workflow's ``application`` query, or, with no worker to answer,
    its history (the run's input, then every valid ``update_spec`` signal)."""
    from temporalio.api.enums.v1 import EventType

    from cli.app import _client, _running_handle
    from workflows.state import AppWorkflowInput

    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    try:
        document = await handle.query(
            AppQuery.APPLICATION, result_type=dict, rpc_timeout=timedelta(seconds=SPEC_QUERY_SECONDS)
        )
        return parse_application(document, source_name=f"app {name}")
    except Exception:  # noqa: BLE001 - no worker answered (a deadline, or no poller): the server has the history
        pass
    history = await handle.fetch_history()
    converter = client.data_converter
    spec: dict[str, Any] | None = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            started = await converter.decode(payloads, [AppWorkflowInput])
            spec = started[0].application
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attributes = event.workflow_execution_signaled_event_attributes
            if attributes.signal_name != AppSignal.UPDATE_SPEC:
                continue
            candidate = (await converter.decode(attributes.input.payloads, [dict]))[0]
            try:
                current = spec.get("metadata", {}).get("name") if spec else None
                if parse_application(candidate, source_name="update_spec").metadata.name == current:
                    spec = candidate
            except ModelError:
                continue  # the workflow refused it too
    from cli.app import EXIT_FAILED, CliError

    if spec is None:
        raise CliError(f"application {name!r}: its spec is not in the workflow history", EXIT_FAILED)
    return parse_application(spec, source_name=f"app {name}")
