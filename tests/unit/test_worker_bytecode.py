"""The worker keeps its workflow modules' bytecode in Bosun's cache when PYTHONDONTWRITEBYTECODE
would leave the sandbox compiling them from source for every workflow instance."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from worker.bytecode import WORKFLOWS, ensure_workflow_bytecode


def test_without_bytecode_writing_the_workflow_modules_are_compiled_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    beside = Path(importlib.util.cache_from_source(str(WORKFLOWS / "application.py")))
    if beside.exists():
        pytest.skip("this checkout has bytecode beside its sources: nothing to do there")

    prefix = ensure_workflow_bytecode(tmp_path)

    assert prefix == tmp_path / "pycache" and sys.pycache_prefix == str(prefix)
    compiled = Path(importlib.util.cache_from_source(str(WORKFLOWS / "application.py")))
    assert compiled.is_relative_to(prefix) and compiled.stat().st_size > 0
    assert not beside.exists()  # the source tree is left as PYTHONDONTWRITEBYTECODE asks


def test_where_python_keeps_bytecode_itself_nothing_is_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    assert ensure_workflow_bytecode(tmp_path) is None
    assert sys.pycache_prefix is None and not (tmp_path / "pycache").exists()
