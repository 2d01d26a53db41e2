"""Resource actions through the app workflow: the ``resource_actions`` and
``run_resource_action`` updates of ApplicationWorkflow (``bosun app actions list|run``).

The workflow names the resource (one of the app's resources, by kind and name, see
:func:`bosun.actions.select_resource`), then runs the activity of the same name on the
destination cluster's task queue (:mod:`activities.actions`). A run is recorded in the
app's state (``AppStatus.last_action`` and the ``action_history`` query): who ran which
action on what, and how it ended; then the app is refreshed, so its status shows the
change.

Failures reach the client as an ApplicationError whose ``type`` is the reason
(``NotFound``, ``InvalidArgument``, ``Disabled``, ``ScriptError``, ``KubeError``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.activity_calls as calls
    from activities.actions import ResourceActionInput
    from activities.contracts import Destination, ResourceResult
    from bosun.actions import ActionError, ResourceAction, select_resource
    from bosun.operation import OperationPhase, ResultStatus
    from bosun.resources import ResourceKey

ACTION_HISTORY_LIMIT = 20


class ResourceActionsRequest(BaseModel):
    """Which resource of the app: ``--kind``, ``--resource-name`` and, where the app has
    several of that kind and name, ``--namespace`` or ``--group``."""

    kind: str
    resource_name: str
    namespace: str = ""
    group: str | None = None


class ResourceActionsResponse(BaseModel):
    key: ResourceKey
    actions: list[ResourceAction] = Field(default_factory=list)


class RunResourceActionRequest(ResourceActionsRequest):
    action: str
    params: dict[str, str] = Field(default_factory=dict)
    initiated_by: str = ""
    """Who asked (the CLI sends ``user@host``): kept in the app's action history."""


class ActionRecord(BaseModel):
    """One action run, as the app's status and ``action_history`` keep it."""

    action: str
    key: ResourceKey
    phase: OperationPhase
    """Succeeded or Failed."""
    message: str = ""
    initiated_by: str = ""
    at: datetime | None = None
    results: list[ResourceResult] = Field(default_factory=list)


Resolve = Callable[[], Awaitable[str]]


def _select(keys: Iterable[ResourceKey], request: ResourceActionsRequest, app: str) -> ResourceKey:
    try:
        return select_resource(
            keys,
            kind=request.kind,
            name=request.resource_name,
            namespace=request.namespace,
            group=request.group,
            app=app,
        )
    except ActionError as exc:
        raise ApplicationError(str(exc), type=exc.reason, non_retryable=True) from None


def _failure(exc: ActivityError) -> ApplicationError:
    """The activity's own error (its type and message), for the update's caller."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        return ApplicationError(cause.message, type=cause.type, non_retryable=True)
    return ApplicationError(str(cause or exc), type="Error", non_retryable=True)


async def list_actions(
    *,
    app: str,
    project: str,
    destination: Destination,
    keys: list[ResourceKey],
    request: ResourceActionsRequest,
    task_queue: Resolve,
) -> ResourceActionsResponse:
    key = _select(keys, request, app)
    try:
        result = await calls.resource_actions(
            ResourceActionInput(app=app, destination=destination, key=key, project=project),
            task_queue=await task_queue(),
            summary=f"actions of {key.short}",
        )
    except ActivityError as exc:
        raise _failure(exc) from None
    return ResourceActionsResponse(key=key, actions=result.actions)


async def run_action(
    *,
    app: str,
    project: str,
    destination: Destination,
    keys: list[ResourceKey],
    request: RunResourceActionRequest,
    task_queue: Resolve,
    record: Callable[[ActionRecord], None],
) -> ActionRecord:
    """Run the action and record the outcome (also a failure of the action itself)."""
    key = _select(keys, request, app)
    who = request.initiated_by or "unknown"
    entry = ActionRecord(
        action=request.action, key=key, phase=OperationPhase.SUCCEEDED, initiated_by=who, at=workflow.now()
    )
    try:
        result = await calls.run_resource_action(
            ResourceActionInput(
                app=app, destination=destination, key=key, action=request.action, params=request.params, project=project
            ),
            task_queue=await task_queue(),
            summary=f"action {request.action} on {key.short} by {who}",
        )
    except ActivityError as exc:
        failure = _failure(exc)
        record(entry.model_copy(update={"phase": OperationPhase.FAILED, "message": failure.message}))
        raise failure from None
    changed = [r for r in result.results if r.status is not ResultStatus.UNCHANGED]
    message = ", ".join(f"{r.key.short} {r.label}" for r in result.results) if changed else "nothing to change"
    entry = entry.model_copy(update={"results": result.results, "message": message})
    record(entry)
    return entry
