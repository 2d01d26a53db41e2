"""Bosun's Temporal protocol: the ids of its workflows and schedules, the names of its
workflows, updates, signals and queries, and the requests more than one layer sends.

The CLI, the activities that drive Bosun's own workflows (:mod:`activities.trigger`,
:mod:`activities.declarative`), the worker and the workflows all speak this protocol, and
so do the ``temporal`` CLI and any SDK. It lives in the pure core so that every layer can
import it: an activity may not import ``workflows`` (``.importlinter``), and a name spelled
out twice drifts. Names and ids are wire format: never rename one (running workflows and
recorded histories hold them); add new ones here.

The other request and result models of the app workflow are in :mod:`workflows.state`:
most hold activity contracts. An activity that sends a request sends the model from here
(``SyncRequest``, ``RefreshRequest``, ``AppWorkflowStart``), never a dict of its field
names: a renamed or retyped field then fails mypy instead of the workflow.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, Field

from bosun.appnames import app_workflow_id
from bosun.resource_filter import SyncResource
from bosun.sync_options import with_overrides

__all__ = [
    "APP_WORKFLOW_PREFIX",
    "AnalysisRunQuery",
    "AnalysisRunSignal",
    "RolloutCommand",
    "RolloutCommandResult",
    "RolloutQuery",
    "RolloutRef",
    "RolloutSignal",
    "RolloutUpdate",
    "analysis_run_workflow_id",
    "rollout_ref_of",
    "rollout_workflow_id",
    "AppQuery",
    "AppSignal",
    "AppUpdate",
    "AppWorkflowStart",
    "BatchQuery",
    "DeclarativeQuery",
    "DeclarativeSignal",
    "DeleteRequest",
    "RefreshRequest",
    "SyncQuery",
    "SyncRequest",
    "WorkflowType",
    "app_name_of",
    "app_schedule_id",
    "app_workflow_id",
    "batch_workflow_id",
    "declarative_workflow_id",
    "sync_workflow_id",
]


# ------------------------------------------------------------------------- workflow types


class WorkflowType:
    """The registered names of Bosun's workflows (``@workflow.defn(name=...)``)."""

    APPLICATION: Final = "ApplicationWorkflow"
    SYNC: Final = "SyncWorkflow"
    BATCH_SYNC: Final = "BatchSyncWorkflow"
    DECLARATIVE_APPS: Final = "DeclarativeAppsWorkflow"
    ROLLOUT: Final = "RolloutWorkflow"
    ANALYSIS_RUN: Final = "AnalysisRunWorkflow"


# ------------------------------------------------------------------------- ids

APP_WORKFLOW_PREFIX: Final = "app:"
"""Every app workflow's id starts so (:func:`bosun.appnames.app_workflow_id` builds it)."""


def app_name_of(workflow_id: str) -> str:
    """The app an app workflow id names: ``app:<name>`` → ``<name>``."""
    return workflow_id.removeprefix(APP_WORKFLOW_PREFIX)


def sync_workflow_id(app: str, operation_id: int) -> str:
    """The SyncWorkflow of an app's operation ``operation_id``: ``app:<name>:sync:<n>``."""
    return f"{app_workflow_id(app)}:sync:{operation_id}"


def declarative_workflow_id(task_queue: str) -> str:
    """The DeclarativeAppsWorkflow of one Bosun installation: ``declarative-apps:<queue>``."""
    return f"declarative-apps:{task_queue}"


def app_schedule_id(app: str) -> str:
    """The Schedule an Application's ``bosun.dev/sync-schedule`` annotation owns: ``sync:<app>``."""
    return f"sync:{app}"


def batch_workflow_id(schedule_id: str) -> str:
    """Workflow id of a scheduled batch, ``batch:<schedule>``; Temporal appends the scheduled time."""
    return f"batch:{schedule_id}"


def rollout_workflow_id(cluster: str, namespace: str, name: str) -> str:
    """The RolloutWorkflow that drives one Argo Rollouts ``Rollout``:
    ``rollout:<cluster>:<namespace>/<name>``, ``cluster`` being the destination cluster's
    name as Bosun knows it (``in-cluster`` for the management cluster)."""
    return f"rollout:{cluster}:{namespace}/{name}"


