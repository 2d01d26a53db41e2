"""``bosun health -f FILE``: the health of each object in a manifest file.

Reads a multi-document YAML or a JSON file (``-`` for stdin) with the parser every
renderer uses (:func:`bosun.manifests.parse_manifests`): ``List`` objects (``kubectl get
-o yaml``) are expanded into their items. Prints one row per object, assessed exactly as
Argo CD would assess it (:mod:`bosun.health`); objects whose kind has no health show
status ``-``. Exits 0 whatever the health; a file that cannot be parsed exits 2 with the
file, the (1-based) document number and the problem.

With ``--settings CM.yaml`` (Argo CD's ``argocd-cm``, or Bosun's ``bosun-cm``, as a
ConfigMap file) the custom health checks in it apply, as the worker applies them: a Lua
``health.lua`` for a kind replaces the built-in check, so a script can be tried on real
objects before it is installed. A settings file that cannot be used exits 2 naming the key.

Example::

    $ kubectl get deploy,pods -n guestbook -o yaml | bosun health -f -
    KIND        NAMESPACE  NAME                          STATUS       MESSAGE
    Deployment  guestbook  guestbook                     Progressing  Waiting for rollout ...
    $ bosun health -f certificate.yaml --settings argocd-cm.yaml -o json
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click

from bosun.health import assess_health
from bosun.health.custom import HealthOverride, settings_health
from bosun.manifests import ManifestError, parse_manifests
from bosun.resources import Manifest, ResourceKey
from bosun.settings import DEFAULT_SETTINGS, Settings, SettingsError, parse_config_map

NO_HEALTH = "-"
PARSE_ERROR_EXIT_CODE = 2


def health_rows(objects: list[Manifest], settings: Settings = DEFAULT_SETTINGS) -> list[dict[str, str]]:
    """One row per object, in order; custom checks from ``settings`` first."""
    override: HealthOverride | None = settings_health(settings)
    rows = []
    for obj in objects:
        key = ResourceKey.of(obj)
        health = assess_health(obj, override=override)
        rows.append(
            {
                "group": key.group,
                "kind": key.kind,
                "namespace": key.namespace,
                "name": key.name,
                "status": str(health.status) if health else NO_HEALTH,
                "message": health.message if health else "",
            }
        )
    return rows


_COLUMNS = ("kind", "namespace", "name", "status", "message")


def format_table(rows: list[dict[str, str]]) -> str:
    """A plain table, columns aligned with two spaces, like ``kubectl get``."""
    cells = [[c.upper() for c in _COLUMNS]]
    # A multi-line message (some HPA conditions) would break the table.
    cells += [[" ".join(row[c].split()) if c == "message" else row[c] for c in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells
    )


@click.command("health")
@click.option(
    "-f",
    "--filename",
    required=True,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="Manifest file (multi-document YAML or JSON); - reads stdin.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(exists=True, dir_okay=False),
    help="An argocd-cm (or bosun-cm) ConfigMap file whose health customizations (Lua) apply.",
)
def health(filename: str, output: str, settings_file: str | None) -> None:
    """Show the health of each object in a manifest file, as Argo CD assesses it."""
    settings = load_settings(settings_file) if settings_file else DEFAULT_SETTINGS
    for warning in settings.warnings:
        click.echo(f"warning: {warning}", err=True)
    text = _read(filename)
    name = "<stdin>" if filename == "-" else filename
    try:
        objects = parse_manifests(text, source=name)
    except ManifestError as e:
        _fail(e)
    rows = health_rows(objects, settings)
    if output == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        click.echo(format_table(rows))


def load_settings(filename: str) -> Settings:
    """The settings in a ConfigMap file: ``argocd-cm`` then ``bosun-cm`` (its keys win) when
    the file holds both, else its one ConfigMap."""
    try:
        objects = parse_manifests(_read(filename), source=filename)
    except ManifestError as e:
        _fail(e)
    maps = [o for o in objects if o.get("kind") == "ConfigMap"]
    named = [o for name in ("argocd-cm", "bosun-cm") for o in maps if (o.get("metadata") or {}).get("name") == name]
    chosen = named or maps
    if len(chosen) != 1 and not named:
        _fail(ManifestError(f"expected one ConfigMap (argocd-cm or bosun-cm), found {len(maps)}", source=filename))
    data: dict[str, Any] = {}
    for cm in chosen:
        data.update((cm.get("data") or {}) if isinstance(cm.get("data"), dict) else {})
    names = "+".join(str((cm.get("metadata") or {}).get("name") or "ConfigMap") for cm in chosen)
    try:
        return parse_config_map({"kind": "ConfigMap", "metadata": {"name": names}, "data": data}, source=filename)
    except SettingsError as e:
        _fail(e)


def _read(filename: str) -> str:
    with click.open_file(filename, encoding="utf-8") as stream:
        try:
            return str(stream.read())
        except UnicodeDecodeError as e:
            _fail(ManifestError(f"not UTF-8 text: {e}", source=filename))


def _fail(error: ManifestError | SettingsError) -> NoReturn:
    click.echo(f"error: {error}", err=True)
    raise click.exceptions.Exit(PARSE_ERROR_EXIT_CODE)
