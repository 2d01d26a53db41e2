"""Live state from watches: one cache per destination cluster, shared by every app on it.

A compare used to GET each desired object and LIST each kind the app tracks, on every
reconcile (Argo CD reads the same from its cluster cache). :class:`LiveCache` lists and
then watches each kind a compare asks for (:class:`KindCache`, one thread per
apiVersion/kind, started on first use) and keeps the objects Bosun tracks — those with a
tracking annotation (Argo CD's or Bosun's older one) or an instance label — stripped of
``metadata.managedFields`` and the ``last-applied-configuration`` annotation, so memory
grows with what apps deploy, not with the cluster. Any other object is remembered only as
"exists, untracked": a read of it goes to the API server (it may be about to be adopted).

Answers are never guessed: a kind is served from the cache only once its watch has
listed and is streaming (``synced``); before that, after an error, or while it relists
on 410 Gone, :meth:`LiveCache.get` and :meth:`LiveCache.list` answer ``None`` ("ask the
API server") and the caller does what it did before the cache existed. Errors reconnect
with exponential backoff, as :mod:`worker.app_watch` does.

Bosun's own writes (an apply, a patch, a delete through :class:`activities.kube.KubeClient`)
are written through (:meth:`LiveCache.observe`, :meth:`LiveCache.forget`), so a compare
right after a sync sees what the sync wrote even if the watch event is still on its way;
an older event arriving later never replaces a newer object (resourceVersions compared
as numbers when both are).

``on_change(obj)`` is called (from the watch thread) for every tracked object a watch event
adds, changes or deletes after the first list: the hook for "drift triggers a refresh".
The echo of Bosun's own write (an event of the version it wrote through) is not a change.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from bosun import metrics
from bosun.resources import Manifest
from bosun.tracking import ANNOTATION, DEFAULT_LABEL_KEY, LEGACY_ANNOTATION, owner_hints

if TYPE_CHECKING:
    from activities.kube import KubeClient

log = logging.getLogger(__name__)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
WATCH_SECONDS = 240
"""How long one watch request lasts before it is renewed from the last resourceVersion."""
MAX_BACKOFF_SECONDS = 30.0

ObjectKey = tuple[str, str]
"""(namespace or "", name) of an object within one kind."""

K = TypeVar("K")
V = TypeVar("V")


def strip(obj: Manifest) -> Manifest:
    """``obj`` without what a compare never reads and what costs the most memory:
    ``metadata.managedFields`` and the ``last-applied-configuration`` annotation."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**obj, "metadata": meta}


