"""Argo CD's resource-hook markers, as far as health assessment needs them.

A hook (``argocd.argoproj.io/hook``, or a Helm hook, which Argo CD honours too)
is a finite-life Pod or Job that a sync runs and waits for. While a sync still
needs a hook's result, gitops-engine keeps ``argocd.argoproj.io/hook-finalizer``
on it, and such an object is assessed on its real status even once it is being
deleted, so the sync can read whether the hook succeeded.

Whether an object is a hook at all is :func:`bosun.plan.is_hook`'s rule, the one
the sync plan uses.
"""

from __future__ import annotations

from bosun.health import _fields as f
from bosun.resources import Manifest

HOOK_FINALIZER = "argocd.argoproj.io/hook-finalizer"


def has_hook_finalizer(obj: Manifest) -> bool:
    return HOOK_FINALIZER in f.items(obj, "metadata", "finalizers")
