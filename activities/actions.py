"""Resource actions on the destination cluster: list what a live object offers, run one.

Both activities run on the destination cluster's task queue. Each reads the live object
fresh, refuses one the app does not track (:func:`bosun.tracking.is_tracked_by`), finds
the kind's scripts (argocd-cm customizations from the :class:`activities.settings.SettingsReader`
first, then Bosun's built-ins, see :mod:`bosun.actions`) and runs them in the Lua sandbox.

``run_resource_action`` applies what the action returned as Argo CD does: a JSON merge
patch from the live object to the returned one (status through the status subresource
when the kind has one), made with the field manager ``bosun-action`` and conditional on
the ``resourceVersion`` that was read, so a concurrent change makes the activity retry
(read, run, patch again) instead of overwriting it; objects an action creates are
checked against the app's project and dry-run created before anything is changed.

A failing script, an unknown action or resource is a non-retryable ApplicationError whose
``type`` is the :class:`bosun.actions.ActionError` reason (``NotFound``, ``UnknownAction``,
``InvalidArgument``, ``Disabled``, ``ScriptError``), or ``InvalidSettings`` for an argocd-cm
that cannot be parsed; nothing is changed then.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Destination, ResourceResult
from activities.kube import ClusterRegistry, KubeClient, KubeError, UnknownKind
from activities.management import ManagementError
from activities.projects import ProjectReader
from activities.settings import SettingsReader
from bosun.actions import (
    CREATE,
    ActionError,
    ImpactedResource,
    LuaRunner,
    ResourceAction,
    action_script,
    builtin_scripts,
    discover,
    discovery_scripts,
    merge_patch,
    run_action,
    split_status,
)
from bosun.lua_sandbox import run_script
from bosun.operation import ResultStatus
from bosun.projects import project_violations
from bosun.resources import Manifest, ResourceKey
from bosun.settings import ActionScripts, SettingsError
from bosun.tracking import TrackingConfig, is_tracked_by

ACTION_FIELD_MANAGER = "bosun-action"
"""Who changed a field in managedFields: not ``bosun`` (the sync's own applies), so a field
an action sets that Git does not hold (restartedAt) stays out of the sync's way."""


class ResourceActionInput(BaseModel):
    app: str
    destination: Destination
    key: ResourceKey
    action: str = ""
    """The action to run (``run_resource_action`` only)."""
    params: dict[str, str] = Field(default_factory=dict)
    """Argo CD's ``actionParams``: name → value."""
    project: str = "default"
    """The app's project: objects an action creates must be permitted by it."""


class ResourceActionsResult(BaseModel):
    key: ResourceKey
    actions: list[ResourceAction] = Field(default_factory=list)


class RunResourceActionResult(BaseModel):
    results: list[ResourceResult] = Field(default_factory=list)
    """One entry per object the action patched or created (``unchanged`` if the patch was empty)."""


def _lua(script: str, obj: Manifest, extra: dict[str, Any], name: str, open_libs: bool) -> Any:
    return run_script(script, obj, extra_globals=extra, name=name, open_libs=open_libs)


class ActionActivities:
    def __init__(
        self,
        *,
        clusters: ClusterRegistry,
        settings: SettingsReader | None = None,
        projects: ProjectReader | None = None,
        run: LuaRunner = _lua,
    ) -> None:
        self._clusters = clusters
        self._settings = settings
        self._projects = projects
        self._run = run

    @activity.defn(name="resource_actions")
    def resource_actions(self, input: ResourceActionInput) -> ResourceActionsResult:
        """The actions a resource of the app offers (discovery.lua run on the live object)."""
        try:
            _, live = self._live(input)
            custom, builtin = self._scripts(input.key)
            scripts = discovery_scripts(custom, builtin)
            return ResourceActionsResult(key=input.key, actions=discover(live, scripts, self._run) if scripts else [])
        except (ActionError, KubeError, SettingsError, ManagementError) as exc:
            raise _application_error(exc) from None

    @activity.defn(name="run_resource_action")
    def run_resource_action(self, input: ResourceActionInput) -> RunResourceActionResult:
        """Run one action on a resource of the app and apply what it returns."""
        try:
            client, live = self._live(input)
            custom, builtin = self._scripts(input.key)
            script = action_script(input.action, custom, builtin)
            scripts = discovery_scripts(custom, builtin)
            offered = discover(live, scripts, self._run) if scripts else []
            if script is None:
                names = ", ".join(a.name for a in offered) or "none"
                raise ActionError(
                    f"{input.key.short} has no action {input.action!r} (available: {names})", reason="UnknownAction"
                )
            if any(a.name == input.action and a.disabled for a in offered):
                raise ActionError(f"action {input.action!r} is disabled for {input.key.short} now", reason="Disabled")
            impacted = run_action(live, input.action, script, input.params, self._run)
            self._check_permitted(client, input, live, impacted)
            return RunResourceActionResult(results=[self._apply(client, live, item) for item in impacted])
        except (ActionError, KubeError, SettingsError, ManagementError) as exc:
            raise _application_error(exc) from None

    # ------------------------------------------------------------------ helpers

    def _live(self, input: ResourceActionInput) -> tuple[KubeClient, Manifest]:
        client = self._clusters.client(input.destination)
        key = input.key
        try:
            live = client.get(
                {
                    "apiVersion": client.preferred_api_version(key.group, key.kind),
                    "kind": key.kind,
                    "metadata": {"name": key.name, "namespace": key.namespace},
                }
            )
        except UnknownKind:
            live = None
        if live is None:
            raise ActionError(f"{key.described} does not exist in the cluster", reason="NotFound")
        tracking = self._settings.read().tracking() if self._settings is not None else TrackingConfig()
        if not is_tracked_by(live, input.app, tracking):
            raise ActionError(f"{key.described} is not tracked by application {input.app!r}", reason="NotFound")
        return client, live

    def _scripts(self, key: ResourceKey) -> tuple[ActionScripts | None, ActionScripts | None]:
        custom = self._settings.read().action_scripts(key.group, key.kind) if self._settings is not None else None
        return custom, builtin_scripts(key.group, key.kind)

    def _check_permitted(
        self, client: KubeClient, input: ResourceActionInput, live: Manifest, impacted: list[ImpactedResource]
    ) -> None:
        """Before anything changes: every object the action touches, other than the resource it
        ran on, is permitted by the app's project, and every object to create passes a dry-run
        create (Argo CD's verifyResourcePermitted and its dry run)."""
        own = ResourceKey.of(live)
        others = [item for item in impacted if item.operation == CREATE or ResourceKey.of(item.resource) != own]
        if not others:
            return
        objects = []
        for item in others:
            obj = item.resource
            namespaced = client.namespaced(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
            meta = obj.setdefault("metadata", {})
            if namespaced and not meta.get("namespace"):
                meta["namespace"] = live["metadata"].get("namespace") or input.destination.namespace or "default"
            objects.append((obj, namespaced))
        if self._projects is not None:
            project, _ = self._projects.read(input.project)
            problems = project_violations(
                project,
                repo_urls=[],
                server=input.destination.server,
                name=input.destination.name,
                namespace=input.destination.namespace,
                objects=objects,
            )
            if problems:
                raise ActionError("; ".join(problems), reason="InvalidArgument")
        for item in others:
            if item.operation != CREATE:
                continue
            try:
                client.create(item.resource, dry_run=True, field_manager=ACTION_FIELD_MANAGER)
            except KubeError as exc:
                if exc.status == 409:
                    raise ActionError(str(exc), reason="InvalidArgument") from None
                raise

    @staticmethod
    def _apply(client: KubeClient, live: Manifest, item: ImpactedResource) -> ResourceResult:
        obj = item.resource
        key = ResourceKey.of(obj)
        if item.operation == CREATE:
            client.create(obj, field_manager=ACTION_FIELD_MANAGER)
            return ResourceResult(key=key, status=ResultStatus.CREATED)
        base = live if key == ResourceKey.of(live) else client.get(obj)
        if base is None:
            raise ActionError(f"{key.described}: the object to patch does not exist", reason="NotFound")
        patch = merge_patch(base, obj)
        if not patch:
            return ResourceResult(key=key, status=ResultStatus.UNCHANGED)
        rest, status = split_status(patch)
        version = base["metadata"].get("resourceVersion")
        if status is not None:
            patched = client.merge_patch(
                base, _conditional(status, version), subresource="status", field_manager=ACTION_FIELD_MANAGER
            )
            if patched is not None:  # the kind has a status subresource: the rest goes separately
                patch, version = rest or {}, patched["metadata"].get("resourceVersion")
        if patch and client.merge_patch(base, _conditional(patch, version), field_manager=ACTION_FIELD_MANAGER) is None:
            raise ActionError(f"{key.described} was deleted meanwhile", reason="NotFound")
        return ResourceResult(key=key, status=ResultStatus.CONFIGURED)


def _conditional(patch: dict[str, Any], version: str | None) -> dict[str, Any]:
    """The patch, failing with a conflict (retried) if the object changed since it was read."""
    if not version:
        return patch
    metadata = dict(patch.get("metadata") or {})
    metadata["resourceVersion"] = version
    return {**patch, "metadata": metadata}


def _application_error(exc: Exception) -> ApplicationError:
    """The error the workflow and CLI read: its type is the action error's reason, or what failed."""
    if isinstance(exc, ActionError):
        return ApplicationError(str(exc), type=exc.reason, non_retryable=True)
    if isinstance(exc, SettingsError):
        return ApplicationError(str(exc), type="InvalidSettings", non_retryable=True)
    if isinstance(exc, ManagementError):
        return ApplicationError(
            f"reading the settings: {exc}", type="SettingsUnavailable", non_retryable=not exc.retryable
        )
    retryable = isinstance(exc, KubeError) and exc.retryable
    return ApplicationError(str(exc), type="KubeError", non_retryable=not retryable)
