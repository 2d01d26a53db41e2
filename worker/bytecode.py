"""Bytecode for the workflow modules, even where ``PYTHONDONTWRITEBYTECODE`` is set.

Temporal's sandbox imports a workflow's own module afresh for every workflow instance. Without a
``.pyc`` Python compiles that module from source on each of those imports, and with
``PYTHONDONTWRITEBYTECODE`` set (this development machine's environment; many container images)
none is ever written beside a source checkout: at 1,000 apps, compiling ``workflows/application.py``
was 12% of a worker's CPU. So a worker whose workflow modules have no bytecode compiles them once at
start into Bosun's cache (``sys.pycache_prefix`` = ``$BOSUN_CACHE/pycache``, Python's own
mechanism), leaving the source tree as the setting asks, and every later import reads that. An
installed Bosun (the image: pip compiled it) already has its bytecode and is left alone.
"""

from __future__ import annotations

import compileall
import importlib.util
import logging
import sys
from pathlib import Path

from bosun.paths import bosun_cache

log = logging.getLogger(__name__)
WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"


def ensure_workflow_bytecode(cache: Path | None = None) -> Path | None:
    """Compile ``workflows/`` into ``sys.pycache_prefix`` (set under ``cache`` if it is not set)
    when Python would not keep its bytecode by itself; the prefix used, or None when not needed."""
    if not sys.dont_write_bytecode:
        return None  # Python writes the .pyc beside the source on first import, and reads it after
    if sys.pycache_prefix is None:
        beside = Path(importlib.util.cache_from_source(str(WORKFLOWS / "application.py")))
        if beside.exists():  # compiled at install time
            return None
        sys.pycache_prefix = str((cache or bosun_cache()) / "pycache")
    try:
        compileall.compile_dir(str(WORKFLOWS), maxlevels=0, quiet=2)
    except OSError as exc:  # a read-only cache: the worker runs, only slower
        log.warning("cannot keep the workflow modules' bytecode in %s: %s", sys.pycache_prefix, exc)
    return Path(sys.pycache_prefix)
