"""Bounds on what Git may make a worker do: the one home of the input limits.

A repository is written by whoever has commit rights to it, and a worker renders every
team's apps. A few bytes must not be able to take the worker down ("billion laughs"
YAML, a jq program that never ends, an archive or file of gigabytes), so every input is
bounded, and a render past a bound fails with an error naming the limit, its value and
the environment variable that sets it; nothing is then compared, applied or pruned.

Each limit is read from the environment (an unset, empty or invalid value means the
default; ``0`` is not "unlimited", it is refused as invalid and the default holds):

=====================================  ============  ==============================================
variable                               default       bounds
=====================================  ============  ==============================================
``BOSUN_MAX_YAML_NODES``               4,000,000     nodes of one YAML stream, an alias counted
                                                     at every use (go-yaml refuses "excessive
                                                     aliasing" in the same spirit)
``BOSUN_MAX_MANIFEST_DEPTH``           200           nesting of one YAML/JSON document
``BOSUN_MAX_MANIFEST_FILE_BYTES``      10 MiB        one file of a Directory source, one jsonnet
                                                     result
``BOSUN_MAX_DIRECTORY_BYTES``          10 MiB        all manifest files of one Directory source
                                                     (Argo CD's ``reposerver.max.combined.
                                                     directory.manifests.size``, 10M)
``BOSUN_MAX_RENDER_BYTES``             64 MiB        the text one render parses, all sources
``BOSUN_MAX_RENDER_OBJECTS``           10,000        objects one render yields, all sources
``BOSUN_MAX_ARCHIVE_BYTES``            1 GiB         a commit exported with ``git archive``
``BOSUN_JQ_TIMEOUT_SECONDS``           1             one jqPathExpression on one object (Argo
                                                     CD's ``ignore.normalizer.jq.timeout``)
``BOSUN_JQ_MAX_MEMORY_BYTES``          512 MiB       the address space of the jq process
``BOSUN_RENDER_MAX_MEMORY_BYTES``      2 GiB         the address space (RLIMIT_AS) of helm,
                                                     kustomize, jsonnet and what they spawn
``BOSUN_RENDER_MAX_CPU_SECONDS``       120           CPU time (RLIMIT_CPU) of one tool process
=====================================  ============  ==============================================

``BOSUN_JQ_PROCESSES`` (2) is how many jq processes a worker process runs at once
(:mod:`activities.jq_runner`).

To add a limit: a field here with its variable in :data:`_VARIABLES`, read where the
input is read, a row in the table above and a regression test in
``tests/unit/test_input_limits.py``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["InputLimits", "LimitExceeded", "describe_bytes", "input_limits"]

MiB = 1024 * 1024


class LimitExceeded(ValueError):
    """An input is past one of the bounds: ``where`` (a file, a tool, an expression) and
    the limit (its variable and value) are named in the message."""

    def __init__(self, where: str, what: str, *, limit: str, value: str) -> None:
        self.where = where
        self.limit = limit
        super().__init__(f"{where}: {what} (limit {value}, {limit})" if where else f"{what} (limit {value}, {limit})")


@dataclass(frozen=True)
class InputLimits:
    """The bounds, with their defaults; :func:`input_limits` reads them from the environment."""

    yaml_nodes: int = 4_000_000
    manifest_depth: int = 200
    file_bytes: int = 10 * MiB
    directory_bytes: int = 10 * MiB
    render_bytes: int = 64 * MiB
    render_objects: int = 10_000
    archive_bytes: int = 1024 * MiB
    jq_timeout_seconds: float = 1.0
    jq_memory_bytes: int = 512 * MiB
    tool_memory_bytes: int = 2048 * MiB
    tool_cpu_seconds: int = 120

    def variable(self, field: str) -> str:
        """The environment variable that sets ``field``."""
        return _VARIABLES[field]

    def exceeded(self, field: str, where: str, what: str) -> LimitExceeded:
        """The error for ``where`` going past ``field``, naming the limit's value and variable."""
        value = getattr(self, field)
        shown = describe_bytes(value) if field.endswith("_bytes") else f"{value:,}".replace(",", "_")
        if field.endswith("_seconds"):
            shown = f"{value:g}s"
        return LimitExceeded(where, what, limit=_VARIABLES[field], value=shown)


_VARIABLES: dict[str, str] = {
    "yaml_nodes": "BOSUN_MAX_YAML_NODES",
    "manifest_depth": "BOSUN_MAX_MANIFEST_DEPTH",
    "file_bytes": "BOSUN_MAX_MANIFEST_FILE_BYTES",
    "directory_bytes": "BOSUN_MAX_DIRECTORY_BYTES",
    "render_bytes": "BOSUN_MAX_RENDER_BYTES",
    "render_objects": "BOSUN_MAX_RENDER_OBJECTS",
    "archive_bytes": "BOSUN_MAX_ARCHIVE_BYTES",
    "jq_timeout_seconds": "BOSUN_JQ_TIMEOUT_SECONDS",
    "jq_memory_bytes": "BOSUN_JQ_MAX_MEMORY_BYTES",
    "tool_memory_bytes": "BOSUN_RENDER_MAX_MEMORY_BYTES",
    "tool_cpu_seconds": "BOSUN_RENDER_MAX_CPU_SECONDS",
}

DEFAULT_LIMITS = InputLimits()


def input_limits(environ: Mapping[str, str] | None = None) -> InputLimits:
    """The limits set in ``environ`` (default ``os.environ``); a value that is not a
    positive number keeps the default, so a typo never lifts a bound."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in dataclasses.fields(InputLimits):
        raw = env.get(_VARIABLES[field.name], "").strip().replace("_", "")
        if not raw:
            continue
        try:
            value: int | float = float(raw) if field.type == "float" else int(raw)
        except ValueError:
            continue
        if value > 0:
            values[field.name] = value
    return dataclasses.replace(DEFAULT_LIMITS, **values) if values else DEFAULT_LIMITS


def describe_bytes(value: int) -> str:
    """``10 MiB``, ``1 GiB``, ``512 KiB`` or ``123 bytes``."""
    for unit, size in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", 1024)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value} bytes"
