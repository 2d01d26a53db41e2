"""The per-cluster watch cache: what it keeps, when it answers, how it recovers."""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.contracts import CompareInput
from activities.kube import KubeError, UnknownKind
from activities.livecache import LAST_APPLIED, KindCache, LiveCache, Lru, is_tracked, strip
from bosun.appnames import instance_name
from bosun.resources import Manifest, ResourceKey
from bosun.tracking import ANNOTATION, apply_tracking, is_tracked_by
from tests.unit.test_cluster_tracking import DESTINATION, FakeKube, activities
from tests.unit.test_cluster_tracking import configmap as tracked_configmap

WAIT = 10.0


def eventually(check: Callable[[], Any], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def configmap(name: str, version: int, *, app: str | None = "shop", **data: str) -> Manifest:
    obj: Manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "resourceVersion": str(version),
            "uid": f"uid-{name}",
            "managedFields": [{"manager": "bosun"}],
            "annotations": {LAST_APPLIED: "{}"},
        },
        "data": dict(data),
    }
    return apply_tracking(obj, app) if app else obj


class FakeCluster:
    """A KubeClient double: a list answer, then watch events fed from a queue; an item that
    is an exception is raised from the watch (as the client raises a KubeError)."""

    name = "fake"

    def __init__(self, items: list[Manifest], version: str = "10") -> None:
        self.items = items
        self.version = version
        self.events: queue.Queue[tuple[str, Manifest] | Exception] = queue.Queue()
        self.lists = 0
        self.list_error: Exception | None = None
        self.listed = threading.Event()

    def list_with_version(self, api_version: str, kind: str) -> tuple[list[Manifest], str]:
        self.lists += 1
        if self.list_error is not None:
            raise self.list_error
        self.listed.set()
        return [dict(i) for i in self.items], self.version

    def watch(self, api_version: str, kind: str, *, resource_version: str, timeout_seconds: int) -> Iterator[Any]:
        while True:
            event = self.events.get()
            if isinstance(event, Exception):
                raise event
            yield event


def started(cluster: FakeCluster, **kwargs: Any) -> KindCache:
    cache = KindCache(cluster, "v1", "ConfigMap", **kwargs)  # type: ignore[arg-type]
    cache.start()
    assert cache.wait_synced(WAIT)
    return cache