def rollout_ref_of(workflow_id: str) -> RolloutRef | None:
    """The Rollout a RolloutWorkflow id names (the inverse of :func:`rollout_workflow_id`;
    ``app`` is not in the id), or None for any other id (an AnalysisRun's, an app's)."""
    rest = workflow_id.removeprefix("rollout:")
    cluster, _, qualified = rest.rpartition(":")
    namespace, slash, name = qualified.partition("/")
    if rest == workflow_id or not cluster or not slash or not namespace or not name or "/" in name:
        return None
    return RolloutRef(cluster=cluster, namespace=namespace, name=name)


def analysis_run_workflow_id(rollout_workflow: str, run_name: str) -> str:
    """An AnalysisRun a rollout started: ``<rollout workflow id>:analysis:<run name>``."""
    return f"{rollout_workflow}:analysis:{run_name}"


# ------------------------------------------------------------------------- names


class AppUpdate:
    """Updates of ``ApplicationWorkflow``."""

    SYNC: Final = "sync"
    SYNC_ASYNC: Final = "sync_async"
    EDIT_SPEC: Final = "edit_spec"
    SUSPEND: Final = "suspend"
    RESUME: Final = "resume"
    ORPHANED_RESOURCES: Final = "orphaned_resources"
    ROLLBACK: Final = "rollback"
    MANIFESTS: Final = "manifests"
    """The digest of a render in the worker's store (old CLIs read their local store)."""
    MANIFESTS_CONTENT: Final = "manifests_content"
    """The objects themselves (``bosun app manifests``), fetched by an activity on any worker."""
    DIFF_CONTENT: Final = "diff_content"
    """The diff bodies of the last comparison (``bosun app diff``), fetched by an activity on any worker."""
    RESOURCE_ACTIONS: Final = "resource_actions"
    RUN_RESOURCE_ACTION: Final = "run_resource_action"
    REFRESH_NOW: Final = "refresh_now"
    DELETE: Final = "delete"


class AppSignal:
    """Signals of ``ApplicationWorkflow``."""

    REFRESH: Final = "refresh"
    UPDATE_SPEC: Final = "update_spec"
    UNPIN: Final = "unpin"
    TERMINATE_OPERATION: Final = "terminate_operation"


class AppQuery:
    """Queries of ``ApplicationWorkflow``."""

    STATUS: Final = "status"
    HISTORY: Final = "history"
    APPLICATION: Final = "application"
    ACTION_HISTORY: Final = "action_history"


class SyncQuery:
    """Queries of ``SyncWorkflow``."""

    PROGRESS: Final = "progress"


class BatchQuery:
    """Queries of ``BatchSyncWorkflow``."""

    PROGRESS: Final = "progress"


class RolloutUpdate:
    """Updates of ``RolloutWorkflow`` (``bosun rollout promote|abort|retry|pause|resume``);
    each takes a :class:`RolloutCommand` and answers a :class:`RolloutCommandResult` once
    the command has taken effect (the step is taken, the pause is set)."""

    PROMOTE: Final = "promote"
    ABORT: Final = "abort"
    RETRY: Final = "retry"
    PAUSE: Final = "pause"
    RESUME: Final = "resume"


class RolloutSignal:
    """Signals of ``RolloutWorkflow``."""

    OBSERVE: Final = "observe"
    """Re-read the Rollout: a sync applied it, or someone patched it (``kubectl argo rollouts
    promote`` patches ``status.pauseConditions``, ``abort`` patches ``status.abort``)."""
    APPROVE: Final = "approve"
    """A person's approval of the current pause, from the Temporal UI (a :class:`RolloutCommand`)."""


class RolloutQuery:
    """Queries of ``RolloutWorkflow``."""

    DESCRIBE: Final = "describe"
    """A :class:`RolloutDescription`: what ``bosun rollout get`` shows."""


