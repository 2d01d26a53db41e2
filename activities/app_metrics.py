"""Metrics only a workflow knows of, recorded by a local activity (a side effect, so not in
workflow code; a marker in history, so a replay does not count it twice)."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from bosun import metrics


class SyncCountInput(BaseModel):
    app: str
    """Bosun's app name (``<namespace>/<name>`` outside the control namespace)."""
    project: str
    dest_server: str
    phase: str
    """The finished operation's phase: Succeeded, Failed or Error."""


class AppMetricActivities:
    @activity.defn(name="count_sync")
    def count_sync(self, input: SyncCountInput) -> None:
        """``argocd_app_sync_total``: one finished sync operation of an app."""
        namespace, name = metrics.app_of_workflow(f"app:{input.app}")  # as argocd_app_info names it
        metrics.count_sync(
            app=name,
            app_namespace=namespace,
            project=input.project,
            dest_server=input.dest_server,
            phase=input.phase,
        )
