"""Bounded YAML and JSON reading: the one place Git content becomes Python values.

PyYAML builds each anchored value once and shares it at every alias, so a 441-byte
"billion laughs" file parses quickly into a graph of a few dozen nodes; it is everything
after (turning it into JSON-shaped values, diffing, serialising) that walks the shared
graph as a tree of 9^9 nodes and takes the worker's memory. So each document's node graph
is measured before it is constructed: the nodes it holds when every alias is expanded
(``InputLimits.yaml_nodes``, counted over the whole stream) and its nesting depth
(``InputLimits.manifest_depth``). The measure walks each distinct node once (counts are
memoised per node), so measuring the bomb costs what parsing it did. A node that contains
itself through an alias (``&a [*a]``) is refused: Kubernetes' YAML reader refuses it too
and it has no JSON form.

JSON cannot alias, so only its depth is measured; Python's JSON decoder stops at its own
recursion limit first for deeper text, which is reported as the same depth error.

Every refusal is a :class:`~bosun.limits.LimitExceeded` naming the source and the limit. A
value that does not fit an explicit tag (``!!int abc``), which PyYAML reports as a bare
ValueError, KeyError or AttributeError, becomes a ``yaml.constructor.ConstructorError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from bosun.limits import DEFAULT_LIMITS, InputLimits, LimitExceeded, input_limits

__all__ = ["RecursiveAlias", "UnsafeYaml", "check_depth", "load_yaml_stream", "safe_load"]


class RecursiveAlias(ValueError):
    """A YAML node that contains itself through an alias."""


def load_yaml_stream(
    text: str, loader: type[yaml.SafeLoader], *, source: str, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[Any]:
    """The documents of ``text`` read with ``loader`` (a SafeLoader class, C or Python), each
    measured before it is built. Raises :class:`LimitExceeded` past a limit,
    :class:`RecursiveAlias` for a self-containing node and ``yaml.YAMLError`` for bad YAML."""
    stream = loader(text)
    budget = limits.yaml_nodes
    index = 0
    try:
        while True:
            try:
                if not stream.check_node():
                    return
                node = stream.get_node()
            except RecursionError:  # the pure-Python composer recurses once per level
                raise limits.exceeded("manifest_depth", _where(source, index + 1), "nesting is too deep") from None
            index += 1
            nodes, depth, distinct = _measure(node, source=_where(source, index))
            if depth > limits.manifest_depth:
                raise limits.exceeded("manifest_depth", _where(source, index), f"nesting depth {depth}")
            if _excessive_aliasing(nodes, distinct):
                raise limits.exceeded(
                    "yaml_nodes",
                    _where(source, index),
                    f"excessive aliasing: {distinct:_} nodes written expand to {nodes:_}",
                )
            budget -= nodes
            if budget < 0:
                raise limits.exceeded(
                    "yaml_nodes",
                    _where(source, index),
                    "the YAML expands to too many nodes (aliases are counted at every use)",
                )
            try:
                document = stream.construct_document(node)
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
                # PyYAML's constructors raise these for a value that does not fit an explicit
                # tag (`!!int abc`, `!!bool maybe`, `!!timestamp x`): a YAML error like any other.
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"a value does not fit its tag: {type(exc).__name__}: {exc}",
                    getattr(node, "start_mark", None),
                ) from None
            yield document
    finally:
        stream.dispose()


_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UnsafeYaml(yaml.YAMLError):
    """What :func:`safe_load` raises for text past a limit or a self-containing alias: a
    ``yaml.YAMLError``, so a caller's ``except yaml.YAMLError`` reports it, limit named."""


def safe_load(text: str, *, source: str, limits: InputLimits | None = None) -> Any:
    """``yaml.safe_load`` for text from Git that is not manifests (a kustomization, a Chart.yaml,
    Helm values), bounded: at most ``limits.file_bytes`` of text, read with libyaml (PyYAML's
    pure-Python scanner is quadratic in flow nesting) and measured as :func:`load_yaml_stream`
    measures. Past a limit: :class:`UnsafeYaml` naming it."""
    limits = input_limits() if limits is None else limits
    try:
        if len(text) > limits.file_bytes:
            raise limits.exceeded("file_bytes", source, f"{len(text):_} characters")
        documents = list(load_yaml_stream(text, _FAST_LOADER, source=source, limits=limits))
    except (LimitExceeded, RecursiveAlias) as exc:
        raise UnsafeYaml(str(exc)) from None
    if len(documents) > 1:
        raise UnsafeYaml(f"{source}: expected a single document in the stream, found {len(documents)}")
    return documents[0] if documents else None


def check_depth(value: Any, *, limits: InputLimits, where: str) -> None:
    """Raise :class:`LimitExceeded` if ``value`` (JSON-shaped) nests deeper than the limit."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limits.manifest_depth:
            raise limits.exceeded("manifest_depth", where, f"nesting depth over {limits.manifest_depth}")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _excessive_aliasing(expanded: int, distinct: int) -> bool:
    """go-yaml's rule (``allowedAliasRatio``, what Kubernetes' YAML reader applies): past
    400,000 nodes, the share of nodes reached through aliases may be at most 99%, falling
    linearly to 10% at 4,000,000; so a 400-byte file cannot become a million nodes even
    below ``yaml_nodes``."""
    if expanded <= 400_000:
        return False
    allowed = 0.10 if expanded >= 4_000_000 else 0.99 - 0.89 * (expanded - 400_000) / 3_600_000
    return (expanded - distinct) / expanded > allowed


def _where(source: str, document: int) -> str:
    return f"{source}: document {document}"


def _measure(node: yaml.Node | None, *, source: str) -> tuple[int, int, int]:
    """(nodes with every alias expanded, depth, distinct nodes) of ``node``, walking each
    distinct node once (a depth-first walk on an explicit stack: no recursion, whatever the
    nesting)."""
    if node is None:
        return 0, 0, 0
    done: dict[int, tuple[int, int]] = {}
    open_children: dict[int, list[yaml.Node]] = {}
    stack: list[yaml.Node] = [node]
    while stack:
        current = stack[-1]
        key = id(current)
        if key in done:
            stack.pop()
            continue
        value = current.value
        if isinstance(value, str):  # a scalar
            done[key] = (1, 1)
            stack.pop()
            continue
        children = open_children.get(key)
        if children is None:  # first visit: push the children not measured yet
            children = [part for pair in value for part in pair] if isinstance(current, yaml.MappingNode) else value
            open_children[key] = children
            for child in children:
                if id(child) in open_children:
                    raise RecursiveAlias(f"{source}: a YAML alias refers to a node that contains it")
                if id(child) not in done:
                    stack.append(child)
            continue
        nodes, depth = 1, 0  # second visit: every child is measured
        for child in children:
            child_nodes, child_depth = done[id(child)]
            nodes += child_nodes
            depth = max(depth, child_depth)
        done[key] = (nodes, depth + 1)
        del open_children[key]
        stack.pop()
    nodes, depth = done[id(node)]
    return nodes, depth, len(done)
