"""The per-operation options of ``bosun app sync``, as ``argocd app sync`` has them.

``--async`` (queue the sync with the ``sync_async`` update and return its operation id
and workflow id at once), ``--resource GROUP:KIND:NAME`` (a partial sync, see
:mod:`bosun.resource_filter`), ``--force``, ``--replace`` and
``--apply-out-of-sync-only`` (the sync options Force=true, Replace=true and
ApplyOutOfSyncOnly=true for this operation only).

Kept apart from :mod:`cli.app` so the ``sync`` command there only gains one
decorator and one call. To add an option: a ``click.option`` in
:func:`sync_operation_options`, a field here and one on ``SyncRequest`` (:mod:`bosun.protocol`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click
from temporalio.client import WorkflowHandle

from bosun.protocol import AppQuery, AppUpdate, SyncRequest
from bosun.resource_filter import SelectorError, SyncResource, select_keys
from cli.output import emit
from workflows.state import AppStatus, SyncStarted


def sync_operation_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--apply-out-of-sync-only",
        is_flag=True,
        help="Apply only the resources that are out of sync (ApplyOutOfSyncOnly=true).",
    )(fn)
    fn = click.option(
        "--replace", is_flag=True, help="Replace (kubectl replace / create) instead of apply (Replace=true)."
    )(fn)
    fn = click.option(
        "--force",
        is_flag=True,
        help="Delete and re-create what cannot be patched (Force=true; with --replace: replace --force).",
    )(fn)
    fn = click.option(
        "--resource",
        "resources",
        multiple=True,
        metavar="GROUP:KIND:NAME",
        help="Sync only these resources: GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME, "
        "'*' for any field, a leading '!' excludes; repeatable. Hooks do not run.",
    )(fn)
    return click.option(
        "--async", "detach", is_flag=True, help="Queue the sync and return at once with its operation and workflow id."
    )(fn)


@dataclass(frozen=True)
class SyncFlags:
    detach: bool = False
    resources: tuple[str, ...] = ()
    force: bool = False
    replace: bool = False
    apply_out_of_sync_only: bool = False

    @classmethod
    def pop(cls, kwargs: dict[str, Any]) -> SyncFlags:
        """Take this module's options out of a command's keyword arguments."""
        return cls(
            detach=kwargs.pop("detach", False),
            resources=tuple(kwargs.pop("resources", ())),
            force=kwargs.pop("force", False),
            replace=kwargs.pop("replace", False),
            apply_out_of_sync_only=kwargs.pop("apply_out_of_sync_only", False),
        )

    async def request_fields(self, handle: WorkflowHandle[Any, Any], name: str) -> dict[str, Any]:
        """The SyncRequest fields these options set. ``--resource`` patterns are resolved
        against the app's resources now (as ``argocd app sync`` does); none matching is an error."""
        from cli.app import EXIT_USAGE, CliError

        fields: dict[str, Any] = {
            "force": self.force,
            "replace": self.replace,
            "apply_out_of_sync_only": self.apply_out_of_sync_only,
        }
        if not self.resources:
            return fields
        status: AppStatus = await handle.query(
            AppQuery.STATUS, result_type=AppStatus, rpc_timeout=timedelta(seconds=30)
        )
        try:
            keys = select_keys([r.key for r in status.resources if not r.hook], self.resources)
        except SelectorError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        if not keys:
            raise CliError(
                f"no resource of {name!r} matches --resource {', '.join(self.resources)} "
                f"(see `bosun app resources {name}`)",
                EXIT_USAGE,
            )
        fields["resources"] = [SyncResource.of(k) for k in keys]
        return fields


async def start_detached(handle: WorkflowHandle[Any, Any], request: SyncRequest, output: str) -> None:
    """``--async``: queue the sync, print its operation id and workflow id, and return."""
    started: SyncStarted = await handle.execute_update(AppUpdate.SYNC_ASYNC, request, result_type=SyncStarted)
    if output != "text":
        emit(started, output)
        return
    click.echo(f"Operation #{started.id} queued: workflow {started.workflow_id}")