def test_kept_objects_are_stripped_of_managed_fields_and_last_applied() -> None:
    kept = strip(configmap("a", 1))
    assert "managedFields" not in kept["metadata"]
    assert LAST_APPLIED not in kept["metadata"]["annotations"]
    assert kept["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]


def test_only_tracked_objects_are_kept_others_are_asked_of_the_server() -> None:
    assert is_tracked(configmap("a", 1))
    assert not is_tracked(configmap("b", 1, app=None))
    assert is_tracked({"metadata": {"labels": {"app.kubernetes.io/instance": "shop"}}})
    cache = started(FakeCluster([configmap("a", 1), configmap("b", 2, app=None)]))
    answered, live = cache.get("shop", "a")
    assert answered and live is not None and live["data"] == {}
    assert cache.get("shop", "b") == (False, None)  # exists, untracked: not known here
    assert cache.get("shop", "c") == (True, None)  # does not exist
    assert cache.version("shop", "a") == "1" and cache.version("shop", "b") is None
    assert [o["metadata"]["name"] for o in cache.items() or []] == ["a"]
    cache.stop()


def test_nothing_is_answered_before_the_first_list() -> None:
    cluster = FakeCluster([configmap("a", 1)])
    cluster.list_error = KubeError("boom", retryable=True, status=503)
    cache = KindCache(cluster, "v1", "ConfigMap")  # type: ignore[arg-type]
    cache.start()
    eventually(lambda: cluster.lists >= 1, timeout=WAIT)
    assert not cache.synced
    assert cache.get("shop", "a") == (False, None)
    assert cache.items() is None and cache.versions() is None
    cache.stop()


def test_watch_events_update_the_cache_and_call_on_change_for_tracked_objects() -> None:
    changes: list[str] = []
    cluster = FakeCluster([configmap("a", 1)])
    cache = started(cluster, on_change=lambda obj: changes.append(obj["metadata"]["name"]))
    cluster.events.put(("MODIFIED", configmap("a", 11, key="v")))
    cluster.events.put(("ADDED", configmap("untracked", 12, app=None)))
    cluster.events.put(("ADDED", configmap("b", 13)))
    cluster.events.put(("DELETED", configmap("a", 14)))
    eventually(lambda: cache.version("shop", "b") == "13", timeout=WAIT)
    eventually(lambda: cache.get("shop", "a") == (True, None), timeout=WAIT)
    assert changes == ["a", "b", "a"]
    cache.stop()


def test_an_apps_objects_are_found_by_the_owner_index_as_by_a_full_scan() -> None:
    """versions(owner=…) and items(owner=…) narrow to the objects whose tracking names the instance; the answer
    is the one a scan of every object with is_tracked_by gives, through adds, moves and deletes."""
    cluster = FakeCluster([configmap("a", 1), configmap("b", 2, app="team_web"), configmap("c", 3, app=None)])
    cache = started(cluster)

    def agree(app: str) -> dict[tuple[str, str], str]:
        indexed = cache.versions(lambda o: is_tracked_by(o, app), owner=instance_name(app))
        assert indexed == cache.versions(lambda o: is_tracked_by(o, app))
        # items(owner=…), what a compare's prune candidates read: the same objects as a full scan.
        owned = [o for o in cache.items(owner=instance_name(app)) or [] if is_tracked_by(o, app)]
        assert sorted(owned, key=str) == sorted((o for o in cache.items() or [] if is_tracked_by(o, app)), key=str)
        return indexed or {}

    assert agree("shop") == {("shop", "a"): "1"} and agree("team/web") == {("shop", "b"): "2"}
    cluster.events.put(("MODIFIED", configmap("a", 11, app="team/web")))  # moved to another app
    cluster.events.put(("ADDED", configmap("d", 12)))
    cluster.events.put(("DELETED", configmap("b", 13, app="team/web")))
    eventually(lambda: cache.version("shop", "b") == "", timeout=WAIT)
    assert agree("shop") == {("shop", "d"): "12"}
    assert agree("team/web") == {("shop", "a"): "11"}
    assert agree("nobody") == {}
    cache.stop()


def test_an_older_event_never_replaces_a_newer_write() -> None:
    cluster = FakeCluster([configmap("a", 1)])
    cache = started(cluster)
    assert cache.put(configmap("a", 20, key="written"))  # write-through of our own apply
    assert not cache.put(configmap("a", 20, key="written"))  # its echo from the watch: no change
    cluster.events.put(("MODIFIED", configmap("a", 15, key="older")))
    cluster.events.put(("ADDED", configmap("z", 21)))
    eventually(lambda: cache.version("shop", "z") == "21", timeout=WAIT)
    answered, live = cache.get("shop", "a")
    assert answered and live is not None and live["data"] == {"key": "written"}
    cache.stop()


def test_410_gone_lists_again_and_reports_what_changed_meanwhile() -> None:
    changes: list[str] = []
    cluster = FakeCluster([configmap("a", 1), configmap("b", 2)])
    cache = started(cluster, on_change=lambda obj: changes.append(obj["metadata"]["name"]))
    cluster.items = [configmap("a", 1), configmap("b", 30, key="edited"), configmap("c", 31)]
    cluster.events.put(KubeError("too old", retryable=False, status=410))
    eventually(lambda: cluster.lists == 2 and cache.synced, timeout=WAIT)
    answered, live = cache.get("shop", "b")
    assert answered and live is not None and live["data"] == {"key": "edited"}
    assert sorted(changes) == ["b", "c"]
    cache.stop()


def test_an_error_stops_answers_until_the_watch_is_back() -> None:
    cluster = FakeCluster([configmap("a", 1)])
    cache = started(cluster)
    cluster.list_error = KubeError("cluster unreachable", retryable=True)
    cluster.events.put(KubeError("connection reset", retryable=True))
    eventually(lambda: not cache.synced, timeout=WAIT)
    assert cache.get("shop", "a") == (False, None)
    cluster.list_error = None
    cluster.items = [configmap("a", 40, key="after")]
    eventually(lambda: cache.synced, timeout=WAIT)  # backoff: 1 s, then 2 s
    answered, live = cache.get("shop", "a")
    assert answered and live is not None and live["data"] == {"key": "after"}
    cache.stop()


def test_a_kind_the_cluster_does_not_serve_is_never_answered() -> None:
    cluster = FakeCluster([])
    cluster.list_error = UnknownKind("example.com/v1", "Widget")
    live = LiveCache(cluster)  # type: ignore[arg-type]
    probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "shop"}}
    assert live.get(probe) == (False, None)
    eventually(lambda: cluster.lists >= 1, timeout=WAIT)
    assert live.get(probe) == (False, None)
    assert live.list("v1", "ConfigMap") is None
    live.stop()


