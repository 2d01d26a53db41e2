"""Names and marks of hook objects, shared by the sync workflow and the cluster activities.

A hook written with ``metadata.generateName`` gets a deterministic name per operation
attempt (prefix + a short hash of the attempt id), so a retried activity — after a worker
crash, say — finds the hook it already created instead of creating a second one.
Every hook Bosun creates carries the attempt id in ``OPERATION_ANNOTATION``;
BeforeHookCreation deletes an existing hook only if it was created by another attempt.
"""

from __future__ import annotations

import hashlib

from bosun.resources import ResourceKey

OPERATION_ANNOTATION = "bosun.dev/operation"


def hook_object_name(prefix: str, operation: str) -> str:
    """The name of a generateName hook in ``operation`` (``app:web:sync:3#1``)."""
    return prefix + hashlib.sha256(operation.encode()).hexdigest()[:6]


def hook_key(key: ResourceKey, *, generate_name: bool, operation: str) -> ResourceKey:
    """The key a hook task's object has in the cluster during ``operation``."""
    if not generate_name:
        return key
    return key.model_copy(update={"name": hook_object_name(key.name, operation)})
