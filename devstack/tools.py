"""Binaries the local stack builds from Go modules, cached outside the checkout.

Kubernetes (the devcluster multi-call binary), kwok and helm are compiled with the
machine's Go toolchain from the Go module proxy. A build takes minutes, so each
binary lives in ``$BOSUN_CACHE`` (default ``~/.cache/bosun``) under a key made of
everything that produced it — the Go version and, for the devcluster, the hash of
its module files — and a clean clone, CI included, reuses it.

Run ``python -m devstack.tools`` to build whatever is missing and print the paths.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bosun.paths import bosun_cache

REPO_ROOT = Path(__file__).resolve().parent.parent
DEVCLUSTER_MODULE = REPO_ROOT / "deploy" / "devcluster"
GOTEMPLATE_MODULE = REPO_ROOT / "deploy" / "gotemplate"

KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.21.4"


class ToolError(RuntimeError):
    """A tool could not be found or built; the message says what to do."""


def cache_root() -> Path:
    return bosun_cache()


def go_binary() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise ToolError("the Go toolchain (go 1.26 or newer) is needed to build the devcluster")
    return go


def go_version() -> str:
    out = subprocess.run([go_binary(), "env", "GOVERSION"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@dataclass(frozen=True)
class GoBuild:
    """One cached Go binary: where it goes and how to build it."""

    name: str
    key: str

    @property
    def path(self) -> Path:
        return cache_root() / "bin" / f"{self.name}-{self.key}" / self.name


def kubernetes_version() -> str:
    """The k8s.io/kubernetes version the devcluster module requires."""
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", (DEVCLUSTER_MODULE / "go.mod").read_text(), re.M)
    if not match:
        raise ToolError(f"{DEVCLUSTER_MODULE / 'go.mod'} does not require k8s.io/kubernetes")
    return match.group(1)


def _module_key(module: Path) -> str:
    """The Go version and the module's sources: a change to either builds again."""
    digest = hashlib.sha256(go_version().encode())
    for path in sorted(module.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(path.relative_to(module).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _devcluster_key() -> str:
    return _module_key(DEVCLUSTER_MODULE)


def _version_ldflags(version: str) -> str:
    """Stamp the version the way Kubernetes' own build does, so skew checks behave."""
    major, minor = version.lstrip("v").split(".")[:2]
    fields = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
    }
    flags = [
        f"-X {pkg}.{field}={value}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for field, value in fields.items()
    ]
    return " ".join(["-s", "-w", *flags])


def _run_go(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    full_env = {**os.environ, "CGO_ENABLED": "0", **(env or {})}
    print(f"+ go {' '.join(args)}", file=sys.stderr, flush=True)
    proc = subprocess.run([go_binary(), *args], cwd=cwd, env=full_env)
    if proc.returncode != 0:
        raise ToolError(f"go {' '.join(args[:2])} failed with exit code {proc.returncode}")


def _install_atomically(build: GoBuild, produce: Callable[[Path], None]) -> Path:
    if build.path.exists():
        return build.path
    build.path.parent.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{build.name}-", dir=build.path.parent.parent))
    try:
        produce(staging)
        try:
            staging.rename(build.path.parent)
        except OSError:
            if not build.path.exists():  # not a concurrent build that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return build.path


def devcluster() -> Path:
    """The multi-call control-plane binary (etcd, kube-apiserver, -controller-manager, -scheduler)."""
    build = GoBuild("devcluster", _devcluster_key())

    def produce(out: Path) -> None:
        _run_go(
            [
                "build",
                "-trimpath",
                "-mod=mod",
                "-ldflags",
                _version_ldflags(kubernetes_version()),
                "-o",
                str(out / "devcluster"),
                "./cmd/devcluster",
            ],
            cwd=DEVCLUSTER_MODULE,
        )

    return _install_atomically(build, produce)


def gotemplate() -> Path:
    """``bosun-gotemplate``, the Go template renderer of ApplicationSets (``goTemplate: true``),
    built from ``deploy/gotemplate``; the worker finds it here (:mod:`activities.gotemplate`)."""
    build = GoBuild("bosun-gotemplate", _module_key(GOTEMPLATE_MODULE))

    def produce(out: Path) -> None:
        _run_go(
            ["build", "-trimpath", "-mod=mod", "-ldflags", "-s -w", "-o", str(out / "bosun-gotemplate"), "."],
            cwd=GOTEMPLATE_MODULE,
        )

    return _install_atomically(build, produce)


def _go_install(name: str, package: str, version: str) -> Path:
    build = GoBuild(name, hashlib.sha256(f"{package}@{version} {go_version()}".encode()).hexdigest()[:16])

    def produce(out: Path) -> None:
        _run_go(["install", "-trimpath", f"{package}@{version}"], env={"GOBIN": str(out)})

    return _install_atomically(build, produce)


def kwok() -> Path:
    return _go_install("kwok", "sigs.k8s.io/kwok/cmd/kwok", KWOK_VERSION)


def helm() -> Path:
    return _go_install("helm", "helm.sh/helm/v3/cmd/helm", HELM_VERSION)


def venv_tool(name: str) -> Path:
    """A tool installed by a wheel into this Python environment (temporal, kubectl)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} is not installed; run scripts/setup")
    return Path(found)


def ensure_all() -> dict[str, Path]:
    return {
        "devcluster": devcluster(),
        "kwok": kwok(),
        "helm": helm(),
        "bosun-gotemplate": gotemplate(),
        "kubectl": venv_tool("kubectl"),
        "temporal": venv_tool("temporal"),
        "temporal-test-server": venv_tool("temporal-test-server"),
    }


if __name__ == "__main__":
    for tool, path in ensure_all().items():
        print(f"{tool}: {path}")