def test_live_cache_keeps_any_object_of_a_kind_asked_for_with_keep_all() -> None:
    cluster = FakeCluster([configmap("project", 1, app=None)])
    live = LiveCache(cluster)  # type: ignore[arg-type]
    probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "project", "namespace": "shop"}}
    live.get(probe, keep_all=True)
    kind = live.kind("v1", "ConfigMap")
    assert kind is not None and kind.wait_synced(WAIT)
    answered, found = live.get(probe)
    assert answered and found is not None
    assert live.counts() == {"v1/ConfigMap": 1}
    live.stop()
    assert live.get(probe) == (False, None)


def test_lru_keeps_the_most_recently_used() -> None:
    memo: Lru[str, int] = Lru(2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1
    memo.put("c", 3)
    assert memo.get("b") is None and memo.get("a") == 1 and memo.get("c") == 3
    assert len(memo) == 2


# --------------------------------------------------------------------------- the compare


class CachedKube(FakeKube):
    """:class:`FakeKube` with a real :class:`LiveCache` over it and every request counted."""

    name = "fake"

    def __init__(self, *objects: Manifest) -> None:
        super().__init__(*objects)
        self.api_calls = 0
        self.dry_runs = 0
        self.events: queue.Queue[tuple[str, Manifest]] = queue.Queue()
        self.live = LiveCache(self)  # type: ignore[arg-type,assignment]

    def get(self, obj: Manifest) -> Manifest | None:
        self.api_calls += 1
        return super().get(obj)

    def cached_get(self, obj: Manifest, *, keep_all: bool = False) -> Manifest | None:
        answered, found = self.live.get(obj, keep_all=keep_all)  # type: ignore[union-attr]
        return found if answered else self.get(obj)

    def apply(self, obj: Manifest, *, dry_run: bool = False, force: bool = True, validate: bool = True) -> Manifest:
        self.api_calls += 1
        self.dry_runs += dry_run
        return super().apply(obj, dry_run=dry_run, force=force, validate=validate)

    def list(self, api_version: str, kind: str, **kwargs: Any) -> list[Manifest]:
        self.api_calls += 1
        return super().list(api_version, kind, **kwargs)

    def list_with_version(self, api_version: str, kind: str) -> tuple[list[Manifest], str]:
        return [copy.deepcopy(o) for k, o in self.objects.items() if k.kind == kind], "1"

    def watch(self, api_version: str, kind: str, **kwargs: Any) -> Iterator[tuple[str, Manifest]]:
        while True:
            yield self.events.get()


def versioned(obj: Manifest, version: int) -> Manifest:
    obj["metadata"]["resourceVersion"] = str(version)
    return obj


def test_a_compare_with_nothing_changed_sends_no_request_and_a_change_costs_one_dry_run(tmp_path: Path) -> None:
    settings_cm = versioned(tracked_configmap("settings", annotations={ANNOTATION: "web:/ConfigMap:shop/settings"}), 5)
    kube = CachedKube(
        settings_cm, versioned(tracked_configmap("old", annotations={ANNOTATION: "web:/ConfigMap:shop/old"}), 6)
    )
    kind = kube.live.kind("v1", "ConfigMap")  # type: ignore[union-attr]
    assert kind is not None and kind.wait_synced(WAIT)
    acts, digest = activities(tmp_path, kube)  # type: ignore[arg-type]
    compare = CompareInput(app="web", manifests_digest=digest, destination=DESTINATION, prune=True)

    first = ActivityEnvironment().run(acts.compare, compare)
    assert {r.key.name: r.requires_pruning for r in first.resources} == {"settings": False, "old": True}
    assert (kube.api_calls, kube.dry_runs) == (1, 1), "one dry run; the GET and the LIST come from the cache"

    again = ActivityEnvironment().run(acts.compare, compare)
    assert kube.api_calls == 1, "nothing changed: no request at all"
    assert again.model_dump(exclude={"diff_digest"}) == first.model_dump(exclude={"diff_digest"})

    changed = copy.deepcopy(settings_cm)
    changed["data"] = {"k": "edited by hand"}
    kube.objects[ResourceKey.of(changed)] = versioned(changed, 7)
    kube.events.put(("MODIFIED", changed))
    eventually(lambda: kind.version("shop", "settings") == "7", timeout=WAIT)
    ActivityEnvironment().run(acts.compare, compare)
    assert (kube.api_calls, kube.dry_runs) == (2, 2), "only the changed object is dry-run again"
    kube.live.stop()  # type: ignore[union-attr]