class AnalysisRunSignal:
    """Signals of ``AnalysisRunWorkflow``."""

    TERMINATE: Final = "terminate"
    """End a (background) run: Successful unless a metric already failed (Argo Rollouts' ``terminate``)."""


class AnalysisRunQuery:
    """Queries of ``AnalysisRunWorkflow``."""

    STATUS: Final = "status"
    """The AnalysisRun's current ``status`` in Argo Rollouts' shape (a dict)."""


class DeclarativeSignal:
    """Signals of ``DeclarativeAppsWorkflow``."""

    POKE: Final = "poke"
    CONFIGURE: Final = "configure"


class DeclarativeQuery:
    """Queries of ``DeclarativeAppsWorkflow``."""

    DECLARED: Final = "declared"


# ------------------------------------------------------------------------- shared requests


class AppWorkflowStart(BaseModel):
    """What starts an app workflow; its input (:class:`workflows.state.AppWorkflowInput`)
    adds the state carried over continue-as-new."""

    application: dict[str, Any]
    """The Application as Argo CD JSON (apiVersion argoproj.io/v1alpha1)."""
    refresh_seconds: float = 120.0
    declared: bool = False
    """Started for an Application resource (the declarative pass): the workflow writes its status
    to that resource when it changes."""


class SyncRequest(BaseModel):
    """A sync asked for by a person or a schedule (the ``sync`` update)."""

    rollback_of: int | None = None
    """Set by ``rollback``: the history entry this sync restores (pins the revision)."""

    revision: str = ""
    """Commit, branch or tag; empty means the app's targetRevision."""
    prune: bool | None = None
    """Delete resources removed from Git; a manual sync prunes only when asked (as
    ``argocd app sync --prune``); automated syncs use ``automated.prune``."""
    dry_run: bool = False
    trigger: str = "manual"
    resources: list[SyncResource] = Field(default_factory=list)
    """A partial sync (``--resource``): only these are applied or pruned, and no hook
    runs; it is not recorded in the history (Argo CD). Empty: the whole app."""
    force: bool = False
    """``--force``: as sync option Force=true for this operation."""
    replace: bool = False
    """``--replace``: as sync option Replace=true for this operation."""
    apply_out_of_sync_only: bool = False
    """``--apply-out-of-sync-only``: as sync option ApplyOutOfSyncOnly=true for this operation."""

    def sync_options(self, app_options: dict[str, str]) -> dict[str, str]:
        """The app's sync options with this request's overrides (the object's annotation
        still wins over both, key by key, as for the app's own options)."""
        return with_overrides(
            app_options, force=self.force, replace=self.replace, apply_out_of_sync_only=self.apply_out_of_sync_only
        )


class RefreshRequest(BaseModel):
    """The ``refresh`` signal and the ``refresh_now`` update."""

    hard: bool = False


class DeleteRequest(BaseModel):
    """The ``delete`` update."""

    cascade: bool = True


class RolloutRef(BaseModel):
    """Which Rollout a RolloutWorkflow drives, and the app that deploys it."""

    cluster: str
    """The destination cluster's name as Bosun knows it (``in-cluster``, ``bosun-test-a``)."""
    namespace: str
    name: str
    app: str = ""

    def workflow_id(self) -> str:
        return rollout_workflow_id(self.cluster, self.namespace, self.name)


class RolloutCommand(BaseModel):
    """A person's command to a rollout (the updates of :class:`RolloutUpdate`, the
    ``approve`` signal). ``who`` is recorded in history with the step it moved."""

    full: bool = False
    """``promote --full``: skip the remaining steps, pauses and analyses."""
    who: str = ""
    reason: str = ""


class RolloutCommandResult(BaseModel):
    """What a rollout update answers once the command took effect."""

    accepted: bool
    message: str = ""
    phase: str = ""
    """The Rollout's ``status.phase`` afterwards (Healthy, Progressing, Paused, Degraded)."""
    current_step_index: int | None = None


# ------------------------------------------------------------------------- promotion pipelines

