"""Go templates for ApplicationSets (``goTemplate: true``), rendered by the
``bosun-gotemplate`` binary (``deploy/gotemplate``): Go's own ``text/template`` with the
Sprig functions Argo CD allows, so templates behave exactly as under Argo CD.

:func:`render_go` is the :data:`bosun.appset.templating.GoRenderer` the ApplicationSet
activities pass to :mod:`bosun.appset`: one process per batch (a whole ApplicationSet),
JSON on stdin and stdout, run

* within a time limit (:data:`TIMEOUT`; its process is killed past it),
* with bounded output (:data:`MAX_OUTPUT` bytes; more is an error, not a buffered answer),
* with an empty environment (Sprig's ``env`` and ``expandenv`` are removed from the binary
  anyway) and no standard error kept beyond :data:`_STDERR_KEPT` bytes.

Where the binary comes from (:func:`find_gotemplate`): ``$BOSUN_GOTEMPLATE`` if set, else
next to the running Python, else ``PATH``, else the build cache of the local stack
(``$BOSUN_CACHE/bin/bosun-gotemplate-*/bosun-gotemplate``, made by ``python -m devstack.tools``)
— the way helm is found (:func:`activities.renderers.tools.find_tool`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from bosun.appset.spec import ApplicationSetError
from bosun.appset.templating import GoTemplateError
from bosun.paths import bosun_cache

__all__ = ["BINARY", "MAX_OUTPUT", "TIMEOUT", "GoTemplateUnavailable", "find_gotemplate", "render_go"]

BINARY = "bosun-gotemplate"
ENV_OVERRIDE = "BOSUN_GOTEMPLATE"
TIMEOUT = 30.0
"""Seconds one batch may take (Argo CD's templates are small; a template that loops without
end is stopped)."""
MAX_OUTPUT = 32 * 1024 * 1024
"""Bytes of rendered JSON one batch may produce."""
_STDERR_KEPT = 4096


class GoTemplateUnavailable(ApplicationSetError):
    """The renderer binary is missing or did not run; the message says how to get it."""


def find_gotemplate() -> Path:
    override = os.environ.get(ENV_OVERRIDE, "")
    if override:
        if not Path(override).is_file():
            raise GoTemplateUnavailable(f"spec.goTemplate: {ENV_OVERRIDE}={override} does not exist")
        return Path(override)
    beside_python = Path(sys.executable).parent / BINARY
    if beside_python.is_file():
        return beside_python
    found = shutil.which(BINARY)
    if found:
        return Path(found)
    built = sorted((bosun_cache() / "bin").glob(f"{BINARY}-*/{BINARY}"), key=lambda p: p.stat().st_mtime)
    if built:
        return built[-1]
    raise GoTemplateUnavailable(
        f"spec.goTemplate: {BINARY} is not installed on this worker "
        f"(set {ENV_OVERRIDE} or run `python -m devstack.tools`)"
    )


def render_go(
    items: list[tuple[dict[str, Any], dict[str, Any]]],
    options: tuple[str, ...],
    *,
    timeout: float = TIMEOUT,
    max_output: int = MAX_OUTPUT,
) -> list[dict[str, Any]]:
    """Every string value of each template object rendered against its params, in order.

    Raises :class:`~bosun.appset.templating.GoTemplateError` (which item, which field, Go's
    message) for a template error, :class:`GoTemplateUnavailable` when the binary is missing,
    times out, writes too much or fails otherwise."""
    if not items:
        return []
    binary = find_gotemplate()
    request = json.dumps(
        {"options": list(options), "items": [{"template": t, "params": p} for t, p in items]},
        separators=(",", ":"),
    ).encode()
    code, out, err, reason = _run(binary, request, timeout=timeout, max_output=max_output)
    if reason:
        raise GoTemplateUnavailable(f"spec.goTemplate: {BINARY} {reason}")
    if code == 1:
        failure = _failure(out)
        if failure is not None:
            raise failure
    if code != 0:
        raise GoTemplateUnavailable(f"spec.goTemplate: {BINARY} failed (exit {code}): {err.strip() or out[:500]}")
    try:
        results = json.loads(out)["results"]
    except (ValueError, KeyError, TypeError) as error:
        raise GoTemplateUnavailable(f"spec.goTemplate: {BINARY} printed unreadable output: {error}") from None
    if not isinstance(results, list) or len(results) != len(items):
        raise GoTemplateUnavailable(f"spec.goTemplate: {BINARY} returned a wrong number of results")
    return results


def _failure(out: str) -> GoTemplateError | None:
    """The template error the binary reported (exit 1), None if its output is not one."""
    try:
        failure = json.loads(out)
        return GoTemplateError(int(failure["item"]), str(failure["field"]), str(failure["error"]))
    except (ValueError, KeyError, TypeError):
        return None


def _run(binary: Path, request: bytes, *, timeout: float, max_output: int) -> tuple[int, str, str, str]:
    """Run the binary in its own process group: (exit code, stdout, stderr, reason) where
    ``reason`` says why it was stopped (time limit, output limit), else ``""``."""
    proc = subprocess.Popen(
        [str(binary)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
        start_new_session=True,
    )
    out = bytearray()
    err = bytearray()
    overflow = threading.Event()

    def read_out() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(65536):
            if len(out) + len(chunk) > max_output:
                overflow.set()
                _kill(proc)
                return
            out.extend(chunk)

    def read_err() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read(65536):
            err.extend(chunk)
            del err[:-_STDERR_KEPT]

    readers = [threading.Thread(target=read_out, daemon=True), threading.Thread(target=read_err, daemon=True)]
    for reader in readers:
        reader.start()
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(request)
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    reason = ""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        reason = f"took longer than {timeout:g}s and was stopped"
        _kill(proc)
        proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    if overflow.is_set():
        reason = f"wrote more than {max_output} bytes and was stopped"
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), reason


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
