"""How workflow modules import Bosun's own modules: by the module's full name.

Temporal's sandbox runs a workflow's module afresh for every workflow instance. What that module
imports inside ``workflow.unsafe.imports_passed_through()`` is taken from the worker as it is, but
``from workflows import actions`` reaches ``workflows.actions`` through the parent package's
attribute lookup, which the sandbox does not see: the submodule ran again in every sandbox (its
pydantic models rebuilt for each app workflow at 1,000 apps). ``import workflows.actions as
action_flow`` and ``from workflows.actions import X`` name it, and are passed through."""

from __future__ import annotations

import ast
from pathlib import Path

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_workflow_modules_import_bosuns_modules_by_their_full_name() -> None:
    offenders = []
    for path in sorted(WORKFLOWS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in ("workflows", "activities"):
                offenders.append(f"{path.name}:{node.lineno}: from {node.module} import {node.names[0].name}")
    assert offenders == []


def test_the_sync_workflows_models_are_passed_through() -> None:
    import workflows.sync
    import workflows.sync_models

    assert workflows.sync.SyncInput is workflows.sync_models.SyncInput
    source = (WORKFLOWS / "sync.py").read_text()
    assert "(BaseModel)" not in source  # built once per process, not once per sync
