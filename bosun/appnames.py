"""App names across namespaces: which Application resources Bosun follows, and what it calls them.

Argo CD keeps Applications in its own namespace and, with ``application.namespaces``, in
others ("Applications in any namespace"). Bosun does the same:

- It **discovers** Applications in its control namespace and in every namespace matching
  one of the configured patterns (``BOSUN_APPLICATION_NAMESPACES``, comma-separated, Argo
  CD's ``application.namespaces`` syntax: a glob such as ``team-*``, or ``/regex/``). Without
  a setting the pattern list is ``argocd``, so an app-of-apps written for Argo CD (children
  with ``metadata.namespace: argocd``) works with no configuration.
- **Home** namespaces are the control namespace and, when discovered by default, ``argocd``.
  An app there keeps its plain name (``guestbook``, workflow ``app:guestbook``) and needs no
  project permission. Should both home namespaces hold an app of one name, the one in the
  control namespace is the app and the other is refused (:func:`home_conflict`).
- An app in any other namespace is named ``<namespace>/<name>`` inside Bosun (workflow
  ``app:<namespace>/<name>``; the CLI takes that form, as ``argocd app get ns/name`` does),
  and its project must list the namespace in ``sourceNamespaces``
  (:func:`bosun.projects.app_namespace_permitted`). Argo CD's tracking value for it is
  ``<namespace>_<name>`` (:func:`instance_name`).

Every workflow id of an app starts with :func:`app_workflow_id`; the ids built on it (a sync's
``app:<name>:sync:<n>``) and Bosun's other ids are in :mod:`bosun.protocol`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bosun import glob

ARGOCD_NAMESPACE = "argocd"
"""Argo CD's namespace: a home namespace by default, so Argo CD's manifests work unchanged."""


def app_workflow_id(app: str) -> str:
    """The workflow of app ``app`` (plain or ``<namespace>/<name>``): ``app:<app>``."""
    return f"app:{app}"


def instance_name(app: str) -> str:
    """Argo CD's instance name (tracking value) of a Bosun app name: ``ns/name`` → ``ns_name``."""
    return app.replace("/", "_", 1)


def split_app_name(app: str) -> tuple[str, str]:
    """(namespace, name) of a qualified app name; namespace "" for a plain (home) name."""
    namespace, _, name = app.rpartition("/")
    return namespace, name


def parse_namespace_patterns(setting: str) -> tuple[str, ...]:
    """``application.namespaces`` / ``BOSUN_APPLICATION_NAMESPACES``: comma-separated patterns."""
    return tuple(p.strip() for p in setting.split(",") if p.strip())


@dataclass(frozen=True)
class AppNamespaces:
    """Where Applications are discovered, and how an app in each namespace is named."""

    control: str
    patterns: tuple[str, ...] = (ARGOCD_NAMESPACE,)
    argocd_is_home: bool = True
    """True when ``argocd`` is discovered by default (no setting): its apps keep plain names."""

    @classmethod
    def configure(cls, control: str, setting: str | None) -> AppNamespaces:
        """From the control namespace and the setting (None: not set, the default applies)."""
        if setting is None:
            return cls(control=control)
        return cls(control=control, patterns=parse_namespace_patterns(setting), argocd_is_home=False)

    @property
    def home(self) -> tuple[str, ...]:
        """The home namespaces, the control namespace first (it wins a name conflict)."""
        if self.argocd_is_home and self.control != ARGOCD_NAMESPACE:
            return (self.control, ARGOCD_NAMESPACE)
        return (self.control,)

    def discovers(self, namespace: str) -> bool:
        return namespace == self.control or glob.match_string_in_list(
            self.patterns, namespace, mode=glob.ListMode.REGEXP
        )

    def is_home(self, namespace: str) -> bool:
        return namespace in self.home

    def app_name(self, namespace: str, name: str) -> str:
        """Bosun's name of the Application ``name`` in ``namespace``."""
        return name if self.is_home(namespace) else f"{namespace}/{name}"

    def describe(self) -> str:
        """For logs and summaries: ``bosun, argocd`` or ``bosun, team-*``."""
        return ", ".join(dict.fromkeys((self.control, *self.patterns)))


def home_conflict(namespaces: AppNamespaces, listed: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Applications refused because a home namespace earlier in :attr:`AppNamespaces.home`
    holds one of the same name: (namespace, name) → why. ``listed`` are (namespace, name)."""
    owner: dict[str, str] = {}
    home = namespaces.home
    for namespace, name in sorted(((ns, n) for ns, n in listed if ns in home), key=lambda a: home.index(a[0])):
        owner.setdefault(name, namespace)
    return {
        (ns, n): (
            f"an Application named {n!r} exists in namespace {owner[n]!r} too, and both are home "
            f"namespaces: the one in {owner[n]!r} is the app {n!r}; rename or remove this one"
        )
        for ns, n in listed
        if ns in home and owner.get(n) != ns
    }
