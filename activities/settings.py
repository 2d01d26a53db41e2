"""Argo CD's settings ConfigMap in the management cluster, re-read every few seconds.

The worker reads ``argocd-cm`` and ``bosun-cm`` from its control namespace (``bosun`` by
default): a team moving from Argo CD copies its ``argocd-cm`` unchanged; ``bosun-cm`` holds
the same keys, and where both set a key ``bosun-cm`` wins. Neither existing means Argo CD's
defaults. What was read stays good for :data:`~activities.management.CACHE_SECONDS` (5 s), so
an edited ConfigMap takes effect within seconds, with no restart, and a compare does not cost
an API call per resource.

:class:`SettingsReader` is shared by the activities that need settings (compare, apply,
wait_healthy and prune in :mod:`activities.cluster`; resource actions). ``read()`` raises
:class:`bosun.settings.SettingsError` for a ConfigMap that cannot be used (the message names
the key) and :class:`SettingsUnavailable` when the management cluster cannot be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from activities.kubeaccess import KubeAccess
from activities.management import CACHE_SECONDS, DEFAULT_NAMESPACE, Cached, ManagementError, ManagementSecrets
from bosun.settings import DEFAULT_SETTINGS, Settings, parse_settings

CONFIG_MAPS = ("argocd-cm", "bosun-cm")
"""Read in this order; a later one's keys win."""


class SettingsUnavailable(ManagementError):
    """The settings ConfigMaps could not be read."""


class SettingsConfigMaps(ManagementSecrets):
    """The settings ConfigMaps of the control namespace."""

    error = SettingsUnavailable

    def read(self) -> Settings:
        data: dict[str, str] = {}
        found: list[str] = []
        for name in CONFIG_MAPS:
            part = self.config_map_data(name)
            if part is not None:
                data.update(part)
                found.append(name)
        if not found:
            return DEFAULT_SETTINGS
        return parse_settings(data, source="ConfigMap " + " + ".join(f"{self.namespace}/{n}" for n in found))


class SettingsReader(Cached[Settings]):
    """Settings re-read at most every ``ttl`` seconds. Thread-safe."""

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: KubeAccess | Path,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        context: str | None = None,
        ttl: float = CACHE_SECONDS,
    ) -> SettingsReader:
        return cls(SettingsConfigMaps(kubeconfig, namespace=namespace, context=context).read, ttl=ttl)

    @classmethod
    def static(cls, settings: Settings = DEFAULT_SETTINGS) -> SettingsReader:
        """A test double: fixed settings, no management cluster."""
        return cls(lambda: settings, ttl=float("inf"))

    def read(self) -> Settings:
        return self.snapshot()
