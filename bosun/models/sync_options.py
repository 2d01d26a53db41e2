"""Argo CD sync options (``spec.syncPolicy.syncOptions`` and the
``argocd.argoproj.io/sync-options`` annotation): ``Key=Value`` strings.

Argo CD matches these strings exactly (``CreateNamespace=True`` or a misspelled key is
silently ignored there); Bosun rejects them instead, so a typo never turns an option
off. To support a new option, add its key and allowed values to :data:`SYNC_OPTIONS`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_BOOL = ("true", "false")

SYNC_OPTIONS: dict[str, tuple[str, ...]] = {
    "Prune": ("true", "false", "confirm"),
    "Delete": ("true", "false", "confirm"),
    "Validate": _BOOL,
    "SkipDryRunOnMissingResource": _BOOL,
    "ApplyOutOfSyncOnly": _BOOL,
    "PrunePropagationPolicy": ("foreground", "background", "orphan"),
    "PruneLast": _BOOL,
    "Replace": _BOOL,
    "Force": _BOOL,
    "ServerSideApply": _BOOL,
    "ClientSideApplyMigration": _BOOL,
    "FailOnSharedResource": _BOOL,
    "RespectIgnoreDifferences": _BOOL,
    "CreateNamespace": _BOOL,
}
"""Known option keys and the exact values Argo CD recognises for each."""


def parse_sync_option(option: str) -> tuple[str, str]:
    """``"CreateNamespace=true"`` -> ``("CreateNamespace", "true")``; ValueError if the
    key or value is not one Argo CD knows."""
    key, sep, value = option.partition("=")
    if not sep:
        raise ValueError(
            f"{option!r} is not a sync option: use Key=Value, e.g. CreateNamespace=true"
        )
    if key != key.strip() or value != value.strip():
        raise ValueError(f"{option!r}: remove the spaces around '=' (Argo CD matches exactly)")
    allowed = SYNC_OPTIONS.get(key)
    if allowed is None:
        raise ValueError(f"{option!r}: unknown sync option {key!r}{_suggest(key)}")
    if value not in allowed:
        raise ValueError(f"{option!r}: {key} must be one of {', '.join(allowed)}")
    return key, value


def parse_sync_options(options: Iterable[str]) -> dict[str, str]:
    """Parse a list of options into ``{key: value}``; two different values for one key
    is an error (which would win is not obvious to a reader)."""
    out: dict[str, str] = {}
    for option in options:
        key, value = parse_sync_option(option)
        if out.get(key, value) != value:
            raise ValueError(f"{option!r} conflicts with {key}={out[key]}")
        out[key] = value
    return out


def _suggest(key: str) -> str:
    for known in SYNC_OPTIONS:
        if known.lower() == key.strip().lower():
            return f" (keys are case-sensitive: {known})"
    close = difflib.get_close_matches(key, list(SYNC_OPTIONS), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
