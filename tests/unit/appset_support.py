"""Helpers of the ApplicationSet unit tests: a manifest builder and an in-memory GitReader."""

from __future__ import annotations

import fnmatch
from typing import Any

from bosun.appset.generators import ClusterInfo


def appset(spec: dict[str, Any], *, name: str = "set", namespace: str = "argocd") -> dict[str, Any]:
    body = {"template": {"metadata": {"name": "{{name}}"}, "spec": {"project": "default"}}, **spec}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": namespace, "uid": "uid-1"},
        "spec": body,
    }


class FakeGit:
    """A repository held in memory: directories and files, read as the GitReader protocol."""

    def __init__(self, directories: list[str] | None = None, files: dict[str, str] | None = None) -> None:
        self._directories = directories or []
        self._files = files or {}
        self.calls: list[tuple[str, str, str]] = []

    def directories(self, repo_url: str, revision: str) -> list[str]:
        self.calls.append(("directories", repo_url, revision))
        return list(self._directories)

    def files(self, repo_url: str, revision: str, glob: str) -> dict[str, bytes]:
        self.calls.append(("files", repo_url, glob))
        return {path: text.encode() for path, text in self._files.items() if fnmatch.fnmatchcase(path, glob)}


IN_CLUSTER = ClusterInfo("in-cluster", "https://kubernetes.default.svc", {}, {}, in_cluster=True)
STAGING = ClusterInfo(
    "staging",
    "https://1.2.3.4",
    {"env": "staging", "argocd.argoproj.io/secret-type": "cluster"},
    {"owner": "team-a"},
)
PRODUCTION = ClusterInfo(
    "Production_EU",
    "https://5.6.7.8",
    {"env": "prod", "argocd.argoproj.io/secret-type": "cluster"},
    {},
    project="platform",
)