def is_tracked(obj: Manifest, label_keys: tuple[str, ...] = (DEFAULT_LABEL_KEY,)) -> bool:
    """Whether ``obj`` carries tracking metadata of any app (any method Bosun reads)."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if ANNOTATION in annotations or LEGACY_ANNOTATION in annotations:
        return True
    labels = meta.get("labels") or {}
    return any(key in labels for key in label_keys)


def object_key(obj: Manifest) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def resource_version(obj: Manifest | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


def _newer_or_same(candidate: str, current: str) -> bool:
    """Whether an object at ``candidate`` may replace one at ``current`` (numbers compared
    when both are numbers, as etcd's are; otherwise the latest write wins)."""
    if candidate.isdigit() and current.isdigit():
        return int(candidate) >= int(current)
    return True


def digest(obj: Manifest) -> str:
    """A stable digest of an object (what a memo of its dry run is keyed by)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class _Entry:
    version: str
    obj: Manifest | None
    """None: the object exists but carries no tracking metadata (not kept; ask the server)."""


class KindCache:
    """One apiVersion/kind of one cluster, listed and then watched in a daemon thread."""

    def __init__(
        self,
        client: KubeClient,
        api_version: str,
        kind: str,
        *,
        keep_all: bool = False,
        label_keys: tuple[str, ...] = (DEFAULT_LABEL_KEY,),
        on_change: Callable[[Manifest], None] | None = None,
    ) -> None:
        self.api_version = api_version
        self.kind = kind
        self._client = client
        self._keep_all = keep_all
        self._label_keys = label_keys
        self._on_change = on_change
        self._objects: dict[ObjectKey, _Entry] = {}
        self._by_owner: dict[str, set[ObjectKey]] = {}
        """Instance name → the kept objects whose tracking names it (:func:`owner_hints`): an
        app's objects are found without scanning every object of the kind."""
        self._kept = 0
        """How many of ``_objects`` are kept (tracked): what ``len`` and the metric say."""
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"livecache-{client.name}-{kind}", daemon=True)
        self.relists = 0
        """Lists made so far (the first, and one per 410 or reconnect): for logs and tests."""

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving at once; the thread ends with its current watch request."""
        self._stop.set()
        self._synced.clear()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # ------------------------------------------------------------------ reads

    def get(self, namespace: str, name: str) -> tuple[bool, Manifest | None]:
        """(answered, object): (True, None) when it does not exist; (False, None) when the
        cache cannot say (not synced, or the object is not one it keeps)."""
        if not self._synced.is_set():
            return False, None
        with self._lock:
            entry = self._objects.get((namespace, name))
        if entry is None:
            return True, None
        if entry.obj is None:
            return False, None
        return True, copy.deepcopy(entry.obj)

    def version(self, namespace: str, name: str) -> str | None:
        """The object's resourceVersion, "" when it does not exist, None when unknown."""
        if not self._synced.is_set():
            return None
        with self._lock:
            entry = self._objects.get((namespace, name))
        if entry is None:
            return ""
        return entry.version if entry.obj is not None else None

    def items(self, *, owner: str | None = None) -> list[Manifest] | None:
        """Every kept object (deep copies), or None when not synced. ``owner``: only objects whose
        tracking may name this instance (a superset of the app's own: check each one)."""
        if not self._synced.is_set():
            return None
        with self._lock:
            keys = self._objects.keys() if owner is None else self._by_owner.get(owner, set())
            kept = [entry.obj for entry in (self._objects[key] for key in keys) if entry.obj is not None]
        return copy.deepcopy(kept)

    def versions(
        self, owned: Callable[[Manifest], bool] = lambda obj: True, *, owner: str | None = None
    ) -> dict[ObjectKey, str] | None:
        """(namespace, name) → resourceVersion of every kept object ``owned`` accepts (it must
        not change it), or None when not synced. ``owner``: only objects whose tracking names
        this instance are looked at (``owned`` must hold for no other)."""
        if not self._synced.is_set():
            return None
        with self._lock:
            keys = self._objects.keys() if owner is None else self._by_owner.get(owner, set())
            entries = ((key, self._objects[key]) for key in keys)
            return {key: entry.version for key, entry in entries if entry.obj is not None and owned(entry.obj)}

    def _index(self, key: ObjectKey, old: Manifest | None, new: Manifest | None) -> None:
        """Move ``key`` in the owner index from ``old``'s owners to ``new``'s (under the lock)."""
        before = owner_hints(old, self._label_keys) if old is not None else frozenset()
        after = owner_hints(new, self._label_keys) if new is not None else frozenset()
        for owner in before - after:
            keys = self._by_owner.get(owner)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_owner[owner]
        for owner in after - before:
            self._by_owner.setdefault(owner, set()).add(key)

    def __len__(self) -> int:
        with self._lock:
            return self._kept

    def _report(self) -> None:
        """``bosun_watch_cache_objects`` for this kind of this cluster."""
        metrics.set_watch_cache_objects(
            server=self._client.name, kind=f"{self.api_version}/{self.kind}", count=self._kept
        )

    # ------------------------------------------------------------------ writes

    def put(self, obj: Manifest) -> bool:
        """Keep ``obj`` (an event or a write-through) unless a newer version is kept;
        whether it changed a tracked object. The event of a version already kept (the echo
        of Bosun's own write, written through first) changes nothing."""
        key = object_key(obj)
        version = resource_version(obj)
        kept = strip(obj) if self._keep_all or is_tracked(obj, self._label_keys) else None
        with self._lock:
            current = self._objects.get(key)
            if current is not None and version and version == current.version:
                return False
            if current is not None and not _newer_or_same(version, current.version):
                return False
            self._objects[key] = _Entry(version, kept)
            self._index(key, current.obj if current is not None else None, kept)
            self._kept += (kept is not None) - (current is not None and current.obj is not None)
        self._report()
        return kept is not None or (current is not None and current.obj is not None)

    def remove(self, obj: Manifest) -> bool:
        """Forget ``obj`` (deleted); whether it was a tracked object."""
        with self._lock:
            current = self._objects.pop(object_key(obj), None)
            if current is not None and current.obj is not None:
                self._kept -= 1
                self._index(object_key(obj), current.obj, None)
        self._report()
        return current is not None and current.obj is not None

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        from activities.kube import KubeError, UnknownKind  # a cycle at import time otherwise

        backoff = 1.0
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    version = self._relist()
                for event, obj in self._client.watch(
                    self.api_version, self.kind, resource_version=version, timeout_seconds=WATCH_SECONDS
                ):
                    if self._stop.is_set():
                        return
                    version = resource_version(obj) or version
                    self._event(event, obj)
                    backoff = 1.0
            except KubeError as exc:
                self._synced.clear()
                version = ""
                if exc.status == 410:  # our resourceVersion is too old: list again, at once
                    continue
                level = logging.DEBUG if isinstance(exc, UnknownKind) else logging.WARNING
                log.log(level, "live cache %s %s: %s (again in %.0fs)", self._client.name, self.kind, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:  # noqa: BLE001 - the cache must outlive any surprise; reads fall through meanwhile
                self._synced.clear()
                version = ""
                log.exception("live cache %s %s (again in %.0fs)", self._client.name, self.kind, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _relist(self) -> str:
        items, version = self._client.list_with_version(self.api_version, self.kind)
        listed: dict[ObjectKey, _Entry] = {}
        for obj in items:
            kept = strip(obj) if self._keep_all or is_tracked(obj, self._label_keys) else None
            listed[object_key(obj)] = _Entry(resource_version(obj), kept)
        by_owner: dict[str, set[ObjectKey]] = {}
        for key, entry in listed.items():
            for owner in owner_hints(entry.obj, self._label_keys) if entry.obj is not None else ():
                by_owner.setdefault(owner, set()).add(key)
        with self._lock:
            before, self._objects, self._by_owner = self._objects, listed, by_owner
            self._kept = sum(1 for e in listed.values() if e.obj is not None)
        self._report()
        self.relists += 1
        first = self.relists == 1
        self._synced.set()
        log.info(
            "live cache %s: %s %s listed (%d kept of %d)",
            self._client.name,
            self.api_version,
            self.kind,
            sum(1 for e in listed.values() if e.obj is not None),
            len(listed),
        )
        if not first and self._on_change is not None:  # what changed while the watch was broken
            for key in set(before) | set(listed):
                old, new = before.get(key), listed.get(key)
                if (old.version if old else None) != (new.version if new else None):
                    changed = new.obj if new is not None and new.obj is not None else (old.obj if old else None)
                    if changed is not None:
                        self._on_change(changed)
        return str(version)

    def _event(self, event: str, obj: Manifest) -> None:
        if event in ("ADDED", "MODIFIED"):
            changed = self.put(obj)
        elif event == "DELETED":
            changed = self.remove(obj)
        else:
            return  # BOOKMARK: only its resourceVersion matters
        if changed and self._on_change is not None:
            self._on_change(obj)


class LiveCache:
    """The watched kinds of one cluster (see the module docstring); thread-safe."""

    def __init__(
        self,
        client: KubeClient,
        *,
        label_keys: tuple[str, ...] = (DEFAULT_LABEL_KEY,),
        on_change: Callable[[str, Manifest], None] | None = None,
    ) -> None:
        self._client = client
        self.label_keys = label_keys
        self._on_change = on_change
        self._kinds: dict[tuple[str, str], KindCache] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def set_on_change(self, on_change: Callable[[str, Manifest], None] | None) -> None:
        """``on_change(cluster, obj)`` for each tracked object a watch sees change."""
        self._on_change = on_change

    def kind(self, api_version: str, kind: str, *, keep_all: bool = False) -> KindCache | None:
        """The cache of a kind, its watch started on first use (None once stopped)."""
        with self._lock:
            if self._stopped:
                return None
            found = self._kinds.get((api_version, kind))
            if found is None:
                found = KindCache(
                    self._client,
                    api_version,
                    kind,
                    keep_all=keep_all,
                    label_keys=self.label_keys,
                    on_change=self._changed,
                )
                self._kinds[(api_version, kind)] = found
                found.start()
            return found

    def _changed(self, obj: Manifest) -> None:
        if self._on_change is not None:
            try:
                self._on_change(self._client.name, obj)
            except Exception:  # noqa: BLE001 - a listener's failure must not end the watch
                log.exception("live cache listener")

    def get(self, obj: Manifest, *, keep_all: bool = False) -> tuple[bool, Manifest | None]:
        """(answered, live object) for the object ``obj`` names; see :meth:`KindCache.get`."""
        found = self.kind(obj["apiVersion"], obj["kind"], keep_all=keep_all)
        if found is None:
            return False, None
        namespace, name = object_key(obj)
        return found.get(namespace, name)

    def version(self, obj: Manifest) -> str | None:
        found = self.kind(obj["apiVersion"], obj["kind"])
        if found is None:
            return None
        namespace, name = object_key(obj)
        return found.version(namespace, name)

    def list(self, api_version: str, kind: str, *, owner: str | None = None) -> list[Manifest] | None:
        """The kept (tracked) objects of a kind (with ``owner``, those the instance's tracking may
        name: an app reads its own, not the fleet's), or None when the cache cannot say."""
        found = self.kind(api_version, kind)
        return None if found is None else found.items(owner=owner)

    def versions(
        self,
        api_version: str,
        kind: str,
        *,
        owned: Callable[[Manifest], bool] = lambda obj: True,
        owner: str | None = None,
    ) -> dict[ObjectKey, str] | None:
        found = self.kind(api_version, kind)
        return None if found is None else found.versions(owned, owner=owner)

    def observe(self, obj: Manifest) -> None:
        """Write-through of an object Bosun just wrote (only kinds already watched)."""
        with self._lock:
            found = self._kinds.get((str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")))
        if found is not None:
            found.put(obj)

    def forget(self, obj: Manifest) -> None:
        """Write-through of an object Bosun just deleted."""
        with self._lock:
            found = self._kinds.get((str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")))
        if found is not None:
            found.remove(obj)

    def counts(self) -> dict[str, int]:
        """Objects kept per ``apiVersion/Kind`` (for logs and metrics)."""
        with self._lock:
            kinds = list(self._kinds.values())
        return {f"{k.api_version}/{k.kind}": len(k) for k in kinds}

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            kinds, self._kinds = list(self._kinds.values()), {}
        for found in kinds:
            found.stop()


class Lru(Generic[K, V]):
    """A thread-safe in-memory mapping that keeps its ``max_entries`` most recently used entries."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
