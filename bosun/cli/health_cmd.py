"""``bosun health -f FILE``: the health of each object in a manifest file.

Reads a multi-document YAML or a JSON file (``-`` for stdin); ``List`` objects
(``kubectl get -o yaml``) are expanded into their items. Prints one row per
object, assessed exactly as Argo CD would assess it (:mod:`bosun.health`);
objects whose kind has no health show status ``-``. Exits 0 whatever the
health; a file that cannot be parsed exits 2 with the file and the
(1-based) document number.

Example::

    $ kubectl get deploy,pods -n guestbook -o yaml | bosun health -f -
    KIND        NAMESPACE  NAME                          STATUS       MESSAGE
    Deployment  guestbook  guestbook                     Progressing  Waiting for rollout ...
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NoReturn

import click
import yaml

from bosun.health import assess_health
from bosun.resources import Manifest, ResourceKey

NO_HEALTH = "-"
PARSE_ERROR_EXIT_CODE = 2


class ManifestFileError(Exception):
    """A manifest file, or one document in it, cannot be read as Kubernetes objects."""

    def __init__(self, filename: str, document: int | None, reason: str) -> None:
        where = filename if document is None else f"{filename}: document {document}"
        super().__init__(f"{where}: {reason}")


def _objects(doc: Any, filename: str, document: int) -> Iterator[Manifest]:
    """The Kubernetes objects in one parsed document (a ``List`` yields its items)."""
    if doc is None:  # an empty document, e.g. a trailing "---"
        return
    if not isinstance(doc, dict):
        raise ManifestFileError(
            filename, document, f"expected a Kubernetes object, got {type(doc).__name__}"
        )
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        for i, item in enumerate(doc["items"]):
            if not isinstance(item, dict):
                raise ManifestFileError(
                    filename,
                    document,
                    f"items[{i}]: expected a Kubernetes object, got {type(item).__name__}",
                )
            yield item
        return
    yield doc


def parse_manifests(text: str, filename: str) -> list[Manifest]:
    """All objects in a YAML stream or JSON text, in file order.

    A ``.json`` file must be JSON. Other text that looks like JSON is tried as
    JSON first, then as YAML (flow-style YAML starts with a brace too).
    """
    strict_json = filename.lower().endswith(".json")
    if strict_json or text.lstrip().startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as e:
            if strict_json:
                raise ManifestFileError(filename, 1, f"invalid JSON: {e}") from e
            try:
                return _parse_yaml(text, filename)
            except ManifestFileError:
                raise ManifestFileError(filename, 1, f"invalid JSON: {e}") from e
        # A JSON array holds one object per element, each numbered as a document.
        docs = parsed if isinstance(parsed, list) else [parsed]
        return [obj for n, doc in enumerate(docs, start=1) for obj in _objects(doc, filename, n)]
    return _parse_yaml(text, filename)


def _parse_yaml(text: str, filename: str) -> list[Manifest]:
    objects: list[Manifest] = []
    document = 0
    stream = yaml.safe_load_all(text)
    while True:
        document += 1
        try:
            doc = next(stream)
        except StopIteration:
            break
        except yaml.YAMLError as e:
            raise ManifestFileError(filename, document, f"invalid YAML: {_yaml_reason(e)}") from e
        objects.extend(_objects(doc, filename, document))
    return objects


def _yaml_reason(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark
        problem = error.problem or str(error)
        if mark is not None:
            return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
        return problem
    return str(error)


def health_rows(objects: list[Manifest]) -> list[dict[str, str]]:
    rows = []
    for obj in objects:
        key = ResourceKey.of(obj)
        health = assess_health(obj)
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
    cells += [
        [" ".join(row[c].split()) if c == "message" else row[c] for c in _COLUMNS] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
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
def health(filename: str, output: str) -> None:
    """Show the health of each object in a manifest file, as Argo CD assesses it."""
    with click.open_file(filename, encoding="utf-8") as stream:
        try:
            text = stream.read()
        except UnicodeDecodeError as e:
            _fail(ManifestFileError(filename, None, f"not UTF-8 text: {e}"))
    name = "<stdin>" if filename == "-" else filename
    try:
        objects = parse_manifests(text, name)
    except ManifestFileError as e:
        _fail(e)
    rows = health_rows(objects)
    if output == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        click.echo(format_table(rows))


def _fail(error: ManifestFileError) -> NoReturn:
    click.echo(f"error: {error}", err=True)
    raise click.exceptions.Exit(PARSE_ERROR_EXIT_CODE)
