"""Rendering: deterministic YAML and unified diffs a person reads.

Keys are sorted, long lines are not folded and multi-line strings use the ``|`` block
style, so the same object always renders to the same text and a one-line change in a
ConfigMap's embedded file is a one-line change in the diff. The diff is ``live`` (``-``)
against ``desired`` (``+``), the direction ``kubectl diff`` and Argo CD show.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from bosun.diff.compare import ResourceDiff

RED = "\x1b[31m"
GREEN = "\x1b[32m"
CYAN = "\x1b[36m"
BOLD = "\x1b[1m"
RESET = "\x1b[0m"


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(obj: Any) -> str:
    """Deterministic YAML for ``obj`` ("" for None)."""
    if obj is None:
        return ""
    text: str = yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
    )
    return text


def unified_text(live_yaml: str, desired_yaml: str, *, label: str, context_lines: int = 3) -> str:
    """The unified diff from live to desired; "" when they are equal."""
    lines = difflib.unified_diff(
        live_yaml.splitlines(),
        desired_yaml.splitlines(),
        fromfile=f"live/{label}",
        tofile=f"desired/{label}",
        n=context_lines,
        lineterm="",
    )
    return "\n".join(lines) + "\n" if live_yaml != desired_yaml else ""


def colorize(text: str) -> str:
    """ANSI colours for a unified diff: headers bold, hunks cyan, removed red, added green."""
    out = []
    for line in text.splitlines():
        if line.startswith(("---", "+++")):
            out.append(f"{BOLD}{line}{RESET}")
        elif line.startswith("@@"):
            out.append(f"{CYAN}{line}{RESET}")
        elif line.startswith("-"):
            out.append(f"{RED}{line}{RESET}")
        elif line.startswith("+"):
            out.append(f"{GREEN}{line}{RESET}")
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if out else "")


def render_unified(diff: ResourceDiff, color: bool = False) -> str:
    """The masked unified diff of a comparison, coloured with ANSI escapes if asked."""
    return colorize(diff.unified) if color else diff.unified
