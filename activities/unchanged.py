"""Is a reconcile needed at all? One local activity answers it without activity tasks.

Most reconciles of a fleet find nothing new: the same commits, the same rendered manifests,
the same project and settings, the same live objects. Run as activities, such a reconcile
still costs four activity tasks (read the project, resolve, render, compare) and their
history events. :meth:`UnchangedCheck.check_unchanged` runs as a local activity in the
workflow's own worker and asks the same questions of that worker's caches, in the order
of cost:

1. every source's revision resolves to the commit of the last render (the shared
   ``ls-remote`` cache, :mod:`activities.revisions`);
2. the AppProject is the one the last reconcile read (its digest);
3. the recipe, rebuilt from the app's spec now with those commits, is in the render cache
   with the last manifests digest (so the spec, the destination's API versions and the tool
   versions are unchanged too);
4. the compare key now — the compare's input, the settings and every live object's
   ``resourceVersion`` from the cluster's watch cache — is the last compare's key.

Only when all four hold is the answer "unchanged", and the workflow keeps its last result.
Anything else — a change, an error, a cache that cannot tell — is "changed" with the reason,
and the workflow reconciles as usual: this check may only ever save work, never skip it wrongly.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.cluster import ClusterActivities
from activities.contracts import CompareInput, ResolveRevisionInput
from activities.gitrepo import redact_url
from activities.projects import GetProjectInput, ProjectActivities
from activities.source import SourceActivities
from bosun.hashing import json_digest

log = logging.getLogger(__name__)


class UnchangedInput(BaseModel):
    compare: CompareInput
    """The compare the workflow would run now, with the last manifests digest; its ``render``
    is the recipe rebuilt from the app's spec now with the last commits."""
    revisions: list[str]
    """The revision each source asks for now, in the order of ``compare.render.sources``."""
    project_digest: str
    """:func:`bosun.hashing.json_digest` of the AppProject the last reconcile read."""
    compare_key: str
    """The last compare's ``CompareResult.key``."""


class UnchangedResult(BaseModel):
    unchanged: bool
    reason: str = ""
    """What changed, or why the check could not tell ("" when unchanged)."""


class UnchangedCheck:
    def __init__(self, *, source: SourceActivities, cluster: ClusterActivities, projects: ProjectActivities) -> None:
        self._source = source
        self._cluster = cluster
        self._projects = projects

    @activity.defn(name="check_unchanged")
    def check_unchanged(self, input: UnchangedInput) -> UnchangedResult:
        try:
            reason = self._what_changed(input)
        except ApplicationError as exc:  # the full reconcile reports it properly
            reason = f"cannot tell: {exc}"
        except Exception as exc:  # noqa: BLE001 - never worse than a full reconcile
            log.warning("check_unchanged %s: %s", input.compare.app, exc)
            reason = f"cannot tell: {type(exc).__name__}"
        return UnchangedResult(unchanged=not reason, reason=reason)

    def _what_changed(self, input: UnchangedInput) -> str:
        recipe = input.compare.render
        if recipe is None or not input.compare_key or not input.project_digest:
            return "no earlier reconcile to compare with"
        if len(input.revisions) != len(recipe.sources):
            return "the sources changed"
        for wanted, source in zip(input.revisions, recipe.sources, strict=True):
            if source.source.get("chart"):
                continue  # a Helm repository chart: its version is the revision itself
            commit = self._source.resolve_revision(ResolveRevisionInput(repo_url=source.repo_url, revision=wanted))
            if commit.commit != source.commit:
                return f"{redact_url(source.repo_url)}: {wanted or 'HEAD'} is now {commit.commit[:12]}"
        project = self._projects.get_project(GetProjectInput(name=input.compare.project))
        if json_digest(project.project) != input.project_digest:
            return f"project {input.compare.project} changed"
        if self._source.rendered_before(recipe) != input.compare.manifests_digest:
            return "the manifests would render differently (or are not in this worker's render cache)"
        return self._cluster.unchanged_since(input.compare, input.compare_key)
