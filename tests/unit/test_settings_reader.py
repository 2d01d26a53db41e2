"""SettingsReader: argocd-cm and bosun-cm merged, and read again after the cache expires."""

from __future__ import annotations

from pathlib import Path

from activities.settings import SettingsConfigMaps, SettingsReader
from bosun.settings import DEFAULT_SETTINGS


class FakeConfigMaps(SettingsConfigMaps):
    """The control namespace's ConfigMaps, without a cluster."""

    def __init__(self, maps: dict[str, dict[str, str]]) -> None:
        super().__init__(Path("/nonexistent/kubeconfig"), namespace="bosun")
        self.maps = maps
        self.reads = 0

    def config_map_data(self, name: str) -> dict[str, str] | None:
        self.reads += 1
        return self.maps.get(name)


def test_no_config_map_means_defaults() -> None:
    assert FakeConfigMaps({}).read() is DEFAULT_SETTINGS


def test_bosun_cm_keys_win_over_argocd_cm() -> None:
    settings = FakeConfigMaps(
        {
            "argocd-cm": {"timeout.reconciliation": "60s", "application.instanceLabelKey": "argocd.argoproj.io/app"},
            "bosun-cm": {"timeout.reconciliation": "30s"},
        }
    ).read()
    assert settings.reconciliation_seconds == 30
    assert settings.instance_label_key == "argocd.argoproj.io/app"
    assert settings.source == "ConfigMap bosun/argocd-cm + bosun/bosun-cm"


def test_an_edit_is_seen_once_the_cache_expires() -> None:
    maps = FakeConfigMaps({"argocd-cm": {"timeout.reconciliation": "60s"}})
    now = [0.0]
    reader = SettingsReader(maps.read, ttl=5.0, clock=lambda: now[0])
    assert reader.read().reconciliation_seconds == 60
    maps.maps["argocd-cm"] = {"timeout.reconciliation": "90s"}
    now[0] = 4.0
    assert reader.read().reconciliation_seconds == 60  # cached
    now[0] = 5.5
    assert reader.read().reconciliation_seconds == 90
    assert SettingsReader.static().read() is DEFAULT_SETTINGS
