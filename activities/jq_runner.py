"""jqPathExpressions run in child processes, within a time and memory budget.

An Application's ``ignoreDifferences`` is written by whoever may edit the app, and jq is a
programming language: ``repeat(.)`` never ends and takes all the memory it can. The ``jq``
package runs C code in the calling process, where no thread can stop it, so the worker
evaluates every expression here instead, in a child Python process that holds nothing
but jq:

- **memory**: the child runs under ``RLIMIT_AS`` = ``BOSUN_JQ_MAX_MEMORY_BYTES`` (512 MiB);
  jq aborts when an allocation fails and the child dies, not the worker;
- **time**: the answer must come within ``BOSUN_JQ_TIMEOUT_SECONDS`` (1 s, Argo CD's
  ``ignore.normalizer.jq.timeout``), else the child is killed;
- either way :class:`~bosun.diff.ignore.JqLimitError` names the expression, the object and
  the limit, and a new child is started for the next expression.

Children are kept and reused (a few milliseconds a call; compiled programs are cached in
each), at most ``BOSUN_JQ_PROCESSES`` (2) at once; a caller waits for a free one. The
protocol is one JSON line each way: ``{"program", "input"}`` in, ``{"ok": result}`` or
``{"error": message}`` (a jq runtime error: the expression is skipped for the object, as
in-process) out.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bosun.diff.ignore import JqLimitError, JqPaths, compile_path_expression, path_program, valid_paths
from bosun.limits import InputLimits, input_limits
from bosun.resources import Manifest

__all__ = ["JqRunner", "default_runner"]

_CHILD = r"""
import functools, json, sys
import jq

@functools.lru_cache(maxsize=256)
def program(text):
    return jq.compile(text)

sys.stdout.write("ready\n")
sys.stdout.flush()
for line in sys.stdin:
    try:
        request = json.loads(line)
        answer = {"ok": program(request["program"]).input_value(request["input"]).first()}
        text = json.dumps(answer)
    except MemoryError:
        sys.exit(3)
    except Exception as exc:  # a jq runtime error
        text = json.dumps({"error": str(exc)})
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
"""

_START_SECONDS = 30.0
"""How long a child may take to start (import jq) before it is given up."""


class _ChildDied(Exception):
    pass


class _Child:
    """One jq process and the buffer of what it wrote."""

    def __init__(self, memory_bytes: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            preexec_fn=_address_space(memory_bytes),  # noqa: PLW1509 - one setrlimit call, no locks
        )
        self._buffer = bytearray()
        if self._line(time.monotonic() + _START_SECONDS) != b"ready":
            self.kill()
            raise _ChildDied("the jq process did not start")

    def call(self, request: bytes, timeout: float) -> dict[str, Any] | None:
        """The child's answer, or None when ``timeout`` passed first; _ChildDied if it died."""
        assert self.proc.stdin is not None
        deadline = time.monotonic() + timeout
        try:
            self.proc.stdin.write(request)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _ChildDied() from None
        line = self._line(deadline)
        if line is None:
            return None
        answer = json.loads(line)
        return answer if isinstance(answer, dict) else {}

    def _line(self, deadline: float) -> bytes | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _ChildDied()
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return line

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


def _address_space(memory_bytes: int) -> Callable[[], None]:
    def apply() -> None:  # in the forked child: one system call
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return apply


class JqRunner:
    """A :class:`~bosun.diff.ignore.JqEvaluator` over a small pool of jq child processes."""

    def __init__(self, limits: InputLimits | None = None, *, processes: int = 2) -> None:
        self._limits = input_limits() if limits is None else limits
        self._idle: list[_Child] = []
        self._guard = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, processes))
        self._closed = False

    def __call__(self, obj: Manifest, expression: str) -> JqPaths:
        compile_path_expression(expression)  # an invalid expression: IgnoreRuleError, as in-process
        request = (json.dumps({"program": path_program(expression), "input": obj}) + "\n").encode()
        limits = self._limits
        with self._slots:
            child = self._take()
            try:
                answer = child.call(request, limits.jq_timeout_seconds)
            except _ChildDied:
                child.kill()
                raise JqLimitError(
                    str(limits.exceeded("jq_memory_bytes", _where(expression, obj), "jq ran out of memory"))
                ) from None
            except BaseException:
                child.kill()
                raise
            if answer is None:
                child.kill()
                raise JqLimitError(
                    str(limits.exceeded("jq_timeout_seconds", _where(expression, obj), "jq did not finish in time"))
                )
            self._give_back(child)
        if "ok" not in answer:
            return []  # a jq runtime error on this object: skipped, as in-process
        return valid_paths(answer["ok"], expression=expression)

    def close(self) -> None:
        """Stop the idle children (a running call's child stops when it returns)."""
        with self._guard:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.kill()

    def _take(self) -> _Child:
        with self._guard:
            while self._idle:
                child = self._idle.pop()
                if child.proc.poll() is None:
                    return child
                child.kill()
        try:
            return _Child(self._limits.jq_memory_bytes)
        except (_ChildDied, OSError) as exc:
            raise JqLimitError(f"cannot start a jq process: {exc}") from None

    def _give_back(self, child: _Child) -> None:
        with self._guard:
            if not self._closed:
                self._idle.append(child)
                return
        child.kill()


def _where(expression: str, obj: Manifest) -> str:
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    name = "/".join(str(p) for p in (metadata.get("namespace"), metadata.get("name")) if p)
    return f"jqPathExpression {expression!r} on {obj.get('kind', 'object')} {name}".rstrip()


_default: JqRunner | None = None
_default_guard = threading.Lock()


def default_runner() -> JqRunner:
    """The process's shared runner (limits from the environment), stopped at exit."""
    global _default
    with _default_guard:
        if _default is None:
            processes = os.environ.get("BOSUN_JQ_PROCESSES", "")
            _default = JqRunner(processes=int(processes) if processes.isdigit() and int(processes) > 0 else 2)
            atexit.register(_default.close)
        return _default
