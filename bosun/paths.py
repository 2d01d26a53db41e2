"""Where Bosun keeps its files on a machine: the one place that says the defaults.

``BOSUN_HOME`` (default ``~/.bosun``)
    The content store (``store/``) the worker writes and the CLI reads on the same
    machine, and the local stack of ``bosun dev`` (``devclusters/``, ``temporal/``,
    ``worker/``).
``BOSUN_CACHE`` (default ``~/.cache/bosun``)
    Tools built from source (``bin/``, e.g. a Helm built by ``python -m devstack.tools``).
Kubeconfig (default ``~/.kube/config``, as kubectl)
    ``KUBECONFIG`` and ``BOSUN_KUBECONFIG`` hold lists joined by ``os.pathsep``.

An unset or empty variable means the default. Every layer may import this module (it only
reads the environment it is given, or ``os.environ``); to add a directory, add a function
here and call it from every place that needs the path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["bosun_cache", "bosun_home", "default_kubeconfig", "first_kubeconfig", "store_dir"]


def bosun_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$BOSUN_HOME``, else ``~/.bosun``."""
    env = os.environ if environ is None else environ
    return Path(env.get("BOSUN_HOME") or Path.home() / ".bosun")


def bosun_cache(environ: Mapping[str, str] | None = None) -> Path:
    """``$BOSUN_CACHE``, else ``~/.cache/bosun``."""
    env = os.environ if environ is None else environ
    return Path(env.get("BOSUN_CACHE") or Path.home() / ".cache" / "bosun")


def store_dir(home: Path) -> Path:
    """The content store's directory under a Bosun home."""
    return home / "store"


def default_kubeconfig() -> Path:
    """``~/.kube/config``, kubectl's default."""
    return Path.home() / ".kube" / "config"


def first_kubeconfig(*values: str | None) -> Path:
    """The first path of the first value that names one (each a ``KUBECONFIG``-style list,
    e.g. a flag, then ``BOSUN_KUBECONFIG``, then ``KUBECONFIG``), else the default."""
    for value in values:
        first = next((p for p in (value or "").split(os.pathsep) if p), None)
        if first:
            return Path(first).expanduser()
    return default_kubeconfig()
