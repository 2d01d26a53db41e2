"""``bosun proj``: AppProjects as resources in the management cluster, as Argo CD keeps them.

Projects live in the control namespace (``bosun``; ``--namespace-control`` or
BOSUN_CONTROL_NAMESPACE) of the management cluster (``--kubeconfig``, else
BOSUN_KUBECONFIG's first file, KUBECONFIG, ~/.kube/config). Their CRD ships in
``deploy/crds/``. The ``default`` project allows everything until you create one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import click
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from bosun.models import AppProject, ModelError, parse_project, parse_project_yaml
from bosun.projects import field_notes
from bosun.windows import describe_window
from cli.app import CliError
from cli.management import management_cluster
from cli.output import emit, table

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "appprojects"
CRD_HINT = "install Bosun's CRDs first: kubectl apply -f deploy/crds/"


def _options(fn: Any) -> Any:
    fn = click.option(
        "--control-namespace",
        envvar="BOSUN_CONTROL_NAMESPACE",
        default="bosun",
        show_default=True,
        help="Namespace of AppProjects in the management cluster.",
    )(fn)
    return click.option("--kubeconfig", default=None, help="The management cluster's kubeconfig.")(fn)


def _api(kubeconfig: str | None) -> CustomObjectsApi:
    from activities.kubeaccess import KubeAccessError

    try:
        return CustomObjectsApi(management_cluster(kubeconfig, None, flag="--kubeconfig").api_client())
    except CliError as exc:
        _fail(str(exc), exc.code)
    except KubeAccessError as exc:
        _fail(str(exc), 2)
    raise AssertionError("_fail exits")


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _api_error(exc: ApiException, what: str) -> None:
    if exc.status == 404 and "the server could not find the requested resource" in str(exc.body):
        _fail(f"{what}: the AppProject CRD is not installed; {CRD_HINT}")
    _fail(f"{what}: {exc.reason} ({exc.status})")


@click.group()
def proj() -> None:
    """Manage AppProjects (Argo CD's argoproj.io/v1alpha1 AppProject)."""


@proj.command("create")
@click.option("-f", "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--upsert", is_flag=True, help="Replace the project if it exists.")
@_options
def create(file: Path, upsert: bool, kubeconfig: str | None, control_namespace: str) -> None:
    """Create an AppProject from an Argo CD AppProject YAML.

    \b
    Example:
      bosun proj create -f team-data.yaml
    """
    try:
        project = parse_project_yaml(file.read_text(), source_name=str(file))
    except ModelError as exc:
        _fail(str(exc), 2)
        return
    for note in field_notes(project):
        click.echo(f"warning: {note}", err=True)
    body = project.to_manifest(cluster_fields=False)
    body["metadata"]["namespace"] = control_namespace
    api = _api(kubeconfig)
    name = project.metadata.name
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, control_namespace, PLURAL, body)
    except ApiException as exc:
        if exc.status != 409:
            _api_error(exc, f"create project {name}")
        if not upsert:
            _fail(f"project {name!r} already exists (use --upsert to replace it)", 2)
        live = cast(dict[str, Any], api.get_namespaced_custom_object(GROUP, VERSION, control_namespace, PLURAL, name))
        body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        api.replace_namespaced_custom_object(GROUP, VERSION, control_namespace, PLURAL, name, body)
    click.echo(f"project '{name}' {'created' if not upsert else 'saved'}")


def _load(api: CustomObjectsApi, namespace: str, name: str) -> AppProject:
    try:
        live = cast(dict[str, Any], api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))
    except ApiException as exc:
        if exc.status == 404 and name not in str(exc.body):
            _api_error(exc, f"get project {name}")
        _fail(f"project {name!r} not found", 3)
        raise
    return parse_project(live, source_name=f"AppProject {name}")


@proj.command("get")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
@_options
def get(name: str, output: str, kubeconfig: str | None, control_namespace: str) -> None:
    """Show an AppProject: sources, destinations, restrictions, sync windows."""
    project = _load(_api(kubeconfig), control_namespace, name)
    if output != "text":
        emit(project.to_manifest(cluster_fields=False), output)
        return
    spec = project.spec
    click.echo(f"Name:            {name}\nDescription:     {spec.description or ''}")
    click.echo(f"Source repos:    {', '.join(spec.source_repos) or '-'}")
    for d in spec.destinations:
        click.echo(f"Destination:     {d.server or d.name or '*'} / {d.namespace or '*'}")
    for w in spec.sync_windows:
        click.echo(f"Sync window:     {describe_window(w)}")
    for note in field_notes(project):
        click.echo(f"Warning:         {note}")


@proj.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@_options
def list_projects(output: str, kubeconfig: str | None, control_namespace: str) -> None:
    """List AppProjects."""
    api = _api(kubeconfig)
    try:
        listing = cast(dict[str, Any], api.list_namespaced_custom_object(GROUP, VERSION, control_namespace, PLURAL))
        items: list[dict[str, Any]] = listing["items"]
    except ApiException as exc:
        _api_error(exc, "list projects")
        return
    projects = [parse_project(i, source_name=f"AppProject {i['metadata']['name']}") for i in items]
    if output != "table":
        emit([p.to_manifest(cluster_fields=False) for p in projects], output)
        return
    rows = [
        [
            p.metadata.name,
            len(p.spec.source_repos),
            len(p.spec.destinations),
            len(p.spec.sync_windows),
            p.spec.description or "",
        ]
        for p in projects
    ]
    click.echo(table(["NAME", "SOURCES", "DESTINATIONS", "WINDOWS", "DESCRIPTION"], rows))


@proj.command("delete")
@click.argument("name")
@_options
def delete(name: str, kubeconfig: str | None, control_namespace: str) -> None:
    """Delete an AppProject."""
    try:
        _api(kubeconfig).delete_namespaced_custom_object(GROUP, VERSION, control_namespace, PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            _fail(f"project {name!r} not found", 3)
        _api_error(exc, f"delete project {name}")
    click.echo(f"project '{name}' deleted")


__all__ = ["proj"]
