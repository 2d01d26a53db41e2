"""Content for the CLI, through Temporal: ``bosun app manifests`` and ``bosun app diff``.

The CLI never reads a directory: the app workflow runs these activities on any worker and
returns what they found (an update result). The content comes from the worker's store, or —
when this worker misses it (the store is a cache: another worker rendered it, or it was
evicted) — is computed again: a render from its recipe, a comparison run again. Results are
cut to fit a Temporal payload (:func:`bosun.payload.fit`), with a note saying what was left
out; Secret values are masked before anything leaves the worker.

They run on the destination cluster's task queue (live objects and comparisons need it);
to show another kind of content, add a method here and an update in ``ApplicationWorkflow``.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.cluster import ClusterActivities
from activities.contracts import ShowDiffInput, ShowManifestsInput, ShownDiff, ShownManifests
from activities.store import ContentStore, StoreMiss
from bosun.diff import mask_secret
from bosun.payload import fit


class ContentActivities:
    def __init__(self, *, store: ContentStore, cluster: ClusterActivities) -> None:
        self._store = store
        self._cluster = cluster

    @activity.defn(name="show_manifests")
    def show_manifests(self, input: ShowManifestsInput) -> ShownManifests:
        """The rendered objects of ``input.digest`` (rendered again on a miss), or the live objects."""
        if input.live is not None:
            objects = self._cluster.live_objects(input.live)  # masked already
        elif input.digest:
            objects = [mask_secret(o) for o in self._cluster.manifests(input.digest, input.render)]
        else:
            raise ApplicationError("show_manifests needs a digest or live keys", type="BadInput", non_retryable=True)
        count, note = fit(objects, input.limit_bytes, what="objects")
        return ShownManifests(objects=objects[:count], total=len(objects), note=note)

    @activity.defn(name="show_diff")
    def show_diff(self, input: ShowDiffInput) -> ShownDiff:
        """The diff bodies of a comparison; on a miss the comparison runs again here."""
        note = ""
        try:
            diffs: dict[str, str] = self._store.get_json(input.diff_digest)
        except StoreMiss:
            compared = self._cluster.compare(input.compare)
            diffs = self._store.get_json(compared.diff_digest)
            if compared.diff_digest != input.diff_digest:
                note = "the cluster changed since the last comparison: this diff is from a comparison made now"
        keys = sorted(diffs)
        count, cut = fit([diffs[k] for k in keys], input.limit_bytes, what="resource diffs")
        return ShownDiff(
            diffs={k: diffs[k] for k in keys[:count]}, total=len(keys), note="; ".join(n for n in (note, cut) if n)
        )
