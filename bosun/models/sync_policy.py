"""``spec.syncPolicy``: when Bosun syncs on its own, with which options, and how it
retries a failed sync.

The retry arithmetic is Argo CD's (``RetryStrategy.NextRetryAt``): wait
``duration * factor ** n`` before retry ``n`` (0-based), capped at ``maxDuration``,
with defaults 5s, 2 and 3m. To add a policy field, add it here with a default that keeps
today's behaviour, and make the workflow honour it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from bosun.models.base import ArgoModel
from bosun.models.errors import FieldProblem
from bosun.models.formats import parse_backoff_duration
from bosun.sync_options import SyncOptionError, parse_sync_options

DEFAULT_RETRY_DURATION = timedelta(seconds=5)
DEFAULT_RETRY_MAX_DURATION = timedelta(minutes=3)
DEFAULT_RETRY_FACTOR = 2
_FOREVER = timedelta(days=365 * 100)


class SyncPolicyAutomated(ArgoModel):
    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False
    enabled: bool | None = None
    """``false`` switches automation off while keeping the block; unset means on."""


class Backoff(ArgoModel):
    duration: str = ""
    factor: int | None = Field(default=None, ge=1)
    max_duration: str = ""

    @model_validator(mode="after")
    def _check(self) -> Backoff:
        for alias, value in (("duration", self.duration), ("maxDuration", self.max_duration)):
            if value:
                try:
                    parse_backoff_duration(value)
                except ValueError as exc:
                    raise FieldProblem(alias, str(exc)) from None
        return self

    def base(self) -> timedelta:
        return parse_backoff_duration(self.duration) if self.duration else DEFAULT_RETRY_DURATION

    def cap(self) -> timedelta:
        if self.max_duration:
            return parse_backoff_duration(self.max_duration)
        return DEFAULT_RETRY_MAX_DURATION

    def multiplier(self) -> int:
        return DEFAULT_RETRY_FACTOR if self.factor is None else self.factor


class RetryStrategy(ArgoModel):
    limit: int = 0
    """Retries after the first failed attempt; 0 means none, below 0 means unlimited."""
    backoff: Backoff | None = None
    refresh: bool = False
    """Retry with the latest revision instead of the one the failed sync used."""

    def allows_retry(self, retries_done: int) -> bool:
        return self.limit < 0 or retries_done < self.limit

    def delay(self, retries_done: int) -> timedelta:
        """How long to wait before the next retry, after ``retries_done`` retries."""
        backoff = self.backoff or Backoff()
        cap = backoff.cap()
        limit = cap if cap > timedelta(0) else _FOREVER  # maxDuration 0: no cap
        base = backoff.base().total_seconds()
        if base <= 0:
            return timedelta(0)
        try:
            seconds = base * float(backoff.multiplier()) ** retries_done
        except OverflowError:
            return limit
        return timedelta(seconds=min(seconds, limit.total_seconds()))


class ManagedNamespaceMetadata(ArgoModel):
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class SyncPolicy(ArgoModel):
    automated: SyncPolicyAutomated | None = None
    sync_options: list[str] = []
    retry: RetryStrategy | None = None
    managed_namespace_metadata: ManagedNamespaceMetadata | None = None

    @model_validator(mode="after")
    def _check(self) -> SyncPolicy:
        try:
            parse_sync_options(self.sync_options)
        except SyncOptionError as exc:
            raise FieldProblem(("syncOptions", exc.index), exc.message) from None
        return self

    def is_automated(self) -> bool:
        return self.automated is not None and self.automated.enabled is not False

    def options(self) -> dict[str, str]:
        return parse_sync_options(self.sync_options)