PIPELINE_WORKFLOW: Final = "PipelineWorkflow"
"""The registered name of ``PipelineWorkflow`` (:mod:`workflows.pipeline`)."""


def pipeline_workflow_id(name: str) -> str:
    """The PipelineWorkflow of a pipeline: ``pipeline:<name>``; one run at a time per name."""
    return f"pipeline:{name}"


class PipelineUpdate:
    """Updates of ``PipelineWorkflow`` (``bosun pipeline approve|reject|abort``); each takes a
    :class:`PipelineCommand` and answers a message once recorded, or is rejected saying why."""

    APPROVE: Final = "approve"
    REJECT: Final = "reject"
    ABORT: Final = "abort"


class PipelineQuery:
    """Queries of ``PipelineWorkflow``."""

    GET: Final = "get"
    """The run's :class:`bosun.pipeline.PipelineStatus`."""


class PipelineCommand(BaseModel):
    """A person's word on a pipeline run; ``who`` and ``reason`` are recorded with the gate."""

    who: str = ""
    reason: str = ""
    stage: str = ""
    """``approve --stage``: only if the run waits for an approval in this stage ("" any)."""


class SpecEditRequest(BaseModel):
    """The ``edit_spec`` update as an activity sends it (a pipeline's promotion); the app
    workflow reads it as :class:`workflows.state.SpecEdit`, whose fields these are
    (``tests/unit/test_pipeline.py`` keeps the two equal)."""

    application: dict[str, Any]
    base_digest: str = ""


# ------------------------------------------------------------------------- ApplicationSets
# (issue #17) Argo CD's ApplicationSet: one ApplicationSetWorkflow per set, started and poked
# by the worker's watch (worker/appset_watch.py), ended when its resource is gone.

APPLICATION_SET_WORKFLOW: Final = "ApplicationSetWorkflow"
"""The registered name of :class:`workflows.appset.ApplicationSetWorkflow`."""

APPSET_WORKFLOW_PREFIX: Final = "appset:"


def appset_workflow_id(namespace: str, name: str) -> str:
    """The ApplicationSetWorkflow of the ApplicationSet ``name`` in ``namespace``: ``appset:<namespace>/<name>``."""
    return f"{APPSET_WORKFLOW_PREFIX}{namespace}/{name}"


class AppSetSignal:
    """Signals of ``ApplicationSetWorkflow``."""

    CHANGED: Final = "changed"
    """The set's resource changed (or went away): read it and generate again (the watch sends it)."""
    REFRESH: Final = "refresh"
    """Generate again now (Git or the cluster Secrets may have changed): a person or a webhook."""


class AppSetQuery:
    """Queries of ``ApplicationSetWorkflow``."""

    STATUS: Final = "status"
    """An :class:`AppSetStatus`: the last generation's outcome and the RollingSync step."""


class AppSetStart(BaseModel):
    """What starts an ApplicationSetWorkflow (signal-with-start with ``changed``); its input
    (:class:`workflows.appset.AppSetWorkflowInput`) adds the state carried over continue-as-new."""

    namespace: str
    name: str
    rolling_poll_seconds: float = 10.0
    """How often a RollingSync reads its apps' sync and health while a step is under way."""


class AppSetStatus(BaseModel):
    """What the ``status`` query of an ApplicationSetWorkflow answers."""

    namespace: str
    name: str
    applications: list[str] = Field(default_factory=list)
    """The Applications the last generation wanted."""
    error: str = ""
    """Why the last generation created nothing (the ErrorOccurred condition's message), or empty."""
    rolling_step: int | None = None
    """The RollingSync step under way (1-based, as Argo's ``status.applicationStatus[].step``)."""
    rolling_done: bool = True
    generations: int = 0
    """Generations run by this run of the workflow (since its last continue-as-new)."""


__all__ += [
    "APPLICATION_SET_WORKFLOW",
    "APPSET_WORKFLOW_PREFIX",
    "AppSetQuery",
    "AppSetSignal",
    "AppSetStart",
    "AppSetStatus",
    "appset_workflow_id",
]
