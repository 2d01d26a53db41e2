"""Choosing Applications by label: ``-l/--selector`` (and ``-p/--project``) for ``bosun app``.

``bosun app list|sync|wait|delete -l 'team=web,env in (dev,qa)'`` act on every app whose
labels match, as ``argocd app … -l`` does. :func:`select_apps` asks Temporal's visibility
for the running app workflows, narrowed by what the selector names exactly (``=``, ``in``:
the ``BosunLabels`` KeywordList search attribute, ``BosunProject``), then keeps those the
selector really matches (:mod:`bosun.label_selector`, on the same attribute's items).

A command takes a selector by stacking :func:`selector_option` with its other options
and :func:`for_each_selected` right above its ``async def``, which then runs once per
selected app name (a NAME argument stays the way to name one app).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import click
from temporalio.client import Client

from bosun import search_attributes as sa
from bosun.label_selector import Selector, parse_selector
from bosun.protocol import app_name_of
from workflows.application import LABELS_KEY


def selector_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-l",
        "--selector",
        default=None,
        metavar="SELECTOR",
        help="Only apps whose labels match, e.g. 'team=web,env in (dev,qa),!legacy' "
        "(Kubernetes label selector syntax).",
    )(fn)


def parse_selector_flag(text: str | None) -> Selector | None:
    """The ``-l`` flag's selector, or None; a bad one is a usage error naming the part."""
    from cli.app import EXIT_USAGE, CliError  # app.py imports this module

    if text is None:
        return None
    try:
        return parse_selector(text)
    except ValueError as exc:
        raise CliError(f"-l/--selector: {exc}", EXIT_USAGE) from None


def visibility_query(selector: Selector | None, projects: tuple[str, ...] = ()) -> str:
    """The Temporal visibility query for the running app workflows ``selector`` and
    ``projects`` may select (a superset; see :func:`select_apps`)."""
    query = sa.RUNNING_APPS
    if projects:
        query += " AND " + sa.PROJECT + " IN (" + ", ".join(_quote(p) for p in projects) + ")"
    narrowed = selector.visibility_query(sa.LABELS) if selector else ""
    return f"{query} AND {narrowed}" if narrowed else query


async def select_apps(client: Client, selector: Selector | None, projects: tuple[str, ...] = ()) -> list[str]:
    """The names of the running apps that ``selector`` matches and (if given) are in one of
    ``projects``, sorted."""
    names = []
    async for execution in client.list_workflows(visibility_query(selector, projects)):
        labels = sa.labels_of(execution.typed_search_attributes.get(LABELS_KEY) or [])
        if selector is None or selector.matches(labels):
            names.append(app_name_of(execution.id))
    return sorted(names)


def for_each_selected(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Coroutine[Any, Any, None]]:
    """Run the command ``fn(name=…, **options)`` for NAME, or for each app ``-l`` selects.

    With a selector the apps are taken one after the other; one that fails does not stop
    the others, and the exit code is the worst of them. No app selected is exit code 3.
    """

    @functools.wraps(fn)
    async def wrapper(*, name: str | None, selector: str | None, **options: Any) -> None:
        from cli.app import EXIT_NOT_FOUND, EXIT_USAGE, CliError, _client

        parsed = parse_selector_flag(selector)
        if parsed is None:
            if not name:
                raise CliError("give an application NAME, or -l SELECTOR", EXIT_USAGE)
            await fn(name=name, **options)
            return
        if name:
            raise CliError("give an application NAME or -l SELECTOR, not both", EXIT_USAGE)
        client = await _client(options.get("address"), options.get("temporal_namespace"))
        names = await select_apps(client, parsed)
        if not names:
            raise CliError(f"no application matches the selector {selector!r}", EXIT_NOT_FOUND)
        worst = 0
        for each in names:
            try:
                await fn(name=each, **options)
            except CliError as exc:
                click.echo(f"error: {exc}", err=True)
                worst = max(worst, exc.code)
            except SystemExit as exc:
                worst = max(worst, int(exc.code or 0))
        if worst:
            sys.exit(worst)

    return wrapper


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
