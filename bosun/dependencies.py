"""Dependencies between apps: ``bosun.dev/depends-on`` and when an app may sync.

An Application annotated ``bosun.dev/depends-on: "db,cache"`` syncs only once each app it
names is *ready*: its last comparison is of the revision its targetRevision resolves to now
(the pinned one while a rollback holds), it is Synced and Healthy, and no operation runs.
Argo CD has no such feature (argo-cd#7437); the model is Flux's Kustomization ``dependsOn``,
which requeues with "dependency 'x' is not ready" until it is.

Names are Bosun's app names (:mod:`bosun.appnames`): ``name`` for an app in a home
namespace, ``namespace/name`` for one elsewhere; a name is never relative to the dependent
app's namespace. A dependency may deploy to any cluster: readiness is read from its app
workflow, not from a cluster.

The rules here are pure: parsing the annotation (errors name it), the readiness of one
dependency from what the check activity saw (:class:`DependencyStatus`, a reason per
dependency), and the cycle through an app in the graph of depends-on edges. The I/O is
:mod:`activities.dependencies`; the waiting is the app workflow's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

DEPENDS_ON_ANNOTATION = "bosun.dev/depends-on"
MAX_DEPENDENCIES = 32
"""Names one annotation may hold: a fan-in past this is a mistake, and each is a query per check."""
MAX_GRAPH_APPS = 256
"""Apps the cycle search reads at most (each one query); a graph larger than this is searched
only so far, and a cycle beyond it is not found (the apps on it refuse themselves)."""

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
"""An Application's metadata.name or namespace (a DNS subdomain / label, as Kubernetes checks)."""

SYNCED = "Synced"
HEALTHY = "Healthy"
IDLE = "idle"


class DependencyError(ValueError):
    """The annotation cannot be used; the message names the annotation and the value."""


def parse_depends_on(value: str | None, *, app: str) -> tuple[str, ...]:
    """The app names ``bosun.dev/depends-on`` lists (comma-separated, blanks around a name
    ignored, a repeated name kept once). ``app`` is the annotated app's own name: an app may
    not depend on itself."""
    if value is None or not value.strip():
        return ()
    names: list[str] = []
    for raw in value.split(","):
        name = raw.strip()
        if not name:
            raise DependencyError(f"{DEPENDS_ON_ANNOTATION}: empty app name in {value!r}")
        namespace, slash, plain = name.rpartition("/")
        parts = [namespace, plain] if slash else [plain]
        if "/" in namespace or any(not _NAME.match(part) or len(part) > 253 for part in parts):
            raise DependencyError(
                f"{DEPENDS_ON_ANNOTATION}: {name!r} is not an app name (name, or namespace/name for an app "
                "outside Bosun's home namespaces)"
            )
        if name == app:
            raise DependencyError(f"{DEPENDS_ON_ANNOTATION}: app {app!r} cannot depend on itself")
        if name not in names:
            names.append(name)
    if len(names) > MAX_DEPENDENCIES:
        raise DependencyError(f"{DEPENDS_ON_ANNOTATION}: {len(names)} apps, at most {MAX_DEPENDENCIES}")
    return tuple(names)


def depends_on(annotations: Mapping[str, str] | None, *, app: str) -> tuple[str, ...]:
    """The dependencies an Application's annotations declare (DependencyError if invalid)."""
    return parse_depends_on((annotations or {}).get(DEPENDS_ON_ANNOTATION), app=app)


class DependencyStatus(BaseModel):
    """One dependency as the check saw it, and whether it is ready (``reason`` "" when it is).

    Also what ``bosun app get`` shows under "Depends on" (``AppStatus.dependencies``)."""

    name: str
    found: bool = True
    """Whether a running app workflow has that name."""
    sync: str = ""
    health: str = ""
    operation: str = IDLE
    revisions: list[str] = Field(default_factory=list)
    """Every source's commit of the dependency's last comparison."""
    current: list[str] = Field(default_factory=list)
    """What each source's target revision resolves to now (the pinned commit for the first
    source while a rollback holds); empty when it could not be resolved (see ``error``)."""
    target: str = ""
    """The first source's targetRevision, for messages."""
    error: str = ""
    """Why the dependency could not be read or its revision resolved."""
    reason: str = ""
    """Why it is not ready ("" when it is): :func:`not_ready_reason`."""

    @property
    def ready(self) -> bool:
        return not not_ready_reason(self)


def not_ready_reason(dep: DependencyStatus) -> str:
    """Why ``dep`` does not let its dependents sync yet, or "" when it does (Synced and
    Healthy, idle, and compared at the revisions its sources resolve to now)."""
    if not dep.found:
        return "not found (no running app workflow)"
    if dep.error:
        return dep.error
    if dep.operation == "deleted":
        return "deleted"
    if dep.operation != IDLE:
        return f"operation running ({dep.operation})"
    if dep.sync != SYNCED:
        return f"{dep.sync or 'Unknown'}, not Synced"
    if dep.health != HEALTHY:
        return f"{dep.health or 'Unknown'}, not Healthy"
    if not dep.current or dep.revisions != dep.current:
        compared = dep.revisions[0][:12] if dep.revisions else "-"
        now = dep.current[0][:12] if dep.current else "?"
        return f"compared at {compared}, but {dep.target or 'its target'} is now {now}"
    return ""


def with_reasons(deps: Sequence[DependencyStatus]) -> list[DependencyStatus]:
    """``deps`` with each ``reason`` filled in."""
    return [dep.model_copy(update={"reason": not_ready_reason(dep)}) for dep in deps]


def waiting_message(deps: Sequence[DependencyStatus]) -> str:
    """The DependencyNotReady condition: each dependency that is not ready and why, in
    Flux's words ("dependency 'db' is not ready: …"); "" when every one is ready."""
    return "; ".join(f"dependency {d.name!r} is not ready: {not_ready_reason(d)}" for d in deps if not d.ready)


def find_cycle(graph: Mapping[str, Sequence[str]], start: str) -> list[str]:
    """A cycle of depends-on edges through ``start``, as the path ``[start, …, start]``, or
    [] when there is none. ``graph`` maps an app to the apps it depends on; apps missing from
    it have no known edges. Depth first, in the annotation's order, so the path is stable."""
    path: list[str] = [start]
    on_path = {start}
    seen: set[str] = set()

    def visit(node: str) -> list[str]:
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [*path, start]
            if nxt in on_path or nxt in seen:
                continue
            seen.add(nxt)
            path.append(nxt)
            on_path.add(nxt)
            found = visit(nxt)
            if found:
                return found
            path.pop()
            on_path.discard(nxt)
        return []

    return visit(start)


def describe_cycle(cycle: Sequence[str]) -> str:
    """``a → b → a``."""
    return " → ".join(cycle)


def cycle_message(cycle: Sequence[str]) -> str:
    """The InvalidSpecError text of a cycle: it names the annotation and the whole cycle."""
    return (
        f"{DEPENDS_ON_ANNOTATION}: dependency cycle {describe_cycle(cycle)}; "
        "none of these apps syncs until the cycle is broken"
    )


def graph_text(app: str, deps: Sequence[DependencyStatus]) -> str:
    """One line for the workflow's current details: ``depends on db (Synced/Healthy), cache (waiting: …)``."""
    parts = [f"{d.name} ({d.sync or '?'}/{d.health or '?'}{'' if d.ready else ', waiting'})" for d in deps]
    return f"{app} depends on " + ", ".join(parts) if parts else ""
