"""The words of a sync operation's outcome: its phase, each resource's result, app conditions.

StrEnums, so a value is its Argo CD string on the wire and in JSON (``"Succeeded"``,
``"created"``, ``"SyncError"``) and code compares members, not string literals. To add a
value, add a member; clients see the new string, old ones keep deserializing.

A dry run is a flag next to the result status (``dry_run``), not part of it; the text a
person reads (``"created (dry run)"``) is made by :func:`result_label` and read back by
:func:`split_result_label`, the only two places that know the suffix.
"""

from __future__ import annotations

from enum import StrEnum


class OperationPhase(StrEnum):
    """Argo CD's ``OperationPhase`` (gitops-engine ``pkg/sync/common/types.go``)."""

    RUNNING = "Running"
    TERMINATING = "Terminating"
    FAILED = "Failed"
    ERROR = "Error"
    SUCCEEDED = "Succeeded"

    @property
    def completed(self) -> bool:
        return self in (OperationPhase.FAILED, OperationPhase.ERROR, OperationPhase.SUCCEEDED)

    @property
    def successful(self) -> bool:
        return self is OperationPhase.SUCCEEDED


class ResultStatus(StrEnum):
    """What a sync did to one resource (Argo CD's ``ResultCode`` and kubectl's verbs)."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    PRUNED = "pruned"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def applied(self) -> bool:
        """The resource was applied (created or changed)."""
        return self in (ResultStatus.CREATED, ResultStatus.CONFIGURED)


DRY_RUN_SUFFIX = " (dry run)"


def result_label(status: ResultStatus, *, dry_run: bool) -> str:
    """The status as people and JSON clients read it: ``created`` or ``created (dry run)``."""
    return str(status) + (DRY_RUN_SUFFIX if dry_run else "")


def split_result_label(label: str) -> tuple[str, bool]:
    """``"created (dry run)"`` → ``("created", True)``: reads results recorded before the flag."""
    if label.endswith(DRY_RUN_SUFFIX):
        return label[: -len(DRY_RUN_SUFFIX)], True
    return label, False


class ConditionType(StrEnum):
    """Application condition types (Argo CD's ``ApplicationCondition*`` and Bosun's own)."""

    INVALID_SPEC_ERROR = "InvalidSpecError"
    COMPARISON_ERROR = "ComparisonError"
    SYNC_ERROR = "SyncError"
    DELETION_ERROR = "DeletionError"
    UNSUPPORTED_FIELD = "UnsupportedField"
    """Bosun's: Argo CD fields set in the Application that Bosun does not act on."""
    EXCLUDED_RESOURCE_WARNING = "ExcludedResourceWarning"
    ORPHANED_RESOURCE_WARNING = "OrphanedResourceWarning"
    SETTINGS_WARNING = "SettingsWarning"
    """Bosun's: a setting of argocd-cm Bosun reads differently or not at all."""
    DEPENDENCY_NOT_READY = "DependencyNotReady"
    """Bosun's: an app of ``bosun.dev/depends-on`` is not Synced and Healthy at its current
    revision, so this app waits to sync (:mod:`bosun.dependencies`)."""
